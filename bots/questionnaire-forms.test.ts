/**
 * Issue 13, clinical safety 1: a response that is not scored is never silent. Every form of `questionnaire` reference
 * reaches the instrument; a response Haven cannot score is stored with a warning (response and bot run); a positive
 * safety answer reaches the risk bot whatever the reference. End to end, on the storage the suite runs on.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Observation, Questionnaire, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { startTestServer, type TestServer } from '../server/src/test-support/harness.ts';
import { loadClinicalConfig } from './clinical/config.ts';
import { BOTS, BOTS_MODULE } from './index.ts';
import { instruments } from './instruments-registry.ts';
import { phqLikeResponse } from './test-support/responses.ts';

const PHQ9_TOTAL = '44261-6';
const YES = { system: 'http://loinc.org', code: 'LA33-6', display: 'Yes' };
const NO = { system: 'http://loinc.org', code: 'LA32-8', display: 'No' };

/** A PHQ-9 response under another reference, its linkIds optionally renamed. */
function phq9(patient: string, scores: (number | undefined)[], questionnaire: string, rename?: (l: string) => string) {
  const qr = phqLikeResponse('phq-9', patient, scores, { questionnaire });
  return { ...qr, item: qr.item?.map((i) => ({ ...i, linkId: rename ? rename(i.linkId as string) : i.linkId })) };
}

describe('questionnaire references: every form reaches the instrument, nothing unscored is silent', () => {
  let t: TestServer;
  let phq9Id: string;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haven-forms-'));
    const override = join(dir, 'bots.json');
    writeFileSync(override, JSON.stringify({ escalation: { onCall: { fallback: 'Practitioner/on-call' } } }));
    t = await startTestServer(
      { HAVEN_QUESTIONNAIRES: 'install', HAVEN_EVENT_POLL_MS: '100', HAVEN_DELIVERY_RETRY_BASE_MS: '50', HAVEN_DELIVERY_MAX_ATTEMPTS: '3' },
      {
        botSet: {
          bots: BOTS,
          module: BOTS_MODULE,
          config: loadClinicalConfig({ HAVEN_BOT_CONFIG: override }),
          questionnaires: instruments()
            .all()
            .map((i) => i.questionnaire),
        },
      },
    );
    for (const id of ['rel', 'abs', 'copy', 'loinc', 'partial', 'unknown', 'cssrs', 'vendor', 'batch']) {
      await t.req(`/fhir/Patient/${id}`, {
        method: 'PUT',
        json: { resourceType: 'Patient', id, generalPractitioner: [{ reference: 'Practitioner/treating' }] },
      });
    }
    await t.server.events.dispatcher.idle();
    const found = await t.req('/fhir/Questionnaire?url=https://haven.health/fhir/Questionnaire/phq-9');
    phq9Id = found.body.entry[0].resource.id;
  });
  afterAll(async () => {
    await t.stop();
  });

  async function submit(qr: object, headers: Record<string, string> = {}) {
    const res = await t.req('/fhir/QuestionnaireResponse', { method: 'POST', json: qr, headers });
    expect(res.status, res.text).toBe(201);
    await t.server.events.dispatcher.idle();
    return res;
  }

  async function totalOf(qrId: string): Promise<number | undefined> {
    const res = await t.req(`/fhir/Observation?derived-from=QuestionnaireResponse/${qrId}&code=http://loinc.org|${PHQ9_TOTAL}`);
    return ((res.body as Bundle).entry?.[0]?.resource as Observation | undefined)?.valueInteger;
  }

  async function riskTasks(patient: string): Promise<Task[]> {
    const res = await t.req(
      `/fhir/Task?patient=Patient/${patient}&code=https://haven.health/fhir/CodeSystem/haven-task|suicide-risk-review`,
    );
    return ((res.body as Bundle).entry ?? []).map((e) => e.resource as Task);
  }

  const reasonCodes = (task: Task): string[] =>
    (task.input ?? [])
      .filter((i) => i.type.coding?.[0]?.code === 'risk-reason')
      .map((i) => i.valueCodeableConcept?.coding?.[0]?.code ?? '');

  it('a relative reference Questionnaire/<id> to the stored PHQ-9 is scored, and item 9 raises a Task', async () => {
    const res = await submit(phq9('rel', [1, 1, 1, 1, 1, 1, 1, 1, 2], `Questionnaire/${phq9Id}`));
    expect(res.headers.get('warning')).toBeNull();
    expect(await totalOf(res.body.id)).toBe(10);
    const tasks = await riskTasks('rel');
    expect(tasks).toHaveLength(1);
    expect(reasonCodes(tasks[0])).toContain('phq9-item9-positive');
  });

  it('an absolute URL of this server is scored, and item 9 raises a Task', async () => {
    const res = await submit(phq9('abs', [0, 0, 0, 0, 0, 0, 0, 0, 1], `${t.fhir}/Questionnaire/${phq9Id}`));
    expect(await totalOf(res.body.id)).toBe(1);
    expect(reasonCodes((await riskTasks('abs'))[0] as Task)).toContain('phq9-item9-positive');
  });

  it("a tenant's own copy (another canonical, other linkIds, the LOINC item codes) is scored as PHQ-9", async () => {
    const haven = instruments()
      .all()
      .find((i) => i.id === 'phq-9')?.questionnaire as Questionnaire;
    const rename = (l: string): string => `clinic-${l.replace('/', '')}`;
    const copy: Questionnaire = {
      ...haven,
      id: undefined,
      url: 'https://clinic.example/forms/mood',
      version: '7',
      item: haven.item?.map((i) => ({ ...i, linkId: rename(i.linkId as string) })),
    };
    expect((await t.req('/fhir/Questionnaire', { method: 'POST', json: copy })).status).toBe(201);
    const res = await submit(phq9('copy', [2, 2, 2, 2, 2, 2, 2, 2, 0], 'https://clinic.example/forms/mood|7', rename));
    expect(res.headers.get('warning')).toBeNull();
    expect(await totalOf(res.body.id)).toBe(16);
  });

  it("another vendor's PHQ-9 (unknown canonical, LOINC linkIds): scored, and a positive item 9 raises a Task", async () => {
    const res = await submit(phq9('loinc', [0, 0, 1, 0, 0, 0, 0, 0, 3], 'http://vendor.example/Questionnaire/phq9|2.1'));
    expect(await totalOf(res.body.id)).toBe(4);
    const tasks = await riskTasks('loinc');
    expect(tasks).toHaveLength(1);
    expect(tasks[0].priority).toBe('asap');
  });

  it('a partial PHQ-9 under an unknown canonical: no total (never a wrong one), but item 9 still raises a Task', async () => {
    const res = await submit(phq9('partial', [undefined, 1, 1, undefined, 1, 1, 1, 1, 2], 'http://vendor.example/Questionnaire/short'));
    expect(res.headers.get('warning')).toMatch(/^199 - "Not scored: .*PHQ-9/);
    expect(await totalOf(res.body.id)).toBeUndefined();
    const tasks = await riskTasks('partial');
    expect(tasks).toHaveLength(1);
    expect(reasonCodes(tasks[0])).toEqual(['phq9-item9-positive', 'safety-items-only']);
    expect(tasks[0].priority).toBe('asap');
  });

  it('a C-SSRS question answered Yes in a form Haven does not score raises a Task', async () => {
    await submit({
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      questionnaire: 'urn:uuid:9d8f6a3e-8c1b-4f44-9d0e-2b6f6f1d8a10',
      subject: { reference: 'Patient/cssrs' },
      item: [
        { linkId: '/93246-7', answer: [{ valueCoding: YES }] },
        { linkId: '/93247-5', answer: [{ valueCoding: NO }] },
      ],
    });
    const tasks = await riskTasks('cssrs');
    expect(tasks).toHaveLength(1);
    expect(reasonCodes(tasks[0])).toEqual(['cssrs-low', 'safety-items-only']);
  });

  it('a form Haven does not score is stored, with a warning in the response and a bot-run entry (no PHI)', async () => {
    const intake: QuestionnaireResponse = {
      resourceType: 'QuestionnaireResponse',
      status: 'completed',
      questionnaire: 'https://vendor.example/forms/intake',
      subject: { reference: 'Patient/unknown' },
      item: [{ linkId: 'favourite-colour', answer: [{ valueString: 'Zanzibar-blue' }] }],
    };
    // Default representation: the resource, with the warning as an HTTP Warning header.
    const plain = await submit(intake);
    expect(plain.body.resourceType).toBe('QuestionnaireResponse');
    expect(plain.body.id).toBeDefined();
    const warning = plain.headers.get('warning') ?? '';
    expect(warning).toMatch(/^199 - "Not scored: https:\/\/vendor\.example\/forms\/intake .*no question of an instrument Haven scores"$/);
    expect(warning).not.toContain('Zanzibar');
    // Prefer: return=OperationOutcome: the warning as an issue.
    const oo = await submit(intake, { prefer: 'return=OperationOutcome' });
    expect(oo.body.resourceType).toBe('OperationOutcome');
    expect(oo.body.issue).toContainEqual(
      expect.objectContaining({ severity: 'warning', diagnostics: expect.stringMatching(/^answer-check: Not scored: /) }),
    );
    // A batch entry carries it in entry.response.outcome.
    const batch = await t.req('/fhir', {
      method: 'POST',
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { request: { method: 'POST', url: 'QuestionnaireResponse' }, resource: { ...intake, subject: { reference: 'Patient/batch' } } },
        ],
      },
    });
    expect(batch.status).toBe(200);
    const entry = batch.body.entry[0].response;
    expect(entry.status).toMatch(/^201/);
    expect(entry.outcome.issue).toContainEqual(expect.objectContaining({ severity: 'warning' }));
    await t.server.events.dispatcher.idle();
    // The score bot's run says why.
    const { rows } = await t.server.db.query<{ detail: string }>(
      `SELECT detail FROM haven_bot_runs WHERE bot = 'score' AND detail LIKE 'not scored:%vendor.example/forms/intake%'`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.map((r) => r.detail).join(' ')).not.toContain('Zanzibar');
    expect(await riskTasks('unknown')).toHaveLength(0);
  });

  it("a recognised form with another vendor's answer codes is stored with a warning, not refused", async () => {
    const qr = phq9('vendor', [0, 0, 0, 0, 0, 0, 0, 0, 0], 'http://vendor.example/Questionnaire/phq9-own-codes');
    qr.item![0].answer = [{ valueCoding: { system: 'http://vendor.example/answers', code: 'never' } }];
    const res = await submit(qr);
    expect(res.headers.get('warning')).toMatch(/Not scored as PHQ-9: answers outside its answer list at \/44250-9/);
    expect(await totalOf(res.body.id)).toBeUndefined();
  });
});
