/**
 * A {@link RowRule} checked on a resource body rather than on its index rows: for history versions and
 * notification content, which are not indexed as they were. The compartment is read through the indexer's own
 * reference rows (the rows search uses), a query constraint through @medplum/core's `matchesSearchRequest`
 * (FHIRPath over the search parameter expressions), so both mean what the SQL of ./sql.ts means.
 */
import { matchesSearchRequest, parseSearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { RowBranch, RowRule } from '../../model/access.ts';
import { compartmentCodes, compartmentReach } from '../../model/compartment.ts';
import { extractIndexRows } from '../indexer.ts';

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

function queryMatches(resource: Resource, query: NonNullable<RowBranch['query']>): boolean {
  const search = new URLSearchParams(query.map(([k, v]) => [k, v]));
  try {
    return matchesSearchRequest(resource, parseSearchRequest(`${resource.resourceType}?${search.toString()}`));
  } catch {
    return false;
  }
}

/** True when `rule` reaches `resource` (a stored version's content). */
export function resourceAllowed(rule: RowRule, resource: Resource): boolean {
  switch (rule.kind) {
    case 'all':
      return true;
    case 'none':
      return false;
    case 'some':
      return rule.branches.some(
        (br) =>
          (br.patient === undefined || inCompartment(resource, br.patient, br.exclusive === true)) &&
          (!br.ids || (resource.id !== undefined && br.ids.includes(resource.id))) &&
          (!br.query || queryMatches(resource, br.query)),
      );
    default:
      return rule satisfies never;
  }
}
