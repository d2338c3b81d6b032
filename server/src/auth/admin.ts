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
import { readResource } from './fhir-lookup.ts';
import { KeyStore } from './keys.ts';
import { loadKek, type Kek } from './secret.ts';
import {
  UserValidationError,
  addUser,
  listUsers,
  resetPassword,
  setRoles,
  setUserDisabled,
  type NewUser,
  type User,
  type UserListing,
} from './users.ts';

/** One change `haven users disable|enable|reset-password|set-roles` makes to a user. */
export type UserChange = { disabled: boolean } | { password: string } | { roles: string[] };

/** Operations behind `haven clients|users|keys`. */
export interface AuthAdmin {
  /** Registers a client; `secret` only for confidential-symmetric, shown once. */
  addClient(input: NewClient): Promise<{ client: Record<string, unknown>; secret?: string }>;
  listClients(tenant: string): Promise<Record<string, unknown>[]>;
  removeClient(tenant: string, clientId: string): Promise<boolean>;
  /** Creates a user whose fhirUser resource exists in the tenant; with TOTP, returns the seed once. */
  addUser(input: NewUser): Promise<{ user: Record<string, unknown>; otpauth?: string; totpSecret?: string }>;
  /** Every user of a tenant (no secrets). */
  listUsers(tenant: string): Promise<Record<string, unknown>[]>;
  /** Applies one change to the user named `username`; undefined when there is no such user. */
  changeUser(tenant: string, username: string, change: UserChange): Promise<Record<string, unknown> | undefined>;
  /** Creates a new signing key; old keys stay valid until their tokens expire. */
  rotateKeys(): Promise<{ kid: string }>;
}

/** A refusal caused by the input (usage error in the CLI, 400 on the admin channel). */
export class AuthAdminInputError extends Error {}

/** A user as the CLI prints it (no secrets). */
function describeUser(user: User | UserListing): Record<string, unknown> {
  return {
    id: user.id,
    username: user.username,
    fhir_user: user.fhirUser,
    roles: user.roles,
    totp: user.totp,
    disabled: user.disabled,
    ...('locked' in user ? { locked: user.locked } : {}),
    tenant: user.tenant,
  };
}

/**
 * A user's fhirUser must name a resource of the tenant (SMART App Launch 2.2 §fhirUser: the resource representing
 * the user), or nothing the user does can be tied to a record. A malformed one is left to ./users.ts to refuse.
 */
async function assertFhirUserExists(db: Db, tenant: string, fhirUser: string): Promise<void> {
  const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9.-]{1,64})$/.exec(fhirUser);
  if (m && !(await readResource(db, tenant, m[1], m[2]))) {
    throw new AuthAdminInputError(`fhir-user ${fhirUser} does not exist in tenant ${tenant}: create (or import) that ${m[1]} first`);
  }
}

function applyChange(db: Db, tenant: string, username: string, change: UserChange): Promise<User | undefined> {
  if ('disabled' in change) {
    if (typeof change.disabled !== 'boolean') throw new UserValidationError('disabled must be true or false');
    return setUserDisabled(db, tenant, username, change.disabled);
  }
  if ('password' in change) {
    if (typeof change.password !== 'string') throw new UserValidationError('password must be a string');
    return resetPassword(db, tenant, username, change.password);
  }
  if ('roles' in change && Array.isArray(change.roles) && change.roles.every((r) => typeof r === 'string'))
    return setRoles(db, tenant, username, change.roles);
  throw new UserValidationError('a change is one of disabled, password or roles');
}

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
        assertFhirUserExists(db, input.tenant, String(input.fhirUser)).then(() =>
          addUser(db, getKek(), input).then(({ user, ...rest }) => ({ user: describeUser(user), ...rest })),
        ),
      ),
    listUsers: async (tenant) => (await listUsers(db, tenant)).map(describeUser),
    changeUser: (tenant, username, change) =>
      inputErrors(
        Promise.resolve()
          .then(() => applyChange(db, tenant, username, change))
          .then((user) => (user ? describeUser(user) : undefined)),
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

/** Sends a one-issue error OperationOutcome. */
function sendOutcome(res: Response, status: number, code: string, diagnostics: string): void {
  res
    .status(status)
    .type('application/fhir+json')
    .send(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] }));
}

/** Admin-channel routes under `/admin/auth` (mounted after the channel's token check). */
export function createAuthAdminRouter(admin: AuthAdmin): express.Router {
  const r = express.Router();
  const json = [
    express.json({ limit: '1mb' }),
    jsonBodyGuard(DEFAULT_JSON_LIMITS, (_req, res, p) => sendOutcome(res, 400, p.code, describeShapeProblem(p))),
  ];
  const handle =
    (fn: (req: Request) => Promise<unknown>, status = 200) =>
    (req: Request, res: Response) => {
      fn(req)
        .then((body) => res.status(status).json(body))
        .catch((err: unknown) => {
          if (err instanceof AuthAdminInputError) {
            sendOutcome(res, 400, 'invalid', err.message);
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
  r.get(
    '/admin/auth/users',
    handle(async (req) => admin.listUsers(tenantOf(req))),
  );
  r.patch(
    '/admin/auth/users/:username',
    json,
    handle(async (req) => ({ user: (await admin.changeUser(tenantOf(req), String(req.params.username), req.body as UserChange)) ?? null })),
  );
  r.post(
    '/admin/auth/keys/rotate',
    handle(() => admin.rotateKeys()),
  );
  return r;
}
