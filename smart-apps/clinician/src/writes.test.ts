import { describe, expect, it } from 'vitest';
import {
  acknowledge,
  assignmentFor,
  closeRiskTask,
  completeStep,
  draftOf,
  minutesOf,
  minutesRecord,
  missingForSignature,
  signatureBundle,
  soapComposition,
  type SoapDraft,
} from './writes.ts';

const me = { reference: 'Practitioner/dr1', display: 'Dr. One' };
const now = new Date('2026-06-30T12:00:00Z');

describe('assignmentFor', () => {
  it('is an in-progress response to the canonical, due when asked, for the patient', () => {
    const qr = assignmentFor('phq-9', 'p1', me, new Date('2026-07-02T00:00:00Z'), now);
    expect(qr).toMatchObject({
      resourceType: 'QuestionnaireResponse',
      status: 'in-progress',
      questionnaire: 'https://haven.health/fhir/Questionnaire/phq-9|1.0.0',
      subject: { reference: 'Patient/p1' },
      author: me,
      extension: [{ url: 'https://haven.health/fhir/StructureDefinition/assessment-due', valueDateTime: '2026-07-02T00:00:00.000Z' }],
    });
    expect(qr.item).toBeUndefined();
  });
});

describe('risk task steps', () => {
  const task = { resourceType: 'Task', id: 't1', status: 'requested', meta: { versionId: '2' }, note: [{ text: 'New evidence' }] };
  it('acknowledging accepts the task, takes ownership only if unowned, and keeps earlier notes', () => {
    const a = acknowledge(task, me, now);
    expect(a).toMatchObject({ status: 'accepted', owner: me, businessStatus: { text: 'Acknowledged' }, meta: { versionId: '2' } });
    expect((a.note as unknown[]).length).toBe(2);
    const owned = acknowledge({ ...task, owner: { reference: 'Practitioner/oncall' } }, me, now);
    expect(owned.owner).toEqual({ reference: 'Practitioner/oncall' });
    expect(acknowledge({ ...task, status: 'in-progress' }, me, now).status).toBe('in-progress');
  });
  it('a step needs a note of what was done', () => {
    expect(() => completeStep({ resourceType: 'Task', id: 's1', status: 'requested' }, me, '  ', now)).toThrow(/Say what was done/);
    const s = completeStep({ resourceType: 'Task', id: 's1', status: 'requested' }, me, 'Reached by phone; safe, plan reviewed', now);
    expect(s).toMatchObject({
      status: 'completed',
      executionPeriod: { end: now.toISOString() },
      note: [{ text: 'Reached by phone; safe, plan reviewed' }],
    });
  });
  it('closing completes the main task', () => {
    expect(closeRiskTask(task, me, now)).toMatchObject({ status: 'completed', businessStatus: { text: 'Escalation checklist completed' } });
  });
});

describe('SOAP note', () => {
  const draft: SoapDraft = {
    title: 'Care management visit',
    encounter: 'Encounter/e1',
    goals: ['Goal/g1'],
    text: {
      subjective: 'Sleeping better.\nLess worry.',
      objective: 'PHQ-9 8 <mild>',
      assessment: 'Improving',
      plan: 'Continue & review in 2 weeks',
    },
  };

  it('lists what is missing before signing', () => {
    expect(missingForSignature(draft)).toEqual([]);
    expect(missingForSignature({ ...draft, encounter: undefined, title: ' ', text: { ...draft.text, plan: '' } })).toEqual([
      'Title',
      'Encounter',
      'Plan',
    ]);
  });

  it('is a preliminary Progress note Composition linked to encounter and goals, text escaped, and reads back', () => {
    const c = soapComposition(draft, 'p1', me, { resourceType: 'Composition', id: 'c1', meta: { versionId: '3' } }, now);
    expect(c).toMatchObject({
      id: 'c1',
      status: 'preliminary',
      type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] },
      subject: { reference: 'Patient/p1' },
      encounter: { reference: 'Encounter/e1' },
      author: [me],
    });
    const sections = c.section as { title: string; text: { div: string }; entry?: unknown[] }[];
    expect(sections.map((s) => s.title)).toEqual(['Subjective', 'Objective', 'Assessment', 'Plan']);
    expect(sections[1].text.div).toContain('PHQ-9 8 &lt;mild&gt;');
    expect(sections[3].entry).toEqual([{ reference: 'Goal/g1' }]);
    expect(draftOf(c)).toEqual(draft);
  });

  it('signs in one transaction: final with a legal attester, and a Provenance with the author signature', () => {
    const c = soapComposition(draft, 'p1', me, { resourceType: 'Composition', id: 'c1', meta: { versionId: '3' } }, now);
    const b = signatureBundle(c, me, now);
    const [put, prov] = b.entry as { resource: Record<string, any>; request: Record<string, string> }[];
    expect(b.type).toBe('transaction');
    expect(put.request).toEqual({ method: 'PUT', url: 'Composition/c1', ifMatch: 'W/"3"' });
    expect(put.resource).toMatchObject({ status: 'final', attester: [{ mode: 'legal', party: me, time: now.toISOString() }] });
    expect(prov.request).toEqual({ method: 'POST', url: 'Provenance' });
    expect(prov.resource).toMatchObject({
      resourceType: 'Provenance',
      target: [{ reference: 'Composition/c1' }],
      signature: [{ who: me }],
    });
    expect(() => signatureBundle({ resourceType: 'Composition' }, me, now)).toThrow(/Save the note/);
  });
});

describe('care-management minutes', () => {
  it('records the period worked, and reads the minutes back', () => {
    const p = minutesRecord('p1', me, 25, 'Care management call with the patient', now, ' Reviewed plan ');
    expect(p).toMatchObject({
      resourceType: 'Procedure',
      status: 'completed',
      performedPeriod: { start: '2026-06-30T11:35:00.000Z', end: '2026-06-30T12:00:00.000Z' },
      performer: [{ actor: me }],
      note: [{ text: 'Reviewed plan' }],
    });
    expect(minutesOf(p)).toBe(25);
  });
  it.each([0, -5, 2.5, 241])('refuses %s minutes', (m) => {
    expect(() => minutesRecord('p1', me, m, 'x', now)).toThrow(/whole number/);
  });
});
