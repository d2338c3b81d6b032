/**
 * The admin channel: closed without the token (401) and to non-loopback clients (403), absent from the
 * public port, published in DATA_DIR only for embedded storage, and used by the CLI, both in-process
 * and as a child process spawned with the project's node against a DATA_DIR a test server owns.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/cli.ts';
import { ADMIN_FILE, LOCK_FILE, readAdminCredential } from '../cli/owner.ts';
import { REPO_ROOT } from '../fhir/definitions.ts';
import { startServer } from '../server.ts';
import { startTestServer, type TestServer } from '../test-support/harness.ts';
import { createAdminApp } from './admin.ts';
import { createFhirRouter } from './routes.ts';

const embedded = !process.env.DATABASE_URL;
/**
 * Tests that start a second server or a CLI child process in their body: the deadline is a safety net, not a measure
 * (each ends when the process does). On a loaded 2-vCPU machine such starts took over the default 60 s.
 */
const SLOW = { timeout: 300_000 };
let t: TestServer;
let work: string;
beforeAll(async () => {
  t = await startTestServer();
  work = mkdtempSync(join(tmpdir(), 'haven-admin-'));
});
afterAll(async () => {
  await t?.stop();
  rmSync(work, { recursive: true, force: true });
});

function env(): Record<string, string> {
  return { DATA_DIR: t.config.dataDir, ...(t.config.databaseUrl ? { DATABASE_URL: t.config.databaseUrl } : {}) };
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, env(), {
    stdout: {
      write: (s: string) => {
        out += s;
        return true;
      },
    },
    stderr: {
      write: (s: string) => {
        err += s;
        return true;
      },
    },
  });
  return { code, out, err };
}

describe('admin endpoints', () => {
  const token = 'test-token-0123456789';
  let url: string;
  let close: () => void;
  let port: number;
  beforeAll(async () => {
    const app = createAdminApp(
      {
        config: t.config,
        db: t.server.db,
        router: createFhirRouter(() => {}),
        cursorSecret: 's',
        servedTypes: new Set(['Patient']),
        log: () => {},
      },
      token,
    );
    // Bound to every interface here only so that the 403 for non-loopback clients can be observed.
    const server = app.listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    port = (server.address() as AddressInfo).port;
    url = `http://127.0.0.1:${port}`;
    close = () => {
      server.closeAllConnections();
      server.close();
    };
  });
  afterAll(() => close?.());

  it('answer 401 without a token or with a wrong one, for every route', async () => {
    for (const [method, path] of [
      ['GET', '/admin/status'],
      ['GET', '/admin/backup'],
      ['POST', '/admin/restore?force=true'],
      ['POST', '/admin/import/resources'],
      ['GET', '/admin/export'],
    ]) {
      for (const auth of [undefined, 'Bearer wrong', `Basic ${token}`, `Bearer ${token}x`]) {
        const res = await fetch(url + path, {
          method,
          headers: auth ? { authorization: auth } : {},
          body: method === 'POST' ? '{}' : undefined,
        });
        expect(res.status, `${method} ${path} ${auth}`).toBe(401);
        expect((await res.json()).resourceType).toBe('OperationOutcome');
      }
    }
    const ok = await fetch(`${url}/admin/status`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  it.skipIf(!external)('answer 403 to a non-loopback client even with the token', async () => {
    const res = await fetch(`http://${external}:${port}/admin/status`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(403);
  });

  it('are not served on the public port', async () => {
    expect((await t.req('/admin/status')).status).toBe(404);
  });
});

describe.skipIf(!embedded)('DATA_DIR ownership (embedded storage)', () => {
  it('publishes admin.json with mode 0600 while the server runs, and removes it on close', SLOW, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'haven-owner-'));
    const s = await startServer({ ...t.config, dataDir, port: 0 }, { log: () => {} });
    try {
      const cred = readAdminCredential(dataDir);
      expect(cred?.pid).toBe(process.pid);
      expect(cred?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(statSync(join(dataDir, ADMIN_FILE)).mode & 0o777).toBe(0o600);
      expect(existsSync(join(dataDir, LOCK_FILE))).toBe(true);
      // A second owner of the same DATA_DIR is refused.
      await expect(startServer({ ...t.config, dataDir, port: 0 }, { log: () => {} })).rejects.toThrow(/already open|in use/);
    } finally {
      await s.close();
    }
    expect(existsSync(join(dataDir, ADMIN_FILE))).toBe(false);
    expect(existsSync(join(dataDir, LOCK_FILE))).toBe(false);
    rmSync(dataDir, { recursive: true, force: true });
  });
});

describe('the CLI against a running server', () => {
  it('imports through the server when spawned as a child process', SLOW, async () => {
    const file = join(work, 'Patient.ndjson');
    writeFileSync(
      file,
      [
        JSON.stringify({ resourceType: 'Patient', id: 'via-admin-1', name: [{ family: 'Child' }] }),
        JSON.stringify({ resourceType: 'Patient', id: 'via-admin-2' }),
      ].join('\n'),
    );
    const node = existsSync(join(REPO_ROOT, 'node_modules/.bin/node')) ? join(REPO_ROOT, 'node_modules/.bin/node') : process.execPath;
    const child = spawn(node, [join(REPO_ROOT, 'server/src/cli/bin.js'), 'import', file], {
      env: { PATH: process.env.PATH, ...env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const code = await new Promise((r) => child.once('close', r));
    expect(code, err).toBe(0);
    expect(out).toMatch(/2 resources imported/);
    if (embedded) expect(out).toMatch(new RegExp(`server pid ${process.pid} \\(admin channel\\)`));
    expect((await t.req('/fhir/Patient/via-admin-1')).body.name[0].family).toBe('Child');
  });

  it('exports, backs up and guards restore through the server', async () => {
    const out = join(work, 'export');
    const e = await cli('export', '--type', 'Patient', '--out', out);
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(embedded ? /admin channel/ : /PostgreSQL/);
    const backup = join(work, 'b.haven.gz');
    const b = await cli('backup', backup);
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(/SHA-256 verified/);
    expect((await cli('backup', backup)).code).toBe(1);
    const refused = await cli('restore', backup);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/already holds resources.*--force/);
    const forced = await cli('restore', backup, '--force');
    expect(forced.code, forced.err).toBe(0);
    expect((await t.req('/fhir/Patient/via-admin-2')).status).toBe(200);
  });
});
