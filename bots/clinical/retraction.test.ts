import { describe, expect, it } from 'vitest';
import type { Task } from '@medplum/fhirtypes';
import { needsRetractionNote, noteRetraction } from './retraction.ts';

const SRC = 'QuestionnaireResponse/q1';
const task = (extra: Partial<Task> = {}): Task => ({
  resourceType: 'Task',
  status: 'requested',
  intent: 'order',
  priority: 'asap',
  ...extra,
});

describe('retraction of a Task source', () => {
  it.each([
    ['raised by it (focus)', task({ focus: { reference: SRC } }), true],
    [
      'given its evidence later (the risk bot note)',
      task({ focus: { reference: 'QuestionnaireResponse/q0' }, note: [{ text: `New evidence (${SRC}): PHQ-9 item 9 positive` }] }),
      true,
    ],
    [
      'a prefix of another id is not it',
      task({ focus: { reference: 'QuestionnaireResponse/q10' }, note: [{ text: 'New evidence (QuestionnaireResponse/q10): x' }] }),
      false,
    ],
    ['unrelated', task({ focus: { reference: 'QuestionnaireResponse/q2' } }), false],
    ['already noted', task({ focus: { reference: SRC }, note: [{ text: `Source ${SRC} was marked entered-in-error: …` }] }), false],
  ])('%s', (_name, t, expected) => {
    expect(needsRetractionNote(t, SRC)).toBe(expected);
  });

  it('adds a note and changes nothing a person decides (status, owner, priority)', () => {
    const before = task({ focus: { reference: SRC }, owner: { reference: 'Practitioner/a' }, note: [{ text: 'first' }] });
    const after = noteRetraction(before, SRC, '2026-06-01T10:00:00.000Z');
    expect(after).toMatchObject({
      status: 'requested',
      priority: 'asap',
      owner: { reference: 'Practitioner/a' },
      lastModified: '2026-06-01T10:00:00.000Z',
    });
    expect(after.note).toHaveLength(2);
    expect(after.note?.[1]).toEqual({
      time: '2026-06-01T10:00:00.000Z',
      text: `Source ${SRC} was marked entered-in-error: the results derived from it are retracted. This Task stays open for a clinician to review and close.`,
    });
    expect(before.note).toHaveLength(1);
  });
});
