import { describe, expect, it } from 'vitest';
import defaults from '../../../bots/config/defaults.json' with { type: 'json' };
import { CRISIS_ACTIONS, crisisMessage, DEFAULT_CRISIS_MESSAGE } from './crisis.ts';

describe('crisis resources', () => {
  it('default to the bots configuration text, word for word', () => {
    expect(DEFAULT_CRISIS_MESSAGE).toBe(defaults.crisis.patientMessage);
    expect(crisisMessage(undefined)).toBe(defaults.crisis.patientMessage);
  });

  it('use a configured message that names 988', () => {
    expect(crisisMessage('Call or text 988 any time.')).toBe('Call or text 988 any time.');
  });

  it('never show the discontinued press-3 option, nor a message without 988', () => {
    expect(crisisMessage('Call 988 and press 3 for LGBTQ+ youth.')).toBe(DEFAULT_CRISIS_MESSAGE);
    expect(crisisMessage('Llame al 988 y oprima 3.')).toBe(DEFAULT_CRISIS_MESSAGE);
    expect(crisisMessage('Call your doctor.')).toBe(DEFAULT_CRISIS_MESSAGE);
    const all = [DEFAULT_CRISIS_MESSAGE, ...CRISIS_ACTIONS.map((a) => `${a.label} ${a.detail ?? ''}`)].join(' ');
    expect(all).not.toMatch(/press\s+3|oprima\s+3/i);
  });

  it('offer calling and texting 988 and calling 911 as one-tap links', () => {
    expect(CRISIS_ACTIONS.map((a) => a.href)).toEqual(expect.arrayContaining(['tel:988', 'sms:988', 'tel:911']));
    expect(DEFAULT_CRISIS_MESSAGE).toMatch(/press 1, or text 838255/);
    expect(DEFAULT_CRISIS_MESSAGE).toMatch(/press 2/);
  });
});
