/**
 * Turns a {@link ScoreResult} into the Observations Haven stores for a QuestionnaireResponse, as one FHIR
 * transaction of conditional updates. Pure apart from the random urn:uuid fullUrls.
 *
 * Every Observation carries an identifier derived from the response id and its code, and is written with
 * `PUT Observation?identifier=…`, so scoring an amended response replaces the earlier Observations instead
 * of adding a second set (https://hl7.org/fhir/R4/http.html#cond-update).
 */
import { randomUUID } from 'node:crypto';
import type {
  Bundle,
  BundleEntry,
  CodeableConcept,
  Coding,
  Identifier,
  Observation,
  QuestionnaireResponse,
  Reference,
} from '@medplum/fhirtypes';
import { CSSRS_RISK_SYSTEM, DATA_ABSENT_REASON, ORDINAL_VALUE_URL } from './instruments.ts';
import type { CssrsRisk, Instrument, InstrumentItem } from './instruments.ts';
import type { ItemResult, ScoreResult } from './scoring.ts';

/** Identifier system of score Observations; the value is `<QuestionnaireResponse id>:<code>`. */
export const SCORE_OBSERVATION_SYSTEM = 'https://haven.health/fhir/sid/score-observation';
/** Profile every Observation built here claims (profiles/StructureDefinition-haven-score-observation.json). */
export const HAVEN_SCORE_OBSERVATION_PROFILE = 'https://haven.health/fhir/StructureDefinition/haven-score-observation';
/** Extension naming the instrument (valueCanonical `url|version`) the Observation was scored with. */
export const INSTRUMENT_EXTENSION_URL = 'https://haven.health/fhir/StructureDefinition/instrument';
export const OBSERVATION_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/observation-category';

const CSSRS_RISK_DISPLAY: Readonly<Record<CssrsRisk, string>> = {
  none: 'No risk identified',
  low: 'Low risk',
  moderate: 'Moderate risk',
  high: 'High risk',
};

/** The identifier of the score Observation for `code` derived from response `qrId`. */
export function scoreObservationIdentifier(qrId: string, code: string): Identifier {
  return { system: SCORE_OBSERVATION_SYSTEM, value: `${qrId}:${code}` };
}

/** The conditional-update URL that finds the Observation with {@link scoreObservationIdentifier}. */
export function scoreObservationUrl(qrId: string, code: string): string {
  const { system, value } = scoreObservationIdentifier(qrId, code);
  return `Observation?identifier=${system}|${value}`;
}

/**
 * Observation.status for a response status. An amended response amends its scores; a response entered in
 * error retracts them (the conditional update overwrites the earlier final Observations); a response still in
 * progress or stopped gives preliminary scores.
 */
export function observationStatusFor(status: QuestionnaireResponse['status']): Observation['status'] {
  switch (status) {
    case 'completed':
      return 'final';
    case 'amended':
      return 'amended';
    case 'entered-in-error':
      return 'entered-in-error';
    case 'in-progress':
    case 'stopped':
      return 'preliminary';
    default:
      return status satisfies never;
  }
}

const concept = (coding: Coding, text: string | undefined = coding.display): CodeableConcept => ({
  coding: [coding],
  ...(text ? { text } : {}),
});
const absent = (code: 'asked-declined' | 'unknown', display: string): CodeableConcept =>
  concept({ system: DATA_ABSENT_REASON, code, display });

/** What all score Observations of one response share. */
interface Context {
  readonly instrument: Instrument;
  readonly qrId: string;
  readonly status: Observation['status'];
  readonly subject: Reference;
  readonly encounter?: Reference;
  readonly effective: string;
}

function context(instrument: Instrument, qr: QuestionnaireResponse): Context {
  if (!qr.id) throw new Error('The QuestionnaireResponse needs an id: score Observations are identified by it');
  const effective = qr.authored ?? qr.meta?.lastUpdated;
  if (!qr.subject) throw new Error(`QuestionnaireResponse/${qr.id} has no subject; its scores cannot be attributed`);
  if (!effective) throw new Error(`QuestionnaireResponse/${qr.id} has neither authored nor meta.lastUpdated`);
  return {
    instrument,
    qrId: qr.id,
    status: observationStatusFor(qr.status),
    subject: qr.subject,
    ...(qr.encounter ? { encounter: qr.encounter } : {}),
    effective,
  };
}

/** The value part of an Observation: whatever follows `derivedFrom` in the resource. */
type ObservationBody = Pick<
  Observation,
  'valueInteger' | 'valueCodeableConcept' | 'dataAbsentReason' | 'interpretation' | 'note' | 'hasMember'
>;

/** One transaction entry: a conditional update of the Observation identified by (response, code). */
function entry(ctx: Context, code: CodeableConcept, body: ObservationBody): BundleEntry<Observation> {
  const key = code.coding?.[0]?.code as string;
  const resource: Observation = {
    resourceType: 'Observation',
    meta: { profile: [HAVEN_SCORE_OBSERVATION_PROFILE] },
    extension: [{ url: INSTRUMENT_EXTENSION_URL, valueCanonical: ctx.instrument.canonical }],
    identifier: [scoreObservationIdentifier(ctx.qrId, key)],
    status: ctx.status,
    category: [concept({ system: OBSERVATION_CATEGORY_SYSTEM, code: 'survey', display: 'Survey' })],
    code,
    // R4 QuestionnaireResponse.subject may be any resource; the Observation's allowed targets are the validator's job.
    subject: ctx.subject as Observation['subject'],
    ...(ctx.encounter ? { encounter: ctx.encounter as Observation['encounter'] } : {}),
    effectiveDateTime: ctx.effective,
    derivedFrom: [{ reference: `QuestionnaireResponse/${ctx.qrId}` }],
    ...body,
  };
  return { fullUrl: `urn:uuid:${randomUUID()}`, resource, request: { method: 'PUT', url: scoreObservationUrl(ctx.qrId, key) } };
}

/** The Observation of one safety question: its answer, or why there is none. */
function itemBody(result: ItemResult): ObservationBody {
  if (result.status === 'answered' && result.answer) {
    // The score travels on the Coding (ordinalValue's R4 context includes Coding), so risk rules need no lookup.
    const ordinal = result.ordinal === undefined ? {} : { extension: [{ url: ORDINAL_VALUE_URL, valueDecimal: result.ordinal }] };
    const coding: Coding = { ...result.answer, ...ordinal };
    return { valueCodeableConcept: concept(coding) };
  }
  const reason = result.status === 'declined' ? absent('asked-declined', 'Asked But Declined') : absent('unknown', 'Unknown');
  return { dataAbsentReason: reason };
}

/**
 * Which safety questions get an Observation: every one that was enabled or answered. A required safety
 * question left unanswered is written as `dataAbsentReason: unknown` rather than skipped, so an amended
 * response that drops an answer overwrites the earlier value instead of leaving it standing.
 */
function writtenSafetyItems(instrument: Instrument, result: ScoreResult): { item: InstrumentItem; result: ItemResult }[] {
  const byLinkId = new Map(result.items.map((r) => [r.linkId, r]));
  return instrument.safetyItems.flatMap((item) => {
    const r = byLinkId.get(item.linkId);
    return r && (r.enabled || r.status !== 'missing') ? [{ item, result: r }] : [];
  });
}

/**
 * Builds the transaction that stores a scored response: safety item Observations, the total (or, for the
 * C-SSRS screener, the risk level), and a panel Observation whose `hasMember` points at them.
 * No total Observation is written while required answers are missing; safety items still are.
 */
export function buildScoreTransaction(instrument: Instrument, qr: QuestionnaireResponse, result: ScoreResult): Bundle {
  const ctx = context(instrument, qr);
  const entries: BundleEntry<Observation>[] = [];

  for (const { item, result: r } of writtenSafetyItems(instrument, result)) {
    entries.push(entry(ctx, concept(item.code, item.text), itemBody(r)));
  }

  if (instrument.totalCode && result.total !== undefined && result.missingRequired.length === 0) {
    const interpretation = result.band ? { interpretation: [concept(result.band)] } : {};
    entries.push(entry(ctx, concept(instrument.totalCode), { valueInteger: result.total, ...interpretation }));
  }

  if (instrument.riskCode) {
    const risk = result.safety.cssrsRisk;
    const reasons = result.safety.cssrsReasons ?? [];
    entries.push(
      entry(ctx, concept(instrument.riskCode), {
        // VERIFY: LOINC's 93374-7 answer list; until then the tier is a Haven code, and "unknown" is explicit.
        ...(risk
          ? { valueCodeableConcept: concept({ system: CSSRS_RISK_SYSTEM, code: risk, display: CSSRS_RISK_DISPLAY[risk] }) }
          : { dataAbsentReason: absent('unknown', 'Unknown') }),
        ...(reasons.length ? { note: [{ text: reasons.join('; ') }] } : {}),
      }),
    );
  }

  const members: Reference<Observation>[] = entries.map((e) => ({ reference: e.fullUrl }));
  entries.push(entry(ctx, concept(instrument.panelCode), members.length ? { hasMember: members } : {}));
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}
