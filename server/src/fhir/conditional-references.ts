/**
 * Conditional references (FHIR R4 http.html#trules, "Conditional References"): a `Reference.reference` of the form
 * `[type]?[search]`, which "in a transaction (and only in a transaction)" the server replaces by the one resource the
 * search finds. Anywhere else such a reference has no meaning, and stored as it is it would be a dangling
 * reference that nothing can follow or search; so every write refuses one that is still there
 * ({@link assertNoConditionalReferences}), and the transaction and batch handler (../http/conditional-references.ts)
 * resolves them before the repository sees them.
 *
 * Found with the R4 type model, so only elements of type Reference count (not `Expression.reference` or
 * `DetectedIssue.reference`, which are uris), wherever they are: nested elements, extensions, contained resources.
 * References inside resources carried by a Bundle or Parameters resource (its `entry.resource`) are that
 * document's content, not references of the resource being written, and are left alone.
 */
import { OperationOutcomeError, badRequest, crawlTypedValue, toTypedValue } from '@medplum/core';
import type { Reference, Resource } from '@medplum/fhirtypes';

/** `Type?query`: a resource type, then a search. */
const CONDITIONAL_PATTERN = /^([A-Z][A-Za-z]{0,63})\?(.*)$/s;

/** One conditional reference in a resource. */
export interface ConditionalReference {
  /** The Reference element itself (resolving it replaces its `reference`). */
  readonly element: Reference;
  /** Where it is, as a FHIRPath without indexes (`Observation.subject`, `Observation.contained.performer`). */
  readonly path: string;
  /** The searched type. */
  readonly resourceType: string;
  /** The search, as written after the `?`. */
  readonly query: string;
}

/** Splits `Type?query`; undefined for anything else. */
export function parseConditionalReference(value: unknown): { resourceType: string; query: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const m = CONDITIONAL_PATTERN.exec(value);
  return m ? { resourceType: m[1], query: m[2] } : undefined;
}

/** Cheap first pass: does any `reference` property anywhere hold a `Type?query` string? */
function mayHoldConditionalReference(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(mayHoldConditionalReference);
  if (value === null || typeof value !== 'object') return false;
  for (const [key, v] of Object.entries(value)) {
    if (key === 'reference' && parseConditionalReference(v)) return true;
    if (typeof v === 'object' && mayHoldConditionalReference(v)) return true;
  }
  return false;
}

/** Every conditional reference of `resource` (the resource itself and its contained resources). */
export function findConditionalReferences(resource: Resource): ConditionalReference[] {
  if (!mayHoldConditionalReference(resource)) return [];
  const found: ConditionalReference[] = [];
  // Depth inside resources that are another resource's payload (Bundle.entry.resource, Parameters…resource).
  let payloadDepth = 0;
  try {
    crawlTypedValue(toTypedValue(resource), {
      onEnterResource(path) {
        if (/\.resource$/.test(path)) payloadDepth++;
      },
      onExitResource(path) {
        if (/\.resource$/.test(path)) payloadDepth--;
      },
      onEnterObject(path, value) {
        if (payloadDepth > 0 || value.type !== 'Reference' || value.value === null || typeof value.value !== 'object') return;
        const element = value.value as Reference;
        const parsed = parseConditionalReference(element.reference);
        if (parsed) found.push({ element, path, ...parsed });
      },
      visitProperty() {},
    });
  } catch {
    // Not a resource the type model knows (an unknown resourceType): validation refuses it before it is stored.
    // Until then, every `reference` property of the right form counts.
    return plainWalk(resource, resource.resourceType ?? 'Resource');
  }
  return found;
}

function plainWalk(value: unknown, path: string, out: ConditionalReference[] = []): ConditionalReference[] {
  if (Array.isArray(value)) {
    for (const v of value) plainWalk(v, path, out);
  } else if (value !== null && typeof value === 'object') {
    const parsed = parseConditionalReference((value as Reference).reference);
    if (parsed) out.push({ element: value as Reference, path, ...parsed });
    for (const [key, v] of Object.entries(value)) if (typeof v === 'object') plainWalk(v, `${path}.${key}`, out);
  }
  return out;
}

/**
 * Refuses a resource that still holds a conditional reference: outside a transaction Bundle nothing resolves it
 * (R4 defines it only there), and stored literally it would point nowhere.
 */
export function assertNoConditionalReferences(resource: Resource): void {
  const [first] = findConditionalReferences(resource);
  if (!first) return;
  throw new OperationOutcomeError(
    badRequest(
      `Conditional reference "${String(first.element.reference).slice(0, 120)}" at ${first.path}: conditional references are ` +
        'resolved only inside a transaction or batch Bundle (FHIR R4 http.html#trules); refer to the resource as Type/id, ' +
        'or send the write in a transaction Bundle',
      first.path,
    ),
  );
}
