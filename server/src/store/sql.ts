/**
 * Bound-parameter collection for hand-built SQL. Values never enter the SQL text: each call to
 * {@link SqlParams.add} returns a `$n` placeholder and keeps the value for the driver.
 */
export class SqlParams {
  readonly values: unknown[] = [];

  /** Binds a value and returns its placeholder (`$1`, `$2`, ...). */
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** A SQL fragment with its bound parameters already registered in a shared {@link SqlParams}. */
export type SqlText = string;

/** Quotes an identifier that comes from Haven's own constants (table and column names), never from input. */
export function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`Refusing unsafe SQL identifier: ${name}`);
  return `"${name}"`;
}
