/**
 * Runs a search: compiles it (./search), executes the page and the total, adds _include/_revinclude
 * entries, and builds the searchset Bundle with paging links (R4 §3.1.1 search, §3.1.1.6 paging).
 *
 * Access policy: the searched types need a search grant (403 otherwise), and the caller's row restriction
 * goes into the compiler's `restrict` hook, so the page, `_total`, paging, chains, `_has` and includes
 * all run over the same permitted rows (./access/sql.ts `searchRestrict`).
 */
import type { SearchRequest } from '@medplum/core';
import type { Bundle, BundleEntry, Resource } from '@medplum/fhirtypes';
import { requireGrant } from './access/guard.ts';
import { searchRestrict } from './access/sql.ts';
import { pageLinks, requestedOffset, type PageRequest, type QueryParams } from './paging.ts';
import { indexedSearchParameters } from './indexer.ts';
import type { HavenRepository } from './repository.ts';
import { fromStored } from './stored.ts';
import { compileSearch, fetchIncludes, type SearchContext } from './search/index.ts';

/** A SearchRequest that remembers the client's parameters as sent (for paging links). */
export type SearchRequestWithQuery = SearchRequest & { rawQuery?: QueryParams };

/** Most reference hops in one chained or _has parameter. */
export const MAX_CHAIN_DEPTH = 3;

/** The search context of a repository. */
export function searchContext(repo: HavenRepository): SearchContext {
  return {
    tenant: repo.ctx.tenant,
    maxCount: repo.ctx.maxCount,
    defaultCount: repo.ctx.defaultCount,
    maxChainDepth: MAX_CHAIN_DEPTH,
    lenient: repo.ctx.lenient,
    // The indexer's own list: a parameter it does not index is "unknown", never a silent empty result.
    searchParameters: indexedSearchParameters,
    restrict: searchRestrict(repo.ctx.access, repo.ctx.tenant),
  };
}

/** Query parameters of a SearchRequest as the client would write them (for links). */
function requestQuery(req: SearchRequestWithQuery): QueryParams {
  return req.rawQuery ?? {};
}

/** Executes `req` for the repository's tenant. */
export async function executeSearch(repo: HavenRepository, req: SearchRequestWithQuery): Promise<Bundle> {
  const searched: string[] = req.resourceType === ('MultipleTypes' as string) ? (req.types ?? []) : [req.resourceType];
  for (const type of searched) requireGrant(repo.ctx.access, 's', type, 'search');
  const ctx = searchContext(repo);
  const path = req.resourceType === ('MultipleTypes' as string) ? '' : req.resourceType;
  const rawQuery = requestQuery(req);
  const paging: PageRequest = { baseUrl: repo.ctx.baseUrl, path, query: rawQuery, tenant: repo.ctx.tenant, secret: repo.ctx.cursorSecret };
  const cursorOffset = rawQuery._cursor !== undefined ? requestedOffset(paging) : undefined;
  const compiled = compileSearch(cursorOffset !== undefined ? { ...req, offset: cursorOffset } : req, ctx);
  const summaryCount = (req.summary as string | undefined) === 'count';
  const wantTotal = summaryCount || req.total === 'accurate' || req.total === 'estimate' || compiled.count === 0;

  const entries: BundleEntry[] = [];
  let hasNext = false;
  let matches: Resource[] = [];
  let includesTruncated = false;
  if (!summaryCount && compiled.count > 0) {
    const { rows } = await repo.q.query<{ resource_type: string; id: string; content: Resource }>(compiled.sql, compiled.params);
    hasNext = rows.length > compiled.count;
    matches = rows.slice(0, compiled.count).map((r) => fromStored(r.content));
    for (const resource of matches) {
      entries.push({ fullUrl: `${repo.ctx.baseUrl}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'match' } });
    }
    if (matches.length > 0 && (req.include?.length || req.revInclude?.length)) {
      const included = await fetchIncludes(
        repo.q,
        req,
        matches.map((m) => ({ resourceType: m.resourceType, id: m.id as string })),
        ctx,
      );
      for (const row of included.rows) {
        const resource = fromStored(row.content);
        entries.push({ fullUrl: `${repo.ctx.baseUrl}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'include' } });
      }
      includesTruncated = included.truncated;
    }
  }

  let total: number | undefined;
  if (wantTotal) {
    const { rows } = await repo.q.query<{ total: number }>(compiled.countSql, compiled.countParams);
    total = Number(rows[0]?.total ?? 0);
    if (compiled.countCap !== undefined && total >= compiled.countCap) total = undefined; // estimate: "at least", so omit
  }

  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(total !== undefined ? { total } : {}),
    link: pageLinks(paging, compiled.offset, compiled.count, hasNext, appliedQuery(rawQuery, compiled.ignored)),
    entry: entries,
  };
  const warnings = compiled.ignored.map((name) => `Search parameter "${name}" is not supported and was ignored (Prefer: handling=lenient)`);
  if (includesTruncated)
    warnings.push('_include/_revinclude results were truncated at the server limit; narrow the search to see them all');
  if (warnings.length > 0) {
    entries.push({
      resource: {
        resourceType: 'OperationOutcome',
        issue: warnings.map((text) => ({
          severity: 'warning' as const,
          code: 'too-costly' as const,
          details: { text },
          diagnostics: text,
        })),
      },
      search: { mode: 'outcome' },
    });
  }
  return bundle;
}

/** The client's query minus parameters ignored under lenient handling: what the self link shows. */
function appliedQuery(raw: QueryParams, ignored: readonly string[]): QueryParams {
  if (ignored.length === 0) return raw;
  const drop = new Set(ignored);
  return Object.fromEntries(Object.entries(raw).filter(([k]) => !drop.has(k)));
}
