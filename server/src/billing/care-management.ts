/**
 * Monthly care-management codes: psychiatric Collaborative Care (99492/99493/+99494/G2214, clinical.md §2.6 rows
 * C0-C8), general BHI (99484, B1) and G0323 (B2), with their preconditions (consent, initiating visit, registry,
 * psychiatric review, validated scale) and same-month exclusions (§2.5). Pure.
 */
import type { BillingConfig, CareModel, CodeFamily, PayerRules } from './config.ts';
import type { EpisodePosition } from './episode.ts';
import { addMonths, monthBounds } from './months.ts';
import type { BilledLine, NotBilledCode, PatientMonth } from './types.ts';

/** Codes of each family. */
export const FAMILY_CODES: Readonly<Record<CodeFamily, readonly string[]>> = {
  cocm: ['99492', '99493', '99494', 'G2214'],
  '99484': ['99484'],
  G0323: ['G0323'],
};

const MODEL_FAMILY: Readonly<Record<CareModel, CodeFamily>> = { CoCM: 'cocm', GeneralBHI: '99484', G0323: 'G0323' };

/** The family a code belongs to, if it is a care-management code. */
export function familyOf(code: string): CodeFamily | undefined {
  return (Object.keys(FAMILY_CODES) as CodeFamily[]).find((f) => FAMILY_CODES[f].includes(code));
}

/** What the care-management part of a month produced. */
export interface CareManagementResult {
  readonly billed: BilledLine[];
  readonly notBilled: NotBilledCode[];
  readonly reviewItems: string[];
}

interface Counted {
  readonly cocm: number;
  readonly generalBhi: number;
  readonly g0323: number;
}

/** Preconditions of §2.6 that fail for this month (empty: all hold). */
export function failedPreconditions(config: BillingConfig, input: PatientMonth, model: CareModel, episode: EpisodePosition): string[] {
  const failed: string[] = [];
  if (!input.consentOnFile) failed.push('no documented beneficiary consent on file');
  const visit = input.initiatingVisit;
  const earliest = `${addMonths(episode.startMonth, -config.initiatingVisit.lookbackMonths)}-01`;
  const latest = monthBounds(input.month).last;
  if (!visit) failed.push('no initiating visit by the billing practitioner on file');
  else if (!config.initiatingVisit.qualifyingTypes[model].includes(visit.type))
    failed.push(`visit type "${visit.type}" does not qualify as the initiating visit for ${model}`);
  else if (visit.date < earliest || visit.date > latest)
    failed.push(
      `initiating visit on ${visit.date} is not within ${config.initiatingVisit.lookbackMonths} months before the episode start (${episode.startMonth})`,
    );
  if (model === 'CoCM') {
    const r = config.cocm.require;
    if (r.registry && !input.inRegistry) failed.push('patient not in the CoCM registry');
    if (r.psychiatricConsultantReview && !input.psychiatricConsultantReview)
      failed.push('no psychiatric consultant review or weekly caseload consultation documented this month');
    const scaleNeeded = episode.initialMonth ? r.validatedScaleInitialMonth : r.validatedScaleSubsequentMonth;
    if (scaleNeeded && !input.validatedScaleThisMonth)
      failed.push(
        `no validated rating scale administered this month (required in ${episode.initialMonth ? 'the initial' : 'every'} month)`,
      );
  }
  return failed;
}

/** Same-month conflicts: the family already billed, or an exclusive family billed (rows C0 and B0). */
function sameMonthConflict(config: BillingConfig, input: PatientMonth, family: CodeFamily): string | undefined {
  const thisMonth = input.priorBilling.filter((b) => b.month === input.month);
  const same = thisMonth.find((b) => familyOf(b.code) === family);
  if (same) return `${same.code} already billed for ${input.month}`;
  for (const b of thisMonth) {
    const other = familyOf(b.code);
    if (!other) continue;
    if (config.exclusiveFamilies.some(([a, c]) => (a === family && c === other) || (a === other && c === family)))
      return `${b.code} already billed for ${input.month}, and ${family === 'cocm' ? 'CoCM' : family} is exclusive with it in the same month`;
  }
  return undefined;
}

/** The care-management codes of `input` (nothing without a model). */
export function careManagementCodes(
  config: BillingConfig,
  payer: PayerRules,
  input: PatientMonth,
  episode: EpisodePosition,
  counted: Counted,
): CareManagementResult {
  const out: CareManagementResult = { billed: [], notBilled: [], reviewItems: [] };
  const model = input.model;
  if (!model) return out;
  const family = MODEL_FAMILY[model];
  for (const f of Object.keys(FAMILY_CODES) as CodeFamily[]) {
    if (f === family) continue;
    for (const code of FAMILY_CODES[f])
      out.notBilled.push({ code, rule: '-', reason: `${code} not billed: the month's care-management model is ${model}` });
  }
  const refuseAll = (rule: string, why: string) => {
    for (const code of FAMILY_CODES[family]) out.notBilled.push({ code, rule, reason: `${code} not billed: ${why}` });
  };
  if (input.setting === 'fqhc' || input.setting === 'rhc') {
    refuseAll('-', `${input.setting.toUpperCase()} care management uses other codes (G0511/G0512 historically; VERIFY the current PFS)`);
    out.reviewItems.push(`${input.setting.toUpperCase()} setting: care-management coding is outside this engine's rules table`);
    return out;
  }
  const failed = failedPreconditions(config, input, model, episode);
  if (failed.length > 0) {
    refuseAll('PRE', failed.join('; '));
    out.reviewItems.push(...failed.map((f) => `${model}: ${f}`));
    return out;
  }
  const conflict = sameMonthConflict(config, input, family);
  if (conflict) {
    refuseAll(family === 'cocm' ? 'C0' : 'B0', conflict);
    return out;
  }
  const serviceDate = monthBounds(input.month).last;
  if (model === 'CoCM') cocmCodes(config, payer, input, episode, counted.cocm, serviceDate, out);
  else monthlyBhiCode(config, payer, model, model === 'GeneralBHI' ? counted.generalBhi : counted.g0323, serviceDate, out);
  return out;
}

function cocmCodes(
  config: BillingConfig,
  payer: PayerRules,
  input: PatientMonth,
  episode: EpisodePosition,
  m: number,
  serviceDate: string,
  out: CareManagementResult,
): void {
  const c = config.cocm;
  const initial = episode.initialMonth;
  const primary = initial ? '99492' : '99493';
  const min = initial ? c.initialMinMinutes : c.subsequentMinMinutes;
  const addOnAt = initial ? c.addOnFirstAtInitial : c.addOnFirstAtSubsequent;
  const which = initial ? 'the initial month' : 'a subsequent month';
  // Rows: initial C1 (<16) C2 (G2214) C3 (99492) C4 (+99494); subsequent C5 C6 C7 C8.
  const row = (n: 1 | 2 | 3 | 4) => `C${initial ? n : n + 4}`;
  out.notBilled.push(
    initial
      ? {
          code: '99493',
          rule: row(3),
          reason: `99493 not billed: ${input.month} is the initial month of the episode (${episode.reason}); 99492 applies`,
        }
      : { code: '99492', rule: row(3), reason: `99492 not billed: not the initial month (${episode.reason})` },
  );
  if (m >= min) {
    const yearStart = `${input.month.slice(0, 4)}-01`;
    const earlier99492 = input.priorBilling.find((b) => b.code === '99492' && b.month >= yearStart && b.month < input.month);
    if (initial && payer.initialCoCMOncePerCalendarYear && earlier99492) {
      out.notBilled.push({
        code: '99492',
        rule: row(3),
        reason: `99492 not billed: the payer allows it once per calendar year and it was billed for ${earlier99492.month}`,
      });
      out.notBilled.push({ code: '99494', rule: row(4), reason: '99494 not billed: add-on without 99492 or 99493' });
      out.notBilled.push({
        code: 'G2214',
        rule: row(2),
        reason: `G2214 not billed: ${m} minutes meet the 99492 threshold, so G2214 does not apply`,
      });
      out.reviewItems.push(
        `CoCM: ${m} minutes in an initial month, but the payer's once-per-year 99492 was billed for ${earlier99492.month}`,
      );
      return;
    }
    const addOn = m >= addOnAt;
    out.billed.push({
      code: primary,
      units: 1,
      rule: row(addOn ? 4 : 3),
      serviceDate,
      reason: `${primary}: ${m} CoCM minutes in ${which} (from ${min})`,
    });
    out.notBilled.push({ code: 'G2214', rule: row(2), reason: `G2214 not billed: ${primary} threshold met (${m} ≥ ${min})` });
    if (!addOn) {
      out.notBilled.push({
        code: '99494',
        rule: row(3),
        reason: `99494 not billed: the first unit needs ${addOnAt} minutes in ${which} (${m} counted, ${addOnAt - m} short)`,
      });
      return;
    }
    const units = Math.floor((m - addOnAt) / c.addOnBlockMinutes) + 1;
    const cap = payer.max99494Units;
    if (cap === 0) {
      out.notBilled.push({ code: '99494', rule: row(4), reason: '99494 not billed: the payer allows no units (max99494Units 0)' });
      return;
    }
    const billedUnits = cap === null ? units : Math.min(units, cap);
    const capped = billedUnits < units ? `; capped at the payer's ${cap} units (${units} by time)` : '';
    out.billed.push({
      code: '99494',
      units: billedUnits,
      rule: row(4),
      serviceDate,
      reason: `+99494 ×${billedUnits}: ${m} minutes, first unit from ${addOnAt}, one more each ${c.addOnBlockMinutes}${capped}`,
    });
    return;
  }
  out.notBilled.push({
    code: primary,
    rule: row(m >= c.g2214MinMinutes ? 2 : 1),
    reason: `${primary} not billed: ${m} of ${min} minutes (${min - m} short)`,
  });
  out.notBilled.push({ code: '99494', rule: row(m >= c.g2214MinMinutes ? 2 : 1), reason: `99494 not billed: add-on needs ${primary}` });
  const g2214Max = initial && c.g2214UpToInitialThreshold ? min - 1 : c.subsequentMinMinutes - 1;
  if (m < c.g2214MinMinutes) {
    out.notBilled.push({
      code: 'G2214',
      rule: row(1),
      reason: `G2214 not billed: ${m} of ${c.g2214MinMinutes} minutes (${c.g2214MinMinutes - m} short)`,
    });
  } else if (m > g2214Max) {
    out.notBilled.push({
      code: 'G2214',
      rule: row(2),
      reason: `G2214 not billed: it covers ${c.g2214MinMinutes}-${g2214Max} minutes, ${m} counted (cocm.g2214UpToInitialThreshold is off)`,
    });
    out.reviewItems.push(`CoCM: ${m} minutes in the initial month bill neither G2214 nor 99492 under the configured rules`);
  } else if (!payer.allowG2214) {
    out.notBilled.push({ code: 'G2214', rule: row(2), reason: 'G2214 not billed: the payer does not accept G2214' });
  } else {
    out.billed.push({
      code: 'G2214',
      units: 1,
      rule: row(2),
      serviceDate,
      reason: `G2214: ${m} CoCM minutes (${c.g2214MinMinutes}-${g2214Max}), under the ${primary} threshold of ${min}`,
    });
  }
}

function monthlyBhiCode(
  config: BillingConfig,
  payer: PayerRules,
  model: 'GeneralBHI' | 'G0323',
  g: number,
  serviceDate: string,
  out: CareManagementResult,
): void {
  const code = model === 'GeneralBHI' ? '99484' : 'G0323';
  const min = model === 'GeneralBHI' ? (payer.generalBhiMinMinutes ?? config.generalBhi.minMinutes) : config.g0323.minMinutes;
  const rule = model === 'GeneralBHI' ? 'B1' : 'B2';
  if (g >= min) out.billed.push({ code, units: 1, rule, serviceDate, reason: `${code}: ${g} minutes (at least ${min})` });
  else
    out.notBilled.push({ code, rule: 'B3', reason: `${code} not billed: ${g} of at least ${min} minutes (${min - g} short; no rounding)` });
}
