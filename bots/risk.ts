/**
 * Risk bot: every completed or amended QuestionnaireResponse is assessed for suicide risk.
 * - A response to a known instrument, whatever form its `questionnaire` reference takes (./questionnaire-resolver.ts),
 *   is assessed in full (clinical/risk.ts: PHQ-9/PHQ-A item 9, C-SSRS tiers, severe totals, a rise since the last
 *   valid total; a missing or declined item 9 is never read as 0).
 * - Any response, scored or not, is also read for safety answers (clinical/safety-scan.ts): a positive PHQ-9/PHQ-A
 *   item 9 or C-SSRS answer in a form Haven does not score, or outside the instrument it scores, still escalates,
 *   from the safety answer alone (issue 13).
 * When the assessment escalates (clinical/escalation.ts):
 * - one open risk Task per patient and episode: created (owner by clinical/routing.ts: roster → treating
 *   practitioner → care team → tenant fallback; performerType the on-call role; priority by level; with the contact →
 *   response → follow-up checklist as child Tasks due per configuration), or raised, or given the new evidence as a
 *   note, each a recorded version of the Task;
 * - a safety Flag on the patient (created, or its level raised);
 * - where configured, a Communication recording that the patient was given the 988 crisis resources.
 * A response changed to `entered-in-error`, or deleted, does not cancel anything: each open risk Task it raised or added evidence
 * to gets a note (clinical/retraction.ts) and stays open for a clinician to close.
 * The bot reads the response itself (not the score Observations), so the Task exists as fast as the score does.
 */
import type { BundleEntry, CareTeam, Flag, Observation, Patient, QuestionnaireResponse, Task } from '@medplum/fhirtypes';
import { fallbackOwnerFor, INSTRUMENT_LABELS, riskRank, type BotConfig, type Instrument as InstrumentId } from './clinical/config.ts';
import {
  build988Communication,
  buildChecklistTasks,
  buildRiskTask,
  buildSafetyFlag,
  decideRiskTaskAction,
  planEscalation,
  HAVEN_FLAG_SYSTEM,
  HAVEN_TASK_SYSTEM,
  riskInputs,
  riskTaskIdentifier,
  riskTaskState,
  RISK_LEVEL_EXTENSION,
  type ActiveEscalation,
} from './clinical/escalation.ts';
import { inInstrumentTerms } from './clinical/instrument-match.ts';
import { needsRetractionNote, noteRetraction, type Withdrawal } from './clinical/retraction.ts';
import { assessRisk, maxLevel, type RiskAssessment } from './clinical/risk.ts';
import { activeCareTeamOf, chooseRiskOwner, treatingPractitionerOf, type OwnerChoice } from './clinical/routing.ts';
import { assessSafetyAnswers, scanSafety } from './clinical/safety-scan.ts';
import { scoreResponse } from './clinical/scoring.ts';
import { instruments } from './instruments-registry.ts';
import { resolveInstrument } from './questionnaire-resolver.ts';
import { defineBot, type BotContext, type BotOutput } from './runtime.ts';

const OPEN_TASK = 'requested,received,accepted,ready,in-progress,on-hold';

/** The previous valid total of the same instrument for the patient, from another response (retracted totals excluded). */
async function previousTotal(ctx: BotContext, patient: string, totalCode: string, qrId: string): Promise<number | undefined> {
  const prior = await ctx.search<Observation>(
    'Observation',
    `subject=${patient}&code=http://loinc.org|${totalCode}&status=final,amended&_sort=-date&_count=5`,
  );
  const other = prior.find(
    (o) => !o.derivedFrom?.some((d) => d.reference === `QuestionnaireResponse/${qrId}`) && o.valueInteger !== undefined,
  );
  return other?.valueInteger;
}

/** Who owns a new risk Task: the first of roster → treating practitioner → care team → fallback (read lazily). */
async function routeOwner(ctx: BotContext, tenant: string, patient: string, plan: ActiveEscalation): Promise<OwnerChoice> {
  const fallback = fallbackOwnerFor(ctx.config.escalation, tenant);
  if (plan.onCall) return chooseRiskOwner({ onCall: plan.onCall, fallback });
  const treatingPractitioner = treatingPractitionerOf(await ctx.read<Patient>('Patient', patient.slice('Patient/'.length)));
  if (treatingPractitioner) return chooseRiskOwner({ treatingPractitioner, fallback });
  const teams = await ctx.search<CareTeam>('CareTeam', `patient=${patient}&status=active&_count=20`);
  return chooseRiskOwner({ careTeam: activeCareTeamOf(teams, new Date(ctx.now)), fallback });
}

/** Writes for a new escalation, or for raising / appending to the open Task. */
async function escalate(
  ctx: BotContext,
  tenant: string,
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
  let route = '';
  if (action.kind === 'create' || !open) {
    const { owner, route: how } = await routeOwner(ctx, tenant, patient, plan);
    // Route `none` only happens without a fallback owner, which `haven doctor` and the start-up log report.
    route = how === 'none' ? ', NO OWNER (set escalation.fallbackOwner)' : `, owner ${how}`;
    const taskUrl = `urn:uuid:${crypto.randomUUID()}`;
    writes.push({
      fullUrl: taskUrl,
      request: { method: 'POST', url: 'Task' },
      resource: buildRiskTask({
        patient,
        ...(encounter ? { encounter } : {}),
        ...(owner ? { owner } : {}),
        ownerRoute: how,
        plan,
        assessment,
        focus,
        now,
      }),
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
  return { writes, action: `${action.kind}${route}` };
}

/** The assessment of a response: in full when it scores as an instrument, plus every safety answer outside that. */
async function assess(
  ctx: BotContext,
  qr: QuestionnaireResponse & { id: string; subject: { reference: string } },
): Promise<{
  assessment: RiskAssessment;
  what: string;
}> {
  const resolved = await resolveInstrument(qr, ctx, ctx.baseUrl);
  const match = resolved.match;
  let scored: RiskAssessment | undefined;
  let unscored = resolved.reason ?? '';
  if (match) {
    const { instrument } = match;
    const result = scoreResponse(instrument, inInstrumentTerms(qr, match));
    if (result.invalidAnswers.length > 0) {
      unscored = `${INSTRUMENT_LABELS[instrument.id]} answers outside its answer list`;
    } else {
      const previous =
        instrument.totalCode && result.total !== undefined
          ? await previousTotal(ctx, qr.subject.reference, instrument.totalCode.code as string, qr.id)
          : undefined;
      scored = assessRisk(
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
    }
  }
  // Safety answers the full assessment did not read: all of them for a response not scored, else other instruments'.
  const extra = scanSafety(instruments().all(), qr, resolved.stored).filter((i) => !scored || i.instrument !== match?.instrument.id);
  const why = scored
    ? `Safety answers outside the ${INSTRUMENT_LABELS[match?.instrument.id as InstrumentId]} it was scored as: assessed from those answers alone`
    : `Response not scored (${unscored}): assessed from its safety answers alone, no total`;
  const fromSafety = assessSafetyAnswers(extra, ctx.config.risk, why);
  const what = scored
    ? (match?.instrument.id as string)
    : `not scored${extra.length ? ` (safety answers: ${extra.map((i) => i.instrument).join(', ')})` : ''}`;
  if (!scored) return { assessment: fromSafety, what };
  return {
    assessment: { level: maxLevel(scored.level, fromSafety.level), reasons: [...scored.reasons, ...fromSafety.reasons] },
    what,
  };
}

/** Notes the retraction on every open risk Task the response raised or added evidence to; cancels nothing. */
async function noteRetractions(
  ctx: BotContext,
  qr: QuestionnaireResponse & { id: string },
  patient: string,
  how: Withdrawal,
): Promise<BotOutput> {
  const source = `QuestionnaireResponse/${qr.id}`;
  const open = await ctx.search<Task>(
    'Task',
    `patient=${patient}&code=${encodeURIComponent(`${HAVEN_TASK_SYSTEM}|suicide-risk-review`)}&status=${OPEN_TASK}&_count=50`,
  );
  const noted = open.filter((t) => needsRetractionNote(t, source));
  return {
    writes: noted.map((task) => ({
      request: { method: 'PUT', url: `Task/${task.id}`, ifMatch: `W/"${task.meta?.versionId}"` },
      resource: noteRetraction(task, source, ctx.now, how),
    })),
    summary: `${how}: ${noted.length} open risk Task(s) noted, left open`,
  };
}

export default defineBot({
  id: 'risk',
  description: 'Raises suicide-risk Tasks, safety Flags and 988 notices from PHQ-9, PHQ-A and C-SSRS answers in any response',
  mode: 'after-commit',
  triggers: [
    { resourceType: 'QuestionnaireResponse', interactions: ['create', 'update'], criteria: 'status=completed,amended' },
    { resourceType: 'QuestionnaireResponse', interactions: ['update'], criteria: 'status=entered-in-error' },
    { resourceType: 'QuestionnaireResponse', interactions: ['delete'] },
  ],
  scopes: [
    'system/Observation.rs',
    'system/Patient.r',
    'system/CareTeam.rs',
    'system/Questionnaire.rs',
    'system/Task.crus',
    'system/Flag.crus',
    'system/Communication.c',
  ],
  async handle(event, ctx) {
    const qr = event.resource as (QuestionnaireResponse & { id: string }) | undefined;
    const patient = qr?.subject?.reference;
    if (!qr || !patient?.startsWith('Patient/')) return { summary: 'no patient: not assessed' };
    if (event.interaction === 'delete') return noteRetractions(ctx, qr, patient, 'deleted');
    if (qr.status === 'entered-in-error') return noteRetractions(ctx, qr, patient, 'entered-in-error');
    const { assessment, what } = await assess(ctx, qr as QuestionnaireResponse & { id: string; subject: { reference: string } });
    const plan = planEscalation(assessment, ctx.config.escalation, new Date(ctx.now));
    if (!plan.escalate) return { summary: `${what}: no risk` };
    const { writes, action } = await escalate(ctx, event.tenant, qr, plan, assessment, ctx.config);
    return {
      writes,
      summary: `${what}: ${plan.level} risk (${assessment.reasons.map((r) => r.code).join(', ')}); task ${action}`,
    };
  },
});
