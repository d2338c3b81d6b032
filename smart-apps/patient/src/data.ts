/**
 * What the patient app reads and writes, as FHIR searches in the patient's compartment (the server confines a
 * `patient/` token to it). Assessments to complete are QuestionnaireResponses in progress that the care team
 * created for the patient (Task is outside the R4 patient compartment, so a patient token cannot see Tasks).
 */
import type { FhirClient, Resource } from '../../shared/src/fhir-client.ts';
import type { Questionnaire, QuestionnaireResponse } from '../../shared/src/questionnaire.ts';
import { scorePoint, TOTALS, type ScorePoint } from '../../shared/src/scores.ts';

/** A reference with an optional display. */
export interface Ref {
  reference?: string;
  display?: string;
}

/** An assessment the patient has been asked to complete, with its form. */
export interface Assignment {
  response: QuestionnaireResponse;
  questionnaire: Questionnaire;
  /** When the care team would like it back (Haven's due-date extension), if set. */
  due?: string;
}

/** Extension on an assigned QuestionnaireResponse: when it is due. */
export const DUE_EXTENSION = 'https://haven.health/fhir/StructureDefinition/assessment-due';

/** The Questionnaire a canonical `url|version` names (one search, cached per page). */
export async function questionnaireFor(fhir: FhirClient, canonical: string, cache: Map<string, Promise<Questionnaire | undefined>>) {
  let hit = cache.get(canonical);
  if (!hit) {
    const [url, version] = canonical.split('|');
    hit = fhir
      .search<Questionnaire & Resource>('Questionnaire', { url, ...(version ? { version } : {}), _count: '1' })
      .then((p) => p.resources[0]);
    cache.set(canonical, hit);
  }
  return hit;
}

/** Assessments waiting for the patient, oldest first. */
export async function loadAssignments(
  fhir: FhirClient,
  patient: string,
  cache: Map<string, Promise<Questionnaire | undefined>>,
): Promise<Assignment[]> {
  const page = await fhir.search<QuestionnaireResponse & Resource>('QuestionnaireResponse', {
    subject: `Patient/${patient}`,
    status: 'in-progress',
    _sort: '_lastUpdated',
    _count: '20',
  });
  const out: Assignment[] = [];
  for (const response of page.resources) {
    if (!response.questionnaire) continue;
    const questionnaire = await questionnaireFor(fhir, response.questionnaire, cache);
    if (!questionnaire) continue;
    const due = response.extension?.find((e) => e.url === DUE_EXTENSION)?.valueDateTime;
    out.push({ response, questionnaire, ...(due ? { due } : {}) });
  }
  return out;
}

/** The patient's PHQ-9 and GAD-7 totals, newest first. */
export async function loadScores(fhir: FhirClient, patient: string): Promise<ScorePoint[]> {
  const codes = Object.values(TOTALS)
    .map((t) => `http://loinc.org|${t.code}`)
    .join(',');
  const rows = await fhir.searchAll('Observation', { subject: `Patient/${patient}`, code: codes, _sort: '-date', _count: '100' }, 3);
  return rows.map((o) => scorePoint(o)).filter((p): p is ScorePoint => p !== undefined);
}

/** Upcoming appointments (not cancelled), soonest first. */
export async function loadAppointments(fhir: FhirClient, patient: string, now = new Date()): Promise<Resource[]> {
  const today = now.toISOString().slice(0, 10);
  const page = await fhir.search('Appointment', { patient: `Patient/${patient}`, date: `ge${today}`, _sort: 'date', _count: '20' });
  return page.resources.filter((a) => !['cancelled', 'noshow', 'entered-in-error'].includes(String(a.status)));
}

/** Active care plans and the patient's goals. */
export async function loadPlan(fhir: FhirClient, patient: string): Promise<{ plans: Resource[]; goals: Resource[] }> {
  const [plans, goals] = await Promise.all([
    fhir.search('CarePlan', { subject: `Patient/${patient}`, status: 'active', _count: '10' }),
    fhir.search('Goal', { subject: `Patient/${patient}`, _count: '50' }),
  ]);
  return {
    plans: plans.resources,
    goals: goals.resources.filter((g) => !['cancelled', 'entered-in-error', 'rejected'].includes(String(g.lifecycleStatus))),
  };
}

/** Messages about the patient, newest first. */
export async function loadMessages(fhir: FhirClient, patient: string): Promise<Resource[]> {
  const page = await fhir.search('Communication', { subject: `Patient/${patient}`, _sort: '-sent', _count: '50' });
  return page.resources.filter((c) => c.status !== 'entered-in-error');
}

/**
 * Who a message from the patient goes to: the active care team's practitioners, else the author of the active
 * care plan, else the patient's general practitioner.
 */
export async function careTeamRecipients(fhir: FhirClient, patient: string): Promise<Ref[]> {
  const teams = await fhir.search('CareTeam', { patient: `Patient/${patient}`, status: 'active', _count: '5' });
  const fromTeam = teams.resources.flatMap((t) =>
    ((t.participant as { member?: Ref }[] | undefined) ?? [])
      .map((p) => p.member)
      .filter((m): m is Ref => !!m?.reference?.startsWith('Practitioner')),
  );
  if (fromTeam.length) return fromTeam;
  const plans = await fhir.search('CarePlan', { subject: `Patient/${patient}`, status: 'active', _count: '1' });
  const author = plans.resources[0]?.author as Ref | undefined;
  if (author?.reference) return [author];
  const me = await fhir.read('Patient', patient);
  return ((me.generalPractitioner as Ref[] | undefined) ?? []).slice(0, 1);
}

/** A message from the patient to the care team. */
export function newMessage(patient: string, recipients: Ref[], text: string, now = new Date()): Resource {
  return {
    resourceType: 'Communication',
    status: 'completed',
    subject: { reference: `Patient/${patient}` },
    sender: { reference: `Patient/${patient}` },
    recipient: recipients.map((r) => ({ reference: r.reference, ...(r.display ? { display: r.display } : {}) })),
    sent: now.toISOString(),
    payload: [{ contentString: text }],
  };
}

/** A person's name as written. */
export function humanName(resource: Resource | undefined): string | undefined {
  const name = (resource?.name as { text?: string; given?: string[]; family?: string; prefix?: string[] }[] | undefined)?.[0];
  if (!name) return undefined;
  return name.text ?? [...(name.prefix ?? []), ...(name.given ?? []), name.family].filter(Boolean).join(' ');
}
