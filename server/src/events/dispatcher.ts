/**
 * The dispatcher: runs in every server process and hands each tenant's events, in order, to each consumer
 * (a bot or a Subscription). Work is shared between processes through leases on `haven_consumers` rows,
 * claimed with `FOR UPDATE SKIP LOCKED`: one process works on a consumer at a time, so its events are handled
 * in order, and a process that dies loses its lease when it expires, after which another process resumes from
 * the saved cursor. Wake-ups come from LISTEN/NOTIFY on {@link EVENTS_CHANNEL} (in process on PGlite), with a
 * poll as the safety net (retries that come due, expired leases, lost notifications).
 *
 * Delivery is at least once: a process killed after an effect but before saving its cursor repeats that event.
 * Bots make this exactly once for their effects (./bot-runner.ts records each run in the transaction of its
 * writes); Subscription notifications carry event numbers so that receivers can drop repeats.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db.ts';
import { retryDelayMs, shouldDeadLetter, type RetryPolicy } from './backoff.ts';
import { EVENTS_CHANNEL, hasUnnumbered, numberEvents, readEvent, readEvents, type HavenEvent } from './outbox.ts';

/** A consumer's row, as claimed. */
export interface ConsumerState {
  readonly tenant: string;
  /** `bot:<id>` or `sub:<id>`. */
  readonly consumer: string;
  readonly cursor: number;
  readonly attempts: number;
}

/** What handling one event came to. */
export type HandleResult =
  | { readonly kind: 'done' }
  /** Not for this consumer (no trigger or criteria match): the cursor moves on without a write of its own. */
  | { readonly kind: 'skipped' }
  | { readonly kind: 'failed'; readonly error: string; readonly retryable: boolean }
  /** The consumer no longer exists (deleted Subscription): its row is removed. */
  | { readonly kind: 'gone' };

/** Handles the events of every consumer whose name starts with its prefix. */
export interface ConsumerHandler {
  /** `bot:` or `sub:`. */
  readonly prefix: string;
  /** Consumers of this handler that this process can run (undefined: all with the prefix). */
  names?(): readonly string[];
  /** Resource types whose events this consumer wants with their content (read in the same query as the events). */
  contentTypes?(consumer: string): readonly string[];
  handle(consumer: ConsumerState, event: HavenEvent): Promise<HandleResult>;
  /** After an event was given up on and put in the dead-letter list. */
  onDeadLetter?(consumer: ConsumerState, event: HavenEvent, error: string, attempts: number): Promise<void>;
  /** After an event succeeded for a consumer whose previous attempt had failed. */
  onRecovered?(consumer: ConsumerState): Promise<void>;
}

/** Dispatcher settings. */
export interface DispatcherOptions {
  readonly db: Db;
  readonly handlers: readonly ConsumerHandler[];
  readonly retry: RetryPolicy;
  /** How long a claimed consumer stays with this process without renewal. */
  readonly leaseMs?: number;
  /** Poll interval (the LISTEN/NOTIFY safety net). */
  readonly pollMs?: number;
  /**
   * Consumers worked on at once by this process. Each runs on its own: a slow one (a rest-hook endpoint that times
   * out, a bot with a long search) holds its own slot, never the others' events.
   */
  readonly concurrency?: number;
  /** Events read per round trip. */
  readonly batch?: number;
  /**
   * Least time between the starts of two rounds. Under a stream of writes each round then serves many events for
   * the same fixed queries (numbering, claims, cursors) instead of a round per write, which on embedded storage
   * (one thread for everything) cut create throughput by four. Adds at most this much to a bot's reaction time.
   */
  readonly roundGapMs?: number;
  readonly log?: (event: Record<string, unknown>) => void;
  /**
   * Consumer registration: called at start, every 30th poll (with `*`) and for a tenant not registered yet when it
   * is notified or numbered. Resolves to the tenants whose consumers it registered; a tenant it could not register
   * yet (one whose first events are not numbered: registration starts from the tenant's counter) is asked for
   * again the next time it is seen.
   */
  readonly beforeClaim?: (tenants: readonly string[]) => Promise<readonly string[]>;
}

/** A running dispatcher. */
export interface Dispatcher {
  /** Id of this process's leases. */
  readonly owner: string;
  /** Starts a round now (also called on every notification). */
  wake(): void;
  /** Resolves when no consumer this process runs has work left, retries included (tests and benchmarks). */
  idle(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Lease owners of the dispatchers running in this process (see the embedded-storage note in startDispatcher). */
const liveOwners = new Set<string>();

interface ClaimRow {
  tenant: string;
  consumer: string;
  cursor: number;
  attempts: number;
}

/** Starts dispatching. */
export async function startDispatcher(opts: DispatcherOptions): Promise<Dispatcher> {
  const { db } = opts;
  const leaseMs = opts.leaseMs ?? 30_000;
  const pollMs = opts.pollMs ?? 1_000;
  const concurrency = opts.concurrency ?? 8;
  const batch = opts.batch ?? 200;
  const roundGapMs = opts.roundGapMs ?? 50;
  let lastRoundStart = 0;
  const log = opts.log ?? (() => undefined);
  const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const handlerOf = (consumer: string): ConsumerHandler | undefined => opts.handlers.find((h) => consumer.startsWith(h.prefix));

  let stopped = false;
  let running: Promise<void> | undefined;
  /** Consumers this process is working on now (each leased; see {@link startConsumer}). */
  const active = new Map<string, Promise<void>>();
  let again = false;
  /** Tenants to register before the next claim (`*` for all). */
  const pendingTenants = new Set<string>();
  /** Tenants whose consumers are registered: seeing them again asks for nothing. */
  const registeredTenants = new Set<string>();

  /** Names this process may claim: exact names for handlers that list them, a prefix pattern for the others. */
  function claimFilter(): { names: string[]; prefixes: string[] } {
    const names: string[] = [];
    const prefixes: string[] = [];
    for (const h of opts.handlers) {
      const listed = h.names?.();
      if (listed) names.push(...listed);
      else prefixes.push(`${h.prefix}%`);
    }
    return { names, prefixes };
  }

  /**
   * Leases up to `concurrency` due consumers. Work is shared between processes per consumer (a bot in a tenant,
   * a Subscription): each consumer's events stay in order on one process at a time. Random order spreads the
   * consumers over processes that wake together.
   */
  async function claim(limit: number): Promise<ClaimRow[]> {
    const { names, prefixes } = claimFilter();
    const { rows } = await db.query<ClaimRow>(
      `UPDATE haven_consumers c SET lease_owner = $1, lease_until = now() + ($2 * interval '1 millisecond')
       FROM (SELECT c2.tenant, c2.consumer FROM haven_consumers c2 JOIN haven_event_counters ec ON ec.tenant = c2.tenant
             WHERE c2.cursor < ec.last_seq
               AND (c2.lease_until IS NULL OR c2.lease_until < now())
               AND (c2.retry_at IS NULL OR c2.retry_at <= now())
               AND (c2.consumer = ANY($3::text[]) OR c2.consumer LIKE ANY($4::text[]))
             ORDER BY c2.retry_at NULLS FIRST, random()
             LIMIT $5 FOR UPDATE OF c2 SKIP LOCKED) pick
       WHERE c.tenant = pick.tenant AND c.consumer = pick.consumer
       RETURNING c.tenant, c.consumer, c.cursor, c.attempts`,
      [owner, leaseMs, names, prefixes, limit],
    );
    return rows.map((r) => ({ ...r, cursor: Number(r.cursor) }));
  }

  /** Saves progress while still holding the lease; false when the lease was lost (another process took over). */
  async function save(
    c: ClaimRow,
    cursor: number,
    fields: { attempts: number; retryAt?: number; error?: string; release: boolean },
  ): Promise<boolean> {
    const { rowCount } = await db.query(
      `UPDATE haven_consumers SET cursor = $4, attempts = $5,
         retry_at = CASE WHEN $6::bigint IS NULL THEN NULL ELSE now() + ($6::bigint * interval '1 millisecond') END,
         last_error = COALESCE($7, CASE WHEN $5 = 0 THEN NULL ELSE last_error END),
         lease_owner = CASE WHEN $8 THEN NULL ELSE lease_owner END,
         lease_until = CASE WHEN $8 THEN NULL ELSE now() + ($9 * interval '1 millisecond') END
       WHERE tenant = $1 AND consumer = $2 AND lease_owner = $3`,
      [c.tenant, c.consumer, owner, cursor, fields.attempts, fields.retryAt ?? null, fields.error ?? null, fields.release, leaseMs],
    );
    return rowCount > 0;
  }

  async function deadLetter(c: ClaimRow, event: HavenEvent, attempts: number, error: string): Promise<void> {
    await db.query(
      `INSERT INTO haven_dead_letters (tenant, consumer, seq, attempts, error) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant, consumer, seq) DO UPDATE SET attempts = EXCLUDED.attempts, error = EXCLUDED.error, dead_at = now(), replayed_at = NULL`,
      [c.tenant, c.consumer, event.seq, attempts, error],
    );
  }

  /** Works through one claimed consumer's events, in order, until it is caught up, fails, or its time is up. */
  async function processConsumer(c: ClaimRow): Promise<number> {
    const handler = handlerOf(c.consumer);
    if (!handler) return 0;
    let cursor = c.cursor;
    let attempts = c.attempts;
    let handled = 0;
    const deadline = Date.now() + leaseMs / 2;
    while (!stopped && Date.now() < deadline) {
      const events = await readEvents(db, c.tenant, cursor, batch, handler.contentTypes?.(c.consumer) ?? []);
      if (events.length === 0) break;
      for (const event of events) {
        if (stopped || Date.now() >= deadline) break;
        let result: HandleResult;
        try {
          result = await handler.handle({ ...c, cursor, attempts }, event);
        } catch (err) {
          result = {
            kind: 'failed',
            error: err instanceof Error ? `${err.constructor.name}: ${err.message.slice(0, 200)}` : 'error',
            retryable: true,
          };
        }
        handled++;
        if (result.kind === 'gone') {
          await db.query(`DELETE FROM haven_consumers WHERE tenant = $1 AND consumer = $2 AND lease_owner = $3`, [
            c.tenant,
            c.consumer,
            owner,
          ]);
          return handled;
        }
        if (result.kind === 'failed') {
          attempts++;
          if (!result.retryable || shouldDeadLetter(attempts, opts.retry)) {
            await deadLetter(c, event, attempts, result.error);
            log({
              level: 'warn',
              event: 'events.dead_letter',
              tenant: c.tenant,
              consumer: c.consumer,
              seq: event.seq,
              attempts,
              error: result.error,
            });
            await handler.onDeadLetter?.({ ...c, cursor, attempts }, event, result.error, attempts).catch(() => undefined);
            cursor = event.seq;
            attempts = 0;
            if (!(await save(c, cursor, { attempts, release: false }))) return handled;
            continue;
          }
          const delay = retryDelayMs(attempts, opts.retry);
          log({
            level: 'info',
            event: 'events.retry',
            tenant: c.tenant,
            consumer: c.consumer,
            seq: event.seq,
            attempts,
            delayMs: delay,
            error: result.error,
          });
          await save(c, cursor, { attempts, retryAt: delay, error: result.error, release: true });
          return handled;
        }
        const recovered = attempts > 0;
        cursor = event.seq;
        attempts = 0;
        if (result.kind === 'done') {
          if (!(await save(c, cursor, { attempts, release: false }))) return handled;
          if (recovered) await handler.onRecovered?.({ ...c, cursor, attempts }).catch(() => undefined);
        }
      }
      // A short page was everything numbered when it was read; later events come with the next round's wake-up.
      if (events.length < batch) break;
    }
    await save(c, cursor, { attempts, release: true });
    return handled;
  }

  /** Replays dead letters an admin asked for (./dead-letters.ts), outside their consumer's order. */
  async function replays(): Promise<number> {
    const { names, prefixes } = claimFilter();
    const { rows } = await db.query<{ tenant: string; consumer: string; seq: number }>(
      // The request stays set until the result is recorded: a replay whose process died is taken again after
      // the lease time (replayed_at is the start of the attempt).
      `UPDATE haven_dead_letters d SET replayed_at = now(), replay_result = 'running'
       FROM (SELECT tenant, consumer, seq FROM haven_dead_letters
             WHERE replay_requested_at IS NOT NULL
               AND (replayed_at IS NULL OR replayed_at < replay_requested_at OR replayed_at < now() - ($3 * interval '1 millisecond'))
               AND (consumer = ANY($1::text[]) OR consumer LIKE ANY($2::text[]))
             ORDER BY seq LIMIT 20 FOR UPDATE SKIP LOCKED) pick
       WHERE d.tenant = pick.tenant AND d.consumer = pick.consumer AND d.seq = pick.seq
       RETURNING d.tenant, d.consumer, d.seq`,
      [names, prefixes, leaseMs],
    );
    for (const r of rows) {
      const handler = handlerOf(r.consumer);
      const event = handler ? await readEvent(db, r.tenant, Number(r.seq)) : undefined;
      let result: HandleResult = { kind: 'failed', error: 'event or consumer no longer exists', retryable: false };
      if (handler && event) {
        try {
          result = await handler.handle({ tenant: r.tenant, consumer: r.consumer, cursor: event.seq, attempts: 0 }, event);
        } catch (err) {
          result = { kind: 'failed', error: err instanceof Error ? err.message.slice(0, 200) : 'error', retryable: true };
        }
      }
      const outcome = result.kind === 'failed' ? `failed: ${result.error}` : result.kind;
      await db.query(
        `UPDATE haven_dead_letters SET replay_result = $4, replay_requested_at = NULL WHERE tenant = $1 AND consumer = $2 AND seq = $3`,
        [r.tenant, r.consumer, r.seq, outcome.slice(0, 500)],
      );
      log({
        level: 'info',
        event: 'events.replayed',
        tenant: r.tenant,
        consumer: r.consumer,
        seq: Number(r.seq),
        result: outcome.slice(0, 200),
      });
    }
    return rows.length;
  }

  async function round(): Promise<void> {
    do {
      const wait = lastRoundStart + roundGapMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (stopped) break;
      lastRoundStart = Date.now();
      again = false;
      // Number what has committed since the last run (one sequencer at a time across processes; its NOTIFY wakes
      // every dispatcher for the tenants it numbered).
      const numbered = await numberEvents(db);
      if (numbered.length > 0) again = true;
      // A tenant numbered here for the first time is registered before the claim, without waiting for its
      // notification to arrive (idle() could otherwise find nothing due and return before the bots ran).
      for (const tenant of numbered) seeTenant(tenant);
      if (await replays()) again = true;
      if (opts.beforeClaim && pendingTenants.size > 0) {
        const tenants = [...pendingTenants];
        pendingTenants.clear();
        try {
          for (const t of await opts.beforeClaim(tenants)) registeredTenants.add(t);
        } catch (err) {
          // Tried again next round: a lost registration would leave a new tenant without its bots until the
          // periodic re-check.
          for (const t of tenants) pendingTenants.add(t);
          throw err;
        }
      }
      // Consumers still at work keep their leases, so the claim passes them by; a finished one wakes a new round.
      const free = concurrency - active.size;
      const claimed = free > 0 ? await claim(free) : [];
      for (const c of claimed) startConsumer(c);
      if (claimed.length === 0 && !again) break;
    } while (again && !stopped);
  }

  /** Works on one claimed consumer without holding up the others; when it is done, a round looks for more work. */
  function startConsumer(c: ClaimRow): void {
    const key = `${c.tenant}\u0000${c.consumer}`;
    const work = processConsumer(c)
      .then(
        () => undefined,
        (err: unknown) => {
          log({
            level: 'error',
            event: 'events.dispatch_failed',
            tenant: c.tenant,
            consumer: c.consumer,
            error: err instanceof Error ? err.message.slice(0, 200) : 'error',
          });
        },
      )
      .finally(() => {
        // Released before this runs, the consumer may already be at work again under a new claim: keep that one.
        if (active.get(key) === work) active.delete(key);
        wake();
      });
    active.set(key, work);
  }

  /**
   * A tenant seen (notified or numbered here) and not registered yet gets its consumers registered next round. It
   * counts as registered only once registration says so: the notification of a tenant's first write can arrive
   * before its events are numbered, and a registration run then finds nothing to register; marking the tenant
   * done at that point left its bots unregistered until the periodic re-check.
   */
  function seeTenant(tenant: string): void {
    if (!registeredTenants.has(tenant)) pendingTenants.add(tenant);
  }

  function wake(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = round()
      .catch((err: unknown) => {
        log({ level: 'error', event: 'events.round_failed', error: err instanceof Error ? err.message.slice(0, 200) : 'error' });
      })
      .finally(() => {
        running = undefined;
        if (again && !stopped) wake();
      });
  }

  liveOwners.add(owner);
  if (db.kind === 'pglite') {
    // Embedded storage has one owner process (the DATA_DIR lock), so a lease held by no dispatcher of this
    // process was left by a previous process that died without stop() (kill -9, crash, power loss). Waiting
    // for it to expire would hold back every consumer it had claimed for up to `leaseMs` after a restart.
    await db.query(
      `UPDATE haven_consumers SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL AND lease_owner <> ALL($1::text[])`,
      [[...liveOwners]],
    );
  }
  const unlisten = await db.listen(EVENTS_CHANNEL, (tenant) => {
    if (tenant) seeTenant(tenant);
    wake();
  });
  let polls = 0;
  const timer = setInterval(() => {
    // Every 30th poll re-checks consumer registration for every tenant (bots deployed while running, tenants
    // first written by another process before this one listened).
    if (++polls % 30 === 0) pendingTenants.add('*');
    wake();
  }, pollMs);
  timer.unref();
  pendingTenants.add('*');
  wake();

  async function idle(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (running) await running;
      await Promise.all(active.values());
      const { names, prefixes } = claimFilter();
      const { rows } = await db.query<{ due: number }>(
        `SELECT count(*)::int AS due FROM haven_consumers c JOIN haven_event_counters ec ON ec.tenant = c.tenant
         WHERE c.cursor < ec.last_seq
           AND (c.consumer = ANY($1::text[]) OR c.consumer LIKE ANY($2::text[]))`,
        [names, prefixes],
      );
      if (!running && active.size === 0 && (rows[0]?.due ?? 0) === 0 && !(await hasUnnumbered(db))) return;
      if (Date.now() > until) throw new Error('dispatcher did not become idle in time');
      wake();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  return {
    owner,
    wake,
    idle,
    async stop() {
      stopped = true;
      liveOwners.delete(owner);
      clearInterval(timer);
      await unlisten().catch(() => undefined);
      if (running) await running;
      await Promise.all(active.values());
      // Leases of this process end now, so that another process need not wait for them to expire.
      await db
        .query(`UPDATE haven_consumers SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1`, [owner])
        .catch(() => undefined);
    },
  };
}
