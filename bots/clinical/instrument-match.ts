/**
 * Which of Haven's instruments a QuestionnaireResponse answers, whatever form of `questionnaire` it carries. Pure: the
 * glue (../questionnaire-resolver.ts) reads the stored Questionnaire the reference names and passes it in.
 *
 * Three ways to an instrument, from the most to the least certain:
 * - **canonical**: the reference is Haven's own canonical (`url` or `url|version`);
 * - **stored**: the reference names a stored Questionnaire (relative `Questionnaire/<id>`, an absolute URL of this
 *   server, or a canonical of a Questionnaire stored in the tenant). It is the instrument when its `url|version` is
 *   Haven's, or when it **carries the LOINC codes of the instrument**: every identifying question of the instrument
 *   (its scored questions and its safety questions) is exactly one question of the form with that code (`item.code`,
 *   any of its codings, system and code equal), and no question of the form carries a code of another instrument's
 *   question that this instrument lacks (a PHQ-9 + GAD-7 form is neither). The form's linkIds are then translated to
 *   the instrument's through those codes;
 * - **response linkIds**: the reference resolves to nothing. An R4 QuestionnaireResponse item has no `code`, so the
 *   codes can only come from the linkIds. Haven, LHC-Forms, US Core and the HL7 PHR IG spell them `/<LOINC>` or
 *   `<LOINC>` (e.g. `/44260-8`). The response carries the codes of an instrument when every identifying question
 *   (scored questions; for the C-SSRS screener, which scores none, the questions every respondent is asked: Q1, Q2,
 *   Q6) has an answer under its linkId, and every answered linkId that is a question of any instrument is one of
 *   this instrument's.
 * Whatever matches must match exactly one instrument; a partial or ambiguous match scores nothing (a wrong total is
 * worse than none), and the reason says why. Safety answers are read regardless (./safety-scan.ts).
 */
import type { Coding, Questionnaire, QuestionnaireResponse, QuestionnaireResponseItem } from '@medplum/fhirtypes';
import { INSTRUMENT_LABELS } from './config.ts';
import { questions, type Instrument, type InstrumentItem } from './instruments.ts';

/** How the instrument was found. */
export type MatchVia = 'canonical' | 'stored-canonical' | 'stored-codes' | 'response-linkids';

/** An instrument the response answers. */
export interface InstrumentMatch {
  readonly instrument: Instrument;
  readonly via: MatchVia;
  /** Form linkId → instrument linkId where the form spells them differently (`stored-codes`); empty otherwise. */
  readonly linkIds: ReadonlyMap<string, string>;
}

/** Why nothing matched: no instrument question at all, some of one, several instruments, or more than one match. */
export type NoMatch = 'none' | 'partial' | 'mixed' | 'ambiguous';

/** A match, or why there is none (`reason`, no PHI: instrument names only). */
export type MatchResult =
  | { readonly match: InstrumentMatch }
  | { readonly match?: undefined; readonly kind: NoMatch; readonly reason: string };

const label = (i: Instrument): string => INSTRUMENT_LABELS[i.id];

function sameCode(a: Coding, b: Coding): boolean {
  return a.system === b.system && a.code === b.code;
}

function unique<T>(list: readonly T[]): T[] {
  return [...new Set(list)];
}

/** The questions that identify an instrument in a form definition: scored and safety questions. */
function formIdentifying(i: Instrument): InstrumentItem[] {
  return unique([...i.scoredItems, ...i.safetyItems]);
}

/** The questions every response to the instrument answers: scored ones, or (none scored) the ungated ones. */
function responseIdentifying(i: Instrument): InstrumentItem[] {
  return i.scoredItems.length > 0 ? [...i.scoredItems] : i.items.filter((item) => !item.enableWhen?.length);
}

/** Picks the one candidate, or says why there is not exactly one. */
function decide(
  candidates: readonly InstrumentMatch[],
  partial: readonly Instrument[],
  mixed: readonly Instrument[],
  what: string,
): MatchResult {
  if (candidates.length === 1) return { match: candidates[0] };
  if (candidates.length > 1) {
    return { kind: 'ambiguous', reason: `${what} matches several instruments (${candidates.map((c) => label(c.instrument)).join(', ')})` };
  }
  if (partial.length > 0) {
    return {
      kind: 'partial',
      reason: `${what} has questions of ${partial.map(label).join(' or ')} but not all of its identifying questions`,
    };
  }
  if (mixed.length > 1) return { kind: 'mixed', reason: `${what} mixes questions of several instruments (${mixed.map(label).join(', ')})` };
  return { kind: 'none', reason: `${what} has no question of an instrument Haven scores` };
}

/**
 * The instrument a stored Questionnaire is: Haven's own (same `url` and `version`), or one whose LOINC codes it
 * carries (see the module comment).
 */
export function matchStoredQuestionnaire(all: readonly Instrument[], q: Questionnaire): MatchResult {
  const own = all.find((i) => i.url === q.url && i.version === q.version);
  if (own) return { match: { instrument: own, via: 'stored-canonical', linkIds: new Map() } };
  const formItems = questions(q.item).filter((item) => item.linkId);
  const carrying = (code: Coding): string[] =>
    formItems.filter((f) => f.code?.some((c) => sameCode(c, code))).map((f) => f.linkId as string);
  // Form questions coded like a question of some instrument.
  const recognised = formItems.filter((f) => all.some((i) => i.items.some((item) => f.code?.some((c) => sameCode(c, item.code)))));
  const candidates: InstrumentMatch[] = [];
  const partial: Instrument[] = [];
  const touched: Instrument[] = [];
  for (const instrument of all) {
    const linkIds = new Map<string, string>();
    let complete = true;
    let any = false;
    for (const item of instrument.items) {
      const found = carrying(item.code);
      if (found.length > 0) any = true;
      if (found.length === 1) linkIds.set(found[0], item.linkId);
      // A code on two questions cannot say which answer counts; a missing identifying question leaves it partial.
      if (found.length !== 1 && formIdentifying(instrument).includes(item)) complete = false;
    }
    if (!any) continue;
    touched.push(instrument);
    const foreign = recognised.some((f) => !instrument.items.some((item) => f.code?.some((c) => sameCode(c, item.code))));
    if (complete && !foreign) candidates.push({ instrument, via: 'stored-codes', linkIds });
    else if (!foreign) partial.push(instrument);
  }
  return decide(candidates, partial, touched, 'the questionnaire');
}

/** Every linkId of the response that carries at least one answer (inside groups and nested answers too). */
export function answeredLinkIds(items: readonly QuestionnaireResponseItem[] | undefined, into: Set<string> = new Set()): Set<string> {
  for (const item of items ?? []) {
    if (item.linkId && item.answer?.length) into.add(item.linkId);
    answeredLinkIds(item.item, into);
    for (const answer of item.answer ?? []) answeredLinkIds(answer.item, into);
  }
  return into;
}

/** The instrument question a response linkId names: the same linkId, or `/<linkId>` for a bare LOINC code. */
export function instrumentLinkId(instrument: Instrument, linkId: string): string | undefined {
  if (instrument.items.some((i) => i.linkId === linkId)) return linkId;
  const slashed = `/${linkId}`;
  return instrument.items.some((i) => i.linkId === slashed) ? slashed : undefined;
}

/** The instrument a response answers, judged from its linkIds alone (its reference resolved to nothing). */
export function matchResponseLinkIds(all: readonly Instrument[], qr: QuestionnaireResponse): MatchResult {
  const answered = [...answeredLinkIds(qr.item)];
  const recognised = answered.filter((l) => all.some((i) => instrumentLinkId(i, l) !== undefined));
  const candidates: InstrumentMatch[] = [];
  const partial: Instrument[] = [];
  const touched: Instrument[] = [];
  for (const instrument of all) {
    const own = new Set(recognised.flatMap((l) => instrumentLinkId(instrument, l) ?? []));
    if (own.size === 0) continue;
    touched.push(instrument);
    const foreign = recognised.some((l) => instrumentLinkId(instrument, l) === undefined);
    const complete = responseIdentifying(instrument).every((item) => own.has(item.linkId));
    if (complete && !foreign) candidates.push({ instrument, via: 'response-linkids', linkIds: new Map() });
    else if (!foreign) partial.push(instrument);
  }
  return decide(candidates, partial, touched, 'the response');
}

/**
 * The response as the instrument spells it: for a `stored-codes` match, the form's linkIds translated and the form's
 * other questions left out (they could collide with an instrument linkId); otherwise the response itself.
 */
export function inInstrumentTerms(qr: QuestionnaireResponse, match: InstrumentMatch): QuestionnaireResponse {
  if (match.linkIds.size === 0) return qr;
  const map = (items: readonly QuestionnaireResponseItem[] | undefined): QuestionnaireResponseItem[] =>
    (items ?? []).flatMap((item): QuestionnaireResponseItem[] => {
      const nested = [...map(item.item), ...(item.answer ?? []).flatMap((a) => map(a.item))];
      const linkId = item.linkId ? match.linkIds.get(item.linkId) : undefined;
      const own: QuestionnaireResponseItem[] =
        linkId && item.answer?.length ? [{ linkId, answer: item.answer.map(({ item: _nested, ...a }) => a) }] : [];
      return [...own, ...nested];
    });
  return { ...qr, item: map(qr.item) };
}
