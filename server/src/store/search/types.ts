/**
 * Shared shapes of the search compiler: the caller's context, the compiled output, and the small build
 * state threaded through the pure SQL builders (bound parameters and alias numbering).
 */
import type { SearchRequest } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import type { SqlParams } from '../sql.ts';

/** Everything the compiler needs besides the request. */
export interface SearchContext {
  /** Tenant of the caller; every emitted `resources` and `sp_*` alias is pinned to it. */
  tenant: string;
  /** Largest accepted `_count`; a larger one is a 400, never silently capped. */
  maxCount: number;
  /** `_count` when the request has none. */
  defaultCount: number;
  /** Most reference hops in one parameter: each `.` link of a chain and each `_has` counts as one. */
  maxChainDepth: number;
  /** `Prefer: handling=lenient`: unknown or unsupported parameters are skipped and listed in `ignored`. */
  lenient: boolean;
  /**
   * Optional extra row filter (access policy), applied to EVERY `resources` alias the compiler emits: the
   * main query, chain targets, `_has` sources and include/revinclude results. Returns SQL over `alias` for
   * rows of `resourceType` (always one concrete type), or undefined for no restriction. Values must be
   * bound through `params`.
   */
  restrict?: (alias: string, resourceType: string, params: SqlParams) => string | undefined;
  /**
   * Search parameters that are indexed for a type. Defaults to the loaded R4 + Haven definitions (see
   * `loadDefinitions()`); pass the indexer's `indexedSearchParameters` so that a parameter the indexer
   * skips is reported as unknown instead of silently matching nothing. `_id`, `_lastUpdated`, `_tag`,
   * `_security`, `_profile` and `_source` are always known.
   */
  searchParameters?: ParamLookup;
  /** Clock for `ap` on dates (10% of the distance to now); defaults to the current time. */
  now?: Date;
  /** Rows counted at most for `_total=estimate` (default 1000); see {@link CompiledSearch.countCap}. */
  estimateCap?: number;
}

/** One compiled search. Rows of `sql` have the columns `resource_type`, `id`, `content`. */
export interface CompiledSearch {
  /** The page: `ORDER BY` sort keys then id, `LIMIT count + 1 OFFSET offset` (an extra row means a next page). */
  sql: string;
  params: unknown[];
  /** `SELECT count(*)::integer AS total` over the same filter (page-independent). */
  countSql: string;
  countParams: unknown[];
  /**
   * Set for `_total=estimate`: `countSql` stops counting at this many rows, so a total equal to the cap
   * means "at least"; the caller should then omit `Bundle.total`. Unset: the count is exact.
   */
  countCap?: number;
  /** Effective page size and offset. */
  count: number;
  offset: number;
  /** The request minus ignored parameters (for the self link). */
  applied: SearchRequest;
  /** Parameter names skipped under lenient handling, as written. */
  ignored: string[];
}

/** A resource row found by a search, an include or a revinclude. */
export interface ResourceKey {
  resourceType: string;
  id: string;
}

/** The search parameters of a type. */
export type ParamLookup = (resourceType: string) => readonly SearchParameter[] | undefined;

/** A `resources` alias a condition ranges over, with the types its rows may have. */
export interface Owner {
  /** SQL alias of a `resources` row. */
  alias: string;
  /** Concrete resource types the row may have (one for a type-level search or a chain branch). */
  types: readonly string[];
  /** SQL for the row's type: a bound constant when there is one type, else `${alias}.resource_type`. */
  typeSql: string;
}

/** Build state threaded through the pure builders. */
export interface Build {
  readonly ctx: SearchContext;
  readonly params: SqlParams;
  /** Placeholder of the tenant (bound once). */
  readonly tenant: string;
  readonly lookup: ParamLookup;
  readonly now: Date;
  /** Alias counter. */
  seq: number;
}

/** A fresh SQL alias (`x1`, `t2`, ...): aliases are unique per statement so nested subqueries never shadow. */
export function nextAlias(b: Build, prefix: string): string {
  b.seq += 1;
  return `${prefix}${b.seq}`;
}

/** An owner of one concrete type. */
export function ownerOf(b: Build, alias: string, resourceType: string): Owner {
  return { alias, types: [resourceType], typeSql: b.params.add(resourceType) };
}

/**
 * `ctx.restrict` for an alias whose rows may have several types: one branch per restricted type, and
 * the unrestricted types in one `= ANY` so that a policy that only restricts a few types stays small.
 * Returns undefined when nothing is restricted.
 */
export function restrictSql(b: Build, owner: Owner): string | undefined {
  const restrict = b.ctx.restrict;
  if (!restrict) return undefined;
  if (owner.types.length === 1) return restrict(owner.alias, owner.types[0], b.params);
  const free: string[] = [];
  const branches: string[] = [];
  for (const type of owner.types) {
    const cond = restrict(owner.alias, type, b.params);
    if (cond === undefined) free.push(type);
    else branches.push(`(${owner.alias}.resource_type = ${b.params.add(type)} AND (${cond}))`);
  }
  if (branches.length === 0) return undefined;
  if (free.length > 0) branches.unshift(`${owner.alias}.resource_type = ANY(${b.params.add(free)}::text[])`);
  return branches.join(' OR ');
}
