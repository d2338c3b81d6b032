/**
 * Score Observations as the apps show them: which instrument, the total, its severity band, when. Bands are
 * read from the Observation (`interpretation`, written by the score bot with Haven's score-band codes) and,
 * for totals without one, from the published bands (clinical.md §1.2 PHQ-9, §1.4 GAD-7). Pure functions.
 */

/** LOINC codes of the totals the apps chart. */
export const TOTALS = {
  'phq-9': { code: '44261-6', name: 'PHQ-9', about: 'depression', max: 27 },
  'gad-7': { code: '70274-6', name: 'GAD-7', about: 'anxiety', max: 21 },
} as const;
export type ChartedInstrument = keyof typeof TOTALS;

/** Haven's score-band code system (questionnaires/README.md). */
export const SCORE_BAND_SYSTEM = 'https://haven.health/fhir/CodeSystem/score-band';

/** A severity band: inclusive range, code and a patient-facing word. */
export interface Band {
  readonly code: string;
  readonly from: number;
  readonly to: number;
  readonly label: string;
}

/** Published bands (clinical.md §1.2: 0–4, 5–9, 10–14, 15–19, 20–27; §1.4: 0–4, 5–9, 10–14, 15–21). */
export const BANDS: Readonly<Record<ChartedInstrument, readonly Band[]>> = {
  'phq-9': [
    { code: 'none-minimal', from: 0, to: 4, label: 'none or minimal' },
    { code: 'mild', from: 5, to: 9, label: 'mild' },
    { code: 'moderate', from: 10, to: 14, label: 'moderate' },
    { code: 'moderately-severe', from: 15, to: 19, label: 'moderately severe' },
    { code: 'severe', from: 20, to: 27, label: 'severe' },
  ],
  'gad-7': [
    { code: 'none-minimal', from: 0, to: 4, label: 'minimal' },
    { code: 'mild', from: 5, to: 9, label: 'mild' },
    { code: 'moderate', from: 10, to: 14, label: 'moderate' },
    { code: 'severe', from: 15, to: 21, label: 'severe' },
  ],
};

/** The band a total falls in. */
export function bandOf(instrument: ChartedInstrument, total: number): Band | undefined {
  return BANDS[instrument].find((b) => total >= b.from && total <= b.to);
}

/** One total as the apps use it. */
export interface ScorePoint {
  id: string;
  instrument: ChartedInstrument;
  value: number;
  /** ISO date-time. */
  when: string;
  band?: Band;
  /** The QuestionnaireResponse it was scored from. */
  source?: string;
}

interface ObservationLike {
  id?: string;
  status?: string;
  code?: { coding?: { system?: string; code?: string }[] };
  valueInteger?: number;
  valueQuantity?: { value?: number };
  effectiveDateTime?: string;
  issued?: string;
  interpretation?: { coding?: { system?: string; code?: string }[] }[];
  derivedFrom?: { reference?: string }[];
}

/** A total Observation as a point; undefined for other codes, retracted results, or no value. */
export function scorePoint(o: ObservationLike): ScorePoint | undefined {
  if (o.status === 'entered-in-error' || o.status === 'cancelled') return undefined;
  const code = o.code?.coding?.find((c) => c.system === 'http://loinc.org')?.code;
  const instrument = (Object.keys(TOTALS) as ChartedInstrument[]).find((k) => TOTALS[k].code === code);
  const value = o.valueInteger ?? o.valueQuantity?.value;
  const when = o.effectiveDateTime ?? o.issued;
  if (!instrument || typeof value !== 'number' || !when || !o.id) return undefined;
  const bandCode = o.interpretation?.flatMap((i) => i.coding ?? []).find((c) => c.system === SCORE_BAND_SYSTEM)?.code;
  const band = BANDS[instrument].find((b) => b.code === bandCode) ?? bandOf(instrument, value);
  const source = o.derivedFrom?.find((d) => d.reference?.startsWith('QuestionnaireResponse/'))?.reference;
  return { id: o.id, instrument, value, when, ...(band ? { band } : {}), ...(source ? { source } : {}) };
}

/** Points of one instrument, oldest first. */
export function series(points: readonly ScorePoint[], instrument: ChartedInstrument): ScorePoint[] {
  return points.filter((p) => p.instrument === instrument).sort((a, b) => a.when.localeCompare(b.when));
}

/** A date as people write it ("3 March 2026"), in the browser's time zone unless given. */
export function longDate(iso: string, timeZone?: string): string {
  return new Date(iso).toLocaleDateString('en-US', { day: 'numeric', month: 'long', year: 'numeric', ...(timeZone ? { timeZone } : {}) });
}

/**
 * One score in plain words for the patient: what, when, how it compares with the one before. Lower is better on
 * both scales, and the sentence says so rather than leaving it to be guessed.
 */
export function describeScore(point: ScorePoint, previous?: ScorePoint, timeZone?: string): string {
  const t = TOTALS[point.instrument];
  const band = point.band ?? bandOf(point.instrument, point.value);
  let text = `On ${longDate(point.when, timeZone)}, your ${t.about} check-in (${t.name}) score was ${point.value} out of ${t.max}`;
  text += band ? `, in the ${band.label} range.` : '.';
  if (previous) {
    const d = point.value - previous.value;
    if (d === 0) text += ' That is the same as the time before.';
    else
      text += ` That is ${Math.abs(d)} point${Math.abs(d) === 1 ? '' : 's'} ${d < 0 ? 'lower' : 'higher'} than the time before (lower means fewer symptoms).`;
  }
  return text;
}
