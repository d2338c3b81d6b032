/**
 * `haven import` of a Synthea-style folder: patient bundles (named after the patient, so sorted first) point at
 * Practitioners and Organizations through conditional references that only `practitionerInformation*.json` and
 * `hospitalInformation*.json` (sorted last) create. A transaction refused with 412 is tried again after the rest.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../store/open-db.ts';
import { createScratchStorage, type ScratchStorage } from '../test-support/harness.ts';
import { runCli } from './cli.ts';

let storage: ScratchStorage;
let dir: string;
beforeAll(async () => {
  storage = await createScratchStorage();
  dir = mkdtempSync(join(tmpdir(), 'haven-synthea-'));
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await storage?.drop();
});

async function haven(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const env = { DATA_DIR: storage.dataDir, ...(storage.databaseUrl ? { DATABASE_URL: storage.databaseUrl } : {}) };
  const sink = (append: (s: string) => void) => ({
    write: (s: string) => {
      append(s);
      return true;
    },
    isTTY: false,
  });
  const code = await runCli(argv, env, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
  return { code, out, err };
}

const NPI = 'http://hl7.org/fhir/sid/us-npi';
const SYNTHEA_ORG = 'https://github.com/synthetichealth/synthea';

const patientBundle = {
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    {
      fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111',
      resource: { resourceType: 'Patient', name: [{ family: 'Abbott' }] },
      request: { method: 'POST', url: 'Patient' },
    },
    {
      fullUrl: 'urn:uuid:22222222-2222-4222-8222-222222222222',
      resource: {
        resourceType: 'Encounter',
        status: 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
        subject: { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' },
        participant: [{ individual: { reference: `Practitioner?identifier=${NPI}|9999912345` } }],
        serviceProvider: { reference: `Organization?identifier=${SYNTHEA_ORG}|org-1` },
      },
      request: { method: 'POST', url: 'Encounter' },
    },
  ],
};
const practitionerInformation = {
  resourceType: 'Bundle',
  type: 'batch',
  entry: [
    {
      resource: { resourceType: 'Practitioner', identifier: [{ system: NPI, value: '9999912345' }], name: [{ family: 'Osler' }] },
      request: { method: 'POST', url: 'Practitioner', ifNoneExist: `identifier=${NPI}|9999912345` },
    },
  ],
};
const hospitalInformation = {
  resourceType: 'Bundle',
  type: 'batch',
  entry: [
    {
      resource: { resourceType: 'Organization', identifier: [{ system: SYNTHEA_ORG, value: 'org-1' }], name: 'Clinic' },
      request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${SYNTHEA_ORG}|org-1` },
    },
  ],
};

it('imports the patient bundle after the Practitioner and Organization it points at, and resolves its references', async () => {
  writeFileSync(join(dir, 'Abbott_Ann_11111111.json'), JSON.stringify(patientBundle));
  writeFileSync(join(dir, 'hospitalInformation1700000000000.json'), JSON.stringify(hospitalInformation));
  writeFileSync(join(dir, 'practitionerInformation1700000000000.json'), JSON.stringify(practitionerInformation));
  const r = await haven('import', dir);
  expect(r.code, r.err).toBe(0);
  expect(r.out).toMatch(/3 files ok, 0 failed; 4 resources imported/);
  expect(r.err).toMatch(/Abbott_Ann_11111111\.json: 2 resources \(second try\)/);

  const db = await openDatabase({ databaseUrl: storage.databaseUrl, dataDir: storage.dataDir });
  try {
    const { rows } = await db.query<{ resource_type: string; id: string; content: any }>(
      "SELECT resource_type, id, content FROM resources WHERE tenant = 'default' AND resource_type IN ('Encounter', 'Practitioner', 'Organization')",
    );
    const byType = Object.fromEntries(rows.map((row) => [row.resource_type, row]));
    expect(byType.Encounter.content.participant[0].individual.reference).toBe(`Practitioner/${byType.Practitioner.id}`);
    expect(byType.Encounter.content.serviceProvider.reference).toBe(`Organization/${byType.Organization.id}`);
  } finally {
    await db.close();
  }
});

it('a reference that nothing in the folder creates still fails (once, after the second try), exit 1', async () => {
  const lone = structuredClone(patientBundle);
  (lone.entry[1].resource as any).participant[0].individual.reference = `Practitioner?identifier=${NPI}|0000000000`;
  const only = mkdtempSync(join(tmpdir(), 'haven-synthea-'));
  try {
    writeFileSync(join(only, 'Lone.json'), JSON.stringify(lone));
    const r = await haven('import', only);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/0 files ok, 1 failed; 0 resources imported/);
    expect(r.err.match(/Lone\.json: FAILED/g)).toHaveLength(1);
    expect(r.err).toMatch(/matched no|no match|412|not found/i);
  } finally {
    rmSync(only, { recursive: true, force: true });
  }
});
