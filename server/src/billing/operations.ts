/**
 * Billing operations added to the FHIR router:
 * - `GET Practitioner/{id}/$cocm-registry?month=YYYY-MM`: the month's registry of a care manager (./registry.ts)
 *   as `Parameters`: one `patient` part per patient of the practitioner's active CareTeams or with minutes they
 *   logged this month.
 * Every read goes through the caller's repository, so the caller's access policy applies (404 for a hidden
 * practitioner; patients the caller may not read are left out).
 */
import { allOk, badRequest, OperationOutcomeError } from '@medplum/core';
import type { FhirRequest, FhirRouteHandler, FhirRouter } from '@medplum/fhir-router';
import type { HumanName, Parameters, ParametersParameter, Patient } from '@medplum/fhirtypes';
import { guardHandler } from '../http/routes.ts';
import type { HavenRepository } from '../store/repository.ts';
import type { BillingConfig } from './config.ts';
import { careTeamPatients, lastEncounterOf, scoresOf, timeEntries } from './gather.ts';
import { isMonth } from './months.ts';
import { buildRegistry, type RegistryRow } from './registry.ts';

/** The operations as the CapabilityStatement lists them (definitions are Haven's; no OperationDefinition is served yet). */
export const BILLING_OPERATIONS: { name: string; definition: string; resourceTypes?: string[] }[] = [
  { name: 'cocm-registry', definition: 'https://haven.health/fhir/OperationDefinition/cocm-registry', resourceTypes: ['Practitioner'] },
];

/** Most patients one registry lists (a caseload is usually 50-100). */
export const MAX_REGISTRY_PATIENTS = 500;

function single(req: FhirRequest, name: string): string | undefined {
  const v = req.query[name];
  return Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v;
}

/** The `month` parameter, required. */
export function monthParam(req: FhirRequest): string {
  const month = single(req, 'month');
  if (!isMonth(month)) throw new OperationOutcomeError(badRequest('month is required as YYYY-MM (e.g. month=2026-03)', 'month'));
  return month;
}

function assertKnown(req: FhirRequest, allowed: readonly string[], op: string): void {
  for (const name of Object.keys(req.query)) {
    if (!allowed.includes(name)) throw new OperationOutcomeError(badRequest(`Unknown parameter "${name.slice(0, 60)}" for ${op}`, name));
  }
}

function displayName(p: Patient): string | undefined {
  const n: HumanName | undefined = p.name?.find((x) => x.use === 'official') ?? p.name?.[0];
  if (!n) return undefined;
  return n.text ?? [...(n.given ?? []), n.family].filter(Boolean).join(' ');
}

function rowParameter(row: RegistryRow): ParametersParameter {
  const part: ParametersParameter[] = [
    { name: 'patient', valueReference: { reference: row.patient, ...(row.name ? { display: row.name } : {}) } },
    { name: 'cocmMinutes', valueInteger: row.cocmMinutes },
    { name: 'loggedMinutes', valueInteger: row.loggedMinutes },
  ];
  if (row.lastScore) {
    part.push({
      name: 'lastScore',
      part: [
        {
          name: 'code',
          valueCoding: {
            system: 'http://loinc.org',
            code: row.lastScore.code,
            ...(row.lastScore.display ? { display: row.lastScore.display } : {}),
          },
        },
        { name: 'value', valueInteger: row.lastScore.value },
        { name: 'date', valueDateTime: row.lastScore.date },
      ],
    });
  }
  part.push({ name: 'validatedScaleThisMonth', valueBoolean: row.validatedScaleThisMonth });
  if (row.lastContact) part.push({ name: 'lastContact', valueDateTime: row.lastContact });
  part.push({ name: 'psychiatricReviewDue', valueBoolean: row.psychiatricReviewDue });
  for (const note of row.notes) part.push({ name: 'note', valueString: note });
  return { name: 'patient', part };
}

/** Registry of practitioner `id` for `month`, as Parameters. */
export async function cocmRegistry(repo: HavenRepository, config: BillingConfig, id: string, month: string): Promise<Parameters> {
  await repo.readResource('Practitioner', id);
  const practitioner = `Practitioner/${id}`;
  const own = await timeEntries(repo, month, `performer=${encodeURIComponent(practitioner)}`);
  const refs = [...new Set([...(await careTeamPatients(repo, practitioner)), ...own.map((e) => e.patient)])];
  if (refs.length > MAX_REGISTRY_PATIENTS) {
    throw new OperationOutcomeError(
      badRequest(`The registry lists at most ${MAX_REGISTRY_PATIENTS} patients; this practitioner has ${refs.length}`),
    );
  }
  const patients: { ref: string; name?: string }[] = [];
  for (const ref of refs) {
    // A patient the caller may not read is left out, not an error.
    const patient = await repo.readResource<Patient>('Patient', ref.slice('Patient/'.length)).catch(() => undefined);
    if (patient) patients.push({ ref, ...(displayName(patient) ? { name: displayName(patient) } : {}) });
  }
  const entries = [];
  const scores = [];
  const contacts = [];
  for (const { ref } of patients) {
    entries.push(...(await timeEntries(repo, month, `subject=${encodeURIComponent(ref)}`)));
    scores.push(...(await scoresOf(repo, ref, month)));
    contacts.push(...(await lastEncounterOf(repo, ref, month)));
  }
  // Overlap trimming needs the practitioners' other entries of the month too (other patients).
  const seen = new Set(entries.map((e) => e.ref));
  for (const e of own) if (!seen.has(e.ref)) entries.push(e);
  const rows = buildRegistry(config, { month, patients, entries, scores, contacts });
  rows.sort((a, b) => (a.name ?? a.patient).localeCompare(b.name ?? b.patient));
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'month', valueString: month },
      { name: 'practitioner', valueReference: { reference: practitioner } },
      ...rows.map(rowParameter),
    ],
  };
}

/** Adds the billing operations to `router`; `log` receives internal errors (never PHI). */
export function addBillingOperations(router: FhirRouter, config: BillingConfig, log: (event: Record<string, unknown>) => void): void {
  const registry: FhirRouteHandler = async (req, fhirRepo) => {
    assertKnown(req, ['month', '_format', '_pretty'], '$cocm-registry');
    const month = monthParam(req);
    return [allOk, await cocmRegistry(fhirRepo as HavenRepository, config, req.params.id, month)];
  };
  router.add('GET', 'Practitioner/:id/$cocm-registry', guardHandler(registry, log), 'operation');
}
