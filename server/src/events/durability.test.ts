/**
 * Durability of the outbox with real server processes (issue 4): a server killed with `kill -9` in the middle of
 * dispatch loses nothing once restarted (rest-hook notifications: at least once, so after dropping repeats by
 * event number the receiver has every number, in order; bot effects: exactly once), and two servers on one
 * PostgreSQL database share the work without duplicate bot effects or duplicate notifications.
 *
 * PGlite belongs to the process that opened it, so on embedded storage the test reads the database only after
 * the child has stopped; on PostgreSQL it reads it directly while the children run.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bundle, BundleEntry, Observation, Parameters, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { instruments } from '../../../bots/instruments-registry.ts';
import { phqLikeResponse } from '../../../bots/test-support/responses.ts';
import type { Db } from '../store/db.ts';
import { openDatabase } from '../store/open-db.ts';
import { createScratchStorage, type ScratchStorage } from '../test-support/harness.ts';
import { logEvents, startChildServer, type ChildServer } from './test-process.ts';

const ON_POSTGRES = Boolean(process.env.DATABASE_URL);
const STORAGE = ON_POSTGRES ? 'PostgreSQL' : 'PGlite';
/** On PostgreSQL a killed process keeps its leases until they expire (30 s, dispatcher.ts), so allow for that. */
const RESUME_TIMEOUT_MS = 75_000;
const TOTAL_CODE = instruments().all().find((i) => i.id === 'phq-9')?.totalCode?.code as string;
const RISK_TASK_CODE = 'https://haven.health/fhir/CodeSystem/haven-task|suicide-risk-review';

// ---------------------------------------------------------------------------------------------------------------
// Test plumbing: every child and every scratch database is cleaned up after each test, whatever happened.

const children: ChildServer[] = [];
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill()));
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
});

async function scratch(): Promise<ScratchStorage> {
  const storage = await createScratchStorage();
  cleanups.push(() => storage.drop());
  return storage;
}

async function child(storage: ScratchStorage, name: string): Promise<ChildServer> {
  const c = await startChildServer({ storage, name });
  children.push(c);
  return c;
}

/** Opens the scratch database in this process (on PGlite only while no child runs on it). */
async function inspect<T>(storage: ScratchStorage, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** Polls `check` until it returns true; no fixed sleeps. */
async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** True when every consumer of the database has handled every event (PostgreSQL: read while children run). */
async function caughtUp(db: Db): Promise<boolean> {
  const { rows } = await db.query<{ behind: number }>(
    `SELECT count(*)::int AS behind FROM haven_consumers c JOIN haven_event_counters ec ON ec.tenant = c.tenant WHERE c.cursor < ec.last_seq`);
  return rows[0]?.behind === 0;
}

// ---------------------------------------------------------------------------------------------------------------
// A rest-hook receiver that answers slowly, so that dispatch is still in flight when the server is killed.

interface Arrival { readonly eventNumber: number; readonly focus: string; readonly phase: string }

interface SlowReceiver {
  readonly url: string;
  readonly arrivals: Arrival[];
  handshakes: number;
  /** Label stored with each arrival (e.g. `before-kill`, `after-restart`). */
  phase: string;
  /** Event numbers in order of first arrival (repeats dropped, as a receiver deduplicating by number would). */
  firstArrivals(): number[];
  close(): Promise<void>;
}

async function startSlowReceiver(delayMs: number): Promise<SlowReceiver> {
  const rx: SlowReceiver = {
    url: '', arrivals: [], handshakes: 0, phase: 'start',
    firstArrivals() {
      const seen = new Set<number>();
      return rx.arrivals.map((a) => a.eventNumber).filter((n) => !seen.has(n) && seen.add(n));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((req, res) => {
    res.on('error', () => undefined); // the sender was killed mid-request
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const bundle = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Bundle;
      const params = (bundle.entry?.[0]?.resource as Parameters | undefined)?.parameter ?? [];
      const type = params.find((p) => p.name === 'type')?.valueCode;
      if (type === 'handshake') rx.handshakes++;
      for (const e of params.filter((p) => p.name === 'notification-event')) {
        rx.arrivals.push({
          eventNumber: Number(e.part?.find((x) => x.name === 'event-number')?.valueString),
          focus: e.part?.find((x) => x.name === 'focus')?.valueReference?.reference ?? '',
          phase: rx.phase,
        });
      }
      setTimeout(() => { if (!res.destroyed) res.writeHead(200).end(); }, type === 'event-notification' ? delayMs : 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  (rx as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  cleanups.push(() => rx.close());
  return rx;
}

// ---------------------------------------------------------------------------------------------------------------
// FHIR helpers.

/** Creates a rest-hook Subscription and waits until its handshake went through and it is active. */
async function subscribe(server: ChildServer, rx: SlowReceiver, criteria: string): Promise<string> {
  const created = await server.req('/fhir/Subscription', {
    method: 'POST',
    json: { resourceType: 'Subscription', status: 'requested', reason: 'durability', criteria, channel: { type: 'rest-hook', endpoint: rx.url, payload: 'application/fhir+json' } },
  });
  expect(created.status, created.text).toBe(201);
  const id = created.body.id as string;
  await waitUntil('the Subscription is active', async () => (await server.req(`/fhir/Subscription/${id}`)).body?.status === 'active', 20_000);
  expect(rx.handshakes).toBeGreaterThanOrEqual(1);
  return id;
}

/** Posts a transaction Bundle and returns the created `Type/id` of each entry, in entry order. */
async function transaction(server: ChildServer, entries: BundleEntry[]): Promise<string[]> {
  const res = await server.req('/fhir', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry: entries } });
  expect(res.status, res.text.slice(0, 500)).toBe(200);
  return (res.body as Bundle).entry!.map((e) => e.response?.location?.split('/_history')[0]?.split('/').slice(-2).join('/') ?? '');
}

/** PHQ-9 answers: item 9 answered 1 escalates (a risk Task); a low total with item 9 = 0 does not. */
const RISKY = [0, 0, 0, 0, 0, 0, 0, 0, 1];
const CALM = [1, 0, 0, 0, 0, 0, 0, 0, 0];

/** Patients `prefix-0…` (one response each, so no "rise since last score") and their PHQ-9 responses; odd ones risky. */
function responseEntries(prefix: string, n: number): { patients: BundleEntry[]; responses: BundleEntry[]; risky: Set<string> } {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  return {
    patients: ids.map((id) => ({ request: { method: 'PUT', url: `Patient/${id}` }, resource: { resourceType: 'Patient', id } })),
    responses: ids.map((id, i) => ({ request: { method: 'POST', url: 'QuestionnaireResponse' }, resource: phqLikeResponse('phq-9', id, i % 2 ? RISKY : CALM) })),
    risky: new Set(ids.filter((_, i) => i % 2).map((id) => `Patient/${id}`)),
  };
}

async function searchAll<T>(server: ChildServer, query: string): Promise<T[]> {
  const res = await server.req(`/fhir/${query}&_count=1000`);
  expect(res.status, res.text.slice(0, 300)).toBe(200);
  return ((res.body as Bundle).entry ?? []).map((e) => e.resource as T);
}

/** Total-score Observations per response id, and risk Tasks (parents, not checklist children) per patient. */
async function botEffects(server: ChildServer): Promise<{ totals: Map<string, number>; riskTasks: Map<string, number> }> {
  const totals = new Map<string, number>();
  for (const o of await searchAll<Observation>(server, `Observation?code=http://loinc.org|${TOTAL_CODE}`)) {
    const qr = o.derivedFrom?.[0]?.reference ?? '';
    totals.set(qr, (totals.get(qr) ?? 0) + 1);
  }
  const riskTasks = new Map<string, number>();
  for (const t of await searchAll<Task>(server, `Task?code=${RISK_TASK_CODE}`)) {
    const patient = t.for?.reference ?? '';
    riskTasks.set(patient, (riskTasks.get(patient) ?? 0) + 1);
  }
  return { totals, riskTasks };
}

/** Outbox numbers of the responses' create events, and the bot runs recorded for them. */
async function runsOf(db: Db, responses: readonly string[]): Promise<{ seqs: number[]; runs: { bot: string; seq: number; outcome: string; attempts: number }[] }> {
  const { rows: events } = await db.query<{ seq: number }>(
    `SELECT seq FROM haven_events WHERE tenant = 'default' AND resource_type = 'QuestionnaireResponse' AND interaction = 'create'
       AND resource_id = ANY($1::text[]) ORDER BY seq`, [responses.map((r) => r.split('/')[1])]);
  const seqs = events.map((e) => Number(e.seq));
  const { rows: runs } = await db.query<{ bot: string; seq: number; outcome: string; attempts: number }>(
    `SELECT bot, seq, outcome, attempts FROM haven_bot_runs WHERE tenant = 'default' AND seq = ANY($1::bigint[]) ORDER BY bot, seq`, [seqs]);
  return { seqs, runs: runs.map((r) => ({ ...r, seq: Number(r.seq) })) };
}

/** Asserts one total per response, one risk Task per risky patient and none for the others. */
function expectEffectsOnce(effects: Awaited<ReturnType<typeof botEffects>>, responses: readonly string[], risky: ReadonlySet<string>, patients: readonly string[]): void {
  expect(responses.map((r) => effects.totals.get(r) ?? 0)).toEqual(responses.map(() => 1));
  expect(effects.totals.size).toBe(responses.length);
  expect(patients.map((p) => effects.riskTasks.get(p) ?? 0)).toEqual(patients.map((p) => (risky.has(p) ? 1 : 0)));
}

/** Asserts exactly one `succeeded` run of each after-commit bot per response event. */
function expectRunsOnce({ seqs, runs }: Awaited<ReturnType<typeof runsOf>>, count: number): void {
  expect(seqs).toHaveLength(count);
  for (const bot of ['risk', 'score']) {
    expect(runs.filter((r) => r.bot === bot).map((r) => [r.seq, r.outcome]), `runs of ${bot}`).toEqual(seqs.map((s) => [s, 'succeeded']));
  }
}

// ---------------------------------------------------------------------------------------------------------------

describe(`a server killed with kill -9 mid-dispatch loses nothing after restart (${STORAGE})`, () => {
  it('rest-hook: after dropping repeats by event number, the receiver has 1..N in order of first arrival', async () => {
    const N = 40;
    const storage = await scratch();
    const rx = await startSlowReceiver(50);
    const first = await child(storage, 'first');
    await subscribe(first, rx, 'Patient?family=Durable');
    const created = await transaction(first, Array.from({ length: N }, (_, i) => ({
      request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family: 'Durable', given: [`n${i}`] }] },
    })));
    await waitUntil('some notifications arrived', () => rx.firstArrivals().length >= 5, 20_000);
    await first.kill();
    rx.phase = 'after-kill';
    const beforeRestart = rx.firstArrivals().length;
    expect(beforeRestart, 'the kill must land mid-dispatch').toBeLessThan(N);

    const second = await child(storage, 'second');
    await waitUntil('every event number arrived', () => rx.firstArrivals().length >= N, RESUME_TIMEOUT_MS);
    expect(rx.firstArrivals()).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    // Repeats carry the same event: one focus per number, and the N focuses are the N created Patients.
    const focusOf = new Map<number, Set<string>>();
    for (const a of rx.arrivals) focusOf.set(a.eventNumber, (focusOf.get(a.eventNumber) ?? new Set()).add(a.focus.split('/').slice(-2).join('/')));
    expect([...focusOf.values()].every((s) => s.size === 1)).toBe(true);
    expect(new Set([...focusOf.values()].map((s) => [...s][0]))).toEqual(new Set(created));
    expect(rx.arrivals.some((a) => a.phase === 'after-kill'), 'the restarted server delivered the rest').toBe(true);
    const repeats = rx.arrivals.length - N;
    console.info(`[durability ${STORAGE}] rest-hook: ${beforeRestart}/${N} numbers before kill -9, ${repeats} repeat(s) after restart`);

    await second.stop();
    // The data directory (or database) is sound after a kill and a restart: it opens and its outbox is consistent.
    await inspect(storage, async (db) => {
      const { rows } = await db.query<{ n: number; last: number }>(
        `SELECT count(*)::int AS n, (SELECT last_seq FROM haven_event_counters WHERE tenant = 'default') AS last FROM haven_events WHERE tenant = 'default'`);
      expect(rows[0].n).toBe(Number(rows[0].last));
      expect(await caughtUp(db)).toBe(true);
    });
  }, 150_000);

  it('bots: every response has exactly one total score, one risk Task where expected, one succeeded run per (bot, event)', async () => {
    const N = 30;
    const storage = await scratch();
    const first = await child(storage, 'first');
    const { patients, responses: entries, risky } = responseEntries('kill', N);
    await transaction(first, patients);
    const responses = await transaction(first, entries);
    await waitUntil('the score bot is under way', async () => (await botEffects(first)).totals.size >= 2, 30_000);
    await first.kill();
    const ranBeforeKill = logEvents(first, 'bots.run').length;
    expect(ranBeforeKill, 'the kill must land while bots run').toBeLessThan(2 * N);

    const second = await child(storage, 'second');
    const patientRefs = patients.map((p) => `Patient/${(p.resource as { id: string }).id}`);
    await waitUntil('every response is scored and assessed', async () => {
      const e = await botEffects(second);
      return e.totals.size >= N && [...risky].every((p) => e.riskTasks.has(p));
    }, RESUME_TIMEOUT_MS);
    if (ON_POSTGRES) await inspect(storage, (db) => waitUntil('the consumers caught up', () => caughtUp(db), 30_000));
    expectEffectsOnce(await botEffects(second), responses, risky, patientRefs);
    const ranAfterRestart = logEvents(second, 'bots.run').length;
    expect(ranAfterRestart, 'the restarted server ran what was left').toBeGreaterThan(0);
    const k = (s: ChildServer) => logEvents(s, "bots.run").map((l) => `${String(l.bot)}#${String(l.seq)}`); console.info("FIRST", k(first).join(" "), "\nSECOND", k(second).join(" "), "\nOTHER", second.logs.filter((l) => l.event !== "bots.run").map((l) => JSON.stringify(l)).join("\n"));
    console.info(`[durability ${STORAGE}] bots: ${ranBeforeKill} run(s) logged before kill -9, ${ranAfterRestart} after restart (of ${2 * N})`);

    await second.stop();
    await inspect(storage, async (db) => expectRunsOnce(await runsOf(db, responses), N));
  }, 150_000);
});

describe.skipIf(!ON_POSTGRES)('two server processes on one PostgreSQL database (PostgreSQL only: skipped without DATABASE_URL)', () => {
  it('bots: responses written alternately to both give one total, one risk Task where expected, one succeeded run each', async () => {
    const N = 30;
    const storage = await scratch();
    // One after the other: the second finds the schema migrated and the instruments installed.
    const a = await child(storage, 'a');
    const b = await child(storage, 'b');
    const { patients, responses: entries, risky } = responseEntries('two', N);
    await transaction(a, patients);
    const responses: string[] = [];
    for (const [i, e] of entries.entries()) {
      const res = await (i % 2 ? b : a).req('/fhir/QuestionnaireResponse', { method: 'POST', json: e.resource as QuestionnaireResponse });
      expect(res.status, res.text.slice(0, 300)).toBe(201);
      responses.push(`QuestionnaireResponse/${res.body.id}`);
    }
    await inspect(storage, async (db) => {
      await waitUntil('both processes are idle', () => caughtUp(db), 60_000);
      expectRunsOnce(await runsOf(db, responses), N);
    });
    expectEffectsOnce(await botEffects(a), responses, risky, patients.map((p) => `Patient/${(p.resource as { id: string }).id}`));
    // Each committed run logs one `bots.run`: across both processes, exactly one per (bot, event).
    const ranA = logEvents(a, 'bots.run').filter((l) => responses.length && l.tenant === 'default');
    const ranB = logEvents(b, 'bots.run').filter((l) => l.tenant === 'default');
    const keys = [...ranA, ...ranB].map((l) => `${String(l.bot)}#${String(l.seq)}`).filter((k) => /^(score|risk)#/.test(k));
    expect(new Set(keys).size).toBe(keys.length);
    // Work sharing is per consumer (a bot), not per event, and not promised: reported, not asserted.
    console.info(`[durability PostgreSQL] two processes: bot runs a=${ranA.length} b=${ranB.length}`
      + ` (score a=${ranA.filter((l) => l.bot === 'score').length}, risk a=${ranA.filter((l) => l.bot === 'risk').length})`);
  }, 120_000);

  it('rest-hook: with both processes running, every event number arrives once and in order', async () => {
    const N = 30;
    const storage = await scratch();
    const rx = await startSlowReceiver(0);
    const a = await child(storage, 'a');
    const b = await child(storage, 'b');
    await subscribe(a, rx, 'Patient?family=Shared');
    for (let i = 0; i < N; i++) {
      const res = await (i % 2 ? b : a).req('/fhir/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Shared', given: [`n${i}`] }] } });
      expect(res.status).toBe(201);
    }
    await waitUntil('every event number arrived', () => rx.firstArrivals().length >= N, 30_000);
    await inspect(storage, (db) => waitUntil('both processes are idle', () => caughtUp(db), 30_000));
    expect(rx.arrivals.map((a) => a.eventNumber)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    const delivered = (s: ChildServer): number => logEvents(s, 'subscriptions.status').length;
    console.info(`[durability PostgreSQL] rest-hook with two processes: ${rx.arrivals.length} notifications for ${N} events (status writes a=${delivered(a)} b=${delivered(b)})`);
  }, 120_000);
});
