/**
 * Which rows a `patient/` scope reaches (SMART App Launch 2.2, Scopes and Launch Context, §Patient-specific
 * scopes: "the set of resources in the patient compartment"; FHIR R4 CompartmentDefinition `patient`).
 *
 * - A type with compartment parameters: rows that reference `Patient/{id}` through one of them (the same
 *   `sp_reference` rows search uses), and for `Patient` the row with that id.
 * - {@link SHARED_TYPES}: directory, medication and knowledge resources that hold no patient's data
 *   (Practitioner, Organization, Location, Medication, Questionnaire, ValueSet…). Patient apps must read
 *   them to make sense of the record (US Core and the g10 kit read them with `patient/*.rs`), so patient
 *   scopes may read and search all of them, but never write them.
 * - Every other type outside the compartment (Binary, Bundle, Subscription, Linkage, MessageHeader…): out
 *   of reach of patient scopes, because it may hold anyone's data and has no patient link to check.
 */
import type { Resource } from '@medplum/fhirtypes';
import { patientCompartmentParams } from '../store/everything.ts';
import { extractIndexRows } from '../store/indexer.ts';

/** Types readable through any `patient/` scope that names them (see the module comment). */
export const SHARED_TYPES: ReadonlySet<string> = new Set([
  'Practitioner',
  'PractitionerRole',
  'Organization',
  'OrganizationAffiliation',
  'Location',
  'HealthcareService',
  'Endpoint',
  'Medication',
  'MedicationKnowledge',
  'Substance',
  'DeviceDefinition',
  'Questionnaire',
  'ValueSet',
  'CodeSystem',
  'ConceptMap',
  'NamingSystem',
  'StructureDefinition',
  'SearchParameter',
  'OperationDefinition',
  'CapabilityStatement',
  'ActivityDefinition',
  'PlanDefinition',
  'Library',
  'Measure',
  'ObservationDefinition',
  'SpecimenDefinition',
]);

/**
 * Compartment links R4 leaves out but US Core relies on: R4 lists Device in the compartment without a
 * parameter, yet `Device.patient` is how an implanted device belongs to a patient.
 */
const EXTRA_LINKS = ['Device:patient'];

let codesByType: Map<string, string[]> | undefined;

function table(): Map<string, string[]> {
  if (!codesByType) {
    codesByType = new Map();
    for (const pair of [...patientCompartmentParams(), ...EXTRA_LINKS]) {
      const [type, code] = pair.split(':');
      const list = codesByType.get(type) ?? [];
      if (!list.includes(code)) list.push(code);
      codesByType.set(type, list);
    }
  }
  return codesByType;
}

/** Reference parameters of `resourceType` that put a row in a patient's compartment (empty: none). */
export function compartmentCodes(resourceType: string): readonly string[] {
  return table().get(resourceType) ?? [];
}

/** How a patient confinement applies to a type. */
export type CompartmentReach = 'compartment' | 'shared' | 'outside';

/** Whether rows of `resourceType` can belong to a patient's compartment, are shared, or are out of reach. */
export function compartmentReach(resourceType: string): CompartmentReach {
  if (resourceType === 'Patient' || compartmentCodes(resourceType).length > 0) return 'compartment';
  return SHARED_TYPES.has(resourceType) ? 'shared' : 'outside';
}

/** Patients a resource's compartment links point at, from the same index rows search uses. */
export function compartmentPatients(resource: Resource): Set<string> {
  const codes = compartmentCodes(resource.resourceType);
  const out = new Set<string>();
  if (resource.resourceType === 'Patient' && resource.id) out.add(resource.id);
  if (codes.length === 0) return out;
  for (const row of extractIndexRows(resource).reference) {
    if (row.target_type === 'Patient' && row.target_id && codes.includes(row.code)) out.add(row.target_id);
  }
  return out;
}

/**
 * True when `resource` is in `patientId`'s compartment. With `exclusive` (writes), it must also be in no
 * other patient's compartment: a patient app may not file data under someone else as well.
 */
export function inCompartment(resource: Resource, patientId: string, exclusive: boolean): boolean {
  const reach = compartmentReach(resource.resourceType);
  if (reach === 'shared') return !exclusive;
  if (reach === 'outside') return false;
  const patients = compartmentPatients(resource);
  if (!patients.has(patientId)) return false;
  if (resource.resourceType === 'Patient' && exclusive && resource.id !== patientId) return false;
  return !exclusive || patients.size === 1;
}
