/**
 * Starts Haven's event machinery in a server process (./README.md): write hooks (veto bots, Subscription
 * registration), the dispatcher with its two consumer kinds (bots, Subscriptions), the websocket hub, and bot
 * consumer registration per tenant.
 */
import type { Server } from 'node:http';
import type { FhirRouter } from '@medplum/fhir-router';
import type { Bundle, Questionnaire } from '@medplum/fhirtypes';
import { createCanonicalInstaller } from './canonicals.ts';
import type { AfterCommitBot, BotDefinition, ScheduledBot, VetoBot } from '../../../bots/runtime.ts';
import { loadClinicalConfig } from '../../../bots/clinical/config.ts';
import { BOTS, BOTS_MODULE } from '../../../bots/index.ts';
import { instruments } from '../../../bots/instruments-registry.ts';
import type { HavenConfig } from '../config.ts';
import type { OutboundPolicy } from '../net/outbound-policy.ts';
import type { Db } from '../store/db.ts';
import type { RepositoryContext, WriteHooks } from '../store/repository.ts';
import { createBotRunner } from './bot-runner.ts';
import { startDispatcher, type Dispatcher } from './dispatcher.ts';
import { parseCriteria } from './matcher.ts';
import { buildNotificationBundle, payloadContentOf } from './notification.ts';
import { createSubscriptionDelivery, eventCount, loadSubscription, type SocketAnnouncer } from './subscription-delivery.ts';
import { subscriptionHook } from './subscription-hook.ts';
import { hashToken } from './subscription-ops.ts';
import { vetoHooks } from './veto.ts';
import { createWebSocketHub, type WebSocketHub } from './websocket-hub.ts';
import { createWsFanout, standingOfKey } from './ws-fanout.ts';

/** Path websocket clients connect to. */
export const WEBSOCKET_PATH = '/ws/subscriptions';
/** NOTIFY channel telling every process on PostgreSQL that a websocket Subscription has a numbered event. */
const WS_CHANNEL = 'haven_ws';
/** How often bound sockets are re-checked (their receiver still exists and may read, their subscription delivers). */
const WS_REVALIDATE_MS = 30_000;

/** The loaded bots and where workers import them from. */
export interface BotSet {
  readonly bots: readonly BotDefinition[];
  /** Module URL exporting `BOTS` (for worker threads). */
  readonly module: string;
  readonly config: unknown;
  /** Canonical Questionnaires installed into every tenant (questionnaires/). */
  readonly questionnaires?: readonly Questionnaire[];
}

/** The bots of bots/index.ts with their configuration (HAVEN_BOT_CONFIG) and the instruments of questionnaires/. */
export function defaultBotSet(env: NodeJS.ProcessEnv = process.env): BotSet {
  return {
    bots: BOTS,
    module: BOTS_MODULE,
    config: loadClinicalConfig(env),
    questionnaires: instruments()
      .all()
      .map((i) => i.questionnaire),
  };
}

/** Everything the events layer needs from the server. */
export interface EventsOptions {
  readonly config: HavenConfig;
  readonly db: Db;
  readonly router: FhirRouter;
  readonly botSet: BotSet;
  /** Repository settings of a tenant (no access: full access; the events layer narrows it where needed). */
  readonly repoContext: (tenant: string) => Omit<RepositoryContext, 'hooks'>;
  readonly log: (event: Record<string, unknown>) => void;
  /**
   * Runs one start-up step (the server marks it done for readiness, tests may hold it back). Default: just runs it.
   * `questionnaires`: questionnaires/ installed into `default` and every tenant with data; `bots`: bot consumers
   * registered for every tenant with numbered events and the dispatcher started.
   */
  readonly step?: (name: 'questionnaires' | 'bots', work: () => Promise<void>) => Promise<void>;
}

/** The running events layer. */
export interface Events {
  /** Hooks every repository of the FHIR API must carry. */
  readonly hooks: WriteHooks;
  readonly dispatcher: Dispatcher;
  /**
   * Makes a tenant ready before its first request is served: installs Haven's Questionnaires there (once per
   * process; at once for a tenant already done), so that a client never finds a tenant without them.
   */
  prepareTenant(tenant: string): Promise<void>;
  /** Runs the scheduled bots that are due, in every tenant (also every minute by a timer). */
  runSchedules(): Promise<void>;
  /** Accepts websocket upgrades on {@link WEBSOCKET_PATH}. */
  attach(server: Server): void;
  close(): Promise<void>;
}

/** Combines write hooks: each applies to its own types, all run in order. */
function combineHooks(list: readonly WriteHooks[]): WriteHooks {
  return {
    applies: (type) => list.some((h) => h.applies(type)),
    async beforeWrite(repo, change) {
      for (const h of list) if (h.applies(change.resourceType)) await h.beforeWrite(repo, change);
    },
  };
}

/**
 * The write hooks of a process: Subscription checks and registration, and the veto bots. The CLI uses them too
 * when it writes to storage directly, so that imports meet the same checks as API writes.
 */
export function writeHooksFor(config: HavenConfig, botSet: BotSet, log: (event: Record<string, unknown>) => void): WriteHooks {
  const vetoes = config.events.botsEnabled ? botSet.bots.filter((b): b is VetoBot => b.mode === 'veto') : [];
  return combineHooks([subscriptionHook({ outbound: restHookOutbound(config) }), vetoHooks(vetoes, botSet.config, log)]);
}

/** Which rest-hook endpoints may be called: the operator allow-list and the development flags (../config.ts). */
export function restHookOutbound(config: HavenConfig): OutboundPolicy {
  return {
    allow: config.outbound.allow,
    allowLoopback: config.events.allowLoopbackEndpoints,
    allowHttp: config.events.allowHttpEndpoints,
  };
}

/**
 * Registers `bot:<id>` consumers for tenants (all when `*` is listed), starting after what predates the bot.
 * Returns the tenants registered: those with numbered events (a tenant's counter is where registration starts).
 */
async function registerBots(db: Db, botIds: readonly string[], tenants: readonly string[]): Promise<string[]> {
  const only = tenants.includes('*') ? null : tenants;
  // Read before the inserts: a tenant numbered in between is left out and asked for again, never the reverse.
  const { rows: counted } = await db.query<{ tenant: string }>(
    `SELECT tenant FROM haven_event_counters WHERE $1::text[] IS NULL OR tenant = ANY($1::text[])`,
    [only],
  );
  const registered = counted.map((r) => r.tenant);
  if (botIds.length === 0) return registered;
  const now = new Date().toISOString();
  await db.query(
    `INSERT INTO haven_settings (key, value) SELECT 'bot-registered:' || b, $2 FROM unnest($1::text[]) AS b ON CONFLICT (key) DO NOTHING`,
    [botIds, now],
  );
  // A bot deployed into a tenant with history starts after the events recorded before it was first registered:
  // it must not, say, raise risk Tasks for last year's questionnaires. That start is looked up only for consumers
  // not registered yet: this runs every few polls, and the lookup walks the tenant's events back from the newest
  // (7 s per run at a million events when it ran for every consumer, registered or not).
  await db.query(
    `INSERT INTO haven_consumers (tenant, consumer, cursor)
     SELECT ec.tenant, 'bot:' || b,
       COALESCE((SELECT max(e.seq) FROM haven_events e WHERE e.tenant = ec.tenant AND e.recorded_at < s.value::timestamptz), 0)
     FROM haven_event_counters ec
     CROSS JOIN unnest($1::text[]) AS b
     JOIN haven_settings s ON s.key = 'bot-registered:' || b
     WHERE ($2::text[] IS NULL OR ec.tenant = ANY($2::text[]))
       AND NOT EXISTS (SELECT 1 FROM haven_consumers c WHERE c.tenant = ec.tenant AND c.consumer = 'bot:' || b)
     ON CONFLICT (tenant, consumer) DO NOTHING`,
    [botIds, only],
  );
  return registered;
}

/** Starts the events layer. */
export async function startEvents(opts: EventsOptions): Promise<Events> {
  const { config, db, log } = opts;
  const enabled = config.events.botsEnabled ? opts.botSet.bots : [];
  const afterCommit = enabled.filter((b): b is AfterCommitBot => b.mode === 'after-commit');
  const scheduled = enabled.filter((b): b is ScheduledBot => b.mode === 'scheduled');
  const hooks = writeHooksFor(config, opts.botSet, log);
  const repoContext = (tenant: string): RepositoryContext => ({ ...opts.repoContext(tenant), hooks });

  const heartbeat = (tenant: string, subscriptionId: string): Bundle =>
    buildNotificationBundle({
      baseUrl: repoContext(tenant).baseUrl,
      subscriptionId,
      criteria: '',
      status: 'active',
      type: 'heartbeat',
      eventsSinceSubscriptionStart: 0,
      events: [],
      content: 'empty',
    });
  const hub: WebSocketHub = createWebSocketHub({
    path: WEBSOCKET_PATH,
    log,
    heartbeat,
    async resolveToken(token) {
      const { rows } = await db.query<{ tenant: string; subscription_id: string; receiver: unknown }>(
        `SELECT tenant, subscription_id, receiver FROM haven_ws_tokens WHERE token_hash = $1 AND expires_at > now()`,
        [hashToken(token)],
      );
      const row = rows[0];
      if (!row) return undefined;
      const sub = await loadSubscription(db, row.tenant, row.subscription_id);
      if (sub?.channel?.type !== 'websocket') return undefined;
      // The caller who asked for the token binds; they must still exist and read the subscribed type now.
      const receiver = row.receiver === null || row.receiver === undefined ? undefined : JSON.stringify(row.receiver);
      const standing = await standingOfKey(db, row.tenant, receiver, parseCriteria(sub.criteria).resourceType, config.authOff);
      if (!standing.ok) {
        log({ level: 'warn', event: 'ws.bind_refused', tenant: row.tenant, subscription: row.subscription_id, reason: standing.reason });
        return undefined;
      }
      const handshake = buildNotificationBundle({
        baseUrl: repoContext(row.tenant).baseUrl,
        subscriptionId: row.subscription_id,
        criteria: sub.criteria,
        status: (sub.status ?? 'active') as 'active',
        type: 'handshake',
        eventsSinceSubscriptionStart: await eventCount(db, row.tenant, row.subscription_id),
        events: [],
        content: payloadContentOf(sub),
      });
      return { tenant: row.tenant, subscriptionId: row.subscription_id, handshake, ...(receiver ? { receiver } : {}) };
    },
  });
  const fanout = createWsFanout({ db, hub, baseUrl: (tenant) => repoContext(tenant).baseUrl, authOff: config.authOff, log });

  // A numbered websocket event reaches every process through NOTIFY on PostgreSQL (the socket may be held by another
  // process than the one that delivers; only the number travels); on embedded storage there is one process.
  let announce: SocketAnnouncer = (tenant, id, eventNumber) => fanout.deliver(tenant, id, eventNumber);
  let unlistenWs: (() => Promise<void>) | undefined;
  if (db.kind === 'pg') {
    unlistenWs = await db.listen(WS_CHANNEL, (payload) => {
      let msg: { tenant?: unknown; id?: unknown; n?: unknown };
      try {
        msg = JSON.parse(payload) as typeof msg;
      } catch {
        return; // a malformed payload is not ours
      }
      if (typeof msg.tenant === 'string' && typeof msg.id === 'string' && typeof msg.n === 'number') {
        void fanout.deliver(msg.tenant, msg.id, msg.n);
      }
    });
    announce = async (tenant, id, n) => {
      await db.query('SELECT pg_notify($1, $2)', [WS_CHANNEL, JSON.stringify({ tenant, id, n })]);
    };
  }
  const revalidateTimer = setInterval(() => {
    fanout.revalidate().catch(() => undefined);
  }, WS_REVALIDATE_MS);
  revalidateTimer.unref();

  const botRunner = createBotRunner({
    db,
    bots: afterCommit,
    scheduled,
    botsModule: opts.botSet.module,
    router: opts.router,
    repoContext,
    config: opts.botSet.config,
    log,
  });
  const delivery = createSubscriptionDelivery({
    db,
    repoContext,
    timeoutMs: config.events.deliveryTimeoutMs,
    outbound: restHookOutbound(config),
    authOff: config.authOff,
    announce: (tenant, id, n) => announce(tenant, id, n),
    log,
  });
  const botIds = afterCommit.map((b) => b.id);
  const canonicals = createCanonicalInstaller(
    db,
    config.events.installQuestionnaires ? (opts.botSet.questionnaires ?? []) : [],
    repoContext,
  );
  const step = opts.step ?? ((_name, work) => work());
  // Before the server is ready (../http/readiness.ts): the instruments exist in every tenant with data, and the
  // bots are registered where events are numbered, so the first request after start finds both.
  let dispatcher!: Dispatcher;
  try {
    await step('questionnaires', () => canonicals.install(['*']));
    await step('bots', async () => {
      await registerBots(db, botIds, ['*']);
      dispatcher = await startDispatcher({
        db,
        handlers: [botRunner, delivery],
        retry: config.events.retry,
        pollMs: config.events.pollMs,
        leaseMs: config.events.leaseMs,
        roundGapMs: config.events.roundGapMs,
        log,
        beforeClaim: async (tenants) => {
          const registered = await registerBots(db, botIds, tenants);
          // A tenant first written some other way than the FHIR API (the CLI on PostgreSQL) gets its instruments here.
          await canonicals.install(tenants);
          return registered;
        },
      });
    });
  } catch (err) {
    // Nothing of a layer that did not start may keep running (timers, worker threads, LISTEN).
    await botRunner.close();
    await unlistenWs?.();
    await hub.close();
    throw err;
  }
  let scheduling: Promise<void> | undefined;
  const runSchedules = async (): Promise<void> => {
    if (scheduled.length === 0) return;
    const { rows } = await db.query<{ tenant: string }>(`SELECT tenant FROM haven_event_counters`);
    for (const { tenant } of rows) await botRunner.runScheduled(tenant);
  };
  const scheduleTimer = setInterval(() => {
    scheduling ??= runSchedules()
      .catch(() => undefined)
      .finally(() => {
        scheduling = undefined;
      });
  }, 60_000);
  scheduleTimer.unref();
  return {
    hooks,
    dispatcher,
    prepareTenant: (tenant) => canonicals.ensure(tenant),
    runSchedules,
    attach: (server) => hub.attach(server),
    async close() {
      clearInterval(scheduleTimer);
      clearInterval(revalidateTimer);
      await scheduling;
      await dispatcher.stop();
      await botRunner.close();
      await unlistenWs?.();
      await hub.close();
    },
  };
}
