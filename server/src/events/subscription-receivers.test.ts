/**
 * Notification content goes only where its receiver's CURRENT grants allow, decided at delivery time:
 * - a websocket bound by a caller with less access than the Subscription's owner gets only what that caller may
 *   read (or no token at all), and loses the socket when its client is removed;
 * - `$events` re-checks its caller, deletes included;
 * - a rest-hook Subscription whose owner's client or user is removed (or the user disabled), or whose client was re-registered with
 *   narrower scopes, stops delivering what the owner may no longer read and is turned off when nothing is left.
 */
import type { Bundle, Parameters } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { removeClient } from '../auth/clients.ts';
import { addUser, setUserDisabled } from '../auth/users.ts';
import { loadKek } from '../auth/secret.ts';
import { as, principalFromTestHeader, type TestToken } from '../policy/test-principal.ts';
import { startTestServer, type TestServer } from '../test-support/harness.ts';
import { OWNER_REVOKED_ERROR } from './subscription-delivery.ts';
import { addTestUser, appClient, backendClient, reregisterBackend } from './test-clients.ts';
import { startReceiver, type Receiver } from './test-receiver.ts';

const ENV = {
  HAVEN_AUTH: '',
  HAVEN_SUBSCRIPTION_ALLOW_HTTP: 'true',
  HAVEN_SUBSCRIPTION_ALLOW_LOOPBACK: 'true',
  HAVEN_EVENT_POLL_MS: '100',
  HAVEN_DELIVERY_RETRY_BASE_MS: '50',
  HAVEN_DELIVERY_RETRY_MAX_MS: '200',
  HAVEN_DELIVERY_TIMEOUT_MS: '2000',
};
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
const PHQ9 = 'Observation?code=http://loinc.org|44261-6';
const FULL = {
  extension: [
    { url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content', valueCode: 'full-resource' },
  ],
};
/** Writes the test data; the test authenticator does not check registration, and writes are not what is tested. */
const ADMIN: TestToken = { scopes: 'system/*.cruds', clientId: 'seeder', subject: 'seeder' };

function observation(category: string, family = 'pa'): object {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '44261-6' }] },
    subject: { reference: `Patient/${family}` },
    category: [{ coding: [{ system: CATEGORY, code: category }] }],
  };
}

function typeOf(b: Bundle): string | undefined {
  return (b.entry?.[0]?.resource as Parameters | undefined)?.parameter?.find((p) => p.name === 'type')?.valueCode;
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer(ENV, { authenticate: principalFromTestHeader });
  await t.req('/fhir/Patient/pa', { method: 'PUT', json: { resourceType: 'Patient', id: 'pa' }, headers: as(ADMIN) });
});
afterAll(async () => {
  await t.stop();
});

async function create(owner: TestToken, body: object): Promise<string> {
  const res = await t.req('/fhir/Subscription', { method: 'POST', json: body, headers: as(owner) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function status(id: string): Promise<{ status: string; error?: string }> {
  return (await t.req(`/fhir/Subscription/${id}`, { headers: as(ADMIN) })).body;
}

async function write(category: string): Promise<string> {
  const res = await t.req('/fhir/Observation', { method: 'POST', json: observation(category), headers: as(ADMIN) });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

/** A socket bound with a token of `caller`, collecting Bundles (and its close code). */
async function bind(id: string, caller: TestToken): Promise<{ frames: Bundle[]; closed: Promise<number>; ws: WebSocket }> {
  const tokenRes = await t.req(`/fhir/Subscription/${id}/$get-ws-binding-token`, { headers: as(caller) });
  expect(tokenRes.status, JSON.stringify(tokenRes.body)).toBe(200);
  const params = (tokenRes.body as Parameters).parameter ?? [];
  const ws = new WebSocket(params.find((p) => p.name === 'websocket-url')?.valueUrl as string);
  const frames: Bundle[] = [];
  ws.on('message', (d) => {
    const text = String(d);
    if (text.startsWith('{')) frames.push(JSON.parse(text) as Bundle);
  });
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  ws.send(`bind-with-token ${params.find((p) => p.name === 'token')?.valueString}`);
  await until(() => frames.some((f) => typeOf(f) === 'handshake'), 'handshake');
  return { frames, closed, ws };
}

const events = (frames: Bundle[]): Bundle[] => frames.filter((f) => typeOf(f) === 'event-notification');

describe('websocket: the bound caller receives only what it may read', () => {
  let owner: TestToken;
  let id: string;
  beforeAll(async () => {
    owner = await backendClient(t.server.db, 'ws-owner', 'system/*.cruds');
    id = await create(owner, {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'ws',
      criteria: PHQ9,
      channel: { type: 'websocket', payload: 'application/fhir+json', _payload: FULL },
    });
    await until(async () => (await status(id)).status === 'active', 'active');
  });

  it('a caller that may not read the subscribed type gets no binding token (and no $events)', async () => {
    const subOnly = await backendClient(t.server.db, 'ws-subonly', 'system/Subscription.rs');
    expect((await t.req(`/fhir/Observation`, { headers: as(subOnly) })).status).toBe(403);
    const res = await t.req(`/fhir/Subscription/${id}/$get-ws-binding-token`, { headers: as(subOnly) });
    expect(res.status).toBe(403);
    expect(res.body.issue[0].diagnostics).toMatch(/needs read access to Observation/);
    expect((await t.req(`/fhir/Subscription/${id}/$events`, { headers: as(subOnly) })).status).toBe(403);
  });

  it("a narrower caller's socket gets only the resources it may read; the owner's gets all; removing the caller's client closes its socket", async () => {
    const surveys = await backendClient(
      t.server.db,
      'ws-surveys',
      `system/Subscription.rs system/Observation.rs?category=${CATEGORY}|survey`,
    );
    const mine = await bind(id, owner);
    const theirs = await bind(id, surveys);
    const lab = await write('laboratory');
    const survey = await write('survey');
    await until(() => events(mine.frames).length >= 2 && events(theirs.frames).length >= 1, 'notifications');
    const seen = (frames: Bundle[]) => events(frames).flatMap((b) => (b.entry ?? []).slice(1).map((e) => e.resource?.id));
    expect(seen(mine.frames)).toEqual([lab, survey]);
    expect(seen(theirs.frames)).toEqual([survey]);
    expect(JSON.stringify(theirs.frames)).not.toContain(lab);

    await removeClient(t.server.db, 'default', 'ws-surveys');
    const after = await write('survey');
    expect(await theirs.closed).toBe(1008);
    await until(() => events(mine.frames).length >= 3, 'owner notification');
    expect(JSON.stringify(theirs.frames)).not.toContain(after);
    mine.ws.close();
  });

  it('$events re-checks its caller, deletes included', async () => {
    const reader = await backendClient(
      t.server.db,
      'ws-reader',
      `system/Subscription.rs system/Observation.rs?category=${CATEGORY}|survey`,
    );
    const lab = await write('laboratory');
    const survey = await write('survey');
    await t.req(`/fhir/Observation/${lab}`, { method: 'DELETE', headers: as(ADMIN) });
    await t.server.events.dispatcher.idle();
    const all = await t.req(`/fhir/Subscription/${id}/$events?eventsSinceNumber=1`, { headers: as(owner) });
    const replay = await t.req(`/fhir/Subscription/${id}/$events?eventsSinceNumber=1`, { headers: as(reader) });
    expect(replay.status).toBe(200);
    expect(JSON.stringify(all.body)).toContain(lab);
    const text = JSON.stringify(replay.body);
    expect(text).toContain(survey);
    // Neither the lab result's creation nor its deletion reaches a caller who may read survey results only.
    expect(text).not.toContain(lab);
  });
});

describe('rest-hook: the owner must still exist and hold the grant at every delivery', () => {
  let rx: Receiver;
  beforeAll(async () => {
    rx = await startReceiver();
  });
  afterAll(async () => {
    await rx.close();
  });

  function restHook(family: string): object {
    return {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'hook',
      criteria: `${PHQ9}&subject=Patient/${family}`,
      channel: { type: 'rest-hook', endpoint: `${rx.url}?s=${family}`, payload: 'application/fhir+json', _payload: FULL },
    };
  }

  /** Creates the subscription and waits for its handshake and `active`. */
  async function live(owner: TestToken, family: string): Promise<string> {
    const id = await create(owner, restHook(family));
    await until(
      () => rx.received.some((r) => r.type === 'handshake' && r.bundle.entry?.[0]?.request?.url?.includes(id) === true),
      'handshake',
    );
    await until(async () => (await status(id)).status === 'active', 'active');
    return id;
  }

  async function writeFor(family: string, category = 'survey'): Promise<string> {
    const res = await t.req('/fhir/Observation', { method: 'POST', json: observation(category, family), headers: as(ADMIN) });
    return res.body.id as string;
  }

  const delivered = (obsId: string): boolean => rx.events().some((e) => e.focus.some((f) => f.endsWith(`/Observation/${obsId}`)));

  async function expectTurnedOff(id: string, family: string, obsId: string, reason: string): Promise<void> {
    await until(async () => (await status(id)).status === 'off', 'off');
    await t.server.events.dispatcher.idle();
    expect(delivered(obsId)).toBe(false);
    expect((await status(id)).error).toBe(OWNER_REVOKED_ERROR);
    expect(t.logs.some((l) => l.event === 'subscriptions.owner_revoked' && l.subscription === id && l.reason === reason)).toBe(true);
    const { rows } = await t.server.db.query<{ error: string }>(`SELECT error FROM haven_dead_letters WHERE consumer = $1`, [`sub:${id}`]);
    expect(rows.map((r) => r.error)).toEqual([`withheld: ${reason}`]);
    // It stays off: later events reach nothing.
    const later = await writeFor(family);
    await t.server.events.dispatcher.idle();
    expect(delivered(later)).toBe(false);
  }

  it('a removed client: no POST reaches its endpoint, the Subscription turns off', async () => {
    await t.req('/fhir/Patient/pb', { method: 'PUT', json: { resourceType: 'Patient', id: 'pb' }, headers: as(ADMIN) });
    const owner = await backendClient(t.server.db, 'hook-owner', 'system/Observation.rs system/Subscription.cruds');
    const id = await live(owner, 'pb');
    const before = await writeFor('pb');
    await until(() => delivered(before), 'delivery while registered');
    await removeClient(t.server.db, 'default', 'hook-owner');
    const obs = await writeFor('pb');
    await expectTurnedOff(id, 'pb', obs, 'client-removed');
  });

  it('a removed user: the same', async () => {
    await t.req('/fhir/Patient/pc', { method: 'PUT', json: { resourceType: 'Patient', id: 'pc' }, headers: as(ADMIN) });
    await appClient(t.server.db, 'clinic-app', 'openid fhirUser user/*.cruds');
    await addTestUser(t.server.db, 'u-doc', ['clinician'], 'Practitioner/doc');
    const doctor: TestToken = {
      clientId: 'clinic-app',
      subject: 'u-doc',
      roles: ['clinician'],
      fhirUser: 'Practitioner/doc',
      scopes: 'user/Observation.rs user/Subscription.cruds',
    };
    const id = await live(doctor, 'pc');
    const before = await writeFor('pc');
    await until(() => delivered(before), 'delivery while the user exists');
    await t.server.db.query(`DELETE FROM auth_users WHERE tenant = 'default' AND id = 'u-doc'`);
    const obs = await writeFor('pc');
    await expectTurnedOff(id, 'pc', obs, 'user-removed');
  });

  it('a disabled user (haven users disable): the same, decided at delivery', async () => {
    await t.req('/fhir/Patient/pe', { method: 'PUT', json: { resourceType: 'Patient', id: 'pe' }, headers: as(ADMIN) });
    await appClient(t.server.db, 'clinic-app-2', 'openid fhirUser user/*.cruds');
    const { user } = await addUser(t.server.db, loadKek({ HAVEN_SECRET: 'a test secret of at least thirty-two characters' }, ''), {
      tenant: 'default',
      username: 'nurse',
      password: 'a long enough password',
      fhirUser: 'Practitioner/nurse',
      roles: ['clinician'],
    });
    const nurse: TestToken = {
      clientId: 'clinic-app-2',
      subject: user.id,
      roles: ['clinician'],
      fhirUser: 'Practitioner/nurse',
      scopes: 'user/Observation.rs user/Subscription.cruds',
    };
    const id = await live(nurse, 'pe');
    const before = await writeFor('pe');
    await until(() => delivered(before), 'delivery while the user is enabled');
    await setUserDisabled(t.server.db, 'default', 'nurse', true);
    const obs = await writeFor('pe');
    await expectTurnedOff(id, 'pe', obs, 'user-disabled');
  });

  it('a client re-registered with narrower scopes: only what the new registration reaches, then off when nothing', async () => {
    await t.req('/fhir/Patient/pd', { method: 'PUT', json: { resourceType: 'Patient', id: 'pd' }, headers: as(ADMIN) });
    const owner = await backendClient(t.server.db, 'hook-narrow', 'system/Observation.rs system/Subscription.cruds');
    const id = await live(owner, 'pd');
    await reregisterBackend(t.server.db, 'hook-narrow', `system/Observation.rs?category=${CATEGORY}|survey system/Subscription.cruds`);
    const lab = await writeFor('pd', 'laboratory');
    const survey = await writeFor('pd', 'survey');
    await until(() => delivered(survey), 'survey delivery');
    await t.server.events.dispatcher.idle();
    expect(delivered(lab)).toBe(false);
    expect((await status(id)).status).toBe('active');

    await reregisterBackend(t.server.db, 'hook-narrow', 'system/Patient.rs system/Subscription.cruds');
    const obs = await writeFor('pd', 'survey');
    await expectTurnedOff(id, 'pd', obs, 'no-grant');
  });
});
