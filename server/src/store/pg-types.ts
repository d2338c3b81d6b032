/**
 * What both engines share about talking to PostgreSQL: how SQL values become JS values and back (`pg`'s type
 * parsers and parameter encoding, with two overrides), and how prepared statements are planned. PostgreSQL connections (./pg-db.ts) and the embedded database's thread (./pglite-worker.ts) both import
 * this module, so a row has the same shape whichever engine returned it.
 */
import pg from 'pg';

// int8 (bigserial, count(*)) as JS numbers: Haven's counters stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));
// numeric as JS numbers: search values are decimals of clinical magnitude.
pg.types.setTypeParser(1700, (v) => Number(v));

/** Parses a value sent in text format by its type OID. */
export function parseTextValue(oid: number, text: string): unknown {
  return pg.types.getTypeParser(oid, 'text')(text);
}

/** Encodes a query parameter as `pg` does (arrays as array literals, objects as JSON, Dates as timestamps). */
export const encodeParam: (value: unknown) => string | Buffer | null = (
  pg as unknown as { utils: { prepareValue(v: unknown): string | Buffer | null } }
).utils.prepareValue;

/**
 * Prepared statements are planned for their values on every run: a generic plan, made for average values, could
 * start a search or a range scan (events after a cursor) from the wrong index. Preparing still saves parsing.
 */
export const PLAN_CACHE_MODE = 'force_custom_plan';
