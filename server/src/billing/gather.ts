/**
 * Reads what the registry and month close decide with, through the caller's repository (so the caller's access
 * policy filters every search, as for any read).
 */
import { parseSearchRequest } from '@medplum/core';
import type { CareTeam, Encounter, Observation, Procedure, Resource } from '@medplum/fhirtypes';
import type { HavenRepository } from '../store/repository.ts';
import { addMonths, monthBounds } from './months.ts';
import type { ScoreFact } from './registry.ts';
import { isTimeEntry, parseTimeEntry, type TimeEntry } from './time-entry.ts';

/** One page of a search, as large as the server allows. */
export async function searchAll<T extends Resource>(repo: HavenRepository, resourceType: string, query: string): Promise<T[]> {
  const bundle = await repo.search(parseSearchRequest(`${resourceType}?${query}&_count=${repo.ctx.maxCount}`));
  return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource as unknown as T] : []));
}

/** `date` bounds around a month: a day either side, so every offset's local date of the month is found. */
export function monthDateQuery(month: string): string {
  const { first, last } = monthBounds(month);
  const before = new Date(Date.parse(`${first}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
  const after = new Date(Date.parse(`${last}T00:00:00Z`) + 2 * 86_400_000).toISOString().slice(0, 10);
  return `date=ge${before}&date=lt${after}`;
}

/** Valid time entries matching `query` (Procedure search parameters) whose local date is in `month`. */
export async function timeEntries(repo: HavenRepository, month: string, query: string): Promise<TimeEntry[]> {
  const found = await searchAll<Procedure>(repo, 'Procedure', `${query}&${monthDateQuery(month)}`);
  return found.filter(isTimeEntry).flatMap((p) => {
    const entry = parseTimeEntry(p).entry;
    return entry?.date.startsWith(month) ? [entry] : [];
  });
}

/** Patients of the active CareTeams `practitioner` (a reference) is a participant of. */
export async function careTeamPatients(repo: HavenRepository, practitioner: string): Promise<string[]> {
  const teams = await searchAll<CareTeam>(repo, 'CareTeam', `participant=${encodeURIComponent(practitioner)}&status=active`);
  return teams.map((t) => t.subject?.reference).filter((r): r is string => typeof r === 'string' && r.startsWith('Patient/'));
}

/** Total scores (category survey, valueInteger) of `patient` up to the end of `month`, newest first. */
export async function scoresOf(repo: HavenRepository, patient: string, month: string): Promise<ScoreFact[]> {
  const end = addMonths(month, 1);
  const obs = await searchAll<Observation>(
    repo,
    'Observation',
    `subject=${encodeURIComponent(patient)}&category=survey&date=lt${end}-01&_sort=-date`,
  );
  return obs.flatMap((o) => {
    const coding = o.code?.coding?.find((c) => c.system === 'http://loinc.org');
    const date = o.effectiveDateTime ?? o.issued;
    if (!coding?.code || typeof o.valueInteger !== 'number' || !date || o.status === 'entered-in-error') return [];
    return [{ patient, code: coding.code, ...(coding.display ? { display: coding.display } : {}), value: o.valueInteger, date }];
  });
}

/** The most recent finished or ongoing Encounter of `patient` up to the end of `month`. */
export async function lastEncounterOf(repo: HavenRepository, patient: string, month: string): Promise<{ patient: string; date: string }[]> {
  const end = addMonths(month, 1);
  const bundle = await repo.search(
    parseSearchRequest(
      `Encounter?subject=${encodeURIComponent(patient)}&status=finished,in-progress,arrived&date=lt${end}-01&_sort=-date&_count=1`,
    ),
  );
  const enc = bundle.entry?.[0]?.resource as Encounter | undefined;
  const date = enc?.period?.end ?? enc?.period?.start;
  return date ? [{ patient, date }] : [];
}
