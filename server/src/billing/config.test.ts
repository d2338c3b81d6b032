import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeConfig } from '../../../bots/clinical/config.ts';
import { defaultBillingConfig, loadBillingConfig, parseBillingConfig, payerRules } from './config.ts';
import defaults from './defaults.json' with { type: 'json' };

const dir = mkdtempSync(join(tmpdir(), 'haven-billing-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const withOverride = (override: unknown) => parseBillingConfig(mergeConfig(structuredClone(defaults), override));

describe('billing configuration', () => {
  it('parses the shipped defaults: the clinical.md §2 thresholds', () => {
    const c = defaultBillingConfig();
    expect(c.cocm).toMatchObject({
      initialMinMinutes: 36,
      subsequentMinMinutes: 31,
      g2214MinMinutes: 16,
      addOnFirstAtInitial: 86,
      addOnFirstAtSubsequent: 76,
      addOnBlockMinutes: 30,
      episodeBreakMonths: 6,
    });
    expect(c.generalBhi.minMinutes).toBe(20);
    expect(c.g0323.minMinutes).toBe(20);
    expect(c.psychotherapy.bands.map((b) => b.minMinutes)).toEqual([16, 38, 53]);
    expect(payerRules(c, 'nc-medicaid')).toEqual({ ...c.payers.default, max99494Units: 4 });
    expect(payerRules(c, 'unknown')).toBe(c.payers.default);
    expect(payerRules(c, 'toString')).toBe(c.payers.default);
  });

  it('HAVEN_BILLING_CONFIG is deep-merged over the defaults', () => {
    const file = join(dir, 'override.json');
    writeFileSync(file, JSON.stringify({ cocm: { episodeBreakMonths: 12 }, payers: { acme: { max99494Units: 2 } } }));
    const c = loadBillingConfig({ HAVEN_BILLING_CONFIG: file });
    expect(c.cocm.episodeBreakMonths).toBe(12);
    expect(c.cocm.initialMinMinutes).toBe(36);
    expect(payerRules(c, 'acme').max99494Units).toBe(2);
    expect(loadBillingConfig({}).cocm.episodeBreakMonths).toBe(6);
  });

  it.each([
    [{ cocm: { initalMinMinutes: 30 } }, 'unknown key cocm.initalMinMinutes'],
    [{ cocm: { initialMinMinutes: 35.5 } }, 'cocm.initialMinMinutes must be a whole number ≥ 1'],
    [{ cocm: { g2214MinMinutes: 31 } }, 'cocm.g2214MinMinutes must be below cocm.subsequentMinMinutes'],
    [{ cocm: { addOnFirstAtSubsequent: 31 } }, 'cocm.addOnFirstAtSubsequent must be above cocm.subsequentMinMinutes'],
    [{ cocm: { countingRoles: ['nurse'] } }, 'cocm.countingRoles[0] must be one of'],
    [{ exclusiveFamilies: [['cocm', 'cocm']] }, 'exclusiveFamilies[0] must be a pair of two different families'],
    [
      {
        psychotherapy: {
          bands: [
            { minMinutes: 38, code: '90834', withEM: '90836' },
            { minMinutes: 16, code: '90832', withEM: '90833' },
          ],
        },
      },
      'psychotherapy.bands[1].minMinutes must be greater than the previous band',
    ],
    [{ payers: { acme: { maxUnits: 2 } } }, 'unknown key payers.acme.maxUnits'],
    [{ payers: { 'Bad Name': {} } }, 'payers key "Bad Name" must be a lower-case token'],
    [{ group: { maxParticipants: 0 } }, 'group.maxParticipants must be a whole number ≥ 1'],
    [{ initiatingVisit: { lookbackMonths: null } }, 'initiatingVisit.lookbackMonths is missing'],
  ])('refuses %j', (override, message) => {
    expect(() => withOverride(override)).toThrow(message);
  });

  it('names an unreadable or malformed override file', () => {
    expect(() => loadBillingConfig({ HAVEN_BILLING_CONFIG: join(dir, 'missing.json') })).toThrow(
      /Cannot read billing configuration HAVEN_BILLING_CONFIG/,
    );
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{');
    expect(() => loadBillingConfig({ HAVEN_BILLING_CONFIG: bad })).toThrow(/is not valid JSON/);
  });
});
