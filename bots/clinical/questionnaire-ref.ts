/**
 * The lookups that find the stored Questionnaire a `QuestionnaireResponse.questionnaire` names. Pure: it plans, the
 * glue (../questionnaire-resolver.ts) reads. R4 types the element as a `canonical`, but clients send every form of
 * reference (https://hl7.org/fhir/R4/references.html), so each is accepted:
 * - `Questionnaire/<id>` (relative; a `/_history/<n>` suffix reads the current version): read by id;
 * - `<base>/Questionnaire/<id>` where `<base>` is this tenant's FHIR base: read by id, then as a canonical url;
 * - the same path on another host (a server reached by another name): as a canonical url, then by id;
 * - any other URL or URN, with or without `|version`: a Questionnaire stored with that canonical `url` (and
 *   `version`, when given), e.g. a tenant's own copy of an instrument or another vendor's form.
 * Haven's own canonicals never need a lookup (the instrument registry knows them) and are handled before this.
 */

/** One lookup: a read by id, or a search by canonical url (and version). */
export type QuestionnaireLookup = { readonly read: string } | { readonly canonical: string; readonly version?: string };

const ID = '[A-Za-z0-9\\-.]{1,64}';
const RELATIVE = new RegExp(`^Questionnaire/(${ID})(?:/_history/${ID})?$`);
const ABSOLUTE = new RegExp(`^(https?://[^?#]+?)/Questionnaire/(${ID})(?:/_history/${ID})?$`, 'i');
/** Longest reference worth looking up (a search parameter value, not free text). */
const MAX_REFERENCE = 1024;

/** Scheme, host and port in lower case, path without trailing slash; undefined when not a URL. */
function normalizedBase(base: string): { origin: string; path: string } | undefined {
  try {
    const u = new URL(base);
    return { origin: u.origin.toLowerCase(), path: u.pathname.replace(/\/+$/, '') };
  } catch {
    return undefined;
  }
}

/** The lookups for `reference`, in order; empty when it cannot name a Questionnaire. `tenantBase` is the FHIR base. */
export function questionnaireLookups(reference: string, tenantBase: string): QuestionnaireLookup[] {
  const ref = reference.trim();
  if (ref === '' || ref.length > MAX_REFERENCE || /\s/.test(ref) || [...ref].some((c) => c.charCodeAt(0) < 0x20)) return [];
  const relative = RELATIVE.exec(ref);
  if (relative) return [{ read: relative[1] }];
  const bar = ref.lastIndexOf('|');
  const url = bar < 0 ? ref : ref.slice(0, bar);
  const version = bar < 0 ? undefined : ref.slice(bar + 1);
  if (url === '' || version === '') return [];
  const canonical: QuestionnaireLookup = version === undefined ? { canonical: url } : { canonical: url, version };
  const absolute = version === undefined ? ABSOLUTE.exec(url) : null;
  if (!absolute) return [canonical];
  const base = normalizedBase(absolute[1]);
  const own = normalizedBase(tenantBase);
  if (!base || !own || base.path !== own.path) return [canonical];
  return base.origin === own.origin ? [{ read: absolute[2] }, canonical] : [canonical, { read: absolute[2] }];
}
