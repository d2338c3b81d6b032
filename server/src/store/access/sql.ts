/**
 * A {@link RowRule} (the policy's decision, ../../model/access.ts) as SQL over a `resources` alias.
 *
 * SQL is built from the same index rows and the same search compiler as FHIR search, so "rows a scope
 * reaches" means exactly "rows a search would return": the patient compartment is an `EXISTS` over
 * `sp_reference` (the compartment's reference parameters pointing at `Patient/{id}`), a scope's query
 * constraint is compiled by the search compiler's own `keyCondition`. Values are always bound parameters.
 * The same rule on a resource body (history versions): ./match.ts.
 */
import { isRestricted, VISIBLE, type Access, type RowBranch, type RowRule } from '../../model/access.ts';
import { compartmentCodes } from '../../model/compartment.ts';
import { indexedSearchParameters } from '../indexer.ts';
import { INDEX_TABLES } from '../index-rows.ts';
import { keyCondition } from '../search/chain.ts';
import { SearchError } from '../search/errors.ts';
import { parseFilterKey } from '../search/params.ts';
import { ownerOf, type Build, type SearchContext } from '../search/types.ts';
import type { SqlParams } from '../sql.ts';

const REF = INDEX_TABLES.reference;

/**
 * Alias numbers for the constraint's own subqueries start high, so they never equal an alias of the
 * enclosing search (`x3`, `t5`…) that the constraint sits inside.
 */
const ALIAS_BASE = 900_000;

/** `alias` is in (exclusive: only in) the compartment of `patient`. */
function compartmentSql(alias: string, resourceType: string, patient: string, exclusive: boolean, p: SqlParams, tenant: string): string {
  const codes = compartmentCodes(resourceType);
  const pid = p.add(patient);
  const links = (op: '=' | '<>') =>
    `EXISTS (SELECT 1 FROM ${REF} pz WHERE pz.tenant = ${p.add(tenant)} AND pz.resource_type = ${p.add(resourceType)}` +
    ` AND pz.id = ${alias}.id AND pz.code = ANY(${p.add(codes)}::text[]) AND pz.target_type = 'Patient' AND pz.target_id ${op} ${pid})`;
  if (resourceType === 'Patient') {
    return exclusive ? `(${alias}.id = ${pid} AND NOT ${links('<>')})` : `(${alias}.id = ${pid} OR ${links('=')})`;
  }
  if (codes.length === 0) return 'false';
  return exclusive ? `(${links('=')} AND NOT ${links('<>')})` : links('=');
}

/** The scope's query constraint on `alias`, compiled like a search; an unknown parameter matches nothing. */
function querySql(alias: string, resourceType: string, query: RowBranch['query'] & object, p: SqlParams, tenant: string): string {
  const mark = p.values.length;
  const ctx: SearchContext = {
    tenant,
    maxCount: 1,
    defaultCount: 1,
    maxChainDepth: 0,
    lenient: false,
    searchParameters: indexedSearchParameters,
  };
  const b: Build = { ctx, params: p, tenant: p.add(tenant), lookup: indexedSearchParameters, now: new Date(), seq: ALIAS_BASE };
  try {
    const owner = ownerOf(b, alias, resourceType);
    const conds = query.map(([key, value]) => {
      const parsed = parseFilterKey(key);
      if (parsed.kind !== 'param') throw new SearchError('invalid', key, 'chains are not allowed in scopes');
      return keyCondition(b, owner, parsed, value, key);
    });
    // `_id` and `_lastUpdated` read the row itself: keep the bound tenant and type referenced anyway.
    const text = conds.join(' AND ');
    for (const placeholder of [b.tenant, owner.typeSql]) {
      if (!new RegExp(`\\${placeholder}(?!\\d)`).test(text)) conds.unshift(`${placeholder}::text IS NOT NULL`);
    }
    return `(${conds.join(' AND ')})`;
  } catch (err) {
    if (!(err instanceof SearchError)) throw err;
    p.values.length = mark; // Postgres refuses placeholders that no longer appear in the text
    return 'false';
  }
}

function branchSql(alias: string, resourceType: string, branch: RowBranch, p: SqlParams, tenant: string): string {
  const conds: string[] = [];
  if (branch.patient !== undefined) conds.push(compartmentSql(alias, resourceType, branch.patient, branch.exclusive === true, p, tenant));
  if (branch.ids) conds.push(`${alias}.id = ANY(${p.add(branch.ids)}::text[])`);
  if (branch.query) conds.push(querySql(alias, resourceType, branch.query, p, tenant));
  return conds.length === 0 ? 'true' : conds.join(' AND ');
}

/**
 * SQL admitting the rows of `resourceType` at `alias` that `rule` reaches; undefined when it reaches all.
 * `tenant` is the tenant value (bound again here, so the fragment fits any statement).
 */
export function ruleSql(rule: RowRule, alias: string, resourceType: string, p: SqlParams, tenant: string): string | undefined {
  switch (rule.kind) {
    case 'all':
      return undefined;
    case 'none':
      return 'false';
    case 'some': {
      const parts = rule.branches.map((br) => branchSql(alias, resourceType, br, p, tenant));
      return parts.length === 1 ? parts[0] : `(${parts.map((x) => `(${x})`).join(' OR ')})`;
    }
    default:
      return rule satisfies never;
  }
}

/**
 * The search compiler's `restrict` hook (SearchContext.restrict). The compiler names the matched rows of a
 * search `r` (compile.ts) and every other `resources` alias differently (`t`, `tN`, `sN`): matches need `s`,
 * rows reached beside them (chains, `_has`, `_include`, `_revinclude`) need `r` or `s` ({@link VISIBLE}).
 */
export function searchRestrict(access: Access | undefined, tenant: string): SearchContext['restrict'] {
  if (!isRestricted(access)) return undefined;
  return (alias, resourceType, params) =>
    ruleSql(access.rule(alias === 'r' ? 's' : VISIBLE, resourceType), alias, resourceType, params, tenant);
}

/**
 * SQL for an alias whose rows may have any of `types` (history, $everything): types the policy fully
 * grants share one `= ANY`, restricted types get a branch each, ungranted types are left out. Undefined
 * when every type is fully granted.
 */
export function multiTypeSql(
  access: Access,
  need: 's' | 'r' | typeof VISIBLE,
  alias: string,
  types: readonly string[],
  p: SqlParams,
  tenant: string,
): string | undefined {
  if (access.unrestricted) return undefined;
  const free: string[] = [];
  const parts: string[] = [];
  for (const type of types) {
    const rule = access.rule(need, type);
    if (rule.kind === 'all') free.push(type);
    else if (rule.kind === 'some') parts.push(`(${alias}.resource_type = ${p.add(type)} AND ${ruleSql(rule, alias, type, p, tenant)})`);
  }
  if (free.length === types.length) return undefined;
  if (free.length > 0) parts.unshift(`${alias}.resource_type = ANY(${p.add(free)}::text[])`);
  return parts.length === 0 ? 'false' : `(${parts.join(' OR ')})`;
}
