/**
 * Calendar-month arithmetic for billing: a month is `YYYY-MM`, a service date `YYYY-MM-DD` (the local date of
 * service, no time zone: billing months are calendar months of the practice, clinical.md §2.1 "per calendar month").
 */

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
const DATE = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

/** True for `YYYY-MM`. */
export function isMonth(value: unknown): value is string {
  return typeof value === 'string' && MONTH.test(value);
}

/** True for a real calendar date `YYYY-MM-DD` (2026-02-30 is not). */
export function isDate(value: unknown): value is string {
  if (typeof value !== 'string' || !DATE.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}

/** Months since year 0: consecutive months differ by 1. */
export function monthIndex(month: string): number {
  const m = MONTH.exec(month);
  if (!m) throw new Error(`Not a month (YYYY-MM): ${JSON.stringify(month)}`);
  return Number(m[1]) * 12 + Number(m[2]) - 1;
}

/** The month `YYYY-MM` of index `i`. */
export function monthFromIndex(i: number): string {
  return `${String(Math.floor(i / 12)).padStart(4, '0')}-${String((i % 12) + 1).padStart(2, '0')}`;
}

/** The month a `YYYY-MM-DD…` date or dateTime falls in (its first seven characters). */
export function monthOf(date: string): string {
  return date.slice(0, 7);
}

/** `month` moved by `n` months (negative: earlier). */
export function addMonths(month: string, n: number): string {
  return monthFromIndex(monthIndex(month) + n);
}

/** First and last day of a month, `YYYY-MM-DD`. */
export function monthBounds(month: string): { first: string; last: string } {
  const i = monthIndex(month);
  const y = Math.floor(i / 12);
  const m = i % 12;
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return { first: `${month}-01`, last: `${month}-${String(last).padStart(2, '0')}` };
}
