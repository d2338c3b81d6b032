/**
 * Facts about the FHIR R4 patient compartment that the policy (which rows a patient scope reaches) and the store
 * (how to find those rows, `$everything`) both need.
 *
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
import { readFileSync } from 'node:fs';
import type { CompartmentDefinition } from '@medplum/fhirtypes';
import { r4File } from '../fhir/definitions.ts';

let compartmentParams: string[] | undefined;

/** `Type:param` pairs whose reference puts a resource in a patient's compartment (R4 CompartmentDefinition). */
export function patientCompartmentParams(): string[] {
  if (!compartmentParams) {
    const def = JSON.parse(readFileSync(r4File('compartmentdefinition-patient.json'), 'utf8')) as CompartmentDefinition;
    compartmentParams = (def.resource ?? []).flatMap((r) => (r.param ?? []).map((p) => `${r.code}:${p}`));
  }
  return compartmentParams;
}

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
