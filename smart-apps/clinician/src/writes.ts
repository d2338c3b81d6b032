/**
 * The resources the clinician app writes, built as plain data (pure, so each rule is tested): an assessment sent
 * to the patient, the risk Task's escalation steps, the SOAP note and its signature, care-management minutes.
 */
import type { Resource } from '../../shared/src/fhir-client.ts';
import { DUE_EXTENSION } from './data.ts';

type Ref = { reference: string; display?: string };

/** Canonicals of the instruments the app can send (questionnaires/README.md). */
export const SENDABLE = {
  'phq-9': { canonical: 'https://haven.health/fhir/Questionnaire/phq-9|1.0.0', label: 'PHQ-9 (depression)' },
  'gad-7': { canonical: 'https://haven.health/fhir/Questionnaire/gad-7|1.0.0', label: 'GAD-7 (anxiety)' },
  'phq-2': { canonical: 'https://haven.health/fhir/Questionnaire/phq-2|1.0.0', label: 'PHQ-2 (depression screen)' },
  'cssrs-screener': { canonical: 'https://haven.health/fhir/Questionnaire/cssrs-screener|1.0.0', label: 'C-SSRS screener (suicide risk)' },
  'audit-c': { canonical: 'https://haven.health/fhir/Questionnaire/audit-c|1.0.0', label: 'AUDIT-C (alcohol use)' },
} as const;
export type Sendable = keyof typeof SENDABLE;

/**
 * An assessment sent to the patient: a QuestionnaireResponse in progress (the patient app lists these; R4's
 * patient compartment has no Task), due on `due`.
 */
export function assignmentFor(instrument: Sendable, patient: string, author: Ref, due: Date, now = new Date()): Resource {
  return {
    resourceType: 'QuestionnaireResponse',
    extension: [{ url: DUE_EXTENSION, valueDateTime: due.toISOString() }],
    questionnaire: SENDABLE[instrument].canonical,
    status: 'in-progress',
    subject: { reference: `Patient/${patient}` },
    authored: now.toISOString(),
    author,
  };
}

/** The escalation steps a clinician records on a risk Task (bots/clinical/escalation.ts checklist). */
export type Step = 'acknowledge' | 'escalation-contact' | 'escalation-response' | 'escalation-follow-up';

function noted(task: Resource, text: string, by: Ref, now: Date): Resource['note'] {
  return [...((task.note as unknown[] | undefined) ?? []), { authorReference: by, time: now.toISOString(), text }];
}

/** The main risk Task, acknowledged by `by`: accepted, owned by them if it had no owner, with a note. */
export function acknowledge(task: Resource, by: Ref, now = new Date()): Resource {
  return {
    ...task,
    status: task.status === 'requested' || task.status === 'received' || task.status === 'ready' ? 'accepted' : task.status,
    ...(task.owner ? {} : { owner: by }),
    businessStatus: { text: 'Acknowledged' },
    lastModified: now.toISOString(),
    note: noted(task, `Acknowledged by ${by.display ?? by.reference}`, by, now),
  };
}

/** A checklist step done: completed, with what was done in a note. */
export function completeStep(step: Resource, by: Ref, text: string, now = new Date()): Resource {
  if (!text.trim()) throw new Error('Say what was done');
  return {
    ...step,
    status: 'completed',
    ...(step.owner ? {} : { owner: by }),
    lastModified: now.toISOString(),
    executionPeriod: { ...((step.executionPeriod as object | undefined) ?? {}), end: now.toISOString() },
    note: noted(step, text.trim(), by, now),
  };
}

/** The main Task once every step is done. */
export function closeRiskTask(task: Resource, by: Ref, now = new Date()): Resource {
  return {
    ...task,
    status: 'completed',
    businessStatus: { text: 'Escalation checklist completed' },
    lastModified: now.toISOString(),
    note: noted(task, 'Escalation checklist completed', by, now),
  };
}

/** SOAP sections: LOINC section codes. */
export const SOAP_SECTIONS = [
  { key: 'subjective', title: 'Subjective', code: '61150-9', display: 'Subjective Narrative' },
  { key: 'objective', title: 'Objective', code: '61149-1', display: 'Objective Narrative' },
  { key: 'assessment', title: 'Assessment', code: '51848-0', display: 'Evaluation note' },
  { key: 'plan', title: 'Plan', code: '18776-5', display: 'Plan of care note' },
] as const;
export type SoapKey = (typeof SOAP_SECTIONS)[number]['key'];

/** What the clinician typed. */
export interface SoapDraft {
  title: string;
  encounter?: string;
  goals: string[];
  text: Record<SoapKey, string>;
}

/** Fields missing before a note can be signed (every section, an encounter, a title). */
export function missingForSignature(d: SoapDraft): string[] {
  const missing: string[] = [];
  if (!d.title.trim()) missing.push('Title');
  if (!d.encounter) missing.push('Encounter');
  for (const s of SOAP_SECTIONS) if (!d.text[s.key].trim()) missing.push(s.title);
  return missing;
}

function escapeXhtml(s: string): string {
  return s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
}

function narrative(text: string): { status: 'generated'; div: string } {
  const paras = text
    .split(/\n{2,}/)
    .map((p) => `<p>${escapeXhtml(p).replace(/\n/g, '<br/>')}</p>`)
    .join('');
  return { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${paras || '<p></p>'}</div>` };
}

/**
 * The note as a Composition (LOINC 11506-3 Progress note), `preliminary` while drafted; linked to its Encounter,
 * and the Plan section lists the goals it addresses. `base` keeps id and version of a saved draft.
 */
export function soapComposition(d: SoapDraft, patient: string, author: Ref, base?: Resource, now = new Date()): Resource {
  return {
    ...(base ?? {}),
    resourceType: 'Composition',
    status: 'preliminary',
    type: { coding: [{ system: 'http://loinc.org', code: '11506-3', display: 'Progress note' }], text: 'SOAP note' },
    subject: { reference: `Patient/${patient}` },
    ...(d.encounter ? { encounter: { reference: d.encounter } } : {}),
    date: now.toISOString(),
    author: [author],
    title: d.title.trim() || 'SOAP note',
    section: SOAP_SECTIONS.map((s) => ({
      title: s.title,
      code: { coding: [{ system: 'http://loinc.org', code: s.code, display: s.display }] },
      text: narrative(d.text[s.key]),
      ...(s.key === 'plan' && d.goals.length ? { entry: d.goals.map((g) => ({ reference: g })) } : {}),
    })),
  };
}

/** The draft a saved Composition holds (to resume typing). */
export function draftOf(c: Resource): SoapDraft {
  const sections =
    (c.section as { code?: { coding?: { code?: string }[] }; text?: { div?: string }; entry?: { reference?: string }[] }[]) ?? [];
  const textOf = (code: string) => {
    const div = sections.find((s) => s.code?.coding?.[0]?.code === code)?.text?.div ?? '';
    return div
      .replace(/<br\/>/g, '\n')
      .replace(/<\/p><p>/g, '\n\n')
      .replace(/<[^>]+>/g, '')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  };
  const plan = sections.find((s) => s.code?.coding?.[0]?.code === '18776-5');
  return {
    title: String(c.title ?? ''),
    ...((c.encounter as Ref | undefined)?.reference ? { encounter: (c.encounter as Ref).reference } : {}),
    goals: (plan?.entry ?? []).map((e) => e.reference).filter((r): r is string => !!r),
    text: Object.fromEntries(SOAP_SECTIONS.map((s) => [s.key, textOf(s.code)])) as Record<SoapKey, string>,
  };
}

/**
 * Signing: one transaction that makes the Composition final with the signer as legal attester, and records a
 * Provenance (author's signature) targeting it. All or nothing.
 */
export function signatureBundle(composition: Resource, signer: Ref, now = new Date()): Resource {
  if (!composition.id) throw new Error('Save the note before signing it');
  const when = now.toISOString();
  const final: Resource = {
    ...composition,
    status: 'final',
    date: when,
    attester: [{ mode: 'legal', time: when, party: signer }],
  };
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        resource: final,
        request: {
          method: 'PUT',
          url: `Composition/${composition.id}`,
          ...(composition.meta?.versionId ? { ifMatch: `W/"${composition.meta.versionId}"` } : {}),
        },
      },
      {
        resource: {
          resourceType: 'Provenance',
          target: [{ reference: `Composition/${composition.id}` }],
          recorded: when,
          activity: {
            coding: [
              { system: 'http://terminology.hl7.org/CodeSystem/v3-DocumentCompletion', code: 'LA', display: 'legally authenticated' },
            ],
          },
          agent: [
            {
              type: {
                coding: [
                  { system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'attester', display: 'Attester' },
                ],
              },
              who: signer,
            },
          ],
          signature: [
            {
              type: [{ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.1', display: "Author's Signature" }],
              when,
              who: signer,
            },
          ],
        },
        request: { method: 'POST', url: 'Provenance' },
      },
    ],
  };
}

/** Care-management activities the minutes are recorded for. */
export const MINUTE_ACTIVITIES = [
  'Care management call with the patient',
  'Caseload review with the psychiatric consultant',
  'Care coordination with other clinicians',
  'Measurement and registry follow-up',
] as const;

/**
 * Care-management time as a completed Procedure over the period worked (billing, issue 17, will read these). The
 * performer is the clinician who did the work.
 */
export function minutesRecord(patient: string, by: Ref, minutes: number, activity: string, end: Date, note?: string): Resource {
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 240) throw new Error('Minutes must be a whole number from 1 to 240');
  const start = new Date(end.getTime() - minutes * 60_000);
  return {
    resourceType: 'Procedure',
    status: 'completed',
    category: { text: 'Behavioral health care management' },
    code: { text: activity },
    subject: { reference: `Patient/${patient}` },
    performedPeriod: { start: start.toISOString(), end: end.toISOString() },
    performer: [{ actor: by }],
    ...(note?.trim() ? { note: [{ text: note.trim() }] } : {}),
  };
}

/** Minutes of a Procedure written by {@link minutesRecord}. */
export function minutesOf(p: Resource): number {
  const period = p.performedPeriod as { start?: string; end?: string } | undefined;
  if (!period?.start || !period.end) return 0;
  return Math.max(0, Math.round((Date.parse(period.end) - Date.parse(period.start)) / 60_000));
}
