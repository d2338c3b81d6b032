/**
 * SMART 2.2 scope grammar, one row per form (Scopes and Launch Context: §Clinical Scope Syntax, §Scopes v1
 * compatibility, §Finer-grained resource constraints, §Scopes for requesting context/identity data).
 */
import { describe, expect, it } from 'vitest';
import { parseScope, parseScopes, queryString } from './scopes.ts';

const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory';

describe('parseScope: clinical scopes', () => {
  const table: [string, { context: string; type: string; perms: string; syntax: 'v1' | 'v2'; query?: [string, string][] }][] = [
    // v1 (§Scopes v1 compatibility): .read = .rs, .write = .cud, .* = .cruds
    ['patient/Observation.read', { context: 'patient', type: 'Observation', perms: 'rs', syntax: 'v1' }],
    ['patient/Observation.write', { context: 'patient', type: 'Observation', perms: 'cud', syntax: 'v1' }],
    ['patient/*.read', { context: 'patient', type: '*', perms: 'rs', syntax: 'v1' }],
    ['user/*.write', { context: 'user', type: '*', perms: 'cud', syntax: 'v1' }],
    ['user/Patient.*', { context: 'user', type: 'Patient', perms: 'cruds', syntax: 'v1' }],
    ['system/*.*', { context: 'system', type: '*', perms: 'cruds', syntax: 'v1' }],
    // v2 letters, each subset in cruds order (§Clinical Scope Syntax)
    ['patient/Observation.rs', { context: 'patient', type: 'Observation', perms: 'rs', syntax: 'v2' }],
    ['patient/Observation.cruds', { context: 'patient', type: 'Observation', perms: 'cruds', syntax: 'v2' }],
    ['patient/Observation.c', { context: 'patient', type: 'Observation', perms: 'c', syntax: 'v2' }],
    ['patient/Observation.r', { context: 'patient', type: 'Observation', perms: 'r', syntax: 'v2' }],
    ['patient/Observation.s', { context: 'patient', type: 'Observation', perms: 's', syntax: 'v2' }],
    ['user/*.cud', { context: 'user', type: '*', perms: 'cud', syntax: 'v2' }],
    ['user/*.cruds', { context: 'user', type: '*', perms: 'cruds', syntax: 'v2' }],
    ['user/Encounter.ud', { context: 'user', type: 'Encounter', perms: 'ud', syntax: 'v2' }],
    ['system/*.rs', { context: 'system', type: '*', perms: 'rs', syntax: 'v2' }],
    ['system/Patient.cruds', { context: 'system', type: 'Patient', perms: 'cruds', syntax: 'v2' }],
    // v2 query constraints (§Finer-grained resource constraints using search parameters)
    [
      'patient/Observation.rs?category=survey',
      { context: 'patient', type: 'Observation', perms: 'rs', syntax: 'v2', query: [['category', 'survey']] },
    ],
    [
      `patient/Observation.rs?category=${LAB}`,
      { context: 'patient', type: 'Observation', perms: 'rs', syntax: 'v2', query: [['category', LAB]] },
    ],
    [
      `patient/Observation.rs?category=${encodeURIComponent(LAB)}`,
      { context: 'patient', type: 'Observation', perms: 'rs', syntax: 'v2', query: [['category', LAB]] },
    ],
    [
      'user/Condition.rs?category=problem-list-item&clinical-status=active',
      {
        context: 'user',
        type: 'Condition',
        perms: 'rs',
        syntax: 'v2',
        query: [
          ['category', 'problem-list-item'],
          ['clinical-status', 'active'],
        ],
      },
    ],
    [
      'patient/Observation.cruds?code:text=mood',
      { context: 'patient', type: 'Observation', perms: 'cruds', syntax: 'v2', query: [['code:text', 'mood']] },
    ],
  ];
  it.each(table)('%s', (raw, want) => {
    const parsed = parseScope(raw);
    expect(parsed.kind).toBe('resource');
    if (parsed.kind !== 'resource') return;
    expect(parsed.scope).toMatchObject({ raw, context: want.context, resourceType: want.type, syntax: want.syntax });
    expect(parsed.scope.permissions.join('')).toBe(want.perms);
    expect(parsed.scope.query).toEqual(want.query);
  });

  it('reads v1 and v2 forms of the same grant identically (§Scopes v1 compatibility)', () => {
    const pairs = [
      ['patient/Observation.read', 'patient/Observation.rs'],
      ['user/*.write', 'user/*.cud'],
      ['system/*.*', 'system/*.cruds'],
    ];
    for (const [v1, v2] of pairs) {
      const a = parseScope(v1);
      const b = parseScope(v2);
      if (a.kind !== 'resource' || b.kind !== 'resource') throw new Error('not parsed');
      expect({ ...a.scope, raw: '', syntax: '' }).toEqual({ ...b.scope, raw: '', syntax: '' });
    }
  });
});

describe('parseScope: scopes that grant no data', () => {
  it.each([
    'openid',
    'fhirUser',
    'profile',
    'launch',
    'launch/patient',
    'launch/encounter',
    'launch/encounter?role=x',
    'offline_access',
    'online_access',
    '__haven_debug',
    'https://example.org/scopes/x',
    'urn:example:scope',
  ])('%s is a non-resource scope', (raw) => expect(parseScope(raw)).toEqual({ kind: 'other', raw }));
});

describe('parseScope: invalid clinical scopes are ignored with a reason', () => {
  it.each([
    ['patient/Observation.dus', /in-order subset/], // out of order (§Clinical Scope Syntax)
    ['patient/Observation.rr', /in-order subset/],
    ['patient/Observation.sr', /in-order subset/],
    ['patient/Observation.x', /in-order subset/],
    ['patient/Observation.', /in-order subset/],
    ['patient/Observation.READ', /in-order subset/],
    ['patient/Observation', /missing permissions/],
    ['Patient/Observation.read', /unknown scope context/],
    ['group/*.rs', /unknown scope context/],
    ['group/Observation.rs', /unknown scope context/],
    ['patient/observation.rs', /not a resource type/],
    ['patient/.rs', /not a resource type/],
    ['patient/Observation.read?category=survey', /need v2 permissions/],
    ['patient/*.read?x=1', /need v2 permissions/],
    ['patient/Observation.rs?', /empty query/],
    ['patient/Observation.rs?category', /not name=value/],
    ['patient/Observation.rs?bad', /not name=value/],
    ['patient/Observation.rs?category=', /has no value/],
    ['patient/Observation.rs?subject.name=x', /chains and _has/],
    ['patient/Observation.rs?_has:Condition:subject:code=x', /chains and _has|cannot constrain/],
    ['patient/Observation.rs?_include=Observation:subject', /cannot constrain/],
    ['patient/Observation.rs?_count=1', /cannot constrain/],
    ['patient/Observation.rs?_filter=x', /cannot constrain/],
    ['patient/Observation.rs?category=%E0%A4%A', /percent-encoding/],
    ['readonly', /not a SMART scope/],
  ])('%s', (raw, reason) => {
    const parsed = parseScope(raw);
    expect(parsed.kind).toBe('invalid');
    if (parsed.kind === 'invalid') expect(parsed.reason).toMatch(reason);
  });
});

describe('parseScopes', () => {
  it('sorts a granted scope string into clinical, other and ignored scopes', () => {
    const set = parseScopes('openid fhirUser launch/patient offline_access patient/Observation.rs patient/*.read bogus/x.rs '.split(' '));
    expect(set.resources.map((s) => s.raw)).toEqual(['patient/Observation.rs', 'patient/*.read']);
    expect(set.other).toEqual(['openid', 'fhirUser', 'launch/patient', 'offline_access']);
    expect(set.ignored).toEqual([{ raw: 'bogus/x.rs', reason: expect.stringMatching(/unknown scope context/) }]);
  });

  it('renders a query constraint back as a query string', () => {
    expect(
      queryString([
        ['category', 'survey'],
        ['status', 'final'],
      ]),
    ).toBe('category=survey&status=final');
  });
});
