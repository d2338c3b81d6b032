import { describe, expect, it } from 'vitest';
import { defaultBillingConfig, parseBillingConfig, type BillingConfig } from './config.ts';
import { BillingInputError, decideMonth } from './engine.ts';
import type { BillingDecision, MinuteEntry, PatientMonth } from './types.ts';
import defaults from './defaults.json' with { type: 'json' };
import { mergeConfig } from '../../../bots/clinical/config.ts';

const config = defaultBillingConfig();

/** The defaults with `override` deep-merged over them (as HAVEN_BILLING_CONFIG would). */
function configWith(override: unknown): BillingConfig {
  return parseBillingConfig(mergeConfig(structuredClone(defaults), override));
}

const bhcm = (minutes: number, date = '2026-03-10', extra: Partial<MinuteEntry> = {}): MinuteEntry => ({
  date,
  role: 'bhcm',
  activity: 'brief-intervention',
  minutes,
  ...extra,
});

/** A CoCM month in March 2026 that meets every precondition; initial unless `subsequent`. */
function cocm(minutes: number, opts: { subsequent?: boolean } & Partial<PatientMonth> = {}): PatientMonth {
  const { subsequent, ...rest } = opts;
  return {
    month: '2026-03',
    model: 'CoCM',
    minutes: [bhcm(minutes)],
    episode: { priorServiceMonths: subsequent ? ['2026-02'] : [] },
    priorBilling: [],
    consentOnFile: true,
    initiatingVisit: { date: '2025-11-04', type: 'e-m-visit' },
    inRegistry: true,
    psychiatricConsultantReview: true,
    validatedScaleThisMonth: true,
    ...rest,
  };
}

function bhi(model: 'GeneralBHI' | 'G0323', minutes: number, rest: Partial<PatientMonth> = {}): PatientMonth {
  const role = model === 'GeneralBHI' ? 'clinical-staff' : 'clinical-social-worker';
  return cocm(0, { model, minutes: [{ date: '2026-03-05', role, activity: 'care-planning', minutes }], ...rest });
}

/** Billed codes as `CODE` or `CODExN`, in order. */
function codes(d: BillingDecision): string {
  return d.billed.map((l) => (l.units > 1 ? `${l.code}x${l.units}` : l.code)).join(' ');
}

function reasonFor(d: BillingDecision, code: string): string | undefined {
  return d.notBilled.find((n) => n.code === code)?.reason;
}

describe('CoCM rows C1-C8 (clinical.md §2.6), at each boundary and one minute under', () => {
  const rows: [rule: string, subsequent: boolean, minutes: number, expected: string][] = [
    ['C1', false, 0, ''],
    ['C1', false, 15, ''],
    ['C2', false, 16, 'G2214'],
    ['C2', false, 30, 'G2214'],
    ['C2', false, 35, 'G2214'],
    ['C3', false, 36, '99492'],
    ['C3', false, 85, '99492'],
    ['C4', false, 86, '99492 99494'],
    ['C4', false, 115, '99492 99494'],
    ['C4', false, 116, '99492 99494x2'],
    ['C4', false, 145, '99492 99494x2'],
    ['C4', false, 146, '99492 99494x3'],
    ['C5', true, 0, ''],
    ['C5', true, 15, ''],
    ['C6', true, 16, 'G2214'],
    ['C6', true, 30, 'G2214'],
    ['C7', true, 31, '99493'],
    ['C7', true, 75, '99493'],
    ['C8', true, 76, '99493 99494'],
    ['C8', true, 105, '99493 99494'],
    ['C8', true, 106, '99493 99494x2'],
    ['C8', true, 135, '99493 99494x2'],
    ['C8', true, 136, '99493 99494x3'],
  ];
  it.each(rows)('%s: %s subsequent, %i min → "%s"', (rule, subsequent, minutes, expected) => {
    const d = decideMonth(config, cocm(minutes, { subsequent }));
    expect(codes(d)).toBe(expected);
    expect(d.episode?.initialMonth).toBe(!subsequent);
    expect(d.countedMinutes.cocm).toBe(minutes);
    for (const line of d.billed) expect(line.rule).toBe(rule);
    if (expected === '') expect(d.notBilled.filter((n) => n.code === 'G2214')[0].rule).toBe(rule);
    expect(d.reviewItems).toEqual([]);
  });

  it('99494 units follow floor((m − 56) / 30) initially and floor((m − 46) / 30) after, for every minute to 400', () => {
    for (let m = 0; m <= 400; m++) {
      for (const subsequent of [false, true]) {
        const d = decideMonth(config, cocm(m, { subsequent }));
        const units = d.billed.find((l) => l.code === '99494')?.units ?? 0;
        const formula = subsequent ? (m >= 76 ? Math.floor((m - 46) / 30) : 0) : m >= 86 ? Math.floor((m - 56) / 30) : 0;
        expect(units, `${m} min, ${subsequent ? 'subsequent' : 'initial'}`).toBe(formula);
      }
    }
  });

  it('says why each code is not billed', () => {
    const sub12 = decideMonth(config, cocm(12, { subsequent: true }));
    expect(reasonFor(sub12, '99493')).toBe('99493 not billed: 12 of 31 minutes (19 short)');
    expect(reasonFor(sub12, 'G2214')).toBe('G2214 not billed: 12 of 16 minutes (4 short)');
    expect(reasonFor(sub12, '99494')).toBe('99494 not billed: add-on needs 99493');
    expect(reasonFor(sub12, '99492')).toMatch(/^99492 not billed: not the initial month/);
    expect(reasonFor(sub12, '99484')).toBe("99484 not billed: the month's care-management model is CoCM");
    const sub60 = decideMonth(config, cocm(60, { subsequent: true }));
    expect(reasonFor(sub60, '99494')).toBe(
      '99494 not billed: the first unit needs 76 minutes in a subsequent month (60 counted, 16 short)',
    );
    expect(reasonFor(sub60, 'G2214')).toBe('G2214 not billed: 99493 threshold met (60 ≥ 31)');
    const init40 = decideMonth(config, cocm(40));
    expect(reasonFor(init40, '99493')).toMatch(/^99493 not billed: 2026-03 is the initial month of the episode/);
    expect(init40.billed[0]).toMatchObject({
      code: '99492',
      units: 1,
      serviceDate: '2026-03-31',
      reason: '99492: 40 CoCM minutes in the initial month (from 36)',
    });
  });

  it('never bills two of 99492/99493/G2214, never 99494 alone, never a BHI code with CoCM', () => {
    for (let m = 0; m <= 200; m += 1) {
      for (const subsequent of [false, true]) {
        const billed = decideMonth(config, cocm(m, { subsequent })).billed.map((l) => l.code);
        expect(billed.filter((c) => ['99492', '99493', 'G2214'].includes(c)).length).toBeLessThanOrEqual(1);
        if (billed.includes('99494')) expect(billed.some((c) => c === '99492' || c === '99493')).toBe(true);
        expect(billed.filter((c) => c === '99484' || c === 'G0323')).toEqual([]);
        // Every family code is either billed or explained.
        const d = decideMonth(config, cocm(m, { subsequent }));
        for (const code of ['99492', '99493', '99494', 'G2214'])
          expect(billed.includes(code) || d.notBilled.some((n) => n.code === code), `${code} at ${m}`).toBe(true);
      }
    }
  });
});

describe('general BHI and G0323 (rows B0-B3)', () => {
  it.each([
    ['B3', 'GeneralBHI', 19, ''],
    ['B1', 'GeneralBHI', 20, '99484'],
    ['B1', 'GeneralBHI', 95, '99484'],
    ['B3', 'G0323', 19, ''],
    ['B2', 'G0323', 20, 'G0323'],
  ] as const)('%s: %s %i min → "%s"', (rule, model, minutes, expected) => {
    const d = decideMonth(config, bhi(model, minutes));
    expect(codes(d)).toBe(expected);
    const code = model === 'GeneralBHI' ? '99484' : 'G0323';
    if (expected) expect(d.billed[0].rule).toBe(rule);
    else
      expect(d.notBilled.find((n) => n.code === code)).toMatchObject({
        rule,
        reason: `${code} not billed: 19 of at least 20 minutes (1 short; no rounding)`,
      });
  });

  it('counts only the roles of each code: clinical staff for 99484, CP/CSW/MHC/MFT for G0323', () => {
    const staffOnG0323 = bhi('G0323', 0, {
      minutes: [{ date: '2026-03-05', role: 'clinical-staff', activity: 'care-planning', minutes: 30 }],
    });
    expect(codes(decideMonth(config, staffOnG0323))).toBe('');
    const mftOn99484 = bhi('GeneralBHI', 0, {
      minutes: [{ date: '2026-03-05', role: 'marriage-family-therapist', activity: 'coordination', minutes: 30 }],
    });
    expect(codes(decideMonth(config, mftOn99484))).toBe('');
  });

  it("a payer's own 99484 minimum (11) applies only to that payer", () => {
    const c = configWith({ payers: { acme: { generalBhiMinMinutes: 11 } } });
    expect(codes(decideMonth(c, bhi('GeneralBHI', 11, { payer: 'acme' })))).toBe('99484');
    expect(codes(decideMonth(c, bhi('GeneralBHI', 10, { payer: 'acme' })))).toBe('');
    expect(codes(decideMonth(c, bhi('GeneralBHI', 11)))).toBe('');
  });
});

describe('same-month exclusions (§2.5, rows C0 and B0)', () => {
  const billedThisMonth = (code: string) => [{ month: '2026-03', code }];
  it.each([
    ['C0', 'CoCM', '99484'],
    ['C0', 'CoCM', 'G0323'],
    ['B0', 'GeneralBHI', '99493'],
    ['B0', 'GeneralBHI', 'G2214'],
    ['B0', 'GeneralBHI', 'G0323'],
    ['B0', 'G0323', '99484'],
    ['B0', 'G0323', '99492'],
  ] as const)('%s: %s with %s already billed this month → nothing', (rule, model, prior) => {
    const input =
      model === 'CoCM' ? cocm(90, { priorBilling: billedThisMonth(prior) }) : bhi(model, 60, { priorBilling: billedThisMonth(prior) });
    const d = decideMonth(config, input);
    expect(codes(d)).toBe('');
    const own = model === 'CoCM' ? '99492' : model === 'GeneralBHI' ? '99484' : 'G0323';
    expect(d.notBilled.find((n) => n.code === own)).toMatchObject({ rule });
    expect(reasonFor(d, own)).toContain(`${prior} already billed for 2026-03`);
  });

  it('the same code family already billed this month (by another practitioner) is not billed twice', () => {
    const d = decideMonth(config, cocm(50, { subsequent: true, priorBilling: billedThisMonth('99493') }));
    expect(codes(d)).toBe('');
    expect(reasonFor(d, '99493')).toBe('99493 not billed: 99493 already billed for 2026-03');
  });

  it('codes billed in other months do not exclude', () => {
    expect(codes(decideMonth(config, cocm(50, { subsequent: true, priorBilling: [{ month: '2026-02', code: '99484' }] })))).toBe('99493');
  });

  it('a VERIFY pair removed from exclusiveFamilies is allowed (99484 + G0323)', () => {
    const c = configWith({
      exclusiveFamilies: [
        ['cocm', '99484'],
        ['cocm', 'G0323'],
      ],
    });
    expect(codes(decideMonth(c, bhi('G0323', 25, { priorBilling: billedThisMonth('99484') })))).toBe('G0323');
  });
});

describe('month boundaries', () => {
  it('counts only minutes dated in the month; others are listed as excluded', () => {
    const input = cocm(0, {
      subsequent: true,
      minutes: [bhcm(20, '2026-02-28'), bhcm(20, '2026-03-01'), bhcm(11, '2026-03-31'), bhcm(30, '2026-04-01')],
    });
    const d = decideMonth(config, input);
    expect(d.countedMinutes.cocm).toBe(31);
    expect(codes(d)).toBe('99493');
    expect(d.excludedMinutes.map((e) => e.reason)).toEqual(['dated 2026-02-28, outside 2026-03', 'dated 2026-04-01, outside 2026-03']);
  });

  it('one minute fewer on the last day drops 99493 to G2214', () => {
    expect(codes(decideMonth(config, cocm(0, { subsequent: true, minutes: [bhcm(20, '2026-03-01'), bhcm(10, '2026-03-31')] })))).toBe(
      'G2214',
    );
  });

  it('a session dated in another month is not billed in this one', () => {
    const d = decideMonth(config, cocm(0, { model: undefined, psychotherapy: [{ date: '2026-04-01', minutes: 45, withEM: false }] }));
    expect(codes(d)).toBe('');
    expect(reasonFor(d, 'psychotherapy')).toBe('psychotherapy not billed for 2026-03: session dated 2026-04-01');
  });

  it('December to January: the episode continues across the year', () => {
    const d = decideMonth(
      config,
      cocm(40, {
        month: '2027-01',
        minutes: [bhcm(40, '2027-01-15')],
        episode: { priorServiceMonths: ['2026-12'] },
        initiatingVisit: { date: '2026-11-01', type: 'e-m-visit' },
      }),
    );
    expect(codes(d)).toBe('99493');
    expect(d.episode).toMatchObject({ startMonth: '2026-12', initialMonth: false });
  });
});

describe('episodes (§2.3): restart after 6 months without service', () => {
  it.each([
    [['2025-09'], false, '2025-09', '99493'], // Oct..Feb = 5 empty months: same episode
    [['2025-08'], true, '2026-03', '99492'], // Sep..Feb = 6 empty months: new episode
    [['2026-01', '2026-02'], false, '2026-01', '99493'],
    [['2025-01', '2025-09', '2026-02'], false, '2025-09', '99493'], // 2025-01 belongs to an earlier episode (7-month gap)
    [['2026-04'], true, '2026-03', '99492'], // later months are ignored
  ])('prior service %j → initial %s, episode from %s, %s', (prior, initial, start, expected) => {
    const d = decideMonth(config, cocm(40, { episode: { priorServiceMonths: prior } }));
    expect(d.episode).toMatchObject({ initialMonth: initial, startMonth: start });
    expect(codes(d)).toBe(expected);
  });

  it('a referral month starts a new episode: earlier service months belong to the old one', () => {
    const d = decideMonth(config, cocm(40, { episode: { start: '2026-03', priorServiceMonths: ['2026-02'] } }));
    expect(d.episode?.initialMonth).toBe(true);
    expect(codes(d)).toBe('99492');
  });

  it('episodeBreakMonths is configuration', () => {
    const c = configWith({ cocm: { episodeBreakMonths: 3 } });
    expect(decideMonth(c, cocm(40, { episode: { priorServiceMonths: ['2025-11'] } })).episode?.initialMonth).toBe(true);
    expect(decideMonth(c, cocm(40, { episode: { priorServiceMonths: ['2025-12'] } })).episode?.initialMonth).toBe(false);
  });

  it('initialMonthIsFirstEpisodeMonth (VERIFY): default keeps month 2 subsequent after a G2214-only month 1; false keeps it initial', () => {
    const input = cocm(40, { episode: { priorServiceMonths: ['2026-02'] }, priorBilling: [{ month: '2026-02', code: 'G2214' }] });
    expect(codes(decideMonth(config, input))).toBe('99493');
    const c = configWith({ cocm: { initialMonthIsFirstEpisodeMonth: false } });
    expect(codes(decideMonth(c, input))).toBe('99492');
    const after99492 = { ...input, priorBilling: [{ month: '2026-02', code: '99492' }] };
    expect(codes(decideMonth(c, after99492))).toBe('99493');
  });
});

describe('configuration marked VERIFY changes decisions', () => {
  it('g2214UpToInitialThreshold off: 31-35 min in the initial month bill nothing and raise a review item', () => {
    const c = configWith({ cocm: { g2214UpToInitialThreshold: false } });
    expect(codes(decideMonth(c, cocm(30)))).toBe('G2214');
    const d = decideMonth(c, cocm(31));
    expect(codes(d)).toBe('');
    expect(reasonFor(d, 'G2214')).toContain('covers 16-30 minutes, 31 counted');
    expect(d.reviewItems).toHaveLength(1);
  });

  it('max99494Units caps the add-on (nc-medicaid: 4)', () => {
    const d = decideMonth(config, cocm(400, { payer: 'nc-medicaid' }));
    expect(codes(d)).toBe('99492 99494x4');
    expect(d.billed[1].reason).toContain("capped at the payer's 4 units (11 by time)");
    expect(codes(decideMonth(config, cocm(400)))).toBe('99492 99494x11');
  });

  it("countConsultantTime: the psychiatric consultant's minutes count only for payers that say so", () => {
    const minutes: MinuteEntry[] = [
      bhcm(20),
      { date: '2026-03-12', role: 'psychiatric-consultant', activity: 'caseload-consultation', minutes: 20 },
    ];
    const d = decideMonth(config, cocm(0, { subsequent: true, minutes }));
    expect(codes(d)).toBe('G2214');
    expect(d.excludedMinutes[0].reason).toContain("psychiatric consultant's time does not count");
    const c = configWith({ payers: { bcbsm: { countConsultantTime: true } } });
    expect(codes(decideMonth(c, cocm(0, { subsequent: true, minutes, payer: 'bcbsm' })))).toBe('99493');
  });

  it('initialCoCMOncePerCalendarYear: a second 99492 in a year is refused with a review item', () => {
    const c = configWith({ payers: { mi: { initialCoCMOncePerCalendarYear: true } } });
    const input = cocm(50, {
      payer: 'mi',
      episode: { priorServiceMonths: ['2026-01'], start: '2026-03' },
      priorBilling: [{ month: '2026-01', code: '99492' }],
    });
    const d = decideMonth(c, input);
    expect(codes(d)).toBe('');
    expect(reasonFor(d, '99492')).toContain('once per calendar year');
    expect(d.reviewItems).toHaveLength(1);
    expect(codes(decideMonth(config, { ...input, payer: undefined }))).toBe('99492');
  });

  it('allowG2214 false (a payer without G2214)', () => {
    const c = configWith({ payers: { fqhcpayer: { allowG2214: false } } });
    const d = decideMonth(c, cocm(20, { payer: 'fqhcpayer' }));
    expect(codes(d)).toBe('');
    expect(reasonFor(d, 'G2214')).toBe('G2214 not billed: the payer does not accept G2214');
  });

  it('validatedScaleSubsequentMonth: off by default, on requires a scale every month', () => {
    const input = cocm(50, { subsequent: true, validatedScaleThisMonth: false });
    expect(codes(decideMonth(config, input))).toBe('99493');
    const c = configWith({ cocm: { require: { validatedScaleSubsequentMonth: true } } });
    expect(codes(decideMonth(c, input))).toBe('');
  });

  it('G0323 accepts a psychotherapy visit as initiating visit; CoCM does not', () => {
    const visit = { date: '2026-01-10', type: 'psychotherapy' };
    expect(codes(decideMonth(config, bhi('G0323', 25, { initiatingVisit: visit })))).toBe('G0323');
    const d = decideMonth(config, cocm(50, { initiatingVisit: visit }));
    expect(codes(d)).toBe('');
    expect(d.reviewItems).toEqual(['CoCM: visit type "psychotherapy" does not qualify as the initiating visit for CoCM']);
  });
});

describe('preconditions (§2.6): bill nothing and raise a review item', () => {
  it.each([
    [{ consentOnFile: false }, 'no documented beneficiary consent on file'],
    [{ initiatingVisit: undefined }, 'no initiating visit by the billing practitioner on file'],
    [
      { initiatingVisit: { date: '2025-02-28', type: 'e-m-visit' } },
      'initiating visit on 2025-02-28 is not within 12 months before the episode start (2026-03)',
    ],
    [
      { initiatingVisit: { date: '2026-04-01', type: 'e-m-visit' } },
      'initiating visit on 2026-04-01 is not within 12 months before the episode start (2026-03)',
    ],
    [{ inRegistry: false }, 'patient not in the CoCM registry'],
    [{ psychiatricConsultantReview: false }, 'no psychiatric consultant review or weekly caseload consultation documented this month'],
    [{ validatedScaleThisMonth: false }, 'no validated rating scale administered this month (required in the initial month)'],
  ] as [Partial<PatientMonth>, string][])('%j', (patch, message) => {
    const d = decideMonth(config, cocm(90, patch));
    expect(codes(d)).toBe('');
    expect(d.reviewItems).toEqual([`CoCM: ${message}`]);
    expect(reasonFor(d, '99492')).toBe(`99492 not billed: ${message}`);
  });

  it('an initiating visit exactly 12 months before the episode start qualifies', () => {
    expect(codes(decideMonth(config, cocm(40, { initiatingVisit: { date: '2025-03-01', type: 'annual-wellness-visit' } })))).toBe('99492');
  });

  it('psychotherapy is billed even when care-management preconditions fail', () => {
    const d = decideMonth(config, cocm(90, { consentOnFile: false, psychotherapy: [{ date: '2026-03-03', minutes: 40, withEM: false }] }));
    expect(codes(d)).toBe('90834');
  });

  it('FQHC/RHC months are outside the table: review item, nothing billed', () => {
    const d = decideMonth(config, cocm(90, { setting: 'fqhc' }));
    expect(codes(d)).toBe('');
    expect(d.reviewItems[0]).toContain('FQHC');
  });
});

describe('minutes that never count (§2.2)', () => {
  it.each([
    [{ separatelyBilled: true }, 'used for a separately billed service'],
    [{ patientInpatient: true }, 'patient inpatient or in observation status'],
    [{ activity: 'psychotherapy' }, 'activity "psychotherapy" is a separately reported service'],
  ] as [Partial<MinuteEntry>, string][])('%j', (extra, reason) => {
    const d = decideMonth(config, cocm(0, { subsequent: true, minutes: [bhcm(31), bhcm(40, '2026-03-11', extra)] }));
    expect(d.countedMinutes.cocm).toBe(31);
    expect(d.excludedMinutes).toEqual([{ source: undefined, minutes: 40, reason }]);
    expect(codes(d)).toBe('99493');
  });

  it('the treating practitioner doing BHCM work counts for CoCM', () => {
    const d = decideMonth(config, cocm(0, { subsequent: true, minutes: [bhcm(20), { ...bhcm(11), role: 'treating-practitioner' }] }));
    expect(codes(d)).toBe('99493');
  });
});

describe('psychotherapy (P1-P3), group (90853), interactive complexity (+90785)', () => {
  const session = (minutes: number, withEM = false, extra = {}) =>
    cocm(0, { model: undefined, psychotherapy: [{ source: 'Encounter/s1', date: '2026-03-09', minutes, withEM, ...extra }] });
  it.each([
    [15, false, '', 'P1'],
    [16, false, '90832', 'P2'],
    [37, false, '90832', 'P2'],
    [38, false, '90834', 'P2'],
    [52, false, '90834', 'P2'],
    [53, false, '90837', 'P2'],
    [90, false, '90837', 'P2'],
    [15, true, '', 'P1'],
    [16, true, '90833', 'P2'],
    [37, true, '90833', 'P2'],
    [38, true, '90836', 'P2'],
    [52, true, '90836', 'P2'],
    [53, true, '90838', 'P2'],
  ] as const)('%i min, with E/M %s → "%s" (%s)', (minutes, withEM, expected, rule) => {
    const d = decideMonth(config, session(minutes, withEM));
    expect(codes(d)).toBe(expected);
    if (expected) expect(d.billed[0]).toMatchObject({ rule, source: 'Encounter/s1', serviceDate: '2026-03-09' });
    else
      expect(d.notBilled[0]).toMatchObject({
        rule,
        reason: expect.stringContaining(`${minutes} face-to-face minutes, under the 16 needed`),
      });
  });

  it('the standalone and with-E/M codes are never billed for the same session', () => {
    for (let m = 0; m <= 120; m++) {
      for (const withEM of [false, true]) {
        const billed = decideMonth(config, session(m, withEM)).billed.map((l) => l.code);
        expect(billed.length).toBeLessThanOrEqual(1);
        if (billed.length) expect(['90833', '90836', '90838'].includes(billed[0])).toBe(withEM);
      }
    }
  });

  it('+90785 with a qualifying factor; not with 90839/90840/90846/90847; never for translation alone; not without a primary', () => {
    expect(codes(decideMonth(config, session(45, false, { complexityFactors: ['caregiver-interference'] })))).toBe('90834 90785');
    for (const other of ['90839', '90840', '90846', '90847']) {
      const d = decideMonth(config, session(45, false, { complexityFactors: ['sentinel-event'], otherCodes: [other] }));
      expect(codes(d)).toBe('90834');
      expect(reasonFor(d, '90785')).toBe(`90785 not billed: never with ${other} in the same session`);
    }
    const translation = decideMonth(config, session(45, false, { complexityFactors: ['translation-only'] }));
    expect(codes(translation)).toBe('90834');
    expect(reasonFor(translation, '90785')).toContain('translation or interpretation alone never qualifies');
    const short = decideMonth(config, session(10, false, { complexityFactors: ['sentinel-event'] }));
    expect(reasonFor(short, '90785')).toBe('90785 not billed: add-on without a billed primary service');
  });

  it('group psychotherapy: 90853 per session, +90785, and the configured group-size cap', () => {
    const group = (participants: number, factors: string[] = []) =>
      cocm(0, {
        model: undefined,
        groupSessions: [
          { date: '2026-03-02', participants, complexityFactors: factors },
          { date: '2026-03-09', participants },
        ],
      });
    expect(codes(decideMonth(config, group(20, ['maladaptive-communication'])))).toBe('90853 90785 90853');
    const capped = configWith({ group: { maxParticipants: 12 } });
    expect(codes(decideMonth(capped, group(12)))).toBe('90853 90853');
    const d = decideMonth(capped, group(13));
    expect(codes(d)).toBe('');
    expect(d.reviewItems).toHaveLength(2);
  });

  it('+90785 with a 90791/90792 evaluation billed elsewhere', () => {
    const d = decideMonth(
      config,
      cocm(0, {
        model: undefined,
        evaluations: [{ date: '2026-03-02', code: '90791', complexityFactors: ['play-equipment-or-interpreter'] }],
      }),
    );
    expect(d.billed).toEqual([expect.objectContaining({ code: '90785', reason: expect.stringContaining('with 90791') })]);
  });

  it('CoCM and psychotherapy in the same month are both billed; psychotherapy minutes logged as care management do not count', () => {
    const input = cocm(0, {
      subsequent: true,
      minutes: [bhcm(35), bhcm(45, '2026-03-09', { activity: 'psychotherapy' })],
      psychotherapy: [{ date: '2026-03-09', minutes: 45, withEM: false }],
    });
    expect(codes(decideMonth(config, input))).toBe('99493 90834');
  });
});

describe('bad input', () => {
  it('throws BillingInputError listing every problem', () => {
    const input = cocm(10, { month: '2026-13', minutes: [bhcm(-5, '2026-02-30')] });
    expect(() => decideMonth(config, input)).toThrow(BillingInputError);
    try {
      decideMonth(config, input);
    } catch (err) {
      expect((err as BillingInputError).problems).toEqual([
        'month must be YYYY-MM, got "2026-13"',
        'minutes[0].date must be YYYY-MM-DD',
        'minutes[0].minutes must be a whole number 0-1440',
      ]);
    }
  });

  it('an unknown payer profile uses the default rules and says so', () => {
    const d = decideMonth(config, cocm(40, { payer: 'nobody' }));
    expect(d.payer).toBe('default');
    expect(d.reviewItems).toEqual(['payer profile "nobody" is not configured; default rules applied']);
  });
});
