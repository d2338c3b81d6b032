/**
 * No-contact bot (scheduled, daily): an active care plan whose patient had no contact (a visit or a message)
 * for more than the configured days (default 30, clinical/missed-care.ts) gets a Task for the care manager: one
 * open Task per patient (a conditional create on its identifier and an open status). Nothing is written about
 * plans that are fine.
 */
import type { BundleEntry, CarePlan, Communication, Encounter } from '@medplum/fhirtypes';
import { buildCareManagerTask, carePlanWithoutContact, missedCareIdentifier } from './clinical/missed-care.ts';
import { defineBot } from './runtime.ts';

const OPEN_TASK = 'requested,received,accepted,ready,in-progress,on-hold';
/** Care plans examined per run; a larger practice is covered over the following runs (oldest update first). */
const PLANS_PER_RUN = 500;

export default defineBot({
  id: 'no-contact',
  description: 'Raises a care-manager Task for active care plans without contact for N days',
  mode: 'scheduled',
  everyMinutes: 24 * 60,
  timeoutMs: 120_000,
  scopes: ['system/CarePlan.rs', 'system/Encounter.rs', 'system/Communication.rs', 'system/Task.crs'],
  async handle(_tick, ctx) {
    const now = new Date(ctx.now);
    const plans = await ctx.search<CarePlan>('CarePlan', `status=active&_sort=_lastUpdated&_count=${PLANS_PER_RUN}`);
    const writes: BundleEntry[] = [];
    const seen = new Set<string>();
    for (const plan of plans) {
      const patient = plan.subject?.reference;
      if (!patient?.startsWith('Patient/') || seen.has(patient)) continue;
      seen.add(patient);
      const visit = (
        await ctx.search<Encounter>('Encounter', `subject=${patient}&status=finished,in-progress,arrived&_sort=-date&_count=1`)
      )[0];
      const message = (await ctx.search<Communication>('Communication', `subject=${patient}&_sort=-sent&_count=1`))[0];
      const last = [visit?.period?.end ?? visit?.period?.start, message?.sent]
        .filter((d): d is string => !!d)
        .sort()
        .at(-1);
      const finding = carePlanWithoutContact({
        carePlan: plan,
        ...(last ? { lastContact: last } : {}),
        now,
        config: ctx.config.missedCare,
      });
      if (!finding) continue;
      const id = missedCareIdentifier(patient, finding.kind);
      writes.push({
        request: {
          method: 'POST',
          url: 'Task',
          ifNoneExist: `identifier=${encodeURIComponent(`${id.system}|${id.value}`)}&status=${OPEN_TASK}`,
        },
        resource: buildCareManagerTask({
          patient,
          finding,
          now,
          config: ctx.config.missedCare,
          carePlan: { reference: `CarePlan/${plan.id}`, ...(plan.author?.reference ? { author: plan.author.reference } : {}) },
        }),
      });
    }
    return { writes, summary: `${seen.size} patient(s) with active plans, ${writes.length} without recent contact` };
  },
});
