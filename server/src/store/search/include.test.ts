/**
 * `_include` / `_revinclude` (search.html#include, #revinclude) with `:iterate`, caps, tenancy and `restrict`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlParams } from '../sql.ts';
import { compileSearch } from './compile.ts';
import { fetchIncludes } from './include.ts';
import type { IncludeLimits, ResourceRow } from './include.ts';
import { parseSearch } from './request.ts';
import { openFixture, testContext } from './test-fixture.ts';
import type { Fixture } from './test-fixture.ts';
import type { SearchContext } from './types.ts';

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
});
afterAll(async () => {
  await fx?.close();
});

/** Runs the search and its includes; returns match ids and included `Type/id`s (sorted). */
async function run(type: string, query: string, over: Partial<SearchContext> = {}, limits?: IncludeLimits) {
  const ctx = testContext(over);
  const req = parseSearch(type, query);
  const c = compileSearch(req, ctx);
  const { rows } = await fx.db.query<ResourceRow>(c.sql, c.params);
  const matches = rows.slice(0, c.count).map((r) => ({ resourceType: r.resource_type, id: r.id }));
  const inc = await fetchIncludes(fx.db, req, matches, ctx, limits);
  return {
    matches: matches.map((m) => m.id),
    included: inc.rows.map((r) => `${r.resource_type}/${r.id}`).sort(),
    tenants: inc.rows.map((r) => (r.content as { tenant: string }).tenant),
    truncated: inc.truncated,
  };
}

describe('include and revinclude', () => {
  it.each([
    ['Observation', 'code=1234-5&_include=Observation:subject', ['Patient/p1', 'Patient/p2', 'Patient/p3']], // p5 deleted
    ['Observation', '_id=o1,o5&_include=Observation:subject:Location', ['Location/loc1']],
    ['Observation', '_id=o1&_include=Observation:subject&_include=Observation:performer', ['Patient/p1', 'Practitioner/dr1']],
    ['Observation', '_id=o6&_include=Observation:subject', []], // absolute reference to another server
    ['Patient', '_id=p1&_revinclude=Observation:subject', ['Observation/o1', 'Observation/o2']],
    ['Patient', '_id=p2&_revinclude=Observation:subject', ['Observation/o3', 'Observation/o9']], // o11 deleted
    [
      'Patient',
      '_id=p1&_revinclude=Observation:subject:Patient&_revinclude=QuestionnaireResponse:subject',
      ['Observation/o1', 'Observation/o2', 'QuestionnaireResponse/qr1'],
    ],
    ['QuestionnaireResponse', '_include=QuestionnaireResponse:questionnaire', ['Questionnaire/q1', 'Questionnaire/q2']], // canonical, any version
    ['Questionnaire', '_id=q1&_revinclude=QuestionnaireResponse:questionnaire', ['QuestionnaireResponse/qr1']],
    // Not :iterate: the Patient include does not apply to included patients.
    ['Observation', '_id=o1&_include=Observation:subject&_include=Patient:general-practitioner', ['Patient/p1']],
    [
      'Observation',
      '_id=o1&_include=Observation:subject&_include:iterate=Patient:general-practitioner',
      ['Patient/p1', 'Practitioner/dr1'],
    ],
    [
      'Patient',
      '_id=p1&_revinclude=Observation:subject&_revinclude:iterate=Provenance:target',
      ['Observation/o1', 'Observation/o2', 'Provenance/pv1'],
    ],
    [
      'Patient',
      '_id=p1&_revinclude:iterate=Observation:subject&_include:iterate=Observation:performer',
      ['Observation/o1', 'Observation/o2', 'Practitioner/dr1'],
    ],
  ])('%s?%s', async (type, query, included) => {
    const r = await run(type, query);
    expect(r.included).toEqual(included);
    expect(r.truncated).toBe(false);
  });

  it('never returns a matched row again', async () => {
    // Observations reference p1; revinclude of p1 from p1's own observations must not repeat them.
    const r = await run('Observation', 'subject=Patient/p1&_include=Observation:subject&_revinclude:iterate=Observation:subject');
    expect(r.matches).toEqual(['o1', 'o2']);
    expect(r.included).toEqual(['Patient/p1']);
  });

  it('caps rows and rounds', async () => {
    const rows = await run('Observation', 'code=1234-5&_include=Observation:subject', {}, { maxRounds: 3, maxRows: 2 });
    expect(rows.included).toEqual(['Patient/p1', 'Patient/p2']);
    expect(rows.truncated).toBe(true);
    const rounds = await run(
      'Observation',
      '_id=o1&_include=Observation:subject&_include:iterate=Patient:general-practitioner',
      {},
      { maxRounds: 0, maxRows: 100 },
    );
    expect(rounds.included).toEqual(['Patient/p1']);
    expect(rounds.truncated).toBe(true);
  });
});

it('skips unknown targets under lenient handling, as the compiled search did', async () => {
  const r = await run('Observation', '_id=o1&_include=Observation:nope&_include=Observation:subject', { lenient: true });
  expect(r.included).toEqual(['Patient/p1']);
});

describe('tenancy of includes', () => {
  it('includes only rows of the tenant', async () => {
    // t1's o4 → Patient/p3; t2 also has a p3. Only t1's may come back.
    const t1 = await run('Observation', '_id=o4&_include=Observation:subject');
    expect(t1.included).toEqual(['Patient/p3']);
    expect(t1.tenants).toEqual(['t1']);
    // t2's x2 → Patient/p2, which exists only in t1.
    const t2 = await run('Observation', '_id=x2&_include=Observation:subject', { tenant: 't2' });
    expect(t2.included).toEqual([]);
  });

  it('revincludes only rows of the tenant', async () => {
    // t2's o1 references Patient/p3 (and t2's pv9 targets Observation/o1): neither may reach t1's p3 or o1.
    expect((await run('Patient', '_id=p3&_revinclude=Observation:subject')).included).toEqual(['Observation/o4']);
    expect((await run('Observation', '_id=o1&_revinclude=Provenance:target')).included).toEqual(['Provenance/pv1']);
    const t2 = await run('Patient', '_id=p3&_revinclude=Observation:subject&_revinclude:iterate=Provenance:target', { tenant: 't2' });
    expect(t2.included).toEqual(['Observation/o1', 'Provenance/pv9']);
    expect(t2.tenants).toEqual(['t2', 't2']);
  });
});

describe('restrict on includes', () => {
  const restrict = (alias: string, type: string, params: SqlParams): string | undefined => {
    if (type === 'Patient') return `${alias}.id <> ${params.add('p1')}`;
    if (type === 'Observation') return `${alias}.id <> ${params.add('o3')}`;
    return undefined;
  };

  it('filters included targets by their type', async () => {
    const r = await run('Observation', '_id=o1,o2,o4&_include=Observation:subject&_include=Observation:performer', { restrict });
    expect(r.included).toEqual(['Patient/p3', 'Practitioner/dr1']);
  });

  it('filters revincluded sources', async () => {
    expect((await run('Patient', '_id=p2&_revinclude=Observation:subject', { restrict })).included).toEqual(['Observation/o9']);
  });

  it('filters rows reached by :iterate', async () => {
    const r = await run('Practitioner', '_id=dr1&_revinclude=Patient:general-practitioner&_revinclude:iterate=Observation:patient', {
      restrict,
    });
    expect(r.included).toEqual(['Observation/o4', 'Patient/p3']);
  });
});
