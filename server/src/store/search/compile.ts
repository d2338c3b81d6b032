/**
 * Search request → SQL (FHIR R4 search, https://hl7.org/fhir/R4/search.html).
 *
 * Shape of the page query (every filter is an `EXISTS` over the owner's index rows, so a resource with
 * several matching rows is returned once and the (tenant, resource_type, code, ...) indexes apply):
 * ```sql
 * SELECT r.resource_type, r.id, r.content FROM resources r
 * WHERE r.tenant = $1 AND r.resource_type = $2 AND NOT r.deleted [AND restrict(r)]
 *   AND EXISTS (SELECT 1 FROM sp_token x3 WHERE x3.tenant = $1 AND x3.resource_type = $2 AND x3.id = r.id AND x3.code = $4 AND (...))
 * ORDER BY (SELECT max(o5.high) FROM sp_date o5 WHERE ...) DESC NULLS LAST, r.id
 * LIMIT $n OFFSET $m
 * ```
 */
import type { Filter, SearchRequest, SortRule } from '@medplum/core';
import { SqlParams } from '../sql.ts';
import { keyCondition } from './chain.ts';
import { invalid, SearchError } from './errors.ts';
import { checkIncludes } from './include.ts';
import { allResourceTypes, chainDepth, defaultLookup, isResourceType, parseFilterKey } from './params.ts';
import { rawFilter } from './request.ts';
import { sortKey } from './sort.ts';
import { ownerOf, restrictSql } from './types.ts';
import type { Build, CompiledSearch, Owner, SearchContext } from './types.ts';

const TOTALS = new Set(['none', 'estimate', 'accurate']);
const DEFAULT_ESTIMATE_CAP = 1000;

/**
 * Runs `fn`; under lenient handling an unknown or unsupported parameter is recorded instead of thrown,
 * and any parameters `fn` bound before failing are unbound (Postgres refuses untyped unused placeholders).
 */
function attempt(b: Build, ignored: string[], fn: () => void): boolean {
  const mark = b.params.values.length;
  try {
    fn();
    return true;
  } catch (err) {
    if (b.ctx.lenient && err instanceof SearchError && err.refusal !== 'invalid') {
      b.params.values.length = mark;
      ignored.push(err.param);
      return false;
    }
    throw err;
  }
}

/** The searched types: the request's type, or `_type` (or every type) for a system-level search. */
function searchTypes(req: SearchRequest): { types: string[]; all: boolean } {
  const type: string = req.resourceType;
  if (isResourceType(type)) return { types: [type], all: false };
  if (type && type !== 'MultipleTypes') throw invalid('_type', `Unknown resource type '${type}'`);
  const types = [...new Set(req.types ?? [])];
  if (types.length === 0) return { types: allResourceTypes(), all: true };
  for (const type of types) if (!isResourceType(type)) throw invalid('_type', `Invalid _type: unknown resource type '${type}'`);
  return { types, all: false };
}

function pageSize(req: SearchRequest, ctx: SearchContext): { count: number; offset: number } {
  const count = req.count ?? ctx.defaultCount;
  if (!Number.isInteger(count) || count < 0) throw invalid('_count', `Invalid _count: expected a whole number from 0 to ${ctx.maxCount}`);
  if (count > ctx.maxCount) throw invalid('_count', `Invalid _count=${count}: the maximum is ${ctx.maxCount}`);
  const offset = req.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0) throw invalid('_offset', 'Invalid _offset: expected a whole number from 0');
  if (req.total !== undefined && !TOTALS.has(req.total)) {
    throw invalid('_total', `Invalid _total=${String(req.total)}: expected none, estimate or accurate`);
  }
  return { count, offset };
}

/**
 * Compiles a search request into a page query and a count query.
 *
 * `req` should come from `parseSearch` (./request.ts), which keeps modifiers and composites as written;
 * a request from medplum's `parseSearchRequest` also compiles, minus what that parser already dropped.
 * Throws a 400 {@link SearchError} (an OperationOutcomeError) naming the parameter on bad input; under
 * `ctx.lenient`, unknown or unsupported parameters, `_sort` keys and include targets are skipped and listed
 * in `ignored` instead, and `applied` omits them.
 */
export function compileSearch(req: SearchRequest, ctx: SearchContext): CompiledSearch {
  const params = new SqlParams();
  const b: Build = {
    ctx,
    params,
    tenant: params.add(ctx.tenant),
    lookup: ctx.searchParameters ?? defaultLookup,
    now: ctx.now ?? new Date(),
    seq: 0,
  };
  const { count, offset } = pageSize(req, ctx);
  const { types, all } = searchTypes(req);
  const owner: Owner = types.length === 1 ? ownerOf(b, 'r', types[0]) : { alias: 'r', types, typeSql: 'r.resource_type' };

  const where = [`r.tenant = ${b.tenant}`];
  if (types.length === 1) where.push(`r.resource_type = ${owner.typeSql}`);
  else if (!all) where.push(`r.resource_type = ANY(${params.add(types)}::text[])`);
  where.push('NOT r.deleted');
  const restricted = restrictSql(b, owner);
  if (restricted) where.push(`(${restricted})`);

  const ignored: string[] = [];
  const filters: Filter[] = [];
  for (const filter of req.filters ?? []) {
    const { key, value } = rawFilter(filter);
    const ok = attempt(b, ignored, () => {
      const parsed = parseFilterKey(key);
      const depth = chainDepth(parsed);
      if (depth > ctx.maxChainDepth) {
        throw invalid(key, `Invalid ${key}: ${depth} chained links, at most ${ctx.maxChainDepth} allowed`);
      }
      where.push(keyCondition(b, owner, parsed, value, key));
    });
    if (ok) filters.push(filter);
  }
  const whereSql = where.join(' AND ');
  const whereParams = [...params.values];

  const order: string[] = [];
  const sortRules: SortRule[] = [];
  for (const rule of req.sortRules ?? []) {
    if (attempt(b, ignored, () => order.push(sortKey(b, owner, rule)))) sortRules.push(rule);
  }
  order.push(types.length === 1 ? 'r.id' : 'r.resource_type, r.id'); // stable pages: the primary key breaks ties

  const includes = checkIncludes(b.lookup, req, ctx.lenient);
  ignored.push(...includes.ignored);

  const sql =
    `SELECT r.resource_type, r.id, r.content FROM resources r WHERE ${whereSql}` +
    ` ORDER BY ${order.join(', ')} LIMIT ${params.add(count + 1)} OFFSET ${params.add(offset)}`;

  let countSql = `SELECT count(*)::integer AS total FROM resources r WHERE ${whereSql}`;
  const countParams = whereParams;
  let countCap: number | undefined;
  if (req.total === 'estimate') {
    // A bounded count: cheap on any engine (PGlite has no planner statistics worth quoting), exact when small.
    countCap = ctx.estimateCap ?? DEFAULT_ESTIMATE_CAP;
    countParams.push(countCap);
    countSql = `SELECT count(*)::integer AS total FROM (SELECT 1 FROM resources r WHERE ${whereSql} LIMIT $${countParams.length}) q`;
  }

  const applied: SearchRequest = { ...req };
  if (req.filters) applied.filters = filters;
  if (req.sortRules) applied.sortRules = sortRules;
  if (req.include) applied.include = includes.include;
  if (req.revInclude) applied.revInclude = includes.revInclude;
  return { sql, params: params.values, countSql, countParams, countCap, count, offset, applied, ignored };
}
