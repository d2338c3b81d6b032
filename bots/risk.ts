/**
 * Risk bot: every completed or amended response to a known instrument is assessed for suicide risk
 * (clinical/risk.ts: PHQ-9/PHQ-A item 9, C-SSRS tiers, severe totals, a rise since the last score; a missing or
 * declined item 9 is never read as 0). When the assessment escalates (clinical/escalation.ts):
 * - one open risk Task per patient and episode: created (owner: the on-call clinician, priority by level, with the
 *   contact → response → follow-up checklist as child Tasks due per configuration), or raised, or given the new
 *   evidence as a note, each a recorded version of the Task;
 * - a safety Flag on the patient (created, or its level raised);
 * - where configured, a Communication recording that the patient was given the 988 crisis resources.
 * The bot reads the response itself (not the score Observations), so the Task exists as fast as the score does.
 */
import type { BundleEntry, Flag, Observation, Patient, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { riskRank, type BotConfig, type Instrument as InstrumentId } from './clinical/config.ts';
import {
  build988Communication,
  buildChecklistTasks,
  buildRiskTask,
  buildSafetyFlag,
  decideRiskTaskAction,
  planEscalation,
  HAVEN_FLAG_SYSTEM,
  riskInputs,
  riskTaskIdentifier,
  riskTaskState,
  RISK_LEVEL_EXTENSION,
  type ActiveEscalation,
} from './clinical/escalation.ts';
import { assessRisk, type RiskAssessment } from './clinical/risk.ts';
import { scoreResponse } from './clinical/scoring.ts';
import { instruments } from './instruments-registry.ts';
import { defineBot, type BotContext } from './runtime.ts';

const OPEN_TASK = 'requested,received,accepted,ready,in-progress,on-hold';

/** The previous total of the same instrument for the patient, from another response. */
async function previousTotal(ctx: BotContext, patient: string, totalCode: string, qrId: string): Promise<number | undefined> {
  const prior = await ctx.search<Observation>('Observation', `subject=${patient}&code=http://loinc.org|${totalCode}&_sort=-date&_count=5`);
  const other = prior.find(
    (o) => !o.derivedFrom?.some((d) => d.reference === `QuestionnaireResponse/${qrId}`) && o.valueInteger !== undefined,
  );
  return other?.valueInteger;
}

/** The patient's treating practitioner (first Practitioner or PractitionerRole in generalPractitioner). */
async function treatingPractitioner(ctx: BotContext, patient: string): Promise<string | undefined> {
  const p = await ctx.read<Patient>('Patient', patient.slice('Patient/'.length));
  return p?.generalPractitioner?.map((g) => g.reference).find((r) => /^(Practitioner|PractitionerRole)\//.test(r ?? ''));
}

/** Writes for a new escalation, or for raising / appending to the open Task. */
async function escalate(
  ctx: BotContext,
  qr: QuestionnaireResponse & { id: string },
  plan: ActiveEscalation,
  assessment: RiskAssessment,
  config: BotConfig,
): Promise<{ writes: BundleEntry[]; action: string }> {
  const patient = qr.subject?.reference as string;
  const encounter = qr.encounter?.reference;
  const now = new Date(ctx.now);
  const focus = `QuestionnaireResponse/${qr.id}`;
  const identifier = riskTaskIdentifier(patient, encounter);
  const open = (
    await ctx.search<Task>(
      'Task',
      `identifier=${encodeURIComponent(`${identifier.system}|${identifier.value}`)}&status=${OPEN_TASK}&_count=1`,
    )
  )[0];
  const action = decideRiskTaskAction(plan, open ? riskTaskState(open) : undefined);
  const writes: BundleEntry[] = [];
  const evidence = assessment.reasons.map((r) => r.text).join('; ');
  if (action.kind === 'create' || !open) {
    // A named clinician owns every risk Task: the on-call clinician for the levels routed on call, else the
    // patient's treating practitioner (Patient.generalPractitioner), else nobody (and the roster should be set).
    const owner = plan.onCall ?? (await treatingPractitioner(ctx, patient));
    const taskUrl = `urn:uuid:${crypto.randomUUID()}`;
    writes.push({
      fullUrl: taskUrl,
      request: { method: 'POST', url: 'Task' },
      resource: buildRiskTask({ patient, ...(encounter ? { encounter } : {}), ...(owner ? { owner } : {}), plan, assessment, focus, now }),
    });
    for (const child of buildChecklistTasks({
      patient,
      parent: taskUrl,
      plan,
      ...(encounter ? { encounter } : {}),
      ...(owner ? { owner } : {}),
      now,
    })) {
      writes.push({ request: { method: 'POST', url: 'Task' }, resource: child });
    }
  } else {
    const updated: Task = {
      ...open,
      lastModified: now.toISOString(),
      note: [...(open.note ?? []), { time: now.toISOString(), text: `New evidence (${focus}): ${evidence}` }],
    };
    if (action.kind === 'raise') {
      updated.priority = action.to;
      updated.input = [
        ...(open.input ?? []).filter((i) => !i.type.coding?.some((c) => c.code === 'risk-level' || c.code === 'risk-reason')),
        ...riskInputs(action.level, assessment),
      ];
      updated.restriction = { ...open.restriction, period: { ...open.restriction?.period, end: plan.firstDue } };
    }
    writes.push({ request: { method: 'PUT', url: `Task/${open.id}`, ifMatch: `W/"${open.meta?.versionId}"` }, resource: updated });
  }
  // One active safety Flag per patient, at the highest level seen while it is active.
  // R4 Flag has no status or code search parameters: the patient's Flags are filtered here.
  const flag = (await ctx.search<Flag>('Flag', `patient=${patient}&_count=100`)).find(
    (f) => f.status === 'active' && f.code.coding?.some((c) => c.system === HAVEN_FLAG_SYSTEM && c.code === 'suicide-risk'),
  );
  const flagLevel = flag?.extension?.find((e) => e.url === RISK_LEVEL_EXTENSION)?.valueCode;
  if (!flag) {
    writes.push({
      request: { method: 'POST', url: 'Flag' },
      resource: buildSafetyFlag({ patient, level: plan.level, now, evidence: [focus] }),
    });
  } else if (!flagLevel || riskRank(plan.level) > riskRank(flagLevel as never)) {
    const raised = buildSafetyFlag({ patient, level: plan.level, now, evidence: [focus] });
    writes.push({
      request: { method: 'PUT', url: `Flag/${flag.id}`, ifMatch: `W/"${flag.meta?.versionId}"` },
      resource: { ...raised, id: flag.id, period: flag.period },
    });
  }
  if (plan.notifyPatientWith988 && patient.startsWith('Patient/')) {
    writes.push({
      request: { method: 'POST', url: 'Communication' },
      resource: build988Communication({ patient, now, config: config.crisis, about: [focus], ...(encounter ? { encounter } : {}) }),
    });
  }
  return { writes, action: action.kind };
}

export default defineBot({
  id: 'risk',
  description: 'Raises suicide-risk Tasks, safety Flags and 988 notices from PHQ-9, PHQ-A and C-SSRS responses',
  mode: 'after-commit',
  triggers: [{ resourceType: 'QuestionnaireResponse', interactions: ['create', 'update'], criteria: 'status=completed,amended' }],
  scopes: ['system/Observation.rs', 'system/Patient.r', 'system/Task.crus', 'system/Flag.crus', 'system/Communication.c'],
  async handle(event, ctx) {
    const qr = event.resource as (QuestionnaireResponse & { id: string }) | undefined;
    const instrument = qr?.questionnaire ? instruments().find(qr.questionnaire) : undefined;
    if (!qr || !instrument || !qr.subject?.reference?.startsWith('Patient/'))
      return { summary: 'not a known instrument or no patient: not assessed' };
    const result = scoreResponse(instrument, qr);
    if (result.invalidAnswers.length > 0) return { summary: 'answers outside the answer list: not assessed' };
    const previous =
      instrument.totalCode && result.total !== undefined
        ? await previousTotal(ctx, qr.subject.reference, instrument.totalCode.code as string, qr.id)
        : undefined;
    const assessment = assessRisk(
      {
        instrument: instrument.id as InstrumentId,
        ...(result.total !== undefined ? { total: result.total } : {}),
        ...(previous !== undefined ? { previousTotal: previous } : {}),
        ...(result.safety.item9 ? { item9: result.safety.item9 } : {}),
        ...(result.safety.cssrsRisk ? { cssrsRisk: result.safety.cssrsRisk } : {}),
        ...(result.safety.seriousThoughtsPastMonth !== undefined
          ? { seriousThoughtsPastMonth: result.safety.seriousThoughtsPastMonth }
          : {}),
        ...(result.safety.everAttempted !== undefined ? { everAttempted: result.safety.everAttempted } : {}),
        missingRequired: [...result.missingRequired],
      },
      ctx.config.risk,
    );
    const plan = planEscalation(assessment, ctx.config.escalation, new Date(ctx.now));
    if (!plan.escalate) return { summary: `${instrument.id}: no risk` };
    const { writes, action } = await escalate(ctx, qr, plan, assessment, ctx.config);
    return {
      writes,
      summary: `${instrument.id}: ${plan.level} risk (${assessment.reasons.map((r) => r.code).join(', ')}); task ${action}`,
    };
  },
});
