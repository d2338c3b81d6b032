/**
 * The six measurement-based-care instruments Haven scores, built from the Questionnaire JSON in
 * `questionnaires/`. Item lists, answer codes and answer scores (ordinalValue) come only from that JSON;
 * what a Questionnaire cannot say (total code, severity bands, screen cut-offs, which items are safety items)
 * is data in this module. Sources: the LOINC panels named below and the LHC-Forms / US Core encodings
 * (questionnaires/README.md).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  Coding,
  Extension,
  Questionnaire,
  QuestionnaireItem,
  QuestionnaireItemAnswerOption,
  QuestionnaireItemEnableWhen,
} from '@medplum/fhirtypes';

export const LOINC = 'http://loinc.org';
/** R4 core extension carrying an answer's score (LHC-Forms, US Core). */
export const ORDINAL_VALUE_URL = 'http://hl7.org/fhir/StructureDefinition/ordinalValue';
/** The later name of the same idea (FHIR R5, SDC `weight()`); accepted on input. */
export const ITEM_WEIGHT_URL = 'http://hl7.org/fhir/StructureDefinition/itemWeight';
export const DATA_ABSENT_REASON = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';
/** Haven's severity / screen-result codes (carried in Observation.interpretation). */
export const SCORE_BAND_SYSTEM = 'https://haven.health/fhir/CodeSystem/score-band';
/** Haven's C-SSRS screener risk tiers (the 93374-7 LOINC answer list beyond "Low" is unverified). */
export const CSSRS_RISK_SYSTEM = 'https://haven.health/fhir/CodeSystem/cssrs-risk';
/** Local PHQ-A item codes. VERIFY: replace with the LOINC item codes of panel 89206-7 once confirmed. */
export const PHQ_A_ITEM_SYSTEM = 'https://haven.health/fhir/CodeSystem/phq-a-item';

/** The default `questionnaires/` folder of this repository. */
export const DEFAULT_QUESTIONNAIRES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'questionnaires');

export const INSTRUMENT_IDS = ['phq-9', 'phq-2', 'gad-7', 'cssrs-screener', 'phq-a', 'audit-c'] as const;
/** Questionnaire.id of an instrument Haven scores. */
export type InstrumentId = (typeof INSTRUMENT_IDS)[number];

export type BandCode = 'none-minimal' | 'mild' | 'moderate' | 'moderately-severe' | 'severe' | 'positive' | 'negative';
export type CssrsRisk = 'none' | 'low' | 'moderate' | 'high';

/** One severity band: a closed range of totals. */
export interface Band {
  readonly code: BandCode;
  readonly display: string;
  readonly min: number;
  readonly max: number;
}

/** A positive-screen cut-off ("positive at ≥ n") by sex; `unknown` also serves 'other' and unrecorded sex. */
export interface SexCutoff {
  readonly male: number;
  readonly female: number;
  readonly unknown: number;
}

/** The cut-offs a deployment may change. */
export interface Thresholds {
  /** PHQ-9 and PHQ-A (CMS159 uses the same bands for both). */
  readonly depressionBands: readonly Band[];
  readonly gad7Bands: readonly Band[];
  /** PHQ-2 positive at ≥ 3 (≥ 2 raises sensitivity, Arroll 2010). */
  readonly phq2PositiveAt: number;
  readonly auditCPositiveAt: SexCutoff;
}

/** Defaults from clinical.md §1.2–§1.7. */
export const DEFAULT_THRESHOLDS: Thresholds = {
  depressionBands: [
    { code: 'none-minimal', display: 'None-minimal', min: 0, max: 4 },
    { code: 'mild', display: 'Mild', min: 5, max: 9 },
    { code: 'moderate', display: 'Moderate', min: 10, max: 14 },
    { code: 'moderately-severe', display: 'Moderately severe', min: 15, max: 19 },
    { code: 'severe', display: 'Severe', min: 20, max: 27 },
  ],
  gad7Bands: [
    { code: 'none-minimal', display: 'Minimal', min: 0, max: 4 },
    { code: 'mild', display: 'Mild', min: 5, max: 9 },
    { code: 'moderate', display: 'Moderate', min: 10, max: 14 },
    { code: 'severe', display: 'Severe', min: 15, max: 21 },
  ],
  phq2PositiveAt: 3,
  auditCPositiveAt: { male: 4, female: 3, unknown: 3 },
};

/** How a total becomes a band; C-SSRS has no total and is stratified from its answers instead. */
export type InstrumentScoring =
  | { readonly kind: 'bands'; readonly bands: readonly Band[] }
  | { readonly kind: 'cutoff'; readonly positiveAt: number }
  | { readonly kind: 'sex-cutoff'; readonly positiveAt: SexCutoff }
  | { readonly kind: 'cssrs' };

/** One answer option as the scorer sees it. */
export interface AnswerChoice {
  readonly coding: Coding;
  /** Score from ordinalValue/itemWeight; absent for unscored options (difficulty, Yes/No, a decline). */
  readonly weight?: number;
  /** data-absent-reason#asked-declined: the patient chose not to answer. */
  readonly declines: boolean;
}

/** A question of the instrument (display and group items are left out). */
export interface InstrumentItem {
  readonly linkId: string;
  readonly code: Coding;
  readonly text?: string;
  readonly required: boolean;
  /** True when the item's answers carry scores, i.e. it counts toward the total. */
  readonly scored: boolean;
  readonly choices: readonly AnswerChoice[];
  readonly enableWhen?: readonly QuestionnaireItemEnableWhen[];
  readonly enableBehavior?: 'all' | 'any';
}

/** linkIds of the C-SSRS screener questions. */
export interface CssrsLinkIds {
  readonly q1: string;
  readonly q2: string;
  readonly q3: string;
  readonly q4: string;
  readonly q5: string;
  readonly q6: string;
  readonly q6b: string;
}

/** linkIds with a safety meaning, by role. */
export interface SafetyLinkIds {
  /** PHQ-9 / PHQ-A item 9 (thoughts of being better off dead or of self-harm). */
  readonly item9?: string;
  readonly seriousThoughtsPastMonth?: string;
  readonly everAttempted?: string;
  readonly cssrs?: CssrsLinkIds;
}

/** An instrument Haven scores. */
export interface Instrument {
  readonly id: InstrumentId;
  readonly url: string;
  readonly version: string;
  /** `url|version`, as QuestionnaireResponse.questionnaire and the instrument extension carry it. */
  readonly canonical: string;
  readonly questionnaire: Questionnaire;
  readonly panelCode: Coding;
  /** LOINC code of the total score; absent for the C-SSRS screener. */
  readonly totalCode?: Coding;
  /** LOINC code of the derived risk level (C-SSRS only). */
  readonly riskCode?: Coding;
  /** Every question, in questionnaire order. */
  readonly items: readonly InstrumentItem[];
  readonly scoredItems: readonly InstrumentItem[];
  readonly safetyItems: readonly InstrumentItem[];
  readonly safety: SafetyLinkIds;
  readonly scoring: InstrumentScoring;
}

/** The loaded instruments. */
export interface InstrumentRegistry {
  /** The instrument for a canonical `url` or `url|version` (a version must match exactly). */
  find(canonical: string): Instrument | undefined;
  /** Every loaded instrument, in {@link INSTRUMENT_IDS} order. */
  all(): readonly Instrument[];
}

/** What only code knows about each instrument. */
interface InstrumentSpec {
  readonly totalCode?: Coding;
  readonly riskCode?: Coding;
  /** Sanity check of the JSON: how many items must carry scores. */
  readonly scoredItemCount: number;
  readonly safety: SafetyLinkIds;
  readonly scoring: (t: Thresholds) => InstrumentScoring;
}

const loinc = (code: string, display: string): Coding => ({ system: LOINC, code, display });

const SPECS: Readonly<Record<InstrumentId, InstrumentSpec>> = {
  'phq-9': {
    totalCode: loinc('44261-6', 'Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]'),
    scoredItemCount: 9,
    safety: { item9: '/44260-8' },
    scoring: (t) => ({ kind: 'bands', bands: t.depressionBands }),
  },
  'phq-2': {
    totalCode: loinc('55758-7', 'Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]'),
    scoredItemCount: 2,
    safety: {},
    scoring: (t) => ({ kind: 'cutoff', positiveAt: t.phq2PositiveAt }),
  },
  'gad-7': {
    totalCode: loinc('70274-6', 'Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]'),
    scoredItemCount: 7,
    safety: {},
    scoring: (t) => ({ kind: 'bands', bands: t.gad7Bands }),
  },
  'cssrs-screener': {
    // VERIFY: the 93374-7 answer list (only LA9194-7 "Low" was seen), so the value uses CSSRS_RISK_SYSTEM.
    riskCode: loinc('93374-7', 'Suicide risk level'),
    scoredItemCount: 0,
    safety: {
      cssrs: {
        q1: '/93246-7',
        q2: '/93247-5',
        q3: '/93248-3',
        q4: '/93249-1',
        q5: '/93250-9',
        q6: '/93267-3',
        q6b: '/93269-9',
      },
    },
    scoring: () => ({ kind: 'cssrs' }),
  },
  'phq-a': {
    totalCode: loinc('89204-2', 'Patient Health Questionnaire-9: Modified for Teens total score [Reported.PHQ.Teen]'),
    scoredItemCount: 9,
    // VERIFY: local linkIds until the LOINC item codes of 89206-7 are known (they live in the JSON only).
    safety: {
      item9: 'phq-a-9',
      seriousThoughtsPastMonth: 'phq-a-serious-thoughts-past-month',
      everAttempted: 'phq-a-ever-attempted',
    },
    scoring: (t) => ({ kind: 'bands', bands: t.depressionBands }),
  },
  'audit-c': {
    totalCode: loinc('75626-2', 'Total score [AUDIT-C]'),
    scoredItemCount: 3,
    safety: {},
    scoring: (t) => ({ kind: 'sex-cutoff', positiveAt: t.auditCPositiveAt }),
  },
};

function isInstrumentId(id: string | undefined): id is InstrumentId {
  return (INSTRUMENT_IDS as readonly string[]).includes(id ?? '');
}

/** The score of an answer option: ordinalValue or itemWeight, on the option or on its Coding. */
export function optionWeight(option: QuestionnaireItemAnswerOption): number | undefined {
  return extensionWeight(option.extension) ?? extensionWeight(option.valueCoding?.extension);
}

function extensionWeight(extensions: readonly Extension[] | undefined): number | undefined {
  for (const ext of extensions ?? []) {
    if (ext.url !== ORDINAL_VALUE_URL && ext.url !== ITEM_WEIGHT_URL) continue;
    const value = ext.valueDecimal ?? ext.valueInteger;
    if (typeof value === 'number' && Number.isFinite(value)) return value;
  }
  return undefined;
}

/** Questions (not groups or display items) in document order, looking inside groups and nested items. */
export function questions(items: readonly QuestionnaireItem[] | undefined): QuestionnaireItem[] {
  return (items ?? []).flatMap((item) => [...(item.type === 'display' || item.type === 'group' ? [] : [item]), ...questions(item.item)]);
}

function toInstrumentItem(q: QuestionnaireItem, where: string): InstrumentItem {
  const code = q.code?.[0];
  if (!code?.code) throw new Error(`${where}: item ${q.linkId} has no code`);
  const choices = (q.answerOption ?? []).map((option): AnswerChoice => {
    const coding = option.valueCoding;
    if (!coding?.system || !coding.code) throw new Error(`${where}: item ${q.linkId} has an answer option without system and code`);
    const weight = optionWeight(option);
    const declines = coding.system === DATA_ABSENT_REASON && coding.code === 'asked-declined';
    return { coding, ...(weight === undefined ? {} : { weight }), declines };
  });
  const weighted = choices.filter((c) => !c.declines && c.weight !== undefined);
  const scored = weighted.length > 0;
  // A scored item with an unscored answer could not be summed; totals are stored as valueInteger.
  if (scored && choices.some((c) => !c.declines && (c.weight === undefined || !Number.isInteger(c.weight)))) {
    throw new Error(`${where}: every answer of scored item ${q.linkId} needs an integer ordinalValue`);
  }
  return {
    linkId: q.linkId as string,
    code,
    ...(q.text ? { text: q.text } : {}),
    required: q.required === true,
    scored,
    choices,
    ...(q.enableWhen ? { enableWhen: q.enableWhen } : {}),
    ...(q.enableBehavior ? { enableBehavior: q.enableBehavior } : {}),
  };
}

function safetyLinkIdList(safety: SafetyLinkIds): string[] {
  return [safety.item9, safety.seriousThoughtsPastMonth, safety.everAttempted, ...Object.values(safety.cssrs ?? {})].filter(
    (l): l is string => l !== undefined,
  );
}

/** Builds one instrument from its Questionnaire; throws when the JSON contradicts what the scorer relies on. */
export function buildInstrument(questionnaire: Questionnaire, thresholds: Thresholds = DEFAULT_THRESHOLDS): Instrument {
  const id = questionnaire.id;
  if (!isInstrumentId(id)) throw new Error(`Questionnaire ${id ?? '(no id)'} is not an instrument Haven scores`);
  const where = `Questionnaire/${id}`;
  const spec = SPECS[id];
  if (!questionnaire.url || !questionnaire.version) throw new Error(`${where}: url and version are required`);
  const panelCode = questionnaire.code?.[0];
  if (!panelCode?.code) throw new Error(`${where}: no panel code`);

  const items = questions(questionnaire.item).map((q) => toInstrumentItem(q, where));
  const scoredItems = items.filter((i) => i.scored);
  if (scoredItems.length !== spec.scoredItemCount) {
    throw new Error(`${where}: expected ${spec.scoredItemCount} scored items, found ${scoredItems.length}`);
  }
  const safetyIds = safetyLinkIdList(spec.safety);
  const safetyItems = items.filter((i) => safetyIds.includes(i.linkId));
  const absent = safetyIds.filter((l) => !items.some((i) => i.linkId === l));
  if (absent.length > 0) throw new Error(`${where}: safety items ${absent.join(', ')} are missing`);

  return {
    id,
    url: questionnaire.url,
    version: questionnaire.version,
    canonical: `${questionnaire.url}|${questionnaire.version}`,
    questionnaire,
    panelCode,
    ...(spec.totalCode ? { totalCode: spec.totalCode } : {}),
    ...(spec.riskCode ? { riskCode: spec.riskCode } : {}),
    items,
    scoredItems,
    safetyItems,
    safety: spec.safety,
    scoring: spec.scoring(thresholds),
  };
}

/** Options of {@link loadInstruments}. */
export interface LoadOptions {
  /** Overrides of {@link DEFAULT_THRESHOLDS}. */
  readonly thresholds?: Partial<Thresholds>;
}

/**
 * Reads every `Questionnaire-*.json` in `dir` and builds the instruments among them. Questionnaires that are
 * not one of {@link INSTRUMENT_IDS} are skipped (not everything asked is scored); a malformed instrument throws.
 */
export function loadInstruments(dir: string = DEFAULT_QUESTIONNAIRES_DIR, options: LoadOptions = {}): InstrumentRegistry {
  const thresholds: Thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const byId = new Map<InstrumentId, Instrument>();
  for (const name of readdirSync(dir)
    .filter((n) => /^Questionnaire-.+\.json$/.test(n))
    .sort()) {
    const resource = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Questionnaire;
    if (resource.resourceType !== 'Questionnaire' || !isInstrumentId(resource.id)) continue;
    if (byId.has(resource.id)) throw new Error(`${name}: a second Questionnaire with id ${resource.id}`);
    byId.set(resource.id, buildInstrument(resource, thresholds));
  }
  const ordered = INSTRUMENT_IDS.flatMap((id) => byId.get(id) ?? []);
  return {
    find(canonical: string): Instrument | undefined {
      const bar = canonical.lastIndexOf('|');
      const url = bar < 0 ? canonical : canonical.slice(0, bar);
      const version = bar < 0 ? undefined : canonical.slice(bar + 1);
      return ordered.find((i) => i.url === url && (version === undefined || i.version === version));
    },
    all: () => ordered,
  };
}
