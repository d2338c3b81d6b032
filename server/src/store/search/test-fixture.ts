/**
 * Test fixture for the search compiler (used by *.test.ts here only): a scratch database (PGlite, or a
 * fresh PostgreSQL database when DATABASE_URL is set, dropped afterwards) with migration 001 and about
 * thirty resources over two tenants, written as `resources` + `sp_*` rows by hand so the tests do not
 * depend on the indexer. Tenant `t2` reuses some ids of `t1` (p3, p5, dr1, o1, o11) to catch joins that
 * forget the tenant.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { Queryable } from '../db.ts';
import { INDEX_TABLES, normalizeString } from '../index-rows.ts';
import type { IndexRows } from '../index-rows.ts';
import { loadDefinitions } from '../../fhir/definitions.ts';
import { compileSearch } from './compile.ts';
import { parseSearch } from './request.ts';
import type { SearchContext } from './types.ts';

type Kind = keyof IndexRows;
interface Row {
  kind: Kind;
  row: Record<string, unknown>;
}
interface Doc {
  tenant: string;
  type: string;
  id: string;
  updated: string;
  deleted?: boolean;
  rows: Row[];
}

const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
const MRN = 'http://mrn';

const str = (code: string, raw: string): Row => ({ kind: 'string', row: { code, raw, norm: normalizeString(raw) } });
const tok = (code: string, system: string | null, value: string | null, display: string | null = null): Row => ({
  kind: 'token',
  row: { code, system, value, display },
});
const refRow = (code: string, fields: Record<string, string | null>): Row => ({
  kind: 'reference',
  row: { code, target_type: null, target_id: null, url: null, ident_system: null, ident_value: null, ...fields },
});
/** A relative reference `Type/id`. */
const ref = (code: string, reference: string): Row => {
  const [target_type, target_id] = reference.split('/');
  return refRow(code, { target_type, target_id });
};
/** An inclusive stored range, written out (not computed by the code under test). */
const date = (code: string, low: string, high: string): Row => ({ kind: 'date', row: { code, low, high } });
const num = (code: string, value: number): Row => ({ kind: 'number', row: { code, value } });
const qty = (code: string, value: number, system: string | null, unit_code: string | null, unit: string | null): Row => ({
  kind: 'quantity',
  row: { code, value, system, unit_code, unit },
});
const uri = (code: string, value: string): Row => ({ kind: 'uri', row: { code, value } });
const compQty = (code: string, c1: [string, string], value: number, system: string, unitCode: string): Row => ({
  kind: 'composite',
  row: {
    code,
    c1_system: c1[0],
    c1_value: c1[1],
    c2_system: system,
    c2_value: null,
    c2_number: value,
    c2_unit_code: unitCode,
    c2_low: null,
    c2_high: null,
    c2_string: null,
  },
});

function doc(tenant: string, type: string, id: string, updated: string, rows: Row[], deleted = false): Doc {
  return { tenant, type, id, updated, rows, deleted };
}

const T1 = 't1';
const T2 = 't2';

/** The fixture resources. Dates of stored values are inclusive ranges in UTC. */
export const DOCS: Doc[] = [
  // ---- tenant t1: patients
  doc(T1, 'Patient', 'p1', '2024-01-01T00:00:00Z', [
    str('name', 'Smith'),
    str('name', 'John'),
    tok('gender', null, 'male'),
    tok('active', null, 'true'),
    tok('identifier', MRN, '111'),
    tok('_tag', 'http://tags', 'vip'),
    uri('_profile', 'http://haven/sd/haven-patient'),
    date('birthdate', '1980-05-12T00:00:00.000Z', '1980-05-12T23:59:59.999Z'),
    ref('general-practitioner', 'Practitioner/dr1'),
    ref('organization', 'Organization/org1'),
  ]),
  doc(T1, 'Patient', 'p2', '2024-02-01T00:00:00Z', [
    str('name', 'Smithson'),
    str('name', 'Ann'),
    tok('gender', null, 'female'),
    tok('identifier', MRN, '222'),
    date('birthdate', '1990-01-01T00:00:00.000Z', '1990-12-31T23:59:59.999Z'),
    ref('general-practitioner', 'Practitioner/dr2'),
    ref('general-practitioner', 'Organization/org1'),
  ]),
  doc(T1, 'Patient', 'p3', '2024-03-01T00:00:00Z', [
    str('name', 'Élodie'),
    str('name', 'Durand'),
    date('birthdate', '2000-02-29T00:00:00.000Z', '2000-02-29T23:59:59.999Z'),
    ref('general-practitioner', 'Practitioner/dr1'),
  ]),
  doc(T1, 'Patient', 'p4', '2024-04-01T00:00:00Z', [
    str('name', 'Pat, Jr.'),
    tok('gender', null, 'other'),
    date('birthdate', '1980-05-12T10:30:00.000Z', '1980-05-12T10:30:00.999Z'),
  ]),
  // Deleted: its index rows are left behind on purpose, to prove `NOT deleted` filters them out.
  doc(T1, 'Patient', 'p5', '2024-04-15T00:00:00Z', [str('name', 'Smith'), tok('gender', null, 'male')], true),
  doc(T1, 'Patient', 'p6', '2024-05-01T00:00:00Z', [str('name', '100%_sure')]),
  doc(T1, 'Patient', 'p7', '2024-05-02T00:00:00Z', [str('name', '1000 sure')]),
  doc(T1, 'Practitioner', 'dr1', '2024-01-01T00:00:00Z', [str('name', 'House')]),
  doc(T1, 'Practitioner', 'dr2', '2024-01-01T00:00:00Z', [str('name', 'Wilson')]),
  doc(T1, 'Organization', 'org1', '2024-01-01T00:00:00Z', [str('name', 'Acme')]),
  doc(T1, 'Location', 'loc1', '2024-01-01T00:00:00Z', [str('name', 'Smith Street Clinic')]),
  // ---- tenant t1: observations
  doc(T1, 'Observation', 'o1', '2024-01-10T00:00:00Z', [
    ref('subject', 'Patient/p1'),
    ref('patient', 'Patient/p1'),
    ref('performer', 'Practitioner/dr1'),
    tok('code', LOINC, '8480-6', 'systolic blood pressure'),
    tok('status', null, 'final'),
    tok('_tag', 'http://tags', 'vip'),
    qty('value-quantity', 120, UCUM, 'mm[Hg]', 'mmHg'),
    date('date', '2024-01-10T08:00:00.000Z', '2024-01-10T08:00:00.999Z'),
    compQty('code-value-quantity', [LOINC, '8480-6'], 120, UCUM, 'mm[Hg]'),
  ]),
  doc(T1, 'Observation', 'o2', '2024-02-15T00:00:00Z', [
    ref('subject', 'Patient/p1'),
    ref('patient', 'Patient/p1'),
    tok('code', LOINC, '1234-5', 'phq-9 total score'),
    tok('status', null, 'preliminary'),
    qty('value-quantity', 5.4, UCUM, 'mg', 'mg'),
    date('date', '2024-02-15T00:00:00.000Z', '2024-02-15T23:59:59.999Z'),
    compQty('code-value-quantity', [LOINC, '1234-5'], 5.4, UCUM, 'mg'),
  ]),
  doc(T1, 'Observation', 'o3', '2024-01-03T00:00:00Z', [
    ref('subject', 'Patient/p2'),
    ref('patient', 'Patient/p2'),
    tok('code', LOINC, '1234-5'),
    tok('status', null, 'final'),
    qty('value-quantity', 100, null, null, 'mg'),
    date('date', '2023-12-30T00:00:00.000Z', '2024-01-02T23:59:59.999Z'),
  ]),
  doc(T1, 'Observation', 'o4', '2020-03-04T00:00:00Z', [
    ref('subject', 'Patient/p3'),
    ref('patient', 'Patient/p3'),
    tok('code', 'http://snomed.info/sct', '1234-5'),
    qty('value-quantity', 99.6, UCUM, 'mm[Hg]', 'mmHg'),
    date('date', '2020-03-04T10:00:30.000Z', '2020-03-04T10:00:30.999Z'),
  ]),
  doc(T1, 'Observation', 'o5', '2024-01-01T00:00:00Z', [
    ref('subject', 'Location/loc1'),
    tok('code', LOINC, '8480-6'),
    tok('status', null, 'amended'),
    qty('value-quantity', 140, UCUM, 'mm[Hg]', 'mmHg'),
    compQty('code-value-quantity', [LOINC, '8480-6'], 140, UCUM, 'mm[Hg]'),
  ]),
  doc(T1, 'Observation', 'o6', '2024-01-01T00:00:00Z', [
    refRow('subject', { url: 'http://other.example/fhir/Patient/p1' }),
    tok('code', LOINC, '8480-6'),
  ]),
  doc(T1, 'Observation', 'o7', '2024-01-01T00:00:00Z', [
    ref('subject', 'Patient/p5'),
    ref('patient', 'Patient/p5'),
    tok('code', LOINC, '1234-5'),
  ]),
  doc(T1, 'Observation', 'o8', '2024-01-01T00:00:00Z', [tok('code', null, 'abc')]),
  doc(T1, 'Observation', 'o9', '2024-01-01T00:00:00Z', [ref('subject', 'Patient/p2'), tok('code', LOINC, 'a,b')]),
  doc(T1, 'Observation', 'o10', '2024-01-01T00:00:00Z', [
    refRow('subject', { target_type: 'Patient', target_id: 'p6', ident_system: MRN, ident_value: '666' }),
    tok('code', LOINC, '8480-6'),
    qty('value-quantity', 80, UCUM, 'mm[Hg]', 'mmHg'),
  ]),
  doc(T1, 'Observation', 'o11', '2024-01-01T00:00:00Z', [ref('subject', 'Patient/p2'), tok('code', null, 'del')], true),
  doc(T1, 'Provenance', 'pv1', '2024-01-11T00:00:00Z', [ref('target', 'Observation/o1'), ref('agent', 'Practitioner/dr1')]),
  // ---- tenant t1: canonical resources, numbers
  doc(T1, 'Questionnaire', 'q1', '2024-01-01T00:00:00Z', [uri('url', 'http://haven/Q/phq9'), tok('version', null, '1.0')]),
  doc(T1, 'Questionnaire', 'q2', '2024-01-01T00:00:00Z', [uri('url', 'http://haven/Q/phq9'), tok('version', null, '2.0')]),
  doc(T1, 'Questionnaire', 'q3', '2024-01-01T00:00:00Z', [uri('url', 'http://haven/Q/gad7'), tok('version', null, '1.0')]),
  doc(T1, 'Questionnaire', 'q4', '2024-01-01T00:00:00Z', [uri('url', 'http://haven/Qx')]),
  doc(T1, 'QuestionnaireResponse', 'qr1', '2024-01-01T00:00:00Z', [
    refRow('questionnaire', { url: 'http://haven/Q/phq9' }),
    ref('subject', 'Patient/p1'),
  ]),
  doc(T1, 'RiskAssessment', 'ra1', '2024-01-01T00:00:00Z', [num('probability', 0.25)]),
  doc(T1, 'RiskAssessment', 'ra2', '2024-01-01T00:00:00Z', [num('probability', 0.5)]),
  doc(T1, 'RiskAssessment', 'ra3', '2024-01-01T00:00:00Z', [num('probability', 100)]),
  doc(T1, 'RiskAssessment', 'ra4', '2024-01-01T00:00:00Z', [num('probability', 99.6)]),
  // ---- tenant t2: same ids as t1 where a join that forgot the tenant would show it
  doc(T2, 'Patient', 'p3', '2024-01-01T00:00:00Z', [
    str('name', 'Zed'),
    tok('gender', null, 'male'),
    ref('general-practitioner', 'Practitioner/dr1'),
  ]),
  doc(T2, 'Practitioner', 'dr1', '2024-01-01T00:00:00Z', [str('name', 'Zorro')]),
  doc(T2, 'Observation', 'o1', '2024-01-01T00:00:00Z', [ref('subject', 'Patient/p3'), tok('code', LOINC, 'leak')]),
  doc(T2, 'Observation', 'x2', '2024-01-01T00:00:00Z', [ref('subject', 'Patient/p2'), tok('code', LOINC, '1234-5')]),
  // Live in t2, deleted in t1 (whose index rows were left behind): a join without the tenant would revive them.
  doc(T2, 'Patient', 'p5', '2024-01-01T00:00:00Z', []),
  doc(T2, 'Observation', 'o11', '2024-01-01T00:00:00Z', []),
  doc(T2, 'Provenance', 'pv9', '2024-01-01T00:00:00Z', [ref('target', 'Observation/o1'), ref('agent', 'Practitioner/dr1')]),
];

/** A scratch database with migration 001 and {@link DOCS}. */
export interface Fixture {
  db: Queryable;
  close(): Promise<void>;
}

const MIGRATION = new URL('../migrations/001_resources.sql', import.meta.url);

async function insertDocs(db: Queryable): Promise<void> {
  for (const d of DOCS) {
    const content = d.deleted ? null : JSON.stringify({ resourceType: d.type, id: d.id, tenant: d.tenant });
    await db.query(
      'INSERT INTO resources (tenant, resource_type, id, version_id, last_updated, deleted, content) VALUES ($1, $2, $3, 1, $4, $5, $6)',
      [d.tenant, d.type, d.id, d.updated, d.deleted === true, content],
    );
    for (const { kind, row } of d.rows) {
      const cols = Object.keys(row);
      const values = [d.tenant, d.type, d.id, ...cols.map((c) => row[c])];
      await db.query(
        `INSERT INTO ${INDEX_TABLES[kind]} (tenant, resource_type, id, ${cols.join(', ')}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')})`,
        values,
      );
    }
  }
}

/** Opens the fixture database on the storage the suite runs on (see .ci/run). */
export async function openFixture(): Promise<Fixture> {
  loadDefinitions();
  const migration = readFileSync(MIGRATION, 'utf8');
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const lite = await PGlite.create();
    await lite.exec(migration);
    const db: Queryable = {
      async query<R>(sql: string, params?: readonly unknown[]) {
        const res = await lite.query<R>(sql, params as unknown[]);
        return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
      },
    };
    await insertDocs(db);
    return { db, close: () => lite.close() };
  }
  const name = `haven_search_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  await client.query(migration);
  const db: Queryable = {
    async query<R>(sql: string, params?: readonly unknown[]) {
      const res = await client.query(sql, params as unknown[]);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? 0 };
    },
  };
  await insertDocs(db);
  return {
    db,
    async close() {
      await client.end();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
}

/** Context for tests: tenant t1, caps small enough to test, a fixed clock for `ap`. */
export function testContext(over: Partial<SearchContext> = {}): SearchContext {
  return {
    tenant: T1,
    maxCount: 1000,
    defaultCount: 100,
    maxChainDepth: 3,
    lenient: false,
    now: new Date('2025-01-01T00:00:00Z'),
    ...over,
  };
}

/** Runs `Type?query` and returns the matched ids in result order (`Type/id` for system searches). */
export async function searchIds(db: Queryable, type: string, query: string, over: Partial<SearchContext> = {}): Promise<string[]> {
  const compiled = compileSearch(parseSearch(type, query), testContext(over));
  const { rows } = await db.query<{ resource_type: string; id: string }>(compiled.sql, compiled.params);
  return rows.slice(0, compiled.count).map((r) => (type === 'MultipleTypes' ? `${r.resource_type}/${r.id}` : r.id));
}

/** Sorted copy, for assertions where the order is not the point. */
export function sorted(ids: string[]): string[] {
  return [...ids].sort();
}
