import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../server/src/fhir/definitions.ts';
import { validateFhirResource } from '../../server/src/fhir/validate.ts';
import { defaultClinicalConfig, type EscalationConfig, type OnCallRoster, type RiskLevel } from './config.ts';
import {
  build988Communication,
  buildChecklistTasks,
  buildRiskTask,
  buildSafetyFlag,
  decideRiskTaskAction,
  onCallClinician,
  planEscalation,
  riskTaskIdentifier,
  riskTaskState,
  type ActiveEscalation,
  type RiskTaskAction,
} from './escalation.ts';
import { assessRisk, type RiskAssessment } from './risk.ts';

const config = defaultClinicalConfig();
const NOW = new Date('2026-03-04T15:00:00.000Z');
const errors = (r: Resource): OperationOutcomeIssue[] =>
  validateFhirResource(r).filter((i) => i.severity === 'error' || i.severity === 'fatal');

beforeAll(() => loadDefinitions());

function assessment(level: RiskLevel): RiskAssessment {
  return { level, reasons: level === 'none' ? [] : [{ code: 'cssrs-low', text: `test reason ${level}`, level }] };
}

function active(level: Exclude<RiskLevel, 'none'>, esc: EscalationConfig = config.escalation): ActiveEscalation {
  const plan = planEscalation(assessment(level), esc, NOW);
  if (!plan.escalate) throw new Error('expected an escalation');
  return plan;
}

describe('onCallClinician', () => {
  // January: New York is UTC-5, Los Angeles UTC-8.
  const roster: OnCallRoster = {
    timezone: 'America/New_York',
    entries: [
      { practitioner: 'Practitioner/fri-night', days: [5], from: '22:00', to: '06:00' },
      { practitioner: 'Practitioner/weekday', days: [1, 2, 3, 4, 5], from: '08:00', to: '18:00' },
      { practitioner: 'Practitioner/night', from: '22:00', to: '06:00' },
      { practitioner: 'Practitioner/la-sunday', days: [0], from: '09:00', to: '10:00', timezone: 'America/Los_Angeles' },
      { practitioner: 'Practitioner/monday-24h', days: [1], from: '07:00', to: '07:00' },
    ],
    fallback: 'Practitioner/fallback',
  };
  it.each([
    ['Wed 23:30 local: overnight window', '2026-01-08T04:30:00Z', 'Practitioner/night'],
    ['Thu 03:00 local: after midnight, same overnight window', '2026-01-08T08:00:00Z', 'Practitioner/night'],
    ['22:00 exactly: start is inclusive', '2026-01-08T03:00:00Z', 'Practitioner/night'],
    ['06:00 exactly: end is exclusive → fallback', '2026-01-08T11:00:00Z', 'Practitioner/fallback'],
    ['Wed 12:00 local: weekday entry', '2026-01-07T17:00:00Z', 'Practitioner/weekday'],
    ['Sat 12:00 local: nobody → fallback', '2026-01-10T17:00:00Z', 'Practitioner/fallback'],
    ['Sat 02:00 local: Friday night shift (days = start day)', '2026-01-10T07:00:00Z', 'Practitioner/fri-night'],
    ['Fri 02:00 local: Thursday night, not the Friday shift', '2026-01-09T07:00:00Z', 'Practitioner/night'],
    ['Fri 23:00 local: first matching entry wins', '2026-01-10T04:00:00Z', 'Practitioner/fri-night'],
    ['Sun 09:30 in Los Angeles: entry time zone', '2026-01-11T17:30:00Z', 'Practitioner/la-sunday'],
    ['Sun 09:30 in New York is not 09:30 in Los Angeles', '2026-01-11T14:30:00Z', 'Practitioner/fallback'],
    ['Mon 06:59: before the 24 h shift', '2026-01-12T11:59:00Z', 'Practitioner/fallback'],
    ['Mon 07:00 starts a 24 h shift (from = to)', '2026-01-12T12:00:00Z', 'Practitioner/monday-24h'],
    ['Tue 06:59 still in Monday 24 h shift', '2026-01-13T11:59:00Z', 'Practitioner/monday-24h'],
  ])('%s', (_name, instant, expected) => {
    expect(onCallClinician(roster, new Date(instant))).toBe(expected);
  });

  it('returns undefined with no match and no fallback', () => {
    expect(
      onCallClinician({ timezone: 'UTC', entries: [{ practitioner: 'Practitioner/a', days: [6] }] }, new Date('2026-01-07T12:00:00Z')),
    ).toBeUndefined();
  });

  it('an entry without days or times covers every instant', () => {
    expect(onCallClinician({ timezone: 'UTC', entries: [{ practitioner: 'Practitioner/always' }] }, NOW)).toBe('Practitioner/always');
  });
});

describe('planEscalation (defaults, §4.3)', () => {
  it('does nothing at level none', () => {
    expect(planEscalation(assessment('none'), config.escalation, NOW)).toEqual({
      escalate: false,
      level: 'none',
      notifyPatientWith988: false,
    });
  });

  it.each([
    ['high', 'stat', ['2026-03-04T15:15:00.000Z', '2026-03-04T16:00:00.000Z', '2026-03-05T15:00:00.000Z']],
    ['moderate', 'asap', ['2026-03-04T17:00:00.000Z', '2026-03-04T23:00:00.000Z', '2026-03-07T15:00:00.000Z']],
    ['low', 'urgent', ['2026-03-04T23:00:00.000Z', '2026-03-05T15:00:00.000Z', '2026-03-11T15:00:00.000Z']],
    ['review', 'urgent', ['2026-03-04T23:00:00.000Z', '2026-03-05T15:00:00.000Z', '2026-03-11T15:00:00.000Z']],
  ] as const)('%s → %s with due instants', (level, priority, dues) => {
    const plan = active(level);
    expect(plan.priority).toBe(priority);
    expect(plan.steps).toEqual([
      { step: 'contact', due: dues[0] },
      { step: 'response', due: dues[1] },
      { step: 'follow-up', due: dues[2] },
    ]);
    expect(plan.firstDue).toBe(dues[0]);
    expect(plan.notifyPatientWith988).toBe(true);
  });

  it('routes configured levels to the on-call clinician', () => {
    const esc: EscalationConfig = {
      ...config.escalation,
      onCall: { timezone: 'UTC', entries: [], fallback: 'Practitioner/oncall' },
      notifyPatientWith988: { ...config.escalation.notifyPatientWith988, review: false },
    };
    expect(active('high', esc).onCall).toBe('Practitioner/oncall');
    expect(active('moderate', esc).onCall).toBe('Practitioner/oncall');
    expect(active('low', esc).onCall).toBeUndefined();
    expect(active('review', esc).notifyPatientWith988).toBe(false);
  });
});

describe('decideRiskTaskAction: one open risk Task per patient and episode', () => {
  it.each([
    ['no open task → create', 'low', undefined, { kind: 'create' }],
    [
      'higher level → raise to the new priority',
      'high',
      { priority: 'urgent', level: 'low' },
      { kind: 'raise', to: 'stat', level: 'high' },
    ],
    ['review → low raises (same priority)', 'low', { priority: 'urgent', level: 'review' }, { kind: 'raise', to: 'urgent', level: 'low' }],
    ['same level → append', 'moderate', { priority: 'asap', level: 'moderate' }, { kind: 'append' }],
    ['lower level → append', 'low', { priority: 'stat', level: 'high' }, { kind: 'append' }],
    ['priority never goes down', 'moderate', { priority: 'stat', level: 'low' }, { kind: 'raise', to: 'stat', level: 'moderate' }],
    [
      'unreadable open level counts as lowest',
      'review',
      { priority: 'routine', level: '?' },
      { kind: 'raise', to: 'urgent', level: 'review' },
    ],
  ] as [string, Exclude<RiskLevel, 'none'>, { priority: string; level: string } | undefined, RiskTaskAction][])(
    '%s',
    (_n, level, open, expected) => {
      expect(decideRiskTaskAction(active(level), open)).toEqual(expected);
    },
  );
});

describe('FHIR builders (validated with the server validator)', () => {
  const result = assessRisk({ instrument: 'phq-9', total: 21, item9: { status: 'answered', ordinal: 2 } }, config.risk);

  it('buildRiskTask: a requested order, findable, due at the first step', () => {
    const plan = active('moderate');
    const task = buildRiskTask({
      patient: 'Patient/p1',
      encounter: 'Encounter/e1',
      owner: 'Practitioner/bh',
      plan,
      assessment: result,
      focus: 'Observation/o1',
      now: NOW,
    });
    expect(errors(task)).toEqual([]);
    expect(task).toMatchObject({
      status: 'requested',
      intent: 'order',
      priority: 'asap',
      code: { coding: [{ system: 'https://haven.health/fhir/CodeSystem/haven-task', code: 'suicide-risk-review' }] },
      for: { reference: 'Patient/p1' },
      encounter: { reference: 'Encounter/e1' },
      owner: { reference: 'Practitioner/bh' },
      focus: { reference: 'Observation/o1' },
      authoredOn: NOW.toISOString(),
      restriction: { period: { end: plan.firstDue } },
      identifier: [riskTaskIdentifier('Patient/p1', 'Encounter/e1')],
    });
    expect(task.id).toBeUndefined();
    expect(task.description).toContain('level moderate');
    expect(task.description).toContain('item 9');
    expect(riskTaskState(task)).toEqual({ priority: 'asap', level: 'moderate' });
    expect(
      task.input?.filter((i) => i.type.coding?.[0]?.code === 'risk-reason').map((i) => i.valueCodeableConcept?.coding?.[0]?.code),
    ).toEqual(['phq9-item9-positive', 'severe-total']);
  });

  it('the validator is live (control): a bad priority code is an error', () => {
    const task = buildRiskTask({ patient: 'Patient/p1', plan: active('low'), assessment: result, focus: 'Observation/o1', now: NOW });
    expect(errors({ ...task, priority: 'soon' } as unknown as Resource).length).toBeGreaterThan(0);
  });

  it('buildRiskTask and the checklist carry performerType (the on-call role) and the owner route', () => {
    const plan = active('low');
    const task = buildRiskTask({
      patient: 'Patient/p1',
      owner: 'CareTeam/ct',
      ownerRoute: 'care-team',
      plan,
      assessment: result,
      focus: 'QuestionnaireResponse/q',
      now: NOW,
    });
    expect(errors(task)).toEqual([]);
    const role = {
      system: 'https://haven.health/fhir/CodeSystem/care-role',
      code: 'on-call-clinician',
      display: 'On-call clinician for suicide risk',
    };
    expect(task.performerType).toEqual([{ coding: [role], text: role.display }]);
    expect(task.owner).toEqual({ reference: 'CareTeam/ct' });
    expect(task.input?.find((i) => i.type.coding?.[0]?.code === 'owner-route')?.valueCode).toBe('care-team');
    for (const child of buildChecklistTasks({
      patient: 'Patient/p1',
      parent: 'urn:uuid:0e9a2b4c-1111-4a53-9a37-2a4a2b0e9a11',
      plan,
      owner: 'CareTeam/ct',
      now: NOW,
    })) {
      expect(child.performerType).toEqual(task.performerType);
      expect(child.owner).toEqual({ reference: 'CareTeam/ct' });
    }
    // Without any owner the role is still named, so a queue picks it up.
    expect(
      buildRiskTask({ patient: 'Patient/p1', plan, assessment: result, focus: 'QuestionnaireResponse/q', now: NOW }).performerType,
    ).toEqual(task.performerType);
  });

  it('buildRiskTask: owner defaults to the on-call clinician; episode keys the identifier', () => {
    const esc = { ...config.escalation, onCall: { timezone: 'UTC', entries: [], fallback: 'Practitioner/oncall' } };
    const task = buildRiskTask({
      patient: 'urn:uuid:6f1c1d5e-0b7a-4a53-9a37-2a4a2b0e9a11',
      episode: 'EpisodeOfCare/ep',
      plan: active('high', esc),
      assessment: result,
      focus: 'QuestionnaireResponse/q',
      now: NOW,
    });
    expect(errors(task)).toEqual([]);
    expect(task.owner).toEqual({ reference: 'Practitioner/oncall' });
    expect(task.identifier?.[0]?.value).toBe('urn:uuid:6f1c1d5e-0b7a-4a53-9a37-2a4a2b0e9a11/EpisodeOfCare/ep');
  });

  it('buildChecklistTasks: three children, partOf the main Task, each due per the plan', () => {
    const plan = active('high');
    const tasks = buildChecklistTasks({ patient: 'Patient/p1', parent: 'urn:uuid:0e9a2b4c-1111-4a53-9a37-2a4a2b0e9a11', plan, now: NOW });
    expect(tasks.map((t) => t.code?.coding?.[0]?.code)).toEqual(['escalation-contact', 'escalation-response', 'escalation-follow-up']);
    expect(tasks.map((t) => t.restriction?.period?.end)).toEqual(plan.steps.map((s) => s.due));
    for (const t of tasks) {
      expect(errors(t)).toEqual([]);
      expect(t.partOf).toEqual([{ reference: 'urn:uuid:0e9a2b4c-1111-4a53-9a37-2a4a2b0e9a11' }]);
      expect(t).toMatchObject({ status: 'requested', intent: 'order', priority: 'stat' });
    }
  });

  it('buildSafetyFlag: active, safety category, suicide-risk code with the level', () => {
    const flag = buildSafetyFlag({
      patient: 'Patient/p1',
      level: 'high',
      now: NOW,
      evidence: ['Observation/o1', 'QuestionnaireResponse/q1'],
    });
    expect(errors(flag)).toEqual([]);
    expect(flag).toMatchObject({
      status: 'active',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/flag-category', code: 'safety' }] }],
      code: { coding: [{ code: 'suicide-risk' }], text: 'Suicide risk: high' },
      subject: { reference: 'Patient/p1' },
      period: { start: NOW.toISOString() },
    });
    expect(flag.extension?.map((e) => e.valueCode ?? e.valueReference?.reference)).toEqual([
      'high',
      'Observation/o1',
      'QuestionnaireResponse/q1',
    ]);
  });

  it('build988Communication: completed notification with the 988 facts, never press 3', () => {
    const c = build988Communication({ patient: 'Patient/p1', now: NOW, config: config.crisis, about: ['Observation/o1'] });
    expect(errors(c)).toEqual([]);
    expect(c).toMatchObject({
      status: 'completed',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'notification' }] }],
      subject: { reference: 'Patient/p1' },
      recipient: [{ reference: 'Patient/p1' }],
      sent: NOW.toISOString(),
      about: [{ reference: 'Observation/o1' }],
    });
    const text = c.payload?.[0]?.contentString ?? '';
    for (const fact of ['call or text 988', '988lifeline.org', 'press 1', 'press 2']) expect(text).toContain(fact);
    expect(text).not.toMatch(/press 3/i);
  });
});
