/**
 * Access decisions, table-driven: scope × principal × permission × type → row rule (SMART App Launch 2.2,
 * Scopes and Launch Context: §Patient-specific, §User-level, §System-level scopes, §Scope Equivalence,
 * §Finer-grained constraints) and the role table. Applying a rule to a stored version: ../store/access/match.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../auth/authenticate.ts';
import { developmentAuthenticator } from '../auth/authenticate.ts';
import { loadDefinitions } from '../fhir/definitions.ts';
import { reachesAny } from '../model/access.ts';
import { compilePolicy, missingScopeMessage, permissionOf, rowRule, UNRESTRICTED, VISIBLE, type Need, type RowRule } from './access.ts';
import { accessOf, CallerAccess, callerOf } from './caller.ts';

beforeAll(() => {
  loadDefinitions();
});

function principal(scopes: string, extra: Partial<Principal> = {}): Principal {
  return { tenant: 'default', subject: 's', scopes: scopes.split(' ').filter(Boolean), roles: [], development: false, ...extra };
}

const ALL: RowRule = { kind: 'all' };
const NONE: RowRule = { kind: 'none' };
const inA = (exclusive = false): RowRule => ({ kind: 'some', branches: [{ patient: 'A', ...(exclusive ? { exclusive: true } : {}) }] });

describe('permissionOf (§Clinical Scope Syntax)', () => {
  it.each([
    ['create', 'c'],
    ['read', 'r'],
    ['vread', 'r'],
    ['history-instance', 'r'],
    ['everything', 'r'],
    ['update', 'u'],
    ['patch', 'u'],
    ['delete', 'd'],
    ['search', 's'],
    ['history-type', 's'],
    ['history-system', 's'],
  ] as const)('%s needs %s', (interaction, perm) => expect(permissionOf(interaction)).toBe(perm));
});

describe('rowRule', () => {
  const table: [string, string, Partial<Principal>, Need, string, RowRule][] = [
    // patient/ scopes confine to the compartment of the patient in context
    ['patient read', 'patient/Observation.rs', { patient: 'A' }, 'r', 'Observation', inA()],
    ['patient search', 'patient/Observation.rs', { patient: 'A' }, 's', 'Observation', inA()],
    ['patient: other type', 'patient/Observation.rs', { patient: 'A' }, 'r', 'Condition', NONE],
    ['patient: no c', 'patient/Observation.rs', { patient: 'A' }, 'c', 'Observation', NONE],
    ['patient write is exclusive', 'patient/Observation.cu', { patient: 'A' }, 'c', 'Observation', inA(true)],
    ['patient wildcard', 'patient/*.rs', { patient: 'A' }, 'r', 'Condition', inA()],
    ['patient: Patient itself', 'patient/*.rs', { patient: 'A' }, 'r', 'Patient', inA()],
    ['patient: shared type readable', 'patient/*.rs', { patient: 'A' }, 's', 'Practitioner', ALL],
    ['patient: shared type not writable', 'patient/*.cruds', { patient: 'A' }, 'c', 'Practitioner', NONE],
    ['patient: non-compartment type out of reach', 'patient/*.cruds', { patient: 'A' }, 'r', 'Binary', NONE],
    ['patient: no patient in context', 'patient/*.rs', {}, 'r', 'Observation', NONE],
    // v1 ≡ v2
    ['v1 read = rs (r)', 'patient/Observation.read', { patient: 'A' }, 'r', 'Observation', inA()],
    ['v1 read = rs (s)', 'patient/Observation.read', { patient: 'A' }, 's', 'Observation', inA()],
    ['v1 read has no c', 'patient/Observation.read', { patient: 'A' }, 'c', 'Observation', NONE],
    ['v1 write = cud', 'patient/Observation.write', { patient: 'A' }, 'd', 'Observation', inA(true)],
    ['v1 write has no s', 'patient/Observation.write', { patient: 'A' }, 's', 'Observation', NONE],
    // query constraints narrow; several scopes are a union
    [
      'constrained',
      'patient/Observation.rs?category=survey',
      { patient: 'A' },
      's',
      'Observation',
      { kind: 'some', branches: [{ patient: 'A', query: [['category', 'survey']] }] },
    ],
    [
      'union of constraints',
      'patient/Observation.rs?category=survey patient/Observation.rs?category=laboratory',
      { patient: 'A' },
      's',
      'Observation',
      {
        kind: 'some',
        branches: [
          { patient: 'A', query: [['category', 'survey']] },
          { patient: 'A', query: [['category', 'laboratory']] },
        ],
      },
    ],
    ['unconstrained scope absorbs constrained', 'system/Observation.rs?category=survey system/Observation.rs', {}, 's', 'Observation', ALL],
    ['visible = r or s', 'patient/Observation.r patient/Observation.s?category=survey', { patient: 'A' }, VISIBLE, 'Observation', inA()],
    [
      's stays constrained when r is not',
      'patient/Observation.r patient/Observation.s?category=survey',
      { patient: 'A' },
      's',
      'Observation',
      { kind: 'some', branches: [{ patient: 'A', query: [['category', 'survey']] }] },
    ],
    // system/ scopes (backend services: no user, no cut)
    ['system all', 'system/*.rs', {}, 's', 'Observation', ALL],
    ['system no write', 'system/*.rs', {}, 'c', 'Observation', NONE],
    // user/ scopes, cut by role (./roles.ts)
    ['user clinician', 'user/*.cruds', { roles: ['clinician'], fhirUser: 'Practitioner/p1' }, 'u', 'Observation', ALL],
    ['user admin', 'user/Observation.rs', { roles: ['admin'] }, 'r', 'Observation', ALL],
    ['user patient role: own compartment', 'user/*.rs', { roles: ['patient'], fhirUser: 'Patient/A' }, 'r', 'Observation', inA()],
    [
      'user patient role: absolute fhirUser',
      'user/*.rs',
      { roles: ['patient'], fhirUser: 'https://ehr.example/fhir/Patient/A' },
      'r',
      'Observation',
      inA(),
    ],
    [
      'user patient role needs a Patient fhirUser',
      'user/*.rs',
      { roles: ['patient'], fhirUser: 'Practitioner/p1' },
      'r',
      'Observation',
      NONE,
    ],
    ['user auditor: AuditEvent', 'user/*.rs', { roles: ['auditor'] }, 's', 'AuditEvent', ALL],
    ['user auditor: no Observation', 'user/*.rs', { roles: ['auditor'] }, 's', 'Observation', NONE],
    ['user auditor: no write', 'user/*.cruds', { roles: ['auditor'] }, 'c', 'AuditEvent', NONE],
    ['user unknown role', 'user/*.rs', { roles: ['guest'] }, 'r', 'Observation', NONE],
    ['user scope without a user', 'user/*.rs', {}, 'r', 'Observation', NONE],
    [
      'role cuts patient scopes of users too',
      'patient/*.rs',
      { roles: ['patient'], fhirUser: 'Patient/A', patient: 'B' },
      'r',
      'Observation',
      NONE,
    ],
    ['patient user in own context', 'patient/*.rs', { roles: ['patient'], fhirUser: 'Patient/A', patient: 'A' }, 'r', 'Observation', inA()],
    ['role cuts system scopes of users', 'system/*.rs', { roles: ['auditor'] }, 's', 'Observation', NONE],
    // identity scopes: the user's own fhirUser resource is readable (g10 OIDC test)
    [
      'fhirUser self-read',
      'openid fhirUser patient/Observation.rs',
      { patient: 'A', fhirUser: 'Practitioner/p1', roles: ['clinician'] },
      'r',
      'Practitioner',
      { kind: 'some', branches: [{ ids: ['p1'] }] },
    ],
    ['fhirUser: not searchable', 'openid fhirUser', { fhirUser: 'Practitioner/p1', roles: ['clinician'] }, 's', 'Practitioner', NONE],
    ['fhirUser needs openid', 'fhirUser', { fhirUser: 'Practitioner/p1', roles: ['clinician'] }, 'r', 'Practitioner', NONE],
    // context-only scopes grant nothing
    ['launch scopes only', 'openid fhirUser launch launch/patient offline_access', { patient: 'A' }, 'r', 'Observation', NONE],
    ['invalid scope ignored', 'patient/Observation.dus', { patient: 'A' }, 'd', 'Observation', NONE],
  ];
  it.each(table)('%s: %s', (_name, scopes, extra, need, type, want) => {
    expect(rowRule(compilePolicy(principal(scopes, extra)), need, type)).toEqual(want);
  });
});

describe('compilePolicy', () => {
  it('the development principal (HAVEN_AUTH=off) is unrestricted', async () => {
    const dev = await developmentAuthenticator({} as never, 'default');
    expect(compilePolicy(dev as Principal).unrestricted).toBe(true);
  });

  it.each<[string, Partial<Principal>, boolean]>([
    ['system/*.cruds', {}, true],
    ['system/*.*', {}, true],
    ['user/*.*', { roles: ['admin'] }, true],
    ['system/*.rs', {}, false],
    ['patient/*.cruds', { patient: 'A' }, false],
    ['user/*.*', { roles: ['patient'], fhirUser: 'Patient/A' }, false],
    ['system/*.cruds?_id=x', {}, false],
  ])('%s %j → unrestricted %s', (scopes, extra, want) => {
    expect(compilePolicy(principal(scopes, extra)).unrestricted).toBe(want);
  });

  it('records why scopes were set aside', () => {
    const policy = compilePolicy(principal('patient/*.rs user/*.rs patient/Observation.dus', {}));
    expect(policy.ignored.map((i) => i.reason)).toEqual([
      expect.stringMatching(/in-order subset/),
      'patient/ scope without a patient in context',
      'user/ scope on a token with no user',
    ]);
  });

  it('names the missing scopes in the 403 diagnostic, never data', () => {
    const policy = compilePolicy(principal('patient/Condition.rs', { patient: 'secret-patient-id' }));
    const text = missingScopeMessage(policy, 'r', 'Observation');
    expect(text).toContain('patient/Observation.r, user/Observation.r, system/Observation.r');
    expect(text).not.toContain('secret-patient-id');
  });

  it('reachesAny: $validate needs any permission on the type', () => {
    expect(reachesAny(new CallerAccess(compilePolicy(principal('patient/Observation.c', { patient: 'A' }))), 'Observation')).toBe(true);
    expect(reachesAny(new CallerAccess(compilePolicy(principal('patient/Condition.rs', { patient: 'A' }))), 'Observation')).toBe(false);
  });

  it('CallerAccess hands the store the same rules and refusals the policy decides, and is traced back by callerOf', () => {
    const p = principal('patient/Observation.rs', { patient: 'A' });
    const access = accessOf(p);
    const policy = compilePolicy(p);
    for (const need of ['r', 's', 'c', VISIBLE] as Need[]) {
      for (const type of ['Observation', 'Patient', 'Practitioner'])
        expect(access.rule(need, type), `${need} ${type}`).toEqual(rowRule(policy, need, type));
    }
    expect(access.refusal('c', 'Observation')).toBe(missingScopeMessage(policy, 'c', 'Observation'));
    expect(callerOf(access)).toEqual({ policy, principal: p });
    expect(callerOf(undefined)).toEqual({ policy: UNRESTRICTED });
    expect(callerOf(new CallerAccess(policy))).toEqual({ policy });
    expect(() => callerOf({ unrestricted: true, rule: () => ({ kind: 'all' }), refusal: () => '' })).toThrow(/not built by policy/);
  });
});
