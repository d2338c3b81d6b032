/**
 * The local admin channel: how CLI commands reach storage that a running server owns (embedded PGlite
 * has one owner process, see cli/owner.ts). It is a second HTTP listener bound to 127.0.0.1 on an
 * ephemeral port, never the public one, so it is unreachable from other machines whatever HOST and any
 * reverse proxy do. Each request must also come from a loopback address (403) and carry
 * `Authorization: Bearer <token>` (401), the token being 256 random bits published only in
 * `DATA_DIR/admin.json` (mode 0600, removed on close) and compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FhirRouter } from '@medplum/fhir-router';
import express, { type NextFunction, type Request, type Response } from 'express';
import { removeAdminCredential, writeAdminCredential } from '../cli/owner.ts';
import type { HavenConfig } from '../config.ts';
import { describeShapeProblem } from '../fhir/json-shape.ts';
import { BackupFormatError, RestoreRefusedError, exportLines, exportTypeCounts, restoreBackup, writeBackup } from '../store/backup.ts';
import type { Db } from '../store/db.ts';
import type { WriteHooks } from '../store/repository.ts';
import { importDocument, importResources, type ImportContext, type ImportItem } from '../store/import.ts';
import { listBotRuns } from '../events/bot-runs.ts';
import { listDeadLetters, requestReplay } from '../events/dead-letters.ts';
import { knownTenants } from '../events/tenants.ts';
import { fhirBase } from './fhir-api.ts';
import { envelopeLimits, jsonBodyGuard } from '../fhir/json-guard.ts';
import { errorOutcome } from './outcome.ts';

/** What the admin channel needs from the server process. */
export interface AdminDeps {
  config: HavenConfig;
  db: Db;
  router: FhirRouter;
  cursorSecret: string;
  servedTypes: ReadonlySet<string>;
  log: (event: Record<string, unknown>) => void;
  /** Write hooks of the running server (events), applied to imports. */
  hooks?: WriteHooks;
  /** Further routes behind the same gate (the auth server's `/admin/auth/...`, see auth/admin.ts). */
  routes?: express.Router;
}

/** A running admin listener. */
export interface AdminChannel {
  readonly url: string;
  close(): Promise<void>;
}

const TENANT_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
const TYPE_PATTERN = /^[A-Z][A-Za-z]{1,63}$/;

/** True for IPv4 127/8 and IPv6 ::1, including IPv4-mapped forms. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/** Constant-time token check: both sides hashed first so lengths never leak through timing. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function fail(
  res: Response,
  status: number,
  code: 'forbidden' | 'login' | 'invalid' | 'conflict' | 'exception' | 'not-found',
  text: string,
): void {
  if (!res.headersSent)
    res
      .status(status)
      .type('application/fhir+json')
      .send(JSON.stringify(errorOutcome(code, text)));
  else res.destroy();
}

/** A request the admin API refuses with a 4xx and a message. */
class HttpFailure extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function tenantParam(req: Request): string {
  const t = typeof req.query.tenant === 'string' ? req.query.tenant : 'default';
  if (!TENANT_PATTERN.test(t)) throw new HttpFailure(400, `Invalid tenant "${t.slice(0, 64)}"`);
  return t;
}

/** Builds the admin express app; `token` is the bearer credential it accepts. */
export function createAdminApp(deps: AdminDeps, token: string): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Gate first, before any body is read: a caller without the token cannot make the server parse anything.
  app.use((req, res, next) => {
    if (!isLoopbackAddress(req.socket.remoteAddress)) return fail(res, 403, 'forbidden', 'The admin channel accepts loopback clients only');
    const auth = req.get('authorization') ?? '';
    const m = /^Bearer (\S+)$/.exec(auth);
    if (!m || !tokenMatches(m[1], token)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="haven-admin"');
      return fail(res, 401, 'login', 'Admin token required (see DATA_DIR/admin.json)');
    }
    next();
  });
  const parse = express.json({ type: ['application/json', 'application/fhir+json'], limit: deps.config.maxBodyBytes });
  const guard = jsonBodyGuard(envelopeLimits(deps.config.jsonLimits), (_req, res, p) => fail(res, 400, 'invalid', describeShapeProblem(p)));
  const json = [parse, guard];
  const ctx = (req: Request): ImportContext => {
    const tenant = tenantParam(req);
    return {
      db: deps.db,
      router: deps.router,
      tenant,
      baseUrl: fhirBase(deps.config, tenant),
      cursorSecret: deps.cursorSecret,
      servedTypes: deps.servedTypes,
      ...(deps.hooks ? { hooks: deps.hooks } : {}),
      limits: deps.config.jsonLimits,
    };
  };
  const handle = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response) => {
    fn(req, res).catch((err: unknown) => {
      if (err instanceof HttpFailure) return fail(res, err.status, 'invalid', err.message);
      if (err instanceof BackupFormatError) return fail(res, 422, 'invalid', err.message);
      if (err instanceof RestoreRefusedError) return fail(res, 409, 'conflict', err.message);
      deps.log({ level: 'error', event: 'admin.failed', path: req.path, error: err instanceof Error ? err.name : 'non-error thrown' });
      fail(res, 500, 'exception', 'Internal error; see the server log');
    });
  };

  app.get('/admin/status', (_req, res) => {
    res.json({ pid: process.pid, storage: deps.db.kind });
  });
  app.get(
    '/admin/tenants',
    handle(async (_req, res) => {
      res.json({ tenants: await knownTenants(deps.db) });
    }),
  );
  app.post(
    '/admin/import/document',
    json,
    handle(async (req, res) => {
      res.json(await importDocument(ctx(req), req.body));
    }),
  );
  app.post(
    '/admin/import/resources',
    json,
    handle(async (req, res) => {
      const body = req.body as { items?: ImportItem[]; locate?: string };
      if (!Array.isArray(body?.items))
        throw new HttpFailure(400, 'Expected {"items": [{"at": n, "resource": {...}}], "locate": "line"|"entry"}');
      res.json(await importResources(ctx(req), body.items, body.locate === 'line' ? 'line' : 'entry'));
    }),
  );
  app.get(
    '/admin/export',
    handle(async (req, res) => {
      const types = typeof req.query.type === 'string' ? req.query.type.split(',').filter(Boolean) : undefined;
      if (types?.some((t) => !TYPE_PATTERN.test(t))) throw new HttpFailure(400, 'Invalid type list');
      res.json(await exportTypeCounts(deps.db, tenantParam(req), types));
    }),
  );
  app.get(
    '/admin/export/:type',
    handle(async (req, res) => {
      const type = String(req.params.type);
      if (!TYPE_PATTERN.test(type)) throw new HttpFailure(400, 'Invalid type');
      const tenant = tenantParam(req);
      res.type('application/fhir+ndjson');
      for await (const line of exportLines(deps.db, tenant, type)) {
        if (res.destroyed) return; // the client went away: stop reading pages
        if (!res.write(`${line}\n`)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      }
      res.end();
    }),
  );
  app.get(
    '/admin/events/dead-letters',
    handle(async (req, res) => {
      const tenant = typeof req.query.tenant === 'string' ? tenantParam(req) : undefined;
      res.json(await listDeadLetters(deps.db, { ...(tenant ? { tenant } : {}), includeReplayed: req.query.includeReplayed === 'true' }));
    }),
  );
  app.get(
    '/admin/events/bot-runs',
    handle(async (req, res) => {
      const str = (name: string, pattern: RegExp): string | undefined => {
        const v = req.query[name];
        if (v === undefined) return undefined;
        if (typeof v !== 'string' || !pattern.test(v)) throw new HttpFailure(400, `Invalid ${name}`);
        return v;
      };
      const tenant = str('tenant', TENANT_PATTERN);
      const bot = str('bot', /^[a-z0-9-]{1,63}$/);
      const outcome = str('outcome', /^(succeeded|failed|dead)$/);
      const limit = str('limit', /^\d{1,4}$/);
      res.json(
        await listBotRuns(deps.db, {
          ...(tenant ? { tenant } : {}),
          ...(bot ? { bot } : {}),
          ...(outcome ? { outcome } : {}),
          ...(limit ? { limit: Number(limit) } : {}),
        }),
      );
    }),
  );
  app.post(
    '/admin/events/replay',
    json,
    handle(async (req, res) => {
      const body = (req.body ?? {}) as { consumer?: unknown; seq?: unknown };
      if (body.consumer !== undefined && (typeof body.consumer !== 'string' || !/^(bot|sub):[A-Za-z0-9\-.]{1,64}$/.test(body.consumer)))
        throw new HttpFailure(400, 'consumer must look like bot:<id> or sub:<id>');
      if (body.seq !== undefined && !Number.isSafeInteger(body.seq)) throw new HttpFailure(400, 'seq must be an integer');
      const queued = await requestReplay(deps.db, tenantParam(req), {
        ...(body.consumer ? { consumer: body.consumer as string } : {}),
        ...(body.seq !== undefined ? { seq: body.seq as number } : {}),
      });
      res.json({ queued });
    }),
  );
  app.get(
    '/admin/backup',
    handle(async (_req, res) => {
      res.type('application/gzip');
      await writeBackup(deps.db, res);
    }),
  );
  app.post(
    '/admin/restore',
    handle(async (req, res) => {
      const summary = await restoreBackup(deps.db, req, { force: req.query.force === 'true' });
      res.json(summary);
    }),
  );
  if (deps.routes) app.use(deps.routes);
  app.use((req, res) => fail(res, 404, 'not-found', `No admin route for ${req.method} ${req.path.slice(0, 100)}`));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number };
    fail(res, e.type === 'entity.too.large' ? 413 : 400, 'invalid', e.type === 'entity.too.large' ? 'Body too large' : 'Unreadable body');
  });
  return app;
}

/**
 * Starts the admin listener on 127.0.0.1 and, for embedded storage, publishes its credential in
 * DATA_DIR/admin.json. With DATABASE_URL the CLI talks to PostgreSQL directly, and several servers may
 * share one DATA_DIR, so nothing is published and the channel stays closed to everyone.
 */
export async function startAdminChannel(deps: AdminDeps): Promise<AdminChannel> {
  const token = randomBytes(32).toString('base64url');
  const app = createAdminApp(deps, token);
  const server: Server = await new Promise((resolveListen, reject) => {
    const s = app.listen(0, '127.0.0.1', () => resolveListen(s));
    s.once('error', reject);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const publish = !deps.config.databaseUrl;
  if (publish) writeAdminCredential(deps.config.dataDir, { url, token, pid: process.pid });
  return {
    url,
    async close() {
      if (publish) removeAdminCredential(deps.config.dataDir);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
