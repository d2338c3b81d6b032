/**
 * A whole filter key on an owner row: plain parameters, forward chains (search.html#chaining) and reverse
 * chains (`_has`, search.html#has). Every `resources` row a chain reaches is pinned to the tenant, must not be
 * deleted, and passes `ctx.restrict` for its concrete type, so a chain can never observe a row the
 * caller could not read directly.
 */
import { INDEX_TABLES } from '../index-rows.ts';
import { invalid, SearchError, unknown } from './errors.ts';
import { paramCondition } from './filters.ts';
import { allResourceTypes, ParamKind, resolveParam } from './params.ts';
import type { FilterKey } from './params.ts';
import { nextAlias, ownerOf, restrictSql } from './types.ts';
import type { Build, Owner } from './types.ts';

/**
 * SQL for `whole=value` on `owner`, where `key` is the parsed form of `whole`.
 * @param whole - the parameter as written, for diagnostics.
 */
export function keyCondition(b: Build, owner: Owner, key: FilterKey, value: string, whole: string): string {
  switch (key.kind) {
    case 'param': {
      const param = resolveParam(b.lookup, owner.types, key.code, whole);
      return paramCondition(b, owner, param, key.modifier, value, whole);
    }
    case 'chain':
      return chainCondition(b, owner, key, value, whole);
    case 'has':
      return hasCondition(b, owner, key, value, whole);
    default:
      return key satisfies never;
  }
}

/** Most target types one untyped chain link may fan out to before `:Type` is required. */
const MAX_CHAIN_TYPES = 10;

/** True when `key` can be evaluated on rows of `type` (used to narrow an untyped chain link). */
function appliesTo(b: Build, type: string, key: FilterKey, whole: string): boolean {
  if (key.kind === 'has') return true;
  try {
    const param = resolveParam(b.lookup, [type], key.code, whole);
    return key.kind === 'param' || param.kind === ParamKind.Reference;
  } catch (err) {
    if (err instanceof SearchError) return false;
    throw err;
  }
}

/** Target types one chain link may follow: `:Type` when given, else the declared targets that define the rest. */
function chainTargets(
  b: Build,
  ref: { code: string; targets?: readonly string[] },
  key: Extract<FilterKey, { kind: 'chain' }>,
  whole: string,
): string[] {
  if (key.targetType !== undefined) {
    if (ref.targets && !ref.targets.includes(key.targetType)) {
      throw invalid(whole, `Invalid chain ${whole}: ${ref.code} references ${ref.targets.join(', ')}, not ${key.targetType}`);
    }
    return [key.targetType];
  }
  const found = (ref.targets ?? allResourceTypes()).filter((type) => appliesTo(b, type, key.next, whole));
  if (found.length === 0) {
    throw unknown(whole, `Invalid chain ${whole}: no target of ${ref.code} can be searched by the rest of the chain`);
  }
  if (found.length > MAX_CHAIN_TYPES) {
    // Each candidate type is a branch of the SQL; a Reference(Any) link would make dozens.
    throw invalid(
      whole,
      `Ambiguous chain ${whole}: ${ref.code} may reference ${found.length} types that fit; name one, e.g. ${ref.code}:${found[0]}.…`,
    );
  }
  return found;
}

/**
 * Forward chain: the owner has a relative reference in `code` to a live row of a candidate type that
 * matches the rest of the key. With several candidate types (e.g. `subject.name` on Observation: Patient,
 * Group, Location), each type is its own branch with its own restriction.
 */
function chainCondition(b: Build, owner: Owner, key: Extract<FilterKey, { kind: 'chain' }>, value: string, whole: string): string {
  const ref = resolveParam(b.lookup, owner.types, key.code, whole);
  if (ref.kind !== ParamKind.Reference) {
    throw invalid(whole, `Invalid chain ${whole}: ${key.code} is a ${ref.kind} parameter; only reference parameters can be chained`);
  }
  const candidates = chainTargets(b, ref, key, whole);
  const c = nextAlias(b, 'c');
  const t = nextAlias(b, 't');
  const branches = candidates.map((type) => {
    const target = ownerOf(b, t, type);
    const conds = [`${t}.resource_type = ${target.typeSql}`];
    const restricted = restrictSql(b, target);
    if (restricted) conds.push(`(${restricted})`);
    conds.push(keyCondition(b, target, key.next, value, whole));
    return conds.join(' AND ');
  });
  return (
    `EXISTS (SELECT 1 FROM ${INDEX_TABLES.reference} ${c}` +
    ` JOIN resources ${t} ON ${t}.tenant = ${b.tenant} AND ${t}.resource_type = ${c}.target_type AND ${t}.id = ${c}.target_id` +
    ` WHERE ${c}.tenant = ${b.tenant} AND ${c}.resource_type = ${owner.typeSql} AND ${c}.id = ${owner.alias}.id` +
    ` AND ${c}.code = ${b.params.add(ref.code)} AND ${c}.target_type = ANY(${b.params.add(candidates)}::text[])` +
    ` AND NOT ${t}.deleted AND (${branches.length === 1 ? branches[0] : branches.map((x) => `(${x})`).join(' OR ')}))`
  );
}

/**
 * Reverse chain `_has:Type:ref:rest`: some live, permitted row of `Type` references the owner through
 * `ref` and matches `rest` (which may itself be a `_has` or a chain).
 */
function hasCondition(b: Build, owner: Owner, key: Extract<FilterKey, { kind: 'has' }>, value: string, whole: string): string {
  const ref = resolveParam(b.lookup, [key.sourceType], key.refCode, whole);
  if (ref.kind !== ParamKind.Reference) {
    throw invalid(whole, `Invalid ${whole}: ${key.sourceType}.${key.refCode} is a ${ref.kind} parameter, not a reference`);
  }
  const targets = ref.targets;
  if (targets && !owner.types.some((type) => targets.includes(type))) {
    throw invalid(
      whole,
      `Invalid ${whole}: ${key.sourceType}.${key.refCode} references ${targets.join(', ')}, not ${owner.types.join(', ')}`,
    );
  }
  const h = nextAlias(b, 'h');
  const s = nextAlias(b, 's');
  const source = ownerOf(b, s, key.sourceType);
  const conds = [
    `${h}.tenant = ${b.tenant}`,
    `${h}.code = ${b.params.add(ref.code)}`,
    `${h}.target_id = ${owner.alias}.id`,
    `${h}.target_type = ${owner.typeSql}`,
    `${h}.resource_type = ${source.typeSql}`,
    `NOT ${s}.deleted`,
  ];
  const restricted = restrictSql(b, source);
  if (restricted) conds.push(`(${restricted})`);
  conds.push(keyCondition(b, source, key.next, value, whole));
  return (
    `EXISTS (SELECT 1 FROM ${INDEX_TABLES.reference} ${h}` +
    ` JOIN resources ${s} ON ${s}.tenant = ${b.tenant} AND ${s}.resource_type = ${h}.resource_type AND ${s}.id = ${h}.id` +
    ` WHERE ${conds.join(' AND ')})`
  );
}
