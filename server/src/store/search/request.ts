/**
 * From a query string to a {@link SearchRequest} without losing what the compiler must check.
 *
 * `parseSearchRequest` from @medplum/core drops unknown modifiers (`name:weird` becomes `name`), drops
 * the reference `:[Type]` modifier (`subject:Patient=1` becomes `subject=1`) and throws a plain Error on
 * composite parameters. {@link parseSearch} therefore lets medplum parse only the result parameters
 * (`_count`, `_sort`, `_include`, ...) and keeps every filter exactly as written: `code` is the parameter
 * name with its modifiers and chain, `operator` is `eq`, `value` is the raw value with any prefix.
 * {@link rawFilter} maps both this form and medplum's parsed form back to that raw form.
 */
import { Operator, parseSearchRequest } from '@medplum/core';
import type { Filter, SearchRequest } from '@medplum/core';

/**
 * Parameters that control the result rather than filter it (search.html#return);
 * the compiler or the HTTP layer handles them and never treats them as filters. `_` is a cache buster
 * some clients add; `_fields` is medplum's alias of `_elements`.
 */
export const RESULT_PARAMS: ReadonlySet<string> = new Set([
  '_count',
  '_offset',
  '_sort',
  '_total',
  '_summary',
  '_elements',
  '_fields',
  '_include',
  '_revinclude',
  '_format',
  '_pretty',
  '_cursor',
  '_type',
  '_',
]);

/** Query input in any of the shapes the HTTP layer has at hand. */
export type SearchQuery = URLSearchParams | string | Record<string, string | string[] | undefined>;

function toPairs(query: SearchQuery): [string, string][] {
  if (typeof query === 'string') return [...new URLSearchParams(query.startsWith('?') ? query.slice(1) : query)];
  if (query instanceof URLSearchParams) return [...query];
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(query)) {
    for (const v of Array.isArray(value) ? value : [value ?? '']) out.push([key, v]);
  }
  return out;
}

/**
 * Parses a search query for `resourceType` (`'MultipleTypes'` for a system-level search with `_type`).
 * Repeated parameters are ANDed; exact duplicates are dropped.
 */
export function parseSearch(resourceType: string, query: SearchQuery): SearchRequest {
  const result: Record<string, string[]> = {};
  const filters: Filter[] = [];
  const seen = new Set<string>();
  for (const [key, value] of toPairs(query)) {
    if (RESULT_PARAMS.has(key.split(':')[0]) && !key.includes('.')) {
      (result[key] ??= []).push(value);
    } else if (!seen.has(`${key}\0${value}`)) {
      seen.add(`${key}\0${value}`);
      filters.push({ code: key, operator: Operator.EQUALS, value });
    }
  }
  const req = parseSearchRequest(resourceType || 'MultipleTypes', result);
  if (filters.length > 0) req.filters = filters;
  return req;
}

/** Operators that medplum's parser produces from value prefixes (`sw` is medplum's, not FHIR's). */
const PREFIX_OPERATORS = new Set<string>(['ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap', 'sw']);

/**
 * A filter as written in the query: `{ key: 'birthdate', value: 'ge2000' }`, `{ key: 'name:exact', ... }`.
 * Accepts raw filters from {@link parseSearch} and filters already split by medplum's parser.
 */
export function rawFilter(filter: Filter): { key: string; value: string } {
  if (filter.operator === Operator.EQUALS) return { key: filter.code, value: filter.value };
  if (PREFIX_OPERATORS.has(filter.operator)) return { key: filter.code, value: `${filter.operator}${filter.value}` };
  return { key: `${filter.code}:${filter.operator}`, value: filter.value };
}
