/**
 * Issue 13, clinical safety 2: a response changed to entered-in-error retracts its results. Its score Observations
 * become entered-in-error, what rested on its total (outcome Observations, the Goal, the baseline, the score-rise rule)
 * is recomputed from the totals that remain, and an open risk Task it raised gets a note and stays open. End to end.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Observation, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { startTestServer, type TestServer } from '../server/src/test-support/harness.ts';
import { loadClinicalConfig } from './clinical/config.ts';
import { BOTS, BOTS_MODULE } from './index.ts';
import { phqLikeResponse } from './test-support/responses.ts';

const MBC = 'https://haven.health/fhir/CodeSystem/mbc-outcome';

describe('a response entered in error retracts its results', () => {
  let t: TestServer;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haven-retract-'));
    const override = join(dir, 'bots.json');
    writeFileSync(override, JSON.stringify({ escalation: { onCall: { fallback: 'Practitioner/on-call' } } }));
    t = await startTestServer(
      { HAVEN_EVENT_POLL_MS: '100', HAVEN_DELIVERY_RETRY_BASE_MS: '50', HAVEN_DELIVERY_MAX_ATTEMPTS: '3' },
      { botSet: { bots: BOTS, module: BOTS_MODULE, config: loadClinicalConfig({ HAVEN_BOT_CONFIG: override }) } },
    );
    for (const id of ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']) {
      await t.req(`/fhir/Patient/${id}`, { method: 'PUT', json: { resourceType: 'Patient', id } });
    }
    await t.req('/fhir/Goal/g1', {
      method: 'PUT',
      json: {
        resourceType: 'Goal',
        id: 'g1',
        lifecycleStatus: 'active',
        subject: { reference: 'Patient/r1' },
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
        subject: { reference: 'Patient/r1' },
        period: { start: '2026-01-01' },
        goal: [{ reference: 'Goal/g1' }],
      },
    });
  });
  afterAll(async () => {
    await t.stop();
  });

  async function submit(qr: QuestionnaireResponse): Promise<QuestionnaireResponse & { id: string }> {
    const res = await t.req('/fhir/QuestionnaireResponse', { method: 'POST', json: qr });
    expect(res.status, res.text).toBe(201);
    await t.server.events.dispatcher.idle();
    return res.body;
  }

  async function retract(qr: QuestionnaireResponse & { id: string }): Promise<void> {
    const res = await t.req(`/fhir/QuestionnaireResponse/${qr.id}`, { method: 'PUT', json: { ...qr, status: 'entered-in-error' } });
    expect(res.status, res.text).toBe(200);
    await t.server.events.dispatcher.idle();
  }

  async function search<T>(query: string): Promise<T[]> {
    const res = await t.req(`/fhir/${query}`);
    return ((res.body as Bundle).entry ?? []).map((e) => e.resource as T);
  }

  const derivedFrom = (qrId: string) => search<Observation>(`Observation?derived-from=QuestionnaireResponse/${qrId}&_count=50`);
  const totalId = async (qrId: string) => (await derivedFrom(qrId)).find((o) => o.code.coding?.[0]?.code === '44261-6')?.id as string;
  const outcomesOf = async (total: string) =>
    (await search<Observation>(`Observation?subject=Patient/r1&code=${MBC}|response,${MBC}|remission&_count=50`)).filter(
      (o) => o.derivedFrom?.[0]?.reference === `Observation/${total}`,
    );
  const achievement = async () => (await t.req('/fhir/Goal/g1')).body.achievementStatus?.coding?.[0]?.code as string | undefined;

  it('derived Observations become entered-in-error; outcomes, Goal and baseline are recomputed from what remains', async () => {
    const a = await submit(phqLikeResponse('phq-9', 'r1', [2, 2, 2, 2, 2, 2, 2, 2, 0], { authored: '2026-02-01T10:00:00Z' })); // 16
    const b = await submit(phqLikeResponse('phq-9', 'r1', [1, 1, 1, 1, 1, 1, 1, 2, 0], { authored: '2026-03-01T10:00:00Z' })); // 9
    const c = await submit(phqLikeResponse('phq-9', 'r1', [1, 1, 1, 1, 0, 0, 0, 0, 0], { authored: '2026-04-01T10:00:00Z' })); // 4
    expect(await achievement()).toBe('achieved');
    const [totalA, totalB, totalC] = [await totalId(a.id), await totalId(b.id), await totalId(c.id)];

    await retract(c);
    const cObs = await derivedFrom(c.id);
    expect(cObs.length).toBeGreaterThanOrEqual(3); // total, item 9, panel
    expect(cObs.map((o) => o.status)).toEqual(cObs.map(() => 'entered-in-error'));
    expect((await outcomesOf(totalC)).map((o) => o.status)).toEqual(['entered-in-error', 'entered-in-error']);
    expect(await achievement()).toBe('improving'); // B (9) against A (16)

    await retract(a); // the baseline: B becomes the index, and has no outcome of its own
    expect((await outcomesOf(totalA)).length).toBe(0);
    expect((await outcomesOf(totalB)).map((o) => o.status)).toEqual(['entered-in-error', 'entered-in-error']);
    expect(await achievement()).toBe('in-progress');

    // A new total is measured against B (9), not the retracted 16: a rise, not an improvement.
    const d = await submit(phqLikeResponse('phq-9', 'r1', [2, 2, 2, 2, 1, 1, 1, 1, 0], { authored: '2026-05-01T10:00:00Z' })); // 12
    expect(await achievement()).toBe('worsening');
    const dOutcomes = await outcomesOf(await totalId(d.id));
    expect(dOutcomes.map((o) => [o.code.coding?.[0]?.code, o.valueBoolean, o.status]).sort()).toEqual([
      ['remission', false, 'final'],
      ['response', false, 'final'],
    ]);
  });

  it('a retracted total no longer feeds the score-rise rule', async () => {
    const e = await submit(phqLikeResponse('phq-9', 'r2', [1, 1, 1, 1, 1, 0, 0, 0, 0])); // 5
    await retract(e);
    await submit(phqLikeResponse('phq-9', 'r2', [2, 2, 2, 2, 2, 0, 0, 0, 0])); // 10: +5 only against the retracted 5
    expect(await search<Task>('Task?patient=Patient/r2&code=https://haven.health/fhir/CodeSystem/haven-task|suicide-risk-review')).toEqual(
      [],
    );
  });

  it('an open risk Task raised by it gets a note and stays open for a clinician', async () => {
    const g = await submit(phqLikeResponse('phq-9', 'r3', [0, 0, 0, 0, 0, 0, 0, 0, 2]));
    const [before] = await search<Task>('Task?patient=Patient/r3&code=https://haven.health/fhir/CodeSystem/haven-task|suicide-risk-review');
    expect(before.status).toBe('requested');
    await retract(g);
    const [after] = await search<Task>('Task?patient=Patient/r3&code=https://haven.health/fhir/CodeSystem/haven-task|suicide-risk-review');
    expect(after.id).toBe(before.id);
    expect(after.status).toBe('requested');
    expect(after.priority).toBe(before.priority);
    expect(after.note?.at(-1)?.text).toMatch(new RegExp(`^Source QuestionnaireResponse/${g.id} was marked entered-in-error`));
    // Every step is a recorded version: the note is one more.
    expect((await t.req(`/fhir/Task/${after.id}/_history`)).body.entry).toHaveLength(2);
  });

  async function remove(qr: QuestionnaireResponse & { id: string }): Promise<void> {
    const res = await t.req(`/fhir/QuestionnaireResponse/${qr.id}`, { method: 'DELETE' });
    expect(res.status, res.text).toBeLessThan(300);
    await t.server.events.dispatcher.idle();
  }
  const riskTasks = (patient: string) =>
    search<Task>(`Task?patient=Patient/${patient}&code=https://haven.health/fhir/CodeSystem/haven-task|suicide-risk-review`);

  it('a deleted response retracts its results like one entered in error', async () => {
    const h = await submit(phqLikeResponse('phq-9', 'r5', [1, 1, 1, 1, 1, 0, 0, 0, 0])); // 5
    const before = await derivedFrom(h.id);
    expect(before.length).toBeGreaterThanOrEqual(3);
    expect(before.every((o) => o.status === 'final')).toBe(true);
    await remove(h);
    const after = await derivedFrom(h.id);
    expect(after.map((o) => o.id).sort()).toEqual(before.map((o) => o.id).sort());
    expect(after.map((o) => o.status)).toEqual(after.map(() => 'entered-in-error'));
    // No longer feeds the score-rise rule: 10 is +5 only against the deleted 5.
    await submit(phqLikeResponse('phq-9', 'r5', [2, 2, 2, 2, 2, 0, 0, 0, 0])); // 10
    expect(await riskTasks('r5')).toEqual([]);
  });

  it('an open risk Task raised by a deleted response gets a note saying so and stays open', async () => {
    const k = await submit(phqLikeResponse('phq-9', 'r6', [0, 0, 0, 0, 0, 0, 0, 0, 3]));
    const [before] = await riskTasks('r6');
    expect(before.status).toBe('requested');
    await remove(k);
    const [after] = await riskTasks('r6');
    expect(after.id).toBe(before.id);
    expect(after.status).toBe('requested');
    expect(after.note?.at(-1)?.text).toMatch(new RegExp(`^Source QuestionnaireResponse/${k.id} was deleted`));
    // A later entered-in-error of another copy or a second delete event does not note it twice.
    expect(after.note?.filter((n) => n.text?.includes(k.id)).length).toBe(1);
  });

  it('a deleted total Observation is taken out of the episode (outcomes recomputed)', async () => {
    await t.req('/fhir/Patient/r7', { method: 'PUT', json: { resourceType: 'Patient', id: 'r7' } });
    await submit(phqLikeResponse('phq-9', 'r7', [2, 2, 2, 2, 2, 2, 2, 2, 0], { authored: '2026-02-01T10:00:00Z' })); // 16
    const m = await submit(phqLikeResponse('phq-9', 'r7', [1, 1, 1, 0, 0, 0, 0, 0, 0], { authored: '2026-03-01T10:00:00Z' })); // 3
    const totalM = await totalId(m.id);
    const outcomes = async () =>
      (await search<Observation>(`Observation?subject=Patient/r7&code=${MBC}|response,${MBC}|remission&_count=50`)).filter(
        (o) => o.derivedFrom?.[0]?.reference === `Observation/${totalM}`,
      );
    expect((await outcomes()).map((o) => o.status)).toEqual(['final', 'final']);
    const res = await t.req(`/fhir/Observation/${totalM}`, { method: 'DELETE' });
    expect(res.status).toBeLessThan(300);
    await t.server.events.dispatcher.idle();
    expect((await outcomes()).map((o) => o.status)).toEqual(['entered-in-error', 'entered-in-error']);
  });

  it('marking a response entered-in-error is never refused by the answer check', async () => {
    const bad = phqLikeResponse('phq-9', 'r4', [0, 0, 0, 0, 0, 0, 0, 0, 0], { questionnaire: 'https://legacy.example/Questionnaire/old' });
    bad.item![0].answer = [{ valueCoding: { system: 'http://loinc.org', code: 'LA9999-9' } }];
    const stored = await submit(bad);
    const haven = phqLikeResponse('phq-9', 'r4', []).questionnaire;
    const res = await t.req(`/fhir/QuestionnaireResponse/${stored.id}`, {
      method: 'PUT',
      json: { ...stored, questionnaire: haven, status: 'entered-in-error' },
    });
    expect(res.status, res.text).toBe(200);
  });
});
