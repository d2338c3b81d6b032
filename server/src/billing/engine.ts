/**
 * The billing engine: one patient-month in (./types.ts `PatientMonth`), billable codes and units out, with the
 * reason for every code billed and every code not billed (./types.ts `BillingDecision`). Pure and table-driven:
 * every threshold and rule comes from the `BillingConfig` passed in (./defaults.json, clinical.md §2.6), so the
 * same input and configuration always give the same decision. Nothing here reads the clock, storage or env.
 */
import { careManagementCodes } from './care-management.ts';
import { CARE_MODELS, CARE_ROLES, payerRules, type BillingConfig } from './config.ts';
import { episodePosition } from './episode.ts';
import { countMinutes } from './minutes.ts';
import { isDate, isMonth, monthOf } from './months.ts';
import { evaluationVisit, groupSession, psychotherapySession, type SessionResult } from './psychotherapy.ts';
import type { BilledLine, BillingDecision, NotBilledCode, PatientMonth } from './types.ts';

/** Malformed engine input (a caller's bug or bad request data), with every problem found. */
export class BillingInputError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid billing input: ${problems.join('; ')}`);
    this.name = 'BillingInputError';
    this.problems = problems;
  }
}

const wholeMinutes = (n: unknown) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 24 * 60;

/** Every problem of `input` (empty: valid). */
export function inputProblems(input: PatientMonth): string[] {
  const p: string[] = [];
  if (!isMonth(input.month)) p.push(`month must be YYYY-MM, got ${JSON.stringify(input.month)}`);
  if (input.model !== undefined && !CARE_MODELS.includes(input.model)) p.push(`model must be one of ${CARE_MODELS.join(', ')}`);
  input.minutes.forEach((e, i) => {
    if (!isDate(e.date)) p.push(`minutes[${i}].date must be YYYY-MM-DD`);
    if (!CARE_ROLES.includes(e.role)) p.push(`minutes[${i}].role must be one of ${CARE_ROLES.join(', ')}`);
    if (!wholeMinutes(e.minutes)) p.push(`minutes[${i}].minutes must be a whole number 0-1440`);
  });
  if (input.episode.start !== undefined && !isMonth(input.episode.start)) p.push('episode.start must be YYYY-MM');
  if (input.episode.priorServiceMonths.some((m) => !isMonth(m))) p.push('episode.priorServiceMonths must be YYYY-MM');
  if (isMonth(input.month) && input.episode.start !== undefined && input.episode.start > input.month)
    p.push(`episode.start ${input.episode.start} is after ${input.month}`);
  if (input.priorBilling.some((b) => !isMonth(b.month) || typeof b.code !== 'string'))
    p.push('priorBilling entries need month YYYY-MM and code');
  if (input.initiatingVisit && !isDate(input.initiatingVisit.date)) p.push('initiatingVisit.date must be YYYY-MM-DD');
  for (const [name, list] of [
    ['psychotherapy', input.psychotherapy],
    ['groupSessions', input.groupSessions],
    ['evaluations', input.evaluations],
  ] as const) {
    (list ?? []).forEach((s, i) => {
      if (!isDate(s.date)) p.push(`${name}[${i}].date must be YYYY-MM-DD`);
      if ('minutes' in s && !wholeMinutes(s.minutes)) p.push(`${name}[${i}].minutes must be a whole number 0-1440`);
    });
  }
  return p;
}

/**
 * Decides the billable codes of one patient-month.
 * @throws BillingInputError when the input is malformed (see `inputProblems`).
 */
export function decideMonth(config: BillingConfig, input: PatientMonth): BillingDecision {
  const problems = inputProblems(input);
  if (problems.length > 0) throw new BillingInputError(problems);
  const payerName = input.payer !== undefined && Object.hasOwn(config.payers, input.payer) ? input.payer : 'default';
  const payer = payerRules(config, input.payer);
  const counted = countMinutes(config, payer, input.month, input.minutes);
  const billed: BilledLine[] = [];
  const notBilled: NotBilledCode[] = [];
  const reviewItems: string[] = [];
  if (input.payer !== undefined && payerName === 'default')
    reviewItems.push(`payer profile "${input.payer}" is not configured; default rules applied`);
  let episode: BillingDecision['episode'];
  if (input.model) {
    const position = episodePosition(config.cocm, input.month, input.episode, input.priorBilling);
    episode = { startMonth: position.startMonth, initialMonth: position.initialMonth, reason: position.reason };
    const cm = careManagementCodes(config, payer, input, position, counted);
    billed.push(...cm.billed);
    notBilled.push(...cm.notBilled);
    reviewItems.push(...cm.reviewItems);
  }
  const sessions: SessionResult[] = [];
  const inMonth = <T extends { readonly date: string; readonly source?: string }>(list: readonly T[] | undefined, code: string): T[] =>
    (list ?? []).filter((s) => {
      if (monthOf(s.date) === input.month) return true;
      notBilled.push({ code, rule: '-', source: s.source, reason: `${code} not billed for ${input.month}: session dated ${s.date}` });
      return false;
    });
  for (const s of inMonth(input.psychotherapy, 'psychotherapy')) sessions.push(psychotherapySession(config, s));
  for (const s of inMonth(input.groupSessions, '90853')) sessions.push(groupSession(config, s));
  for (const v of inMonth(input.evaluations, '90785')) sessions.push(evaluationVisit(config, v));
  for (const s of sessions) {
    billed.push(...s.billed);
    notBilled.push(...s.notBilled);
    reviewItems.push(...s.reviewItems);
  }
  return {
    month: input.month,
    payer: payerName,
    episode,
    countedMinutes: { cocm: counted.cocm, generalBhi: counted.generalBhi, g0323: counted.g0323 },
    excludedMinutes: counted.excluded,
    billed,
    notBilled,
    reviewItems,
  };
}
