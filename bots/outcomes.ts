/**
 * Outcomes bot: each new PHQ-9, PHQ-A or GAD-7 total (a score Observation) is compared with the baseline, the first
 * total of the same instrument in the patient's current episode (since the start of the active CarePlan, or ever
 * without one). It records response (≥ 50 % drop, configurable) and remission (PHQ-9 < 5, GAD-7 < 5) as
 * Observations, and sets `achievementStatus` on the active CarePlan's Goal that measures that total
 * (clinical/outcomes.ts; rules are configuration).
 */
import type { BundleEntry, CarePlan, Goal, Observation } from '@medplum/fhirtypes';
import type { Instrument as InstrumentId } from './clinical/config.ts';
import { achievementStatusConcept, buildOutcomeObservations, evaluateOutcome } from './clinical/outcomes.ts';
import { instruments } from './instruments-registry.ts';
import { defineBot, type BotContext } from './runtime.ts';

/** Identifier system of outcome Observations (value: `<total Observation id>:response|remission`). */
export const OUTCOME_OBSERVATION_SYSTEM = 'https://haven.health/fhir/sid/mbc-outcome-observation';

const TOTAL_CODES = ['44261-6', '89204-2', '70274-6'];

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

export default defineBot({
  id: 'outcomes',
  description: 'Tracks response and remission of PHQ-9, PHQ-A and GAD-7 totals against the baseline, on the care plan Goal',
  mode: 'after-commit',
  triggers: [
    {
      resourceType: 'Observation',
      interactions: ['create', 'update'],
      criteria: `code=${TOTAL_CODES.map((c) => `http://loinc.org|${c}`).join(',')}&status=final,amended`,
    },
  ],
  scopes: ['system/Observation.crus', 'system/CarePlan.rs', 'system/Goal.ru'],
  async handle(event, ctx) {
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
    const plan = await activeCarePlan(ctx, patient);
    const since = plan?.period?.start ? `&date=ge${plan.period.start}` : '';
    const first = (
      await ctx.search<Observation>(
        'Observation',
        `subject=${patient}&code=http://loinc.org|${code}&status=final,amended${since}&_sort=date&_count=1`,
      )
    )[0];
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
      for (const obs of observations) {
        const value = `${total.id}:${obs.code.coding?.[0]?.code}`;
        writes.push({
          request: { method: 'PUT', url: `Observation?identifier=${encodeURIComponent(`${OUTCOME_OBSERVATION_SYSTEM}|${value}`)}` },
          resource: { ...obs, identifier: [{ system: OUTCOME_OBSERVATION_SYSTEM, value }] },
        });
      }
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
