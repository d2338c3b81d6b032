/**
 * Administration of the authorization server, shared by the `haven` CLI's two paths (cli/target.ts):
 * directly on storage, or through a running server's loopback admin channel (http/admin.ts), which
 * mounts {@link createAuthAdminRouter} behind its own token check.
 */
import express, { type Request, type Response } from 'express';
import type { HavenConfig } from '../config.ts';
import { jsonBodyGuard } from '../fhir/json-guard.ts';
import { DEFAULT_JSON_LIMITS, describeShapeProblem } from '../fhir/json-shape.ts';
import type { Db } from '../store/db.ts';
import { ClientValidationError, addClient, describeClient, listClients, removeClient, type NewClient } from './clients.ts';
import { KeyStore } from './keys.ts';
import { loadKek, type Kek } from './secret.ts';
import { UserValidationError, addUser, type NewUser } from './users.ts';

/** Operations behind `haven clients|users|keys`. */
export interface AuthAdmin {
  /** Registers a client; `secret` only for confidential-symmetric, shown once. */
  addClient(input: NewClient): Promise<{ client: Record<string, unknown>; secret?: string }>;
  listClients(tenant: string): Promise<Record<string, unknown>[]>;
  removeClient(tenant: string, clientId: string): Promise<boolean>;
  /** Creates a user; with TOTP, returns the seed once. */
  addUser(input: NewUser): Promise<{ user: Record<string, unknown>; otpauth?: string; totpSecret?: string }>;
  /** Creates a new signing key; old keys stay valid until their tokens expire. */
  rotateKeys(): Promise<{ kid: string }>;
}

/** A refusal caused by the input (usage error in the CLI, 400 on the admin channel). */
export class AuthAdminInputError extends Error {}

function inputErrors<T>(p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    if (err instanceof ClientValidationError || err instanceof UserValidationError) throw new AuthAdminInputError(err.message);
    throw err;
  });
}

/**
 * Auth administration on a database handle. The KEK is loaded on first need (HAVEN_SECRET or
 * DATA_DIR/secret.key); `keys` lets a server share its own key store, so a rotation signs at once.
 */
export function localAuthAdmin(db: Db, config: HavenConfig, env: NodeJS.ProcessEnv, keys?: KeyStore): AuthAdmin {
  let kek: Kek | undefined;
  const getKek = (): Kek => (kek ??= loadKek(env, config.dataDir));
  return {
    addClient: (input) =>
      inputErrors(addClient(db, input).then(({ client, secret }) => ({ client: describeClient(client), ...(secret ? { secret } : {}) }))),
    listClients: async (tenant) => (await listClients(db, tenant)).map(describeClient),
    removeClient: (tenant, clientId) => removeClient(db, tenant, clientId),
    addUser: (input) =>
      inputErrors(
        addUser(db, getKek(), input).then(({ user, ...rest }) => ({
          user: { id: user.id, username: user.username, fhir_user: user.fhirUser, roles: user.roles, totp: user.totp, tenant: user.tenant },
          ...rest,
        })),
      ),
    rotateKeys: async () => ({ kid: await (keys ?? new KeyStore(db, getKek())).rotate() }),
  };
}

const TENANT = /^[a-z0-9][a-z0-9-]{0,62}$/;

function tenantOf(req: Request): string {
  const t = typeof req.query.tenant === 'string' ? req.query.tenant : 'default';
  if (!TENANT.test(t)) throw new AuthAdminInputError('Invalid tenant');
  return t;
}

/** Admin-channel routes under `/admin/auth` (mounted after the channel's token check). */
export function createAuthAdminRouter(admin: AuthAdmin): express.Router {
  const r = express.Router();
  const json = [
    express.json({ limit: '1mb' }),
    jsonBodyGuard(DEFAULT_JSON_LIMITS, (_req, res, p) =>
      res
        .status(400)
        .type('application/fhir+json')
        .send(
          JSON.stringify({
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'error', code: p.code, diagnostics: describeShapeProblem(p) }],
          }),
        ),
    ),
  ];
  const handle =
    (fn: (req: Request) => Promise<unknown>, status = 200) =>
    (req: Request, res: Response) => {
      fn(req)
        .then((body) => res.status(status).json(body))
        .catch((err: unknown) => {
          if (err instanceof AuthAdminInputError) {
            res
              .status(400)
              .type('application/fhir+json')
              .send(
                JSON.stringify({
                  resourceType: 'OperationOutcome',
                  issue: [{ severity: 'error', code: 'invalid', diagnostics: err.message }],
                }),
              );
          } else {
            res
              .status(500)
              .type('application/fhir+json')
              .send(
                JSON.stringify({
                  resourceType: 'OperationOutcome',
                  issue: [{ severity: 'error', code: 'exception', diagnostics: 'Internal error; see the server log' }],
                }),
              );
          }
        });
    };
  r.post(
    '/admin/auth/clients',
    json,
    handle((req) => admin.addClient({ ...(req.body as NewClient), tenant: tenantOf(req) }), 201),
  );
  r.get(
    '/admin/auth/clients',
    handle(async (req) => admin.listClients(tenantOf(req))),
  );
  r.delete(
    '/admin/auth/clients/:id',
    handle(async (req) => ({ removed: await admin.removeClient(tenantOf(req), String(req.params.id)) })),
  );
  r.post(
    '/admin/auth/users',
    json,
    handle((req) => admin.addUser({ ...(req.body as NewUser), tenant: tenantOf(req) }), 201),
  );
  r.post(
    '/admin/auth/keys/rotate',
    handle(() => admin.rotateKeys()),
  );
  return r;
}
