/**
 * Launch context values as different EHRs send them. SMART App Launch 2.2 defines `need_patient_banner` as a
 * boolean and `fhirUser` as a URL; in practice flags arrive as strings ("true"/"false") and `fhirUser` as an
 * absolute URL (Haven, Epic) or a relative reference (`Practitioner/123`). These functions turn either form
 * into one value the apps can rely on.
 */

/** A SMART flag given as a boolean or a string; `fallback` when absent or unrecognised. */
export function parseFlag(value: unknown, fallback: boolean): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (v === 'true' || v === '1' || v === 'yes') return true;
    if (v === 'false' || v === '0' || v === 'no') return false;
  }
  return fallback;
}

/** The user's own resource, as a reference the app can read from its FHIR server. */
export interface FhirUser {
  /** Resource type (`Practitioner`, `Patient`, `RelatedPerson`, `Person`). */
  readonly type: string;
  readonly id: string;
  /** `Type/id`, relative to the FHIR base the app talks to. */
  readonly reference: string;
  /** False when the URL named another server (the app can show the user, but not read that resource here). */
  readonly onThisServer: boolean;
}

const USER_TYPES = new Set(['Practitioner', 'PractitionerRole', 'Patient', 'RelatedPerson', 'Person']);
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * Normalises a `fhirUser` claim: absolute (`https://ehr/fhir/Practitioner/1`), relative (`Practitioner/1`), with
 * or without a history suffix (`/_history/2`). Undefined when it names no known user type.
 */
export function parseFhirUser(value: unknown, fhirBase: string): FhirUser | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  let path = value;
  let onThisServer = true;
  if (/^https?:\/\//i.test(value)) {
    const base = fhirBase.replace(/\/+$/, '');
    if (value.toLowerCase().startsWith(`${base.toLowerCase()}/`)) path = value.slice(base.length + 1);
    else {
      onThisServer = false;
      try {
        path = new URL(value).pathname;
      } catch {
        return undefined;
      }
    }
  }
  const parts = path.replace(/^\/+/, '').split('/');
  const history = parts.indexOf('_history');
  const usable = history >= 0 ? parts.slice(0, history) : parts;
  const [type, id] = usable.slice(-2);
  if (!type || !id || !USER_TYPES.has(type) || !ID.test(id)) return undefined;
  return { type, id, reference: `${type}/${id}`, onThisServer };
}

/** A SMART `fhirContext` item (2.1+): only relative references are kept (what the app can read here). */
export function contextReferences(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value
    .map((item: { reference?: unknown }) => item?.reference)
    .filter((r): r is string => typeof r === 'string' && /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(r));
}
