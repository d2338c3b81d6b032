import type { Procedure } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { defaultBillingConfig } from './config.ts';
import { buildRegistry } from './registry.ts';
import { conflictsOf, countOnce, minuteEntries, parseTimeEntry, type TimeEntry } from './time-entry.ts';

function te(ref: string, performer: string, patient: string, start: string, minutes: number, extra: Partial<TimeEntry> = {}): TimeEntry {
  const startMs = Date.parse(start);
  return {
    ref,
    patient,
    performer,
    role: 'bhcm',
    activity: 'patient-contact',
    start,
    end: new Date(startMs + minutes * 60_000).toISOString(),
    startMs,
    endMs: startMs + minutes * 60_000,
    minutes,
    date: start.slice(0, 10),
    separatelyBilled: false,
    withdrawn: false,
    ...extra,
  };
}

describe('time entries (pure)', () => {
  it('reads the clinician app encoding: activity texts mapped, role bhcm by default, minutes from the period', () => {
    const p: Procedure = {
      resourceType: 'Procedure',
      id: 'x',
      status: 'completed',
      category: { text: 'Behavioral health care management' },
      code: { text: 'Caseload review with the psychiatric consultant' },
      subject: { reference: 'Patient/p' },
      performer: [{ actor: { reference: 'Practitioner/cm' } }],
      performedPeriod: { start: '2026-03-31T19:00:00-05:00', end: '2026-03-31T19:25:00-05:00' },
    };
    expect(parseTimeEntry(p).entry).toMatchObject({
      ref: 'Procedure/x',
      activity: 'caseload-consultation',
      role: 'bhcm',
      minutes: 25,
      date: '2026-03-31',
    });
    expect(parseTimeEntry({ ...p, code: { text: 'Something else' } }).entry?.activity).toBe('other');
  });

  it('conflicts: duplicate (same patient and period), overlap (any intersection), none back to back or for another performer', () => {
    const a = te('Procedure/a', 'Practitioner/cm', 'Patient/p', '2026-03-02T10:00:00Z', 30);
    const kinds = (e: TimeEntry) => conflictsOf(e, [a]).map((c) => c.kind);
    expect(kinds(te(undefined as unknown as string, 'Practitioner/cm', 'Patient/p', '2026-03-02T10:00:00Z', 30))).toEqual(['duplicate']);
    expect(kinds(te('Procedure/b', 'Practitioner/cm', 'Patient/q', '2026-03-02T10:00:00Z', 30))).toEqual(['overlap']);
    expect(kinds(te('Procedure/b', 'Practitioner/cm', 'Patient/p', '2026-03-02T10:29:00Z', 5))).toEqual(['overlap']);
    expect(kinds(te('Procedure/b', 'Practitioner/cm', 'Patient/p', '2026-03-02T10:30:00Z', 5))).toEqual([]);
    expect(kinds(te('Procedure/b', 'Practitioner/cm', 'Patient/p', '2026-03-02T09:30:00Z', 30))).toEqual([]);
    expect(kinds(te('Procedure/b', 'Practitioner/psy', 'Patient/p', '2026-03-02T10:00:00Z', 30))).toEqual([]);
    expect(kinds({ ...a })).toEqual([]); // itself
    expect(kinds(te('Procedure/b', 'Practitioner/cm', 'Patient/p', '2026-03-02T10:00:00Z', 30, { withdrawn: true }))).toEqual([]);
  });

  it('countOnce: overlapping entries of one performer that slipped through are counted once and reported', () => {
    const entries = [
      te('Procedure/a', 'Practitioner/cm', 'Patient/p', '2026-03-02T10:00:00Z', 30),
      te('Procedure/b', 'Practitioner/cm', 'Patient/q', '2026-03-02T10:20:00Z', 30),
      te('Procedure/c', 'Practitioner/cm', 'Patient/p', '2026-03-02T10:00:00Z', 30),
      te('Procedure/d', 'Practitioner/psy', 'Patient/p', '2026-03-02T10:00:00Z', 30),
      te('Procedure/e', 'Practitioner/cm', 'Patient/p', '2026-03-02T11:00:00Z', 10, { withdrawn: true }),
    ];
    const { entries: counted, trimmed } = countOnce(entries);
    expect(Object.fromEntries(counted.map((c) => [c.entry.ref, c.minutes]))).toEqual({
      'Procedure/a': 30,
      'Procedure/b': 20,
      'Procedure/c': 0,
      'Procedure/d': 30,
    });
    expect(trimmed).toEqual([
      'Procedure/c: 30 of 30 minutes overlap an earlier entry of Practitioner/cm and are not counted',
      'Procedure/b: 10 of 30 minutes overlap an earlier entry of Practitioner/cm and are not counted',
    ]);
    expect(minuteEntries(counted).reduce((n, e) => n + e.minutes, 0)).toBe(80);
  });

  it('the registry counts overlaps once and notes them on the row', () => {
    const rows = buildRegistry(defaultBillingConfig(), {
      month: '2026-03',
      patients: [{ ref: 'Patient/p' }],
      entries: [
        te('Procedure/a', 'Practitioner/cm', 'Patient/p', '2026-03-02T10:00:00Z', 30),
        te('Procedure/b', 'Practitioner/cm', 'Patient/p', '2026-03-02T10:10:00Z', 30),
      ],
      scores: [],
      contacts: [],
    });
    expect(rows[0].cocmMinutes).toBe(40);
    expect(rows[0].notes[0]).toBe('Procedure/b: 20 of 30 minutes overlap an earlier entry of Practitioner/cm and are not counted');
  });
});
