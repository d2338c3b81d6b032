import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClinicalConfig } from '../../../bots/clinical/config.ts';
import { BOTS, BOTS_MODULE } from '../../../bots/index.ts';
import { logConfigProblems } from '../events/config-warnings.ts';
import { createScratchStorage, startTestServer, type TestServer } from '../test-support/harness.ts';
import { runCli } from './cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'haven-doctor-'));
function botConfig(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

async function haven(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (add: (x: string) => void) => ({
    write: (x: string) => {
      add(x);
      return true;
    },
    isTTY: false,
  });
  const code = await runCli(argv, env, { stdout: sink((x) => (out += x)), stderr: sink((x) => (err += x)) });
  return { code, out, err };
}

describe('haven doctor and the start-up check', () => {
  let t: TestServer;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    // The shipped defaults: the risk bot runs and no fallback owner is configured.
    t = await startTestServer({ HAVEN_EVENT_POLL_MS: '100' });
    env = { DATA_DIR: t.config.dataDir, ...(t.config.databaseUrl ? { DATABASE_URL: t.config.databaseUrl } : {}) };
    expect((await t.req('/t/acme/fhir/Patient/x', { method: 'PUT', json: { resourceType: 'Patient', id: 'x' } })).status).toBe(201);
  });
  afterAll(async () => {
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the server warns at start when the risk bot runs without a fallback owner', () => {
    const warnings = t.logs.filter((l) => l.event === 'config.risk_fallback_missing');
    expect(warnings).toContainEqual(expect.objectContaining({ level: 'warn', tenant: 'default', severity: 'fail' }));
    expect(String(warnings[0]?.message)).toMatch(/escalation\.fallbackOwner/);
  });

  it('the start-up check is quiet about owners once a fallback is configured', async () => {
    const logged: Record<string, unknown>[] = [];
    const config = loadClinicalConfig({ HAVEN_BOT_CONFIG: botConfig('ok.json', { escalation: { fallbackOwner: 'Organization/clinic' } }) });
    await logConfigProblems(t.server.db, true, { bots: BOTS, module: BOTS_MODULE, config }, (e) => logged.push(e));
    expect(logged.map((l) => l.event)).not.toContain('config.risk_fallback_missing');
    expect(logged.map((l) => l.event)).toContain('config.psypact_members_empty');
  });

  it('fails (exit 1) for every tenant without a fallback owner, naming the setting', async () => {
    const r = await haven(['doctor'], env);
    expect(r.code, r.err).toBe(1);
    expect(r.out).toMatch(/^FAIL {2}risk-fallback-missing {2}tenant acme: /m);
    expect(r.out).toMatch(/^FAIL {2}risk-fallback-missing {2}tenant default: .*escalation\.tenants\.default\.fallbackOwner/m);
    expect(r.out).toMatch(/^WARN {2}psypact-members-empty {2}.*VERIFY/m);
    expect(r.out).toMatch(/^failed: 2 failure\(s\), \d+ warning\(s\); tenants checked: acme, default$/m);
  });

  it('a tenant setting covers only its tenant; a global fallback covers all (exit 0)', async () => {
    const onlyAcme = botConfig('acme.json', { escalation: { tenants: { acme: { fallbackOwner: 'Practitioner/acme-duty' } } } });
    const partly = await haven(['doctor'], { ...env, HAVEN_BOT_CONFIG: onlyAcme });
    expect(partly.code).toBe(1);
    expect(partly.out).not.toMatch(/tenant acme:/);
    expect(partly.out).toMatch(/tenant default:/);
    const global = botConfig('global.json', { escalation: { fallbackOwner: 'Organization/clinic' } });
    const ok = await haven(['doctor', '--json'], { ...env, HAVEN_BOT_CONFIG: global });
    expect(ok.code, ok.out).toBe(0);
    const report = JSON.parse(ok.out) as { tenants: string[]; problems: { level: string }[] };
    expect(report.tenants).toEqual(['acme', 'default']);
    expect(report.problems.filter((p) => p.level === 'fail')).toEqual([]);
  });

  it('with bots off nothing fails, and it says bots are off', async () => {
    const r = await haven(['doctor'], { ...env, HAVEN_BOTS: 'off' });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^WARN {2}bots-off/m);
  });

  it('an unreadable bot configuration is a configuration error (exit 2)', async () => {
    const bad = botConfig('bad.json', { escalation: { fallbackOwner: 'Dr Smith' } });
    const r = await haven(['doctor'], { ...env, HAVEN_BOT_CONFIG: bad });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/escalation\.fallbackOwner/);
  });

  it('works on storage no server owns (opened by the CLI itself)', async () => {
    const storage = await createScratchStorage();
    try {
      const r = await haven(['doctor'], {
        DATA_DIR: storage.dataDir,
        ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}),
      });
      expect(r.code, r.err).toBe(1);
      expect(r.out).toMatch(/tenants checked: default$/m);
    } finally {
      await storage.drop();
    }
  });
});
