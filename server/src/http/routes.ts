/**
 * Haven's FHIR interaction table: @medplum/fhir-router's routes (CRUD, search, batch/transaction, patch,
 * conditional operations) plus what Haven adds: type/system history, instance history with _since/_at,
 * Patient/$everything, $validate, and conditional references resolved in batch and transaction Bundles
 * (./conditional-references.ts). Access policy is enforced below the handlers, in the repository, history,
 * $everything and search (../policy); $validate reads no data but still needs some grant on the type.
 */
import { OperationOutcomeError, allOk, badRequest, conflict, created, isOk } from '@medplum/core';
import { FhirRouter, type FhirRequest, type FhirResponse, type FhirRouteHandler } from '@medplum/fhir-router';
import type { Bundle, OperationOutcome, OperationOutcomeIssue, Parameters, Resource } from '@medplum/fhirtypes';
import { validateFhirResource } from '../fhir/validate.ts';
import { forbidden, isRestricted, reachesAny } from '../model/access.ts';
import { readEverythingPage } from '../store/everything.ts';
import { parseHistoryInstant, readHistoryPage } from '../store/history.ts';
import { pageLinks, requestedCount, requestedOffset, single, type PageRequest } from '../store/paging.ts';
import type { HavenRepository, WriteWarning } from '../store/repository.ts';
import { resolvingConditionalReferences } from './conditional-references.ts';
import type { SearchRequestWithQuery } from '../store/search-exec.ts';
import { parseSearch } from '../store/search/index.ts';

/** Path of a request below the FHIR base, without the query string. */
function pathOf(req: FhirRequest): string {
  return req.url.split('?')[0].replace(/^\/+/, '');
}

function pageRequest(req: FhirRequest, repo: HavenRepository): PageRequest {
  return { baseUrl: repo.ctx.baseUrl, path: pathOf(req), query: req.query, tenant: repo.ctx.tenant, secret: repo.ctx.cursorSecret };
}

const HISTORY_PARAMS = new Set(['_since', '_at', '_count', '_cursor', '_offset', '_format', '_pretty', '_summary', '_elements']);

function assertKnownParams(req: FhirRequest, allowed: ReadonlySet<string>, what: string): void {
  for (const name of Object.keys(req.query)) {
    if (!allowed.has(name)) throw new OperationOutcomeError(badRequest(`Unknown parameter "${name.slice(0, 60)}" for ${what}`, name));
  }
}

/** History at any level: params carry resourceType and id when present. */
const history: FhirRouteHandler = async (req, fhirRepo) => {
  const repo = fhirRepo as HavenRepository;
  assertKnownParams(req, HISTORY_PARAMS, 'history');
  const { resourceType, id } = req.params;
  if (resourceType && id)
    await repo.readResource(resourceType, id).catch((err: unknown) => {
      // A deleted resource still has history; only "never existed" is a 404.
      if (err instanceof OperationOutcomeError && err.outcome.issue?.[0]?.code === 'deleted') return;
      throw err;
    });
  const since = single(req.query._since);
  const at = single(req.query._at);
  const paging = pageRequest(req, repo);
  const count = requestedCount(req.query, repo.ctx.defaultCount, repo.ctx.maxCount);
  const offset = requestedOffset(paging);
  const bundle = await readHistoryPage(repo, {
    resourceType,
    id,
    count,
    offset,
    since: since === undefined ? undefined : parseHistoryInstant('_since', since),
    at: at === undefined ? undefined : parseHistoryInstant('_at', at),
  });
  bundle.link = pageLinks(paging, offset, count, offset + count < (bundle.total ?? 0));
  return [allOk, bundle];
};

const EVERYTHING_PARAMS = new Set(['_since', '_type', '_count', '_cursor', '_offset', '_format', '_pretty']);

/** Patient/$everything. */
const everything: FhirRouteHandler = async (req, fhirRepo) => {
  const repo = fhirRepo as HavenRepository;
  assertKnownParams(req, EVERYTHING_PARAMS, '$everything');
  const since = single(req.query._since);
  const typeParam = single(req.query._type);
  const types = typeParam
    ?.split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  for (const t of types ?? []) {
    if (!/^[A-Z][A-Za-z]+$/.test(t)) throw new OperationOutcomeError(badRequest(`Invalid _type "${t.slice(0, 60)}"`, '_type'));
  }
  const paging = pageRequest(req, repo);
  const count = requestedCount(req.query, repo.ctx.defaultCount, repo.ctx.maxCount);
  const offset = requestedOffset(paging);
  const page = await readEverythingPage(repo, {
    patientId: req.params.id,
    count,
    offset,
    types,
    since: since === undefined ? undefined : parseHistoryInstant('_since', since),
  });
  const bundle: Bundle = {
    resourceType: 'Bundle',
    type: 'searchset',
    total: page.total,
    link: pageLinks(paging, offset, count, offset + count < page.total),
    entry: page.resources.map((r) => {
      const res = r as Resource;
      return { fullUrl: `${repo.ctx.baseUrl}/${res.resourceType}/${res.id}`, resource: res, search: { mode: 'match' as const } };
    }),
  };
  return [allOk, bundle];
};

/**
 * $validate on a type (R4 resource-operation-validate): the resource in the body or in Parameters.resource.
 * It touches no stored data, so any grant on the type (c, r, u, d or s) is enough.
 */
const validate: FhirRouteHandler = async (req, fhirRepo) => {
  const access = (fhirRepo as HavenRepository).ctx.access;
  const type = req.params.resourceType;
  if (isRestricted(access) && !reachesAny(access, type)) {
    throw forbidden(`Insufficient scope: $validate on ${type} needs some scope on ${type} (e.g. patient/${type}.c or user/${type}.r)`);
  }
  let resource = req.body as Resource | Parameters | undefined;
  if (resource?.resourceType === 'Parameters') {
    resource = (resource as Parameters).parameter?.find((p) => p.name === 'resource')?.resource;
  }
  if (!resource || typeof resource !== 'object')
    throw new OperationOutcomeError(badRequest('$validate needs a resource in the body or in Parameters.resource'));
  if (resource.resourceType !== req.params.resourceType) {
    throw new OperationOutcomeError(
      badRequest(`Resource type ${String(resource.resourceType)} does not match ${req.params.resourceType}/$validate`),
    );
  }
  const issues = validateFhirResource(resource as Resource, (fhirRepo as HavenRepository).ctx.limits);
  const outcome = {
    resourceType: 'OperationOutcome' as const,
    issue:
      issues.length > 0
        ? issues
        : [{ severity: 'information' as const, code: 'informational' as const, details: { text: 'Validation passed' } }],
  };
  // $validate succeeds as an operation (200) and reports the resource's issues in the body.
  return [allOk, outcome] satisfies FhirResponse;
};

/** SQLSTATEs that mean "a concurrent writer won": the client may retry. */
const CONFLICT_SQLSTATES = new Set(['40001', '40P01', '23505']);

/**
 * Keeps internal failures internal: an error that is not an OperationOutcomeError would otherwise be
 * turned into a 400 carrying its raw message (SQL text included) by the router.
 */
export function guardHandler(handler: FhirRouteHandler, log: (event: Record<string, unknown>) => void): FhirRouteHandler {
  return async (req, repo, router, options) => {
    try {
      return await handler(req, repo, router, options);
    } catch (err) {
      if (err instanceof OperationOutcomeError) throw err;
      const sqlState = (err as { code?: unknown }).code;
      if (typeof sqlState === 'string' && CONFLICT_SQLSTATES.has(sqlState)) {
        throw new OperationOutcomeError(conflict('A concurrent request changed the same resource; retry the request'));
      }
      log({
        level: 'error',
        event: 'fhir.internal_error',
        method: req.method,
        error: err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown',
      });
      throw new OperationOutcomeError({
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'exception', details: { text: 'Internal server error; the request was not applied' } }],
      });
    }
  };
}

/** Type-level and system-level search (GET and POST _search), keeping the raw query for links. */
const search: FhirRouteHandler = async (req, repo) => {
  const resourceType = req.params.resourceType ?? 'MultipleTypes';
  const isPostSearch = req.method === 'POST';
  const query = (isPostSearch ? req.body : req.query) as Record<string, string | string[] | undefined>;
  if (resourceType === 'MultipleTypes' && query._type === undefined) {
    throw new OperationOutcomeError(badRequest('System-level search needs _type (e.g. _type=Patient,Practitioner)', '_type'));
  }
  const searchRequest: SearchRequestWithQuery = parseSearch(resourceType, query);
  searchRequest.rawQuery = query;
  return [allOk, await repo.search(searchRequest)];
};

/** A write warning as an OperationOutcome issue. */
export function warningIssue(w: WriteWarning): OperationOutcomeIssue {
  return {
    severity: 'warning',
    code: 'informational',
    details: { text: w.text },
    diagnostics: `${w.source}: ${w.text}`,
    expression: [w.resourceType],
  };
}

/** `outcome` with the warnings added (a new object: Medplum's outcomes are shared constants; the id carries the status). */
export function withWarnings(outcome: OperationOutcome, warnings: readonly WriteWarning[]): OperationOutcome {
  return { ...outcome, issue: [...(outcome.issue ?? []), ...warnings.map(warningIssue)] };
}

/**
 * Reports the warnings write hooks raised while `handler` ran (veto bots that allow a write with a warning) in its
 * outcome: a single write's response outcome, or, inside a batch or transaction, the entry's `response.outcome`. A
 * failed handler's warnings are dropped with its write.
 */
function reportWriteWarnings(handler: FhirRouteHandler): FhirRouteHandler {
  return async (req, fhirRepo, router, options) => {
    const sink = (fhirRepo as HavenRepository).ctx?.warnings;
    if (!sink) return handler(req, fhirRepo, router, options);
    const start = sink.length;
    try {
      const result = await handler(req, fhirRepo, router, options);
      const raised = sink.splice(start);
      if (raised.length === 0 || !isOk(result[0])) return result;
      return [withWarnings(result[0], raised), result[1]] as FhirResponse;
    } catch (err) {
      sink.splice(start);
      throw err;
    }
  };
}

/** Update-as-create (R4 §3.1.0.4.3) answers 201: a PUT whose result is version 1 created the resource. */
function reportUpdateAsCreate(update: FhirRouteHandler): FhirRouteHandler {
  return async (req, repo, router, options) => {
    const result = await update(req, repo, router, options);
    const [outcome, resource] = result;
    if (isOk(outcome) && resource?.meta?.versionId === '1') return [created, resource];
    return result;
  };
}

/** Builds the router used for every tenant. `log` receives internal errors (never PHI). */
export function createFhirRouter(log: (event: Record<string, unknown>) => void): FhirRouter {
  const router = new FhirRouter();
  // Replace the instance-history route so _since/_at/_count and cursors apply at every level.
  const routes = router.router.routes;
  const instanceHistory = routes.findIndex(
    (r) => r.method === 'GET' && r.path.map((s) => (s.param ? ':' : s.value)).join('/') === ':/:/_history',
  );
  if (instanceHistory >= 0) routes.splice(instanceHistory, 1);
  router.add('GET', ':resourceType/:id/_history', history, 'history-instance');
  router.add('GET', ':resourceType/_history', history, 'history-type');
  router.add('GET', '_history', history, 'history-system');
  router.add('GET', 'Patient/:id/$everything', everything, 'operation');
  router.add('POST', ':resourceType/$validate', validate, 'operation');
  for (const route of routes) {
    const shape = `${route.method} ${route.path.map((seg) => (seg.param ? ':' : seg.value)).join('/')}`;
    if (shape === 'GET ' || shape === 'GET :' || shape === 'POST :/_search') route.handler = search;
    if (shape === 'PUT :/:') route.handler = reportUpdateAsCreate(route.handler);
    // batch and transaction: conditional references (`Patient?identifier=…`) resolved (./conditional-references.ts)
    if (shape === 'POST ') route.handler = resolvingConditionalReferences(route.handler);
  }
  // GraphQL is not part of Haven's API (not advertised, not policy-reviewed): remove it.
  const graphql = routes.findIndex((r) => r.path.length === 1 && r.path[0].value === '$graphql');
  if (graphql >= 0) routes.splice(graphql, 1);
  for (const route of routes) route.handler = guardHandler(reportWriteWarnings(route.handler), log);
  return router;
}
