import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bundle, Observation } from '@medplum/fhirtypes';
import { startTestServer, type TestServer } from '../server/src/test-support/harness.ts';
import { phqLikeResponse } from './test-support/responses.ts';

const LOINC_TOTAL = '44261-6';

describe('score bot (end to end)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({
      HAVEN_QUESTIONNAIRES: 'install',
      HAVEN_EVENT_POLL_MS: '100',
      HAVEN_DELIVERY_RETRY_BASE_MS: '50',
      HAVEN_DELIVERY_MAX_ATTEMPTS: '3',
    });
    await t.req('/fhir/Patient/p1', { method: 'PUT', json: { resourceType: 'Patient', id: 'p1', gender: 'female' } });
  });
  afterAll(async () => {
    await t.stop();
  });

  async function observationsOf(qrId: string): Promise<Observation[]> {
    await t.server.events.dispatcher.idle();
    const res = await t.req(`/fhir/Observation?derived-from=QuestionnaireResponse/${qrId}&_count=50`);
    return ((res.body as Bundle).entry ?? []).map((e) => e.resource as Observation);
  }

  it('installs the instruments as canonical Questionnaires', async () => {
    await t.server.events.dispatcher.idle();
    const res = await t.req('/fhir/Questionnaire?url=https://haven.health/fhir/Questionnaire/phq-9');
    expect(res.body.entry).toHaveLength(1);
    expect(res.body.entry[0].resource.version).toBe('1.0.0');
  });

  it('scores a completed PHQ-9: total with band, panel with members, item 9; an amended response updates, never duplicates', async () => {
    const qr = await t.req('/fhir/QuestionnaireResponse', {
      method: 'POST',
      json: phqLikeResponse('phq-9', 'p1', [1, 1, 1, 1, 1, 1, 1, 1, 0]),
    });
    expect(qr.status).toBe(201);
    let obs = await observationsOf(qr.body.id);
    const total = obs.find((o) => o.code.coding?.[0]?.code === LOINC_TOTAL);
    expect(total?.valueInteger).toBe(8);
    expect(total?.interpretation?.[0]?.coding?.[0]?.code).toBe('mild');
    expect(total?.derivedFrom?.[0]?.reference).toBe(`QuestionnaireResponse/${qr.body.id}`);
    const panel = obs.find((o) => o.code.coding?.[0]?.code === '44249-1');
    expect(panel?.hasMember?.length).toBeGreaterThanOrEqual(2);
    expect(obs.some((o) => o.code.coding?.[0]?.code === '44260-8')).toBe(true);
    const count = obs.length;

    const amended = { ...phqLikeResponse('phq-9', 'p1', [3, 3, 3, 3, 3, 3, 3, 3, 2], { status: 'amended' }), id: qr.body.id };
    expect((await t.req(`/fhir/QuestionnaireResponse/${qr.body.id}`, { method: 'PUT', json: amended })).status).toBe(200);
    obs = await observationsOf(qr.body.id);
    expect(obs).toHaveLength(count);
    const updated = obs.find((o) => o.code.coding?.[0]?.code === LOINC_TOTAL);
    expect(updated?.valueInteger).toBe(26);
    expect(updated?.status).toBe('amended');
    expect(updated?.interpretation?.[0]?.coding?.[0]?.code).toBe('severe');
  });

  it('missing required answers: no total, a review Task; a declined item 9 is never read as 0', async () => {
    const qr = await t.req('/fhir/QuestionnaireResponse', {
      method: 'POST',
      json: phqLikeResponse('phq-9', 'p1', [0, 0, 0, 0, 0, 0, 0, 0, undefined]),
    });
    const obs = await observationsOf(qr.body.id);
    expect(obs.some((o) => o.code.coding?.[0]?.code === LOINC_TOTAL)).toBe(false);
    const tasks = await t.req(`/fhir/Task?focus=QuestionnaireResponse/${qr.body.id}`);
    expect(tasks.body.entry).toHaveLength(1);
    expect(tasks.body.entry[0].resource.code.coding[0].code).toBe('score-review');
  });

  it('refuses a response with an answer outside the answer list, naming the item; nothing is stored', async () => {
    const bad = phqLikeResponse('phq-9', 'p1', [0, 0, 0, 0, 0, 0, 0, 0, 0]);
    bad.item![0].answer = [{ valueCoding: { system: 'http://loinc.org', code: 'LA9999-9' } }];
    const res = await t.req('/fhir/QuestionnaireResponse', { method: 'POST', json: bad });
    expect(res.status).toBe(422);
    expect(res.body.issue[0].diagnostics).toMatch(/answer-check.*\/44250-9/);
  });

  it('refuses a response to an unknown Haven instrument, and leaves other questionnaires alone', async () => {
    const unknown = {
      ...phqLikeResponse('phq-9', 'p1', [0, 0, 0, 0, 0, 0, 0, 0, 0]),
      questionnaire: 'https://haven.health/fhir/Questionnaire/phq-99',
    };
    const res = await t.req('/fhir/QuestionnaireResponse', { method: 'POST', json: unknown });
    expect(res.status).toBe(422);
    expect(res.body.issue[0].diagnostics).toMatch(/unknown instrument/);
    const other = await t.req('/fhir/QuestionnaireResponse', {
      method: 'POST',
      json: {
        resourceType: 'QuestionnaireResponse',
        status: 'completed',
        questionnaire: 'https://example.org/Questionnaire/intake',
        subject: { reference: 'Patient/p1' },
      },
    });
    expect(other.status).toBe(201);
    expect(await observationsOf(other.body.id)).toHaveLength(0);
    const { rows } = await t.server.db.query<{ detail: string }>(
      `SELECT detail FROM haven_bot_runs WHERE bot = 'score' ORDER BY seq DESC LIMIT 1`,
    );
    // Not scored, and the run says so and why (issue 13: never silent).
    expect(rows[0].detail).toMatch(/^not scored: https:\/\/example\.org\/Questionnaire\/intake .*no question of an instrument/);
    expect(other.headers.get('warning')).toMatch(/^199 - "Not scored: /);
  });
});
