import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Questionnaire, QuestionnaireItem, Resource } from '@medplum/fhirtypes';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../server/src/fhir/definitions.ts';
import { validateFhirResource } from '../../server/src/fhir/validate.ts';
import {
  DATA_ABSENT_REASON,
  DEFAULT_QUESTIONNAIRES_DIR,
  DEFAULT_THRESHOLDS,
  INSTRUMENT_IDS,
  ITEM_WEIGHT_URL,
  LOINC,
  ORDINAL_VALUE_URL,
  PHQ_A_ITEM_SYSTEM,
  buildInstrument,
  loadInstruments,
  optionWeight,
} from './instruments.ts';
import type { Instrument, InstrumentId } from './instruments.ts';

const registry = loadInstruments();
const get = (id: InstrumentId): Instrument => {
  const found = registry.all().find((i) => i.id === id);
  if (!found) throw new Error(`${id} not loaded`);
  return found;
};
const readQuestionnaire = (id: string): Questionnaire =>
  JSON.parse(readFileSync(join(DEFAULT_QUESTIONNAIRES_DIR, `Questionnaire-${id}.json`), 'utf8')) as Questionnaire;

const scratch: string[] = [];
function tempDir(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'haven-instruments-'));
  scratch.push(dir);
  for (const [name, json] of Object.entries(files)) writeFileSync(join(dir, name), JSON.stringify(json));
  return dir;
}
afterEach(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

beforeAll(() => loadDefinitions());

describe('the questionnaires/ JSON', () => {
  it.each(INSTRUMENT_IDS)('%s is a valid R4 Questionnaire with the canonical url, version 1.0.0 and a LOINC panel code', (id) => {
    const q = readQuestionnaire(id);
    expect(validateFhirResource(q as Resource)).toEqual([]);
    expect(q).toMatchObject({ id, url: `https://haven.health/fhir/Questionnaire/${id}`, version: '1.0.0', status: 'active' });
    expect(q.code?.[0]?.system).toBe(LOINC);
    expect(q.meta?.profile).toBeUndefined();
  });

  it.each(INSTRUMENT_IDS)('%s has unique linkIds and no calculated total item', (id) => {
    const all: QuestionnaireItem[] = [];
    const walk = (items: QuestionnaireItem[] | undefined): void => {
      for (const i of items ?? []) {
        all.push(i);
        walk(i.item);
      }
    };
    walk(readQuestionnaire(id).item);
    const linkIds = all.map((i) => i.linkId);
    expect(new Set(linkIds).size).toBe(linkIds.length);
    expect(JSON.stringify(all)).not.toContain('calculatedExpression');
  });
});

describe('loadInstruments', () => {
  it('loads the six instruments in a fixed order', () => {
    expect(registry.all().map((i) => i.id)).toEqual([...INSTRUMENT_IDS]);
  });

  it('finds an instrument by url and by url|version, and nothing for another version or url', () => {
    const phq9 = get('phq-9');
    expect(registry.find('https://haven.health/fhir/Questionnaire/phq-9')).toBe(phq9);
    expect(registry.find('https://haven.health/fhir/Questionnaire/phq-9|1.0.0')).toBe(phq9);
    expect(registry.find(phq9.canonical)).toBe(phq9);
    expect(registry.find('https://haven.health/fhir/Questionnaire/phq-9|2.0.0')).toBeUndefined();
    expect(registry.find('http://hl7.org/fhir/us/core/Questionnaire/phq-9-example')).toBeUndefined();
  });

  it.each<[InstrumentId, string, string | undefined, number, string[]]>([
    ['phq-9', '44249-1', '44261-6', 9, ['/44260-8']],
    ['phq-2', '55757-9', '55758-7', 2, []],
    ['gad-7', '69737-5', '70274-6', 7, []],
    ['cssrs-screener', '93373-9', undefined, 0, ['/93246-7', '/93247-5', '/93248-3', '/93249-1', '/93250-9', '/93267-3', '/93269-9']],
    ['phq-a', '89206-7', '89204-2', 9, ['phq-a-9', 'phq-a-serious-thoughts-past-month', 'phq-a-ever-attempted']],
    ['audit-c', '72109-2', '75626-2', 3, []],
  ])('%s: panel %s, total %s, %i scored items, safety items %j', (id, panel, total, scored, safety) => {
    const inst = get(id);
    expect(inst.panelCode).toMatchObject({ system: LOINC, code: panel });
    expect(inst.totalCode?.code).toBe(total);
    expect(inst.scoredItems).toHaveLength(scored);
    expect(inst.scoredItems.every((i) => i.required)).toBe(true);
    expect(inst.safetyItems.map((i) => i.linkId)).toEqual(safety);
  });

  it('reads PHQ-9 in LOINC item order, scores 0-3 from ordinalValue, and item 9 may be declined unscored', () => {
    const phq9 = get('phq-9');
    expect(phq9.scoredItems.map((i) => i.code.code)).toEqual([
      '44250-9',
      '44255-8',
      '44259-0',
      '44254-1',
      '44251-7',
      '44258-2',
      '44252-5',
      '44253-3',
      '44260-8',
    ]);
    expect(phq9.scoredItems.map((i) => i.linkId)).toEqual(phq9.scoredItems.map((i) => `/${i.code.code}`));
    for (const item of phq9.scoredItems.slice(0, 8)) {
      expect(item.choices.map((c) => [c.coding.code, c.weight])).toEqual([
        ['LA6568-5', 0],
        ['LA6569-3', 1],
        ['LA6570-1', 2],
        ['LA6571-9', 3],
      ]);
    }
    const item9 = phq9.scoredItems[8];
    expect(item9?.choices.at(-1)).toEqual({
      coding: { system: DATA_ABSENT_REASON, code: 'asked-declined', display: 'Asked But Declined' },
      declines: true,
    });
    const difficulty = phq9.items.find((i) => i.code.code === '69722-7');
    expect(difficulty).toMatchObject({ scored: false, required: false });
    expect(difficulty?.choices.every((c) => c.weight === undefined)).toBe(true);
  });

  it('accepts LA18938-3 "More days than not" = 2 on GAD-7 item 68509-9 only', () => {
    const gad7 = get('gad-7');
    const withQuirk = gad7.items.filter((i) => i.choices.some((c) => c.coding.code === 'LA18938-3'));
    expect(withQuirk.map((i) => i.linkId)).toEqual(['/68509-9']);
    expect(withQuirk[0]?.choices.find((c) => c.coding.code === 'LA18938-3')?.weight).toBe(2);
  });

  it('encodes the C-SSRS skip logic: Q3-Q5 only after Q2 Yes, Q6b only after Q6 Yes', () => {
    const cssrs = get('cssrs-screener');
    const gate = (linkId: string) =>
      cssrs.items.find((i) => i.linkId === linkId)?.enableWhen?.map((w) => [w.question, w.operator, w.answerCoding?.code]);
    for (const q of ['/93248-3', '/93249-1', '/93250-9']) expect(gate(q)).toEqual([['/93247-5', '=', 'LA33-6']]);
    expect(gate('/93269-9')).toEqual([['/93267-3', '=', 'LA33-6']]);
    for (const q of ['/93246-7', '/93247-5', '/93267-3']) expect(gate(q)).toBeUndefined();
    expect(cssrs.riskCode?.code).toBe('93374-7');
    expect(cssrs.scoring).toEqual({ kind: 'cssrs' });
    for (const item of cssrs.items) expect(item.choices.map((c) => c.coding.code)).toEqual(['LA33-6', 'LA32-8']);
  });

  it('gives PHQ-A local item codes (LOINC item codes unverified) and teen wording', () => {
    const phqa = get('phq-a');
    expect(phqa.scoredItems.map((i) => i.linkId)).toEqual(Array.from({ length: 9 }, (_, n) => `phq-a-${n + 1}`));
    expect(phqa.items.every((i) => i.code.system === PHQ_A_ITEM_SYSTEM)).toBe(true);
    expect(phqa.scoredItems[0]?.text).toBe('Feeling down, depressed, irritable, or hopeless');
    expect(phqa.items.map((i) => i.linkId).slice(9)).toEqual([
      'phq-a-past-year-depressed',
      'phq-a-difficulty',
      'phq-a-serious-thoughts-past-month',
      'phq-a-ever-attempted',
    ]);
  });

  it('uses AUDIT-C Q1 68518-0 (not 68517-2) and scores 0-4 per item', () => {
    const audit = get('audit-c');
    expect(audit.scoredItems.map((i) => i.code.code)).toEqual(['68518-0', '68519-8', '68520-6']);
    for (const item of audit.scoredItems) expect(item.choices.map((c) => c.weight)).toEqual([0, 1, 2, 3, 4]);
  });

  it('carries the default bands and cut-offs, and lets a caller override them', () => {
    expect(get('phq-9').scoring).toEqual({ kind: 'bands', bands: DEFAULT_THRESHOLDS.depressionBands });
    expect(get('phq-a').scoring).toEqual({ kind: 'bands', bands: DEFAULT_THRESHOLDS.depressionBands });
    expect(get('gad-7').scoring).toEqual({ kind: 'bands', bands: DEFAULT_THRESHOLDS.gad7Bands });
    expect(get('phq-2').scoring).toEqual({ kind: 'cutoff', positiveAt: 3 });
    expect(get('audit-c').scoring).toEqual({ kind: 'sex-cutoff', positiveAt: { male: 4, female: 3, unknown: 3 } });
    const custom = loadInstruments(undefined, { thresholds: { phq2PositiveAt: 2, auditCPositiveAt: { male: 5, female: 4, unknown: 4 } } });
    expect(custom.find('https://haven.health/fhir/Questionnaire/phq-2')?.scoring).toEqual({ kind: 'cutoff', positiveAt: 2 });
    expect(custom.find('https://haven.health/fhir/Questionnaire/audit-c')?.scoring).toMatchObject({ positiveAt: { male: 5 } });
    expect(custom.find('https://haven.health/fhir/Questionnaire/phq-9')?.scoring).toEqual(get('phq-9').scoring);
  });
});

describe('scores come from the JSON, not from code', () => {
  it('follows an edited ordinalValue', () => {
    const q = readQuestionnaire('phq-2');
    const option = q.item?.[1]?.answerOption?.[3];
    option?.extension?.splice(0, 1, { url: ORDINAL_VALUE_URL, valueDecimal: 7 });
    const dir = tempDir({ 'Questionnaire-phq-2.json': q });
    const phq2 = loadInstruments(dir).all();
    expect(phq2.map((i) => i.id)).toEqual(['phq-2']);
    expect(phq2[0]?.scoredItems[0]?.choices.at(-1)?.weight).toBe(7);
  });

  it('reads itemWeight as well as ordinalValue, on the option or on its Coding', () => {
    expect(optionWeight({ valueCoding: { code: 'a' }, extension: [{ url: ITEM_WEIGHT_URL, valueDecimal: 2 }] })).toBe(2);
    expect(optionWeight({ valueCoding: { code: 'a', extension: [{ url: ORDINAL_VALUE_URL, valueDecimal: 1 }] } })).toBe(1);
    expect(optionWeight({ valueCoding: { code: 'a', extension: [{ url: ITEM_WEIGHT_URL, valueInteger: 4 }] } })).toBe(4);
    expect(optionWeight({ valueCoding: { code: 'a' }, extension: [{ url: 'http://example.org/other', valueDecimal: 1 }] })).toBeUndefined();
  });

  it('skips Questionnaires that are not instruments and refuses a duplicate instrument id', () => {
    const other = { resourceType: 'Questionnaire', id: 'intake', status: 'active' };
    expect(loadInstruments(tempDir({ 'Questionnaire-intake.json': other })).all()).toEqual([]);
    const phq2 = readQuestionnaire('phq-2');
    expect(() => loadInstruments(tempDir({ 'Questionnaire-a.json': phq2, 'Questionnaire-b.json': phq2 }))).toThrow(/second Questionnaire/);
  });

  it('refuses a scored item with an unscored answer, a missing safety item, or no panel code', () => {
    const unscored = readQuestionnaire('phq-9');
    delete unscored.item?.[1]?.answerOption?.[2]?.extension;
    expect(() => buildInstrument(unscored)).toThrow(/integer ordinalValue/);
    const noItem9 = readQuestionnaire('phq-9');
    noItem9.item = noItem9.item?.filter((i) => i.linkId !== '/44260-8');
    expect(() => buildInstrument(noItem9)).toThrow(/expected 9 scored items/);
    const noPanel = { ...readQuestionnaire('gad-7'), code: undefined };
    expect(() => buildInstrument(noPanel)).toThrow(/panel code/);
    expect(() => buildInstrument({ resourceType: 'Questionnaire', id: 'x', status: 'active' })).toThrow(/not an instrument/);
  });

  it('finds questions inside groups', () => {
    const q = readQuestionnaire('phq-2');
    q.item = [{ linkId: 'group', type: 'group', item: q.item }];
    expect(buildInstrument(q).scoredItems.map((i) => i.linkId)).toEqual(['/44250-9', '/44255-8']);
  });
});
