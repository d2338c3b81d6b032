/**
 * Sorting, paging, totals, system search, lenient handling, and the 400s of the compiler.
 */
import { parseSearchRequest } from '@medplum/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSearch } from './compile.ts';
import { SearchError } from './errors.ts';
import { parseSearch } from './request.ts';
import { openFixture, searchIds, sorted, testContext } from './test-fixture.ts';
import type { Fixture } from './test-fixture.ts';

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
});
afterAll(async () => {
  await fx?.close();
});

describe('_sort', () => {
  it.each([
    ['Patient', '_sort=birthdate', ['p1', 'p4', 'p2', 'p3', 'p6', 'p7']], // earliest start; missing last, then id
    ['Patient', '_sort=-birthdate', ['p3', 'p2', 'p1', 'p4', 'p6', 'p7']], // latest end: p1's day ends after p4's second
    ['Patient', '_sort=gender,-_lastUpdated', ['p2', 'p1', 'p4', 'p7', 'p6', 'p3']],
    ['Patient', '_sort=name', ['p6', 'p7', 'p2', 'p3', 'p1', 'p4']], // lowest name: 100%…, 1000…, ann, durand, john, pat
    ['Patient', '_sort=-name', ['p2', 'p1', 'p4', 'p3', 'p7', 'p6']], // highest name: smithson, smith, pat, elodie, …
    ['Patient', '_sort=-_id', ['p7', 'p6', 'p4', 'p3', 'p2', 'p1']],
    ['Patient', '_sort=_lastUpdated', ['p1', 'p2', 'p3', 'p4', 'p6', 'p7']],
    ['Observation', '_sort=value-quantity', ['o2', 'o10', 'o4', 'o3', 'o1', 'o5', 'o6', 'o7', 'o8', 'o9']],
    ['Observation', '_sort=-date&_count=2', ['o2', 'o1']],
    ['Observation', '_sort=-date&_count=2&_offset=2', ['o3', 'o4']],
    ['Observation', 'code=1234-5&_sort=subject', ['o2', 'o3', 'o4', 'o7']], // Patient/p1, p2, p3, p5
    ['Questionnaire', '_sort=url,-version', ['q3', 'q2', 'q1', 'q4']],
    ['Patient', '', ['p1', 'p2', 'p3', 'p4', 'p6', 'p7']], // default: by id, stable
  ])('%s?%s', async (type, query, ids) => {
    expect(await searchIds(fx.db, type, query)).toEqual(ids);
  });
});

describe('paging and totals', () => {
  it('fetches count + 1 rows so the caller knows there is a next page', async () => {
    const c = compileSearch(parseSearch('Patient', '_count=2'), testContext());
    expect(c.count).toBe(2);
    const { rows } = await fx.db.query<{ id: string }>(c.sql, c.params);
    expect(rows.map((r) => r.id)).toEqual(['p1', 'p2', 'p3']);
  });

  it('counts exactly, independent of the page', async () => {
    const c = compileSearch(parseSearch('Patient', 'name=smi&_count=1&_offset=1&_sort=-name'), testContext());
    const { rows } = await fx.db.query<{ total: number }>(c.countSql, c.countParams);
    expect(rows[0].total).toBe(2);
    expect(c.countCap).toBeUndefined();
  });

  it('bounds the count for _total=estimate', async () => {
    const c = compileSearch(parseSearch('Observation', '_total=estimate'), testContext({ estimateCap: 3 }));
    expect(c.countCap).toBe(3);
    const { rows } = await fx.db.query<{ total: number }>(c.countSql, c.countParams);
    expect(rows[0].total).toBe(3);
  });

  it('accepts _count=0 and _summary=count (a total only)', async () => {
    for (const q of ['_count=0', '_summary=count']) {
      const c = compileSearch(parseSearch('Patient', q), testContext());
      expect(c.count).toBe(0);
      expect((await fx.db.query<{ total: number }>(c.countSql, c.countParams)).rows[0].total).toBe(6);
    }
  });

  it('uses the default count', () => {
    expect(compileSearch(parseSearch('Patient', ''), testContext({ defaultCount: 7 })).count).toBe(7);
  });
});

describe('system search', () => {
  it.each([
    ['_type=Patient,Practitioner&name=hou', ['Practitioner/dr1']],
    ['_type=Patient,Observation&_tag=http://tags|vip', ['Observation/o1', 'Patient/p1']],
    ['_type=Patient,Practitioner&_sort=-_lastUpdated&_count=3', ['Patient/p7', 'Patient/p6', 'Patient/p4']],
    ['_id=p1,dr1', ['Patient/p1', 'Practitioner/dr1']], // every type
    ['_lastUpdated=lt2020-06', ['Observation/o4']],
  ])('?%s', async (query, ids) => {
    expect(await searchIds(fx.db, 'MultipleTypes', query)).toEqual(ids);
  });

  it('sees only its tenant', async () => {
    expect(await searchIds(fx.db, 'MultipleTypes', '_id=p3,dr1', { tenant: 't2' })).toEqual(['Patient/p3', 'Practitioner/dr1']);
  });
});

describe('parse', () => {
  it('keeps modifiers and composites that medplum would drop or reject', () => {
    const req = parseSearch('Observation', 'subject:Patient=p1&name:weird=x&code-value-quantity=8480-6$gt5&_count=5&_sort=-date');
    expect(req.filters).toEqual([
      { code: 'subject:Patient', operator: 'eq', value: 'p1' },
      { code: 'name:weird', operator: 'eq', value: 'x' },
      { code: 'code-value-quantity', operator: 'eq', value: '8480-6$gt5' },
    ]);
    expect(req.count).toBe(5);
    expect(req.sortRules).toEqual([{ code: 'date', descending: true }]);
  });

  it('compiles requests parsed by medplum too', async () => {
    const req = parseSearchRequest('Patient', { birthdate: ['ge1990'], name: 'smi', gender: 'female' });
    const c = compileSearch(req, testContext());
    const { rows } = await fx.db.query<{ id: string }>(c.sql, c.params);
    expect(rows.map((r) => r.id)).toEqual(['p2']);
  });

  it('treats result parameters as non-filters', () => {
    const c = compileSearch(
      parseSearch(
        'Patient',
        '_count=1&_offset=0&_sort=name&_total=none&_summary=true&_elements=id&_format=json&_pretty=true&_cursor=x&_type=Patient&_include=Patient:organization&_revinclude=Observation:subject',
      ),
      testContext(),
    );
    expect(c.applied.filters).toBeUndefined();
    expect(c.ignored).toEqual([]);
  });
});

describe('lenient handling', () => {
  it('skips unknown and unsupported parameters and reports them', async () => {
    const req = parseSearch('Patient', 'foo=bar&name=smi&name:weird=x&gender:in=http://vs&_sort=nope,-name&_include=Patient:nope');
    const c = compileSearch(req, testContext({ lenient: true }));
    expect(c.ignored).toEqual(['foo', 'name:weird', 'gender:in', '_sort', '_include']);
    expect(c.applied.filters).toEqual([{ code: 'name', operator: 'eq', value: 'smi' }]);
    expect(c.applied.sortRules).toEqual([{ code: 'name', descending: true }]);
    expect(c.applied.include).toEqual([]);
    const { rows } = await fx.db.query<{ id: string }>(c.sql, c.params);
    expect(rows.map((r) => r.id)).toEqual(['p2', 'p1']); // -name kept: smithson before smith
  });

  it('still refuses malformed values and guard limits', () => {
    const ctx = testContext({ lenient: true });
    expect(() => compileSearch(parseSearch('Patient', 'birthdate=2020-13'), ctx)).toThrow(SearchError);
    expect(() => compileSearch(parseSearch('Patient', '_count=5000'), ctx)).toThrow(SearchError);
    expect(() => compileSearch(parseSearch('Observation', 'subject.organization.partof.partof.name=x'), ctx)).toThrow(SearchError);
  });
});

describe('errors', () => {
  // Each: query, the parameter the OperationOutcome must name, a fragment of its diagnostic.
  it.each([
    ['Patient', 'foo=bar', 'foo', "Unknown search parameter 'foo' for Patient"],
    ['Patient', 'name:weird=x', 'name:weird', 'Unknown modifier :weird'],
    ['Patient', 'birthdate:exact=2000', 'birthdate:exact', 'Modifier :exact is not valid for date parameter birthdate'],
    ['Observation', 'code:in=http://vs', 'code:in', 'Modifier :in on token parameter code is not supported'],
    ['Observation', 'code:below=x', 'code:below', 'not supported'],
    ['Patient', 'identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|111', 'identifier:of-type', 'not supported'],
    ['Patient', 'name:text=x', 'name:text', 'Modifier :text is not valid for string parameter name'],
    ['Patient', 'birthdate=2020-13', 'birthdate', "Invalid date '2020-13'"],
    ['Patient', 'birthdate=2021-02-30', 'birthdate', "Invalid date '2021-02-30'"],
    ['Patient', 'birthdate=xx2020', 'birthdate', "Invalid prefix 'xx' in birthdate=xx2020"],
    ['Patient', 'birthdate=sw2020', 'birthdate', "Invalid prefix 'sw'"],
    ['RiskAssessment', 'probability=abc', 'probability', "Invalid prefix 'ab'"],
    ['RiskAssessment', 'probability=1.2.3', 'probability', "Invalid number '1.2.3'"],
    ['Observation', 'value-quantity=5|mg', 'value-quantity', "Invalid quantity '5|mg'"],
    ['Observation', 'code-value-quantity=8480-6', 'code-value-quantity', 'Invalid composite value'],
    ['Patient', 'gender:missing=maybe', 'gender:missing', 'expected true or false'],
    ['Patient', 'name=', 'name', 'Empty value in name='],
    ['Patient', 'name=a,,b', 'name', 'Empty value'],
    ['Observation', 'code=|', 'code', "Invalid token '|'"],
    ['Observation', 'subject=Practitioner/dr1', 'subject', 'subject references'],
    ['Observation', 'subject:Practitioner=dr1', 'subject:Practitioner', 'Invalid modifier :Practitioner on subject'],
    ['Observation', 'subject=Foo/1', 'subject', "'Foo' is not a resource type"],
    ['Observation', 'subject.organization.partof.partof.name=x', 'subject.organization.partof.partof.name', '4 chained links, at most 3'],
    ['Observation', 'code.name=x', 'code.name', 'code is a token parameter; only reference parameters can be chained'],
    ['Observation', 'subject:Foo.name=x', 'subject:Foo.name', "':Foo' is not a resource type"],
    ['Observation', 'subject:Practitioner.name=x', 'subject:Practitioner.name', 'not Practitioner'],
    ['Observation', 'subject.nope=x', 'subject.nope', 'no target of subject'],
    ['Provenance', 'target.name=x', 'target.name', 'Ambiguous chain target.name: target may reference'],
    ['Patient', '_has:Observation:code:code=x', '_has:Observation:code:code', 'is a token parameter, not a reference'],
    ['Patient', '_has:Observation:encounter:code=x', '_has:Observation:encounter:code', 'references Encounter, EpisodeOfCare, not Patient'],
    ['Patient', '_has:Foo:subject:code=x', '_has:Foo:subject:code', "Unknown resource type 'Foo'"],
    ['Patient', '_has:Observation:subject=x', '_has:Observation:subject', 'Invalid _has parameter'],
    ['Patient', '_count=1001', '_count', 'Invalid _count=1001: the maximum is 1000'],
    ['Patient', '_count=-1', '_count', 'Invalid _count'],
    ['Patient', '_count=abc', '_count', 'Invalid _count'],
    ['Patient', '_offset=-5', '_offset', 'Invalid _offset'],
    ['Patient', '_total=most', '_total', 'Invalid _total=most'],
    ['Patient', '_sort=foo', '_sort', "Unknown _sort parameter 'foo' for Patient"],
    ['Patient', '_sort=', '_sort', 'empty sort key'],
    ['Patient', '_sort=general-practitioner.name', '_sort', 'sorting on chains'],
    ['Observation', '_sort=code-value-quantity', '_sort', 'composite parameters cannot be sorted'],
    ['Patient', '_include=Patient:nope', '_include', "Patient has no search parameter 'nope'"],
    ['Observation', '_include=Observation:code', '_include', 'code is not a reference parameter'],
    ['Observation', '_include=Observation:subject:Practitioner', '_include', 'subject cannot reference Practitioner'],
    ['MultipleTypes', '_type=Patient,Observation&name=x', 'name', 'all _type types must define it'],
    ['MultipleTypes', '_type=Foo', '_type', "unknown resource type 'Foo'"],
  ])('%s?%s', (type, query, param, message) => {
    let error: unknown;
    try {
      compileSearch(parseSearch(type, query), testContext());
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SearchError);
    const issue = (error as SearchError).outcome.issue[0];
    expect(issue.expression).toEqual([param]);
    expect(issue.diagnostics).toContain(message);
    expect(issue.details?.text).toBe(issue.diagnostics);
  });
});

describe('bound parameters only', () => {
  it('never puts a value into the SQL text', () => {
    const evil = "x'); DROP TABLE resources; --";
    const c = compileSearch(
      parseSearch('Observation', new URLSearchParams({ code: evil, 'subject:Patient.name': evil, 'value-quantity': `5||${evil}` })),
      testContext(),
    );
    expect(c.sql).not.toContain('DROP');
    expect(c.params).toContain(evil);
  });
});

it('sorted helper is only used where order is not the point', () => {
  expect(sorted(['b', 'a'])).toEqual(['a', 'b']);
});
