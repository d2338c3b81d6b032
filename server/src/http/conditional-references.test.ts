/**
 * Conditional references (issue 13 item 16; FHIR R4 http.html#trules): `"reference": "Patient?identifier=…"` in a
 * transaction is resolved by search under the caller's access and stored as `Patient/{id}`; no match or several is a
 * 412 and nothing is written; batch entries are resolved one by one; anywhere else the reference is refused (400).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, BundleEntry, Observation, OperationOutcome, PractitionerRole, Resource } from '@medplum/fhirtypes';
import { ADMIN, as, startPolicyServer } from '../policy/test-principal.ts';
import type { TestServer } from '../test-support/harness.ts';

const MRN = 'http://hospital.example/mrn';
const NPI = 'http://hl7.org/fhir/sid/us-npi';
const admin = as(ADMIN);
let t: TestServer;

beforeAll(async () => {
  t = await startPolicyServer();
  const seed: Resource[] = [
    { resourceType: 'Patient', id: 'cr-p1', identifier: [{ system: MRN, value: 'mrn-1' }] },
    { resourceType: 'Patient', id: 'cr-p2', identifier: [{ system: MRN, value: 'twin' }] },
    { resourceType: 'Patient', id: 'cr-p3', identifier: [{ system: MRN, value: 'twin' }] },
    { resourceType: 'Patient', id: 'cr-p4', identifier: [{ system: MRN, value: 'mrn-4' }] },
    { resourceType: 'Patient', id: 'cr-gone', identifier: [{ system: MRN, value: 'mrn-gone' }] },
    { resourceType: 'Patient', id: 'cr-swap-a', identifier: [{ system: MRN, value: 'mrn-swap' }] },
    { resourceType: 'Practitioner', id: 'cr-dr', identifier: [{ system: NPI, value: '1234567893' }] },
    { resourceType: 'Organization', id: 'cr-org', identifier: [{ system: 'urn:oid:2.16.840.1.113883.19', value: 'clinic' }] },
  ];
  for (const r of seed) {
    const res = await t.req(`/fhir/${r.resourceType}/${r.id}`, { method: 'PUT', json: r, headers: admin });
    expect(res.status, res.text).toBe(201);
  }
});
afterAll(async () => {
  await t?.stop();
});

/** An Observation marked with `code` so a test can count what it wrote. */
function obs(code: string, extra: Partial<Observation> = {}): Observation {
  return { resourceType: 'Observation', status: 'final', code: { coding: [{ system: 'urn:test:cr', code }] }, ...extra };
}

async function post(bundle: Bundle, headers: Record<string, string> = admin) {
  return t.req('/fhir', { method: 'POST', json: bundle, headers });
}

function transaction(entry: BundleEntry[]): Bundle {
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

async function observationsCoded(code: string): Promise<Observation[]> {
  const res = await t.req(`/fhir/Observation?code=urn:test:cr|${code}`, { headers: admin });
  expect(res.status, res.text).toBe(200);
  return ((res.body as Bundle).entry ?? []).map((e) => e.resource as Observation);
}

describe('in a transaction', () => {
  it('one match: the reference is stored as Type/id, and searching by it finds the resource', async () => {
    const res = await post(
      transaction([
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('one', { subject: { reference: `Patient?identifier=${MRN}|mrn-1` } }),
        },
      ]),
    );
    expect(res.status, res.text).toBe(200);
    const [stored] = await observationsCoded('one');
    expect(stored.subject?.reference).toBe('Patient/cr-p1');
    const bySubject = await t.req('/fhir/Observation?subject=Patient/cr-p1&code=urn:test:cr|one', { headers: admin });
    expect(bySubject.body.entry).toHaveLength(1);
  });

  it('resolves references anywhere: nested, in extensions, in contained resources, in every entry; urn:uuid references still work', async () => {
    const encounter = 'urn:uuid:0b6a2f3e-8a1c-4c1e-9a51-6f1d2b3c4d5e';
    const res = await post(
      transaction([
        {
          fullUrl: encounter,
          request: { method: 'POST', url: 'Encounter' },
          resource: {
            resourceType: 'Encounter',
            status: 'finished',
            class: { code: 'AMB' },
            subject: { reference: `Patient?identifier=${MRN}|mrn-1` },
            serviceProvider: { reference: 'Organization?identifier=urn:oid:2.16.840.1.113883.19|clinic' },
          },
        },
        {
          request: { method: 'PUT', url: 'Observation/cr-nested' },
          resource: obs('nested', {
            id: 'cr-nested',
            subject: { reference: `Patient?identifier=${MRN}|mrn-1` },
            encounter: { reference: encounter },
            performer: [{ reference: '#author' }, { reference: `Practitioner?identifier=${NPI}|1234567893` }],
            contained: [
              {
                resourceType: 'PractitionerRole',
                id: 'author',
                practitioner: { reference: `Practitioner?identifier=${NPI}|1234567893` },
                organization: { reference: 'Organization?identifier=clinic' },
              },
            ],
            extension: [
              {
                url: 'http://example.org/fhir/StructureDefinition/reviewed-by',
                extension: [{ url: 'who', valueReference: { reference: `Practitioner?identifier=${NPI}|1234567893` } }],
              },
            ],
            component: [
              {
                code: { text: 'part' },
                valueString: 'x',
                extension: [
                  { url: 'http://example.org/fhir/StructureDefinition/site', valueReference: { reference: 'Organization?_id=cr-org' } },
                ],
              },
            ],
          }),
        },
      ]),
    );
    expect(res.status, res.text).toBe(200);
    const encounterId = (res.body as Bundle).entry?.[0]?.resource?.id;
    const stored = (await t.req('/fhir/Observation/cr-nested', { headers: admin })).body as Observation;
    expect(stored.subject?.reference).toBe('Patient/cr-p1');
    expect(stored.encounter?.reference).toBe(`Encounter/${encounterId}`);
    expect(stored.performer?.map((p) => p.reference)).toEqual(['#author', 'Practitioner/cr-dr']);
    const role = stored.contained?.[0] as PractitionerRole | undefined;
    expect(role?.practitioner?.reference).toBe('Practitioner/cr-dr');
    expect(role?.organization?.reference).toBe('Organization/cr-org');
    expect(stored.extension?.[0].extension?.[0].valueReference?.reference).toBe('Practitioner/cr-dr');
    expect(stored.component?.[0].extension?.[0].valueReference?.reference).toBe('Organization/cr-org');
    const enc = (await t.req(`/fhir/Encounter/${encounterId}`, { headers: admin })).body;
    expect(enc.subject.reference).toBe('Patient/cr-p1');
    expect(enc.serviceProvider.reference).toBe('Organization/cr-org');
  });

  it('no match: 412 naming the reference and where it is, and nothing of the transaction is written', async () => {
    const res = await post(
      transaction([
        { request: { method: 'POST', url: 'Observation' }, resource: obs('zero-other') },
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('zero', { subject: { reference: `Patient?identifier=${MRN}|nobody` } }),
        },
      ]),
    );
    expect(res.status, res.text).toBe(412);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].diagnostics).toMatch(/Patient\?identifier=.*nobody.*matched no resource/);
    expect(res.body.issue[0].expression).toEqual(['Bundle.entry[1].resource.subject']);
    expect(await observationsCoded('zero-other')).toEqual([]);
    expect(await observationsCoded('zero')).toEqual([]);
  });

  it('several matches: 412, and nothing is written', async () => {
    const res = await post(
      transaction([
        { request: { method: 'POST', url: 'Observation' }, resource: obs('two-other') },
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('two', { subject: { reference: `Patient?identifier=${MRN}|twin` } }),
        },
      ]),
    );
    expect(res.status, res.text).toBe(412);
    expect(res.body.issue[0].code).toBe('multiple-matches');
    expect(res.body.issue[0].diagnostics).toMatch(/matched more than one resource/);
    expect(await observationsCoded('two-other')).toEqual([]);
    expect(await observationsCoded('two')).toEqual([]);
  });

  it("a resource the caller cannot see is no match (412, exactly as for one that does not exist); its own patient's is", async () => {
    const patientApp = as({ scopes: 'patient/*.cruds', patient: 'cr-p1' });
    const about = (mrn: string) =>
      transaction([
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs(`seen-${mrn}`, {
            subject: { reference: 'Patient/cr-p1' },
            focus: [{ reference: `Patient?identifier=${MRN}|${mrn}` }],
          }),
        },
      ]);
    const hidden = await post(about('mrn-4'), patientApp);
    const missing = await post(about('no-such-mrn'), patientApp);
    expect(hidden.status, hidden.text).toBe(412);
    expect(missing.status).toBe(412);
    expect(hidden.body.issue[0].diagnostics.replace('mrn-4', 'X')).toBe(missing.body.issue[0].diagnostics.replace('no-such-mrn', 'X'));
    expect(await observationsCoded('seen-mrn-4')).toEqual([]);
    const visible = await post(about('mrn-1'), patientApp);
    expect(visible.status, visible.text).toBe(200);
    expect((await observationsCoded('seen-mrn-1'))[0].focus?.[0].reference).toBe('Patient/cr-p1');
  });

  it('needs a search grant on the referenced type (403), like any search', async () => {
    const writer = as({ scopes: 'system/Observation.c' });
    const res = await post(
      transaction([
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('no-grant', { subject: { reference: `Patient?identifier=${MRN}|mrn-1` } }),
        },
      ]),
      writer,
    );
    expect(res.status, res.text).toBe(403);
    expect(res.body.issue[0].diagnostics).toMatch(
      /^Conditional reference "Patient\?identifier=.*" at Bundle\.entry\[0\]\.resource\.subject: .*Patient/,
    );
    expect(await observationsCoded('no-grant')).toEqual([]);
  });

  it('resolves to the resource a conditional update of the same transaction creates (R4: resolved after the writes)', async () => {
    const res = await post(
      transaction([
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('same-tx', { subject: { reference: `Patient?identifier=${MRN}|mrn-new` } }),
        },
        {
          request: { method: 'PUT', url: `Patient?identifier=${MRN}|mrn-new` },
          resource: { resourceType: 'Patient', identifier: [{ system: MRN, value: 'mrn-new' }] },
        },
      ]),
    );
    expect(res.status, res.text).toBe(200);
    const patientId = (res.body as Bundle).entry?.[1]?.resource?.id;
    expect(patientId).toBeTruthy();
    expect((await observationsCoded('same-tx'))[0].subject?.reference).toBe(`Patient/${patientId}`);
  });

  it('and to the existing one a conditional create of the same transaction finds', async () => {
    const res = await post(
      transaction([
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('same-tx-found', { subject: { reference: `Patient?identifier=${MRN}|mrn-1` } }),
        },
        {
          request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${MRN}|mrn-1` },
          resource: { resourceType: 'Patient', identifier: [{ system: MRN, value: 'mrn-1' }] },
        },
      ]),
    );
    expect(res.status, res.text).toBe(200);
    expect((await observationsCoded('same-tx-found'))[0].subject?.reference).toBe('Patient/cr-p1');
  });

  it('412 when the transaction itself adds a second match (the reference would no longer name one resource)', async () => {
    const res = await post(
      transaction([
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('second', { subject: { reference: `Patient?identifier=${MRN}|mrn-1` } }),
        },
        {
          request: { method: 'POST', url: 'Patient' },
          resource: { resourceType: 'Patient', identifier: [{ system: MRN, value: 'mrn-1' }] },
        },
      ]),
    );
    expect(res.status, res.text).toBe(412);
    expect(res.body.issue[0].diagnostics).toMatch(/more than one resource once the transaction.s own writes are applied/);
    expect(await observationsCoded('second')).toEqual([]);
    const patients = await t.req(`/fhir/Patient?identifier=${MRN}|mrn-1`, { headers: admin });
    expect(patients.body.entry).toHaveLength(1);
  });

  it('412 when the transaction deletes the one match', async () => {
    const res = await post(
      transaction([
        { request: { method: 'DELETE', url: 'Patient/cr-gone' } },
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('deleted', { subject: { reference: `Patient?identifier=${MRN}|mrn-gone` } }),
        },
      ]),
    );
    expect(res.status, res.text).toBe(412);
    expect(res.body.issue[0].diagnostics).toMatch(/matched no resource once the transaction.s own writes are applied/);
    expect((await t.req('/fhir/Patient/cr-gone', { headers: admin })).status).toBe(200);
    expect(await observationsCoded('deleted')).toEqual([]);
  });

  it('412 when the transaction moves the search from one resource to another (written references cannot follow)', async () => {
    const res = await post(
      transaction([
        {
          request: { method: 'PUT', url: 'Patient/cr-swap-a' },
          resource: { resourceType: 'Patient', id: 'cr-swap-a', identifier: [{ system: MRN, value: 'mrn-swapped' }] },
        },
        {
          request: { method: 'PUT', url: 'Patient/cr-swap-b' },
          resource: { resourceType: 'Patient', id: 'cr-swap-b', identifier: [{ system: MRN, value: 'mrn-swap' }] },
        },
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('swap', { subject: { reference: `Patient?identifier=${MRN}|mrn-swap` } }),
        },
      ]),
    );
    expect(res.status, res.text).toBe(412);
    expect(res.body.issue[0].diagnostics).toMatch(/matched another resource once the transaction.s own writes are applied/);
    expect((await t.req('/fhir/Patient/cr-swap-b', { headers: admin })).status).toBe(404);
    expect(await observationsCoded('swap')).toEqual([]);
  });

  it('a match that only a plain create of the same transaction makes is not found (412): refer to its urn:uuid instead', async () => {
    const res = await post(
      transaction([
        {
          request: { method: 'POST', url: 'Patient' },
          resource: { resourceType: 'Patient', identifier: [{ system: MRN, value: 'mrn-plain-new' }] },
        },
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('plain-new', { subject: { reference: `Patient?identifier=${MRN}|mrn-plain-new` } }),
        },
      ]),
    );
    expect(res.status, res.text).toBe(412);
    expect((await t.req(`/fhir/Patient?identifier=${MRN}|mrn-plain-new`, { headers: admin })).body.entry ?? []).toEqual([]);
  });

  it('refuses searches that are not filters only (400)', async () => {
    for (const reference of [`Patient?identifier=${MRN}|mrn-1&_sort=name`, 'Patient?', 'Patient?no-such-param=1', 'Nonsense?x=1']) {
      const res = await post(
        transaction([{ request: { method: 'POST', url: 'Observation' }, resource: obs('bad', { subject: { reference } }) }]),
      );
      expect(res.status, `${reference}: ${res.text}`).toBe(400);
      expect(res.body.issue[0].diagnostics).toMatch(/^Conditional reference "/);
      expect(res.body.issue[0].expression).toEqual(['Bundle.entry[0].resource.subject']);
    }
    expect(await observationsCoded('bad')).toEqual([]);
  });
});

describe('in a batch', () => {
  it('each entry is resolved on its own: an unresolved one gets 412, the others are written', async () => {
    const res = await post({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('batch-ok', { subject: { reference: `Patient?identifier=${MRN}|mrn-1` } }),
        },
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('batch-none', { subject: { reference: `Patient?identifier=${MRN}|nobody` } }),
        },
        { request: { method: 'POST', url: 'Observation' }, resource: obs('batch-plain', { subject: { reference: 'Patient/cr-p4' } }) },
        {
          request: { method: 'POST', url: 'Observation' },
          resource: obs('batch-twin', { subject: { reference: `Patient?identifier=${MRN}|twin` } }),
        },
      ],
    });
    expect(res.status, res.text).toBe(200);
    const entries = (res.body as Bundle).entry ?? [];
    expect(entries.map((e) => e.response?.status)).toEqual(['201', '412', '201', '412']);
    const outcome = entries[1].response?.outcome as OperationOutcome | undefined;
    expect(outcome?.issue?.[0]?.diagnostics).toMatch(/matched no resource/);
    expect((await observationsCoded('batch-ok'))[0].subject?.reference).toBe('Patient/cr-p1');
    expect(await observationsCoded('batch-plain')).toHaveLength(1);
    expect(await observationsCoded('batch-none')).toEqual([]);
    expect(await observationsCoded('batch-twin')).toEqual([]);
  });
});

describe('outside a Bundle', () => {
  const conditional = { reference: `Patient?identifier=${MRN}|mrn-1` };

  it('create, update and patch refuse a conditional reference (400 naming it) instead of storing a dangling one', async () => {
    const created = await t.req('/fhir/Observation', { method: 'POST', json: obs('plain', { subject: conditional }), headers: admin });
    expect(created.status, created.text).toBe(400);
    expect(created.body.issue[0].diagnostics).toMatch(/Patient\?identifier=.*Observation\.subject.*transaction/);
    const updated = await t.req('/fhir/Observation/cr-plain', {
      method: 'PUT',
      json: obs('plain', { id: 'cr-plain', subject: conditional }),
      headers: admin,
    });
    expect(updated.status, updated.text).toBe(400);
    expect(await observationsCoded('plain')).toEqual([]);

    const base = await t.req('/fhir/Observation', { method: 'POST', json: obs('patched'), headers: admin });
    expect(base.status).toBe(201);
    const patched = await t.req(`/fhir/Observation/${base.body.id}`, {
      method: 'PATCH',
      body: JSON.stringify([{ op: 'add', path: '/subject', value: conditional }]),
      headers: { ...admin, 'content-type': 'application/json-patch+json' },
    });
    expect(patched.status, patched.text).toBe(400);
    expect((await t.req(`/fhir/Observation/${base.body.id}`, { headers: admin })).body.subject).toBeUndefined();
  });

  it('references inside a stored Bundle document are its content and are left as they are', async () => {
    const doc: Bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ fullUrl: 'urn:uuid:5a0d3c52-3f0e-4d4b-8b7e-6a2f0e1c9d11', resource: obs('archived', { subject: conditional }) }],
    };
    const res = await t.req('/fhir/Bundle', { method: 'POST', json: doc, headers: admin });
    expect(res.status, res.text).toBe(201);
    expect(res.body.entry[0].resource.subject.reference).toBe(conditional.reference);
  });
});
