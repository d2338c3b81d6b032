/**
 * Bots phase (issue 4): latency from a QuestionnaireResponse's commit to the score bot's total-score
 * Observation and to the risk bot's risk Task, under an open-loop load of PHQ-9 responses (20/s by default;
 * target p95 ≤ 1 s).
 *
 * Every time is the server's own: a response's commit time is its `meta.lastUpdated` (in the 201 body), an
 * output's is its version 1 `meta.lastUpdated`, all stamped by the one server process, so latency =
 * output − response needs no clock sync and no polling precision. The outputs are fetched in bulk after the
 * load (`_lastUpdated` + code searches), once counts show that every response has them.
 *
 * Risky responses (item 9 ≥ 1) go to patients created for the run, one each: a patient with an open risk Task
 * would get that Task updated (a note) instead of a new one, and "version 1 of the Task whose focus is the
 * response" is only well defined for a new Task. The other responses go to ingested patients with totals of
 * 0–4 and item 9 = 0, so neither the severe-total nor the score-rise rule (bots/config/defaults.json) fires
 * and no other response makes a Task.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bundle, Observation, Resource, Task } from '@medplum/fhirtypes';
import { HAVEN_TASK_SYSTEM } from '../bots/clinical/escalation.ts';
import type { Instrument } from '../bots/clinical/instruments.ts';
import { SCORE_OBSERVATION_SYSTEM } from '../bots/clinical/score-observations.ts';
import { instruments } from '../bots/instruments-registry.ts';
import { phqLikeResponse } from '../bots/test-support/responses.ts';
import type { BotsPhaseOptions } from './options.ts';
import { Rng } from './prng.ts';
import { summarize, type Latency } from './stats.ts';

/** Code of the risk bot's main Task (bots/clinical/escalation.ts buildRiskTask). */
export const RISK_TASK_CODE = 'suicide-risk-review';
/** The instrument every response answers. */
const INSTRUMENT_ID = 'phq-9';
/** Give up waiting for the bots when no output appeared for this long (a bot failing every run). */
const STALL_MS = 60_000;
const POLL_MS = 500;
const HEADERS = { accept: 'application/fhir+json', 'content-type': 'application/fhir+json' } as const;

/**
 * Latency (ms, server clock) from responses to one kind of output. A response whose output never arrived
 * counts as infinitely late in the percentiles (so 6 % missing makes p95 ∞, never a flattering number);
 * `count` is the outputs that arrived, `missing` the ones that did not.
 */
export type OutputLatency = Latency & {
  readonly expected: number;
  readonly missing: number;
  /**
   * p50 of the outputs that arrived, for the first, middle and last third of the responses in send order:
   * flat when the bots keep up, rising when a backlog builds during the load.
   */
  readonly p50ByThird: readonly number[];
};

/** Summarises paired latencies (in send order), the missing outputs as +∞. */
export function outputLatency(paired: { latencies: readonly number[]; missing: number }): OutputLatency {
  const all = [...paired.latencies, ...Array.from({ length: paired.missing }, () => Number.POSITIVE_INFINITY)];
  const n = paired.latencies.length;
  const p50ByThird = [0, 1, 2].map((k) => summarize(paired.latencies.slice(Math.floor((k * n) / 3), Math.floor(((k + 1) * n) / 3))).p50);
  return { ...summarize(all), count: n, expected: all.length, missing: paired.missing, p50ByThird };
}

/** What the bots phase measured. */
export interface BotsResult {
  /** Offered rate (responses/s) and measured seconds, as configured. */
  readonly rate: number;
  readonly seconds: number;
  readonly riskyShare: number;
  readonly sent: number;
  /** Responses the server committed (201). */
  readonly committed: number;
  readonly riskyCommitted: number;
  readonly non2xx: number;
  /** Network errors and timeouts (no response). */
  readonly errors: number;
  readonly errorSamples: string[];
  /** Committed responses per second by their commit times (the rate the server took them at). */
  readonly commitRate: number;
  /** How late the sender fired against its schedule (ms): a high value means the open loop did not hold. */
  readonly senderLateMs: { readonly p99: number; readonly max: number };
  /** Client-side latency of the POST (201 responses). */
  readonly create: Latency;
  readonly toObservation: OutputLatency;
  readonly toTask: OutputLatency;
  /**
   * Seconds from the last response's commit to the last output's (server clock): how long the bots took to
   * work off the backlog; and whether every output arrived before the wait gave up.
   */
  readonly settleSeconds: number;
  readonly settled: boolean;
  /** Unrecorded warm-up responses sent before the measurement. */
  readonly warmupSent: number;
}

/** Whether response `i` of a window is a risky one: ⌊n·share⌋ of any n consecutive from 0, spread evenly. */
export function isRisky(i: number, share: number): boolean {
  return Math.floor((i + 1) * share) > Math.floor(i * share);
}

/**
 * PHQ-9 item scores, in scored-item order. Items 1–8 total 0–4 (no severe total, no 5-point rise between two
 * responses of a patient); item 9 is 0, or 1–2 for a risky response (low or moderate risk: a new Task).
 */
export function phq9Scores(rng: Rng, risky: boolean, item9Index: number): number[] {
  const scores = Array.from({ length: 9 }, () => 0);
  const free = scores.map((_, i) => i).filter((i) => i !== item9Index);
  for (let n = rng.int(0, 4); n > 0; n--) {
    const [item] = free.splice(rng.int(0, free.length - 1), 1);
    scores[item] = 1;
  }
  if (risky) scores[item9Index] = rng.chance(0.75) ? 1 : 2;
  return scores;
}

/** Pairs each committed response with its output's commit time: latencies (ms, in `sent` order) and how many have none. */
export function pairLatencies(
  sent: readonly { id?: string; committedMs?: number }[],
  outputs: ReadonlyMap<string, number>,
): { latencies: number[]; missing: number } {
  const latencies: number[] = [];
  let missing = 0;
  for (const s of sent) {
    if (s.id === undefined || s.committedMs === undefined) continue;
    const at = outputs.get(s.id);
    if (at === undefined) missing++;
    else latencies.push(at - s.committedMs);
  }
  return { latencies, missing };
}

/** Commits per second from commit instants (ms): n evenly spaced commits span n − 1 intervals. */
export function commitRate(instants: readonly number[]): number {
  if (instants.length < 2) return Number.NaN;
  const span = (Math.max(...instants) - Math.min(...instants)) / 1000;
  return span > 0 ? Math.round(((instants.length - 1) / span) * 10) / 10 : Number.NaN;
}

interface Sent {
  readonly risky: boolean;
  id?: string;
  committedMs?: number;
  clientMs?: number;
}

interface Window {
  readonly sent: Sent[];
  readonly non2xx: number;
  readonly errors: number;
  readonly late: number[];
}

/**
 * GET with a few retries on network failures: these reads are idempotent, and a keep-alive socket the server
 * has just closed (ECONNRESET) must not end the phase. HTTP errors are not retried.
 */
async function getJson<T>(url: string, attempts = 3): Promise<T> {
  const path = url.replace(/^https?:\/\/[^/]+/, '');
  for (let attempt = 1; ; attempt++) {
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { headers: HEADERS, signal: AbortSignal.timeout(120_000) });
      text = await res.text();
    } catch (err) {
      if (attempt < attempts) continue;
      const e = err as { message?: string; cause?: { code?: string } };
      throw new Error(`GET ${path}: ${e.cause?.code ?? e.message ?? String(err)} (${attempts} attempts)`);
    }
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${text.slice(0, 200)}`);
    return JSON.parse(text) as T;
  }
}

async function countOf(url: string): Promise<number> {
  return (await getJson<Bundle>(`${url}&_summary=count`)).total ?? 0;
}

/** Every resource of a search, following `next` links. */
async function searchAll<T extends Resource>(url: string): Promise<T[]> {
  const out: T[] = [];
  for (let next: string | undefined = url; next; ) {
    const page: Bundle<T> = await getJson<Bundle<T>>(next);
    for (const e of page.entry ?? []) if (e.resource) out.push(e.resource);
    next = page.link?.find((l) => l.relation === 'next')?.url;
  }
  return out;
}

/** Commit time (ms) of version 1 of a resource: its creation, even when it was updated since. */
async function createdAt(fhirBase: string, r: Resource): Promise<number> {
  if (r.meta?.versionId === '1') return Date.parse(r.meta.lastUpdated as string);
  const v1 = await getJson<Resource>(`${fhirBase}/${r.resourceType}/${r.id}/_history/1`);
  return Date.parse(v1.meta?.lastUpdated as string);
}

/** The server installs questionnaires/ into the default tenant asynchronously at start; responses need it. */
async function waitForQuestionnaire(fhirBase: string, url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await countOf(`${fhirBase}/Questionnaire?url=${encodeURIComponent(url)}`).catch(() => 0)) > 0) return;
    await sleep(POLL_MS);
  }
  throw new Error(`the server has not installed ${url} after ${timeoutMs / 1000} s (HAVEN_QUESTIONNAIRES=off?)`);
}

/** Creates `n` patients in one transaction (setup, not measured); returns their ids. */
async function createPatients(fhirBase: string, n: number, label: string): Promise<string[]> {
  if (n === 0) return [];
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: Array.from({ length: n }, (_, i) => ({
      request: { method: 'POST', url: 'Patient' },
      resource: {
        resourceType: 'Patient',
        name: [{ family: 'Botbench', given: [`${label}${i}`] }],
        gender: 'unknown',
        birthDate: '1990-01-01',
      },
    })),
  };
  const res = await fetch(fhirBase, {
    method: 'POST',
    headers: HEADERS,
    body: JSON.stringify(bundle),
    signal: AbortSignal.timeout(300_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`creating ${n} patients for risky responses: ${res.status} ${text.slice(0, 200)}`);
  return ((JSON.parse(text) as Bundle).entry ?? []).map((e) => (e.response?.location ?? '').split('/')[1]);
}

/**
 * Sends one window of responses open loop: response i leaves at start + i / rate whatever earlier ones take,
 * so a slow server gets a growing queue instead of a gentler load.
 */
async function sendWindow(
  fhirBase: string,
  bodies: readonly { risky: boolean; body: string }[],
  rate: number,
  samples: Set<string>,
): Promise<Window> {
  const interval = 1000 / rate;
  const sent: Sent[] = bodies.map((b) => ({ risky: b.risky }));
  const late: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const post = async (i: number): Promise<void> => {
    const t = performance.now();
    try {
      const res = await fetch(`${fhirBase}/QuestionnaireResponse`, {
        method: 'POST',
        headers: HEADERS,
        body: bodies[i].body,
        signal: AbortSignal.timeout(120_000),
      });
      const text = await res.text();
      if (res.status !== 201) {
        non2xx++;
        if (samples.size < 5) samples.add(`${res.status}: ${text.slice(0, 240)}`);
        return;
      }
      const qr = JSON.parse(text) as Resource;
      sent[i].clientMs = performance.now() - t;
      sent[i].id = qr.id;
      sent[i].committedMs = Date.parse(qr.meta?.lastUpdated as string);
    } catch (err) {
      errors++;
      if (samples.size < 5) samples.add(`network: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < bodies.length; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    late.push(Math.max(0, performance.now() - due));
    pending.push(post(i));
  }
  await Promise.all(pending);
  return { sent, non2xx, errors, late };
}

/** Builds a window's request bodies: risky ones for `riskyPatients` (one each), the rest round-robin over `patients`. */
function windowBodies(
  instrument: Instrument,
  n: number,
  share: number,
  patients: readonly string[],
  riskyPatients: readonly string[],
  rng: Rng,
): { risky: boolean; body: string }[] {
  const item9Index = instrument.scoredItems.findIndex((s) => s.linkId === instrument.safety.item9);
  let risky = 0;
  let plain = 0;
  const authored = new Date().toISOString();
  return Array.from({ length: n }, (_, i) => {
    const r = isRisky(i, share);
    const patient = r ? riskyPatients[risky++] : patients[plain++ % patients.length];
    const qr = phqLikeResponse(instrument.id, patient, phq9Scores(rng, r, item9Index), { authored });
    return { risky: r, body: JSON.stringify(qr) };
  });
}

/** Searches for every total-score Observation and risk Task written since `since` (add paging or a summary). */
function outputSearches(fhirBase: string, totalCode: string, since: string): { observations: string; tasks: string } {
  const after = `_lastUpdated=ge${encodeURIComponent(since)}`;
  return {
    observations: `${fhirBase}/Observation?code=${encodeURIComponent(`http://loinc.org|${totalCode}`)}&${after}`,
    tasks: `${fhirBase}/Task?code=${encodeURIComponent(`${HAVEN_TASK_SYSTEM}|${RISK_TASK_CODE}`)}&${after}`,
  };
}

/** Output commit times by response id, from bulk searches of everything written since `since`. */
async function collectOutputs(
  fhirBase: string,
  totalCode: string,
  since: string,
): Promise<{ observations: Map<string, number>; tasks: Map<string, number> }> {
  const observations = new Map<string, number>();
  const tasks = new Map<string, number>();
  const q = outputSearches(fhirBase, totalCode, since);
  for (const o of await searchAll<Observation>(`${q.observations}&_elements=identifier,derivedFrom&_count=1000`)) {
    const value = o.identifier?.find((x) => x.system === SCORE_OBSERVATION_SYSTEM && x.value?.endsWith(`:${totalCode}`))?.value;
    const qr =
      value?.slice(0, -(totalCode.length + 1)) ??
      o.derivedFrom?.find((d) => d.reference?.startsWith('QuestionnaireResponse/'))?.reference?.split('/')[1];
    if (qr) observations.set(qr, await createdAt(fhirBase, o));
  }
  for (const t of await searchAll<Task>(`${q.tasks}&_elements=focus&_count=1000`)) {
    const ref = t.focus?.reference;
    if (ref?.startsWith('QuestionnaireResponse/')) tasks.set(ref.split('/')[1], await createdAt(fhirBase, t));
  }
  return { observations, tasks };
}

/**
 * Waits until every committed response of `win` has its score Observation and every risky one its risk Task
 * (the dispatcher has worked off the backlog), or until `timeoutMs`, or until nothing new appeared for
 * {@link STALL_MS}. Counts are polled cheaply; the outputs are fetched once the counts are complete.
 */
async function awaitOutputs(
  fhirBase: string,
  totalCode: string,
  win: Window,
  timeoutMs: number,
  log: (s: string) => void,
): Promise<{ observations: Map<string, number>; tasks: Map<string, number>; settled: boolean }> {
  const committed = win.sent.filter((s) => s.committedMs !== undefined);
  if (committed.length === 0) return { observations: new Map(), tasks: new Map(), settled: true };
  const riskyIds = new Set(committed.filter((s) => s.risky).map((s) => s.id as string));
  const since = new Date(Math.min(...committed.map((s) => s.committedMs as number))).toISOString();
  const q = outputSearches(fhirBase, totalCode, since);
  const t0 = Date.now();
  let lastChange = t0;
  let lastLog = t0;
  let seen = -1;
  for (;;) {
    const [o, t] = await Promise.all([countOf(q.observations), countOf(q.tasks)]);
    const now = Date.now();
    if (o + t !== seen) {
      seen = o + t;
      lastChange = now;
    }
    const giveUp = now - t0 > timeoutMs || now - lastChange > STALL_MS;
    if ((o >= committed.length && t >= riskyIds.size) || giveUp) {
      const out = await collectOutputs(fhirBase, totalCode, since);
      const complete = committed.every((s) => out.observations.has(s.id as string)) && [...riskyIds].every((id) => out.tasks.has(id));
      if (complete || giveUp) return { ...out, settled: complete };
    }
    if (now - lastLog >= 10_000) {
      lastLog = now;
      log(
        `      waiting for the bots: ${o}/${committed.length} score Observations, ${t}/${riskyIds.size} risk Tasks after ${Math.round((now - t0) / 1000)} s`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** Marks of the measured window, for CPU accounting by the caller. */
export type BotsMark = 'load-start' | 'load-end' | 'settled';

/**
 * Runs the bots phase against a running server: warm-up (unrecorded, settled), then `opts.seconds` at
 * `opts.rate`, then the wait for the bots. `patients`: ingested patient ids for the non-risky responses.
 * Throws when the server cannot take part (bots or questionnaires switched off, setup refused).
 */
export async function runBots(args: {
  fhirBase: string;
  patients: readonly string[];
  opts: BotsPhaseOptions;
  warmupSeconds: number;
  seed: string;
  log: (s: string) => void;
  mark?: (m: BotsMark) => Promise<void>;
}): Promise<BotsResult> {
  const { fhirBase, opts, log } = args;
  // The server child inherits this process's environment (server-process.ts).
  const off = ['HAVEN_BOTS', 'HAVEN_QUESTIONNAIRES'].find((name) => process.env[name] === 'off');
  if (off) throw new Error(`${off}=off in the environment is passed to the server: unset it for the bots phase`);
  if (process.env.HAVEN_BOT_CONFIG)
    log(
      `    note: HAVEN_BOT_CONFIG=${process.env.HAVEN_BOT_CONFIG} is passed to the server; other risk rules may change which responses make Tasks`,
    );
  if (args.patients.length === 0) throw new Error('no ingested patients for the bots phase');
  const instrument = instruments()
    .all()
    .find((i) => i.id === INSTRUMENT_ID);
  const totalCode = instrument?.totalCode?.code;
  if (!instrument || !totalCode) throw new Error(`instrument ${INSTRUMENT_ID} with a total score is not in questionnaires/`);
  await waitForQuestionnaire(fhirBase, instrument.url);

  const rng = new Rng(`${args.seed}/bots`);
  const samples = new Set<string>();
  const riskyIn = (n: number): number => Array.from({ length: n }, (_, i) => i).filter((i) => isRisky(i, opts.riskyShare)).length;
  const prepare = async (n: number, label: string): Promise<{ risky: boolean; body: string }[]> =>
    windowBodies(instrument, n, opts.riskyShare, args.patients, await createPatients(fhirBase, riskyIn(n), label), rng);

  // Warm-up: JIT, bot worker threads, connection pools; settled before the measurement so its backlog is gone.
  const warmupN = Math.round(args.warmupSeconds * opts.rate);
  if (warmupN > 0) {
    const warmSamples = new Set<string>();
    const warm = await sendWindow(fhirBase, await prepare(warmupN, 'warmup'), opts.rate, warmSamples);
    if (warm.sent.every((s) => s.committedMs === undefined))
      throw new Error(`no warm-up response was accepted: ${[...warmSamples].join(' | ')}`);
    const w = await awaitOutputs(fhirBase, totalCode, warm, opts.settleSeconds * 1000, log);
    if (w.observations.size === 0)
      throw new Error('no score Observation appeared for the warm-up responses: are the bots running (HAVEN_BOTS)?');
  }

  const n = Math.max(1, Math.round(opts.seconds * opts.rate));
  const bodies = await prepare(n, 'risky');
  log(`    sending ${n} PHQ-9 responses (${riskyIn(n)} with item 9 ≥ 1, each for a new patient) at ${opts.rate}/s for ${opts.seconds} s`);
  await args.mark?.('load-start');
  const win = await sendWindow(fhirBase, bodies, opts.rate, samples);
  await args.mark?.('load-end');
  const committed = win.sent.filter((s) => s.committedMs !== undefined);
  if (committed.length === 0) throw new Error(`no response was accepted: ${[...samples].join(' | ')}`);
  const out = await awaitOutputs(fhirBase, totalCode, win, opts.settleSeconds * 1000, log);
  await args.mark?.('settled');

  const toObs = pairLatencies(committed, out.observations);
  const riskySent = committed.filter((s) => s.risky);
  const toTask = pairLatencies(riskySent, out.tasks);
  // Backlog in server time: last commit of a response → last commit of an output of this window.
  const outputTimes = committed
    .flatMap((s) => [out.observations.get(s.id as string), out.tasks.get(s.id as string)])
    .filter((v) => v !== undefined);
  const lastCommit = Math.max(...committed.map((s) => s.committedMs as number));
  const late = summarize(win.late);
  return {
    rate: opts.rate,
    seconds: opts.seconds,
    riskyShare: opts.riskyShare,
    sent: n,
    committed: committed.length,
    riskyCommitted: riskySent.length,
    non2xx: win.non2xx,
    errors: win.errors,
    errorSamples: [...samples],
    commitRate: commitRate(committed.map((s) => s.committedMs as number)),
    senderLateMs: { p99: late.p99, max: late.max },
    create: summarize(committed.map((s) => s.clientMs as number)),
    toObservation: outputLatency(toObs),
    toTask: outputLatency(toTask),
    settleSeconds: outputTimes.length ? Math.round(Math.max(0, Math.max(...outputTimes) - lastCommit) / 100) / 10 : Number.NaN,
    settled: out.settled,
    warmupSent: warmupN,
  };
}
