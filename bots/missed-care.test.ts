import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../server/src/test-support/harness.ts';

describe('missed-care bot', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ HAVEN_EVENT_POLL_MS: '100' });
    await t.req('/fhir/Patient/p1', { method: 'PUT', json: { resourceType: 'Patient', id: 'p1' } });
    await t.req('/fhir/CarePlan/cp1', {
      method: 'PUT',
      json: { resourceType: 'CarePlan', id: 'cp1', status: 'active', intent: 'plan', subject: { reference: 'Patient/p1' }, author: { reference: 'Practitioner/cm' } },
    });
  });
  afterAll(async () => {
    await t.stop();
  });

  async function noShow(daysAgo: number): Promise<void> {
    const start = new Date(Date.now() - daysAgo * 86_400_000).toISOString();
    const res = await t.req('/fhir/Appointment', {
      method: 'POST',
      json: { resourceType: 'Appointment', status: 'noshow', start, end: start, participant: [{ actor: { reference: 'Patient/p1' }, status: 'accepted' }] },
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
});
