/**
 * Missed-care bot: when an appointment is marked `noshow`, the patient's no-shows in the configured window
 * (default 2 in 30 days, clinical/missed-care.ts) raise a Task for the care manager: one open Task per patient
 * and finding (a conditional create on its identifier and an open status), owned by the configured care manager
 * or the author of the patient's active CarePlan.
 */
import type { Appointment, CarePlan } from '@medplum/fhirtypes';
import { buildCareManagerTask, missedCareIdentifier, repeatedNoShows } from './clinical/missed-care.ts';
import { defineBot } from './runtime.ts';

const OPEN_TASK = 'requested,received,accepted,ready,in-progress,on-hold';

export default defineBot({
  id: 'missed-care',
  description: 'Raises a care-manager Task after repeated no-shows',
  mode: 'after-commit',
  triggers: [{ resourceType: 'Appointment', interactions: ['create', 'update'], criteria: 'status=noshow' }],
  scopes: ['system/Appointment.rs', 'system/CarePlan.rs', 'system/Task.crs'],
  async handle(event, ctx) {
    const appointment = event.resource as Appointment | undefined;
    const patient = appointment?.participant?.map((p) => p.actor?.reference).find((r) => r?.startsWith('Patient/'));
    if (!appointment || !patient) return { summary: 'no patient on the appointment' };
    const noShows = await ctx.search<Appointment>('Appointment', `patient=${patient}&status=noshow&_count=200`);
    const now = new Date(ctx.now);
    const finding = repeatedNoShows(
      noShows.filter((a) => a.start).map((a) => ({ status: a.status, start: a.start as string, reference: `Appointment/${a.id}` })),
      now,
      ctx.config.missedCare,
    );
    if (!finding) return { summary: `${noShows.length} no-show(s): below the threshold` };
    const plan = (await ctx.search<CarePlan>('CarePlan', `subject=${patient}&status=active&_count=1`))[0];
    const task = buildCareManagerTask({
      patient,
      finding,
      now,
      config: ctx.config.missedCare,
      ...(plan?.id
        ? { carePlan: { reference: `CarePlan/${plan.id}`, ...(plan.author?.reference ? { author: plan.author.reference } : {}) } }
        : {}),
    });
    const id = missedCareIdentifier(patient, finding.kind);
    return {
      writes: [
        {
          request: {
            method: 'POST',
            url: 'Task',
            ifNoneExist: `identifier=${encodeURIComponent(`${id.system}|${id.value}`)}&status=${OPEN_TASK}`,
          },
          resource: task,
        },
      ],
      summary: `${finding.kind}: care-manager task`,
    };
  },
});
