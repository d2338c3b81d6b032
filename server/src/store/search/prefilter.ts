/**
 * A cheap, conservative in-memory test of a search against one resource: {@link mayMatch} answers false only
 * when the SQL search (./compile.ts) could not find the resource. Bots and Subscriptions look at every event of
 * their types; most fail a plain token criterion (`Observation?code=…` sees every vital sign), and this rules
 * them out without a query. What passes is confirmed by the real search.
 *
 * Only plain token filters (`code=system|value,…`, no modifier) are decided here, with the same rows the indexer
 * writes (./../indexer.ts, only the parameters named) and the same value grammar as the SQL compiler
 * (search.html#token); every other filter answers "maybe". Medplum's `matchesSearchRequest` did this job before:
 * it evaluates each parameter's whole shared expression (`code` spans ~20 resource types) on every call, which was
 * a sixth of the server's time during an ingest with the bots on.
 */
import type { SearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { TokenRow } from '../index-rows.ts';
import { extractParameterRows, indexedSearchParameters } from '../indexer.ts';
import { splitEscaped, unescapeValue } from './params.ts';

/** Token parameter codes of each type, as the indexer plans them. */
const tokenCodes = new Map<string, ReadonlySet<string>>();

function tokenParameters(resourceType: string): ReadonlySet<string> {
  let codes = tokenCodes.get(resourceType);
  if (!codes) {
    codes = new Set(
      indexedSearchParameters(resourceType)
        .filter((sp) => sp.type === 'token')
        .map((sp) => sp.code),
    );
    // Not cached while definitions are not loaded (an empty plan), like the indexer's own plans.
    if (codes.size > 0) tokenCodes.set(resourceType, codes);
  }
  return codes;
}

/**
 * True unless `resource` certainly fails `search`: a different type, or a plain token filter none of whose
 * OR-values matches the resource's rows for that parameter.
 */
export function mayMatch(resource: Resource, search: SearchRequest): boolean {
  if (search.resourceType !== resource.resourceType) return false;
  const tokens = tokenParameters(resource.resourceType);
  const decided = (search.filters ?? []).filter((f) => f.operator === 'eq' && tokens.has(f.code));
  if (decided.length === 0) return true;
  const rows = extractParameterRows(resource, new Set(decided.map((f) => f.code))).token;
  return decided.every((f) => {
    const own = rows.filter((r) => r.code === f.code);
    return splitEscaped(f.value, ',').some((value) => tokenValueMatches(own, value));
  });
}

/** search.html#token: `code` (any system), `system|code`, `|code` (no system), `system|` (any code). */
function tokenValueMatches(rows: readonly TokenRow[], value: string): boolean {
  const parts = splitEscaped(value, '|', 2);
  if (parts.length === 1) {
    const code = unescapeValue(value);
    return rows.some((r) => r.value === code);
  }
  const system = unescapeValue(parts[0] as string);
  const code = unescapeValue(parts[1] as string);
  // '|' alone is a 400 in SQL; a criteria string never gets here with it (it was compiled when registered).
  if (system === '' && code === '') return true;
  return rows.some((r) => (system === '' ? r.system === null : r.system === system) && (code === '' || r.value === code));
}
