import { describe, expect, it } from 'vitest';
import { isSafetyConcern } from './safety.ts';

const coding = (code: string, system = 'http://loinc.org') => ({ valueCoding: { system, code } });

describe('isSafetyConcern', () => {
  it.each([
    ['/44260-8', 'LA6568-5', false],
    ['/44260-8', 'LA6569-3', true],
    ['/44260-8', 'LA6570-1', true],
    ['/44260-8', 'LA6571-9', true],
    ['phq-a-9', 'LA6569-3', true],
    ['/93247-5', 'LA33-6', true],
    ['/93247-5', 'LA32-8', false],
    ['/44250-9', 'LA6571-9', false],
  ])('%s %s → %s', (linkId, code, expected) => {
    expect(isSafetyConcern(linkId, coding(code))).toBe(expected);
  });

  it('does not treat a declined or missing item 9 as a concern to show (the risk bot routes it for review)', () => {
    expect(isSafetyConcern('/44260-8', coding('asked-declined', 'http://terminology.hl7.org/CodeSystem/data-absent-reason'))).toBe(false);
    expect(isSafetyConcern('/44260-8', undefined)).toBe(false);
  });
});
