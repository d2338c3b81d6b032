/**
 * Psychotherapy (90832/90834/90837 or the E/M add-ons 90833/90836/90838), group psychotherapy (90853) and the
 * interactive-complexity add-on (+90785): clinical.md §2.1 and §2.6 rows P1-P3. Pure, one session at a time.
 */
import type { BillingConfig } from './config.ts';
import type { BilledLine, EvaluationVisit, GroupSession, NotBilledCode, PsychotherapySession } from './types.ts';

/** Lines and refusals of one session. */
export interface SessionResult {
  readonly billed: BilledLine[];
  readonly notBilled: NotBilledCode[];
  readonly reviewItems: string[];
}

function empty(): SessionResult {
  return { billed: [], notBilled: [], reviewItems: [] };
}

/** +90785 for a session whose primary service is `primary`, or the reason it is not added (P3). */
function interactiveComplexity(
  config: BillingConfig,
  session: {
    readonly source?: string;
    readonly date: string;
    readonly complexityFactors?: readonly string[];
    readonly otherCodes?: readonly string[];
  },
  primary: string,
  out: SessionResult,
): void {
  const factors = session.complexityFactors ?? [];
  if (factors.length === 0) return;
  const qualifying = factors.filter((f) => config.interactiveComplexity.qualifyingFactors.includes(f));
  const at = { source: session.source, rule: 'P3' };
  if (qualifying.length === 0) {
    out.notBilled.push({
      ...at,
      code: '90785',
      reason: `90785 not billed: no qualifying interactive-complexity factor (${factors.join(', ')}; translation or interpretation alone never qualifies)`,
    });
    return;
  }
  const conflict = (session.otherCodes ?? []).filter((c) => config.interactiveComplexity.notWith.includes(c));
  if (conflict.length > 0) {
    out.notBilled.push({ ...at, code: '90785', reason: `90785 not billed: never with ${conflict.join(', ')} in the same session` });
    return;
  }
  out.billed.push({
    ...at,
    code: '90785',
    units: 1,
    serviceDate: session.date,
    reason: `+90785 with ${primary}: interactive complexity (${qualifying.join(', ')})`,
  });
}

/** One individual psychotherapy session: P1 (under the lowest band) or P2, then P3. */
export function psychotherapySession(config: BillingConfig, s: PsychotherapySession): SessionResult {
  const out = empty();
  const bands = config.psychotherapy.bands;
  const band = [...bands].reverse().find((b) => s.minutes >= b.minMinutes);
  const family = bands.map((b) => (s.withEM ? b.withEM : b.code)).join('/');
  if (!band) {
    out.notBilled.push({
      source: s.source,
      rule: 'P1',
      code: family,
      reason: `${family} not billed: ${s.minutes} face-to-face minutes, under the ${bands[0].minMinutes} needed for ${s.withEM ? bands[0].withEM : bands[0].code}`,
    });
    if ((s.complexityFactors ?? []).length > 0)
      out.notBilled.push({
        source: s.source,
        rule: 'P3',
        code: '90785',
        reason: '90785 not billed: add-on without a billed primary service',
      });
    return out;
  }
  const code = s.withEM ? band.withEM : band.code;
  const next = bands[bands.indexOf(band) + 1];
  const range = next ? `${band.minMinutes}-${next.minMinutes - 1}` : `≥ ${band.minMinutes}`;
  const why = s.withEM ? `, with an E/M the same encounter (add-on to the E/M, not ${band.code})` : '';
  out.billed.push({
    source: s.source,
    rule: 'P2',
    code,
    units: 1,
    serviceDate: s.date,
    reason: `${code}: ${s.minutes} face-to-face minutes (${range})${why}`,
  });
  interactiveComplexity(config, s, code, out);
  return out;
}

/** One group session: 90853 per patient (group-size cap when configured), then P3. */
export function groupSession(config: BillingConfig, s: GroupSession): SessionResult {
  const out = empty();
  const cap = config.group.maxParticipants;
  if (cap !== null && s.participants !== undefined && s.participants > cap) {
    out.notBilled.push({
      source: s.source,
      rule: 'G1',
      code: '90853',
      reason: `90853 not billed: ${s.participants} participants, above the payer limit of ${cap}`,
    });
    out.reviewItems.push(`Group session on ${s.date}: ${s.participants} participants exceed the configured limit of ${cap}`);
    return out;
  }
  out.billed.push({
    source: s.source,
    rule: 'G1',
    code: '90853',
    units: 1,
    serviceDate: s.date,
    reason: '90853: group psychotherapy, billed per patient',
  });
  interactiveComplexity(config, s, '90853', out);
  return out;
}

/** A 90791/90792 evaluation billed elsewhere: only its +90785 is decided (P3). */
export function evaluationVisit(config: BillingConfig, v: EvaluationVisit): SessionResult {
  const out = empty();
  interactiveComplexity(config, v, v.code, out);
  return out;
}
