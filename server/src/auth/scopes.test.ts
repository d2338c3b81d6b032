/**
 * SMART scope grammar (App Launch 2.2 scopes-and-launch-context.html) and the coverage relation used for
 * client maximum grants and refresh narrowing.
 */
import { describe, expect, it } from 'vitest';
import { allCovered, checkRequestedScopes, coveredScopes, parseResourceScope, scopeCovers } from './scopes.ts';

const TYPES = new Set(['Patient', 'Observation', 'Condition']);

describe('parseResourceScope', () => {
  it('parses v2 permissions in order, with query constraints', () => {
    expect(parseResourceScope('patient/Observation.rs')).toEqual({ context: 'patient', type: 'Observation', perms: 'rs' });
    expect(parseResourceScope('user/*.cruds')).toEqual({ context: 'user', type: '*', perms: 'cruds' });
    expect(
      parseResourceScope('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|survey'),
    ).toMatchObject({ perms: 'rs', query: 'category=http://terminology.hl7.org/CodeSystem/observation-category|survey' });
  });
  it('maps v1 read/write/* to v2', () => {
    expect(parseResourceScope('patient/*.read')?.perms).toBe('rs');
    expect(parseResourceScope('user/Patient.write')?.perms).toBe('cud');
    expect(parseResourceScope('system/*.*')?.perms).toBe('cruds');
  });
  it('rejects out-of-order or empty permissions, queries on v1 scopes, bad contexts', () => {
    for (const s of [
      'patient/Observation.dus',
      'patient/Observation.',
      'patient/Observation.rr',
      'patient/*.read?x=1',
      'group/*.rs',
      'patient/observation.rs',
      'patient/Observation.rs?bad',
    ]) {
      expect(parseResourceScope(s), s).toBeUndefined();
    }
  });
});

describe('checkRequestedScopes', () => {
  it('keeps known scopes, drops well-formed unknown ones (OIDC profile), refuses malformed ones', () => {
    expect(checkRequestedScopes('openid profile fhirUser launch/patient patient/*.rs', TYPES)).toEqual({
      ok: true,
      scopes: ['openid', 'fhirUser', 'launch/patient', 'patient/*.rs'],
    });
    expect(checkRequestedScopes('patient/Observation.dus', TYPES).ok).toBe(false);
    expect(checkRequestedScopes('patient/Spaceship.rs', TYPES).ok).toBe(false);
    expect(checkRequestedScopes('openid "quoted"', TYPES).ok).toBe(false);
  });
  it('drops duplicates, keeps order', () => {
    expect(checkRequestedScopes('openid  openid patient/*.rs', TYPES)).toEqual({ ok: true, scopes: ['openid', 'patient/*.rs'] });
  });
});

describe('coverage', () => {
  it('a wider scope covers narrower ones of the same context', () => {
    expect(scopeCovers('patient/*.cruds', 'patient/Observation.rs')).toBe(true);
    expect(scopeCovers('patient/*.read', 'patient/Observation.rs')).toBe(true);
    expect(scopeCovers('patient/*.read', 'patient/Observation.rs?category=survey')).toBe(true);
    expect(scopeCovers('patient/Observation.rs?category=survey', 'patient/Observation.rs')).toBe(false);
    expect(scopeCovers('patient/*.rs', 'user/Observation.rs')).toBe(false);
    expect(scopeCovers('patient/*.rs', 'patient/Observation.c')).toBe(false);
    expect(scopeCovers('openid', 'openid')).toBe(true);
    expect(scopeCovers('launch', 'launch/patient')).toBe(false);
  });
  it('filters and checks sets', () => {
    expect(coveredScopes(['openid', 'patient/*.rs'], ['openid', 'fhirUser', 'patient/Condition.s'])).toEqual([
      'openid',
      'patient/Condition.s',
    ]);
    expect(allCovered(['patient/*.rs', 'openid'], ['openid', 'patient/Observation.read'])).toBe(true);
    expect(allCovered(['patient/*.rs'], ['patient/*.cruds'])).toBe(false);
  });
});
