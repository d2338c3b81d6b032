/**
 * FHIR search end to end: resources written through the API (so the real indexer runs), searched over
 * HTTP (so the real compiler runs), on the storage CI selects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/harness.ts';

let t: TestServer;
const ids: Record<string, string> = {};
const base = '/t/search/fhir';

async function create(key: string, resource: object): Promise<string> {
  const res = await t.req(`${base}/${(resource as { resourceType: string }).resourceType}`, { method: 'POST', json: resource });
  if (res.status !== 201) throw new Error(`create ${key}: ${res.status} ${res.text}`);
  ids[key] = res.body.id;
  return res.body.id;
}

/** Ids (by fixture key) that a search returns, in order. */
async function find(query: string, init?: RequestInit & { json?: unknown }): Promise<string[]> {
  const res = await t.req(`${base}/${query}`, init);
  if (res.status !== 200) throw new Error(`${query}: ${res.status} ${res.text}`);
  const byId = Object.fromEntries(Object.entries(ids).map(([k, v]) => [v, k]));
  return (res.body.entry ?? []).filter((e: any) => e.search?.mode === 'match').map((e: any) => byId[e.resource.id] ?? e.resource.id);
}

const loinc = (code: string) => ({ coding: [{ system: 'http://loinc.org', code }] });

beforeAll(async () => {
  t = await startTestServer();
  await create('ana', {
    resourceType: 'Patient',
    name: [{ family: 'Álvarez', given: ['Ana'] }],
    gender: 'female',
    birthDate: '1980-03-04',
    identifier: [{ system: 'urn:mrn', value: 'A1' }],
    active: true,
    meta: { tag: [{ system: 'urn:tags', code: 'vip' }] },
  });
  await create('bob', {
    resourceType: 'Patient',
    name: [{ family: 'Baker', given: ['Bob'] }],
    gender: 'male',
    birthDate: '1990-07-15',
    identifier: [{ system: 'urn:mrn', value: 'B2' }],
  });
  await create('cy', {
    resourceType: 'Patient',
    name: [{ family: 'Alvarado', given: ['Cy'] }],
    gender: 'other',
    birthDate: '2001',
    telecom: [{ system: 'email', value: 'cy@example.org' }],
  });
  await create('drA', { resourceType: 'Practitioner', name: [{ family: 'Osler' }] });
  await t.req(`${base}/Patient/${ids.ana}`, {
    method: 'PUT',
    json: {
      resourceType: 'Patient',
      id: ids.ana,
      name: [{ family: 'Álvarez', given: ['Ana'] }],
      gender: 'female',
      birthDate: '1980-03-04',
      identifier: [{ system: 'urn:mrn', value: 'A1' }],
      active: true,
      meta: { tag: [{ system: 'urn:tags', code: 'vip' }] },
      generalPractitioner: [{ reference: `Practitioner/${ids.drA}` }],
    },
  });
  const obs = (key: string, patient: string, code: string, value: number, date: string, extra: object = {}) =>
    create(key, {
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
      code: loinc(code),
      subject: { reference: `Patient/${ids[patient]}` },
      effectiveDateTime: date,
      valueQuantity: { value, unit: 'score', system: 'http://unitsofmeasure.org', code: '{score}' },
      ...extra,
    });
  await obs('phqAna1', 'ana', '44261-6', 18, '2024-01-10T10:00:00Z');
  await obs('phqAna2', 'ana', '44261-6', 9, '2024-03-10T10:00:00Z');
  await obs('gadAna', 'ana', '70274-6', 12, '2024-02-01T09:00:00Z');
  await obs('phqBob', 'bob', '44261-6', 22, '2023-12-31T23:30:00Z');
  await create('bpBob', {
    resourceType: 'Observation',
    status: 'final',
    code: loinc('85354-9'),
    subject: { reference: `Patient/${ids.bob}` },
    effectivePeriod: { start: '2024-05-01', end: '2024-05-02' },
    component: [
      { code: loinc('8480-6'), valueQuantity: { value: 150, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
      { code: loinc('8462-4'), valueQuantity: { value: 95, unit: 'mmHg', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
    ],
  });
  await create('encAna', {
    resourceType: 'Encounter',
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: { reference: `Patient/${ids.ana}` },
    period: { start: '2024-01-10T09:00:00Z', end: '2024-01-10T10:00:00Z' },
  });
  await create('qr', {
    resourceType: 'QuestionnaireResponse',
    status: 'completed',
    questionnaire: 'http://haven.health/Questionnaire/phq-9|1.0.0',
    subject: { reference: `Patient/${ids.ana}` },
  });
  // Another tenant with look-alike data: must never leak into results above.
  await t.req('/t/other/fhir/Patient', {
    method: 'POST',
    json: { resourceType: 'Patient', name: [{ family: 'Alvarez' }], gender: 'female', birthDate: '1980-03-04' },
  });
});
afterAll(async () => {
  await t?.stop();
});

describe('parameter types', () => {
  it.each([
    ['string default is case- and accent-insensitive starts-with', 'Patient?name=alvar&_sort=family', ['cy', 'ana']],
    ['string :exact', 'Patient?family:exact=Álvarez', ['ana']],
    ['string :exact is case-sensitive', 'Patient?family:exact=álvarez', []],
    ['string :contains', 'Patient?family:contains=var&_sort=family', ['cy', 'ana']],
    ['token code', 'Patient?gender=female', ['ana']],
    ['token system|value', 'Patient?identifier=urn:mrn|B2', ['bob']],
    ['token OR by comma', 'Patient?gender=female,male&_sort=birthdate', ['ana', 'bob']],
    ['token :not', 'Patient?gender:not=female&_sort=birthdate', ['bob', 'cy']],
    ['boolean token', 'Patient?active=true', ['ana']],
    ['_tag', 'Patient?_tag=urn:tags|vip', ['ana']],
    ['date eq day', 'Patient?birthdate=1980-03-04', ['ana']],
    ['date year precision stored', 'Patient?birthdate=2001-06-01', []],
    ['date ge', 'Patient?birthdate=ge1990-01-01&_sort=birthdate', ['bob', 'cy']],
    ['date lt', 'Patient?birthdate=lt1990', ['ana']],
    ['date AND by repetition', 'Patient?birthdate=gt1985&birthdate=lt2000', ['bob']],
    ['reference Type/id', `Observation?subject=Patient/{bob}&_sort=date`, ['phqBob', 'bpBob']],
    ['reference with :type modifier', `Observation?subject:Patient={bob}&code=44261-6`, ['phqBob']],
    ['quantity gt', 'Observation?value-quantity=gt15&_sort=-value-quantity', ['phqBob', 'phqAna1']],
    ['quantity with system and code', 'Observation?value-quantity=le9|http://unitsofmeasure.org|{score}', ['phqAna2']],
    ['composite code-value-quantity', 'Observation?code-value-quantity=http://loinc.org|44261-6$gt20', ['phqBob']],
    ['composite on components', 'Observation?component-code-value-quantity=http://loinc.org|8480-6$ge140', ['bpBob']],
    ['date eq needs the search range to contain the whole Period', 'Observation?date=2024-05-01', []],
    ['date on a Period within the month', 'Observation?date=2024-05', ['bpBob']],
    ['date sa: the Period starts after the value', 'Observation?date=sa2024-04-30&code=85354-9', ['bpBob']],
    ['uri canonical with version', 'QuestionnaireResponse?questionnaire=http://haven.health/Questionnaire/phq-9', ['qr']],
    ['_id', 'Patient?_id={bob},{cy}&_sort=_id', null],
    [':missing=true', 'Patient?telecom:missing=false', ['cy']],
  ])('%s', async (_name, query, expected) => {
    const q = query.replace(/\{(\w+)\}/g, (m, k: string) => ids[k] ?? m);
    const got = await find(q);
    if (expected === null) expect(new Set(got)).toEqual(new Set(['bob', 'cy']));
    else expect(got).toEqual(expected);
  });
});

describe('chains, _has, includes', () => {
  it('forward chain', async () => {
    expect(await find('Observation?subject:Patient.name=baker&_sort=date')).toEqual(['phqBob', 'bpBob']);
    expect(await find('Observation?subject:Patient.general-practitioner:Practitioner.name=osler&code=70274-6')).toEqual(['gadAna']);
  });

  it('reverse chain _has', async () => {
    expect(await find('Patient?_has:Observation:subject:code=70274-6')).toEqual(['ana']);
  });

  it('_include and _revinclude (with :iterate)', async () => {
    const inc = await t.req(`${base}/Observation?code=70274-6&_include=Observation:subject`);
    expect(inc.body.entry.map((e: any) => [e.search.mode, e.resource.resourceType])).toEqual([
      ['match', 'Observation'],
      ['include', 'Patient'],
    ]);
    const rev = await t.req(`${base}/Patient?_id=${ids.bob}&_revinclude=Observation:subject`);
    expect(rev.body.entry.filter((e: any) => e.search.mode === 'include')).toHaveLength(2);
    const iter = await t.req(`${base}/Observation?code=70274-6&_include=Observation:subject&_include:iterate=Patient:general-practitioner`);
    expect(iter.body.entry.map((e: any) => e.resource.resourceType).sort()).toEqual(['Observation', 'Patient', 'Practitioner']);
  });
});

describe('sorting, paging, totals, summary', () => {
  it('sorts on several keys', async () => {
    expect(await find('Observation?code=44261-6&_sort=subject,-date')).toHaveLength(3);
    expect(await find('Observation?code=44261-6&_sort=-date')).toEqual(['phqAna2', 'phqAna1', 'phqBob']);
    expect(await find('Observation?code=44261-6&_sort=date')).toEqual(['phqBob', 'phqAna1', 'phqAna2']);
  });

  it('pages with opaque next/previous links that visit every match once', async () => {
    const seen: string[] = [];
    let url: string | undefined = `${base}/Observation?_sort=date&_count=2`;
    let pages = 0;
    while (url) {
      const res = await t.req(url);
      expect(res.status).toBe(200);
      seen.push(...res.body.entry.map((e: any) => e.resource.id));
      url = res.body.link.find((l: any) => l.relation === 'next')?.url;
      if (pages++ === 1) expect(res.body.link.some((l: any) => l.relation === 'previous')).toBe(true);
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
  });

  it('_total is opt-in; _summary=count returns only the total', async () => {
    const none = await t.req(`${base}/Patient`);
    expect(none.body.total).toBeUndefined();
    const acc = await t.req(`${base}/Patient?_total=accurate`);
    expect(acc.body.total).toBe(3);
    const count = await t.req(`${base}/Patient?_summary=count`);
    expect(count.body.total).toBe(3);
    expect(count.body.entry ?? []).toEqual([]);
  });

  it('_elements and _summary trim resources and mark them SUBSETTED', async () => {
    const el = await t.req(`${base}/Patient?_id=${ids.ana}&_elements=gender`);
    const p = el.body.entry[0].resource;
    expect(p.gender).toBe('female');
    expect(p.name).toBeUndefined();
    expect(p.meta.tag.some((c: any) => c.code === 'SUBSETTED')).toBe(true);
    const sum = await t.req(`${base}/Patient/${ids.ana}?_summary=true`);
    expect(sum.body.birthDate).toBe('1980-03-04');
  });

  it('system search with _type, and POST _search with a form body', async () => {
    const sys = await t.req(`${base}?_type=Patient,Practitioner&_total=accurate`);
    expect(sys.body.total).toBe(4);
    const post = await find('Patient/_search', {
      method: 'POST',
      body: 'gender=male',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(post).toEqual(['bob']);
  });
});

describe('bad search input is a 400 with a diagnostic', () => {
  it.each([
    ['unknown parameter', 'Patient?shoe-size=9'],
    ['bad date', 'Patient?birthdate=1980-13-45'],
    ['bad prefix', 'Patient?birthdate=xx1980'],
    ['bad number', 'Observation?value-quantity=abc'],
    ['_count over the cap', 'Patient?_count=100000'],
    ['negative _count', 'Patient?_count=-1'],
    [
      'chain too deep',
      'Observation?subject:Patient.general-practitioner:Practitioner.organization:Organization.partof:Organization.name=x',
    ],
    ['chain on a non-reference', 'Patient?gender.name=x'],
    ['unknown modifier', 'Patient?name:fuzzy=x'],
    ['_sort on unknown parameter', 'Patient?_sort=shoe-size'],
    ['_include of unknown parameter', 'Observation?_include=Observation:nope'],
  ])('%s', async (_name, query) => {
    const res = await t.req(`${base}/${query}`);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toBeTruthy();
  });

  it('Prefer: handling=lenient ignores unknown parameters and the self link shows what was applied', async () => {
    const res = await t.req(`${base}/Patient?shoe-size=9&gender=male`, { headers: { prefer: 'handling=lenient' } });
    expect(res.status).toBe(200);
    expect(res.body.entry.filter((e: any) => e.search.mode === 'match').map((e: any) => e.resource.id)).toEqual([ids.bob]);
    const self = res.body.link.find((l: any) => l.relation === 'self').url as string;
    expect(self).toContain('gender=male');
    expect(self).not.toContain('shoe-size');
    expect(res.body.entry.some((e: any) => e.search.mode === 'outcome')).toBe(true);
  });
});
