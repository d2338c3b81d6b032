/**
 * Where CLI commands act: the storage itself, or a running server's admin channel. The choice follows
 * DESIGN.md: PostgreSQL (DATABASE_URL) is multi-process safe, so the CLI opens it directly; embedded
 * storage has one owner, so while a live server publishes DATA_DIR/admin.json the CLI goes through it,
 * and otherwise the CLI takes DATA_DIR/.lock itself before opening PGlite.
 */
import { request } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { AuthAdminInputError, localAuthAdmin, type AuthAdmin } from '../auth/admin.ts';
import type { HavenConfig } from '../config.ts';
import { loadDefinitions } from '../fhir/definitions.ts';
import { fhirBase } from '../http/fhir-api.ts';
import { createFhirRouter } from '../http/routes.ts';
import { servedResourceTypes } from '../server.ts';
import {
  BackupFormatError,
  RestoreRefusedError,
  exportLines,
  exportTypeCounts,
  restoreBackup,
  writeBackup,
  type BackupSummary,
} from '../store/backup.ts';
import { openDatabase } from '../store/open-db.ts';
import { importDocument, importResources, type ImportContext, type ImportItem, type ImportResult } from '../store/import.ts';
import { cursorSecret } from '../store/settings.ts';
import { listBotRuns, type BotRun } from '../events/bot-runs.ts';
import { listDeadLetters, requestReplay, type DeadLetter } from '../events/dead-letters.ts';
import { defaultBotSet, writeHooksFor } from '../events/index.ts';
import { knownTenants } from '../events/tenants.ts';
import { ADMIN_FILE, LOCK_FILE, acquireDataDirLock, liveAdminCredential, type AdminCredential } from './owner.ts';

/** The operations the CLI needs, wherever they run. */
export interface Target {
  /** Human description for messages, e.g. "server pid 4242 (admin channel)". */
  readonly description: string;
  importDocument(tenant: string, doc: unknown): Promise<ImportResult>;
  importResources(tenant: string, items: ImportItem[], locate: 'line' | 'entry'): Promise<ImportResult>;
  exportTypeCounts(tenant: string, types?: readonly string[]): Promise<{ type: string; count: number }[]>;
  exportLines(tenant: string, type: string): AsyncIterable<string>;
  backup(out: NodeJS.WritableStream): Promise<BackupSummary>;
  restore(input: AsyncIterable<Buffer>, force: boolean): Promise<BackupSummary>;
  /** Clients, users and signing keys of the authorization server. */
  auth: AuthAdmin;
  /** The dead-letter list of the events layer (../events/dead-letters.ts). */
  deadLetters(tenant: string | undefined, includeReplayed: boolean): Promise<DeadLetter[]>;
  /** Recent bot runs (who, which event, outcome). */
  botRuns(filter: { tenant?: string; bot?: string; outcome?: string; limit?: number }): Promise<BotRun[]>;
  /** Queues dead letters for replay by a running server; returns how many. */
  requestReplay(tenant: string, filter: { consumer?: string; seq?: number }): Promise<number>;
  /** The tenants storage knows (with events, and `default`), sorted. */
  tenants(): Promise<string[]>;
  close(): Promise<void>;
}

/** Opens storage in this process (PGlite under DATA_DIR/.lock, or PostgreSQL). */
async function openLocal(config: HavenConfig, env: NodeJS.ProcessEnv): Promise<Target> {
  const release = config.databaseUrl ? () => {} : acquireDataDirLock(config.dataDir);
  try {
    loadDefinitions();
    const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, embeddedThread: config.embeddedThread });
    const secret = await cursorSecret(db);
    // Internal router errors are already turned into a generic outcome; their detail is for server logs.
    const router = createFhirRouter(() => {});
    const servedTypes = new Set(servedResourceTypes());
    // The same write checks as the server's (Subscription registration, veto bots); the events these writes
    // append are dispatched by the next server to run.
    const hooks = writeHooksFor(config, defaultBotSet(), () => {});
    const ctx = (tenant: string): ImportContext => ({
      db,
      router,
      tenant,
      baseUrl: fhirBase(config, tenant),
      cursorSecret: secret,
      servedTypes,
      hooks,
      limits: config.jsonLimits,
    });
    return {
      description: config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded storage in ${config.dataDir}`,
      importDocument: (tenant, doc) => importDocument(ctx(tenant), doc),
      importResources: (tenant, items, locate) => importResources(ctx(tenant), items, locate),
      exportTypeCounts: (tenant, types) => exportTypeCounts(db, tenant, types),
      exportLines: (tenant, type) => exportLines(db, tenant, type),
      backup: (out) => writeBackup(db, out),
      restore: (input, force) => restoreBackup(db, input, { force }),
      auth: localAuthAdmin(db, config, env),
      deadLetters: (tenant, includeReplayed) => listDeadLetters(db, { ...(tenant ? { tenant } : {}), includeReplayed }),
      requestReplay: (tenant, filter) => requestReplay(db, tenant, filter),
      botRuns: (filter) => listBotRuns(db, filter),
      tenants: () => knownTenants(db),
      async close() {
        try {
          await db.close();
        } finally {
          release();
        }
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}

/** A failed admin call, with the server's diagnostic. */
export class AdminCallError extends Error {}

function call(
  cred: AdminCredential,
  method: string,
  path: string,
  opts: { json?: unknown; body?: AsyncIterable<Buffer>; contentType?: string } = {},
): Promise<IncomingMessage> {
  const url = new URL(path, cred.url);
  return new Promise((resolveCall, reject) => {
    // node:http rather than fetch: no response timeout, which a long restore or import would hit.
    const req = request(
      url,
      {
        method,
        headers: {
          authorization: `Bearer ${cred.token}`,
          ...(opts.json !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(opts.contentType ? { 'content-type': opts.contentType } : {}),
        },
      },
      resolveCall,
    );
    req.once('error', (err) => reject(new AdminCallError(`admin channel at ${cred.url} failed: ${err.message}`)));
    if (opts.json !== undefined) {
      req.end(JSON.stringify(opts.json));
    } else if (opts.body) {
      (async () => {
        for await (const chunk of opts.body!) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        req.end();
      })().catch((err: unknown) => req.destroy(err as Error));
    } else {
      req.end();
    }
  });
}

async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses a JSON answer; maps error statuses back to the errors the local path would throw. */
async function answer<T>(res: IncomingMessage): Promise<T> {
  const text = await readAll(res);
  const status = res.statusCode ?? 0;
  if (status < 400) return JSON.parse(text) as T;
  let message = `HTTP ${status}`;
  try {
    const o = JSON.parse(text) as { issue?: { diagnostics?: string }[] };
    message = o.issue?.[0]?.diagnostics ?? message;
  } catch {
    /* keep the status */
  }
  if (status === 409) throw new RestoreRefusedError(message);
  if (status === 422) throw new BackupFormatError(message);
  throw new AdminCallError(`server refused (${status}): ${message}`);
}

/** Like {@link answer}, but a 400 from `/admin/auth/...` is the same input error the local path throws. */
async function authAnswer<T>(res: IncomingMessage): Promise<T> {
  if (res.statusCode !== 400) return answer<T>(res);
  let message = 'invalid input';
  try {
    message = (JSON.parse(await readAll(res)) as { issue?: { diagnostics?: string }[] }).issue?.[0]?.diagnostics ?? message;
  } catch {
    /* keep */
  }
  throw new AuthAdminInputError(message);
}

async function* splitLines(res: IncomingMessage): AsyncGenerator<string> {
  let rest = '';
  res.setEncoding('utf8');
  for await (const chunk of res as AsyncIterable<string>) {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) if (p) yield p;
  }
  if (!res.complete) throw new AdminCallError('export stream was cut off by the server');
  if (rest) yield rest;
}

/** Goes through a running server's admin channel. */
async function openRemote(cred: AdminCredential): Promise<Target> {
  let status: { pid: number; storage: string };
  try {
    status = await answer(await call(cred, 'GET', '/admin/status'));
  } catch (err) {
    throw new AdminCallError(
      `${(err as Error).message}. Process ${cred.pid} is named as the owner of DATA_DIR in ${ADMIN_FILE}; ` +
        `if no Haven server runs, remove that file and ${LOCK_FILE}`,
    );
  }
  const q = (tenant: string, extra = ''): string => `?tenant=${encodeURIComponent(tenant)}${extra}`;
  return {
    description: `server pid ${status.pid} (admin channel)`,
    importDocument: async (tenant, doc) => answer(await call(cred, 'POST', `/admin/import/document${q(tenant)}`, { json: doc })),
    importResources: async (tenant, items, locate) =>
      answer(await call(cred, 'POST', `/admin/import/resources${q(tenant)}`, { json: { items, locate } })),
    exportTypeCounts: async (tenant, types) =>
      answer(await call(cred, 'GET', `/admin/export${q(tenant, types ? `&type=${encodeURIComponent(types.join(','))}` : '')}`)),
    async *exportLines(tenant, type) {
      const res = await call(cred, 'GET', `/admin/export/${encodeURIComponent(type)}${q(tenant)}`);
      if ((res.statusCode ?? 0) >= 400) await answer(res);
      yield* splitLines(res);
    },
    async backup(out) {
      const res = await call(cred, 'GET', '/admin/backup');
      if ((res.statusCode ?? 0) >= 400) return answer(res);
      for await (const chunk of res) if (!out.write(chunk as Buffer)) await new Promise((r) => out.once('drain', r));
      if (!res.complete) throw new AdminCallError('backup stream was cut off by the server');
      // The summary is recomputed by the caller's verification pass; the stream carries no separate one.
      return { createdAt: '', schemaVersion: 0, rows: {} };
    },
    restore: async (input, force) =>
      answer(await call(cred, 'POST', `/admin/restore${force ? '?force=true' : ''}`, { body: input, contentType: 'application/gzip' })),
    auth: {
      addClient: async (input) => authAnswer(await call(cred, 'POST', `/admin/auth/clients${q(input.tenant)}`, { json: input })),
      listClients: async (tenant) => authAnswer(await call(cred, 'GET', `/admin/auth/clients${q(tenant)}`)),
      removeClient: async (tenant, id) =>
        (await authAnswer<{ removed: boolean }>(await call(cred, 'DELETE', `/admin/auth/clients/${encodeURIComponent(id)}${q(tenant)}`)))
          .removed,
      addUser: async (input) => authAnswer(await call(cred, 'POST', `/admin/auth/users${q(input.tenant)}`, { json: input })),
      listUsers: async (tenant) => authAnswer(await call(cred, 'GET', `/admin/auth/users${q(tenant)}`)),
      changeUser: async (tenant, username, change) =>
        (
          await authAnswer<{ user: Record<string, unknown> | null }>(
            await call(cred, 'PATCH', `/admin/auth/users/${encodeURIComponent(username)}${q(tenant)}`, { json: change }),
          )
        ).user ?? undefined,
      rotateKeys: async () => authAnswer(await call(cred, 'POST', '/admin/auth/keys/rotate')),
    },
    deadLetters: async (tenant, includeReplayed) =>
      answer(
        await call(
          cred,
          'GET',
          `/admin/events/dead-letters?includeReplayed=${includeReplayed}${tenant ? `&tenant=${encodeURIComponent(tenant)}` : ''}`,
        ),
      ),
    botRuns: async (filter) =>
      answer(
        await call(
          cred,
          'GET',
          `/admin/events/bot-runs?${new URLSearchParams(
            Object.entries(filter)
              .filter(([, v]) => v !== undefined)
              .map(([k, v]) => [k, String(v)]),
          )}`,
        ),
      ),
    requestReplay: async (tenant, filter) =>
      (await answer<{ queued: number }>(await call(cred, 'POST', `/admin/events/replay${q(tenant)}`, { json: filter }))).queued,
    tenants: async () => (await answer<{ tenants: string[] }>(await call(cred, 'GET', '/admin/tenants'))).tenants,
    async close() {},
  };
}

/** Picks the target for `config` (see the module comment). */
export async function openTarget(config: HavenConfig, env: NodeJS.ProcessEnv = process.env): Promise<Target> {
  if (config.databaseUrl) return openLocal(config, env);
  const cred = liveAdminCredential(config.dataDir);
  return cred ? openRemote(cred) : openLocal(config, env);
}
