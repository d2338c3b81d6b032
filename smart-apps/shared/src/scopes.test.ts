import { describe, expect, it } from 'vitest';
import { can, hasScope, parseResourceScope, parseScopes } from './scopes.ts';

describe('parseScopes', () => {
  it('reads v1 scopes: read = rs, write = cud, * = cruds', () => {
    const g = parseScopes('patient/Observation.read user/Task.write system/Composition.*');
    expect(can(g, 'Observation', 'r')).toBe(true);
    expect(can(g, 'Observation', 's')).toBe(true);
    expect(can(g, 'Observation', 'c')).toBe(false);
    expect(can(g, 'Task', 'c')).toBe(true);
    expect(can(g, 'Task', 'u')).toBe(true);
    expect(can(g, 'Task', 'r')).toBe(false);
    expect(can(g, 'Composition', 'd')).toBe(true);
  });

  it('reads v2 permission letters and wildcards', () => {
    const g = parseScopes('user/Composition.cru user/*.rs');
    expect(can(g, 'Composition', 'c')).toBe(true);
    expect(can(g, 'Composition', 'd')).toBe(false);
    expect(can(g, 'Goal', 's')).toBe(true);
    expect(can(g, 'Goal', 'u')).toBe(false);
  });

  it('is case-insensitive in context, type and permission (Epic-style capitals)', () => {
    const g = parseScopes('Patient/Observation.Read USER/task.CRUS OpenID fhirUser Launch/Patient');
    expect(can(g, 'Observation', 'r')).toBe(true);
    expect(can(g, 'Task', 'u')).toBe(true);
    expect(hasScope(g, 'openid')).toBe(true);
    expect(hasScope(g, 'FHIRUSER')).toBe(true);
    expect(hasScope(g, 'launch/patient')).toBe(true);
  });

  it('keeps query constraints as a partial grant', () => {
    const s = parseResourceScope('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|survey');
    expect(s?.constraint).toBe('category=http://terminology.hl7.org/CodeSystem/observation-category|survey');
    expect(can(parseScopes('patient/Observation.rs?category=survey'), 'Observation', 's')).toBe(true);
  });

  it('sets aside malformed and non-resource scopes', () => {
    expect(parseResourceScope('patient/Observation.xyz')).toBeUndefined();
    expect(parseResourceScope('clinic/Observation.rs')).toBeUndefined();
    expect(parseResourceScope('patient/Observation.sr')).toBeUndefined(); // v2 letters are ordered
    const g = parseScopes('  launch   offline_access  ');
    expect(g.resources).toHaveLength(0);
    expect([...g.other]).toEqual(['launch', 'offline_access']);
    expect(parseScopes(undefined).resources).toHaveLength(0);
  });

  it('grants nothing for a type that no scope names (read-only mode)', () => {
    const g = parseScopes('user/*.rs');
    for (const p of ['c', 'u', 'd'] as const) expect(can(g, 'Composition', p)).toBe(false);
  });
});
