/**
 * What the clinician app reads, as FHIR searches on the patient in context. Every list comes from a search the
 * server narrows by the token's scopes and the user's role (and, when issue 14 lands, by care team), so nothing
 * here filters for access.
 */
import type { FhirClient, Resource } from '../../shared/src/fhir-client.ts';
import { scorePoint, TOTALS, type ScorePoint } from '../../shared/src/scores.ts';

/** Haven's task codes (bots/clinical/escalation.ts). */
export const HAVEN_TASK_SYSTEM = 'https://haven.health/fhir/CodeSystem/haven-task';
/** Outcome codes written by the outcomes bot (bots/clinical/outcomes.ts). */
export const MBC_OUTCOME_SYSTEM = 'https://haven.health/fhir/CodeSystem/mbc-outcome';
/** Extension on an assigned QuestionnaireResponse: when it is due. */
export const DUE_EXTENSION = 'https://haven.health/fhir/StructureDefinition/assessment-due';
/** Task statuses that are still open. */
export const OPEN_TASK_STATUSES = 'requested,received,accepted,ready,in-progress,on-hold';

/** The patient's totals and the response/remission marks the outcomes bot recorded on them. */
export async function loadScores(
  fhir: FhirClient,
  patient: string,
): Promise<{ points: ScorePoint[]; marks: Map<string, 'response' | 'remission'> }> {
  const codes = Object.values(TOTALS)
    .map((t) => `http://loinc.org|${t.code}`)
    .join(',');
  const [totals, outcomes] = await Promise.all([
    fhir.searchAll('Observation', { subject: `Patient/${patient}`, code: codes, _sort: 'date', _count: '200' }, 5),
    fhir
      .searchAll(
        'Observation',
        { subject: `Patient/${patient}`, code: `${MBC_OUTCOME_SYSTEM}|response,${MBC_OUTCOME_SYSTEM}|remission`, _count: '200' },
        5,
      )
      .catch(() => [] as Resource[]),
  ]);
  const marks = new Map<string, 'response' | 'remission'>();
  for (const o of outcomes) {
    if (o.valueBoolean !== true) continue;
    const code = (o.code as { coding?: { code?: string }[] } | undefined)?.coding?.[0]?.code;
    const total = (o.derivedFrom as { reference?: string }[] | undefined)?.[0]?.reference?.replace(/^Observation\//, '');
    if (!total || (code !== 'response' && code !== 'remission')) continue;
    if (code === 'remission' || !marks.has(total)) marks.set(total, code);
  }
  return { points: totals.map((o) => scorePoint(o)).filter((p): p is ScorePoint => p !== undefined), marks };
}

/** Assessments sent and not yet returned (in-progress responses). */
export async function loadPendingAssessments(fhir: FhirClient, patient: string): Promise<Resource[]> {
  const page = await fhir.search('QuestionnaireResponse', { subject: `Patient/${patient}`, status: 'in-progress', _count: '50' });
  return page.resources;
}

/** Open suicide-risk review Tasks with their checklist children. */
export async function loadRiskTasks(fhir: FhirClient, patient: string): Promise<{ task: Resource; steps: Resource[] }[]> {
  const page = await fhir.search('Task', {
    patient: `Patient/${patient}`,
    code: `${HAVEN_TASK_SYSTEM}|suicide-risk-review`,
    status: OPEN_TASK_STATUSES,
    _sort: '-_lastUpdated',
    _count: '10',
  });
  return Promise.all(
    page.resources.map(async (task) => ({
      task,
      steps: (await fhir.search('Task', { 'part-of': `Task/${task.id}`, _count: '20' })).resources,
    })),
  );
}

/** Active care plans and the patient's goals. */
export async function loadPlan(fhir: FhirClient, patient: string): Promise<{ plans: Resource[]; goals: Resource[] }> {
  const [plans, goals] = await Promise.all([
    fhir.search('CarePlan', { subject: `Patient/${patient}`, status: 'active', _count: '10' }),
    fhir.search('Goal', { subject: `Patient/${patient}`, _count: '50' }),
  ]);
  return { plans: plans.resources, goals: goals.resources };
}

/** The active safety Flags of the patient (R4 Flag has no status search parameter, so they are filtered here). */
export async function loadFlags(fhir: FhirClient, patient: string): Promise<Resource[]> {
  const page = await fhir.search('Flag', { patient: `Patient/${patient}`, _count: '20' });
  return page.resources.filter((f) => f.status === 'active');
}

/** A person's name as written. */
export function humanName(resource: Resource | undefined): string | undefined {
  const name = (resource?.name as { text?: string; given?: string[]; family?: string; prefix?: string[] }[] | undefined)?.[0];
  if (!name) return undefined;
  return name.text ?? [...(name.prefix ?? []), ...(name.given ?? []), name.family].filter(Boolean).join(' ');
}

/** Age in whole years at `now`. */
export function ageOf(birthDate: string | undefined, now = new Date()): number | undefined {
  if (!birthDate || !/^\d{4}-\d{2}-\d{2}/.test(birthDate)) return undefined;
  const [y, m, d] = birthDate.slice(0, 10).split('-').map(Number);
  let age = now.getUTCFullYear() - y;
  if (now.getUTCMonth() + 1 < m || (now.getUTCMonth() + 1 === m && now.getUTCDate() < d)) age -= 1;
  return age;
}

/** The text of a CodeableConcept. */
export function conceptText(concept: unknown): string | undefined {
  const c = concept as { text?: string; coding?: { display?: string; code?: string }[] } | undefined;
  return c?.text ?? c?.coding?.find((x) => x.display)?.display ?? c?.coding?.[0]?.code;
}

/** The Haven task code of a Task (`suicide-risk-review`, `escalation-contact`, …). */
export function taskCode(task: Resource): string | undefined {
  return (task.code as { coding?: { system?: string; code?: string }[] } | undefined)?.coding?.find((c) => c.system === HAVEN_TASK_SYSTEM)
    ?.code;
}
