/**
 * The instrument a QuestionnaireResponse answers, whatever form its `questionnaire` reference takes: Haven's own
 * canonical (no read), else the stored Questionnaire it names (clinical/questionnaire-ref.ts plans the reads, done
 * here through the caller's `read`/`search`: a bot's scoped context or a veto's), else the response's own linkIds
 * (clinical/instrument-match.ts decides). Shared by the answer-check veto and the score and risk bots, so all three
 * agree on what a response is.
 */
import type { Questionnaire, QuestionnaireResponse } from '@medplum/fhirtypes';
import { matchResponseLinkIds, matchStoredQuestionnaire, type InstrumentMatch } from './clinical/instrument-match.ts';
import { questionnaireLookups } from './clinical/questionnaire-ref.ts';
import { instruments } from './instruments-registry.ts';
import type { BotContext } from './runtime.ts';

/** Canonical base of Haven's instruments (questionnaires/). */
export const HAVEN_QUESTIONNAIRE_BASE = 'https://haven.health/fhir/Questionnaire/';

/** The reads resolution needs (BotContext and VetoContext both have them). */
export type QuestionnaireReader = Pick<BotContext, 'read' | 'search'>;

/** What a response answers. */
export interface Resolution {
  /** The instrument, when exactly one matches. */
  readonly match?: InstrumentMatch;
  /** Why nothing matched, for warnings and run records: the reference and instrument names only, never answers. */
  readonly reason?: string;
  /** The stored Questionnaire the reference names, when one was found. */
  readonly stored?: Questionnaire;
  /** The reference is one of Haven's canonicals with a version Haven does not serve (refused at write time). */
  readonly unknownHavenVersion?: boolean;
}

/** The reference as shown in messages: printable, at most 120 characters. */
export function shownReference(ref: string): string {
  const printable = [...ref].map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f ? '?' : c)).join('');
  return printable.length > 120 ? `${printable.slice(0, 117)}...` : printable;
}

async function findStored(reader: QuestionnaireReader, ref: string, baseUrl: string): Promise<Questionnaire | undefined> {
  for (const lookup of questionnaireLookups(ref, baseUrl)) {
    if ('read' in lookup) {
      const q = await reader.read<Questionnaire>('Questionnaire', lookup.read);
      if (q?.resourceType === 'Questionnaire') return q;
      continue;
    }
    const query = `url=${encodeURIComponent(lookup.canonical)}${lookup.version ? `&version=${encodeURIComponent(lookup.version)}` : ''}`;
    // Several versions under one url and no version asked for: the newest.
    const found = await reader.search<Questionnaire>('Questionnaire', `${query}&_sort=-_lastUpdated&_count=1`);
    if (found[0]) return found[0];
  }
  return undefined;
}

/** Resolves `qr` to the instrument it answers; `baseUrl` is the tenant's FHIR base (for absolute references). */
export async function resolveInstrument(qr: QuestionnaireResponse, reader: QuestionnaireReader, baseUrl: string): Promise<Resolution> {
  const all = instruments().all();
  const ref = qr.questionnaire?.trim();
  if (!ref) {
    const byLinkIds = matchResponseLinkIds(all, qr);
    return byLinkIds.match ? { match: byLinkIds.match } : { reason: `no questionnaire reference: ${byLinkIds.reason}` };
  }
  const own = instruments().find(ref);
  if (own) return { match: { instrument: own, via: 'canonical', linkIds: new Map() } };
  const shown = shownReference(ref);
  if (ref.startsWith(HAVEN_QUESTIONNAIRE_BASE)) return { unknownHavenVersion: true, reason: `${shown} is not an instrument Haven serves` };
  const stored = await findStored(reader, ref, baseUrl);
  if (stored) {
    const byCodes = matchStoredQuestionnaire(all, stored);
    if (byCodes.match) return { match: byCodes.match, stored };
    // A stored form whose questions carry no instrument code at all may still spell the codes in its linkIds.
    if (byCodes.kind !== 'none') return { stored, reason: `${shown}: ${byCodes.reason}` };
  }
  const byLinkIds = matchResponseLinkIds(all, qr);
  if (byLinkIds.match) return { match: byLinkIds.match, ...(stored ? { stored } : {}) };
  return { ...(stored ? { stored } : {}), reason: `${shown}${stored ? '' : ' (no such Questionnaire stored here)'}: ${byLinkIds.reason}` };
}
