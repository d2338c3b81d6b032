/**
 * The rows that index one resource version for search. Produced by the indexer (pure), written by the
 * repository into the sp_* tables (see migrations/001_resources.sql), read by the search compiler.
 * Every row also carries tenant, resource_type and id, added by the writer.
 */

/** String parameter value. `norm` is {@link normalizeString}(raw). */
export interface StringRow {
  code: string;
  norm: string;
  raw: string;
}
/** Token value (Coding, Identifier, code, boolean, ContactPoint, id...). `display` is lower-cased. */
export interface TokenRow {
  code: string;
  system: string | null;
  value: string | null;
  display: string | null;
}
/** Reference value: relative (`target_type`/`target_id`), absolute/canonical (`url`) or logical (`ident_*`). */
export interface ReferenceRow {
  code: string;
  target_type: string | null;
  target_id: string | null;
  url: string | null;
  ident_system: string | null;
  ident_value: string | null;
}
/** Date value as an inclusive instant range (ISO strings; '-infinity' / 'infinity' for open ends). */
export interface DateRow {
  code: string;
  low: string;
  high: string;
}
/** Number value. */
export interface NumberRow {
  code: string;
  value: number;
}
/** Quantity value. */
export interface QuantityRow {
  code: string;
  value: number;
  system: string | null;
  unit_code: string | null;
  unit: string | null;
}
/** URI value (uri, url, canonical without `|version`). */
export interface UriRow {
  code: string;
  value: string;
}
/** Composite value whose first component is a token; the second component fills the matching columns. */
export interface CompositeRow {
  code: string;
  c1_system: string | null;
  c1_value: string | null;
  c2_system: string | null;
  c2_value: string | null;
  c2_number: number | null;
  c2_unit_code: string | null;
  c2_low: string | null;
  c2_high: string | null;
  c2_string: string | null;
}

/** All index rows of one resource version, grouped by table. */
export interface IndexRows {
  string: StringRow[];
  token: TokenRow[];
  reference: ReferenceRow[];
  date: DateRow[];
  number: NumberRow[];
  quantity: QuantityRow[];
  uri: UriRow[];
  composite: CompositeRow[];
}

/** The sp_* table that holds each kind of row, in a fixed order used by writers. */
export const INDEX_TABLES = {
  string: 'sp_string',
  token: 'sp_token',
  reference: 'sp_reference',
  date: 'sp_date',
  number: 'sp_number',
  quantity: 'sp_quantity',
  uri: 'sp_uri',
  composite: 'sp_composite',
} as const satisfies Record<keyof IndexRows, string>;

/** Every index table's kind, in {@link INDEX_TABLES} order. */
export const INDEX_KINDS = Object.keys(INDEX_TABLES) as readonly (keyof IndexRows)[];

/** Lower-cases and strips combining accents: how string search compares (R4 3.1.1.5.3 "string"). */
export function normalizeString(input: string): string {
  return input
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase();
}

/** An empty set of index rows. */
export function emptyIndexRows(): IndexRows {
  return { string: [], token: [], reference: [], date: [], number: [], quantity: [], uri: [], composite: [] };
}
