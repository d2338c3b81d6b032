/**
 * `haven clients add|list|remove`, `haven users add|list|disable|enable|reset-password|set-roles`, `haven keys rotate`:
 * on storage directly (both engines), and through a running server's admin channel (embedded storage owned by the
 * server).
 */
import { Readable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticateUser } from '../auth/users.ts';
import { loadKek } from '../auth/secret.ts';
import { openDatabase } from '../store/open-db.ts';
import { createScratchStorage, startTestServer, type ScratchStorage } from '../test-support/harness.ts';
import { runCli } from './cli.ts';

const work = mkdtempSync(join(tmpdir(), 'haven-auth-cli-'));
/** The records users are linked to (`users add` refuses a fhirUser that does not exist). */
const PEOPLE = join(work, 'people.ndjson');
writeFileSync(
  PEOPLE,
  [
    { resourceType: 'Practitioner', id: '123', name: [{ family: 'Who' }] },
    { resourceType: 'Patient', id: '1', name: [{ family: 'Doe' }] },
  ]
    .map((r) => JSON.stringify(r))
    .join('\n'),
);
let storage: ScratchStorage;
beforeAll(async () => {
  storage = await createScratchStorage();
});
afterAll(async () => {
  await storage?.drop();
  rmSync(work, { recursive: true, force: true });
});

async function haven(
  s: { dataDir: string; databaseUrl?: string },
  argv: string[],
  stdin?: string,
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const env = { DATA_DIR: s.dataDir, ...(s.databaseUrl ? { DATABASE_URL: s.databaseUrl } : {}) };
  const code = await runCli(argv, env, {
    stdout: {
      write: (x: string) => {
        out += x;
        return true;
      },
      isTTY: false,
    },
    stderr: {
      write: (x: string) => {
        err += x;
        return true;
      },
      isTTY: false,
    },
    ...(stdin !== undefined ? { stdin: Readable.from([stdin]) } : {}),
  });
  return { code, out, err };
}

describe('on storage', () => {
  it('registers a public client and lists it', async () => {
    const r = await haven(storage, [
      'clients',
      'add',
      '--type',
      'public',
      '--redirect-uri',
      'https://app.example/cb',
      '--redirect-uri',
      'http://localhost:3000/cb',
      '--launch-uri',
      'https://app.example/launch',
      '--scopes',
      'launch openid fhirUser patient/*.rs',
      '--client-id',
      'my-app',
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      client_id: 'my-app',
      type: 'public',
      redirect_uris: ['https://app.example/cb', 'http://localhost:3000/cb'],
      scopes: 'launch openid fhirUser patient/*.rs',
    });
    const list = await haven(storage, ['clients', 'list', '--json']);
    expect(JSON.parse(list.out).map((c: { client_id: string }) => c.client_id)).toContain('my-app');
  });

  it('shows a confidential client secret once, never in the list', async () => {
    const r = await haven(storage, [
      'clients',
      'add',
      '--type',
      'confidential-symmetric',
      '--redirect-uri',
      'https://conf.example/cb',
      '--client-id',
      'conf',
    ]);
    expect(r.code, r.err).toBe(0);
    const secret = /client_secret: (\S+)/.exec(r.out)?.[1];
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.err).toMatch(/shown only now/);
    const list = await haven(storage, ['clients', 'list']);
    expect(list.out).toContain('client_id: conf');
    expect(list.out).not.toContain(secret!);
  });

  it('registers backend clients with --jwks-file and --jwks-url', async () => {
    const { publicKey } = await generateKeyPair('ES384');
    const file = join(work, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1' }] }));
    const byFile = await haven(storage, ['clients', 'add', '--type', 'backend', '--jwks-file', file, '--scopes', 'system/*.rs', '--json']);
    expect(byFile.code, byFile.err).toBe(0);
    expect(JSON.parse(byFile.out)).toMatchObject({ type: 'backend', jwks_kids: ['k1'], scopes: 'system/*.rs' });
    const byUrl = await haven(storage, [
      'clients',
      'add',
      '--type',
      'confidential-asymmetric',
      '--jwks-url',
      'https://app.example/jwks.json',
      '--redirect-uri',
      'https://app.example/cb',
      '--json',
    ]);
    expect(JSON.parse(byUrl.out)).toMatchObject({ jwks_url: 'https://app.example/jwks.json' });
  });

  it('registers a resource server with --introspect (no redirect URI needed), never a public one', async () => {
    const r = await haven(storage, ['clients', 'add', '--type', 'confidential-symmetric', '--introspect', '--client-id', 'rs', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ client_id: 'rs', introspect: true, redirect_uris: [] });
    const list = await haven(storage, ['clients', 'list', '--json']);
    const listed = JSON.parse(list.out) as { client_id: string; introspect?: boolean }[];
    expect(listed.find((c) => c.client_id === 'rs')?.introspect).toBe(true);
    expect(listed.find((c) => c.client_id === 'conf')?.introspect).toBeUndefined();
    const pub = await haven(storage, ['clients', 'add', '--type', 'public', '--introspect', '--redirect-uri', 'https://a.example/cb']);
    expect(pub.code).toBe(2);
    expect(pub.err).toMatch(/public client cannot be a resource server/);
    // Without --introspect a confidential client still needs a redirect URI.
    expect((await haven(storage, ['clients', 'add', '--type', 'confidential-symmetric'])).code).toBe(2);
  });

  it('refuses bad registrations with exit 2', async () => {
    expect((await haven(storage, ['clients', 'add', '--type', 'nonsense'])).code).toBe(2);
    const noRedirect = await haven(storage, ['clients', 'add', '--type', 'public']);
    expect(noRedirect.code).toBe(2);
    expect(noRedirect.err).toMatch(/redirect-uri/);
    expect((await haven(storage, ['clients', 'add', '--type', 'public', '--redirect-uri', 'http://app.example/cb'])).code).toBe(2);
    expect((await haven(storage, ['clients', 'add', '--type', 'backend', '--scopes', 'system/*.rs'])).code).toBe(2);
    expect(
      (await haven(storage, ['clients', 'add', '--type', 'backend', '--jwks-url', 'https://x.example/j', '--scopes', 'patient/*.rs'])).code,
    ).toBe(2);
    expect(
      (await haven(storage, ['clients', 'add', '--type', 'public', '--redirect-uri', 'https://a.example/cb', '--client-id', 'my-app']))
        .code,
    ).toBe(2);
    expect((await haven(storage, ['clients'])).code).toBe(2);
  });

  it('removes a client', async () => {
    expect((await haven(storage, ['clients', 'remove', 'my-app'])).code).toBe(0);
    expect((await haven(storage, ['clients', 'remove', 'my-app'])).code).toBe(1);
  });

  it('adds a user with the password from stdin, optionally with TOTP', async () => {
    const ghost = await haven(
      storage,
      ['users', 'add', '--username', 'drwho', '--fhir-user', 'Practitioner/123', '--roles', 'clinician,admin'],
      'a fine long password\n',
    );
    expect(ghost.code).toBe(2);
    expect(ghost.err).toMatch(/Practitioner\/123 does not exist in tenant default/);
    const imported = await haven(storage, ['import', PEOPLE]);
    expect(imported.code, imported.err).toBe(0);
    const r = await haven(
      storage,
      ['users', 'add', '--username', 'drwho', '--fhir-user', 'Practitioner/123', '--roles', 'clinician,admin', '--json'],
      'a fine long password\n',
    );
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({
      username: 'drwho',
      fhir_user: 'Practitioner/123',
      roles: ['clinician', 'admin'],
      totp: false,
    });
    expect(r.out + r.err).not.toContain('a fine long password');
    const t = await haven(
      storage,
      ['users', 'add', '--username', 'mfa', '--fhir-user', 'Patient/1', '--roles', 'patient', '--totp'],
      'another long password\n',
    );
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/totp_uri: otpauth:\/\/totp\//);
    const short = await haven(storage, ['users', 'add', '--username', 'x', '--fhir-user', 'Patient/1', '--roles', 'patient'], 'short\n');
    expect(short.code).toBe(2);
    const db = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
    try {
      expect((await authenticateUser(db, loadKek({}, storage.dataDir), 'default', 'drwho', 'a fine long password', '')).ok).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('lists, disables, enables, resets the password of and sets the roles of a user', async () => {
    const list = await haven(storage, ['users', 'list', '--json']);
    expect(list.code, list.err).toBe(0);
    expect((JSON.parse(list.out) as { username: string; disabled: boolean }[]).map((u) => [u.username, u.disabled])).toEqual([
      ['drwho', false],
      ['mfa', false],
    ]);
    expect(list.out).not.toMatch(/password|scrypt/);
    const plain = await haven(storage, ['users', 'list']);
    expect(plain.out).toMatch(/username: drwho\nfhir_user: Practitioner\/123\nroles: clinician admin/);

    const login = async (password: string) => {
      const db = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
      try {
        return await authenticateUser(db, loadKek({}, storage.dataDir), 'default', 'drwho', password, '');
      } finally {
        await db.close();
      }
    };
    const off = await haven(storage, ['users', 'disable', 'drwho']);
    expect([off.code, off.out]).toEqual([0, 'disabled drwho\n']);
    expect(await login('a fine long password')).toMatchObject({ ok: false, reason: 'disabled' });
    expect((await haven(storage, ['users', 'enable', 'drwho', '--json'])).out).toMatch(/"disabled": false/);
    expect(await login('a fine long password')).toMatchObject({ ok: true });

    const reset = await haven(storage, ['users', 'reset-password', 'drwho'], 'an entirely new password\n');
    expect(reset.code, reset.err).toBe(0);
    expect(reset.out + reset.err).not.toContain('an entirely new password');
    expect(await login('a fine long password')).toMatchObject({ reason: 'bad_password' });
    expect(await login('an entirely new password')).toMatchObject({ ok: true });
    expect((await haven(storage, ['users', 'reset-password', 'drwho'], 'short\n')).code).toBe(2);

    const roles = await haven(storage, ['users', 'set-roles', 'drwho', '--roles', 'auditor', '--json']);
    expect(JSON.parse(roles.out)).toMatchObject({ username: 'drwho', roles: ['auditor'] });
    expect((await haven(storage, ['users', 'set-roles', 'drwho'])).code).toBe(2);
    expect((await haven(storage, ['users', 'set-roles', 'drwho', '--roles', 'Bad Role'])).code).toBe(2);

    const missing = await haven(storage, ['users', 'disable', 'nobody']);
    expect([missing.code, missing.err]).toEqual([1, 'haven: no user "nobody" in tenant default\n']);
    expect((await haven(storage, ['users', 'disable'])).code).toBe(2);
  });

  it('rotates the signing key', async () => {
    const r = await haven(storage, ['keys', 'rotate']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^new signing key \S{43}\n$/);
  });

  it('documents the commands in help', async () => {
    const h = await haven(storage, ['--help']);
    expect(h.out + h.err).toMatch(/clients add/);
    const sub = await haven(storage, ['help', 'users', 'add']);
    expect(sub.out).toMatch(/standard input/);
  });
});

describe.skipIf(!!process.env.DATABASE_URL)('through a running server (embedded storage)', () => {
  it('goes through the admin channel, and the server uses the new client and key at once', async () => {
    const ts = await startTestServer({ HAVEN_AUTH: 'on' });
    try {
      const s = { dataDir: ts.config.dataDir };
      const add = await haven(s, [
        'clients',
        'add',
        '--type',
        'public',
        '--redirect-uri',
        'https://app.example/cb',
        '--client-id',
        'via-admin',
        '--json',
      ]);
      expect(add.code, add.err).toBe(0);
      expect(
        (await haven(s, ['users', 'add', '--username', 'u1', '--fhir-user', 'Patient/1', '--roles', 'patient'], 'a fine long password\n'))
          .code,
      ).toBe(2);
      expect((await haven(s, ['import', PEOPLE])).code).toBe(0);
      const user = await haven(
        s,
        ['users', 'add', '--username', 'u1', '--fhir-user', 'Patient/1', '--roles', 'patient'],
        'a fine long password\n',
      );
      expect(user.code, user.err).toBe(0);
      const disabled = await haven(s, ['users', 'disable', 'u1', '--json']);
      expect(JSON.parse(disabled.out)).toMatchObject({ username: 'u1', disabled: true });
      expect(JSON.parse((await haven(s, ['users', 'list', '--json'])).out)).toMatchObject([{ username: 'u1', disabled: true }]);
      expect((await haven(s, ['users', 'set-roles', 'u1', '--roles', 'patient,auditor'])).code).toBe(0);
      expect((await haven(s, ['users', 'reset-password', 'u1'], 'another fine password\n')).code).toBe(0);
      expect((await haven(s, ['users', 'enable', 'nobody'])).code).toBe(1);
      const bad = await haven(s, ['clients', 'add', '--type', 'public', '--redirect-uri', 'ftp://x', '--json']);
      expect(bad.code).toBe(2);
      const rotated = await haven(s, ['keys', 'rotate']);
      expect(rotated.code, rotated.err).toBe(0);
      const kid = /new signing key (\S+)/.exec(rotated.out)![1];
      const jwks = (await ts.req('/auth/jwks')).body as { keys: { kid: string }[] };
      expect(jwks.keys[0].kid).toBe(kid);
      const page = await ts.req('/auth/authorize?client_id=via-admin&redirect_uri=https%3A%2F%2Fapp.example%2Fcb');
      expect(page.status).toBe(302);
    } finally {
      await ts.stop();
    }
  });
});
