/**
 * Page links (self, next, previous) for searches, history and $everything. Offsets travel inside signed
 * cursors (./cursor.ts); every other query parameter is kept as the client sent it.
 */
import { OperationOutcomeError, badRequest } from '@medplum/core';
import type { BundleLink } from '@medplum/fhirtypes';
import { decodeCursor, encodeCursor } from './cursor.ts';

/** Query parameters as parsed from a URL: repeated names become arrays. */
export type QueryParams = Record<string, string | string[] | undefined>;

/** Everything needed to page one request. */
export interface PageRequest {
  /** Base URL of the tenant's FHIR API, e.g. http://localhost:8080/fhir */
  baseUrl: string;
  /** Path below the base, e.g. 'Observation' or 'Patient/1/$everything' or '' for system level. */
  path: string;
  query: QueryParams;
  tenant: string;
  secret: string;
}

/** Query parameters as ordered [name, value] pairs without paging state. */
function stablePairs(query: QueryParams, drop: ReadonlySet<string>): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [k, v] of Object.entries(query)) {
    if (drop.has(k) || v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) pairs.push([k, one]);
  }
  return pairs.sort((a, b) => (a[0] === b[0] ? a[1].localeCompare(b[1]) : a[0].localeCompare(b[0])));
}

const PAGING_PARAMS = new Set(['_cursor', '_offset']);

/** The cursor scope of a request: its path and parameters other than paging. */
function scopeOf(req: PageRequest): string {
  return `${req.path}?${new URLSearchParams(stablePairs(req.query, PAGING_PARAMS)).toString()}`;
}

/** The value of a query parameter that may be repeated: the last one wins. */
export function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[value.length - 1] : value;
}

/** The offset a request asks for: from `_cursor` (signed) or a plain `_offset`; 0 when absent. */
export function requestedOffset(req: PageRequest): number {
  const cursor = single(req.query._cursor);
  if (cursor !== undefined) return decodeCursor(req.secret, { tenant: req.tenant, scope: scopeOf(req) }, cursor);
  const raw = single(req.query._offset);
  if (raw === undefined) return 0;
  if (!/^\d{1,9}$/.test(raw))
    throw new OperationOutcomeError(badRequest(`Invalid _offset "${raw.slice(0, 20)}": expected a non-negative integer`, '_offset'));
  return Number(raw);
}

/** Parses `_count`; 400 when it is not a number in [0, max]. */
export function requestedCount(query: QueryParams, defaultCount: number, maxCount: number): number {
  const raw = single(query._count);
  if (raw === undefined) return defaultCount;
  if (!/^\d{1,9}$/.test(raw))
    throw new OperationOutcomeError(badRequest(`Invalid _count "${raw.slice(0, 20)}": expected a non-negative integer`, '_count'));
  const n = Number(raw);
  if (n > maxCount) throw new OperationOutcomeError(badRequest(`_count=${n} exceeds the maximum of ${maxCount}`, '_count'));
  return n;
}

/** Builds self/next/previous links for a page at `offset` of size `count`. */
export function pageLinks(req: PageRequest, offset: number, count: number, hasNext: boolean, selfQuery?: QueryParams): BundleLink[] {
  const binding = { tenant: req.tenant, scope: scopeOf(req) };
  const base = `${req.baseUrl}${req.path ? `/${req.path}` : ''}`;
  // next/previous keep the request's own parameters (the cursor is signed over them); self shows what was applied.
  const requestPairs = stablePairs(req.query, PAGING_PARAMS);
  const url = (off: number, pairs = requestPairs): string => {
    const params = new URLSearchParams(pairs);
    if (off > 0) params.set('_cursor', encodeCursor(req.secret, binding, off));
    const qs = params.toString();
    return qs ? `${base}?${qs}` : base;
  };
  const selfPairs = selfQuery ? stablePairs(selfQuery, PAGING_PARAMS) : requestPairs;
  const links: BundleLink[] = [{ relation: 'self', url: url(offset, selfPairs) }];
  if (hasNext && count > 0) links.push({ relation: 'next', url: url(offset + count) });
  if (offset > 0) links.push({ relation: 'previous', url: url(Math.max(0, offset - count)) });
  return links;
}
