/**
 * `_include` and `_revinclude` (search.html#include, search.html#revinclude), with `:iterate`.
 *
 * One round is one SQL statement: the (type, id) pairs reached from the round's source rows through the
 * named reference parameters (relative references via `target_*`, canonical ones via the target's `url`),
 * then the live `resources` rows of those pairs in the tenant, each passing `ctx.restrict` for its type.
 * {@link fetchIncludes} drives the rounds: the first uses every target, later rounds only `:iterate`
 * targets on the rows found by the previous round, until nothing new is found or a cap is reached.
 */
import type { IncludeTarget, SearchRequest } from '@medplum/core';
import type { Queryable } from '../db.ts';
import { INDEX_TABLES } from '../index-rows.ts';
import { SqlParams } from '../sql.ts';
import { invalid, SearchError, unknown } from './errors.ts';
import { allResourceTypes, defaultLookup, isResourceType, ParamKind, resolveParam } from './params.ts';
import type { ResolvedParam } from './params.ts';
import { restrictSql } from './types.ts';
import type { Build, ParamLookup, ResourceKey, SearchContext } from './types.ts';

/** Caps on include work: `:iterate` rounds after the first, and rows over all rounds. */
export interface IncludeLimits {
  maxRounds: number;
  maxRows: number;
}
export const DEFAULT_INCLUDE_LIMITS: IncludeLimits = { maxRounds: 3, maxRows: 1000 };

const REF = INDEX_TABLES.reference;
const URI = INDEX_TABLES.uri;

function shown(kind: '_include' | '_revinclude', t: IncludeTarget): string {
  return `${kind}${t.modifier ? ':iterate' : ''}=${t.resourceType}:${t.searchParam}${t.targetType ? `:${t.targetType}` : ''}`;
}

/** The reference parameter an include target names; throws a 400 (`unknown` refusal) when it is not one. */
function includeParam(lookup: ParamLookup, kind: '_include' | '_revinclude', t: IncludeTarget): ResolvedParam {
  const text = shown(kind, t);
  if (!isResourceType(t.resourceType)) throw unknown(kind, `Invalid ${text}: unknown resource type ${t.resourceType}`);
  let param: ResolvedParam;
  try {
    param = resolveParam(lookup, [t.resourceType], t.searchParam, kind);
  } catch {
    throw unknown(kind, `Invalid ${text}: ${t.resourceType} has no search parameter '${t.searchParam}'`);
  }
  if (param.kind !== ParamKind.Reference) throw invalid(kind, `Invalid ${text}: ${t.searchParam} is not a reference parameter`);
  if (t.targetType !== undefined && (!isResourceType(t.targetType) || (param.targets && !param.targets.includes(t.targetType)))) {
    throw invalid(kind, `Invalid ${text}: ${t.searchParam} cannot reference ${t.targetType}`);
  }
  return param;
}

/**
 * Checks every include target of `req`. Returns the usable ones; under lenient handling unknown targets
 * are dropped and named in `ignored`, otherwise they throw a 400.
 */
export function checkIncludes(
  lookup: ParamLookup,
  req: SearchRequest,
  lenient: boolean,
): { include?: IncludeTarget[]; revInclude?: IncludeTarget[]; ignored: string[] } {
  const ignored: string[] = [];
  const keep = (kind: '_include' | '_revinclude', targets: IncludeTarget[] | undefined) =>
    targets?.filter((t) => {
      try {
        includeParam(lookup, kind, t);
        return true;
      } catch (err) {
        if (lenient && err instanceof SearchError && err.refusal !== 'invalid') {
          ignored.push(t.modifier ? `${kind}:iterate` : kind); // the name as written, like every other entry
          return false;
        }
        throw err;
      }
    });
  return { include: keep('_include', req.include), revInclude: keep('_revinclude', req.revInclude), ignored };
}

/** Options of one include round. */
export interface IncludeRound {
  /** Later rounds use only `:iterate` targets. */
  iterate: boolean;
  /** Rows already in the result (matches and earlier rounds): never fetched again. */
  exclude: readonly ResourceKey[];
  /** LIMIT of the statement. */
  limit: number;
}

function keyArrays(p: SqlParams, keys: readonly ResourceKey[]): string {
  return `SELECT * FROM unnest(${p.add(keys.map((k) => k.resourceType))}::text[], ${p.add(keys.map((k) => k.id))}::text[])`;
}

/**
 * SQL for one include round from `sources`, or undefined when no target applies. Rows: `resource_type`,
 * `id`, `content`, ordered by type and id.
 */
export function compileIncludes(
  req: SearchRequest,
  sources: readonly ResourceKey[],
  ctx: SearchContext,
  round: IncludeRound,
): { sql: string; params: unknown[] } | undefined {
  const params = new SqlParams();
  const lookup = ctx.searchParameters ?? defaultLookup;
  const b: Build = { ctx, params, tenant: params.add(ctx.tenant), lookup, now: ctx.now ?? new Date(), seq: 0 };
  const tenant = b.tenant;
  const parts: string[] = [];
  const types = new Set<string>();
  let anyType = false;
  const applies = (t: IncludeTarget) => !round.iterate || t.modifier === 'iterate';

  for (const t of (req.include ?? []).filter(applies)) {
    const ids = sources.filter((s) => s.resourceType === t.resourceType).map((s) => s.id);
    if (ids.length === 0) continue;
    const param = includeParam(lookup, '_include', t);
    const targets = t.targetType ? [t.targetType] : param.targets;
    if (targets) for (const x of targets) types.add(x);
    else anyType = true;
    const match =
      `x.tenant = ${tenant} AND x.resource_type = ${params.add(t.resourceType)}` +
      ` AND x.code = ${params.add(param.code)} AND x.id = ANY(${params.add(ids)}::text[])`;
    const typed = t.targetType ? `x.target_type = ${params.add(t.targetType)}` : 'x.target_type IS NOT NULL';
    parts.push(`SELECT x.target_type, x.target_id FROM ${REF} x WHERE ${match} AND ${typed}`);
    if (targets) {
      // Canonical references resolve through the target's own `url` (version ignored, as in the index).
      const target = `u.tenant = ${tenant} AND u.resource_type = ANY(${params.add(targets)}::text[]) AND u.code = 'url' AND u.value = x.url`;
      parts.push(`SELECT u.resource_type, u.id FROM ${REF} x JOIN ${URI} u ON ${target} WHERE ${match} AND x.url IS NOT NULL`);
    }
  }

  for (const t of (req.revInclude ?? []).filter(applies)) {
    const param = includeParam(lookup, '_revinclude', t);
    const wanted = sources.filter(
      (s) => (!param.targets || param.targets.includes(s.resourceType)) && (!t.targetType || t.targetType === s.resourceType),
    );
    if (wanted.length === 0) continue;
    types.add(t.resourceType);
    const from =
      `SELECT x.resource_type, x.id FROM ${REF} x` +
      ` WHERE x.tenant = ${tenant} AND x.resource_type = ${params.add(t.resourceType)} AND x.code = ${params.add(param.code)}`;
    parts.push(`${from} AND (x.target_type, x.target_id) IN (${keyArrays(params, wanted)})`);
    // Canonical references to the sources: through the sources' own `url`.
    const urls = `SELECT u.value FROM ${URI} u WHERE u.tenant = ${tenant} AND u.code = 'url' AND (u.resource_type, u.id) IN (${keyArrays(params, wanted)})`;
    parts.push(`${from} AND x.url IN (${urls})`);
  }
  if (parts.length === 0) return undefined;

  const owner = anyType
    ? { alias: 't', types: allResourceTypes(), typeSql: 't.resource_type' }
    : { alias: 't', types: [...types], typeSql: 't.resource_type' };
  const where = [`t.tenant = ${tenant}`, 'NOT t.deleted', `(t.resource_type, t.id) IN (${parts.join(' UNION ')})`];
  if (!anyType) where.push(`t.resource_type = ANY(${params.add(owner.types)}::text[])`);
  if (round.exclude.length > 0) where.push(`(t.resource_type, t.id) NOT IN (${keyArrays(params, round.exclude)})`);
  const restricted = restrictSql(b, owner);
  if (restricted) where.push(`(${restricted})`);
  const sql =
    `SELECT t.resource_type, t.id, t.content FROM resources t WHERE ${where.join(' AND ')}` +
    ` ORDER BY t.resource_type, t.id LIMIT ${params.add(round.limit)}`;
  return { sql, params: params.values };
}

/** A row fetched by a search or include round. */
export interface ResourceRow {
  resource_type: string;
  id: string;
  content: unknown;
}

/**
 * Runs the include rounds for the matched rows. Stops when a round finds nothing new; reports
 * `truncated` when it stopped at `maxRows` or with `:iterate` work left after `maxRounds`
 * (the caller should add an OperationOutcome warning to the Bundle).
 */
export async function fetchIncludes(
  db: Queryable,
  req: SearchRequest,
  matches: readonly ResourceKey[],
  ctx: SearchContext,
  limits: IncludeLimits = DEFAULT_INCLUDE_LIMITS,
): Promise<{ rows: ResourceRow[]; truncated: boolean }> {
  // Same targets as the compiled search: under lenient handling unknown ones are skipped, not thrown here.
  const usable = checkIncludes(ctx.searchParameters ?? defaultLookup, req, ctx.lenient);
  req = { ...req, include: usable.include, revInclude: usable.revInclude };
  const rows: ResourceRow[] = [];
  const seen: ResourceKey[] = [...matches];
  let sources: readonly ResourceKey[] = matches;
  for (let round = 0; sources.length > 0; round++) {
    const remaining = limits.maxRows - rows.length;
    const compiled = compileIncludes(req, sources, ctx, { iterate: round > 0, exclude: seen, limit: remaining + 1 });
    if (!compiled) break;
    if (round > limits.maxRounds) return { rows, truncated: true };
    const found = (await db.query<ResourceRow>(compiled.sql, compiled.params)).rows;
    const kept = found.slice(0, remaining);
    rows.push(...kept);
    const keys = kept.map((r) => ({ resourceType: r.resource_type, id: r.id }));
    seen.push(...keys);
    if (found.length > remaining) return { rows, truncated: true };
    sources = keys;
  }
  return { rows, truncated: false };
}
