/**
 * Resource validation: FHIR R4 base definitions, required code bindings, and the profiles Haven ships.
 *
 * Medplum's validator does the structural work (types, cardinality, invariants, primitive formats). Around
 * it this module adds what a system of record needs and Medplum leaves out or only warns about:
 * - the body shape, resourceType and `id` checks (Medplum does not check `Resource.id` against its regex);
 * - empty strings, arrays and objects, which R4 JSON forbids and Medplum silently treats as absent;
 * - reference target types and duplicate choice-of-type values, which Medplum reports only as warnings;
 * - required bindings on `code` elements (Medplum only collects the codes; `gender: "robot"` passes);
 * - `meta.profile`: enforced when Haven ships the profile with a snapshot, a warning when it is unknown.
 * See https://hl7.org/fhir/R4/validation.html and https://hl7.org/fhir/R4/json.html.
 */
import { readFileSync } from 'node:fs';
import { OperationOutcomeError, isResourceType, validateResource } from '@medplum/core';
import type { TypedValueWithPath } from '@medplum/core';
import type {
  Bundle,
  CodeSystem,
  CodeSystemConcept,
  OperationOutcomeIssue,
  Resource,
  StructureDefinition,
  ValueSet,
} from '@medplum/fhirtypes';
import { PROFILES_DIR, havenProfiles, loadDefinitions, r4File, readResourceFolder } from './definitions.ts';
import { DEFAULT_JSON_LIMITS, checkJsonShape, type JsonLimits } from './json-shape.ts';

/** R4 `id` datatype: https://hl7.org/fhir/R4/datatypes.html#id */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * Validates a resource against the R4 base definitions and every `meta.profile` Haven ships in `profiles/`.
 * Returns errors and warnings, each with a FHIRPath `expression` where one can be named. A profile Haven
 * does not know yields a warning: the resource is still checked against R4, the claim is just not verified.
 * A resource outside `limits` (too deep, too large, a property named like a member of `Object.prototype`) gets that
 * one error and no further checks: they would walk it recursively.
 */
export function validateFhirResource(resource: Resource, limits: JsonLimits = DEFAULT_JSON_LIMITS): OperationOutcomeIssue[] {
  loadDefinitions();
  const value: unknown = resource;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [issue('error', 'structure', 'A resource must be a JSON object')];
  }
  const shape = checkJsonShape(value, limits);
  if (shape) return [issue('error', shape.code, shape.diagnostics, shape.expression)];
  const { resourceType } = value as { resourceType?: unknown };
  if (typeof resourceType !== 'string' || resourceType === '') {
    return [issue('error', 'structure', 'Missing resourceType')];
  }
  if (!isResourceType(resourceType)) {
    return [issue('error', 'structure', `Unknown resourceType "${resourceType.slice(0, 64)}" (not an R4 resource)`)];
  }

  const out = new IssueList();
  const id: unknown = (value as { id?: unknown }).id;
  // A non-string id is already a structure error from Medplum; Medplum does not check the id pattern.
  if (typeof id === 'string' && !FHIR_ID.test(id)) {
    out.add(issue('error', 'value', 'Invalid id: must match [A-Za-z0-9-.]{1,64}', `${resourceType}.id`));
  }
  const tokens: Record<string, TypedValueWithPath[]> = {};
  const base = runMedplum(resource, undefined, tokens);
  for (const i of base) out.add(i);
  // Medplum already reports `[{}]` as an empty non-primitive value; say it once.
  for (const i of findEmptyValues(value, resourceType)) if (!out.hasErrorAt(i.expression?.[0] ?? '')) out.add(i);
  for (const i of validateClaimedProfiles(resource, tokens, new Set(base.map(issueKey)))) out.add(i);
  for (const i of checkRequiredCodes(tokens)) out.add(i);
  return out.issues;
}

/**
 * Throws an {@link OperationOutcomeError} (HTTP 400, or 413 for a resource over a size bound) carrying every error
 * issue when the resource is invalid. Warnings alone never reject a resource.
 */
export function assertValidResource(resource: Resource, limits: JsonLimits = DEFAULT_JSON_LIMITS): void {
  const errors = validateFhirResource(resource, limits).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length === 0) return;
  // Medplum's getStatus answers 413 for this outcome id.
  const tooLarge = errors.some((i) => i.code === 'too-long');
  throw new OperationOutcomeError({ resourceType: 'OperationOutcome', ...(tooLarge ? { id: 'content-too-large' } : {}), issue: errors });
}

function issue(
  severity: OperationOutcomeIssue['severity'],
  code: OperationOutcomeIssue['code'],
  text: string,
  expression?: string,
): OperationOutcomeIssue {
  return withDiagnostics({ severity, code, details: { text }, ...(expression ? { expression: [expression] } : {}) });
}

/** Haven's contract: every error outcome has a useful `diagnostics`; Medplum sets it only for invariants. */
function withDiagnostics(i: OperationOutcomeIssue): OperationOutcomeIssue {
  if (i.diagnostics) return i;
  const text = i.details?.text ?? i.code;
  return { ...i, diagnostics: i.expression?.length ? `${i.expression.join(', ')}: ${text}` : text };
}

function issueKey(i: OperationOutcomeIssue): string {
  return `${i.severity}|${i.code}|${i.expression?.join(',') ?? ''}|${i.details?.text ?? ''}`;
}

/** Ordered, duplicate-free issue collection (base and profile runs report the same problems twice). */
class IssueList {
  readonly issues: OperationOutcomeIssue[] = [];
  private readonly seen = new Set<string>();
  private readonly errorPaths = new Set<string>();

  add(i: OperationOutcomeIssue): void {
    const where = i.expression?.join(',') ?? '';
    const key = issueKey(i);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (i.severity === 'error') this.errorPaths.add(where);
    this.issues.push(withDiagnostics(i));
  }

  hasErrorAt(expression: string): boolean {
    return this.errorPaths.has(expression);
  }
}

/**
 * R4 JSON: "objects are never empty", arrays are never empty, and strings SHALL NOT be empty
 * (https://hl7.org/fhir/R4/json.html). Medplum treats these as absent, so a `name: []` would be stored.
 * `null` inside primitive arrays is legal (it pairs with `_name` extensions) and left to Medplum.
 */
function findEmptyValues(value: object, path: string): OperationOutcomeIssue[] {
  const found: OperationOutcomeIssue[] = [];
  const visit = (v: unknown, at: string): void => {
    if (v === '') found.push(issue('error', 'structure', 'Invalid empty string', at));
    else if (Array.isArray(v)) {
      if (v.length === 0) found.push(issue('error', 'structure', 'Invalid empty array', at));
      for (const [n, item] of v.entries()) visit(item, `${at}[${n}]`);
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v);
      if (entries.length === 0) found.push(issue('error', 'structure', 'Invalid empty object', at));
      for (const [k, child] of entries) visit(child, `${at}.${k}`);
    }
  };
  for (const [k, child] of Object.entries(value)) if (k !== 'resourceType') visit(child, `${path}.${k}`);
  return found;
}

/** Runs Medplum's validator, which throws on errors, and returns its issues either way, normalised. */
function runMedplum(
  resource: Resource,
  profile: StructureDefinition | undefined,
  tokens: Record<string, TypedValueWithPath[]>,
): OperationOutcomeIssue[] {
  let raw: OperationOutcomeIssue[];
  try {
    raw = validateResource(resource, { profile, collect: { tokens } });
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    raw = err.outcome.issue ?? [];
  }
  return raw.flatMap(normaliseMedplumIssue);
}

/** Medplum's issue text is "Invalid reference: got \"X\", …" where X is whatever precedes the first '/'. */
const REFERENCE_WARNING = /^Invalid reference: got "([^"]*)"/;

function normaliseMedplumIssue(i: OperationOutcomeIssue): OperationOutcomeIssue[] {
  const text = i.details?.text ?? '';
  // urn:uuid:/urn:oid: and absolute URLs are valid R4 references (transaction bundles depend on urn:uuid);
  // Medplum reads "urn:uuid:…" or "http:" as a resource type and warns. Keep only real type mismatches.
  // A relative reference to a type the element does not allow (Observation.subject → Medication) breaks
  // the element's targetProfile; Medplum only warns, Haven refuses to store it.
  const ref = REFERENCE_WARNING.exec(text);
  if (ref) return /^[A-Z][A-Za-z]+$/.test(ref[1] ?? '') ? [{ ...i, severity: 'error' }] : [];
  // Two values for one choice element (valueString + valueBoolean), or a primitive extension of the other
  // type, break R4's max=1 for value[x]; Medplum only warns "to avoid breaking existing code". We have none.
  if (text.startsWith('Conflicting choice of type properties') || text.startsWith('Type of primitive extension')) {
    return [{ ...i, severity: 'error' }];
  }
  // An invariant Medplum's FHIRPath engine cannot evaluate is our limitation, not the client's error, and a
  // 'processing' issue has no place in a 400 (nor should its Error object leak into diagnostics).
  if (i.code === 'processing') {
    return [issue('warning', 'informational', `${text} (invariant not checked)`, i.expression?.[0])];
  }
  return [i];
}

/** Canonical without `|version`, and the version if any. */
function splitCanonical(canonical: string): { url: string; version?: string } {
  const bar = canonical.lastIndexOf('|');
  return bar < 0 ? { url: canonical } : { url: canonical.slice(0, bar), version: canonical.slice(bar + 1) };
}

/** Checks each claimed profile; a profile run repeats every base-R4 problem, so those (`baseKeys`) are dropped. */
function validateClaimedProfiles(
  resource: Resource,
  tokens: Record<string, TypedValueWithPath[]>,
  baseKeys: ReadonlySet<string>,
): OperationOutcomeIssue[] {
  const claimed: unknown = resource.meta?.profile;
  if (!Array.isArray(claimed)) return []; // a non-array meta.profile is already a structure error
  const out: OperationOutcomeIssue[] = [];
  claimed.forEach((canonical: unknown, n) => {
    if (typeof canonical !== 'string' || canonical === '') return;
    const at = `${resource.resourceType}.meta.profile[${n}]`;
    const { url, version } = splitCanonical(canonical);
    const sd = havenProfiles.get(url);
    if (!sd || (version !== undefined && sd.version !== version)) {
      out.push(issue('warning', 'not-supported', `Profile ${canonical} is not known to this server; validated against R4 only`, at));
    } else if (sd.type !== resource.resourceType) {
      out.push(issue('error', 'invalid', `Profile ${canonical} constrains ${sd.type}, not ${resource.resourceType}`, at));
    } else if (!sd.snapshot?.element?.length) {
      out.push(issue('warning', 'not-supported', `Profile ${canonical} has no snapshot here; not enforced`, at));
    } else {
      for (const i of runMedplum(resource, sd, tokens)) {
        if (baseKeys.has(issueKey(i))) continue;
        out.push({ ...i, details: { ...i.details, text: `${i.details?.text ?? 'Invalid'} (profile ${url})` } });
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Required bindings on `code` elements. https://hl7.org/fhir/R4/terminologies.html#required
// A ValueSet is checked only when it expands completely from local definitions (an explicit concept list,
// or a whole CodeSystem whose content is 'complete'); anything with filters, imports or external systems
// (mime types, currencies) is accepted unchecked rather than risk rejecting valid data.

/** ValueSet url → the codes it allows, or null when it cannot be expanded locally. */
let expansions: Map<string, ReadonlySet<string> | null> | undefined;

function r4Bundle(name: string): Resource[] {
  const file = r4File(name);
  // Parsed, not require()d: the module cache would keep ~16 MB of JSON alive after expansion.
  const bundle = JSON.parse(readFileSync(file, 'utf8')) as Bundle;
  return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
}

function allCodes(concepts: CodeSystemConcept[] | undefined, into: Set<string>): void {
  for (const c of concepts ?? []) {
    into.add(c.code as string);
    allCodes(c.concept, into);
  }
}

function expandValueSet(vs: ValueSet, systems: Map<string, CodeSystem>): ReadonlySet<string> | null {
  if (!vs.compose?.include?.length || vs.compose.exclude?.length) return null;
  const codes = new Set<string>();
  for (const inc of vs.compose.include) {
    if (inc.filter?.length || inc.valueSet?.length || !inc.system) return null;
    if (inc.concept?.length) {
      for (const c of inc.concept) codes.add(c.code as string);
      continue;
    }
    const cs = systems.get(inc.system);
    if (cs?.content !== 'complete') return null;
    allCodes(cs.concept, codes);
  }
  return codes;
}

function getExpansions(): Map<string, ReadonlySet<string> | null> {
  if (expansions) return expansions;
  // Haven's own terminology last, so it can only add ValueSets, never silently replace an R4 one.
  const all = [...r4Bundle('valuesets.json'), ...r4Bundle('v3-codesystems.json'), ...readResourceFolder(PROFILES_DIR)];
  const systems = new Map<string, CodeSystem>();
  for (const r of all) if (r.resourceType === 'CodeSystem' && r.url && !systems.has(r.url)) systems.set(r.url, r);
  const built = new Map<string, ReadonlySet<string> | null>();
  for (const r of all) {
    if (r.resourceType === 'ValueSet' && r.url && !built.has(r.url)) built.set(r.url, expandValueSet(r, systems));
  }
  expansions = built;
  return built;
}

function checkRequiredCodes(tokens: Record<string, TypedValueWithPath[]>): OperationOutcomeIssue[] {
  const out: OperationOutcomeIssue[] = [];
  for (const [boundTo, values] of Object.entries(tokens)) {
    const { url } = splitCanonical(boundTo);
    for (const v of values) {
      if (v.type !== 'code') continue; // Coding/CodeableConcept bindings: not checked yet
      // A code with a `_code` extension arrives boxed (a String object); unwrap it.
      const code: unknown = v.value instanceof String ? v.value.valueOf() : v.value;
      if (typeof code !== 'string') continue;
      const allowed = getExpansions().get(url);
      if (allowed && !allowed.has(code)) {
        out.push(issue('error', 'code-invalid', `Code "${code.slice(0, 64)}" is not in the required value set ${url}`, v.path));
      }
    }
  }
  return out;
}
