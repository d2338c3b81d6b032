/**
 * Licensure bot (veto): an Appointment being booked or an Encounter being planned or started is refused unless
 * every Practitioner on it holds a license, or a compact authorization, for the state the patient is in at the
 * time of service (clinical.md §5, clinical/licensure.ts; compact data is configuration). A documented override
 * reason on the resource (extension licensure-override) lets the write through; the reason stays in the
 * resource's history and the override is logged (without the text).
 *
 * Encoding on the Appointment or Encounter (asked each session, never the address on file):
 * - patient location: extension `https://haven.health/fhir/StructureDefinition/patient-location`, valueCode (USPS);
 * - provider location: extension `…/provider-location`, valueCode (needed for PSYPACT telepsychology);
 * - modality: extension `…/modality` valueCode `in-person` | `telehealth`, else Encounter.class `VR` = telehealth.
 * Checked statuses: Appointment booked, arrived, checked-in; Encounter planned, arrived, triaged, in-progress,
 * onleave. Finished encounters (documentation after the fact, imports) and proposals are not checked.
 */
import type { Appointment, Encounter, Extension, Practitioner, PractitionerRole, Reference } from '@medplum/fhirtypes';
import { checkLicensure, credentialsFromPractitioner, licensureOverride } from './clinical/licensure.ts';
import { defineBot, type VetoContext } from './runtime.ts';

export const PATIENT_LOCATION_EXTENSION = 'https://haven.health/fhir/StructureDefinition/patient-location';
export const PROVIDER_LOCATION_EXTENSION = 'https://haven.health/fhir/StructureDefinition/provider-location';
export const MODALITY_EXTENSION = 'https://haven.health/fhir/StructureDefinition/modality';

const CHECKED_STATUSES: Readonly<Record<string, readonly string[]>> = {
  Appointment: ['booked', 'arrived', 'checked-in'],
  Encounter: ['planned', 'arrived', 'triaged', 'in-progress', 'onleave'],
};

function ext(resource: { extension?: readonly Extension[] }, url: string): string | undefined {
  return resource.extension?.find((e) => e.url === url)?.valueCode?.toUpperCase();
}

/** Practitioner references of an Appointment's actors or an Encounter's individuals. */
function practitionerRefs(resource: Appointment | Encounter): string[] {
  const refs: (Reference | undefined)[] =
    resource.resourceType === 'Appointment'
      ? (resource.participant ?? []).map((p) => p.actor)
      : (resource.participant ?? []).map((p) => p.individual);
  return refs.map((r) => r?.reference ?? '').filter((r) => /^(Practitioner|PractitionerRole)\/[^/]+$/.test(r));
}

function patientOf(resource: Appointment | Encounter): string | undefined {
  if (resource.resourceType === 'Encounter') return resource.subject?.reference;
  return resource.participant?.map((p) => p.actor?.reference).find((r) => r?.startsWith('Patient/'));
}

async function practitionerOf(ctx: VetoContext, reference: string): Promise<Practitioner | undefined> {
  const [type, id] = reference.split('/');
  if (type === 'Practitioner') return ctx.read<Practitioner>('Practitioner', id);
  const role = await ctx.read<PractitionerRole>('PractitionerRole', id);
  const target = role?.practitioner?.reference;
  return target?.startsWith('Practitioner/') ? ctx.read<Practitioner>('Practitioner', target.slice('Practitioner/'.length)) : undefined;
}

export default defineBot({
  id: 'licensure',
  description: "Refuses appointments and encounters whose practitioners are not licensed for the patient's location",
  mode: 'veto',
  triggers: [
    { resourceType: 'Appointment', interactions: ['create', 'update'] },
    { resourceType: 'Encounter', interactions: ['create', 'update'] },
  ],
  async handle(input, ctx) {
    const resource = input.resource as Appointment | Encounter;
    if (!CHECKED_STATUSES[resource.resourceType]?.includes(resource.status)) return { allow: true };
    const practitioners = practitionerRefs(resource);
    if (practitioners.length === 0 || !patientOf(resource)) return { allow: true };
    const override = licensureOverride(resource);
    if (override) return { allow: true, note: 'licensure override documented on the resource' };
    const patientState = ext(resource, PATIENT_LOCATION_EXTENSION);
    if (!patientState) {
      return {
        allow: false,
        reason: `the patient's location (state) at the time of service is required (extension ${PATIENT_LOCATION_EXTENSION}), or a documented override`,
      };
    }
    const providerState = ext(resource, PROVIDER_LOCATION_EXTENSION);
    const modality =
      ext(resource, MODALITY_EXTENSION)?.toLowerCase() === 'telehealth' ||
      (resource.resourceType === 'Encounter' && resource.class?.code === 'VR')
        ? 'telehealth'
        : 'in-person';
    const when = resource.resourceType === 'Appointment' ? resource.start : resource.period?.start;
    const date = (when ?? ctx.now).slice(0, 10);
    for (const reference of practitioners) {
      const practitioner = await practitionerOf(ctx, reference);
      if (!practitioner) return { allow: false, reason: `${reference} was not found, so its licensure cannot be checked` };
      const decision = checkLicensure({
        credentials: credentialsFromPractitioner(practitioner),
        patientState,
        ...(providerState ? { providerState } : {}),
        modality,
        date,
        config: ctx.config.licensure,
      });
      if (!decision.allowed)
        return { allow: false, reason: `${reference} may not practice in ${patientState} on ${date}: ${decision.reason}` };
    }
    return { allow: true };
  },
});
