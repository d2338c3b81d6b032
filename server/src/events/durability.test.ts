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
import type { Bundle, BundleEntry, Communication, Observation, Parameters, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { instruments } from '../../../bots/instruments-registry.ts';
import { phqLikeResponse } from '../../../bots/test-support/responses.ts';
import type { Db } from '../store/db.ts';
import { openDatabase } from '../store/open-db.ts';
import { createScratchStorage, type ScratchStorage } from '../test-support/harness.ts';
import { logEvents, startChildServer, type ChildServer } from './test-process.ts';

const ON_POSTGRES = Boolean(process.env.DATABASE_URL);
const STORAGE = ON_POSTGRES ? 'PostgreSQL' : 'PGlite';
/**
 * Deadlines of the waits below. They are safety nets, not measures: each wait polls and ends as soon as its
 * condition holds, so a generous deadline costs nothing on a quick machine and keeps a loaded one (the whole suite
 * on 2 vCPUs, where tight deadlines failed tests that passed alone) from failing for being slow.
 */
const WAIT_DEADLINE_MS = 180_000;
/** Per test: up to two child starts (../test-process.ts CHILD_READY_DEADLINE_MS) and several waits. */
const SLOW = { timeout: 600_000 };
/** On PostgreSQL a killed process keeps its leases until they expire (30 s, dispatcher.ts); the deadline allows for that. */
const RESUME_TIMEOUT_MS = WAIT_DEADLINE_MS;
/**
 * On PGlite the restarted process releases the dead one's leases at start (dispatcher.ts), so work resumes as
 * soon as the new child runs instead of when the 30 s lease runs out. Measured from the child's `server.ready`
 * (its dispatcher is running by then) so that a slow start on a busy machine does not count.
 */
const EMBEDDED_RESUME_MS = 15_000;
const TOTAL_CODE = instruments()
  .all()
  .find((i) => i.id === 'phq-9')?.totalCode?.code as string;
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
async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = WAIT_DEADLINE_MS): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** True when every consumer of the database has handled every event (PostgreSQL: read while children run). */
async function caughtUp(db: Db): Promise<boolean> {
  const { rows } = await db.query<{ behind: number }>(
    `SELECT count(*)::int AS behind FROM haven_consumers c JOIN haven_event_counters ec ON ec.tenant = c.tenant WHERE c.cursor < ec.last_seq`,
  );
  return rows[0]?.behind === 0;
}

// ---------------------------------------------------------------------------------------------------------------
// A rest-hook receiver that answers slowly, so that dispatch is still in flight when the server is killed.

interface Arrival {
  readonly eventNumber: number;
  readonly focus: string;
  readonly phase: string;
  readonly at: number;
}

interface SlowReceiver {
  readonly url: string;
  readonly arrivals: Arrival[];
  handshakes: number;
  /** Label stored with each arrival (`start`, then what the test sets, e.g. `after-kill`). */
  phase: string;
  /** Event numbers in order of first arrival (repeats dropped, as a receiver deduplicating by number would). */
  firstArrivals(): number[];
  close(): Promise<void>;
}

async function startSlowReceiver(delayMs: number): Promise<SlowReceiver> {
  const rx: SlowReceiver = {
    url: '',
    arrivals: [],
    handshakes: 0,
    phase: 'start',
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
      let bundle: Bundle;
      try {
        bundle = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Bundle;
      } catch {
        res.writeHead(400).end();
        return;
      }
      const params = (bundle.entry?.[0]?.resource as Parameters | undefined)?.parameter ?? [];
      const type = params.find((p) => p.name === 'type')?.valueCode;
      if (type === 'handshake') rx.handshakes++;
      for (const e of params.filter((p) => p.name === 'notification-event')) {
        rx.arrivals.push({
          eventNumber: Number(e.part?.find((x) => x.name === 'event-number')?.valueString),
          focus: e.part?.find((x) => x.name === 'focus')?.valueReference?.reference ?? '',
          phase: rx.phase,
          at: Date.now(),
        });
      }
      setTimeout(
        () => {
          if (!res.destroyed) res.writeHead(200).end();
        },
        type === 'event-notification' ? delayMs : 0,
      );
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
    json: {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'durability',
      criteria,
      channel: { type: 'rest-hook', endpoint: rx.url, payload: 'application/fhir+json' },
    },
  });
  expect(created.status, created.text).toBe(201);
  const id = created.body.id as string;
  await waitUntil('the Subscription is active', async () => (await server.req(`/fhir/Subscription/${id}`)).body?.status === 'active');
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
    responses: ids.map((id, i) => ({
      request: { method: 'POST', url: 'QuestionnaireResponse' },
      resource: phqLikeResponse('phq-9', id, i % 2 ? RISKY : CALM),
    })),
    risky: new Set(ids.filter((_, i) => i % 2).map((id) => `Patient/${id}`)),
  };
}

async function searchAll<T>(server: ChildServer, query: string): Promise<T[]> {
  const res = await server.req(`/fhir/${query}&_count=1000`);
  expect(res.status, res.text.slice(0, 300)).toBe(200);
  return ((res.body as Bundle).entry ?? []).map((e) => e.resource as T);
}

/** What the score and risk bots wrote: versions of each write, keyed by what they are about. */
interface BotEffects {
  /** Response reference → versionId of each total-score Observation derived from it. */
  readonly totals: Map<string, string[]>;
  /** Patient reference → versionId of each risk Task (the parents, not their checklist children) for it. */
  readonly riskTasks: Map<string, string[]>;
  /** Patient reference → how many 988 crisis-resource Communications it got (a POST per run: repeats would show). */
  readonly notices: Map<string, number>;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  map.set(key, [...(map.get(key) ?? []), value]);
}

async function botEffects(server: ChildServer): Promise<BotEffects> {
  const effects: BotEffects = { totals: new Map(), riskTasks: new Map(), notices: new Map() };
  for (const o of await searchAll<Observation>(server, `Observation?code=http://loinc.org|${TOTAL_CODE}`)) {
    push(effects.totals, o.derivedFrom?.[0]?.reference ?? '', o.meta?.versionId ?? '');
  }
  for (const t of await searchAll<Task>(server, `Task?code=${RISK_TASK_CODE}`))
    push(effects.riskTasks, t.for?.reference ?? '', t.meta?.versionId ?? '');
  for (const c of await searchAll<Communication>(server, 'Communication?')) {
    const patient = c.subject?.reference ?? '';
    effects.notices.set(patient, (effects.notices.get(patient) ?? 0) + 1);
  }
  return effects;
}

/**
 * Asserts that every bot effect happened once: one total per response, never rewritten (a repeated score run
 * would add a version), one risk Task per risky patient, never rewritten (a repeated risk run appends a note),
 * one 988 notice per risky patient (a repeated run posts another), and nothing for the calm patients.
 */
function expectEffectsOnce(
  effects: BotEffects,
  responses: readonly string[],
  patients: readonly string[],
  risky: ReadonlySet<string>,
): void {
  expect(responses.map((r) => effects.totals.get(r))).toEqual(responses.map(() => ['1']));
  expect(effects.totals.size).toBe(responses.length);
  expect(patients.map((p) => effects.riskTasks.get(p) ?? [])).toEqual(patients.map((p) => (risky.has(p) ? ['1'] : [])));
  expect(patients.map((p) => effects.notices.get(p) ?? 0)).toEqual(patients.map((p) => (risky.has(p) ? 1 : 0)));
}

/** Outbox numbers of the responses' create events, and the score and risk runs recorded for them. */
async function runsOf(
  db: Db,
  responses: readonly string[],
): Promise<{ seqs: number[]; runs: { bot: string; seq: number; outcome: string }[] }> {
  const { rows: events } = await db.query<{ seq: number }>(
    `SELECT seq FROM haven_events WHERE tenant = 'default' AND resource_type = 'QuestionnaireResponse' AND interaction = 'create'
       AND resource_id = ANY($1::text[]) ORDER BY seq`,
    [responses.map((r) => r.split('/')[1])],
  );
  const seqs = events.map((e) => Number(e.seq));
  const { rows: runs } = await db.query<{ bot: string; seq: number; outcome: string }>(
    `SELECT bot, seq, outcome FROM haven_bot_runs WHERE tenant = 'default' AND bot IN ('score', 'risk') AND seq = ANY($1::bigint[]) ORDER BY bot, seq`,
    [seqs],
  );
  return { seqs, runs: runs.map((r) => ({ ...r, seq: Number(r.seq) })) };
}

/** Asserts exactly one `succeeded` run of the score and of the risk bot per response event. */
function expectRunsOnce({ seqs, runs }: Awaited<ReturnType<typeof runsOf>>, count: number): void {
  expect(seqs).toHaveLength(count);
  for (const bot of ['risk', 'score']) {
    expect(
      runs.filter((r) => r.bot === bot).map((r) => [r.seq, r.outcome]),
      `runs of ${bot}`,
    ).toEqual(seqs.map((s) => [s, 'succeeded']));
  }
}

/**
 * `bot#seq` of the score and risk runs a process logged. `bots.run` is logged after the run's transaction
 * committed, so a key logged twice (by one process or across two) is a bot effect committed twice.
 */
function runKeys(server: ChildServer): string[] {
  return logEvents(server, 'bots.run')
    .filter((l) => l.bot === 'score' || l.bot === 'risk')
    .map((l) => `${String(l.bot)}#${String(l.seq)}`);
}

/** Keys that occur more than once (each repeat listed). */
function duplicates(keys: readonly string[]): string[] {
  const seen = new Set<string>();
  return keys.filter((k) => seen.has(k) || !seen.add(k));
}

// ---------------------------------------------------------------------------------------------------------------

describe(`a server killed with kill -9 mid-dispatch loses nothing after restart (${STORAGE})`, () => {
  it('rest-hook: after dropping repeats by event number, the receiver has 1..N in order of first arrival', SLOW, async () => {
    const N = 40;
    const storage = await scratch();
    const rx = await startSlowReceiver(50);
    const first = await child(storage, 'first');
    await subscribe(first, rx, 'Patient?family=Durable');
    // One transaction: all N events are committed before the kill, so none can be lost with the request.
    const created = await transaction(
      first,
      Array.from({ length: N }, (_, i) => ({
        request: { method: 'POST', url: 'Patient' },
        resource: { resourceType: 'Patient', name: [{ family: 'Durable', given: [`n${i}`] }] },
      })),
    );
    await waitUntil('some notifications arrived', () => rx.firstArrivals().length >= 5);
    await first.kill();
    const killedAt = Date.now();
    rx.phase = 'after-kill';
    const beforeKill = rx.firstArrivals().length;
    expect(beforeKill, 'the kill must land mid-dispatch').toBeLessThan(N);

    const second = await child(storage, 'second');
    await waitUntil('every event number arrived', () => rx.firstArrivals().length >= N, RESUME_TIMEOUT_MS);
    const resumedAt = rx.arrivals.find((a) => a.phase === 'after-kill')?.at ?? Infinity;
    if (!ON_POSTGRES)
      expect(resumedAt - second.readyAt, "delivery resumes without waiting for the dead process's lease").toBeLessThan(EMBEDDED_RESUME_MS);
    expect(rx.firstArrivals()).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    // A repeat is the same event: one focus per number, and the N focuses are the N Patients written.
    const focusOf = new Map<number, Set<string>>();
    for (const a of rx.arrivals)
      focusOf.set(a.eventNumber, (focusOf.get(a.eventNumber) ?? new Set()).add(a.focus.split('/').slice(-2).join('/')));
    expect([...focusOf.values()].filter((f) => f.size !== 1)).toEqual([]);
    expect(new Set([...focusOf.values()].map((f) => [...f][0]))).toEqual(new Set(created));
    expect(
      rx.arrivals.some((a) => a.phase === 'after-kill'),
      'the restarted server delivered the rest',
    ).toBe(true);
    console.info(
      `[durability ${STORAGE}] rest-hook: ${beforeKill}/${N} event numbers arrived before kill -9; the next ${resumedAt - killedAt} ms after it,` +
        ` ${resumedAt - second.readyAt} ms after the restarted server started; ${rx.arrivals.length - N} repeat(s)`,
    );

    await second.stop();
    // The storage is sound after a kill and a restart: it opens in a third process, and its outbox is whole.
    await inspect(storage, async (db) => {
      const { rows } = await db.query<{ n: number; last: number }>(
        `SELECT count(*)::int AS n, (SELECT last_seq FROM haven_event_counters WHERE tenant = 'default') AS last FROM haven_events WHERE tenant = 'default'`,
      );
      expect(rows[0].n).toBe(Number(rows[0].last));
      expect(await caughtUp(db)).toBe(true);
    });
  });

  it('bots: one total score and one risk Task (where expected) per response, one succeeded run per (bot, event)', SLOW, async () => {
    const N = 30;
    const storage = await scratch();
    const first = await child(storage, 'first');
    const { patients, responses: entries, risky } = responseEntries('kill', N);
    const patientRefs = await transaction(first, patients);
    const responses = await transaction(first, entries);
    // Watched in the child's log, not through its API, so that the watching does not slow the bots down.
    await waitUntil('the bots are under way', () => runKeys(first).length >= 3);
    await first.kill();
    const killedAt = Date.now();
    const beforeKill = runKeys(first);
    expect(beforeKill.length, 'the kill must land while bots run').toBeLessThan(2 * N);

    const second = await child(storage, 'second');
    await waitUntil(
      'every response is scored and assessed',
      async () => {
        const e = await botEffects(second);
        return e.totals.size >= N && [...risky].every((p) => e.riskTasks.has(p) && e.notices.has(p));
      },
      RESUME_TIMEOUT_MS,
    );
    const firstRun = logEvents(second, 'bots.run').find((l) => l.bot === 'score' || l.bot === 'risk');
    const resumedAt = Date.parse(String(firstRun?.time));
    if (!ON_POSTGRES)
      expect(resumedAt - second.readyAt, "bots resume without waiting for the dead process's leases").toBeLessThan(EMBEDDED_RESUME_MS);
    if (ON_POSTGRES) await inspect(storage, (db) => waitUntil('the consumers caught up', () => caughtUp(db)));
    expectEffectsOnce(await botEffects(second), responses, patientRefs, risky);
    const afterRestart = runKeys(second);
    expect(afterRestart.length, 'the restarted server ran what was left').toBeGreaterThan(0);
    expect(duplicates([...beforeKill, ...afterRestart]), 'runs committed twice').toEqual([]);
    console.info(
      `[durability ${STORAGE}] bots: ${beforeKill.length} of ${2 * N} score/risk runs logged before kill -9, ${afterRestart.length} after;` +
        ` the next one ${resumedAt - killedAt} ms after the kill, ${resumedAt - second.readyAt} ms after the restarted server started`,
    );

    await second.stop();
    await inspect(storage, async (db) => expectRunsOnce(await runsOf(db, responses), N));
  });
});

describe.skipIf(!ON_POSTGRES)('two server processes on one PostgreSQL database (PostgreSQL only: skipped without DATABASE_URL)', () => {
  it('bots: responses written alternately to both give one total, one risk Task where expected, one succeeded run each', SLOW, async () => {
    const N = 30;
    const storage = await scratch();
    // One after the other: two processes starting together on an EMPTY database can race on
    // `CREATE TABLE IF NOT EXISTS haven_migrations`, which runs before the migration lock (../store/migrate.ts).
    const a = await child(storage, 'a');
    const b = await child(storage, 'b');
    const { patients, responses: entries, risky } = responseEntries('two', N);
    const patientRefs = await transaction(a, patients);
    const responses: string[] = [];
    for (const [i, e] of entries.entries()) {
      const res = await (i % 2 ? b : a).req('/fhir/QuestionnaireResponse', { method: 'POST', json: e.resource as QuestionnaireResponse });
      expect(res.status, res.text.slice(0, 300)).toBe(201);
      responses.push(`QuestionnaireResponse/${res.body.id}`);
    }
    await inspect(storage, async (db) => {
      await waitUntil('both processes are idle', () => caughtUp(db));
      expectRunsOnce(await runsOf(db, responses), N);
    });
    expectEffectsOnce(await botEffects(a), responses, patientRefs, risky);
    const [ranA, ranB] = [runKeys(a), runKeys(b)];
    expect(duplicates([...ranA, ...ranB]), 'runs committed twice').toEqual([]);
    // Work is shared per consumer (one bot at a time per process), not per event, and not promised: reported only.
    const by = (keys: string[], bot: string): number => keys.filter((k) => k.startsWith(`${bot}#`)).length;
    console.info(
      `[durability PostgreSQL] two processes, bot runs: a ran score ${by(ranA, 'score')}, risk ${by(ranA, 'risk')};` +
        ` b ran score ${by(ranB, 'score')}, risk ${by(ranB, 'risk')}`,
    );
  });

  it('rest-hook: with both processes running, every event number arrives once and in order', SLOW, async () => {
    const N = 30;
    const storage = await scratch();
    const rx = await startSlowReceiver(0);
    const a = await child(storage, 'a');
    const b = await child(storage, 'b');
    const id = await subscribe(a, rx, 'Patient?family=Shared');
    // Which process holds the subscription's lease while it delivers (the owner id carries the pid).
    const holders = new Set<string>();
    await inspect(storage, async (db) => {
      let writing = true;
      const watch = (async () => {
        while (writing) {
          const { rows } = await db.query<{ owner: string | null }>(
            `SELECT lease_owner AS owner FROM haven_consumers WHERE consumer = $1`,
            [`sub:${id}`],
          );
          const pid = rows[0]?.owner?.split(':')[1];
          if (pid) holders.add(pid === String(a.pid) ? 'a' : pid === String(b.pid) ? 'b' : pid);
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      for (let i = 0; i < N; i++) {
        const res = await (i % 2 ? b : a).req('/fhir/Patient', {
          method: 'POST',
          json: { resourceType: 'Patient', name: [{ family: 'Shared', given: [`n${i}`] }] },
        });
        expect(res.status).toBe(201);
      }
      await waitUntil('every event number arrived', () => rx.firstArrivals().length >= N);
      await waitUntil('both processes are idle', () => caughtUp(db));
      writing = false;
      await watch;
    });
    expect(rx.arrivals.map((x) => x.eventNumber)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    console.info(
      `[durability PostgreSQL] rest-hook with two processes: ${rx.arrivals.length} notifications for ${N} events; lease seen held by ${[...holders].sort().join(', ') || 'nobody (too fast to see)'}`,
    );
  });
});
