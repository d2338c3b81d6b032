/**
 * Date values as the inclusive instant ranges that date search compares (FHIR R4 search.html#date: a
 * value is the range implied by its precision; a Period is its start..end, open ends are infinite).
 */
import type { TypedValue } from '@medplum/core';

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Inclusive ISO ranges of a date-typed value: date/dateTime/instant, Period, Timing (events and bounds). */
export function dateRanges(tv: TypedValue): [string, string][] {
  const v = tv.value;
  switch (tv.type) {
    case 'date':
    case 'dateTime':
    case 'instant': {
      const range = typeof v === 'string' ? dateRange(v) : undefined;
      return range ? [[iso(range[0]), iso(range[1])]] : [];
    }
    case 'Period': {
      const r = periodRange(v);
      return r ? [r] : [];
    }
    case 'Timing': {
      // Each event, and the repeat bounds when given as a Period.
      const out: [string, string][] = [];
      for (const e of list(v?.event)) {
        const range = typeof e === 'string' ? dateRange(e) : undefined;
        if (range) out.push([iso(range[0]), iso(range[1])]);
      }
      const bounds = periodRange(v?.repeat?.boundsPeriod);
      if (bounds) out.push(bounds);
      return out;
    }
    default:
      return [];
  }
}

/** Open ends become '-infinity' / 'infinity'; a Period with neither end gives no row. */
export function periodRange(p: unknown): [string, string] | undefined {
  if (!p || typeof p !== 'object') return undefined;
  const { start, end } = p as { start?: unknown; end?: unknown };
  const low = typeof start === 'string' ? dateRange(start)?.[0] : undefined;
  const high = typeof end === 'string' ? dateRange(end)?.[1] : undefined;
  if (low === undefined && high === undefined) return undefined;
  return [low === undefined ? '-infinity' : iso(low), high === undefined ? 'infinity' : iso(high)];
}

const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const DAY_MS = 86_400_000;

/**
 * A FHIR date, dateTime or instant as the inclusive [low, high] epoch milliseconds of its precision
 * (`2020` is the whole year). A time without a zone is read as UTC; so is a bare date.
 */
export function dateRange(value: string): [number, number] | undefined {
  const m = DATE_TIME.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = mo === undefined ? 1 : Number(mo);
  const day = d === undefined ? 1 : Number(d);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (mo === undefined) return [utc(year, 0, 1), utc(year + 1, 0, 1) - 1];
  if (d === undefined) return [utc(year, month - 1, 1), utc(year, month, 1) - 1];
  const dayStart = utc(year, month - 1, day);
  if (h === undefined) return [dayStart, dayStart + DAY_MS - 1];
  const hour = Number(h),
    minute = Number(mi),
    second = s === undefined ? 0 : Number(s);
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  let low = dayStart + ((hour * 60 + minute) * 60 + second) * 1000;
  let span: number;
  if (s === undefined) span = 60_000 - 1;
  else if (frac === undefined) span = 999;
  else {
    const digits = Math.min(frac.length, 3);
    low += Number(frac.slice(0, 3).padEnd(3, '0'));
    span = 10 ** (3 - digits) - 1;
  }
  if (zone && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    low -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return [low, low + span];
}

/** Date.UTC maps years 0–99 to 1900–1999; 400 Gregorian years later has the same calendar. */
function utc(year: number, monthIndex: number, day: number): number {
  return year >= 100 ? Date.UTC(year, monthIndex, day) : Date.UTC(year + 400, monthIndex, day) - 146_097 * DAY_MS;
}

function daysInMonth(year: number, month: number): number {
  return new Date(utc(year, month, 1) - DAY_MS).getUTCDate();
}

/** Postgres has no year 0 and ISO strings change shape past 9999: beyond either, the end is open. */
const MIN_TIME = utc(1, 0, 1);
const MAX_TIME = utc(10000, 0, 1) - 1;

function iso(ms: number): string {
  if (ms < MIN_TIME) return '-infinity';
  return ms > MAX_TIME ? 'infinity' : new Date(ms).toISOString();
}
