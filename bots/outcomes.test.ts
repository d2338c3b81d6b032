import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { startTestServer, type TestServer } from '../server/src/test-support/harness.ts';
import { phqLikeResponse } from './test-support/responses.ts';

describe('outcomes bot', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ HAVEN_EVENT_POLL_MS: '100', HAVEN_DELIVERY_RETRY_BASE_MS: '50', HAVEN_DELIVERY_MAX_ATTEMPTS: '3' });
    await t.req('/fhir/Patient/p1', { method: 'PUT', json: { resourceType: 'Patient', id: 'p1' } });
    await t.req('/fhir/Goal/g1', {
      method: 'PUT',
      json: {
        resourceType: 'Goal',
        id: 'g1',
        lifecycleStatus: 'active',
        subject: { reference: 'Patient/p1' },
        description: { text: 'Remission of depression' },
        target: [{ measure: { coding: [{ system: 'http://loinc.org', code: '44261-6' }] }, detailInteger: 5 }],
      },
    });
    await t.req('/fhir/CarePlan/cp1', {
      method: 'PUT',
      json: {
        resourceType: 'CarePlan',
        id: 'cp1',
        status: 'active',
        intent: 'plan',
        subject: { reference: 'Patient/p1' },
        period: { start: '2026-01-01' },
        goal: [{ reference: 'Goal/g1' }],
      },
    });
  });
  afterAll(async () => {
    await t.stop();
  });

  async function submit(scores: number[], authored: string): Promise<void> {
    const res = await t.req('/fhir/QuestionnaireResponse', { method: 'POST', json: phqLikeResponse('phq-9', 'p1', scores, { authored }) });
    expect(res.status).toBe(201);
    await t.server.events.dispatcher.idle();
  }

  async function outcome(code: 'response' | 'remission'): Promise<boolean[]> {
    const res = await t.req(
      `/fhir/Observation?subject=Patient/p1&code=https://haven.health/fhir/CodeSystem/mbc-outcome|${code}&_sort=date`,
    );
    return ((res.body as Bundle).entry ?? []).map((e) => (e.resource as Observation).valueBoolean as boolean);
  }

  async function achievement(): Promise<string | undefined> {
    return (await t.req('/fhir/Goal/g1')).body.achievementStatus?.coding?.[0]?.code;
  }

  it('baseline, then improving, then response and remission on the care plan Goal', async () => {
    await submit([2, 2, 2, 2, 2, 2, 2, 2, 0], '2026-02-01T10:00:00Z'); // 16: baseline
    expect(await achievement()).toBe('in-progress');
    await submit([1, 1, 1, 1, 1, 1, 1, 2, 0], '2026-03-01T10:00:00Z'); // 9: drop 7 (< 50 %)
    expect(await achievement()).toBe('improving');
    expect(await outcome('response')).toEqual([false]);
    await submit([1, 1, 1, 1, 0, 0, 0, 0, 0], '2026-04-01T10:00:00Z'); // 4: remission
    expect(await achievement()).toBe('achieved');
    expect(await outcome('response')).toEqual([false, true]);
    expect(await outcome('remission')).toEqual([false, true]);
  });
});
