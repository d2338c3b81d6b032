import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Task } from '@medplum/fhirtypes';
import { startTestServer, type TestServer } from '../server/src/test-support/harness.ts';
import { loadClinicalConfig } from './clinical/config.ts';
import { BOTS, BOTS_MODULE } from './index.ts';
import { instruments } from './instruments-registry.ts';
import { phqLikeResponse } from './test-support/responses.ts';

const YES = { system: 'http://loinc.org', code: 'LA33-6', display: 'Yes' };
const NO = { system: 'http://loinc.org', code: 'LA32-8', display: 'No' };

/** A C-SSRS screener response: answers by LOINC item code. */
function cssrs(patient: string, answers: Record<string, boolean>): object {
  const canonical = instruments()
    .all()
    .find((i) => i.id === 'cssrs-screener')!.canonical;
  return {
    resourceType: 'QuestionnaireResponse',
    status: 'completed',
    questionnaire: canonical,
    subject: { reference: `Patient/${patient}` },
    authored: '2026-11-20T10:00:00Z',
    item: Object.entries(answers).map(([code, yes]) => ({ linkId: `/${code}`, answer: [{ valueCoding: yes ? YES : NO }] })),
  };
}

describe('risk bot: escalation', () => {
  let t: TestServer;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haven-risk-'));
    const override = join(dir, 'bots.json');
    writeFileSync(override, JSON.stringify({ escalation: { onCall: { fallback: 'Practitioner/on-call' } } }));
    const config = loadClinicalConfig({ HAVEN_BOT_CONFIG: override });
    t = await startTestServer(
      { HAVEN_EVENT_POLL_MS: '100', HAVEN_DELIVERY_RETRY_BASE_MS: '50', HAVEN_DELIVERY_MAX_ATTEMPTS: '3' },
      { botSet: { bots: BOTS, module: BOTS_MODULE, config } },
    );
    for (const id of ['p1', 'p2', 'p3', 'p4', 'p5']) {
      await t.req(`/fhir/Patient/${id}`, {
        method: 'PUT',
        json: { resourceType: 'Patient', id, generalPractitioner: [{ reference: 'Practitioner/treating' }] },
      });
    }
  });
  afterAll(async () => {
    await t.stop();
  });

  async function submit(qr: object): Promise<string> {
    const res = await t.req('/fhir/QuestionnaireResponse', { method: 'POST', json: qr });
    expect(res.status).toBe(201);
    await t.server.events.dispatcher.idle();
    return res.body.id as string;
  }

  async function riskTasks(patient: string): Promise<Task[]> {
    const res = await t.req(
      `/fhir/Task?patient=Patient/${patient}&code=https://haven.health/fhir/CodeSystem/haven-task|suicide-risk-review`,
    );
    return ((res.body as Bundle).entry ?? []).map((e) => e.resource as Task);
  }

  async function count(path: string): Promise<number> {
    return (await t.req(`${path}${path.includes('?') ? '&' : '?'}_summary=count`)).body.total as number;
  }

  it('PHQ-9 item 9 = 1: a low-risk Task with its checklist, a safety Flag and the 988 resources, every time', async () => {
    const qr = await submit(phqLikeResponse('phq-9', 'p1', [0, 0, 0, 0, 0, 0, 0, 0, 1]));
    const tasks = await riskTasks('p1');
    expect(tasks).toHaveLength(1);
    expect(tasks[0].priority).toBe('urgent');
    expect(tasks[0].owner?.reference).toBe('Practitioner/treating'); // low risk: the treating practitioner
    expect(tasks[0].focus?.reference).toBe(`QuestionnaireResponse/${qr}`);
    expect(tasks[0].restriction?.period?.end).toBeDefined();
    const checklist = await t.req(`/fhir/Task?part-of=Task/${tasks[0].id}`);
    expect(checklist.body.entry.map((e: { resource: Task }) => e.resource.code?.coding?.[0]?.code).sort()).toEqual([
      'escalation-contact',
      'escalation-follow-up',
      'escalation-response',
    ]);
    const flags = await t.req('/fhir/Flag?patient=Patient/p1');
    expect(flags.body.entry).toHaveLength(1);
    expect(flags.body.entry[0].resource.status).toBe('active');
    const comms = await t.req('/fhir/Communication?subject=Patient/p1');
    expect(comms.body.entry).toHaveLength(1);
    expect(comms.body.entry[0].resource.payload[0].contentString).toMatch(/988/);
  });

  it('one open risk Task per patient: a higher level raises it (and goes on call), a lower one is appended', async () => {
    await submit(phqLikeResponse('phq-9', 'p2', [0, 0, 0, 0, 0, 0, 0, 0, 1]));
    await submit(phqLikeResponse('phq-9', 'p2', [1, 1, 1, 1, 1, 1, 1, 1, 3]));
    let tasks = await riskTasks('p2');
    expect(tasks).toHaveLength(1);
    expect(tasks[0].priority).toBe('asap');
    expect(tasks[0].note).toHaveLength(1);
    await submit(phqLikeResponse('phq-9', 'p2', [0, 0, 0, 0, 0, 0, 0, 0, 1]));
    tasks = await riskTasks('p2');
    expect(tasks).toHaveLength(1);
    expect(tasks[0].priority).toBe('asap');
    expect(tasks[0].note).toHaveLength(2);
    // Every step is a recorded version of the Task.
    const history = await t.req(`/fhir/Task/${tasks[0].id}/_history`);
    expect(history.body.entry).toHaveLength(3);
    const flags = await t.req('/fhir/Flag?patient=Patient/p2');
    expect(flags.body.entry).toHaveLength(1);
  });

  it('C-SSRS high (intent): a stat Task owned by the on-call clinician', async () => {
    await submit(cssrs('p3', { '93246-7': true, '93247-5': true, '93248-3': true, '93249-1': true, '93250-9': false, '93267-3': false }));
    const tasks = await riskTasks('p3');
    expect(tasks).toHaveLength(1);
    expect(tasks[0].priority).toBe('stat');
    expect(tasks[0].owner?.reference).toBe('Practitioner/on-call');
  });

  it('a declined item 9 is unknown, never 0: a review Task', async () => {
    const declined = phqLikeResponse('phq-9', 'p4', [0, 0, 0, 0, 0, 0, 0, 0, undefined]);
    (declined.item as object[]).push({
      linkId: '/44260-8',
      answer: [{ valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'asked-declined' } }],
    });
    await submit(declined);
    const tasks = await riskTasks('p4');
    expect(tasks).toHaveLength(1);
    expect(JSON.stringify(tasks[0].input)).toMatch(/"valueCode":"review"/);
  });

  it('no risk, no Task; a rise of 5 points since the last score is a Task', async () => {
    await submit(phqLikeResponse('phq-9', 'p5', [1, 1, 1, 1, 1, 0, 0, 0, 0]));
    expect(await riskTasks('p5')).toHaveLength(0);
    expect(await count('/fhir/Flag?patient=Patient/p5')).toBe(0);
    await submit(phqLikeResponse('phq-9', 'p5', [2, 2, 2, 2, 2, 0, 0, 0, 0]));
    const tasks = await riskTasks('p5');
    expect(tasks).toHaveLength(1);
    expect(JSON.stringify(tasks[0].input)).toMatch(/score-rise/);
  });
});
