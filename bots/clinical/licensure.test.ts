import type { Practitioner, PractitionerQualification, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions } from '../../server/src/fhir/definitions.ts';
import { validateFhirResource } from '../../server/src/fhir/validate.ts';
import { defaultClinicalConfig, type LicensureConfig } from './config.ts';
import {
  CREDENTIAL_KIND_SYSTEM,
  CREDENTIAL_STATUS_EXTENSION,
  HOME_JURISDICTION_EXTENSION,
  JURISDICTION_EXTENSION,
  LICENSURE_OVERRIDE_EXTENSION,
  checkLicensure,
  credentialsFromPractitioner,
  licensureOverride,
  type Credential,
  type LicensureInput,
  type LicensureRefusalCode,
} from './licensure.ts';

beforeAll(() => loadDefinitions());

const defaults = defaultClinicalConfig().licensure;
// The shipped PSYPACT list is empty (VERIFY); tests name their own members.
const config: LicensureConfig = { ...defaults, psypact: { ...defaults.psypact, members: ['NY', 'NJ', 'PA', 'TX'] } };
const DATE = '2026-03-04';

const cred = (kind: Credential['kind'], state: string, extra: Partial<Credential> = {}): Credential => ({
  kind,
  state,
  status: 'active',
  period: { start: '2024-01-01', end: '2027-12-31' },
  ...extra,
});
const lic = (state: string, extra: Partial<Credential> = {}): Credential => cred('license', state, extra);

type Case = [string, Partial<LicensureInput> & { credentials: Credential[] }, { basis: string } | { codes: LicensureRefusalCode[] }];

const base = { patientState: 'NJ', modality: 'telehealth' as const, date: DATE, config };

describe('checkLicensure (clinical.md §5)', () => {
  const table: Case[] = [
    // 1. a license in the patient's state
    ['license in the patient state', { credentials: [lic('NJ')] }, { basis: 'license' }],
    ['patient state is normalised to upper case', { credentials: [lic('NJ')], patientState: 'nj' }, { basis: 'license' }],
    [
      'license ending on the date of service still covers it',
      { credentials: [lic('NJ', { period: { end: DATE } })] },
      { basis: 'license' },
    ],
    ['license without a period', { credentials: [lic('NJ', { period: undefined })] }, { basis: 'license' }],
    ['one good license among bad ones', { credentials: [lic('NJ', { status: 'inactive' }), lic('NJ')] }, { basis: 'license' }],
    [
      'a dateTime is cut to its date',
      { credentials: [lic('NJ', { period: { end: DATE } })], date: `${DATE}T23:30:00-05:00` },
      { basis: 'license' },
    ],
    ['expired license', { credentials: [lic('NJ', { period: { end: '2026-03-03' } })] }, { codes: ['expired'] }],
    ['license not yet valid', { credentials: [lic('NJ', { period: { start: '2026-03-05' } })] }, { codes: ['not-yet-valid'] }],
    ['encumbered license', { credentials: [lic('NJ', { status: 'encumbered' })] }, { codes: ['encumbered'] }],
    ['inactive license', { credentials: [lic('NJ', { status: 'inactive' })] }, { codes: ['inactive'] }],
    ['license only in another state', { credentials: [lic('NY')] }, { codes: ['no-credential'] }],
    ['no credentials at all', { credentials: [] }, { codes: ['no-credential'] }],
    // 2. PSYPACT APIT (telehealth)
    [
      'APIT: home NY, provider in NY, patient in NJ',
      { credentials: [lic('NY'), cred('psypact-apit', 'NY')], providerState: 'NY' },
      { basis: 'psypact-apit' },
    ],
    [
      'APIT: provider outside the home state',
      { credentials: [lic('NY'), cred('psypact-apit', 'NY')], providerState: 'CA' },
      { codes: ['no-credential', 'provider-not-in-home-state'] },
    ],
    [
      'APIT: provider location unknown',
      { credentials: [lic('NY'), cred('psypact-apit', 'NY')] },
      { codes: ['no-credential', 'provider-location-unknown'] },
    ],
    [
      'APIT: patient state not a member',
      { credentials: [lic('NY'), cred('psypact-apit', 'NY')], providerState: 'NY', patientState: 'CA' },
      { codes: ['no-credential', 'state-not-member'] },
    ],
    [
      'APIT: home state not a member',
      { credentials: [lic('AZ'), cred('psypact-apit', 'AZ')], providerState: 'AZ' },
      { codes: ['no-credential', 'state-not-member'] },
    ],
    [
      'APIT: shipped defaults list no members (fail closed)',
      { credentials: [lic('NY'), cred('psypact-apit', 'NY')], providerState: 'NY', config: defaults },
      { codes: ['no-credential', 'state-not-member'] },
    ],
    [
      'APIT: home license expired',
      { credentials: [lic('NY', { period: { end: '2025-12-31' } }), cred('psypact-apit', 'NY')], providerState: 'NY' },
      { codes: ['no-credential', 'no-home-license'] },
    ],
    [
      'APIT: no home license',
      { credentials: [cred('psypact-apit', 'NY')], providerState: 'NY' },
      { codes: ['no-credential', 'no-home-license'] },
    ],
    [
      'APIT itself expired',
      { credentials: [lic('NY'), cred('psypact-apit', 'NY', { period: { end: '2026-01-01' } })], providerState: 'NY' },
      { codes: ['no-credential', 'expired'] },
    ],
    [
      'APIT encumbered',
      { credentials: [lic('NY'), cred('psypact-apit', 'NY', { status: 'encumbered' })], providerState: 'NY' },
      { codes: ['no-credential', 'encumbered'] },
    ],
    [
      'APIT does not cover in-person care',
      { credentials: [lic('NY'), cred('psypact-apit', 'NY')], providerState: 'NY', modality: 'in-person' },
      { codes: ['no-credential'] },
    ],
    [
      'PSYPACT disabled',
      {
        credentials: [lic('NY'), cred('psypact-apit', 'NY')],
        providerState: 'NY',
        config: { ...config, psypact: { ...config.psypact, enabled: false } },
      },
      { codes: ['no-credential', 'compact-disabled'] },
    ],
    // 3. PSYPACT TAP (in person, day limit)
    [
      'TAP: in person with days left',
      { credentials: [lic('NY'), cred('psypact-tap', 'NY')], modality: 'in-person', tapDaysUsed: 10 },
      { basis: 'psypact-tap' },
    ],
    [
      'TAP: the 30th day',
      { credentials: [lic('NY'), cred('psypact-tap', 'NY')], modality: 'in-person', tapDaysUsed: 29 },
      { basis: 'psypact-tap' },
    ],
    [
      'TAP: days used up',
      { credentials: [lic('NY'), cred('psypact-tap', 'NY')], modality: 'in-person', tapDaysUsed: 30 },
      { codes: ['no-credential', 'tap-days-exhausted'] },
    ],
    [
      'TAP: days used unknown',
      { credentials: [lic('NY'), cred('psypact-tap', 'NY')], modality: 'in-person' },
      { codes: ['no-credential', 'tap-days-unknown'] },
    ],
    [
      'TAP: no home license',
      { credentials: [cred('psypact-tap', 'NY')], modality: 'in-person', tapDaysUsed: 0 },
      { codes: ['no-credential', 'no-home-license'] },
    ],
    [
      'TAP does not cover telehealth',
      { credentials: [lic('NY'), cred('psypact-tap', 'NY')], providerState: 'NY', tapDaysUsed: 0 },
      { codes: ['no-credential'] },
    ],
    // 4. Counseling Compact privilege (per remote state, operational states only)
    [
      'privilege for AZ backed by an OH license',
      { credentials: [lic('OH'), cred('counseling-privilege', 'AZ', { homeState: 'OH' })], patientState: 'AZ' },
      { basis: 'counseling-privilege' },
    ],
    [
      'privilege in person too',
      { credentials: [lic('OH'), cred('counseling-privilege', 'AZ', { homeState: 'OH' })], patientState: 'AZ', modality: 'in-person' },
      { basis: 'counseling-privilege' },
    ],
    [
      'privilege for another state',
      { credentials: [lic('OH'), cred('counseling-privilege', 'GA', { homeState: 'OH' })], patientState: 'AZ' },
      { codes: ['no-credential', 'no-credential'] },
    ],
    [
      'privilege where the compact is not operational',
      { credentials: [lic('OH'), cred('counseling-privilege', 'TX', { homeState: 'OH' })], patientState: 'TX' },
      { codes: ['no-credential', 'state-not-member'] },
    ],
    [
      'home state not operational',
      { credentials: [lic('TX'), cred('counseling-privilege', 'AZ', { homeState: 'TX' })], patientState: 'AZ' },
      { codes: ['no-credential', 'state-not-member'] },
    ],
    [
      'privilege without a home state',
      { credentials: [lic('OH'), cred('counseling-privilege', 'AZ')], patientState: 'AZ' },
      { codes: ['no-credential', 'no-home-license'] },
    ],
    [
      'home license encumbered',
      { credentials: [lic('OH', { status: 'encumbered' }), cred('counseling-privilege', 'AZ', { homeState: 'OH' })], patientState: 'AZ' },
      { codes: ['no-credential', 'no-home-license'] },
    ],
    [
      'privilege expired',
      {
        credentials: [lic('OH'), cred('counseling-privilege', 'AZ', { homeState: 'OH', period: { end: '2026-03-01' } })],
        patientState: 'AZ',
      },
      { codes: ['no-credential', 'expired'] },
    ],
    [
      'Counseling Compact disabled',
      {
        credentials: [lic('OH'), cred('counseling-privilege', 'AZ', { homeState: 'OH' })],
        patientState: 'AZ',
        config: { ...config, counselingCompact: { ...config.counselingCompact, enabled: false } },
      },
      { codes: ['no-credential', 'compact-disabled'] },
    ],
    // 5. Social Work compact: present, disabled by default
    [
      'social work multistate license while the compact is disabled',
      { credentials: [cred('social-work-multistate', 'OH')] },
      { codes: ['no-credential', 'compact-disabled'] },
    ],
    [
      'social work compact enabled by a deployment',
      {
        credentials: [cred('social-work-multistate', 'OH')],
        config: { ...config, socialWorkCompact: { enabled: true, members: ['OH', 'NJ'] } },
      },
      { basis: 'social-work-multistate' },
    ],
    [
      'social work: patient state not a member',
      { credentials: [cred('social-work-multistate', 'OH')], config: { ...config, socialWorkCompact: { enabled: true, members: ['OH'] } } },
      { codes: ['no-credential', 'state-not-member'] },
    ],
    // input
    ['patient location not a state code', { credentials: [lic('NJ')], patientState: 'New Jersey' }, { codes: ['invalid-input'] }],
    ['date of service unreadable', { credentials: [lic('NJ')], date: 'March 4' }, { codes: ['invalid-input'] }],
  ];

  it.each(table)('%s', (_name, input, expected) => {
    const decision = checkLicensure({ ...base, ...input });
    if ('basis' in expected) {
      expect(decision).toMatchObject({ allowed: true, basis: expected.basis });
    } else {
      expect(decision.allowed).toBe(false);
      if (decision.allowed) return;
      expect(decision.refusals.map((r) => r.code)).toEqual(expected.codes);
      expect(decision.reason.length).toBeGreaterThan(20);
    }
  });

  it('explains a refusal in one clear sentence', () => {
    const d = checkLicensure({
      ...base,
      credentials: [lic('NJ', { period: { end: '2026-01-31' }, number: 'PSY-1' }), lic('NY'), cred('psypact-apit', 'NY')],
      providerState: 'CA',
    });
    expect(d).toEqual({
      allowed: false,
      reason:
        'No authorization to practice in NJ on 2026-03-04 (telehealth): license: no valid license in NJ: license NJ (PSY-1) expired 2026-01-31; ' +
        'psypact-apit: provider is in CA, not in home state NY',
      refusals: expect.any(Array),
    });
  });

  it('names the credential that allowed it', () => {
    expect(checkLicensure({ ...base, credentials: [lic('NJ', { number: 'PSY-9' })] })).toEqual({
      allowed: true,
      basis: 'license',
      detail: 'license NJ (PSY-9) valid through 2027-12-31',
    });
  });
});

describe('credentialsFromPractitioner', () => {
  const q = (
    kind: string | undefined,
    exts: Record<string, string>,
    extra: Partial<PractitionerQualification> = {},
  ): PractitionerQualification => ({
    ...(Object.keys(exts).length ? { extension: Object.entries(exts).map(([url, valueCode]) => ({ url, valueCode })) } : {}),
    code: kind
      ? { coding: [{ system: CREDENTIAL_KIND_SYSTEM, code: kind }] }
      : { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0360', code: 'PHD' }] },
    ...extra,
  });
  const practitioner: Practitioner = {
    resourceType: 'Practitioner',
    qualification: [
      q(
        'license',
        { [JURISDICTION_EXTENSION]: 'NJ' },
        { identifier: [{ value: 'PSY-1' }], period: { start: '2024-01-01', end: '2027-12-31' } },
      ),
      q('psypact-apit', { [JURISDICTION_EXTENSION]: 'ny', [CREDENTIAL_STATUS_EXTENSION]: 'encumbered' }),
      q('counseling-privilege', { [JURISDICTION_EXTENSION]: 'AZ', [HOME_JURISDICTION_EXTENSION]: 'OH' }),
      q('license', { [JURISDICTION_EXTENSION]: 'PA', [CREDENTIAL_STATUS_EXTENSION]: 'suspended' }),
      q(undefined, {}), // a degree: not a credential
      q('license', {}), // no jurisdiction: unusable
      q('license', { [JURISDICTION_EXTENSION]: 'Texas' }), // not a USPS code
      q('board-certification', { [JURISDICTION_EXTENSION]: 'TX' }), // unknown kind
    ],
  };

  it('the encoding is valid FHIR', () => {
    expect(validateFhirResource(practitioner as Resource).filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('maps kind, state, status, period and number; skips what it cannot read', () => {
    expect(credentialsFromPractitioner(practitioner)).toEqual([
      { kind: 'license', state: 'NJ', status: 'active', period: { start: '2024-01-01', end: '2027-12-31' }, number: 'PSY-1' },
      { kind: 'psypact-apit', state: 'NY', status: 'encumbered' },
      { kind: 'counseling-privilege', state: 'AZ', status: 'active', homeState: 'OH' },
      { kind: 'license', state: 'PA', status: 'inactive' },
    ]);
  });

  it('feeds checkLicensure', () => {
    const credentials = credentialsFromPractitioner(practitioner);
    expect(checkLicensure({ ...base, credentials }).allowed).toBe(true);
    const refused = checkLicensure({ ...base, credentials, patientState: 'PA' });
    expect(refused.allowed ? [] : refused.refusals.map((r) => `${r.path}:${r.code}`)).toEqual([
      'license:inactive',
      'psypact-apit:encumbered',
      'counseling-privilege:no-credential',
    ]);
  });

  it('a Practitioner without qualifications has no credentials', () => {
    expect(credentialsFromPractitioner({ resourceType: 'Practitioner' })).toEqual([]);
  });
});

describe('licensureOverride', () => {
  it.each([
    [
      'a documented reason',
      [{ url: LICENSURE_OVERRIDE_EXTENSION, valueString: '  Patient travelling; emergency continuity per policy 7.2 ' }],
      'Patient travelling; emergency continuity per policy 7.2',
    ],
    ['blank reason', [{ url: LICENSURE_OVERRIDE_EXTENSION, valueString: '   ' }], undefined],
    ['wrong value type', [{ url: LICENSURE_OVERRIDE_EXTENSION, valueCode: 'yes' }], undefined],
    ['another extension', [{ url: 'https://example.org/x', valueString: 'override' }], undefined],
    ['no extensions', undefined, undefined],
  ])('%s', (_name, extension, expected) => {
    expect(licensureOverride({ ...(extension ? { extension } : {}) })).toBe(expected);
  });
});
