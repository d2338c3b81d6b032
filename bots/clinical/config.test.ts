import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS_PATH, defaultClinicalConfig, fallbackOwnerFor, loadClinicalConfig, mergeConfig, parseClinicalConfig } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'haven-bot-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rawDefaults = (): Record<string, any> => JSON.parse(readFileSync(DEFAULTS_PATH, 'utf8'));

function writeOverride(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('defaults', () => {
  it('parse, and carry the documented values', () => {
    const c = defaultClinicalConfig();
    expect(c.risk.item9Tiers).toEqual([
      { minOrdinal: 1, level: 'low' },
      { minOrdinal: 2, level: 'moderate' },
    ]);
    expect(c.risk.severeTotal['phq-9']).toEqual({ atLeast: 20, level: 'moderate' });
    expect(c.escalation.priority).toEqual({ review: 'urgent', low: 'urgent', moderate: 'asap', high: 'stat' });
    expect(c.outcomes['gad-7']?.responseDropFraction).toBe(0.5);
    expect(c.missedCare.noShows).toEqual({ count: 2, windowDays: 30 });
    expect(c.licensure.counselingCompact.operational).toEqual(['AZ', 'GA', 'LA', 'MN', 'OH']);
    expect(c.licensure.psypact.members).toEqual([]);
    expect(c.licensure.socialWorkCompact.enabled).toBe(false);
  });

  it('drop note keys from the typed result', () => {
    expect(Object.keys(defaultClinicalConfig().risk)).not.toContain('_verify');
  });

  it('mark the unverified facts VERIFY in the JSON', () => {
    const raw = rawDefaults();
    for (const note of [
      raw.risk._verify,
      raw.outcomes['gad-7']._verify,
      raw.licensure.psypact._verify,
      raw.licensure.counselingCompact._verify,
    ]) {
      expect(note).toMatch(/^VERIFY: /);
    }
  });

  it('the 988 message names the facts of clinical.md §4.1 and never "press 3"', () => {
    const m = defaultClinicalConfig().crisis.patientMessage;
    for (const fact of ['call or text 988', '988lifeline.org', 'press 1', 'press 2']) expect(m).toContain(fact);
    expect(m).not.toMatch(/press 3/i);
  });

  it('loadClinicalConfig without HAVEN_BOT_CONFIG equals the defaults', () => {
    expect(loadClinicalConfig({})).toEqual(defaultClinicalConfig());
  });
});

describe('risk Task owners (escalation.fallbackOwner, escalation.tenants)', () => {
  it('ship unset (required per deployment), with the on-call role as performerType', () => {
    const c = defaultClinicalConfig();
    expect(c.escalation.fallbackOwner).toBeUndefined();
    expect(c.escalation.tenants).toEqual({});
    expect(c.escalation.performerType).toEqual({
      system: 'https://haven.health/fhir/CodeSystem/care-role',
      code: 'on-call-clinician',
      display: 'On-call clinician for suicide risk',
    });
    expect(rawDefaults().escalation._owner).toMatch(/REQUIRED/);
  });

  it.each([
    ['global only', { fallbackOwner: 'Organization/clinic' }, 'acme', 'Organization/clinic'],
    [
      'tenant setting wins',
      { fallbackOwner: 'Organization/clinic', tenants: { acme: { fallbackOwner: 'CareTeam/duty' } } },
      'acme',
      'CareTeam/duty',
    ],
    [
      'another tenant falls back to the global one',
      { fallbackOwner: 'Organization/clinic', tenants: { acme: { fallbackOwner: 'CareTeam/duty' } } },
      'beta',
      'Organization/clinic',
    ],
    ['tenant only', { tenants: { acme: { fallbackOwner: 'PractitionerRole/r' } } }, 'default', undefined],
    ['a tenant named like an Object property', { tenants: {} }, 'constructor', undefined],
  ])('fallbackOwnerFor: %s', (_name, escalation, tenant, expected) => {
    const c = loadClinicalConfig({ HAVEN_BOT_CONFIG: writeOverride(`owner-${tenant}.json`, { escalation }) });
    expect(fallbackOwnerFor(c.escalation, tenant)).toBe(expected);
  });
});

describe('mergeConfig', () => {
  it.each([
    ['objects merge key by key', { a: { b: 1, c: 2 } }, { a: { c: 3 } }, { a: { b: 1, c: 3 } }],
    ['arrays replace', { a: [1, 2] }, { a: [3] }, { a: [3] }],
    ['null removes a key', { a: 1, b: 2 }, { b: null }, { a: 1 }],
    ['new keys are added', { a: 1 }, { b: { c: 1 } }, { a: 1, b: { c: 1 } }],
  ])('%s', (_name, base, override, expected) => {
    expect(mergeConfig(base, override)).toEqual(expected);
  });
});

describe('HAVEN_BOT_CONFIG override', () => {
  it('is deep-merged over the defaults', () => {
    const path = writeOverride('ok.json', {
      escalation: { dueMinutes: { high: { contact: 5 } }, onCall: { fallback: 'Practitioner/oncall' } },
      licensure: { psypact: { members: ['AZ', 'CO'] } },
      missedCare: { careManager: 'Practitioner/cm' },
    });
    const c = loadClinicalConfig({ HAVEN_BOT_CONFIG: path });
    expect(c.escalation.dueMinutes.high).toEqual({ contact: 5, response: 60, 'follow-up': 1440 });
    expect(c.escalation.dueMinutes.moderate.contact).toBe(120);
    expect(c.escalation.onCall.fallback).toBe('Practitioner/oncall');
    expect(c.licensure.psypact.members).toEqual(['AZ', 'CO']);
    expect(c.licensure.psypact.tapDaysPerYear).toBe(30);
    expect(c.missedCare.careManager).toBe('Practitioner/cm');
  });

  it('refuses a __proto__ key (prototype swap)', () => {
    const path = writeOverride('proto.json', '{ "risk": { "__proto__": { "x": 1 } } }');
    expect(() => loadClinicalConfig({ HAVEN_BOT_CONFIG: path })).toThrow(/__proto__/);
  });

  it('names the file when it cannot be read or parsed', () => {
    expect(() => loadClinicalConfig({ HAVEN_BOT_CONFIG: join(dir, 'missing.json') })).toThrow(/HAVEN_BOT_CONFIG/);
    expect(() => loadClinicalConfig({ HAVEN_BOT_CONFIG: writeOverride('bad.json', '{ nope') })).toThrow(/HAVEN_BOT_CONFIG.*not valid JSON/);
  });

  it('rejects an invalid override, naming the key', () => {
    const path = writeOverride('invalid.json', { escalation: { priority: { high: 'now' } } });
    expect(() => loadClinicalConfig({ HAVEN_BOT_CONFIG: path })).toThrow('"escalation.priority.high"');
  });
});

describe('invalid configuration throws an Error naming the bad key', () => {
  const cases: [string, (c: Record<string, any>) => void, string][] = [
    [
      'unknown key (a typo)',
      (c) => {
        c.risk.item9Tier = [];
      },
      'risk.item9Tier',
    ],
    [
      'unknown top-level key',
      (c) => {
        c.risks = {};
      },
      'config.risks',
    ],
    [
      'missing section',
      (c) => {
        delete c.crisis;
      },
      '"crisis"',
    ],
    [
      'item 9 tier ordinal out of range',
      (c) => {
        c.risk.item9Tiers[1].minOrdinal = 4;
      },
      'risk.item9Tiers[1].minOrdinal',
    ],
    [
      'unknown level',
      (c) => {
        c.risk.severeTotal['phq-9'].level = 'severe';
      },
      'risk.severeTotal.phq-9.level',
    ],
    [
      'item 9 unanswered may not be none',
      (c) => {
        c.risk.item9UnansweredLevel = 'none';
      },
      'risk.item9UnansweredLevel',
    ],
    [
      'unknown instrument',
      (c) => {
        c.risk.scoreRise['phq-10'] = { points: 5, level: 'low' };
      },
      'risk.scoreRise.phq-10',
    ],
    [
      'score rise of 0 points',
      (c) => {
        c.risk.scoreRise['gad-7'].points = 0;
      },
      'risk.scoreRise.gad-7.points',
    ],
    [
      'bad priority',
      (c) => {
        c.escalation.priority.low = 'soon';
      },
      'escalation.priority.low',
    ],
    [
      'missing level in priority',
      (c) => {
        delete c.escalation.priority.review;
      },
      'escalation.priority.review',
    ],
    [
      'negative minutes',
      (c) => {
        c.escalation.dueMinutes.low.contact = -1;
      },
      'escalation.dueMinutes.low.contact',
    ],
    [
      'response due before contact',
      (c) => {
        c.escalation.dueMinutes.high.response = 10;
      },
      'escalation.dueMinutes.high.response',
    ],
    [
      'follow-up due before response',
      (c) => {
        c.escalation.dueMinutes.moderate['follow-up'] = 100;
      },
      'escalation.dueMinutes.moderate.follow-up',
    ],
    [
      '988 flag not boolean',
      (c) => {
        c.escalation.notifyPatientWith988.high = 'yes';
      },
      'escalation.notifyPatientWith988.high',
    ],
    [
      'bad on-call reference',
      (c) => {
        c.escalation.onCall.entries = [{ practitioner: 'Dr Smith' }];
      },
      'escalation.onCall.entries[0].practitioner',
    ],
    [
      'bad on-call time',
      (c) => {
        c.escalation.onCall.entries = [{ practitioner: 'Practitioner/a', from: '25:00' }];
      },
      'escalation.onCall.entries[0].from',
    ],
    [
      'bad on-call day',
      (c) => {
        c.escalation.onCall.entries = [{ practitioner: 'Practitioner/a', days: [7] }];
      },
      'escalation.onCall.entries[0].days[0]',
    ],
    [
      'bad time zone',
      (c) => {
        c.escalation.onCall.timezone = 'Mars/Olympus';
      },
      'escalation.onCall.timezone',
    ],
    [
      '988 message with press 3',
      (c) => {
        c.crisis.patientMessage += ' LGBTQ+ youth: press 3.';
      },
      'crisis.patientMessage',
    ],
    [
      '988 message without 988',
      (c) => {
        c.crisis.patientMessage = 'Call your doctor.';
      },
      'crisis.patientMessage',
    ],
    [
      'response fraction above 1',
      (c) => {
        c.outcomes['gad-7'].responseDropFraction = 1.5;
      },
      'outcomes.gad-7.responseDropFraction',
    ],
    [
      'outcome panel without code',
      (c) => {
        delete c.outcomes['phq-9'].panel.code;
      },
      'outcomes.phq-9.panel.code',
    ],
    [
      'no-show count 0',
      (c) => {
        c.missedCare.noShows.count = 0;
      },
      'missedCare.noShows.count',
    ],
    [
      'care manager not a reference',
      (c) => {
        c.missedCare.careManager = 'Jane';
      },
      'missedCare.careManager',
    ],
    [
      'fallback owner not a reference',
      (c) => {
        c.escalation.fallbackOwner = 'Dr Smith';
      },
      'escalation.fallbackOwner',
    ],
    [
      'fallback owner of a type that cannot own a Task here',
      (c) => {
        c.escalation.fallbackOwner = 'Patient/p1';
      },
      'escalation.fallbackOwner',
    ],
    [
      'tenant settings not an object',
      (c) => {
        c.escalation.tenants = ['acme'];
      },
      'escalation.tenants',
    ],
    [
      'tenant id not a tenant id',
      (c) => {
        c.escalation.tenants = { ACME: { fallbackOwner: 'Practitioner/a' } };
      },
      'escalation.tenants.ACME',
    ],
    [
      'unknown tenant setting (a typo)',
      (c) => {
        c.escalation.tenants = { acme: { fallbackOwnr: 'Practitioner/a' } };
      },
      'escalation.tenants.acme.fallbackOwnr',
    ],
    [
      'tenant fallback not a reference',
      (c) => {
        c.escalation.tenants = { acme: { fallbackOwner: 'duty desk' } };
      },
      'escalation.tenants.acme.fallbackOwner',
    ],
    [
      'performerType without a code',
      (c) => {
        delete c.escalation.performerType.code;
      },
      'escalation.performerType.code',
    ],
    [
      'not a state',
      (c) => {
        c.licensure.psypact.members = ['AZ', 'XX'];
      },
      'licensure.psypact.members[1]',
    ],
    [
      'lower-case state',
      (c) => {
        c.licensure.counselingCompact.operational = ['az'];
      },
      'licensure.counselingCompact.operational[0]',
    ],
    [
      'enabled not boolean',
      (c) => {
        c.licensure.socialWorkCompact.enabled = 'no';
      },
      'licensure.socialWorkCompact.enabled',
    ],
  ];
  it.each(cases)('%s', (_name, mutate, key) => {
    const raw = rawDefaults();
    mutate(raw);
    expect(() => parseClinicalConfig(raw)).toThrow(key);
  });

  it('accepts notes (keys starting with _) anywhere', () => {
    const raw = rawDefaults();
    raw.escalation.priority._why = 'policy 12';
    expect(() => parseClinicalConfig(raw)).not.toThrow();
  });
});
