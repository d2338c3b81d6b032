import { describe, expect, it } from 'vitest';
import type { CareTeam } from '@medplum/fhirtypes';
import { activeCareTeamOf, chooseRiskOwner, treatingPractitionerOf, type OwnerCandidates, type OwnerChoice } from './routing.ts';

describe('chooseRiskOwner: roster → treating practitioner → care team → tenant fallback', () => {
  const all: OwnerCandidates = {
    onCall: 'Practitioner/oncall',
    treatingPractitioner: 'Practitioner/gp',
    careTeam: 'CareTeam/ct',
    fallback: 'Organization/clinic',
  };
  const table: [string, OwnerCandidates, OwnerChoice][] = [
    ['every source: the roster', all, { owner: 'Practitioner/oncall', route: 'on-call' }],
    [
      'no roster entry: the treating practitioner',
      { ...all, onCall: undefined },
      { owner: 'Practitioner/gp', route: 'treating-practitioner' },
    ],
    [
      'nor a treating practitioner: the care team',
      { careTeam: 'CareTeam/ct', fallback: 'Organization/clinic' },
      { owner: 'CareTeam/ct', route: 'care-team' },
    ],
    ['nor a care team: the fallback', { fallback: 'Organization/clinic' }, { owner: 'Organization/clinic', route: 'fallback' }],
    ['nothing configured: nobody (doctor fails, server warns)', {}, { route: 'none' }],
  ];
  it.each(table)('%s', (_name, candidates, expected) => {
    expect(chooseRiskOwner(candidates)).toEqual(expected);
  });
});

describe('treatingPractitionerOf', () => {
  it.each([
    ['a Practitioner', [{ reference: 'Practitioner/p1' }], 'Practitioner/p1'],
    ['a PractitionerRole', [{ reference: 'PractitionerRole/r1' }], 'PractitionerRole/r1'],
    ['an Organization first, then a Practitioner', [{ reference: 'Organization/o' }, { reference: 'Practitioner/p2' }], 'Practitioner/p2'],
    ['only an Organization', [{ reference: 'Organization/o' }], undefined],
    ['an absolute or display-only reference', [{ reference: 'https://x.example/Practitioner/p' }, { display: 'Dr X' }], undefined],
    ['none', undefined, undefined],
  ] as const)('%s', (_name, gp, expected) => {
    expect(treatingPractitionerOf({ resourceType: 'Patient', ...(gp ? { generalPractitioner: [...gp] } : {}) })).toBe(expected);
  });
  it('no patient', () => expect(treatingPractitionerOf(undefined)).toBeUndefined());
});

describe('activeCareTeamOf', () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const team = (id: string, extra: Partial<CareTeam> = {}): CareTeam => ({
    resourceType: 'CareTeam',
    id,
    status: 'active',
    meta: { lastUpdated: '2026-01-01T00:00:00Z' },
    ...extra,
  });
  it.each([
    ['one active team', [team('a')], 'CareTeam/a'],
    ['inactive and proposed teams are not', [team('a', { status: 'inactive' }), team('b', { status: 'proposed' })], undefined],
    ['an ended team is not', [team('a', { period: { end: '2026-05-01' } })], undefined],
    ['a team not begun is not', [team('a', { period: { start: '2026-07-01' } })], undefined],
    ['a current period is', [team('a', { period: { start: '2026-01-01', end: '2026-12-31' } })], 'CareTeam/a'],
    ['the most recently updated wins', [team('old'), team('new', { meta: { lastUpdated: '2026-05-01T00:00:00Z' } })], 'CareTeam/new'],
    ['none', [], undefined],
  ] as [string, CareTeam[], string | undefined][])('%s', (_name, teams, expected) => {
    expect(activeCareTeamOf(teams, now)).toBe(expected);
  });
});
