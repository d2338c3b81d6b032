import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/harness.ts';
import { startReceiver, type Receiver } from '../events/test-receiver.ts';
import { runCli } from './cli.ts';

describe('haven events dead-letters | replay (through the running server)', () => {
  let t: TestServer;
  let rx: Receiver;
  beforeAll(async () => {
    t = await startTestServer({
      HAVEN_SUBSCRIPTION_ALLOW_HTTP: 'true',
      HAVEN_SUBSCRIPTION_ALLOW_LOOPBACK: 'true',
      HAVEN_EVENT_POLL_MS: '100',
      HAVEN_DELIVERY_RETRY_BASE_MS: '20',
      HAVEN_DELIVERY_RETRY_MAX_MS: '40',
      HAVEN_DELIVERY_MAX_ATTEMPTS: '2',
    });
    rx = await startReceiver();
  });
  afterAll(async () => {
    await rx.close();
    await t.stop();
  });

  async function haven(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const env = { DATA_DIR: t.config.dataDir, ...(t.config.databaseUrl ? { DATABASE_URL: t.config.databaseUrl } : {}) };
    const code = await runCli(argv, env, {
      stdout: {
        write: (x: string) => {
          out += x;
          return true;
        },
        isTTY: false,
      },
      stderr: {
        write: (x: string) => {
          err += x;
          return true;
        },
        isTTY: false,
      },
    });
    return { code, out, err };
  }

  it('lists a dead-lettered notification without data, replays it on request, and records the result', async () => {
    const sub = await t.req('/fhir/Subscription', {
      method: 'POST',
      json: {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'x',
        criteria: 'Patient?family=Replay',
        channel: { type: 'rest-hook', endpoint: rx.url, payload: 'application/fhir+json' },
      },
    });
    await rx.waitFor((r) => r.some((x) => x.type === 'handshake'));
    await t.server.events.dispatcher.idle();
    rx.down = true;
    const p = await t.req('/fhir/Patient', {
      method: 'POST',
      json: { resourceType: 'Patient', name: [{ family: 'Replay', given: ['Secretname'] }] },
    });
    await t.server.events.dispatcher.idle();
    const listed = await haven(['events', 'dead-letters']);
    expect(listed.code, listed.err).toBe(0);
    expect(listed.out).toContain(`sub:${sub.body.id}`);
    expect(listed.out).toContain(`Patient/${p.body.id}`);
    expect(listed.out).toContain('HTTP 503');
    expect(listed.out).not.toContain('Secretname');

    rx.down = false;
    const replay = await haven(['events', 'replay', '--consumer', `sub:${sub.body.id}`]);
    expect(replay.code, replay.err).toBe(0);
    expect(replay.out).toMatch(/^1 dead letter/);
    await rx.waitFor(() => rx.events().length >= 1);
    expect(rx.events()[0].eventNumbers).toEqual([1]);
    const after = await haven(['events', 'dead-letters', '--replayed', '--json']);
    expect(JSON.parse(after.out)[0]).toMatchObject({ consumer: `sub:${sub.body.id}`, replayResult: 'done' });
    expect(JSON.parse((await haven(['events', 'dead-letters', '--json'])).out)).toEqual([]);
    expect((await haven(['events', 'replay', '--consumer', 'nonsense'])).code).toBe(2);
  });

  it('lists bot runs: which bot, which event, outcome', async () => {
    await t.req('/fhir/QuestionnaireResponse', {
      method: 'POST',
      json: {
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        questionnaire: 'https://example.org/Questionnaire/other',
        subject: { reference: 'Patient/x' },
      },
    });
    await t.server.events.dispatcher.idle();
    const runs = await haven(['events', 'bot-runs', '--bot', 'score', '--json']);
    expect(runs.code, runs.err).toBe(0);
    expect(JSON.parse(runs.out)[0]).toMatchObject({
      bot: 'score',
      outcome: 'succeeded',
      detail: expect.stringMatching(/^not scored: https:\/\/example\.org\/Questionnaire\/other /),
    });
    const text = await haven(['events', 'bot-runs', '--outcome', 'succeeded']);
    expect(text.out).toMatch(/default score #\d+ succeeded attempts=1/);
    expect((await haven(['events', 'bot-runs', '--outcome', 'maybe'])).code).toBe(2);
  });
});
