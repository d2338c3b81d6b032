/**
 * The receiver decision (./receiver.ts): scope intersection table, who a caller is, and what a recorded receiver may
 * read now, against real client and user rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../auth/authenticate.ts';
import { removeClient } from '../auth/clients.ts';
import { rowRule, UNRESTRICTED } from '../policy/access.ts';
import type { Db } from '../store/db.ts';
import { openScratchDb } from '../test-support/harness.ts';
import { asReceiver, meetScope, meetScopes, receiverAccess, receiverAccessTo, receiverOf, type Receiver } from './receiver.ts';
import { addTestUser, appClient, backendClient, reregisterBackend } from './test-clients.ts';

describe('meetScope', () => {
  const S = 'http://terminology.hl7.org/CodeSystem/observation-category|survey';
  const table: [string, string, string | undefined][] = [
    ['system/*.rs', 'system/*.rs', 'system/*.rs'],
    ['system/*.rs', 'system/Observation.rs', 'system/Observation.rs'],
    ['system/Observation.rs', 'system/*.cruds', 'system/Observation.rs'],
    ['system/Observation.cruds', 'system/Observation.r', 'system/Observation.r'],
    ['system/Observation.rs', 'system/*.r', 'system/Observation.r'],
    ['system/*.read', 'system/Observation.rs', 'system/Observation.rs'],
    ['system/Observation.rs', 'system/Patient.rs', undefined],
    ['system/Observation.c', 'system/Observation.rs', undefined],
    ['system/Observation.rs', 'user/Observation.rs', undefined],
    ['system/*.rs', `system/Observation.rs?category=${S}`, `system/Observation.rs?category=${S}`],
    [`system/Observation.rs?category=${S}`, 'system/*.rs', `system/Observation.rs?category=${S}`],
    ['system/Observation.rs?code=a', 'system/Observation.rs?status=final', 'system/Observation.rs?code=a&status=final'],
    ['openid', 'openid', 'openid'],
    ['fhirUser', 'openid', undefined],
    ['launch/patient', 'launch/patient', 'launch/patient'],
    ['nonsense', 'nonsense', undefined],
  ];
  for (const [a, b, expected] of table) it(`${a} ∩ ${b} → ${expected ?? 'nothing'}`, () => expect(meetScope(a, b)).toBe(expected));
  it('meetScopes keeps each distinct intersection', () => {
    expect(meetScopes(['system/*.rs', 'system/Patient.cruds'], ['system/Observation.rs', 'system/Patient.r'])).toEqual([
      'system/Observation.rs',
      'system/Patient.r',
    ]);
  });
});

describe('receiverOf / asReceiver', () => {
  const base: Principal = { tenant: 't', subject: 'c1', clientId: 'c1', scopes: ['system/*.rs'], roles: [], development: false };
  it('a backend token is its client; a user token names the user too', () => {
    expect(receiverOf(base, undefined)).toEqual({ kind: 'client', clientId: 'c1', scopes: ['system/*.rs'] });
    expect(receiverOf({ ...base, subject: 'u1', roles: ['clinician'], fhirUser: 'Practitioner/p', patient: 'pa' }, undefined)).toEqual({
      kind: 'client',
      clientId: 'c1',
      userId: 'u1',
      scopes: ['system/*.rs'],
      fhirUser: 'Practitioner/p',
      patient: 'pa',
    });
  });
  it('development, internal callers, and records from before receivers', () => {
    expect(receiverOf({ ...base, development: true }, undefined)).toEqual({ kind: 'development' });
    expect(receiverOf(undefined, undefined)).toEqual({ kind: 'internal', policy: UNRESTRICTED });
    // A compiled policy, as haven_subscriptions.owner held it before: nothing says whose it was.
    expect(asReceiver({ unrestricted: false, grants: [], ignored: [] })).toBeUndefined();
    expect(asReceiver(null)).toBeUndefined();
    expect(asReceiver({ kind: 'client', clientId: 'c', scopes: [] })).toEqual({ kind: 'client', clientId: 'c', scopes: [] });
  });
});

describe('receiverAccess', () => {
  let db: Db;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ db, close } = await openScratchDb());
  });
  afterAll(async () => {
    await close();
  });
  const off = { authOff: false };

  it('a registered backend client: its scopes as registered today', async () => {
    await backendClient(db, 'b1', 'system/Observation.rs system/Patient.rs');
    const r: Receiver = { kind: 'client', clientId: 'b1', scopes: ['system/*.rs'] };
    const s = await receiverAccess(db, 'default', r, off);
    expect(s.ok).toBe(true);
    if (!s.ok) return;
    expect(rowRule(s.policy, 'r', 'Observation').kind).toBe('all');
    expect(rowRule(s.policy, 'r', 'Condition').kind).toBe('none');
    await reregisterBackend(db, 'b1', 'system/Patient.rs');
    expect(await receiverAccessTo(db, 'default', r, 'Observation', 'r', off)).toEqual({ ok: false, reason: 'no-grant' });
    expect((await receiverAccessTo(db, 'default', r, 'Patient', 'r', off)).ok).toBe(true);
    await removeClient(db, 'default', 'b1');
    expect(await receiverAccess(db, 'default', r, off)).toEqual({ ok: false, reason: 'client-removed' });
  });

  it('a user: must exist, and is cut by their current roles', async () => {
    await appClient(db, 'app1', 'openid fhirUser user/*.cruds');
    await addTestUser(db, 'u1', ['clinician'], 'Practitioner/p1');
    const r: Receiver = { kind: 'client', clientId: 'app1', userId: 'u1', scopes: ['user/Observation.rs'], fhirUser: 'Practitioner/p1' };
    expect((await receiverAccessTo(db, 'default', r, 'Observation', 'r', off)).ok).toBe(true);
    // An auditor's role reaches AuditEvent and Provenance only.
    await db.query(`UPDATE auth_users SET roles = ARRAY['auditor'] WHERE tenant = 'default' AND id = 'u1'`);
    expect(await receiverAccessTo(db, 'default', r, 'Observation', 'r', off)).toEqual({ ok: false, reason: 'no-grant' });
    await db.query(`DELETE FROM auth_users WHERE tenant = 'default' AND id = 'u1'`);
    expect(await receiverAccess(db, 'default', r, off)).toEqual({ ok: false, reason: 'user-removed' });
  });

  it('development receivers only while HAVEN_AUTH=off; unknown ones never', async () => {
    expect(await receiverAccess(db, 'default', { kind: 'development' }, { authOff: true })).toEqual({ ok: true, policy: UNRESTRICTED });
    expect(await receiverAccess(db, 'default', { kind: 'development' }, off)).toEqual({ ok: false, reason: 'development-owner' });
    expect(await receiverAccess(db, 'default', undefined, off)).toEqual({ ok: false, reason: 'unknown-receiver' });
    expect(await receiverAccess(db, 'default', { kind: 'client', clientId: '', scopes: [] }, off)).toEqual({
      ok: false,
      reason: 'unknown-receiver',
    });
  });
});
