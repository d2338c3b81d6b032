/**
 * What the bots would derive from the demo clinic, computed with the bots' own pure clinical functions, so the
 * demo is complete whether or not a server runs while it is seeded: bots first registered after the seed start
 * after its events (server/src/events/index.ts, "must not raise risk Tasks for last year's questionnaires") and
 * would never see it.
 * - outcomes: response and remission Observations for every total after the first, with the outcomes bot's
 *   identifiers (so a bot that does run updates them instead of adding more), and each measured Goal's status;
 * - Taylor's PHQ-9: its score Observations (the score bot's transaction) and the risk Task, checklist, safety
 *   Flag and 988 notice the risk bot raises for a positive item 9.
 */
import type { Bundle, BundleEntry, Goal, QuestionnaireResponse } from '@medplum/fhirtypes';
import type { ClinicalConfig, Instrument as InstrumentId } from '../../../bots/clinical/config.ts';
import {
  build988Communication,
  buildChecklistTasks,
  buildRiskTask,
  buildSafetyFlag,
  planEscalation,
} from '../../../bots/clinical/escalation.ts';
import {
  achievementStatusConcept,
  buildOutcomeObservations,
  evaluateOutcome,
  type AchievementStatus,
} from '../../../bots/clinical/outcomes.ts';
import { assessRisk } from '../../../bots/clinical/risk.ts';
import { buildScoreTransaction } from '../../../bots/clinical/score-observations.ts';
import { scoreResponse } from '../../../bots/clinical/scoring.ts';
import { instruments } from '../../../bots/instruments-registry.ts';
import { OUTCOME_OBSERVATION_SYSTEM } from '../../../bots/outcomes.ts';

type Json = Record<string, unknown>;

const TOTAL_TO_INSTRUMENT: Readonly<Record<string, InstrumentId>> = { '44261-6': 'phq-9', '70274-6': 'gad-7' };

function totalCode(o: Json): string | undefined {
  return ((o.code as { coding?: { code?: string }[] } | undefined)?.coding ?? [])
    .map((c) => c.code)
    .find((c) => !!c && c in TOTAL_TO_INSTRUMENT);
}

/**
 * Outcome Observations for the totals among `resources` (baseline: each patient's first total of the instrument)
 * and the Goals whose target measures a total, with their achievement status after the last total.
 */
export function demoOutcomes(resources: readonly Json[], config: ClinicalConfig): Json[] {
  const series = new Map<string, Json[]>();
  for (const r of resources) {
    const code = r.resourceType === 'Observation' ? totalCode(r) : undefined;
    if (!code) continue;
    const key = `${(r.subject as { reference: string }).reference}|${code}`;
    series.set(key, [...(series.get(key) ?? []), r]);
  }
  const out: Json[] = [];
  const lastStatus = new Map<string, AchievementStatus>();
  for (const [key, totals] of series) {
    const [patient, code] = key.split('|');
    const instrument = TOTAL_TO_INSTRUMENT[code];
    if (!config.outcomes[instrument]) continue;
    totals.sort((a, b) => String(a.effectiveDateTime).localeCompare(String(b.effectiveDateTime)));
    const baseline = totals[0].valueInteger as number;
    for (const total of totals.slice(1)) {
      const outcome = evaluateOutcome({ instrument, baseline, current: total.valueInteger as number, config: config.outcomes });
      lastStatus.set(key, outcome.achievementStatus);
      const observations = buildOutcomeObservations({
        patient,
        instrument,
        response: outcome.response,
        remission: outcome.remission,
        focus: `Observation/${total.id}`,
        now: new Date(String(total.effectiveDateTime)),
        config: config.outcomes,
      });
      for (const obs of observations) {
        const kind = obs.code.coding?.[0]?.code;
        out.push({
          ...obs,
          id: `${total.id}-${kind}`,
          meta: total.meta,
          identifier: [{ system: OUTCOME_OBSERVATION_SYSTEM, value: `${total.id}:${kind}` }],
        });
      }
    }
  }
  for (const r of resources) {
    if (r.resourceType !== 'Goal') continue;
    const goal = r as unknown as Goal;
    const code = goal.target?.flatMap((t) => t.measure?.coding ?? []).find((c) => c.code && c.code in TOTAL_TO_INSTRUMENT)?.code;
    const status = code ? lastStatus.get(`${goal.subject.reference}|${code}`) : undefined;
    if (status) Object.assign(r, { achievementStatus: achievementStatusConcept(status) });
  }
  return out;
}

/**
 * The score bot's and the risk bot's writes for a completed response, as two transaction Bundles: the score
 * Observations (the score bot's conditional updates, sent on their own because conditional entries need strict
 * isolation, which the router allows for few entries), then the risk Task with its checklist, the safety Flag and
 * the 988 notice under fixed ids (`{qr id}-risk…`), so seeding again updates them. `previousTotal` is the
 * patient's last total before it; `owner` the treating practitioner.
 */
export function demoScreenWrites(qr: Json, opts: { previousTotal?: number; owner: string; now: Date; config: ClinicalConfig }): Bundle[] {
  const response = qr as unknown as QuestionnaireResponse & { id: string };
  const instrument = instruments().find(response.questionnaire ?? '');
  if (!instrument) throw new Error(`demo: unknown instrument ${response.questionnaire}`);
  const result = scoreResponse(instrument, response);
  const scores = buildScoreTransaction(instrument, response, result);
  const assessment = assessRisk(
    {
      instrument: instrument.id as InstrumentId,
      ...(result.total !== undefined ? { total: result.total } : {}),
      ...(opts.previousTotal !== undefined ? { previousTotal: opts.previousTotal } : {}),
      ...(result.safety.item9 ? { item9: result.safety.item9 } : {}),
      missingRequired: [...result.missingRequired],
    },
    opts.config.risk,
  );
  const plan = planEscalation(assessment, opts.config.escalation, opts.now);
  if (!plan.escalate) return [scores];
  const patient = response.subject!.reference!;
  const focus = `QuestionnaireResponse/${response.id}`;
  const owner = plan.onCall ?? opts.owner;
  const base = `${response.id}-risk`;
  const meta = (qr.meta ?? {}) as Json;
  const put = (id: string, resource: Json): BundleEntry => ({
    resource: { ...resource, id, meta } as unknown as BundleEntry['resource'],
    request: { method: 'PUT', url: `${resource.resourceType}/${id}` },
  });
  const entries: BundleEntry[] = [put(base, buildRiskTask({ patient, owner, plan, assessment, focus, now: opts.now }) as unknown as Json)];
  for (const child of buildChecklistTasks({ patient, parent: `Task/${base}`, plan, owner, now: opts.now })) {
    const step = child.code?.coding?.[0]?.code ?? 'step';
    entries.push(put(`${base}-${step}`, child as unknown as Json));
  }
  entries.push(put(`${base}-flag`, buildSafetyFlag({ patient, level: plan.level, now: opts.now, evidence: [focus] }) as unknown as Json));
  if (plan.notifyPatientWith988) {
    entries.push(
      put(`${base}-988`, build988Communication({ patient, now: opts.now, config: opts.config.crisis, about: [focus] }) as unknown as Json),
    );
  }
  return [scores, { resourceType: 'Bundle', type: 'transaction', entry: entries }];
}

/** The last total before `qr` among the demo Observations of the same patient and instrument. */
export function previousTotalOf(resources: readonly Json[], patient: string, code: string): number | undefined {
  const totals = resources
    .filter(
      (r) => r.resourceType === 'Observation' && (r.subject as { reference?: string })?.reference === patient && totalCode(r) === code,
    )
    .sort((a, b) => String(a.effectiveDateTime).localeCompare(String(b.effectiveDateTime)));
  return totals.at(-1)?.valueInteger as number | undefined;
}
