// @vitest-environment happy-dom
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { CrisisPanel } from './CrisisPanel.tsx';
import { DEFAULT_CRISIS_MESSAGE } from './crisis.ts';

afterEach(cleanup);

describe('CrisisPanel', () => {
  it('offers one-tap call and text 988 and call 911, and the message one step away', () => {
    render(<CrisisPanel />);
    expect(screen.getByRole('complementary', { name: 'Crisis help' })).toBeTruthy();
    expect(screen.getByRole('link', { name: 'Call 988' }).getAttribute('href')).toBe('tel:988');
    expect(screen.getByRole('link', { name: 'Text 988' }).getAttribute('href')).toBe('sms:988');
    expect(screen.getByRole('link', { name: 'Call 911' }).getAttribute('href')).toBe('tel:911');
    expect(document.body.textContent).toContain(DEFAULT_CRISIS_MESSAGE);
  });

  it('shows everything at once with emphasis, and never a press-3 line even if configured', () => {
    render(<CrisisPanel emphasis configured="Call 988 and press 3 for youth." />);
    expect(screen.getByRole('link', { name: 'Chat at 988lifeline.org' })).toBeTruthy();
    expect(document.body.textContent).not.toMatch(/press 3/i);
    expect(document.body.textContent).toContain(DEFAULT_CRISIS_MESSAGE);
  });
});
