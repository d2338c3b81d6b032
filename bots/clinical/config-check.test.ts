import { describe, expect, it } from 'vitest';
import { checkClinicalConfig } from './config-check.ts';
import { defaultClinicalConfig, type ClinicalConfig } from './config.ts';

const defaults = defaultClinicalConfig();
const withEscalation = (e: Partial<ClinicalConfig['escalation']>): ClinicalConfig => ({
  ...defaults,
  escalation: { ...defaults.escalation, ...e },
});
const codes = (c: ClinicalConfig, opts: { botsEnabled?: boolean; riskBot?: boolean; tenants?: string[] } = {}) =>
  checkClinicalConfig({
    config: c,
    botsEnabled: opts.botsEnabled ?? true,
    riskBot: opts.riskBot ?? true,
    tenants: opts.tenants ?? ['default', 'acme'],
  }).map((p) => `${p.level}:${p.code}${p.tenant ? `:${p.tenant}` : ''}`);

describe('checkClinicalConfig', () => {
  it('the shipped defaults fail for every tenant (no fallback owner) and warn about the VERIFY items', () => {
    expect(codes(defaults)).toEqual([
      'fail:risk-fallback-missing:acme',
      'fail:risk-fallback-missing:default',
      'warn:on-call-roster-empty',
      'warn:psypact-members-empty',
    ]);
  });

  it('a global fallback owner covers every tenant', () => {
    expect(codes(withEscalation({ fallbackOwner: 'Organization/clinic' })).filter((c) => c.startsWith('fail'))).toEqual([]);
  });

  it("a tenant's own fallback covers that tenant only; settings for an unknown tenant are flagged", () => {
    const c = withEscalation({ tenants: { acme: { fallbackOwner: 'Practitioner/duty' }, acne: { fallbackOwner: 'Practitioner/x' } } });
    expect(codes(c).filter((x) => !x.includes('psypact') && !x.includes('roster'))).toEqual([
      'fail:risk-fallback-missing:default',
      'warn:tenant-setting-unknown-tenant:acne',
    ]);
  });

  it('risk bot off, or bots off: no owner failure (bots off is itself a warning)', () => {
    expect(codes(defaults, { riskBot: false }).some((c) => c.startsWith('fail'))).toBe(false);
    expect(codes(defaults, { botsEnabled: false })).toContain('warn:bots-off');
    expect(codes(defaults, { botsEnabled: false }).some((c) => c.startsWith('fail'))).toBe(false);
  });

  it('an on-call roster with entries or a fallback is not flagged', () => {
    const roster = { ...defaults.escalation.onCall, fallback: 'Practitioner/oncall' };
    expect(codes(withEscalation({ onCall: roster }))).not.toContain('warn:on-call-roster-empty');
  });

  it('compact lists: PSYPACT filled is quiet; enabled social work compact with no members warns', () => {
    const c: ClinicalConfig = {
      ...defaults,
      licensure: {
        ...defaults.licensure,
        psypact: { ...defaults.licensure.psypact, members: ['AZ'] },
        socialWorkCompact: { enabled: true, members: [] },
        counselingCompact: { enabled: true, operational: [] },
      },
    };
    const found = codes(c);
    expect(found).not.toContain('warn:psypact-members-empty');
    expect(found).toContain('warn:social-work-compact-members-empty');
    expect(found).toContain('warn:counseling-compact-operational-empty');
  });

  it('messages say what to set, and hold no data', () => {
    const [fail] = checkClinicalConfig({ config: defaults, botsEnabled: true, riskBot: true, tenants: ['default'] });
    expect(fail.message).toContain('escalation.fallbackOwner');
    expect(fail.message).toContain('escalation.tenants.default.fallbackOwner');
  });
});
