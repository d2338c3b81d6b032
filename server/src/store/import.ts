/**
 * Bulk import into one tenant, shared by the CLI (direct storage) and the admin channel (through a
 * running server). Two paths, both through {@link HavenRepository} so validation, indexing and whatever
 * later hooks the repository gains (audit, outbox) apply to imported data exactly as to API writes:
 * - transaction/batch Bundles go through the FHIR router as one request, exactly as `POST /fhir` would:
 *   a transaction is atomic and its `urn:uuid` references are resolved by the router (FHIR R4 §3.1.0.11.2);
 *   a batch applies entry by entry, each failed entry reported.
 * - loose resources (NDJSON lines, collection/searchset entries) are upserted keeping their ids, in
 *   chunks that each run in one transaction (one commit per chunk is what makes NDJSON ingest fast).
 * Failures carry a location (line or entry) and the validator's issue text, never resource content.
 */
import { OperationOutcomeError, getStatus, isOk } from '@medplum/core';
import type { FhirRouter } from '@medplum/fhir-router';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { DEFAULT_JSON_LIMITS, checkJsonShape, describeShapeProblem, type JsonLimits } from '../fhir/json-shape.ts';
import { validateFhirResource } from '../fhir/validate.ts';
import type { Db } from './db.ts';
import { INDEX_TABLES } from './index-rows.ts';
import { HavenRepository, type WriteHooks } from './repository.ts';

/** One problem, located by NDJSON line (1-based) or Bundle entry (0-based, as in `Bundle.entry[n]`). */
export interface ImportFailure {
  line?: number;
  entry?: number;
  reason: string;
}

/** Outcome of importing one unit (a Bundle, or a chunk of resources). */
export interface ImportResult {
  /** Resources written (created, updated or deleted). */
  imported: number;
  failures: ImportFailure[];
  /**
   * The unit was refused as a whole with 412 (a conditional reference such as `Practitioner?identifier=…` matched
   * nothing, or a precondition failed): it may succeed once other files have been imported (Synthea writes its
   * patients' bundles before the Practitioner and Organization bundles they point at).
   */
  preconditionFailed?: boolean;
}

/** A resource to upsert and where it came from. */
export interface ImportItem {
  /** NDJSON line number (1-based) or Bundle entry index (0-based), per the call's `locate`. */
  at: number;
  resource: unknown;
}

/** Where and how to write. */
export interface ImportContext {
  db: Db;
  router: FhirRouter;
  tenant: string;
  /** FHIR base URL of the tenant (fullUrl of responses). */
  baseUrl: string;
  cursorSecret: string;
  /** Resource types Haven serves; others are refused per item. */
  servedTypes: ReadonlySet<string>;
  /** The running server's write hooks (Subscription registration, veto bots), when imported through it. */
  hooks?: WriteHooks;
  /** Bounds on each document's and resource's shape (../fhir/json-shape.ts); the defaults when absent. */
  limits?: JsonLimits;
}

/**
 * Resources per transaction when upserting loose resources. Measured on PostgreSQL (2-core VM): one
 * transaction per resource ~140/s, 250 per transaction ~900/s, 1000 no faster; PGlite barely cares.
 */
export const IMPORT_CHUNK = 250;

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const STATS_TABLES = ['resources', 'resource_history', ...Object.values(INDEX_TABLES)].join(', ');
const MAX_REASON = 500;

function repository(ctx: ImportContext): HavenRepository {
  return new HavenRepository({
    db: ctx.db,
    tenant: ctx.tenant,
    baseUrl: ctx.baseUrl,
    maxCount: 1000,
    defaultCount: 20,
    lenient: false,
    cursorSecret: ctx.cursorSecret,
    ...(ctx.hooks ? { hooks: ctx.hooks } : {}),
    ...(ctx.limits ? { limits: ctx.limits } : {}),
  });
}

/** The error issues of an OperationOutcome as one line: FHIRPath location and issue text only. */
export function outcomeText(outcome: OperationOutcome | undefined): string {
  const issues = (outcome?.issue ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  const text = issues
    .map(
      (i) =>
        i.diagnostics ?? (i.expression?.length ? `${i.expression.join(', ')}: ${i.details?.text ?? i.code}` : (i.details?.text ?? i.code)),
    )
    .join('; ');
  return (text || 'rejected').slice(0, MAX_REASON);
}

/**
 * Why a write failed, without echoing data: FHIR errors keep their outcome text; anything else (a storage
 * error, whose message may quote values) is reduced to its SQLSTATE.
 */
export function failureReason(err: unknown): string {
  if (err instanceof OperationOutcomeError) return outcomeText(err.outcome);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? `storage error (SQLSTATE ${code})` : 'internal error; not written';
}

function locate(kind: 'line' | 'entry', at: number, reason: string): ImportFailure {
  return kind === 'line' ? { line: at, reason } : { entry: at, reason };
}

function shapeProblem(resource: unknown, servedTypes: ReadonlySet<string>, limits: JsonLimits): string | undefined {
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) return 'not a JSON object';
  const shape = checkJsonShape(resource, limits);
  if (shape) return describeShapeProblem(shape);
  const type = (resource as { resourceType?: unknown }).resourceType;
  if (typeof type !== 'string') return 'missing resourceType';
  if (!servedTypes.has(type)) return `resource type "${type.slice(0, 64)}" is not served by Haven`;
  return undefined;
}

/** Creates (no id) or updates-or-creates (with id) one resource through the repository. */
async function upsert(repo: HavenRepository, resource: Resource): Promise<void> {
  if (resource.id === undefined) await repo.createResource(resource);
  else await repo.updateResource(resource);
}

/** Rows written through each database handle since its planner statistics were last refreshed. */
const sinceAnalyze = new WeakMap<Db, { written: number; rows: number }>();

/**
 * Refreshes planner statistics on the first import through a database handle and then whenever the
 * import has grown the tables by a fifth (at least 1000 rows). PGlite has no autovacuum, so without this
 * its statistics stay those of an empty database and the planner reads a resource by scanning
 * (tenant, type, last_updated) instead of the primary key: each write gets slower as the table grows
 * (measured: 2.2 to 5.8 s per 1000 Observations over 8000). PostgreSQL's autovacuum gets there, but
 * too late for the import into a fresh database.
 */
async function keepStatisticsFresh(db: Db, written: number): Promise<void> {
  const s = sinceAnalyze.get(db);
  if (s) {
    s.written += written;
    if (s.written < Math.max(1000, s.rows / 5)) return;
  }
  await db.query(`ANALYZE ${STATS_TABLES}`);
  const { rows } = await db.query<{ n: number }>("SELECT reltuples::float8 AS n FROM pg_class WHERE relname = 'resources'");
  sinceAnalyze.set(db, { written: 0, rows: Math.max(0, rows[0]?.n ?? 0) });
}

/**
 * Upserts `items` in one transaction. FHIR errors (validation, bad id) are thrown before any SQL runs, so
 * they are recorded per item and the transaction carries on. A storage error aborts the transaction;
 * the chunk is then replayed one item per transaction so that only the culprit is reported.
 */
export async function importResources(ctx: ImportContext, items: readonly ImportItem[], kind: 'line' | 'entry'): Promise<ImportResult> {
  const result: ImportResult = { imported: 0, failures: [] };
  const writable: ImportItem[] = [];
  for (const item of items) {
    const problem = shapeProblem(item.resource, ctx.servedTypes, ctx.limits ?? DEFAULT_JSON_LIMITS);
    if (problem) result.failures.push(locate(kind, item.at, problem));
    else writable.push(item);
  }
  if (writable.length === 0) return result;
  await keepStatisticsFresh(ctx.db, 0);
  const repo = repository(ctx);
  try {
    const chunk = await repo.withTransaction(async (tx) => {
      const r: ImportResult = { imported: 0, failures: [] };
      for (const item of writable) {
        try {
          await upsert(tx, item.resource as Resource);
          r.imported++;
        } catch (err) {
          if (!(err instanceof OperationOutcomeError)) throw err;
          r.failures.push(locate(kind, item.at, failureReason(err)));
        }
      }
      return r;
    });
    result.imported += chunk.imported;
    result.failures.push(...chunk.failures);
  } catch (err) {
    if (writable.length === 1) {
      result.failures.push(locate(kind, writable[0].at, failureReason(err)));
    } else {
      for (const item of writable) {
        const one = await importResources(ctx, [item], kind);
        result.imported += one.imported;
        result.failures.push(...one.failures);
      }
    }
  }
  result.failures.sort((a, b) => (a.line ?? a.entry ?? 0) - (b.line ?? b.entry ?? 0));
  await keepStatisticsFresh(ctx.db, result.imported);
  return result;
}

/**
 * Entries of a collection or searchset Bundle as items to upsert. Entries whose fullUrl is a `urn:uuid`
 * get that uuid as id when they have none, and references to the urn are rewritten to `Type/id`, so
 * that links inside the collection survive the import.
 */
export function collectionItems(bundle: Bundle): ImportItem[] {
  const entries = (bundle.entry ?? []).map((e, at) => ({ e, at })).filter(({ e }) => e.resource && e.search?.mode !== 'outcome');
  const refs = new Map<string, string>();
  const items = entries.map(({ e, at }) => {
    let resource = e.resource as Resource;
    if (e.fullUrl?.startsWith('urn:uuid:') && typeof resource.resourceType === 'string') {
      const id = resource.id ?? e.fullUrl.slice('urn:uuid:'.length);
      if (resource.id === undefined) resource = { ...resource, id };
      refs.set(e.fullUrl, `${resource.resourceType}/${id}`);
    }
    return { at, resource };
  });
  if (refs.size === 0) return items;
  const rewrite = (v: unknown): unknown => {
    if (typeof v === 'string') return refs.get(v) ?? v;
    if (Array.isArray(v)) return v.map(rewrite);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rewrite(x)]));
    return v;
  };
  return items.map((i) => ({ at: i.at, resource: rewrite(i.resource) }));
}

/** Runs a transaction or batch Bundle through the router, as `POST [base]` would. */
async function routeBundle(ctx: ImportContext, bundle: Bundle): Promise<ImportResult> {
  await keepStatisticsFresh(ctx.db, 0);
  const [outcome, response] = await ctx.router.handleRequest(
    { method: 'POST', url: '', pathname: '', body: bundle, params: {}, query: {}, config: { transactions: true } },
    repository(ctx),
  );
  const entries = bundle.entry ?? [];
  const isWrite = (e: BundleEntry | undefined): boolean => WRITE_METHODS.has(e?.request?.method ?? '');
  if (!isOk(outcome)) {
    // The router's outcome rarely names the entry; re-validating (only on this failure path) finds it.
    for (let i = 0; i < entries.length; i++) {
      const resource = entries[i].resource;
      if (!resource || entries[i].request?.method === 'DELETE') continue;
      const errors = validateFhirResource(resource, ctx.limits).filter((x) => x.severity === 'error' || x.severity === 'fatal');
      if (errors.length > 0)
        return { imported: 0, failures: [{ entry: i, reason: outcomeText({ resourceType: 'OperationOutcome', issue: errors }) }] };
    }
    return {
      imported: 0,
      failures: [{ reason: `${bundle.type} refused: ${outcomeText(outcome)}` }],
      ...(getStatus(outcome) === 412 ? { preconditionFailed: true } : {}),
    };
  }
  const result: ImportResult = { imported: 0, failures: [] };
  ((response as Bundle | undefined)?.entry ?? []).forEach((r, i) => {
    const status = Number.parseInt(r.response?.status ?? '', 10);
    if (status >= 400) result.failures.push({ entry: i, reason: outcomeText(r.response?.outcome as OperationOutcome | undefined) });
    else if (isWrite(entries[i])) result.imported++;
  });
  await keepStatisticsFresh(ctx.db, result.imported);
  return result;
}

/**
 * Imports one JSON document: a transaction or batch Bundle (through the router), a collection or
 * searchset Bundle (entries upserted keeping ids, in chunks), or a single resource (upserted).
 */
export async function importDocument(ctx: ImportContext, doc: unknown): Promise<ImportResult> {
  // Before anything walks the document recursively (the router's Bundle processing, urn:uuid rewriting).
  const shape = checkJsonShape(doc, ctx.limits ?? DEFAULT_JSON_LIMITS);
  if (shape) return { imported: 0, failures: [{ reason: describeShapeProblem(shape) }] };
  const bundle = doc as Bundle;
  if (bundle?.resourceType !== 'Bundle') return importResources(ctx, [{ at: 0, resource: doc }], 'entry');
  switch (bundle.type) {
    case 'transaction':
    case 'batch':
      return routeBundle(ctx, bundle);
    case 'collection':
    case 'searchset': {
      const items = collectionItems(bundle);
      const result: ImportResult = { imported: 0, failures: [] };
      for (let i = 0; i < items.length; i += IMPORT_CHUNK) {
        const r = await importResources(ctx, items.slice(i, i + IMPORT_CHUNK), 'entry');
        result.imported += r.imported;
        result.failures.push(...r.failures);
      }
      return result;
    }
    default:
      return {
        imported: 0,
        failures: [
          {
            reason: `Bundle type "${String(bundle.type).slice(0, 40)}" is not importable (use transaction, batch, collection or searchset)`,
          },
        ],
      };
  }
}
