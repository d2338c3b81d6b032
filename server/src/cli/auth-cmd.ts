/**
 * `haven clients add|list|remove`, `haven users add|list|disable|enable|reset-password|set-roles`, `haven keys rotate`:
 * administration of the SMART
 * authorization server (see server/src/auth/README.md). Secrets (a client secret, a TOTP seed) are
 * printed once, at creation, and never again.
 */
import { readFileSync } from 'node:fs';
import { AuthAdminInputError, type UserChange } from '../auth/admin.ts';
import { CLIENT_TYPES, type ClientType } from '../auth/clients.ts';
import { UsageError, tenantOf, tenantOption, type Command } from './command.ts';
import type { CliIo } from './import-cmd.ts';
import type { Target } from './target.ts';

const EXIT_USAGE = 2;

/** Runs an admin action; input errors found by the server side are usage errors (exit 2). */
function guarded(fn: (target: Target, io: CliIo) => Promise<number>) {
  return async (target: Target, io: CliIo): Promise<number> => {
    try {
      return await fn(target, io);
    } catch (err) {
      if (!(err instanceof AuthAdminInputError)) throw err;
      io.stderr.write(`haven: ${err.message}\n`);
      return EXIT_USAGE;
    }
  };
}

function printRecord(io: CliIo, rec: Record<string, unknown>, json: boolean): void {
  if (json) {
    io.stdout.write(`${JSON.stringify(rec, null, 2)}\n`);
    return;
  }
  for (const [k, v] of Object.entries(rec)) io.stdout.write(`${k}: ${Array.isArray(v) ? v.join(' ') : String(v)}\n`);
}

/** Reads a password: hidden typing on a terminal, else the first line of standard input. */
export async function readPassword(io: CliIo): Promise<string> {
  const stdin = io.stdin;
  if (!stdin) throw new UsageError('the password is read from standard input');
  if (stdin.isTTY && stdin.setRawMode) {
    io.stderr.write('Password: ');
    stdin.setRawMode(true);
    try {
      let pw = '';
      for await (const chunk of stdin) {
        for (const ch of String(chunk)) {
          if (ch === '\r' || ch === '\n') {
            io.stderr.write('\n');
            return pw;
          }
          if (ch === '\u0003') throw new UsageError('cancelled');
          if (ch === '\u007f' || ch === '\b') pw = pw.slice(0, -1);
          else pw += ch;
        }
      }
      return pw;
    } finally {
      stdin.setRawMode(false);
      stdin.pause?.();
    }
  }
  let text = '';
  for await (const chunk of stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0];
}

const jsonOption = { json: { type: 'boolean' } } as const;

function rolesOf(value: string): string[] {
  return value
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
}

/**
 * A `haven users <verb> USERNAME` command that applies one {@link UserChange}. `change` checks the options when the
 * command is prepared (usage errors before any storage is opened) and returns what reads the change when it runs.
 */
function userChangeCommand(
  spec: Pick<Command, 'summary' | 'usage' | 'details'> & { options?: Command['options'] },
  change: (v: Record<string, unknown>) => (io: CliIo) => UserChange | Promise<UserChange>,
  done: string,
): Command {
  return {
    ...spec,
    options: { ...tenantOption, ...jsonOption, ...spec.options },
    positionals: [1, 1],
    prepare(pos, v) {
      const tenant = tenantOf(v);
      const username = pos[0];
      const read = change(v);
      return guarded(async (target, io) => {
        const user = await target.auth.changeUser(tenant, username, await read(io));
        if (!user) {
          io.stderr.write(`haven: no user "${username}" in tenant ${tenant}\n`);
          return 1;
        }
        if (v.json === true) printRecord(io, user, true);
        else io.stdout.write(`${done} ${username}\n`);
        return 0;
      });
    },
  };
}

export const AUTH_COMMANDS: Record<string, Command> = {
  'clients add': {
    summary: 'Register a SMART app or backend service',
    usage:
      'haven clients add --type public|confidential-symmetric|confidential-asymmetric|backend [--redirect-uri URI]... [--launch-uri URI] [--jwks-url URL | --jwks-file FILE] [--scopes "..."] [--introspect] [--client-id ID] [--name NAME] [--tenant T] [--json]',
    details: `Types: public (no secret; PKCE), confidential-symmetric (a client secret, printed once),
confidential-asymmetric (private_key_jwt, RS384/ES384, keys from --jwks-url or --jwks-file), backend
(SMART Backend Services: client_credentials with private_key_jwt, system/ scopes, no redirect).
--scopes is the maximum grant: nothing beyond it is ever issued to the client. Defaults: backend
"system/*.rs"; others "openid fhirUser launch launch/patient launch/encounter offline_access
online_access patient/*.cruds user/*.cruds". --redirect-uri may be given several times; URIs must be
https (http only on localhost) and are matched exactly. --launch-uri is where EHR launches open the app.
--introspect registers a resource server: only such clients may call the token introspection endpoint
(with their client credentials or a Bearer token issued to them); not for public clients. A resource
server that only introspects needs no --redirect-uri (e.g. --type confidential-symmetric --introspect).`,
    options: {
      ...tenantOption,
      ...jsonOption,
      type: { type: 'string' },
      'client-id': { type: 'string' },
      name: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'launch-uri': { type: 'string' },
      'jwks-url': { type: 'string' },
      'jwks-file': { type: 'string' },
      scopes: { type: 'string' },
      introspect: { type: 'boolean' },
    },
    positionals: [0, 0],
    prepare(_pos, v) {
      const tenant = tenantOf(v);
      const type = v.type as string | undefined;
      if (!type || !(CLIENT_TYPES as readonly string[]).includes(type))
        throw new UsageError(`--type must be one of ${CLIENT_TYPES.join(', ')}`);
      let jwks: unknown;
      if (typeof v['jwks-file'] === 'string') {
        try {
          jwks = JSON.parse(readFileSync(v['jwks-file'], 'utf8'));
        } catch (err) {
          throw new UsageError(`cannot read --jwks-file: ${(err as Error).message}`);
        }
      }
      const input = {
        tenant,
        type: type as ClientType,
        ...(typeof v['client-id'] === 'string' ? { clientId: v['client-id'] } : {}),
        ...(typeof v.name === 'string' ? { name: v.name } : {}),
        redirectUris: (v['redirect-uri'] as string[] | undefined) ?? [],
        ...(typeof v['launch-uri'] === 'string' ? { launchUri: v['launch-uri'] } : {}),
        ...(typeof v['jwks-url'] === 'string' ? { jwksUrl: v['jwks-url'] } : {}),
        ...(jwks !== undefined ? { jwks } : {}),
        ...(typeof v.scopes === 'string' ? { scopes: v.scopes } : {}),
        ...(v.introspect === true ? { introspect: true } : {}),
      };
      return guarded(async (target, io) => {
        const { client, secret } = await target.auth.addClient(input);
        printRecord(io, { ...client, ...(secret ? { client_secret: secret } : {}) }, v.json === true);
        if (secret && v.json !== true) io.stderr.write("The client secret is shown only now: store it in the app's configuration.\n");
        return 0;
      });
    },
  },
  'clients list': {
    summary: 'List registered clients',
    usage: 'haven clients list [--tenant T] [--json]',
    details: 'Prints each client (id, type, redirect and launch URIs, maximum scopes, JWKS). Secrets are never shown.',
    options: { ...tenantOption, ...jsonOption },
    positionals: [0, 0],
    prepare(_pos, v) {
      const tenant = tenantOf(v);
      return guarded(async (target, io) => {
        const clients = await target.auth.listClients(tenant);
        if (v.json === true) io.stdout.write(`${JSON.stringify(clients, null, 2)}\n`);
        else if (clients.length === 0) io.stdout.write(`no clients in tenant ${tenant}\n`);
        else
          clients.forEach((c, i) => {
            if (i > 0) io.stdout.write('\n');
            printRecord(io, c, false);
          });
        return 0;
      });
    },
  },
  'clients remove': {
    summary: 'Remove a client and revoke its tokens',
    usage: 'haven clients remove CLIENT_ID [--tenant T]',
    details: 'Deletes the registration; every token and refresh token issued to the client stops working at once.',
    options: tenantOption,
    positionals: [1, 1],
    prepare(pos, v) {
      const tenant = tenantOf(v);
      return guarded(async (target, io) => {
        if (!(await target.auth.removeClient(tenant, pos[0]))) {
          io.stderr.write(`haven: no client "${pos[0]}" in tenant ${tenant}\n`);
          return 1;
        }
        io.stdout.write(`removed ${pos[0]}\n`);
        return 0;
      });
    },
  },
  'users add': {
    summary: 'Create a user who can sign in (password from standard input)',
    usage:
      'haven users add --username U --fhir-user Practitioner/ID|Patient/ID|RelatedPerson/ID --roles clinician[,admin] [--totp] [--tenant T] [--json]',
    details: `The fhir-user resource must already exist in the tenant (create or import it first). The password is
read from standard input (first line; hidden when typed at a terminal), at least 10 characters. Roles:
comma-separated, e.g. clinician, admin, patient. With --totp an
authenticator-app seed is created and printed once (as an otpauth:// URI and base32).
Five wrong passwords within 15 minutes lock the account for 15 minutes.`,
    options: {
      ...tenantOption,
      ...jsonOption,
      username: { type: 'string' },
      'fhir-user': { type: 'string' },
      roles: { type: 'string' },
      totp: { type: 'boolean' },
    },
    positionals: [0, 0],
    prepare(_pos, v) {
      const tenant = tenantOf(v);
      if (typeof v.username !== 'string') throw new UsageError('--username is required');
      if (typeof v['fhir-user'] !== 'string') throw new UsageError('--fhir-user is required');
      if (typeof v.roles !== 'string') throw new UsageError('--roles is required');
      const roles = rolesOf(v.roles);
      return guarded(async (target, io) => {
        const password = await readPassword(io);
        const res = await target.auth.addUser({
          tenant,
          username: v.username as string,
          password,
          fhirUser: v['fhir-user'] as string,
          roles,
          totp: v.totp === true,
        });
        printRecord(io, { ...res.user, ...(res.otpauth ? { totp_uri: res.otpauth, totp_secret: res.totpSecret } : {}) }, v.json === true);
        if (res.otpauth && v.json !== true) io.stderr.write('The TOTP seed is shown only now: add it to the authenticator app.\n');
        return 0;
      });
    },
  },
  'users list': {
    summary: 'List users (username, fhirUser, roles, disabled, locked)',
    usage: 'haven users list [--tenant T] [--json]',
    details: 'Prints every user of the tenant. Passwords and TOTP seeds are never shown.',
    options: { ...tenantOption, ...jsonOption },
    positionals: [0, 0],
    prepare(_pos, v) {
      const tenant = tenantOf(v);
      return guarded(async (target, io) => {
        const users = await target.auth.listUsers(tenant);
        if (v.json === true) io.stdout.write(`${JSON.stringify(users, null, 2)}\n`);
        else if (users.length === 0) io.stdout.write(`no users in tenant ${tenant}\n`);
        else
          users.forEach((u, i) => {
            if (i > 0) io.stdout.write('\n');
            printRecord(io, u, false);
          });
        return 0;
      });
    },
  },
  'users disable': userChangeCommand(
    {
      summary: 'Disable a user: no sign-in, tokens and Subscriptions stop',
      usage: 'haven users disable USERNAME [--tenant T] [--json]',
      details: `The user can no longer sign in. Every grant they hold is revoked: their access tokens are refused
on the next request (401 invalid_token) and their refresh tokens no longer work. Subscriptions they
own are turned off at their next delivery. Enabling the user again does not bring old tokens back.`,
    },
    () => () => ({ disabled: true }),
    'disabled',
  ),
  'users enable': userChangeCommand(
    {
      summary: 'Enable a disabled user',
      usage: 'haven users enable USERNAME [--tenant T] [--json]',
      details: 'The user may sign in again and receives new tokens; tokens from before the disable stay revoked.',
    },
    () => () => ({ disabled: false }),
    'enabled',
  ),
  'users reset-password': userChangeCommand(
    {
      summary: 'Set a new password (from standard input) and sign the user out everywhere',
      usage: 'haven users reset-password USERNAME [--tenant T] [--json]',
      details: `The new password is read from standard input (first line; hidden when typed at a terminal), at
least 10 characters. A lockout from failed sign-ins is cleared, and every grant the user holds is
revoked: sessions made with the old password do not survive the reset.`,
    },
    () => async (io) => ({ password: await readPassword(io) }),
    'password reset for',
  ),
  'users set-roles': userChangeCommand(
    {
      summary: "Replace a user's roles",
      usage: 'haven users set-roles USERNAME --roles clinician[,admin] [--tenant T] [--json]',
      details: `Roles: comma-separated, e.g. clinician, admin, patient, auditor. Tokens already issued follow at
once: every request is decided with the user's current roles.`,
      options: { roles: { type: 'string' } },
    },
    (v) => {
      if (typeof v.roles !== 'string') throw new UsageError('--roles is required');
      const roles = rolesOf(v.roles);
      return () => ({ roles });
    },
    'roles set for',
  ),
  'keys rotate': {
    summary: 'Start signing tokens with a new key',
    usage: 'haven keys rotate',
    details: `Creates a new signing key (RSA, RS256) that signs every token from now on. Older keys stay in
the JWKS and keep verifying until the tokens they signed have expired (about an hour).`,
    options: {},
    positionals: [0, 0],
    prepare: () =>
      guarded(async (target, io) => {
        const { kid } = await target.auth.rotateKeys();
        io.stdout.write(`new signing key ${kid}\n`);
        return 0;
      }),
  },
};
