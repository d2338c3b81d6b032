/**
 * Conditional references in transaction and batch Bundles (FHIR R4 http.html#trules, "Conditional References"):
 * `{"reference": "Patient?identifier=http://hospital.example/mrn|12345"}` in an entry's resource is resolved by that
 * search, under the caller's access (a resource the caller cannot see is no match, so nothing leaks its existence),
 * and replaced by `Patient/{id}` before the entry is written. @medplum/fhir-router 5.2 rewrites only `urn:uuid:`
 * references; this wraps its batch handler.
 *
 * Transaction (all or nothing). R4 lists "Resolve any conditional references" after the DELETE, POST, PUT/PATCH and
 * GET steps, so a conditional reference means the one match in the state the transaction leaves. Haven:
 * 1. resolves each distinct search once, inside the transaction and before any entry is written: against what is
 *    stored, or, when an entry of the same Bundle has that very search as its conditional create (`ifNoneExist`) or
 *    conditional update/patch URL, to that entry's resource (through its `urn:uuid:` fullUrl, which Medplum rewrites to
 *    the id it creates or finds);
 * 2. writes the entries;
 * 3. runs each search again, still inside the transaction: it must find exactly the resource chosen in 1. The
 *    transaction's own writes can add a second match or remove the first, and then the reference would not name the
 *    one match any more.
 * No match or several, in 1 or 3: `412 Precondition Failed`, nothing is written, and the OperationOutcome names the
 * reference (its location in the Bundle) and how many resources matched. A match created by an entry that is not a
 * conditional create/update with the same search is not found in step 1 (412): give that entry a `urn:uuid:`
 * fullUrl and refer to it, or make it a conditional create.
 *
 * Batch (entries independent, R4 http.html#brules): each entry's conditional references are resolved against what is
 * stored, and an entry whose reference finds no match or several gets its own `412` response entry while the others
 * proceed. Outside a Bundle a conditional reference is refused by the repository (`400`,
 * ../fhir/conditional-references.ts).
 */
import { randomUUID } from 'node:crypto';
import { OperationOutcomeError, allOk, badRequest, getStatus, isOk, isResourceType } from '@medplum/core';
import type { SearchRequest } from '@medplum/core';
import type { FhirRequest, FhirResponse, FhirRouteHandler } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { findConditionalReferences, type ConditionalReference } from '../fhir/conditional-references.ts';
import type { HavenRepository } from '../store/repository.ts';
import { RESULT_PARAMS, parseSearch } from '../store/search/index.ts';

/** The `urn:uuid:` form Medplum rewrites to assigned ids (lower-case hex only). */
const REWRITTEN_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** One distinct search used by conditional references, and where it is used. */
interface Criteria {
  /** `Type?query` with its parameters sorted: two spellings of one search share it. */
  readonly key: string;
  readonly text: string;
  readonly search: SearchRequest;
  /** Location of its first use, for error messages (`Bundle.entry[2].resource` + path). */
  readonly where: string;
  readonly uses: ConditionalReference[];
}

/** What a search resolved to: a stored resource, or the resource an entry of the Bundle writes. */
type Target = { readonly reference: string } | { readonly entry: number; readonly placeholder: string };

/** `Type?a=1&b=2` with its parameters in one order, so that equal searches compare equal. */
export function criteriaKey(resourceType: string, query: string): string {
  const pairs = [...new URLSearchParams(query)].sort(([a, x], [b, y]) => (a === b ? x.localeCompare(y) : a.localeCompare(b)));
  return `${resourceType}?${new URLSearchParams(pairs).toString()}`;
}

/** Parses and checks the search of a conditional reference: a known type, filters only, at least one. */
function toSearch(ref: ConditionalReference, where: string): SearchRequest {
  const text = `${ref.resourceType}?${ref.query}`.slice(0, 200);
  if (!isResourceType(ref.resourceType)) {
    throw new OperationOutcomeError(badRequest(`Conditional reference "${text}": unknown resource type ${ref.resourceType}`, where));
  }
  const pairs = [...new URLSearchParams(ref.query)];
  const control = pairs.map(([k]) => k.split(':')[0]).find((k) => RESULT_PARAMS.has(k));
  if (control) {
    throw new OperationOutcomeError(
      badRequest(`Conditional reference "${text}": only filtering parameters are allowed (R4 http.html#trules), not ${control}`, where),
    );
  }
  if (pairs.length === 0) {
    throw new OperationOutcomeError(badRequest(`Conditional reference "${text}" has no search parameters`, where));
  }
  // Two matches are enough to know there is not exactly one.
  return { ...parseSearch(ref.resourceType, ref.query), count: 2, offset: 0, sortRules: undefined, total: undefined };
}

/**
 * 412 naming the reference and what it matched: no resource, several, or (after the writes) another one than the
 * resource it was resolved to.
 */
function notExactlyOne(c: Criteria, matched: number, afterWrites: boolean): OperationOutcomeError {
  const how = matched === 0 ? 'matched no resource' : matched === 1 ? 'matched another resource' : 'matched more than one resource';
  const when = afterWrites ? ' once the transaction’s own writes are applied' : '';
  const diagnostics =
    `Conditional reference "${c.text}" at ${c.where} ${how}${when} (visible to this client); ` +
    'it must match exactly one (FHIR R4 http.html#trules). Nothing was written.';
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    // The id makes @medplum/core's getStatus answer 412.
    id: 'precondition-failed',
    issue: [
      {
        severity: 'error',
        code: matched === 0 ? 'not-found' : matched === 1 ? 'conflict' : 'multiple-matches',
        details: { text: diagnostics },
        diagnostics,
        expression: [c.where],
      },
    ],
  };
  return new OperationOutcomeError(outcome);
}

/** The conditional references of each entry's resource (entries without any are left out). */
function referencesByEntry(bundle: Bundle): Map<number, ConditionalReference[]> {
  const out = new Map<number, ConditionalReference[]>();
  (bundle.entry ?? []).forEach((e, i) => {
    if (!e.resource || (e.request?.method !== 'POST' && e.request?.method !== 'PUT')) return;
    const refs = findConditionalReferences(e.resource);
    if (refs.length > 0) out.set(i, refs);
  });
  return out;
}

/** Groups references by distinct search (checked and parsed once each). */
function criteriaOf(byEntry: ReadonlyMap<number, ConditionalReference[]>): Map<string, Criteria> {
  const out = new Map<string, Criteria>();
  for (const [i, refs] of byEntry) {
    for (const ref of refs) {
      const key = criteriaKey(ref.resourceType, ref.query);
      const existing = out.get(key);
      if (existing) {
        existing.uses.push(ref);
        continue;
      }
      const where = `Bundle.entry[${i}].resource${ref.path.slice(ref.path.indexOf('.'))}`;
      out.set(key, { key, text: `${ref.resourceType}?${ref.query}`.slice(0, 200), search: toSearch(ref, where), where, uses: [ref] });
    }
  }
  return out;
}

/** The search an entry writes by (conditional create or update/patch), as a {@link criteriaKey}. */
function conditionalIdentity(entry: BundleEntry): string | undefined {
  const url = entry.request?.url ?? '';
  const type = url.split(/[/?]/)[0];
  if (entry.request?.method === 'POST' && entry.request.ifNoneExist) return criteriaKey(type, entry.request.ifNoneExist.replace(/^\?/, ''));
  if ((entry.request?.method === 'PUT' || entry.request?.method === 'PATCH') && url.includes('?')) {
    return criteriaKey(type, url.slice(url.indexOf('?') + 1));
  }
  return undefined;
}

/**
 * The entry whose conditional create/update uses this very search, with a `urn:uuid:` fullUrl Medplum will rewrite
 * (one is given to an entry without fullUrl). Undefined when none, or more than one, does.
 */
function entryTarget(bundle: Bundle, key: string): Target | undefined {
  const entries = bundle.entry ?? [];
  const matching = entries.flatMap((e, i) => (conditionalIdentity(e) === key ? [i] : []));
  if (matching.length !== 1) return undefined;
  const entry = entries[matching[0]];
  if (entry.fullUrl === undefined) entry.fullUrl = `urn:uuid:${randomUUID()}`;
  if (!REWRITTEN_URN.test(entry.fullUrl)) return undefined;
  return { entry: matching[0], placeholder: entry.fullUrl };
}

/** `Type/id` of a stored resource. */
function referenceTo(resource: Resource): string {
  return `${resource.resourceType}/${resource.id}`;
}

/**
 * Runs the search of a conditional reference. A refusal (a 400 for a bad parameter, a 403 without a search grant on
 * the type) keeps its status and says which reference it is about.
 */
async function matchesOf(repo: HavenRepository, c: Criteria): Promise<Resource[]> {
  try {
    return await repo.searchResources(c.search);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError) || getStatus(err.outcome) >= 500) throw err;
    const prefix = `Conditional reference "${c.text}" at ${c.where}: `;
    const outcome: OperationOutcome = {
      ...err.outcome,
      issue: (err.outcome.issue ?? []).map((issue) => {
        const text = `${prefix}${issue.diagnostics ?? issue.details?.text ?? ''}`;
        return { ...issue, details: { text }, diagnostics: text, expression: [c.where] };
      }),
    };
    throw new OperationOutcomeError(outcome);
  }
}

/** A transaction with conditional references: resolve, write, check (see the module comment). */
async function transaction(
  handler: FhirRouteHandler,
  req: FhirRequest,
  repo: HavenRepository,
  args: Parameters<FhirRouteHandler>,
  bundle: Bundle,
  byEntry: Map<number, ConditionalReference[]>,
): Promise<FhirResponse> {
  const criteria = criteriaOf(byEntry);
  return repo.withTransaction(async (tx) => {
    const targets = new Map<string, Target>();
    for (const c of criteria.values()) {
      const inBundle = entryTarget(bundle, c.key);
      if (inBundle) {
        targets.set(c.key, inBundle);
        continue;
      }
      const matches = await matchesOf(tx, c);
      if (matches.length !== 1) throw notExactlyOne(c, matches.length, false);
      targets.set(c.key, { reference: referenceTo(matches[0]) });
    }
    for (const c of criteria.values()) {
      const target = targets.get(c.key) as Target;
      for (const use of c.uses) use.element.reference = 'reference' in target ? target.reference : target.placeholder;
    }
    const result = await handler(req, tx, args[2], args[3]);
    if (!isOk(result[0])) return result;
    const written = (result[1] as Bundle | undefined)?.entry ?? [];
    for (const c of criteria.values()) {
      const target = targets.get(c.key) as Target;
      const entryResource = 'entry' in target ? written[target.entry]?.resource : undefined;
      const expected = 'reference' in target ? target.reference : entryResource ? referenceTo(entryResource) : undefined;
      const matches = await matchesOf(tx, c);
      if (matches.length !== 1 || referenceTo(matches[0]) !== expected) throw notExactlyOne(c, matches.length, true);
    }
    return result;
  });
}

/** A batch with conditional references: each entry resolved on its own; an unresolved one fails alone. */
async function batch(
  handler: FhirRouteHandler,
  req: FhirRequest,
  repo: HavenRepository,
  args: Parameters<FhirRouteHandler>,
  bundle: Bundle,
  byEntry: Map<number, ConditionalReference[]>,
): Promise<FhirResponse> {
  const entries = bundle.entry ?? [];
  const failed = new Map<number, BundleEntry>();
  const resolved = new Map<string, string>();
  for (const [i, refs] of byEntry) {
    try {
      for (const [key, c] of criteriaOf(new Map([[i, refs]]))) {
        let reference = resolved.get(key);
        if (reference === undefined) {
          const matches = await matchesOf(repo, c);
          if (matches.length !== 1) throw notExactlyOne(c, matches.length, false);
          reference = referenceTo(matches[0]);
          resolved.set(key, reference);
        }
        for (const use of c.uses) use.element.reference = reference;
      }
    } catch (err) {
      if (!(err instanceof OperationOutcomeError)) throw err;
      failed.set(i, { response: { status: String(getStatus(err.outcome)), outcome: err.outcome } });
    }
  }
  if (failed.size === 0) return handler(req, repo, args[2], args[3]);
  const kept = entries.flatMap((_, i) => (failed.has(i) ? [] : [i]));
  let keptResponses: BundleEntry[] = [];
  if (kept.length > 0) {
    const result = await handler({ ...req, body: { ...bundle, entry: kept.map((i) => entries[i]) } }, repo, args[2], args[3]);
    if (!isOk(result[0])) return result;
    keptResponses = (result[1] as Bundle | undefined)?.entry ?? [];
  }
  const response: Bundle = {
    resourceType: 'Bundle',
    type: 'batch-response',
    entry: entries.map((_, i) => failed.get(i) ?? keptResponses[kept.indexOf(i)] ?? {}),
  };
  return [allOk, response];
}

/**
 * Wraps @medplum/fhir-router's batch/transaction handler (`POST [base]`) so that conditional references are
 * resolved as the module comment says. Bundles without any go straight through.
 */
export function resolvingConditionalReferences(handler: FhirRouteHandler): FhirRouteHandler {
  return async (...args) => {
    const [req, fhirRepo] = args;
    const bundle = req.body as Bundle | undefined;
    if (bundle?.resourceType !== 'Bundle' || (bundle.type !== 'transaction' && bundle.type !== 'batch')) return handler(...args);
    const byEntry = referencesByEntry(bundle);
    if (byEntry.size === 0) return handler(...args);
    const repo = fhirRepo as HavenRepository;
    // Medplum processes a `transaction` atomically only when the request says transactions are on (always, from
    // Haven's API, bots and import); otherwise it is a batch, and so it is here.
    if (bundle.type === 'transaction' && req.config?.transactions) return transaction(handler, req, repo, args, bundle, byEntry);
    return batch(handler, req, repo, args, bundle, byEntry);
  };
}
