import { describe, expect, it } from 'vitest';
import { dueState, needsAction } from './due.ts';

const now = new Date('2026-06-30T12:00:00Z');
const daysAgo = (n: number) => new Date(now.getTime() - n * 86_400_000).toISOString();
const inDays = (n: number) => new Date(now.getTime() + n * 86_400_000).toISOString();

describe('dueState', () => {
  it.each([
    [27, 'up-to-date'],
    [28, 'due'],
    [34, 'due'],
    [35, 'overdue'],
    [200, 'overdue'],
  ])('last scored %i days ago with a 28-day cadence → %s', (ago, kind) => {
    expect(dueState({ lastScored: daysAgo(ago), pending: [] }, 28, now).kind).toBe(kind);
  });

  it('says when the next one is due', () => {
    expect(dueState({ lastScored: daysAgo(20), pending: [] }, 28, now)).toEqual({ kind: 'up-to-date', nextDue: inDays(8) });
  });

  it('never measured', () => {
    expect(dueState({ pending: [] }, 28, now)).toEqual({ kind: 'never' });
    expect(needsAction({ kind: 'never' })).toBe(true);
  });

  it('a sent assessment waits for the patient until its due date, then is overdue', () => {
    expect(dueState({ lastScored: daysAgo(60), pending: [{ due: inDays(2) }] }, 28, now)).toEqual({ kind: 'sent', due: inDays(2) });
    expect(dueState({ pending: [{ due: daysAgo(1) }, { due: inDays(3) }] }, 28, now)).toEqual({ kind: 'sent-overdue', due: daysAgo(1) });
    expect(dueState({ pending: [{}] }, 28, now)).toEqual({ kind: 'sent' });
    expect(needsAction({ kind: 'sent' })).toBe(false);
    expect(needsAction({ kind: 'sent-overdue', due: daysAgo(1) })).toBe(true);
  });
});
