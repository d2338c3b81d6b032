/**
 * The request kinds the load phases send, built from what ingest stored. Targets are drawn from the
 * sampled population with a seeded generator, so two runs (and both storages) ask comparable questions.
 */
import type { Population } from './ingest.ts';
import type { Scenario } from './load.ts';
import { Rng } from './prng.ts';
import { LOINC, VITALS, quantityObservation, type Json } from './synthea.ts';

const FHIR = '/fhir';

function requirePopulation(pop: Population): void {
  if (pop.patients.size === 0) throw new Error('no stored Patients to target: ingest stored nothing');
}

/** GET by id of existing Patients and Observations, create (POST Observation), update (PUT Observation). */
export function crudScenarios(pop: Population, seed: string): Scenario[] {
  requirePopulation(pop);
  const rng = new Rng(`${seed}/crud`);
  const patients = pop.patients.items;
  const observations = pop.observations.items;
  const scenarios: Scenario[] = [
    {
      name: 'read Patient',
      method: 'GET',
      next: () => ({ path: `${FHIR}/Patient/${rng.pick(patients).id}` }),
    },
  ];
  if (observations.length > 0) {
    scenarios.push({
      name: 'read Observation',
      method: 'GET',
      next: () => ({ path: `${FHIR}/Observation/${rng.pick(observations).id}` }),
    });
  }
  const created = Date.UTC(2025, 0, 2);
  let n = 0;
  scenarios.push({
    name: 'create Observation',
    method: 'POST',
    next: () => {
      const patient = rng.pick(patients);
      const body = quantityObservation(rng, rng.pick(VITALS), 'vital-signs', `Patient/${patient.id}`, undefined, created + n++ * 1000);
      return { path: `${FHIR}/Observation`, body: JSON.stringify(body) };
    },
  });
  if (observations.length > 0) {
    // Round-robin over the sample: 8 connections rarely hit the same row at once (no If-Match, so a
    // collision would only serialise on the row lock, not fail).
    let i = 0;
    scenarios.push({
      name: 'update Observation',
      method: 'PUT',
      next: () => {
        const obs = observations[i++ % observations.length];
        const vq = obs.resource.valueQuantity as Json;
        const body: Json = {
          ...obs.resource,
          status: 'amended',
          valueQuantity: { ...vq, value: Math.round((vq.value as number) * (0.95 + rng.next() * 0.1) * 100) / 100 },
          issued: new Date(Date.UTC(2025, 0, 3) + i * 1000).toISOString(),
        };
        return { path: `${FHIR}/Observation/${obs.id}`, body: JSON.stringify(body) };
      },
    });
  }
  return scenarios;
}

/** The four searches of the issue. */
export function searchScenarios(pop: Population, seed: string): Scenario[] {
  requirePopulation(pop);
  const rng = new Rng(`${seed}/search`);
  const patients = pop.patients.items;
  const systolic = encodeURIComponent(`${LOINC}|8480-6`);
  return [
    {
      name: 'search Patient?name',
      method: 'GET',
      next: () => ({ path: `${FHIR}/Patient?name=${encodeURIComponent(rng.pick(patients).family)}&_count=20` }),
    },
    {
      name: 'search Patient?birthdate',
      method: 'GET',
      next: () => ({ path: `${FHIR}/Patient?birthdate=${rng.pick(patients).birthDate}&_count=20` }),
    },
    {
      name: 'search Observation?subject&code&_sort',
      method: 'GET',
      next: () => ({ path: `${FHIR}/Observation?subject=Patient/${rng.pick(patients).id}&code=${systolic}&_sort=-date&_count=10` }),
    },
    {
      name: 'search Patient?_id&_revinclude',
      method: 'GET',
      next: () => ({ path: `${FHIR}/Patient?_id=${rng.pick(patients).id}&_revinclude=Observation:subject&_count=10` }),
    },
  ];
}
