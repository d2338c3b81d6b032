/**
 * Runs after-commit bots (../../../bots/runtime.ts) for the dispatcher (./dispatcher.ts), as the `bot:` consumer.
 *
 * For each event: skip it unless a trigger matches (type, interaction, criteria with search semantics) and the
 * event was not written by this same bot (no self-loops) nor by a cascade deeper than {@link MAX_DEPTH}; run the bot
 * in its worker thread with a time limit; apply its writes as ONE FHIR transaction through the normal repository
 * path with the bot's own scoped identity, and record the run (`haven_bot_runs`) in that same transaction. The run
 * record is the idempotency key: an event whose run committed is never run again, even when the process died
 * before saving its cursor.
 */
import { Worker } from 'node:worker_threads';
import { getStatus, isOk, parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { FhirRouter } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import type { AfterCommitBot, BotEvent, BotTick, ScheduledBot } from '../../../bots/runtime.ts';
import { compilePolicy, type Policy } from '../policy/access.ts';
import { CallerAccess } from '../policy/caller.ts';
import type { Db } from '../store/db.ts';
import { HavenRepository, type RepositoryContext } from '../store/repository.ts';
import { mayMatch } from '../store/search/prefilter.ts';
import type { ConsumerHandler, ConsumerState, HandleResult } from './dispatcher.ts';
import { eventMatches, eventSubject, parseCriteria } from './matcher.ts';
import type { FromWorker, ToWorker } from './bot-worker.ts';
import type { HavenEvent } from './outbox.ts';

/** Bots writing because of bots writing…: a longer cascade is refused as a loop. */
export const MAX_DEPTH = 5;
const DEFAULT_TIMEOUT_MS = 10_000;

/** What the runner needs from the server. */
export interface BotRunnerOptions {
  readonly db: Db;
  readonly bots: readonly AfterCommitBot[];
  /** Scheduled bots (run by {@link BotRunner.runScheduled}). */
  readonly scheduled?: readonly ScheduledBot[];
  /** Module URL the workers import the bots from (exports `BOTS`). */
  readonly botsModule: string;
  readonly router: FhirRouter;
  /** Repository settings for a tenant, without access or origin (the runner sets those). */
  readonly repoContext: (tenant: string) => RepositoryContext;
  readonly config: unknown;
  readonly log?: (event: Record<string, unknown>) => void;
}

/** The bot consumer handler, and a way to stop its workers. */
export interface BotRunner extends ConsumerHandler {
  /**
   * Runs every scheduled bot that is due in `tenant`, at most once per period across all processes (the claim is
   * an atomic update of the bot's `sched:<id>` row). Failures are recorded and retried at the next period.
   */
  runScheduled(tenant: string): Promise<void>;
  close(): Promise<void>;
}

/** The principal a bot acts as: a system client with the bot's declared scopes, nothing more. */
export function botPolicy(bot: AfterCommitBot | ScheduledBot, tenant: string): Policy {
  return compilePolicy({
    tenant,
    subject: `bot:${bot.id}`,
    clientId: `bot:${bot.id}`,
    scopes: [...bot.scopes],
    roles: [],
    development: false,
  });
}

/** One worker thread per bot, restarted after a timeout. */
class BotWorker {
  private worker: Worker | undefined;
  private nextRun = 1;
  private readonly runs = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; repo: HavenRepository }>();
  private readonly botsModule: string;
  private readonly bot: AfterCommitBot | ScheduledBot;

  constructor(botsModule: string, bot: AfterCommitBot | ScheduledBot) {
    this.botsModule = botsModule;
    this.bot = bot;
  }

  private start(): Worker {
    const w = new Worker(new URL('./bot-worker.ts', import.meta.url), { workerData: { botsModule: this.botsModule, botId: this.bot.id } });
    w.unref();
    w.on('message', (msg: FromWorker) => void this.onMessage(w, msg));
    w.on('error', (err) => this.failAll(`worker error: ${err.message.slice(0, 200)}`));
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
      this.failAll('worker exited');
    });
    this.worker = w;
    return w;
  }

  private failAll(reason: string): void {
    for (const [id, run] of this.runs) {
      this.runs.delete(id);
      run.reject(new Error(reason));
    }
  }

  private async onMessage(w: Worker, msg: FromWorker): Promise<void> {
    const run = this.runs.get(msg.runId);
    if (!run) return;
    if (msg.type === 'done') {
      this.runs.delete(msg.runId);
      run.resolve(msg.output);
    } else if (msg.type === 'failed') {
      this.runs.delete(msg.runId);
      run.reject(new Error(msg.error));
    } else {
      let reply: ToWorker;
      try {
        reply = { type: 'reply', callId: msg.callId, ok: true, value: await botRead(run.repo, msg.method, msg.args) };
      } catch (err) {
        reply = { type: 'reply', callId: msg.callId, ok: false, error: err instanceof Error ? err.message.slice(0, 300) : 'read failed' };
      }
      if (this.worker === w) w.postMessage(reply);
    }
  }

  /** Runs the bot for one event; rejects on a bot error or when the time limit passes (the worker is then replaced). */
  run(event: BotEvent | BotTick, config: unknown, repo: HavenRepository): Promise<unknown> {
    const w = this.worker ?? this.start();
    const runId = this.nextRun++;
    const timeoutMs = this.bot.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.runs.delete(runId);
        reject(new Error(`timed out after ${timeoutMs} ms`));
        // A bot stuck in a loop never yields: only terminating its thread stops it.
        if (this.worker === w) this.worker = undefined;
        void w.terminate();
      }, timeoutMs);
      this.runs.set(runId, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
        repo,
      });
      w.postMessage({ type: 'run', runId, event, config, now: new Date().toISOString(), baseUrl: repo.ctx.baseUrl } satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}

/** A bot's read or search, with the bot's identity. Missing or hidden reads are undefined, not errors. */
async function botRead(repo: HavenRepository, method: 'read' | 'search', [resourceType, arg]: [string, string]): Promise<unknown> {
  if (method === 'read') {
    try {
      return await repo.readResource(resourceType, arg);
    } catch {
      return undefined;
    }
  }
  const search = parseSearchRequest(`${resourceType}?${arg}`);
  const bundle = await repo.search({ ...search, count: Math.min(search.count ?? 100, 1000) });
  return (bundle.entry ?? []).filter((e) => e.search?.mode !== 'include').map((e) => e.resource as Resource);
}

/** Creates the runner. */
export function createBotRunner(opts: BotRunnerOptions): BotRunner {
  const log = opts.log ?? (() => undefined);
  const byId = new Map(opts.bots.map((b) => [b.id, b]));
  const workers = new Map<string, BotWorker>();
  const criteria = new Map<string, SearchRequest | undefined>();
  for (const bot of opts.bots) {
    for (const [i, t] of bot.triggers.entries())
      criteria.set(`${bot.id}#${i}`, t.criteria ? parseCriteria(t.criteria, t.resourceType) : undefined);
  }

  function repoFor(bot: AfterCommitBot | ScheduledBot, tenant: string, depth: number): HavenRepository {
    return new HavenRepository({
      ...opts.repoContext(tenant),
      access: new CallerAccess(botPolicy(bot, tenant)),
      origin: { actor: `bot:${bot.id}`, depth },
    });
  }

  async function triggered(bot: AfterCommitBot, event: HavenEvent, repo: HavenRepository): Promise<Resource | undefined | false> {
    // Most events concern no trigger of a given bot: decide that in memory before touching the database.
    if (!bot.triggers.some((t) => t.resourceType === event.resourceType && t.interactions.includes(event.interaction))) return false;
    const version = await eventSubject(repo.q, event);
    for (const [i, t] of bot.triggers.entries()) {
      if (t.resourceType !== event.resourceType || !t.interactions.includes(event.interaction)) continue;
      const search = criteria.get(`${bot.id}#${i}`);
      if (!search) return version;
      // In memory first (no query): most events of a triggered type fail the criteria (every Observation for a
      // bot that wants totals). What may match is confirmed with the server's search.
      if (version && !mayMatch(version, search)) continue;
      if (await eventMatches(repo, event, search, version)) return version;
    }
    return false;
  }

  async function recordFailure(tenant: string, botId: string, seq: number, error: string, outcome: 'failed' | 'dead'): Promise<void> {
    await opts.db.query(
      `INSERT INTO haven_bot_runs (tenant, bot, seq, outcome, attempts, detail) VALUES ($1, $2, $3, $4, 1, $5)
       ON CONFLICT (tenant, bot, seq) DO UPDATE SET outcome = EXCLUDED.outcome, attempts = haven_bot_runs.attempts + CASE WHEN EXCLUDED.outcome = 'dead' THEN 0 ELSE 1 END,
         detail = EXCLUDED.detail, finished_at = now()
       WHERE haven_bot_runs.outcome <> 'succeeded'`,
      [tenant, botId, seq, outcome, error.slice(0, 500)],
    );
  }

  function workerOf(bot: AfterCommitBot | ScheduledBot): BotWorker {
    let worker = workers.get(bot.id);
    if (!worker) workers.set(bot.id, (worker = new BotWorker(opts.botsModule, bot)));
    return worker;
  }

  /** Applies a run's writes as one transaction with the run record; `seq` is the event number or the tick. */
  async function apply(
    bot: AfterCommitBot | ScheduledBot,
    event: { tenant: string; seq: number; depth: number },
    output: { writes?: readonly BundleEntry[]; summary?: string },
    started: number,
  ): Promise<void> {
    const repo = repoFor(bot, event.tenant, event.depth + 1);
    await repo.withTransaction(async (tx) => {
      const writes = output.writes ?? [];
      if (writes.length > 0) {
        const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: [...writes] };
        const [outcome] = await opts.router.handleRequest(
          {
            method: 'POST',
            url: '',
            pathname: '',
            body: bundle,
            params: {},
            query: {},
            headers: {},
            config: { transactions: true },
          },
          tx,
        );
        // The router answers a failed transaction with an outcome instead of throwing: roll back everything.
        if (!isOk(outcome)) throw new BotWriteError(outcome);
      }
      const { rowCount } = await tx.q.query(
        `INSERT INTO haven_bot_runs (tenant, bot, seq, outcome, attempts, detail, duration_ms) VALUES ($1, $2, $3, 'succeeded', 1, $4, $5)
         ON CONFLICT (tenant, bot, seq) DO UPDATE SET outcome = 'succeeded', attempts = haven_bot_runs.attempts + 1,
           detail = EXCLUDED.detail, duration_ms = EXCLUDED.duration_ms, finished_at = now()
         WHERE haven_bot_runs.outcome <> 'succeeded'`,
        [event.tenant, bot.id, event.seq, (output.summary ?? `${writes.length} write(s)`).slice(0, 500), Date.now() - started],
      );
      // Another process committed this run first (its lease expired mid-run): undo ours.
      if (rowCount === 0) throw new AlreadyRun();
    });
  }

  return {
    prefix: 'bot:',
    names: () => opts.bots.map((b) => `bot:${b.id}`),
    contentTypes: (consumer) => byId.get(consumer.slice(4))?.triggers.map((t) => t.resourceType) ?? [],

    async handle(consumer: ConsumerState, event: HavenEvent): Promise<HandleResult> {
      const bot = byId.get(consumer.consumer.slice(4));
      if (!bot) return { kind: 'skipped' };
      if (event.actor === `bot:${bot.id}`) return { kind: 'skipped' };
      if (!bot.triggers.some((t) => t.resourceType === event.resourceType)) return { kind: 'skipped' };
      const readRepo = repoFor(bot, event.tenant, event.depth + 1);
      // Triggers are matched with full access: declaring a trigger is what entitles a bot to the triggering
      // version (passed in the event). Everything else the bot reads goes through its own scopes.
      const version = await triggered(bot, event, new HavenRepository(opts.repoContext(event.tenant)));
      if (version === false) return { kind: 'skipped' };
      if (event.depth >= MAX_DEPTH) {
        await recordFailure(
          event.tenant,
          bot.id,
          event.seq,
          `cascade depth ${event.depth} reached the limit of ${MAX_DEPTH}: not run`,
          'dead',
        );
        log({ level: 'warn', event: 'bots.cascade_limit', tenant: event.tenant, bot: bot.id, seq: event.seq });
        return { kind: 'done' };
      }
      const { rows } = await opts.db.query(
        `SELECT 1 FROM haven_bot_runs WHERE tenant = $1 AND bot = $2 AND seq = $3 AND outcome = 'succeeded'`,
        [event.tenant, bot.id, event.seq],
      );
      if (rows.length > 0) return { kind: 'done' };
      const started = Date.now();
      const botEvent: BotEvent = {
        tenant: event.tenant,
        seq: event.seq,
        interaction: event.interaction,
        resourceType: event.resourceType,
        id: event.id,
        versionId: event.versionId,
        ...(version ? { resource: version } : {}),
      };
      try {
        const output = (await workerOf(bot).run(botEvent, opts.config, readRepo)) as { writes?: BundleEntry[]; summary?: string };
        await apply(bot, event, output, started);
        log({
          level: 'info',
          event: 'bots.run',
          tenant: event.tenant,
          bot: bot.id,
          seq: event.seq,
          ms: Date.now() - started,
          writes: output.writes?.length ?? 0,
        });
        return { kind: 'done' };
      } catch (err) {
        if (err instanceof AlreadyRun) return { kind: 'done' };
        const error = err instanceof BotWriteError ? err.message : err instanceof Error ? err.message : String(err);
        await recordFailure(event.tenant, bot.id, event.seq, error, 'failed').catch(() => undefined);
        log({ level: 'warn', event: 'bots.failed', tenant: event.tenant, bot: bot.id, seq: event.seq, error: error.slice(0, 300) });
        return { kind: 'failed', error, retryable: true };
      }
    },

    async onDeadLetter(consumer, event, error) {
      await recordFailure(event.tenant, consumer.consumer.slice(4), event.seq, error, 'dead');
    },

    async runScheduled(tenant: string): Promise<void> {
      for (const bot of opts.scheduled ?? []) {
        const { rowCount } = await opts.db.query(
          `INSERT INTO haven_consumers (tenant, consumer, cursor, retry_at) VALUES ($1, $2, 0, now() + ($3 * interval '1 minute'))
           ON CONFLICT (tenant, consumer) DO UPDATE SET retry_at = EXCLUDED.retry_at
           WHERE haven_consumers.retry_at IS NULL OR haven_consumers.retry_at <= now()`,
          [tenant, `sched:${bot.id}`, bot.everyMinutes],
        );
        if (rowCount === 0) continue; // not due, or another process took this period
        const tick: BotTick = { tenant, tick: Math.floor(Date.now() / 60_000) };
        const started = Date.now();
        try {
          const output = (await workerOf(bot).run(tick, opts.config, repoFor(bot, tenant, 1))) as {
            writes?: BundleEntry[];
            summary?: string;
          };
          await apply(bot, { tenant, seq: tick.tick, depth: 0 }, output, started);
          log({
            level: 'info',
            event: 'bots.run',
            tenant,
            bot: bot.id,
            tick: tick.tick,
            ms: Date.now() - started,
            writes: output.writes?.length ?? 0,
          });
        } catch (err) {
          if (err instanceof AlreadyRun) continue;
          const error = err instanceof Error ? err.message : String(err);
          await recordFailure(tenant, bot.id, tick.tick, error, 'failed').catch(() => undefined);
          log({ level: 'warn', event: 'bots.failed', tenant, bot: bot.id, tick: tick.tick, error: error.slice(0, 300) });
        }
      }
    },

    async close() {
      await Promise.all([...workers.values()].map((w) => w.close()));
    },
  };
}

/** The bot's transaction was refused (validation, policy): the outcome's diagnostics say why. */
class BotWriteError extends Error {
  constructor(outcome: OperationOutcome) {
    const issue = outcome.issue?.[0];
    super(`writes refused (${getStatus(outcome)}): ${(issue?.diagnostics ?? issue?.details?.text ?? 'error').slice(0, 300)}`);
    this.name = 'BotWriteError';
  }
}

class AlreadyRun extends Error {}
