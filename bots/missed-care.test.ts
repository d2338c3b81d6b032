import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../server/src/test-support/harness.ts';

describe('missed-care bots', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ HAVEN_EVENT_POLL_MS: '100' });
    await t.req('/fhir/Patient/p1', { method: 'PUT', json: { resourceType: 'Patient', id: 'p1' } });
    await t.req('/fhir/CarePlan/cp1', {
      method: 'PUT',
      json: {
        resourceType: 'CarePlan',
        id: 'cp1',
        status: 'active',
        intent: 'plan',
        subject: { reference: 'Patient/p1' },
        author: { reference: 'Practitioner/cm' },
      },
    });
  });
  afterAll(async () => {
    await t.stop();
  });

  async function noShow(daysAgo: number): Promise<void> {
    const start = new Date(Date.now() - daysAgo * 86_400_000).toISOString();
    const res = await t.req('/fhir/Appointment', {
      method: 'POST',
      json: {
        resourceType: 'Appointment',
        status: 'noshow',
        start,
        end: start,
        participant: [{ actor: { reference: 'Patient/p1' }, status: 'accepted' }],
      },
    });
    expect(res.status).toBe(201);
    await t.server.events.dispatcher.idle();
  }

  async function tasks(): Promise<{ owner?: { reference?: string }; input?: unknown[] }[]> {
    const res = await t.req('/fhir/Task?patient=Patient/p1&code=https://haven.health/fhir/CodeSystem/haven-task|missed-care');
    return (res.body.entry ?? []).map((e: { resource: object }) => e.resource);
  }

  it('one no-show: nothing; two within 30 days: one Task for the care manager; a third: still one open Task', async () => {
    await noShow(40);
    await noShow(10);
    expect(await tasks()).toHaveLength(0);
    await noShow(2);
    let list = await tasks();
    expect(list).toHaveLength(1);
    expect(list[0].owner?.reference).toBe('Practitioner/cm');
    await noShow(1);
    list = await tasks();
    expect(list).toHaveLength(1);
  });

  it('no contact for more than 30 days on an active care plan: one care-manager Task per patient, from the daily schedule', async () => {
    for (const id of ['quiet', 'seen']) {
      await t.req(`/fhir/Patient/${id}`, { method: 'PUT', json: { resourceType: 'Patient', id } });
      await t.req(`/fhir/CarePlan/cp-${id}`, {
        method: 'PUT',
        json: {
          resourceType: 'CarePlan',
          id: `cp-${id}`,
          status: 'active',
          intent: 'plan',
          subject: { reference: `Patient/${id}` },
          period: { start: '2026-01-01' },
          author: { reference: 'Practitioner/cm' },
        },
      });
    }
    const recent = new Date(Date.now() - 3 * 86_400_000).toISOString();
    await t.req('/fhir/Encounter', {
      method: 'POST',
      json: {
        resourceType: 'Encounter',
        status: 'finished',
        class: { code: 'AMB' },
        subject: { reference: 'Patient/seen' },
        period: { start: recent, end: recent },
      },
    });
    await t.req('/fhir/Encounter', {
      method: 'POST',
      json: {
        resourceType: 'Encounter',
        status: 'finished',
        class: { code: 'AMB' },
        subject: { reference: 'Patient/quiet' },
        period: { start: '2026-02-01T10:00:00Z', end: '2026-02-01T11:00:00Z' },
      },
    });
    await t.server.events.runSchedules();
    const task = async (patient: string): Promise<number> =>
      (await t.req(`/fhir/Task?patient=Patient/${patient}&code=https://haven.health/fhir/CodeSystem/haven-task|missed-care&_summary=count`))
        .body.total;
    expect(await task('quiet')).toBe(1);
    expect(await task('seen')).toBe(0);
    // Once per period across processes: a second tick right away does not run again.
    await t.server.events.runSchedules();
    const { rows } = await t.server.db.query(`SELECT outcome FROM haven_bot_runs WHERE bot = 'no-contact'`);
    expect(rows).toEqual([{ outcome: 'succeeded' }]);
  });
});
