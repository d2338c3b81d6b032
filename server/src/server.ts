/**
 * Starts a Haven server process: definitions, storage (migrated), FHIR router, HTTP listener.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type RequestListener, type Server } from 'node:http';
import { getResourceTypes, getSearchParameters } from '@medplum/core';
import { developmentAuthenticator, type Authenticator } from './auth/authenticate.ts';
import { createAuthAdminRouter, localAuthAdmin } from './auth/admin.ts';
import { createAuthServer, type AuthServer } from './auth/auth-server.ts';
import { acquireDataDirLock } from './cli/owner.ts';
import type { HavenConfig } from './config.ts';
import { loadDefinitions } from './fhir/definitions.ts';
import { startAdminChannel } from './http/admin.ts';
import { createApp } from './http/app.ts';
import { createStartingApp, Readiness, type StartupStep } from './http/readiness.ts';
import { registerHavenApps } from './http/app-clients.ts';
import { smartSecurityBlock } from './auth/discovery.ts';
import { buildCapabilityStatement } from './http/capability.ts';
import { createFhirRouter } from './http/routes.ts';
import { addBillingOperations, BILLING_OPERATIONS } from './billing/operations.ts';
import { fhirBase } from './http/fhir-api.ts';
import type { Db } from './store/db.ts';
import { indexedSearchParameters } from './store/indexer.ts';
import { openDatabase } from './store/open-db.ts';
import { cursorSecret } from './store/settings.ts';
import { defaultBotSet, startEvents, WEBSOCKET_PATH, type BotSet, type Events } from './events/index.ts';
import { addSubscriptionOperations } from './events/subscription-ops.ts';
import { logConfigProblems } from './events/config-warnings.ts';

/** A running server. */
export interface RunningServer {
  /** http://host:port as actually bound. */
  readonly url: string;
  readonly port: number;
  readonly db: Db;
  /** The events layer (dispatcher, hooks). */
  readonly events: Events;
  /** The SMART authorization server (absent with HAVEN_AUTH=off). */
  readonly auth: AuthServer | undefined;
  close(): Promise<void>;
}

/** Structured JSON log line on stderr. Callers never pass PHI. */
export function logEvent(event: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
}

/** Search parameters Haven serves for a type: what the indexer indexes, plus `_id` and `_lastUpdated`. */
export function servedSearchParameters(
  resourceType: string,
): { name: string; type: string; definition?: string; documentation?: string; target?: string[] }[] {
  const all = getSearchParameters(resourceType) ?? {};
  const params = [
    ...['_id', '_lastUpdated'].map((code) => all[code]).filter((sp) => sp !== undefined),
    ...indexedSearchParameters(resourceType),
  ];
  return params
    .map((sp) => ({
      name: sp.code as string,
      type: sp.type as string,
      definition: sp.url,
      documentation: sp.description,
      target: sp.target,
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Types Medplum's registry knows that are not R4 resources: Medplum's own administrative types, and
 * SubscriptionStatus (an R4B/R5 type shipped for the Subscriptions backport).
 */
const NOT_R4_TYPES = new Set([
  'AccessPolicy',
  'Agent',
  'AsyncJob',
  'Bot',
  'BulkDataExport',
  'ClientApplication',
  'DomainConfiguration',
  'IdentityProvider',
  'JsonWebKey',
  'Login',
  'PasswordChangeRequest',
  'Project',
  'ProjectMembership',
  'SmartAppLaunch',
  'SubscriptionStatus',
  'User',
  'UserConfiguration',
  'UserSecurityRequest',
]);

/** Resource types served: every R4 resource type. */
export function servedResourceTypes(): string[] {
  return getResourceTypes()
    .filter((t) => !NOT_R4_TYPES.has(t))
    .sort();
}

/** Options for tests and embedding. */
export interface StartOptions {
  /** Replaces the token verifier (the SMART issue plugs in here). */
  authenticate?: Authenticator;
  /** Replaces the bots (tests); default: every bot in bots/index.ts with bots/config. */
  botSet?: BotSet;
  log?: (event: Record<string, unknown>) => void;
  /** Told the bound address as soon as the listener is up, before the server is ready (tests). */
  onListening?: (url: string) => void;
  /** Awaited before each start-up step runs (tests hold a step back to observe a server that is not ready). */
  beforeStep?: (step: StartupStep) => Promise<void>;
}

/**
 * Warns at start when embedded storage holds more than `advisedMax` resources (0: never): PGlite has one session, so
 * the statistics runs that keep searches fast stall every request while they run (~1 s at a time from ~300,000
 * resources), and PostgreSQL runs them on a connection of their own. Counts from the planner's estimate (the
 * database was analysed at open), not a scan.
 */
async function adviseOnEmbeddedSize(db: Db, advisedMax: number, log: (event: Record<string, unknown>) => void): Promise<void> {
  if (db.kind !== 'pglite' || advisedMax === 0) return;
  const { rows } = await db.query<{ n: string }>(
    `SELECT greatest(reltuples, 0)::bigint AS n FROM pg_class WHERE oid = 'resources'::regclass`,
  );
  const resources = Number(rows[0]?.n ?? 0);
  if (resources <= advisedMax) return;
  log({
    level: 'warn',
    event: 'storage.embedded_large',
    resources,
    advisedMax,
    message: `Embedded storage holds about ${resources} resources (advised at most ${advisedMax}): its statistics runs stall requests; use PostgreSQL (DATABASE_URL)`,
  });
}

/** The CapabilityStatement of each FHIR base, built once per base. */
function capabilityStatements(config: HavenConfig, resourceTypes: string[]): (baseUrl: string) => object {
  const cache = new Map<string, object>();
  return (baseUrl) => {
    let cs = cache.get(baseUrl);
    if (!cs) {
      cs = buildCapabilityStatement({
        baseUrl,
        software: { name: 'Haven', version: '0.1.0' },
        now: new Date().toISOString(),
        resourceTypes,
        typeInteractions: ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'history-type', 'create', 'search-type'],
        systemInteractions: ['transaction', 'batch', 'search-system', 'history-system'],
        searchParams: servedSearchParameters,
        searchRevIncludes: true,
        operations: [
          { name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything', resourceTypes: ['Patient'] },
          { name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
          ...BILLING_OPERATIONS,
          {
            name: 'status',
            definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status',
            resourceTypes: ['Subscription'],
          },
          {
            name: 'events',
            definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-events',
            resourceTypes: ['Subscription'],
          },
          {
            name: 'get-ws-binding-token',
            definition: 'http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-get-ws-binding-token',
            resourceTypes: ['Subscription'],
          },
        ],
        formats: ['application/fhir+json', 'application/json'],
        conditional: { create: true, update: true, delete: 'single', read: 'full-support' },
        // The SMART block is advertised only when the authorization server runs (not with HAVEN_AUTH=off).
        security: config.authOff ? undefined : smartSecurityBlock(baseUrl),
      });
      cache.set(baseUrl, cs);
    }
    return cs;
  };
}

/** Binds the listener; rejects when the port cannot be bound. */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
}

/**
 * Starts a server and resolves once it is READY (./http/readiness.ts): the listener binds first, and answers
 * `/healthz` 200, `/readyz` 503 and everything else 503 with `Retry-After` while storage opens (migrations), the
 * Questionnaires are installed into every tenant with data and the bots are registered; then it serves the
 * application. Logs `server.started` when listening and `server.ready` (with `timeToReadyMs`) when ready.
 */
export async function startServer(config: HavenConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const startedAt = performance.now();
  const log = opts.log ?? logEvent;
  loadDefinitions();
  if (config.authOff) {
    log({
      level: 'warn',
      event: 'auth.disabled',
      message: 'HAVEN_AUTH=off: the FHIR API is open to anyone on this machine. Development only.',
    });
  }
  // Embedded storage has one owner process (DESIGN.md): refuse to start while another process holds DATA_DIR.
  const releaseLock = config.databaseUrl ? () => {} : acquireDataDirLock(config.dataDir);
  const readiness = new Readiness();
  // Requests go to whatever serves now: the starting app until every step is done, then the application.
  let serve: RequestListener = createStartingApp(readiness);
  const server = createServer((req, res) => serve(req, res));
  // Everything opened so far, closed in reverse order if a later step fails.
  const opened: (() => Promise<void> | void)[] = [releaseLock];
  const unwind = async (): Promise<void> => {
    for (const close of opened.splice(0).reverse()) await (async () => close())().catch(() => undefined);
  };
  try {
    await listen(server, config.port, config.host);
  } catch (err) {
    await unwind();
    throw err;
  }
  opened.push(async () => {
    server.closeAllConnections?.();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  log({ level: 'info', event: 'server.started', url, fhirBase: `${config.baseUrl}/fhir`, ready: false });
  opts.onListening?.(url);
  const step = async (name: StartupStep, work: () => Promise<void>): Promise<void> => {
    await opts.beforeStep?.(name);
    await work();
    readiness.complete(name);
  };

  try {
    let db!: Db;
    await step('storage', async () => {
      db = await openDatabase({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        embeddedThread: config.embeddedThread,
        // Table counts and timings only. A failed run is a warning: statistics go stale, dead rows stay.
        onMaintenance: (r) => log({ level: r.error ? 'warn' : 'info', event: 'store.maintenance', ...r }),
      });
      opened.push(() => db.close());
    });
    await adviseOnEmbeddedSize(db, config.embeddedAdvisedMax, log);
    const secret = await cursorSecret(db);
    const resourceTypes = servedResourceTypes();
    const router = createFhirRouter(log);
    addSubscriptionOperations(router, () => `${config.baseUrl.replace(/^http/, 'ws')}${WEBSOCKET_PATH}`);
    addBillingOperations(router, config.billing, log);
    const botSet = opts.botSet ?? defaultBotSet();
    // At every start: a tenant whose risk Tasks could be left without an owner is logged (`haven doctor` fails on it).
    await logConfigProblems(db, config.events.botsEnabled, botSet, log);
    const events = await startEvents({
      config,
      db,
      router,
      botSet,
      log,
      step,
      repoContext: (tenant) => ({
        db,
        tenant,
        baseUrl: fhirBase(config, tenant),
        maxCount: config.maxCount,
        defaultCount: config.defaultCount,
        lenient: false,
        cursorSecret: secret,
      }),
    });
    opened.push(() => events.close());
    let admin!: Awaited<ReturnType<typeof startAdminChannel>>;
    let auth: AuthServer | undefined;
    await step('http', async () => {
      // The SMART authorization server runs unless HAVEN_AUTH=off (then the FHIR API is open and nothing
      // would honour its tokens, so it is not offered at all).
      if (!config.authOff) {
        const started = await createAuthServer({ config, db, resourceTypes: new Set(resourceTypes), log });
        auth = started;
        opened.push(() => started.close());
        // Haven's own apps are public clients of the default tenant, with URIs under BASE_URL (http/app-clients.ts).
        await registerHavenApps(db, config, 'default', log);
      }
      const authenticate: Authenticator = config.authOff ? developmentAuthenticator : (opts.authenticate ?? auth!.authenticate);
      const app = createApp({
        config,
        db,
        resourceTypes: new Set(resourceTypes),
        router,
        authenticate,
        cursorSecret: secret,
        capabilityStatement: capabilityStatements(config, resourceTypes),
        log,
        hooks: events.hooks,
        prepareTenant: (tenant) => events.prepareTenant(tenant),
        readiness,
        ...(auth ? { auth } : {}),
      });
      events.attach(server);
      admin = await startAdminChannel({
        config,
        db,
        router,
        cursorSecret: secret,
        servedTypes: new Set(resourceTypes),
        log,
        hooks: events.hooks,
        // `haven clients|users|keys` reach embedded storage through here while this server owns it.
        routes: createAuthAdminRouter(localAuthAdmin(db, config, process.env, auth?.deps.keys)),
      });
      opened.push(() => admin.close());
      serve = app;
    });
    log({ level: 'info', event: 'server.ready', url, storage: db.kind, timeToReadyMs: Math.round(performance.now() - startedAt) });
    return {
      url,
      port,
      db,
      events,
      auth,
      async close() {
        auth?.close();
        await events.close();
        await admin.close();
        await new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections?.();
        await db.close();
        releaseLock();
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
