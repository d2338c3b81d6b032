/**
 * Outcomes bot: each new PHQ-9, PHQ-A or GAD-7 total (a score Observation) is compared with the baseline, the first
 * valid total of the same instrument in the patient's current episode (since the start of the active CarePlan, or ever
 * without one). It records response (≥ 50 % drop, configurable) and remission (PHQ-9 < 5, GAD-7 < 5) as
 * Observations, and sets `achievementStatus` on the active CarePlan's Goal that measures that total
 * (clinical/outcomes.ts; rules are configuration).
 *
 * A total that becomes `entered-in-error` (its response was retracted; the score bot writes that) is taken out of the
 * episode and the episode is recomputed from the totals that remain: the outcome Observations derived from the
 * retracted total, and from the new baseline, become `entered-in-error`; those of later totals are rewritten where
 * their value changed (measured against the new baseline); the Goal follows the latest valid total (no valid total
 * left: its achievementStatus is removed).
 */
import type { BundleEntry, CarePlan, Goal, Observation } from '@medplum/fhirtypes';
import type { Instrument as InstrumentId } from './clinical/config.ts';
import {
  achievementStatusConcept,
  buildOutcomeObservations,
  episodeOutcomes,
  evaluateOutcome,
  GOAL_ACHIEVEMENT_SYSTEM,
  MBC_OUTCOME_SYSTEM,
  type AchievementStatus,
} from './clinical/outcomes.ts';
import { instruments } from './instruments-registry.ts';
import { defineBot, type BotContext, type BotOutput } from './runtime.ts';

/** Identifier system of outcome Observations (value: `<total Observation id>:response|remission`). */
export const OUTCOME_OBSERVATION_SYSTEM = 'https://haven.health/fhir/sid/mbc-outcome-observation';

const TOTAL_CODES = ['44261-6', '89204-2', '70274-6'];
const TOTAL_CRITERIA = `code=${TOTAL_CODES.map((c) => `http://loinc.org|${c}`).join(',')}`;

async function activeCarePlan(ctx: BotContext, patient: string): Promise<CarePlan | undefined> {
  return (await ctx.search<CarePlan>('CarePlan', `subject=${patient}&status=active&_sort=-_lastUpdated&_count=1`))[0];
}

/** The Goal of `plan` whose target measures `code` (the instrument's total). */
async function measureGoal(ctx: BotContext, plan: CarePlan, code: string): Promise<Goal | undefined> {
  for (const ref of plan.goal ?? []) {
    const id = ref.reference?.startsWith('Goal/') ? ref.reference.slice('Goal/'.length) : undefined;
    const goal = id ? await ctx.read<Goal>('Goal', id) : undefined;
    if (goal?.target?.some((t) => t.measure?.coding?.some((c) => c.code === code))) return goal;
  }
  return undefined;
}

/** The conditional update of the outcome Observation `code` derived from total `totalId`. */
function outcomeEntry(totalId: string, obs: Observation): BundleEntry {
  const value = `${totalId}:${obs.code.coding?.[0]?.code}`;
  return {
    request: { method: 'PUT', url: `Observation?identifier=${encodeURIComponent(`${OUTCOME_OBSERVATION_SYSTEM}|${value}`)}` },
    resource: { ...obs, identifier: [{ system: OUTCOME_OBSERVATION_SYSTEM, value }] },
  };
}

/** The Goal write that sets (or, with undefined, removes) its achievementStatus; nothing when it already is so. */
function goalEntry(goal: Goal | undefined, status: AchievementStatus | undefined): BundleEntry[] {
  if (!goal?.id) return [];
  const current = goal.achievementStatus?.coding?.find((c) => c.system === GOAL_ACHIEVEMENT_SYSTEM)?.code;
  if (current === status) return [];
  const { achievementStatus: _old, ...rest } = goal;
  return [
    {
      request: { method: 'PUT', url: `Goal/${goal.id}`, ifMatch: `W/"${goal.meta?.versionId}"` },
      resource: status ? { ...rest, achievementStatus: achievementStatusConcept(status) } : rest,
    },
  ];
}

/** The valid totals of the patient's episode, oldest first (retracted and preliminary ones are not results). */
async function episodeTotals(
  ctx: BotContext,
  patient: string,
  code: string,
  plan: CarePlan | undefined,
  count: number,
): Promise<Observation[]> {
  const since = plan?.period?.start ? `&date=ge${plan.period.start}` : '';
  return ctx.search<Observation>(
    'Observation',
    `subject=${patient}&code=http://loinc.org|${code}&status=final,amended${since}&_sort=date&_count=${count}`,
  );
}

/** Recomputes the episode without the retracted total `retracted`. */
async function recompute(
  ctx: BotContext,
  retracted: Observation & { id: string },
  id: InstrumentId,
  code: string,
  patient: string,
): Promise<BotOutput> {
  const plan = await activeCarePlan(ctx, patient);
  const totals = (await episodeTotals(ctx, patient, code, plan, 200)).filter(
    (o): o is Observation & { id: string; valueInteger: number } => o.id !== retracted.id && o.valueInteger !== undefined,
  );
  const episode = episodeOutcomes(
    totals.map((t) => ({ id: t.id, value: t.valueInteger })),
    id,
    ctx.config.outcomes,
  );
  const outcomeCodes = ['response', 'remission'].map((c) => encodeURIComponent(`${MBC_OUTCOME_SYSTEM}|${c}`)).join(',');
  const existing = await ctx.search<Observation>('Observation', `subject=${patient}&code=${outcomeCodes}&_count=500`);
  const keyOf = (o: Observation): string | undefined => o.identifier?.find((i) => i.system === OUTCOME_OBSERVATION_SYSTEM)?.value;
  const byKey = new Map(existing.flatMap((o) => (keyOf(o) ? [[keyOf(o) as string, o] as const] : [])));
  const writes: BundleEntry[] = [];
  // What rested on the retracted total, and what the new baseline had (a baseline has no outcome): retracted.
  for (const totalId of [retracted.id, ...(episode.baseline ? [episode.baseline] : [])]) {
    for (const c of ['response', 'remission']) {
      const obs = byKey.get(`${totalId}:${c}`);
      if (obs && obs.status !== 'entered-in-error') writes.push(outcomeEntry(totalId, { ...obs, status: 'entered-in-error' }));
    }
  }
  // Every later total against the (possibly new) baseline, written where it changed.
  for (const total of totals) {
    const outcome = episode.outcomes.get(total.id);
    if (!outcome) continue;
    const built = buildOutcomeObservations({
      patient,
      instrument: id,
      response: outcome.response,
      remission: outcome.remission,
      focus: `Observation/${total.id}`,
      now: new Date(ctx.now),
      config: ctx.config.outcomes,
    });
    for (const obs of built) {
      const old = byKey.get(`${total.id}:${obs.code.coding?.[0]?.code}`);
      if (old && old.status !== 'entered-in-error' && old.valueBoolean === obs.valueBoolean) continue;
      writes.push(outcomeEntry(total.id, old ? { ...obs, status: 'amended' } : obs));
    }
  }
  const goal = plan ? await measureGoal(ctx, plan, code) : undefined;
  writes.push(...goalEntry(goal, episode.latest));
  return {
    writes,
    summary: `${id}: total entered-in-error, episode recomputed from ${totals.length} valid total(s), ${writes.length} write(s)`,
  };
}

export default defineBot({
  id: 'outcomes',
  description: 'Tracks response and remission of PHQ-9, PHQ-A and GAD-7 totals against the baseline, on the care plan Goal',
  mode: 'after-commit',
  triggers: [
    { resourceType: 'Observation', interactions: ['create', 'update'], criteria: `${TOTAL_CRITERIA}&status=final,amended` },
    { resourceType: 'Observation', interactions: ['update'], criteria: `${TOTAL_CRITERIA}&status=entered-in-error` },
    // A deleted total no longer counts: the episode is recomputed from what remains (the event carries its last version).
    { resourceType: 'Observation', interactions: ['delete'], criteria: TOTAL_CRITERIA },
  ],
  scopes: ['system/Observation.crus', 'system/CarePlan.rs', 'system/Goal.ru'],
  async handle(event, ctx): Promise<BotOutput> {
    const total = event.resource as (Observation & { id: string }) | undefined;
    const code = total?.code.coding?.find((c) => c.system === 'http://loinc.org' && TOTAL_CODES.includes(c.code ?? ''))?.code;
    const instrument = instruments()
      .all()
      .find((i) => i.totalCode?.code === code);
    const patient = total?.subject?.reference;
    if (!total || !code || !instrument || total.valueInteger === undefined || !patient?.startsWith('Patient/'))
      return { summary: 'not a total score' };
    const id = instrument.id as InstrumentId;
    if (!ctx.config.outcomes[id]) return { summary: `${id}: no outcome rule configured` };
    if (event.interaction === 'delete' || total.status === 'entered-in-error') return recompute(ctx, total, id, code, patient);
    const plan = await activeCarePlan(ctx, patient);
    const first = (await episodeTotals(ctx, patient, code, plan, 1))[0];
    const baseline = first && first.id !== total.id ? first.valueInteger : undefined;
    const outcome = evaluateOutcome({
      instrument: id,
      ...(baseline !== undefined ? { baseline } : {}),
      current: total.valueInteger,
      config: ctx.config.outcomes,
    });
    const writes: BundleEntry[] = [];
    if (baseline !== undefined) {
      const observations = buildOutcomeObservations({
        patient,
        instrument: id,
        response: outcome.response,
        remission: outcome.remission,
        focus: `Observation/${total.id}`,
        now: new Date(ctx.now),
        config: ctx.config.outcomes,
      });
      for (const obs of observations) writes.push(outcomeEntry(total.id, obs));
    }
    const goal = plan ? await measureGoal(ctx, plan, code) : undefined;
    if (goal?.id) {
      writes.push({
        request: { method: 'PUT', url: `Goal/${goal.id}`, ifMatch: `W/"${goal.meta?.versionId}"` },
        resource: { ...goal, achievementStatus: achievementStatusConcept(outcome.achievementStatus) },
      });
    }
    return {
      writes,
      summary: `${id}: ${outcome.achievementStatus}${baseline === undefined ? ' (baseline)' : ''}${goal ? ', goal updated' : ''}`,
    };
  },
});
