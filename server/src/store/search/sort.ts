/**
 * `_sort` keys (search.html#_sort). A resource with several values sorts by its lowest value when
 * ascending and its highest when descending (for dates: the earliest start / the latest end); resources
 * without a value sort last in both directions. The caller appends the id tie-break that makes paging stable.
 */
import type { SortRule } from '@medplum/core';
import { INDEX_TABLES } from '../index-rows.ts';
import { invalid, unknown, unsupported } from './errors.ts';
import { ParamKind, resolveParam } from './params.ts';
import type { Build, Owner } from './types.ts';
import { nextAlias } from './types.ts';

/** Table and value column of each sortable kind; the date column depends on the direction. */
const SORT_COLUMN: Partial<Record<ParamKind, { table: string; column: (a: string, descending: boolean) => string }>> = {
  string: { table: INDEX_TABLES.string, column: (a) => `${a}.norm` },
  token: { table: INDEX_TABLES.token, column: (a) => `${a}.value` },
  reference: {
    table: INDEX_TABLES.reference,
    column: (a) => `coalesce(${a}.target_type || '/' || ${a}.target_id, ${a}.url, ${a}.ident_value)`,
  },
  date: { table: INDEX_TABLES.date, column: (a, descending) => (descending ? `${a}.high` : `${a}.low`) },
  number: { table: INDEX_TABLES.number, column: (a) => `${a}.value` },
  quantity: { table: INDEX_TABLES.quantity, column: (a) => `${a}.value` },
  uri: { table: INDEX_TABLES.uri, column: (a) => `${a}.value` },
};

/** One `ORDER BY` item for `rule` on `owner`; throws a 400 for unknown or unsortable parameters. */
export function sortKey(b: Build, owner: Owner, rule: SortRule): string {
  const dir = rule.descending ? 'DESC NULLS LAST' : 'ASC NULLS LAST';
  const shown = `_sort=${rule.descending ? '-' : ''}${rule.code}`;
  if (rule.code === '') throw invalid('_sort', `Invalid ${shown}: empty sort key`);
  if (/[.:]/.test(rule.code)) throw unsupported('_sort', `Invalid ${shown}: sorting on chains or modifiers is not supported`);
  let param: ReturnType<typeof resolveParam>;
  try {
    param = resolveParam(b.lookup, owner.types, rule.code, '_sort');
  } catch {
    throw unknown('_sort', `Unknown _sort parameter '${rule.code}' for ${owner.types.length === 1 ? owner.types[0] : 'these types'}`);
  }
  if (param.kind === ParamKind.Id) return `${owner.alias}.id ${dir}`;
  if (param.kind === ParamKind.LastUpdated) return `${owner.alias}.last_updated ${dir}`;
  const spec = SORT_COLUMN[param.kind];
  if (!spec) throw unsupported('_sort', `Invalid ${shown}: ${param.kind} parameters cannot be sorted`);
  const a = nextAlias(b, 'o');
  const agg = rule.descending ? 'max' : 'min';
  // Text keys compare bytewise (COLLATE "C") so that PGlite and servers with any locale page identically.
  const collate =
    param.kind === ParamKind.Date || param.kind === ParamKind.Number || param.kind === ParamKind.Quantity ? '' : ' COLLATE "C"';
  return (
    `(SELECT ${agg}(${spec.column(a, rule.descending === true)}${collate}) FROM ${spec.table} ${a}` +
    ` WHERE ${a}.tenant = ${b.tenant} AND ${a}.resource_type = ${owner.typeSql} AND ${a}.id = ${owner.alias}.id` +
    ` AND ${a}.code = ${b.params.add(param.code)}) ${dir}`
  );
}
