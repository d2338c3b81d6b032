/**
 * Text that PostgreSQL cannot hold, refused before it reaches SQL. A NUL character (U+0000) is not allowed in a
 * `text` value ("invalid byte sequence") nor, escaped, in `jsonb`; an unpaired UTF-16 surrogate is not Unicode at
 * all (`jsonb` refuses its escape, `text` would silently get U+FFFD). FHIR strings may hold neither (R4
 * datatypes.html#string). Each such value is a client error (400), never a 500 and never a silently altered value.
 *
 * Two walls use this module: every statement's bound parameters (./pg-db.ts, ./pglite-db.ts), whatever path built
 * them, and the JSON text of every written version (./write-version.ts), where the characters arrive escaped.
 * The request boundary (../http/fhir-api.ts) checks query parameters first, to name the offending parameter.
 */
import { badRequest, OperationOutcomeError } from '@medplum/core';

/** Why `s` cannot be stored or searched, or undefined when it can. */
export function unsafeTextReason(s: string): string | undefined {
  if (s.includes('\u0000')) return 'contains a NUL character (U+0000)';
  if (!isWellFormedText(s)) return 'is not valid Unicode (an unpaired surrogate)';
  return undefined;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** `String.prototype.isWellFormed` (ES2024), with a regular-expression fallback for older lib typings. */
function isWellFormedText(s: string): boolean {
  const native = (s as { isWellFormed?: () => boolean }).isWellFormed;
  return native ? native.call(s) : !LONE_SURROGATE.test(s);
}

/**
 * The first string (object key or value) in `value` that cannot be stored, with its path
 * (`name[0].family`), or undefined. Iterative, so the depth of `value` cannot exhaust the stack.
 */
export function findUnsafeText(value: unknown): { path: string; reason: string } | undefined {
  const stack: Array<{ v: unknown; path: string }> = [{ v: value, path: '' }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const reason = unsafeTextReason(v);
      if (reason) return { path: path || '(value)', reason };
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}[${i}]` });
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i];
        const keyPath = path ? `${path}.${key.slice(0, 64)}` : key.slice(0, 64);
        const keyReason = unsafeTextReason(key);
        if (keyReason) return { path: keyPath, reason: `has a property name that ${keyReason}` };
        stack.push({ v: (v as Record<string, unknown>)[key], path: keyPath });
      }
    }
  }
  return undefined;
}

/** A 400 for text that cannot be stored; the diagnostic names where, never the value (it may be PHI). */
export function unsafeTextError(where: string, reason: string): OperationOutcomeError {
  const message = `${where} ${reason}; FHIR strings cannot hold it`;
  const outcome = badRequest(message);
  outcome.issue[0].diagnostics = message;
  return new OperationOutcomeError(outcome);
}

/**
 * Throws a 400 when a bound parameter (a string, or a string inside an array parameter) cannot reach PostgreSQL.
 * The last wall: it does not know which request parameter the value came from.
 */
export function assertStorableParams(params: readonly unknown[] | undefined): void {
  if (!params) return;
  for (const p of params) {
    if (typeof p === 'string') {
      const reason = unsafeTextReason(p);
      if (reason) throw unsafeTextError('A value in the request', reason);
    } else if (Array.isArray(p)) {
      assertStorableParams(p);
    }
  }
}

/**
 * `JSON.stringify` writes a NUL as the escape `\u0000` and an unpaired surrogate as `\udXXX`; paired surrogates
 * and every other character stay literal. An escape counts only after an even number of backslashes (`\\u0000`
 * is a backslash followed by the text "u0000").
 */
const UNSAFE_JSON_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/** True when JSON text produced by `JSON.stringify` encodes a string {@link unsafeTextReason} refuses. */
export function jsonTextHasUnsafeText(json: string): boolean {
  return UNSAFE_JSON_ESCAPE.test(json);
}
