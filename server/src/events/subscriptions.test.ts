import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Bundle, Parameters } from '@medplum/fhirtypes';
import { startTestServer, type TestServer } from '../test-support/harness.ts';
import { as, principalFromTestHeader, type TestToken } from '../policy/test-principal.ts';
import { DELIVERY_FAILED_ERROR } from './subscription-delivery.ts';
import { backendClient } from './test-clients.ts';
import { startReceiver, type Receiver } from './test-receiver.ts';

/** Fast retries and polling so that the receiver-down cases run in a second or two. */
const EVENTS_ENV = {
  HAVEN_SUBSCRIPTION_ALLOW_HTTP: 'true',
  HAVEN_SUBSCRIPTION_ALLOW_LOOPBACK: 'true',
  HAVEN_EVENT_POLL_MS: '100',
  HAVEN_DELIVERY_RETRY_BASE_MS: '50',
  HAVEN_DELIVERY_RETRY_MAX_MS: '200',
  HAVEN_DELIVERY_MAX_ATTEMPTS: '6',
  HAVEN_DELIVERY_TIMEOUT_MS: '2000',
};

function subscription(endpoint: string, criteria: string, extra: object = {}): object {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'test',
    criteria,
    channel: {
      type: 'rest-hook',
      endpoint,
      payload: 'application/fhir+json',
      header: ['Authorization: Bearer receiver-secret'],
      _payload: {
        extension: [
          { url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content', valueCode: 'full-resource' },
        ],
      },
    },
    ...extra,
  };
}

function observation(patient: string, code = '44261-6', category = 'survey'): object {
  return {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code }] },
    subject: { reference: `Patient/${patient}` },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
  };
}

async function waitForStatus(t: TestServer, id: string, status: string, headers: Record<string, string> = {}): Promise<any> {
  const until = Date.now() + 15_000;
  for (;;) {
    const res = await t.req(`/fhir/Subscription/${id}`, { headers });
    if (res.body?.status === status) return res.body;
    if (Date.now() > until) throw new Error(`Subscription ${id} did not become ${status} (is ${res.body?.status})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('R4 Subscriptions (rest-hook)', () => {
  let t: TestServer;
  let rx: Receiver;
  beforeAll(async () => {
    t = await startTestServer(EVENTS_ENV);
    rx = await startReceiver();
  });
  afterAll(async () => {
    await rx.close();
    await t.stop();
  });

  it('handshakes, activates, and notifies matching writes in order with Backport bundles and event numbers', async () => {
    const created = await t.req('/fhir/Subscription', {
      method: 'POST',
      json: subscription(rx.url, 'Observation?code=http://loinc.org|44261-6'),
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await rx.waitFor((r) => r.some((x) => x.type === 'handshake'));
    expect(rx.received[0].headers.authorization).toBe('Bearer receiver-secret');
    await waitForStatus(t, id, 'active');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const o = await t.req('/fhir/Observation', { method: 'POST', json: observation('p1') });
      ids.push(o.body.id);
      await t.req('/fhir/Observation', { method: 'POST', json: observation('p1', '1234-5') }); // does not match
    }
    await rx.waitFor(() => rx.events().length >= 5);
    const events = rx.events();
    expect(events.map((e) => e.eventNumbers[0])).toEqual([1, 2, 3, 4, 5]);
    expect(events.map((e) => e.focus[0].split('/').pop())).toEqual(ids);
    const bundle = events[0].bundle;
    expect(bundle.type).toBe('history');
    expect(bundle.entry?.[1]?.resource?.resourceType).toBe('Observation'); // full-resource
    const status = bundle.entry?.[0]?.resource as Parameters;
    expect(status.meta?.profile?.[0]).toMatch(/backport-subscription-status-r4$/);

    const st = await t.req(`/fhir/Subscription/${id}/$status`);
    expect(st.status).toBe(200);
    const params = (st.body as Bundle).entry?.[0]?.resource as Parameters;
    expect(params.parameter?.find((p) => p.name === 'events-since-subscription-start')?.valueString).toBe('5');

    const replay = await t.req(`/fhir/Subscription/${id}/$events?eventsSinceNumber=2&eventsUntilNumber=3&content=id-only`);
    expect(replay.status).toBe(200);
    const replayStatus = (replay.body as Bundle).entry?.[0]?.resource as Parameters;
    const numbers = replayStatus.parameter
      ?.filter((p) => p.name === 'notification-event')
      .map((p) => p.part?.find((x) => x.name === 'event-number')?.valueString);
    expect(numbers).toEqual(['2', '3']);
    expect((replay.body as Bundle).entry?.slice(1).every((e) => e.resource === undefined)).toBe(true);
  });

  it('a receiver that is down for a while receives everything, in order, afterwards', async () => {
    const down = await startReceiver();
    try {
      const created = await t.req('/fhir/Subscription', { method: 'POST', json: subscription(down.url, 'Patient?family=Downtime') });
      await down.waitFor((r) => r.some((x) => x.type === 'handshake'));
      await waitForStatus(t, created.body.id, 'active');
      down.down = true;
      for (let i = 0; i < 4; i++) {
        await t.req('/fhir/Patient', {
          method: 'POST',
          json: { resourceType: 'Patient', name: [{ family: 'Downtime', given: [`n${i}`] }] },
        });
      }
      // Down until delivery has failed twice (of the 6 attempts allowed), then up again.
      const until = Date.now() + 10_000;
      for (;;) {
        const { rows } = await t.server.db.query<{ attempts: number }>(`SELECT attempts FROM haven_consumers WHERE consumer = $1`, [
          `sub:${created.body.id}`,
        ]);
        if ((rows[0]?.attempts ?? 0) >= 2 || Date.now() > until) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      down.down = false;
      await down.waitFor(() => down.events().length >= 4);
      expect(down.events().map((e) => e.eventNumbers[0])).toEqual([1, 2, 3, 4]);
    } finally {
      await down.close();
    }
  });

  it('gives up after the retries: dead letter, Subscription in error, then recovers on the next delivery', async () => {
    const flaky = await startReceiver();
    try {
      const created = await t.req('/fhir/Subscription', { method: 'POST', json: subscription(flaky.url, 'Patient?family=Deadletter') });
      const id = created.body.id as string;
      await flaky.waitFor((r) => r.some((x) => x.type === 'handshake'));
      await waitForStatus(t, id, 'active');
      flaky.down = true;
      await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Deadletter' }] } });
      const errored = await waitForStatus(t, id, 'error');
      // The subscriber learns that delivery failed, not how (no status code, no connection error): the detail is in
      // the dead-letter list and the server log.
      expect(errored.error).toBe(DELIVERY_FAILED_ERROR);
      const { rows } = await t.server.db.query<{ consumer: string; attempts: number; error: string }>(
        `SELECT consumer, attempts, error FROM haven_dead_letters WHERE consumer = $1`,
        [`sub:${id}`],
      );
      expect(rows).toEqual([{ consumer: `sub:${id}`, attempts: 6, error: 'HTTP 503' }]);
      flaky.down = false;
      await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Deadletter' }] } });
      await flaky.waitFor(() => flaky.events().length >= 1);
      // The dead-lettered event kept number 1; the next one is 2, so the receiver sees the gap and can call $events.
      expect(flaky.events()[0].eventNumbers).toEqual([2]);
      await waitForStatus(t, id, 'active');
    } finally {
      await flaky.close();
    }
  });

  it('refuses malformed subscriptions with a 400 that says why', async () => {
    const cases: [object, RegExp][] = [
      [subscription(rx.url, 'Observation?nonsense-param=1'), /nonsense-param/i],
      [subscription(rx.url, 'not a criteria'), /criteria/i],
      [subscription(rx.url, 'Observation?date=notadate'), /date|invalid/i],
      [
        { ...subscription(rx.url, 'Observation?code=1'), channel: { type: 'email', endpoint: 'mailto:a@b.c' } },
        /"email\\?" is not supported; Haven delivers/,
      ],
      [subscription('ftp://example.org/x', 'Observation?code=1'), /endpoint/i],
      [subscription('https://user:pw@example.org/x', 'Observation?code=1'), /credentials/i],
      // HAVEN_SUBSCRIPTION_ALLOW_LOOPBACK opens loopback only, not the private network or metadata.
      [subscription('http://10.0.0.1/x', 'Observation?code=1'), /does not call/],
      [subscription('http://169.254.169.254/latest/meta-data/', 'Observation?code=1'), /does not call/],
      [
        { ...subscription(rx.url, 'Observation?code=1'), channel: { type: 'rest-hook', endpoint: rx.url, header: ['NoColonHere'] } },
        /header/i,
      ],
      [
        { ...subscription(rx.url, 'Observation?code=1'), channel: { type: 'rest-hook', endpoint: rx.url, payload: 'application/xml' } },
        /payload/i,
      ],
    ];
    for (const [body, message] of cases) {
      const res = await t.req('/fhir/Subscription', { method: 'POST', json: body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(res.body.issue)).toMatch(message);
    }
  });

  it('an unreachable endpoint is a recorded failure (Subscription error), never a stuck queue', async () => {
    const created = await t.req('/fhir/Subscription', {
      method: 'POST',
      json: subscription('http://127.0.0.1:9/unreachable', 'Patient?family=Nobody'),
    });
    expect(created.status).toBe(201);
    const errored = await waitForStatus(t, created.body.id, 'error');
    // Neither the Subscription nor $status says "connection refused" (nor timeout, nor a status): that would make a
    // rest-hook endpoint a port scanner. The reason is recorded server-side.
    expect(errored.error).toBe(DELIVERY_FAILED_ERROR);
    const status = await t.req(`/fhir/Subscription/${created.body.id}/$status`);
    expect(JSON.stringify(status.body)).not.toMatch(/ECONNREFUSED|refused|timeout|handshake|HTTP \d/i);
    const { rows } = await t.server.db.query<{ error: string }>(`SELECT error FROM haven_dead_letters WHERE consumer = $1`, [
      `sub:${created.body.id}`,
    ]);
    expect(rows[0]?.error).toBe('handshake: ECONNREFUSED');
    expect(t.logs.some((l) => l.event === 'events.dead_letter' && l.error === 'handshake: ECONNREFUSED')).toBe(true);
    // Other consumers keep flowing.
    const o = await t.req('/fhir/Observation', { method: 'POST', json: observation('p2') });
    await rx.waitFor(() => rx.events().some((e) => e.focus[0]?.endsWith(`/Observation/${o.body.id}`)));
  });
});

describe('Subscriptions deliver only what their creator may read', () => {
  let t: TestServer;
  let rx: Receiver;
  const admin: TestToken = { scopes: 'system/*.cruds' };
  // A partner allowed to read survey Observations only (SMART §Finer-grained resource constraints).
  const surveysOnly: TestToken = {
    scopes: 'system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|survey system/Subscription.cruds',
    clientId: 'partner',
    subject: 'partner',
  };
  beforeAll(async () => {
    t = await startTestServer({ ...EVENTS_ENV, HAVEN_AUTH: '' }, { authenticate: principalFromTestHeader });
    rx = await startReceiver();
    // Delivery checks that the owner's client is still registered, and cuts its scopes to the registration.
    await backendClient(t.server.db, 'partner', surveysOnly.scopes as string);
  });
  afterAll(async () => {
    await rx.close();
    await t.stop();
  });

  it('a subscription never notifies a resource its creator may not read', async () => {
    for (const id of ['pa', 'pb']) {
      await t.req(`/fhir/Patient/${id}`, { method: 'PUT', json: { resourceType: 'Patient', id }, headers: as(admin) });
    }
    const created = await t.req('/fhir/Subscription', {
      method: 'POST',
      json: subscription(rx.url, 'Observation?code=http://loinc.org|44261-6'),
      headers: as(surveysOnly),
    });
    expect(created.status).toBe(201);
    await waitForStatus(t, created.body.id, 'active', as(admin));
    const b = await t.req('/fhir/Observation', { method: 'POST', json: observation('pb', '44261-6', 'laboratory'), headers: as(admin) });
    const a = await t.req('/fhir/Observation', { method: 'POST', json: observation('pa', '44261-6', 'survey'), headers: as(admin) });
    await rx.waitFor(() => rx.events().length >= 1);
    await t.server.events.dispatcher.idle();
    const seen = rx.events().flatMap((e) => e.focus);
    expect(seen.some((f) => f.endsWith(`/Observation/${a.body.id}`))).toBe(true);
    expect(seen.some((f) => f.endsWith(`/Observation/${b.body.id}`))).toBe(false);
    expect(JSON.stringify(rx.received)).not.toContain(b.body.id);
  });
});

describe('R4 Subscriptions (websocket)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(EVENTS_ENV);
  });
  afterAll(async () => {
    await t.stop();
  });

  it('binds with a token from $get-ws-binding-token and receives notifications; a bad token is refused', async () => {
    const created = await t.req('/fhir/Subscription', {
      method: 'POST',
      json: {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'ws',
        criteria: 'Patient?family=Socket',
        channel: { type: 'websocket', payload: 'application/fhir+json' },
      },
    });
    expect(created.status).toBe(201);
    await waitForStatus(t, created.body.id, 'active').catch(async () => {
      // websocket subscriptions activate on their first event; make one
      await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Other' }] } });
      await waitForStatus(t, created.body.id, 'active');
    });
    const tokenRes = await t.req(`/fhir/Subscription/${created.body.id}/$get-ws-binding-token`);
    expect(tokenRes.status).toBe(200);
    const params = (tokenRes.body as Parameters).parameter ?? [];
    const token = params.find((p) => p.name === 'token')?.valueString as string;
    const url = params.find((p) => p.name === 'websocket-url')?.valueUrl as string;
    expect(url).toMatch(/^ws:\/\/.*\/ws\/subscriptions$/);

    const messages: Bundle[] = [];
    const ws = new WebSocket(url);
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    ws.on('message', (data) => messages.push(JSON.parse(String(data)) as Bundle));
    ws.send(`bind-with-token ${token}`);
    const typeOf = (b: Bundle): string | undefined =>
      (b.entry?.[0]?.resource as Parameters | undefined)?.parameter?.find((p) => p.name === 'type')?.valueCode;
    const until = Date.now() + 10_000;
    while (!messages.some((m) => typeOf(m) === 'handshake') && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Socket' }] } });
    while (!messages.some((m) => typeOf(m) === 'event-notification') && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    expect(messages.some((m) => typeOf(m) === 'event-notification')).toBe(true);
    ws.close();

    const bad = new WebSocket(url);
    await new Promise((r, j) => {
      bad.once('open', r);
      bad.once('error', j);
    });
    const closed = new Promise<number>((r) => bad.once('close', (code) => r(code)));
    bad.send('bind-with-token not-a-real-token');
    expect(await closed).toBe(1008);
  });

  it('$get-ws-binding-token on a rest-hook subscription is a 400', async () => {
    const created = await t.req('/fhir/Subscription', {
      method: 'POST',
      json: subscription('https://receiver.example.org/hook', 'Patient?family=X'),
    });
    const res = await t.req(`/fhir/Subscription/${created.body.id}/$get-ws-binding-token`);
    expect(res.status).toBe(400);
  });
});
