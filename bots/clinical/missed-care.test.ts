import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../server/src/fhir/definitions.ts';
import { validateFhirResource } from '../../server/src/fhir/validate.ts';
import { defaultClinicalConfig, type MissedCareConfig } from './config.ts';
import {
  buildCareManagerTask,
  carePlanWithoutContact,
  repeatedNoShows,
  type AppointmentFact,
  type CarePlanContactInput,
} from './missed-care.ts';

const config = defaultClinicalConfig().missedCare;
const NOW = new Date('2026-03-31T12:00:00.000Z');
const DAY = 24 * 60 * 60 * 1000;
const ago = (days: number, ms = 0): string => new Date(NOW.getTime() - days * DAY - ms).toISOString();
const errors = (r: Resource): OperationOutcomeIssue[] =>
  validateFhirResource(r).filter((i) => i.severity === 'error' || i.severity === 'fatal');

beforeAll(() => loadDefinitions());

describe('repeatedNoShows (≥ 2 no-shows within 30 days by default)', () => {
  const noshow = (start: string, reference?: string): AppointmentFact => ({ status: 'noshow', start, ...(reference ? { reference } : {}) });
  it.each([
    ['none', [], undefined],
    ['one no-show', [noshow(ago(3))], undefined],
    ['two no-shows', [noshow(ago(3)), noshow(ago(10))], 2],
    ['one exactly 30 days ago counts', [noshow(ago(3)), noshow(ago(30))], 2],
    ['one 30 days + 1 ms ago does not', [noshow(ago(3)), noshow(ago(30, 1))], undefined],
    ['cancelled is not a no-show', [noshow(ago(3)), { status: 'cancelled', start: ago(5) }], undefined],
    [
      'fulfilled and booked do not count',
      [noshow(ago(3)), { status: 'fulfilled', start: ago(5) }, { status: 'booked', start: ago(1) }],
      undefined,
    ],
    ['a future no-show is bad data', [noshow(ago(3)), noshow(ago(-2))], undefined],
    ['an unreadable start is ignored', [noshow(ago(3)), noshow('not a date')], undefined],
    ['three no-shows', [noshow(ago(1)), noshow(ago(2)), noshow(ago(29))], 3],
    ['date-only starts are read as UTC midnight', [noshow('2026-03-25'), noshow('2026-03-02')], 2],
  ] as [string, AppointmentFact[], number | undefined][])('%s', (_name, appointments, count) => {
    const finding = repeatedNoShows(appointments, NOW, config);
    if (count === undefined) expect(finding).toBeUndefined();
    else expect(finding).toMatchObject({ kind: 'repeated-no-shows', count, windowDays: 30 });
  });

  it('follows configuration and keeps the appointment references', () => {
    const strict: MissedCareConfig = { ...config, noShows: { count: 1, windowDays: 7 } };
    const finding = repeatedNoShows([noshow(ago(6), 'Appointment/a1'), noshow(ago(8), 'Appointment/a2')], NOW, strict);
    expect(finding).toEqual({
      kind: 'repeated-no-shows',
      count: 1,
      windowDays: 7,
      text: '1 missed appointments (no-show) in the last 7 days',
      appointments: ['Appointment/a1'],
    });
  });
});

describe('carePlanWithoutContact (no contact in 30 days by default)', () => {
  const plan = (status: string, period?: { start?: string; end?: string }): CarePlanContactInput['carePlan'] => ({
    status,
    ...(period ? { period } : {}),
  });
  it.each([
    ['contact 10 days ago', plan('active'), ago(10), undefined],
    ['contact exactly 30 days ago still counts', plan('active'), ago(30), undefined],
    ['contact 30 days + 1 ms ago → finding', plan('active'), ago(30, 1), 30],
    ['contact 45 days ago → finding', plan('active'), ago(45), 45],
    ['no contact: the plan start stands in (started 31 days ago)', plan('active', { start: ago(31) }), undefined, 31],
    ['no contact, plan started 5 days ago', plan('active', { start: ago(5) }), undefined, undefined],
    ['no contact and no start → finding', plan('active'), undefined, 'unknown'],
    ['draft plan', plan('draft'), ago(90), undefined],
    ['completed plan', plan('completed'), ago(90), undefined],
    ['on-hold plan', plan('on-hold'), ago(90), undefined],
    ['plan ended yesterday', plan('active', { start: ago(200), end: ago(1) }), ago(90), undefined],
    ['plan starts tomorrow', plan('active', { start: ago(-1) }), undefined, undefined],
  ] as [string, CarePlanContactInput['carePlan'], string | undefined, number | 'unknown' | undefined][])(
    '%s',
    (_name, carePlan, lastContact, days) => {
      const finding = carePlanWithoutContact({ carePlan, ...(lastContact ? { lastContact } : {}), now: NOW, config });
      if (days === undefined) expect(finding).toBeUndefined();
      else if (days === 'unknown')
        expect(finding).toMatchObject({ kind: 'no-contact', noContactDays: 30, text: expect.stringContaining('no recorded contact') });
      else expect(finding).toMatchObject({ kind: 'no-contact', days, noContactDays: 30 });
    },
  );

  it('follows configuration', () => {
    const finding = carePlanWithoutContact({
      carePlan: plan('active'),
      lastContact: ago(15),
      now: NOW,
      config: { ...config, noContactDays: 14 },
    });
    expect(finding).toMatchObject({ kind: 'no-contact', days: 15, noContactDays: 14 });
  });
});

describe('buildCareManagerTask', () => {
  const finding = repeatedNoShows(
    [
      { status: 'noshow', start: ago(2), reference: 'Appointment/a1' },
      { status: 'noshow', start: ago(9), reference: 'Appointment/a2' },
    ],
    NOW,
    config,
  )!;

  it.each([
    [
      'configured care manager owns it',
      { ...config, careManager: 'Practitioner/cm' },
      { reference: 'CarePlan/cp', author: 'Practitioner/author' },
      'Practitioner/cm',
    ],
    ["else the CarePlan's author", config, { reference: 'CarePlan/cp', author: 'Practitioner/author' }, 'Practitioner/author'],
    ['else no owner', config, undefined, undefined],
  ] as [string, MissedCareConfig, { reference: string; author?: string } | undefined, string | undefined][])(
    '%s',
    (_name, cfg, carePlan, owner) => {
      const task = buildCareManagerTask({ patient: 'Patient/p1', finding, ...(carePlan ? { carePlan } : {}), now: NOW, config: cfg });
      expect(errors(task)).toEqual([]);
      expect(task.owner?.reference).toBe(owner);
    },
  );

  it('is a requested order with code missed-care, due per configuration, pointing at the evidence', () => {
    const task = buildCareManagerTask({ patient: 'Patient/p1', finding, carePlan: { reference: 'CarePlan/cp' }, now: NOW, config });
    expect(task).toMatchObject({
      status: 'requested',
      intent: 'order',
      priority: 'routine',
      code: { coding: [{ system: 'https://haven.health/fhir/CodeSystem/haven-task', code: 'missed-care' }] },
      for: { reference: 'Patient/p1' },
      focus: { reference: 'CarePlan/cp' },
      restriction: { period: { end: new Date(NOW.getTime() + 3 * DAY).toISOString() } },
      identifier: [{ system: 'https://haven.health/fhir/NamingSystem/missed-care-task', value: 'Patient/p1/repeated-no-shows' }],
      description: '2 missed appointments (no-show) in the last 30 days',
    });
    expect(task.input?.map((i) => i.valueCode ?? i.valueReference?.reference)).toEqual([
      'repeated-no-shows',
      'Appointment/a1',
      'Appointment/a2',
    ]);
  });

  it('builds a valid Task for a no-contact finding', () => {
    const noContact = carePlanWithoutContact({ carePlan: { status: 'active' }, now: NOW, config })!;
    const task = buildCareManagerTask({ patient: 'Patient/p1', finding: noContact, now: NOW, config });
    expect(errors(task)).toEqual([]);
    expect(task.input).toHaveLength(1);
  });
});
