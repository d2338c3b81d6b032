/**
 * `haven seed --demo`: the demo clinic's content (pure), and the command on storage directly (both engines):
 * resources, derived outcomes and the risk Task, users who can sign in, apps registered, idempotent re-runs,
 * and the refusal on a non-loopback BASE_URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultClinicalConfig } from '../../../bots/clinical/config.ts';
import { authenticateUser } from '../auth/users.ts';
import { loadKek } from '../auth/secret.ts';
import { openDatabase } from '../store/open-db.ts';
import { createScratchStorage, type ScratchStorage } from '../test-support/harness.ts';
import { runCli } from './cli.ts';
import { DEMO_PASSWORD, DEMO_TAG, DEMO_USERS, demoClinicBundles, demoClinicResources, weeklyTotal } from './demo-clinic.ts';

const NOW = new Date('2026-06-30T15:00:00Z');
type Entry = { resource: Record<string, any>; request: { method: string; url: string } };

describe('demo clinic content', () => {
  const bundles = demoClinicBundles(NOW, defaultClinicalConfig()) as { type: string; entry: Entry[] }[];
  const all = bundles.flatMap((b) => b.entry.map((e) => e.resource));

  it('fits the router: transactions of at most 50 entries, conditional ones in a small bundle of their own', () => {
    for (const b of bundles) {
      expect(b.type).toBe('transaction');
      expect(b.entry.length).toBeLessThanOrEqual(50);
      const conditional = b.entry.filter((e) => e.request.url.includes('?'));
      if (conditional.length) expect(b.entry.length).toBeLessThanOrEqual(8);
    }
  });

  it('tags every resource with a fixed id (upserts) as demo data', () => {
    for (const b of bundles) {
      for (const e of b.entry) {
        if (e.request.url.includes('?')) continue; // the score bot's own conditional updates
        expect(e.request).toEqual({ method: 'PUT', url: `${e.resource.resourceType}/${e.resource.id}` });
        expect(e.resource.meta?.tag).toContainEqual(DEMO_TAG);
      }
    }
    expect(JSON.stringify(demoClinicResources(NOW))).toBe(JSON.stringify(demoClinicResources(NOW)));
  });

  it('has practitioners licensed where appointments are held, and months of weekly scores', () => {
    const practitioners = all.filter((r) => r.resourceType === 'Practitioner');
    expect(practitioners).toHaveLength(3);
    for (const a of all.filter((r) => r.resourceType === 'Appointment')) {
      expect(a.extension).toContainEqual({ url: 'https://haven.health/fhir/StructureDefinition/patient-location', valueCode: 'CA' });
    }
    const alexPhq9 = all.filter(
      (r) => r.resourceType === 'Observation' && r.id?.startsWith('demo-alex-phq9-') && r.valueInteger !== undefined,
    );
    expect(alexPhq9).toHaveLength(26);
    expect(weeklyTotal(19, 8, 25, 26)).toBe(8);
    for (let w = 0; w < 26; w++) expect(weeklyTotal(19, 8, w, 26)).toBeGreaterThanOrEqual(0);
  });

  it('derives outcomes as the outcomes bot does: Alex responds, Jordan remits, goals follow', () => {
    const outcome = (id: string) => all.find((r) => r.id === id)?.valueBoolean;
    expect(outcome('demo-alex-phq9-26-response')).toBe(true); // 19 → 8: a 58 % drop
    expect(outcome('demo-alex-phq9-26-remission')).toBe(false);
    expect(outcome('demo-jordan-phq9-26-remission')).toBe(true); // 16 → 3
    const goal = all.find((r) => r.id === 'demo-jordan-goal-phq9');
    expect(goal?.achievementStatus?.coding?.[0]?.code).toBe('achieved');
    const identifiers = all
      .filter((r) => r.resourceType === 'Observation' && r.id?.endsWith('-response'))
      .map((r) => r.identifier[0].system);
    expect(new Set(identifiers)).toEqual(new Set(['https://haven.health/fhir/sid/mbc-outcome-observation']));
  });

  it("turns Taylor's positive item 9 into the risk bot's Task, checklist, Flag and 988 notice", () => {
    const task = all.find((r) => r.id === 'demo-taylor-phq9-risk-risk');
    expect(task).toMatchObject({ resourceType: 'Task', status: 'requested', for: { reference: 'Patient/demo-taylor' } });
    expect(task!.description).toMatch(/item 9/);
    const steps = all.filter((r) => r.resourceType === 'Task' && r.partOf?.[0]?.reference === 'Task/demo-taylor-phq9-risk-risk');
    expect(steps).toHaveLength(3);
    expect(all.find((r) => r.id === 'demo-taylor-phq9-risk-risk-flag')?.resourceType).toBe('Flag');
    expect(all.find((r) => r.id === 'demo-taylor-phq9-risk-risk-988')?.payload?.[0]?.contentString).toMatch(/988/);
  });
});

describe('haven seed --demo on storage', () => {
  let storage: ScratchStorage;
  beforeAll(async () => {
    storage = await createScratchStorage();
  });
  afterAll(async () => {
    await storage?.drop();
  });

  async function haven(argv: string[], extraEnv: Record<string, string> = {}) {
    let out = '';
    let err = '';
    const env = { DATA_DIR: storage.dataDir, ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}), ...extraEnv };
    const sink = (add: (s: string) => void) => ({
      write: (x: string) => {
        add(x);
        return true;
      },
      isTTY: false,
    });
    const code = await runCli(argv, env, {
      stdout: sink((x) => {
        out += x;
      }),
      stderr: sink((x) => {
        err += x;
      }),
    });
    return { code, out, err };
  }

  it('refuses a BASE_URL off this machine without --force, and needs --demo', async () => {
    const r = await haven(['seed', '--demo'], { BASE_URL: 'https://haven.example.org' });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/demo passwords are public/);
    expect((await haven(['seed'])).code).toBe(2);
  });

  it('loads the clinic, registers the apps, creates users who can sign in, and can run again', async () => {
    const first = await haven(['seed', '--demo']);
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/demo clinic: \d+ resources in tenant default/);
    expect(first.out).toContain(`password for all: ${DEMO_PASSWORD}`);
    const again = await haven(['seed', '--demo']);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/user dr\.chen exists/);

    const db = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
    try {
      const { rows } = await db.query<{ type: string; n: string }>(
        `SELECT resource_type AS type, count(*)::text AS n FROM resources WHERE tenant = 'default' AND NOT deleted GROUP BY 1`,
      );
      const count = Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
      expect(count.Patient).toBe(4);
      expect(count.Practitioner).toBe(3);
      expect(count.Flag).toBe(1);
      expect(count.Task).toBe(4);
      const clients = await db.query<{ client_id: string }>(`SELECT client_id FROM auth_clients WHERE tenant = 'default' ORDER BY 1`);
      expect(clients.rows.map((c) => c.client_id)).toEqual(['haven-clinician', 'haven-launcher', 'haven-patient']);
      const kek = loadKek({}, storage.dataDir);
      for (const u of DEMO_USERS) {
        const login = await authenticateUser(db, kek, 'default', u.username, DEMO_PASSWORD, '');
        expect(login.ok, u.username).toBe(true);
      }
    } finally {
      await db.close();
    }
  });
});
