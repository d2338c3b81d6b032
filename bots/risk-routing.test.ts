/**
 * Issue 13, clinical safety 3: every risk Task names who acts. Owner by roster → treating practitioner → care team →
 * tenant fallback, and performerType (the on-call role) on the Task and its checklist whoever owns it. End to end.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Task } from '@medplum/fhirtypes';
import { startTestServer, type TestServer } from '../server/src/test-support/harness.ts';
import { loadClinicalConfig } from './clinical/config.ts';
import { BOTS, BOTS_MODULE } from './index.ts';
import { phqLikeResponse } from './test-support/responses.ts';

const ROLE = { system: 'https://haven.health/fhir/CodeSystem/care-role', code: 'on-call-clinician' };

describe('risk Task routing: roster → treating practitioner → care team → tenant fallback', () => {
  let t: TestServer;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haven-routing-'));
    const override = join(dir, 'bots.json');
    writeFileSync(
      override,
      JSON.stringify({
        escalation: {
          onCall: { fallback: 'Practitioner/on-call' },
          fallbackOwner: 'Organization/clinic',
          tenants: { acme: { fallbackOwner: 'PractitionerRole/acme-duty' } },
        },
      }),
    );
    t = await startTestServer(
      { HAVEN_EVENT_POLL_MS: '100', HAVEN_DELIVERY_RETRY_BASE_MS: '50', HAVEN_DELIVERY_MAX_ATTEMPTS: '3' },
      { botSet: { bots: BOTS, module: BOTS_MODULE, config: loadClinicalConfig({ HAVEN_BOT_CONFIG: override }) } },
    );
    const put = (base: string, type: string, body: { id: string; [k: string]: unknown }) =>
      t.req(`${base}/${type}/${body.id}`, { method: 'PUT', json: { resourceType: type, ...body } });
    await put('/fhir', 'Patient', { id: 'oncall', generalPractitioner: [{ reference: 'Practitioner/gp' }] });
    await put('/fhir', 'Patient', { id: 'treated', generalPractitioner: [{ reference: 'PractitionerRole/pr1' }] });
    await put('/fhir', 'Patient', { id: 'teamed', generalPractitioner: [{ reference: 'Organization/practice' }] });
    await put('/fhir', 'CareTeam', { id: 'ct-old', status: 'inactive', subject: { reference: 'Patient/teamed' } });
    await put('/fhir', 'CareTeam', { id: 'ct1', status: 'active', subject: { reference: 'Patient/teamed' } });
    await put('/fhir', 'Patient', { id: 'alone' });
    await put('/t/acme/fhir', 'Patient', { id: 'alone' });
  });
  afterAll(async () => {
    await t.stop();
  });

  async function riskTaskAfter(base: string, patient: string, item9: number): Promise<{ task: Task; checklist: Task[] }> {
    const res = await t.req(`${base}/QuestionnaireResponse`, {
      method: 'POST',
      json: phqLikeResponse('phq-9', patient, [0, 0, 0, 0, 0, 0, 0, 0, item9]),
    });
    expect(res.status, res.text).toBe(201);
    await t.server.events.dispatcher.idle();
    const found = await t.req(
      `${base}/Task?patient=Patient/${patient}&code=https://haven.health/fhir/CodeSystem/haven-task|suicide-risk-review`,
    );
    const tasks = ((found.body as Bundle).entry ?? []).map((e) => e.resource as Task);
    expect(tasks).toHaveLength(1);
    const children = await t.req(`${base}/Task?part-of=Task/${tasks[0].id}`);
    return { task: tasks[0], checklist: ((children.body as Bundle).entry ?? []).map((e) => e.resource as Task) };
  }

  function expectRouted({ task, checklist }: { task: Task; checklist: Task[] }, owner: string, route: string): void {
    expect(task.owner?.reference).toBe(owner);
    expect(task.input?.find((i) => i.type.coding?.[0]?.code === 'owner-route')?.valueCode).toBe(route);
    expect(task.performerType?.[0]?.coding?.[0]).toMatchObject(ROLE);
    expect(checklist).toHaveLength(3);
    for (const child of checklist) {
      expect(child.owner?.reference).toBe(owner);
      expect(child.performerType?.[0]?.coding?.[0]).toMatchObject(ROLE);
    }
  }

  it('1. moderate risk goes to the on-call roster', async () => {
    expectRouted(await riskTaskAfter('/fhir', 'oncall', 2), 'Practitioner/on-call', 'on-call');
  });

  it('2. low risk goes to the treating practitioner (a PractitionerRole)', async () => {
    expectRouted(await riskTaskAfter('/fhir', 'treated', 1), 'PractitionerRole/pr1', 'treating-practitioner');
  });

  it("3. without a treating practitioner: the patient's active CareTeam", async () => {
    expectRouted(await riskTaskAfter('/fhir', 'teamed', 1), 'CareTeam/ct1', 'care-team');
  });

  it("4. with none of those: the tenant's fallback owner (a tenant's own setting wins)", async () => {
    expectRouted(await riskTaskAfter('/fhir', 'alone', 1), 'Organization/clinic', 'fallback');
    expectRouted(await riskTaskAfter('/t/acme/fhir', 'alone', 1), 'PractitionerRole/acme-duty', 'fallback');
  });
});
