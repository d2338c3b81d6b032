import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/harness.ts';
import { monthCloseList } from './closed-months.ts';
import { ACTIVITY_SYSTEM, CARE_MANAGEMENT_SYSTEM, CARE_ROLE_SYSTEM } from './time-entry.ts';

/** A time entry of `practitioner` for `patient` from `start` lasting `minutes`. */
function entry(
  practitioner: string,
  patient: string,
  start: string,
  minutes: number,
  activity = 'patient-contact',
  role?: string,
): Record<string, unknown> {
  const end = new Date(Date.parse(start) + minutes * 60_000).toISOString();
  return {
    resourceType: 'Procedure',
    status: 'completed',
    category: { coding: [{ system: CARE_MANAGEMENT_SYSTEM, code: 'care-management' }] },
    code: { coding: [{ system: ACTIVITY_SYSTEM, code: activity }] },
    subject: { reference: `Patient/${patient}` },
    performer: [
      {
        actor: { reference: `Practitioner/${practitioner}` },
        ...(role ? { function: { coding: [{ system: CARE_ROLE_SYSTEM, code: role }] } } : {}),
      },
    ],
    performedPeriod: { start, end },
  };
}

describe('care-management time entries and the CoCM registry', () => {
  let t: TestServer;
  const post = (body: unknown) => t.req('/fhir/Procedure', { method: 'POST', json: body });
  const diagnostics = (res: { body: any }) => String(res.body?.issue?.[0]?.diagnostics ?? '');

  beforeAll(async () => {
    t = await startTestServer();
    for (const id of ['cm', 'cm2', 'psy'])
      await t.req(`/fhir/Practitioner/${id}`, { method: 'PUT', json: { resourceType: 'Practitioner', id } });
    for (const [id, given] of [
      ['p1', 'Ana'],
      ['p2', 'Ben'],
      ['p3', 'Cy'],
      ['p4', 'Dee'],
    ])
      await t.req(`/fhir/Patient/${id}`, {
        method: 'PUT',
        json: { resourceType: 'Patient', id, name: [{ given: [given], family: 'Test' }] },
      });
    for (const p of ['p1', 'p2'])
      await t.req(`/fhir/CareTeam/${p}-team`, {
        method: 'PUT',
        json: {
          resourceType: 'CareTeam',
          id: `${p}-team`,
          status: 'active',
          subject: { reference: `Patient/${p}` },
          participant: [{ member: { reference: 'Practitioner/cm' } }, { member: { reference: 'Practitioner/psy' } }],
        },
      });
  });
  afterAll(async () => {
    await t?.stop();
  });

  describe('writes', () => {
    it('records an entry, refuses the same minutes logged twice and an overlapping activity of the same practitioner', async () => {
      const first = await post(entry('cm2', 'p4', '2026-05-04T10:00:00Z', 30));
      expect(first.status).toBe(201);
      const again = await post(entry('cm2', 'p4', '2026-05-04T10:00:00Z', 30));
      expect(again.status).toBe(422);
      expect(diagnostics(again)).toContain(`these minutes are already logged (Procedure/${first.body.id}`);
      const overlap = await post(entry('cm2', 'p3', '2026-05-04T10:29:00Z', 10, 'coordination'));
      expect(overlap.status).toBe(422);
      expect(diagnostics(overlap)).toContain(`the period overlaps Procedure/${first.body.id}`);
      // Back to back is fine; so is another practitioner at the same time.
      expect((await post(entry('cm2', 'p3', '2026-05-04T10:30:00Z', 10, 'coordination'))).status).toBe(201);
      expect((await post(entry('psy', 'p4', '2026-05-04T10:00:00Z', 30, 'caseload-consultation', 'psychiatric-consultant'))).status).toBe(
        201,
      );
      // An update of the entry itself does not collide with itself; moving it onto another entry does.
      const moved = await t.req(`/fhir/Procedure/${first.body.id}`, {
        method: 'PUT',
        json: { ...entry('cm2', 'p4', '2026-05-04T09:50:00Z', 35), id: first.body.id },
      });
      expect(moved.status).toBe(200);
      const onto = await t.req(`/fhir/Procedure/${first.body.id}`, {
        method: 'PUT',
        json: { ...entry('cm2', 'p4', '2026-05-04T10:20:00Z', 35), id: first.body.id },
      });
      expect(onto.status).toBe(422);
    });

    it.each([
      [{ performedPeriod: undefined }, 'performedPeriod needs start and end'],
      [{ performedPeriod: { start: '2026-05-05T10:00:00', end: '2026-05-05T10:30:00' } }, 'with a UTC offset'],
      [{ performedPeriod: { start: '2026-05-05T10:00:00Z', end: '2026-05-05T09:30:00Z' } }, 'end must be after its start'],
      [{ performedPeriod: { start: '2026-05-05T10:00:00Z', end: '2026-05-05T10:00:30Z' } }, 'whole minutes'],
      [{ performedPeriod: { start: '2026-05-05T01:00:00Z', end: '2026-05-05T10:01:00Z' } }, 'at most 480 minutes'],
      [{ subject: { reference: 'Group/g' } }, 'subject must reference a Patient'],
      [{ performer: [{ actor: { reference: 'Organization/o' } }] }, 'performer[0].actor must reference'],
      [{ code: { coding: [{ system: ACTIVITY_SYSTEM, code: 'golf' }] } }, 'code must be an activity'],
      [{ status: 'in-progress' }, 'status must be completed'],
    ])('refuses a malformed entry: %j', async (patch, message) => {
      const res = await post({ ...entry('cm2', 'p4', '2026-05-05T10:00:00Z', 30), ...patch });
      expect(res.status).toBe(422);
      expect(diagnostics(res)).toContain(message);
    });

    it('leaves other Procedures alone, and accepts the clinician app encoding (category and code text)', async () => {
      expect(
        (await post({ resourceType: 'Procedure', status: 'completed', subject: { reference: 'Patient/p4' }, code: { text: 'Biopsy' } }))
          .status,
      ).toBe(201);
      const app = {
        resourceType: 'Procedure',
        status: 'completed',
        category: { text: 'Behavioral health care management' },
        code: { text: 'Care coordination with other clinicians' },
        subject: { reference: 'Patient/p4' },
        performedPeriod: { start: '2026-05-06T10:00:00.000Z', end: '2026-05-06T10:15:00.000Z' },
        performer: [{ actor: { reference: 'Practitioner/cm2' } }],
      };
      expect((await post(app)).status).toBe(201);
    });

    it('refuses minutes in a closed month, and changes that would move or withdraw an entry of one', async () => {
      const feb = await post(entry('cm2', 'p4', '2026-02-10T10:00:00Z', 20));
      expect(feb.status).toBe(201);
      const mar = await post(entry('cm2', 'p4', '2026-03-10T10:00:00Z', 20));
      expect(mar.status).toBe(201);
      expect((await t.req('/fhir/List', { method: 'POST', json: monthCloseList('2026-02', '2026-03-02T00:00:00Z', []) })).status).toBe(201);
      const late = await post(entry('cm2', 'p4', '2026-02-27T10:00:00Z', 20));
      expect(late.status).toBe(422);
      expect(diagnostics(late)).toContain('billing month 2026-02 is closed');
      const edit = await t.req(`/fhir/Procedure/${feb.body.id}`, {
        method: 'PUT',
        json: { ...entry('cm2', 'p4', '2026-02-10T10:00:00Z', 25), id: feb.body.id },
      });
      expect(edit.status).toBe(422);
      const withdraw = await t.req(`/fhir/Procedure/${feb.body.id}`, { method: 'PUT', json: { ...feb.body, status: 'entered-in-error' } });
      expect(withdraw.status).toBe(422);
      const moveOut = await t.req(`/fhir/Procedure/${feb.body.id}`, {
        method: 'PUT',
        json: { ...entry('cm2', 'p4', '2026-03-11T10:00:00Z', 20), id: feb.body.id },
      });
      expect(moveOut.status).toBe(422);
      expect(diagnostics(moveOut)).toContain('cannot be moved out of it');
      const moveIn = await t.req(`/fhir/Procedure/${mar.body.id}`, {
        method: 'PUT',
        json: { ...entry('cm2', 'p4', '2026-02-11T10:00:00Z', 20), id: mar.body.id },
      });
      expect(moveIn.status).toBe(422);
      const notAnEntry = await t.req(`/fhir/Procedure/${feb.body.id}`, {
        method: 'PUT',
        json: { resourceType: 'Procedure', id: feb.body.id, status: 'completed', subject: { reference: 'Patient/p4' } },
      });
      expect(notAnEntry.status).toBe(422);
      // March is open: its entry can still be withdrawn.
      expect(
        (await t.req(`/fhir/Procedure/${mar.body.id}`, { method: 'PUT', json: { ...mar.body, status: 'entered-in-error' } })).status,
      ).toBe(200);
    });
  });

  describe('GET Practitioner/{id}/$cocm-registry', () => {
    beforeAll(async () => {
      const writes = [
        entry('cm', 'p1', '2026-03-03T15:00:00Z', 30),
        entry('psy', 'p1', '2026-03-05T15:00:00Z', 15, 'caseload-consultation', 'psychiatric-consultant'),
        entry('cm', 'p1', '2026-01-20T15:00:00Z', 40), // another month
        // Local dates decide the month: 23:30 on March 31 at UTC-5 is March; 00:10 on April 1 is April.
        entry('cm', 'p2', '2026-03-31T23:30:00-05:00', 20, 'coordination'),
        entry('cm', 'p2', '2026-04-01T00:10:00-05:00', 25, 'coordination'),
        entry('cm', 'p3', '2026-03-12T09:00:00Z', 16, 'outreach'),
      ];
      for (const w of writes) expect((await post(w)).status).toBe(201);
      const score = {
        resourceType: 'Observation',
        status: 'final',
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'survey' }] }],
        code: { coding: [{ system: 'http://loinc.org', code: '44261-6', display: 'PHQ-9 total score' }] },
        subject: { reference: 'Patient/p1' },
        effectiveDateTime: '2026-03-04T12:00:00Z',
        valueInteger: 14,
      };
      expect((await t.req('/fhir/Observation', { method: 'POST', json: score })).status).toBe(201);
      expect(
        (
          await t.req('/fhir/Observation', {
            method: 'POST',
            json: { ...score, effectiveDateTime: '2026-04-02T12:00:00Z', valueInteger: 3 },
          })
        ).status,
      ).toBe(201);
      const visit = {
        resourceType: 'Encounter',
        status: 'finished',
        class: { code: 'AMB' },
        subject: { reference: 'Patient/p2' },
        period: { start: '2026-02-14T10:00:00Z', end: '2026-02-14T10:45:00Z' },
      };
      expect((await t.req('/fhir/Encounter', { method: 'POST', json: visit })).status).toBe(201);
    });

    it("lists the care manager's patients with minutes so far, last score, last contact and psychiatric review due", async () => {
      const res = await t.req('/fhir/Practitioner/cm/$cocm-registry?month=2026-03');
      expect(res.status).toBe(200);
      expect(res.body.resourceType).toBe('Parameters');
      const rows = res.body.parameter
        .filter((p: any) => p.name === 'patient')
        .map((p: any) => Object.fromEntries(p.part.map((x: any) => [x.name === 'note' ? `note:${x.valueString}` : x.name, x])));
      expect(rows.map((r: any) => r.patient.valueReference.display)).toEqual(['Ana Test', 'Ben Test', 'Cy Test']);
      const [ana, ben, cy] = rows;
      expect(ana.cocmMinutes.valueInteger).toBe(30); // the consultant's 15 do not count
      expect(ana.loggedMinutes.valueInteger).toBe(45);
      expect(ana.lastScore.part.map((x: any) => x.valueInteger ?? x.valueDateTime ?? x.valueCoding.code)).toEqual([
        '44261-6',
        14,
        '2026-03-04T12:00:00Z',
      ]);
      expect(ana.validatedScaleThisMonth.valueBoolean).toBe(true);
      expect(ana.lastContact.valueDateTime).toBe('2026-03-03T15:00:00Z');
      expect(ana.psychiatricReviewDue.valueBoolean).toBe(false);
      expect(ben.cocmMinutes.valueInteger).toBe(20);
      expect(ben.lastScore).toBeUndefined();
      expect(ben.validatedScaleThisMonth.valueBoolean).toBe(false);
      expect(ben.lastContact.valueDateTime).toBe('2026-02-14T10:45:00Z');
      expect(ben.psychiatricReviewDue.valueBoolean).toBe(true);
      expect(ben['note:no validated rating scale this month']).toBeDefined();
      // Not on a care team, but minutes logged by the care manager this month.
      expect(cy.cocmMinutes.valueInteger).toBe(16);
    });

    it('April counts only April', async () => {
      const res = await t.req('/fhir/Practitioner/cm/$cocm-registry?month=2026-04');
      const ben = res.body.parameter.find((p: any) => p.name === 'patient' && p.part[0].valueReference.reference === 'Patient/p2');
      expect(ben.part.find((x: any) => x.name === 'cocmMinutes').valueInteger).toBe(25);
    });

    it.each([
      ['/fhir/Practitioner/cm/$cocm-registry', 400, 'month is required as YYYY-MM'],
      ['/fhir/Practitioner/cm/$cocm-registry?month=2026-3', 400, 'month is required as YYYY-MM'],
      ['/fhir/Practitioner/cm/$cocm-registry?month=2026-03&month=2026-04', 400, 'month is required as YYYY-MM'],
      ['/fhir/Practitioner/cm/$cocm-registry?month=2026-03&patient=p1', 400, 'Unknown parameter \\"patient\\" for $cocm-registry'],
      ['/fhir/Practitioner/nobody/$cocm-registry?month=2026-03', 404, ''],
    ])('%s → %i', async (path, status, message) => {
      const res = await t.req(path);
      expect(res.status).toBe(status);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(JSON.stringify(res.body)).toContain(message);
    });
  });
});
