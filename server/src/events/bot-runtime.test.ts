import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/harness.ts';
import { TEST_BOTS, TEST_BOTS_MODULE } from './fixtures/test-bots.ts';

const ENV = {
  HAVEN_EVENT_POLL_MS: '100',
  HAVEN_DELIVERY_RETRY_BASE_MS: '20',
  HAVEN_DELIVERY_RETRY_MAX_MS: '50',
  HAVEN_DELIVERY_MAX_ATTEMPTS: '3',
};

describe('bot runtime', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(ENV, { botSet: { bots: TEST_BOTS, module: TEST_BOTS_MODULE, config: {} } });
  });
  afterAll(async () => {
    await t.stop();
  });

  async function runs(bot: string): Promise<{ seq: number; outcome: string; attempts: number; detail: string }[]> {
    await t.server.events.dispatcher.idle();
    const { rows } = await t.server.db.query<{ seq: number; outcome: string; attempts: number; detail: string }>(
      `SELECT seq, outcome, attempts, detail FROM haven_bot_runs WHERE bot = $1 ORDER BY seq`,
      [bot],
    );
    return rows;
  }

  async function patient(family: string): Promise<string> {
    const res = await t.req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family }] } });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  it('runs after commit, writes through the repository as itself, and records the run; an update updates, never duplicates', async () => {
    const id = await patient('Echo');
    await t.server.events.dispatcher.idle();
    await t.req(`/fhir/Patient/${id}`, {
      method: 'PUT',
      json: { resourceType: 'Patient', id, name: [{ family: 'Echo' }], gender: 'other' },
    });
    const recorded = await runs('echo');
    expect(recorded.map((r) => r.outcome)).toEqual(['succeeded', 'succeeded']);
    expect(recorded[0].detail).toBe('echoed');
    const obs = await t.req(`/fhir/Observation?identifier=https://haven.health/fhir/sid/test-bot|${id}`);
    expect(obs.body.entry).toHaveLength(1);
    expect(obs.body.entry[0].resource.code.text).toBe('echo of version 2');
    // The bot's write is itself an event, marked as the bot's: bots never react to their own writes.
    const { rows } = await t.server.db.query<{ actor: string; depth: number }>(
      `SELECT actor, depth FROM haven_events WHERE resource_type = 'Observation' AND resource_id = $1 ORDER BY seq`,
      [obs.body.entry[0].resource.id],
    );
    expect(rows[0]).toEqual({ actor: 'bot:echo', depth: 1 });
  });

  it('does not run for writes that do not match the trigger criteria', async () => {
    const before = (await runs('echo')).length;
    await patient('NotEcho');
    expect(await runs('echo')).toHaveLength(before);
  });

  it('retries a failing bot, then dead-letters the event and records it; the queue keeps moving', async () => {
    await patient('Throw');
    const recorded = await runs('thrower');
    expect(recorded).toHaveLength(1);
    expect(recorded[0].outcome).toBe('dead');
    expect(recorded[0].detail).toMatch(/deliberate failure/);
    const { rows } = await t.server.db.query(`SELECT seq FROM haven_dead_letters WHERE consumer = 'bot:thrower'`);
    expect(rows).toHaveLength(1);
    const id = await patient('Echo');
    await t.server.events.dispatcher.idle();
    const obs = await t.req(`/fhir/Observation?identifier=https://haven.health/fhir/sid/test-bot|${id}`);
    expect(obs.body.entry).toHaveLength(1);
  });

  it('stops a bot that loops at its time limit, records the failure, and keeps serving', async () => {
    await patient('Loop');
    const recorded = await runs('looper');
    expect(recorded[0].outcome).toBe('dead');
    expect(recorded[0].detail).toMatch(/timed out after 300 ms/);
    expect((await t.req('/fhir/metadata')).status).toBe(200);
  });

  it("refuses a bot's writes outside its scopes: nothing written, failure recorded", async () => {
    const id = await patient('Overreach');
    const recorded = await runs('overreach');
    expect(recorded[0].outcome).toBe('dead');
    expect(recorded[0].detail).toMatch(/403|scope/i);
    const cond = await t.req(`/fhir/Condition?subject=Patient/${id}`);
    expect(cond.body.entry ?? []).toHaveLength(0);
  });

  it('a bot that writes what triggers it runs once per outside write, not in a loop', async () => {
    await t.req('/fhir/Basic', { method: 'POST', json: { resourceType: 'Basic', code: { text: 'seed' } } });
    expect(await runs('self-loop')).toHaveLength(1);
    const all = await t.req('/fhir/Basic?_summary=count');
    expect(all.body.total).toBe(2);
  });

  it('bots that trigger each other stop at the cascade limit, recorded as a dead run', async () => {
    await t.req('/fhir/Basic', {
      method: 'POST',
      json: { resourceType: 'Basic', code: { coding: [{ system: 'https://haven.health/fhir/sid/test-bot', code: 'ping' }] } },
    });
    const recorded = [...(await runs('ping-bot')), ...(await runs('pong-bot'))];
    expect(recorded.filter((r) => r.outcome === 'succeeded')).toHaveLength(5);
    expect(recorded.filter((r) => r.outcome === 'dead').map((r) => r.detail)).toEqual([
      expect.stringMatching(/cascade depth 5 reached the limit of 5/),
    ]);
  });

  it('a veto bot refuses a write with an OperationOutcome and nothing is stored; a transaction with one refused entry stores nothing', async () => {
    const refused = await t.req('/fhir/Appointment', {
      method: 'POST',
      json: {
        resourceType: 'Appointment',
        status: 'proposed',
        description: 'forbidden visit',
        participant: [{ actor: { display: 'Dr. Test' }, status: 'needs-action' }],
      },
    });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    expect(refused.body.issue[0].diagnostics).toBe('Refused by no-forbidden-appointments: this appointment is forbidden');
    const ok = await t.req('/fhir/Appointment', {
      method: 'POST',
      json: {
        resourceType: 'Appointment',
        status: 'proposed',
        description: 'fine',
        participant: [{ actor: { display: 'Dr. Test' }, status: 'needs-action' }],
      },
    });
    expect(ok.status).toBe(201);
    const tx = await t.req('/fhir', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'InRefusedTx' }] } },
          {
            request: { method: 'POST', url: 'Appointment' },
            resource: {
              resourceType: 'Appointment',
              status: 'proposed',
              description: 'forbidden',
              participant: [{ actor: { display: 'Dr. Test' }, status: 'needs-action' }],
            },
          },
        ],
      },
    });
    expect(tx.status).toBeGreaterThanOrEqual(400);
    const p = await t.req('/fhir/Patient?family=InRefusedTx');
    expect(p.body.entry ?? []).toHaveLength(0);
  });
});
