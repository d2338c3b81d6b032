/**
 * Opaque paging cursors. A cursor carries the next offset and is signed (HMAC-SHA256) over the tenant
 * and the request it pages, so it cannot be forged, edited, or replayed against another tenant or query.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { OperationOutcomeError, badRequest } from '@medplum/core';

/** What a cursor is bound to. `scope` identifies the query (e.g. its canonical parameter string). */
export interface CursorBinding {
  tenant: string;
  scope: string;
}

function sign(secret: string, binding: CursorBinding, payload: string): string {
  return createHmac('sha256', secret).update(`${binding.tenant}\n${binding.scope}\n${payload}`).digest('base64url').slice(0, 22);
}

/** Encodes `offset` as a cursor bound to `binding`. */
export function encodeCursor(secret: string, binding: CursorBinding, offset: number): string {
  const payload = offset.toString(36);
  return `${payload}.${sign(secret, binding, payload)}`;
}

/** Decodes a cursor; a malformed, edited or foreign cursor is a 400. */
export function decodeCursor(secret: string, binding: CursorBinding, cursor: string): number {
  const [payload, mac] = cursor.split('.');
  const invalid = new OperationOutcomeError(
    badRequest('Invalid or expired _cursor: page links are bound to the tenant and query that produced them'),
  );
  if (!payload || !mac || !/^[0-9a-z]{1,12}$/.test(payload)) throw invalid;
  const expected = Buffer.from(sign(secret, binding, payload));
  const given = Buffer.from(mac);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw invalid;
  return parseInt(payload, 36);
}
