/**
 * What the authorization server does with the SMART scope grammar (parsed by ../policy/scopes.ts, whose test
 * holds the grammar's cases): request checks, and the coverage relation used for client maximum grants and
 * refresh narrowing.
 */
import { describe, expect, it } from 'vitest';
import { parseScope } from '../policy/scopes.ts';
import { allCovered, checkRequestedScopes, coveredScopes, scopeCovers } from './scopes.ts';

const TYPES = new Set(['Patient', 'Observation', 'Condition']);

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
  it('refuses exactly the resource scopes the shared grammar refuses (one parser for the server and the policy)', () => {
    for (const s of [
      'patient/Observation.rs',
      'patient/Observation.rs?category=survey',
      `patient/Observation.rs?category=${encodeURIComponent('http://x|y')}`,
      'patient/*.read?x=1',
      'patient/Observation.rs?bad',
      'patient/Observation.rs?subject.name=x',
      'patient/Observation.rs?_include=Observation:subject',
      'patient/Observation.rs?category=%E0%A4%A',
      'user/Observation.READ',
    ]) {
      expect(checkRequestedScopes(s, TYPES).ok, s).toBe(parseScope(s).kind === 'resource');
    }
  });
  it('drops scopes outside the SMART contexts without refusing the request (case matters)', () => {
    expect(checkRequestedScopes('Patient/Observation.read group/*.rs readonly openid', TYPES)).toEqual({ ok: true, scopes: ['openid'] });
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
    // Query constraints compare as decoded parameters, so an encoded and a plain spelling are the same grant.
    expect(scopeCovers('patient/Observation.rs?category=a%7Cb', 'patient/Observation.r?category=a|b')).toBe(true);
    expect(scopeCovers('patient/Observation.rs?category=a', 'patient/Observation.r?category=b')).toBe(false);
    expect(scopeCovers('patient/Observation.rs?category=a', 'patient/Observation.r')).toBe(false);
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
