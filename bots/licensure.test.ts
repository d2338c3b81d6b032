import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../server/src/test-support/harness.ts';
import {
  CREDENTIAL_KIND_SYSTEM,
  HOME_JURISDICTION_EXTENSION,
  JURISDICTION_EXTENSION,
  LICENSURE_OVERRIDE_EXTENSION,
} from './clinical/licensure.ts';
import { MODALITY_EXTENSION, PATIENT_LOCATION_EXTENSION } from './licensure.ts';

function credential(kind: string, state: string, home?: string): object {
  return {
    code: { coding: [{ system: CREDENTIAL_KIND_SYSTEM, code: kind }] },
    extension: [
      { url: JURISDICTION_EXTENSION, valueCode: state },
      ...(home ? [{ url: HOME_JURISDICTION_EXTENSION, valueCode: home }] : []),
    ],
    period: { start: '2024-01-01', end: '2030-12-31' },
  };
}

function appointment(practitioner: string, patientState: string | undefined, extra: object = {}): object {
  return {
    resourceType: 'Appointment',
    status: 'booked',
    start: '2026-12-01T15:00:00Z',
    end: '2026-12-01T16:00:00Z',
    extension: [
      ...(patientState ? [{ url: PATIENT_LOCATION_EXTENSION, valueCode: patientState }] : []),
      { url: MODALITY_EXTENSION, valueCode: 'telehealth' },
    ],
    participant: [
      { actor: { reference: 'Patient/pt' }, status: 'accepted' },
      { actor: { reference: practitioner }, status: 'accepted' },
    ],
    ...extra,
  };
}

describe('licensure bot (veto)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    await t.req('/fhir/Patient/pt', { method: 'PUT', json: { resourceType: 'Patient', id: 'pt' } });
    await t.req('/fhir/Practitioner/ca', {
      method: 'PUT',
      json: { resourceType: 'Practitioner', id: 'ca', qualification: [credential('license', 'CA')] },
    });
    await t.req('/fhir/Practitioner/oh', {
      method: 'PUT',
      json: {
        resourceType: 'Practitioner',
        id: 'oh',
        qualification: [credential('license', 'OH'), credential('counseling-privilege', 'AZ', 'OH')],
      },
    });
  });
  afterAll(async () => {
    await t.stop();
  });

  it('books an appointment when the practitioner is licensed where the patient is', async () => {
    expect((await t.req('/fhir/Appointment', { method: 'POST', json: appointment('Practitioner/ca', 'CA') })).status).toBe(201);
  });

  it('refuses it where the practitioner holds no license or privilege, saying who, where and why; nothing is stored', async () => {
    const res = await t.req('/fhir/Appointment', {
      method: 'POST',
      json: appointment('Practitioner/ca', 'NY', { description: 'should-not-exist' }),
    });
    expect(res.status).toBe(422);
    expect(res.body.issue[0].diagnostics).toMatch(/^Refused by licensure: Practitioner\/ca may not practice in NY on 2026-12-01/);
    expect((await t.req('/fhir/Appointment?_summary=count&status=booked')).body.total).toBe(1);
  });

  it('accepts a Counseling Compact privilege for the patient state (both states operational)', async () => {
    expect((await t.req('/fhir/Appointment', { method: 'POST', json: appointment('Practitioner/oh', 'AZ') })).status).toBe(201);
    expect((await t.req('/fhir/Appointment', { method: 'POST', json: appointment('Practitioner/oh', 'TX') })).status).toBe(422);
  });

  it("requires the patient's location at the time of service", async () => {
    const res = await t.req('/fhir/Appointment', { method: 'POST', json: appointment('Practitioner/ca', undefined) });
    expect(res.status).toBe(422);
    expect(res.body.issue[0].diagnostics).toMatch(/patient's location/);
  });

  it('lets a documented override through and logs it without its text', async () => {
    const body = appointment('Practitioner/ca', 'NY') as { extension: object[] };
    body.extension.push({
      url: LICENSURE_OVERRIDE_EXTENSION,
      valueString: 'Patient travelling; emergency session approved by clinical director',
    });
    const res = await t.req('/fhir/Appointment', { method: 'POST', json: body });
    expect(res.status).toBe(201);
    const logged = t.logs.filter((l) => l.event === 'bots.veto_note');
    expect(logged.at(-1)).toMatchObject({ bot: 'licensure', resourceType: 'Appointment', id: res.body.id });
    expect(JSON.stringify(t.logs)).not.toContain('travelling');
  });

  it('checks encounters being started too, and not proposals or finished encounters', async () => {
    const encounter = (status: string, state: string): object => ({
      resourceType: 'Encounter',
      status,
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR' },
      subject: { reference: 'Patient/pt' },
      participant: [{ individual: { reference: 'Practitioner/ca' } }],
      period: { start: '2026-12-02T10:00:00Z' },
      extension: [{ url: PATIENT_LOCATION_EXTENSION, valueCode: state }],
    });
    expect((await t.req('/fhir/Encounter', { method: 'POST', json: encounter('in-progress', 'NV') })).status).toBe(422);
    expect((await t.req('/fhir/Encounter', { method: 'POST', json: encounter('in-progress', 'CA') })).status).toBe(201);
    expect((await t.req('/fhir/Encounter', { method: 'POST', json: encounter('finished', 'NV') })).status).toBe(201);
    expect(
      (await t.req('/fhir/Appointment', { method: 'POST', json: appointment('Practitioner/ca', 'NV', { status: 'proposed' }) })).status,
    ).toBe(201);
  });
});
