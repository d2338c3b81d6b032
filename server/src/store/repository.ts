/**
 * Haven's FHIR repository on PostgreSQL/PGlite: implements `FhirRepository` from @medplum/fhir-router.
 * Every version is kept (resource_history); deletes are soft (read → 410); writes use optimistic locking
 * (If-Match) and a row lock, and each write is one statement inside a transaction. Every query carries
 * the tenant. Search lives in ./search-exec.ts; this class wires it in.
 *
 * Every write refuses a conditional reference (`Patient?identifier=…`) still in the resource: they are resolved
 * only in transaction and batch Bundles, before the repository sees them (../fhir/conditional-references.ts).
 *
 * Access: every method checks the caller's {@link Access} (decided by ../policy, handed in by the caller as a value,
 * applied by ./access) before touching a row (403 when the interaction is not granted on the type, 404 when the row
 * is outside the grants), and every write re-checks the written row inside its transaction (403 and rollback when
 * the result leaves the grants).
 */
import { randomUUID } from 'node:crypto';
import {
  OperationOutcomeError,
  applyPatch,
  badRequest,
  deepClone,
  gone,
  notFound,
  preconditionFailed,
  type Operation,
  type SearchRequest,
  type WithId,
} from '@medplum/core';
import {
  FhirRepository,
  type CreateResourceOptions,
  type DeleteResourceOptions,
  type ReadHistoryOptions,
  type RepositoryMode,
  type TransactionOptions,
  type UpdateResourceOptions,
} from '@medplum/fhir-router';
import type { Bundle, BundleEntry, OperationOutcome, Parameters, Reference, Resource } from '@medplum/fhirtypes';
import { assertNoConditionalReferences } from '../fhir/conditional-references.ts';
import type { JsonLimits } from '../fhir/json-shape.ts';
import { assertValidResource } from '../fhir/validate.ts';
import { isRestricted, type Access } from '../model/access.ts';
import type { EventDraft, EventInteraction, EventOrigin } from '../events/outbox.ts';
import { assertRow, assertWritten, requireGrant } from './access/guard.ts';
import { resourceAllowed } from './access/match.ts';
import { FIXED_PLAN, type Db, type Queryable } from './db.ts';
import { extractIndexRows, unchangedIndexKinds } from './indexer.ts';
import { INDEX_KINDS, type IndexRows } from './index-rows.ts';
import { readHistoryPage } from './history.ts';
import { executeSearch } from './search-exec.ts';
import { fromStored } from './stored.ts';
import { WriteBatch } from './write-batch.ts';
import { buildVersionsWrite, type VersionWrite } from './write-version.ts';

/** Per-request settings of a repository. */
export interface RepositoryContext {
  readonly db: Db;
  /** Tenant every row read or written belongs to. */
  readonly tenant: string;
  /** FHIR base URL of that tenant (fullUrl and paging links). */
  readonly baseUrl: string;
  readonly maxCount: number;
  readonly defaultCount: number;
  /** Prefer: handling=lenient: unknown search parameters are ignored instead of refused. */
  readonly lenient: boolean;
  /** Secret that signs paging cursors. */
  readonly cursorSecret: string;
  /**
   * The caller's access, as decided by ../policy (../model/access.ts). The FHIR API always sets it; only trusted
   * internal callers (import, the local admin channel) leave it undefined, which means full access. Write hooks
   * read who the caller is from it (../policy/caller.ts), never the store.
   */
  readonly access?: Access;
  /** Who causes these writes (a bot and its cascade depth); absent for people and clients. */
  readonly origin?: EventOrigin;
  /** Checks that run inside every write's transaction (veto bots, Subscription registration). */
  readonly hooks?: WriteHooks;
  /**
   * Where write hooks put warnings about writes they allow (one list per request; the HTTP layer reports them). Shared
   * by the request's transaction repositories; absent for callers that do not report warnings.
   */
  readonly warnings?: WriteWarning[];
  /** Bounds on every written resource's shape (../fhir/json-shape.ts); the defaults when absent. */
  readonly limits?: JsonLimits;
}

/** A warning a write hook attaches to a write it allows. It reaches HTTP headers and logs: no PHI. */
export interface WriteWarning {
  readonly resourceType: string;
  readonly id: string;
  /** What raised it (a bot id). */
  readonly source: string;
  readonly text: string;
}

/** One resource write, as a {@link WriteHooks} sees it. */
export interface WriteChange {
  readonly interaction: EventInteraction;
  readonly resourceType: string;
  readonly id: string;
  /** The version about to be written; undefined for a delete. */
  readonly resource: WithId<Resource> | undefined;
}

/**
 * Code that runs inside the transaction of every write of the types it {@link WriteHooks.applies} to, before the
 * version is written. Throwing an OperationOutcomeError refuses the write: nothing of it (or of its transaction
 * Bundle) is stored.
 */
export interface WriteHooks {
  applies(resourceType: string): boolean;
  beforeWrite(repo: HavenRepository, change: WriteChange): Promise<void>;
}

/** A row of `resources` or `resource_history`. */
interface VersionRow {
  resource_type: string;
  id: string;
  version_id: number;
  last_updated: Date | string;
  deleted: boolean;
  content: Resource | null;
  method?: string;
}

const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * The index tables an update can leave alone: for a deleted version (which has no rows), those the new version has
 * no rows in either; otherwise those no changed property feeds (decided without indexing the replaced version).
 */
function unchangedKindsOf(row: VersionRow, next: Resource, index: IndexRows): ReadonlySet<keyof IndexRows> {
  if (row.deleted || !row.content) return new Set(INDEX_KINDS.filter((k) => index[k].length === 0));
  return unchangedIndexKinds(fromStored<Resource>(row.content), next);
}

function isoInstant(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

/** Stamps id and meta onto a resource about to be written (never mutates the input). */
function withMeta<T extends Resource>(resource: T, id: string, versionId: number, lastUpdated: string): WithId<T> {
  const copy = deepClone(resource) as WithId<T>;
  copy.id = id;
  copy.meta = { ...copy.meta, versionId: String(versionId), lastUpdated };
  return copy;
}

/**
 * Applies a JSON Patch (RFC 6902) to `target` in place; returns the operations' errors. Medplum's applyPatch throws a
 * plain Error for a path it refuses (one through `__proto__` or `constructor`, say): a client error, not a 500.
 */
function tryApplyPatch(target: Resource, patch: Operation[]): Error[] {
  try {
    return applyPatch(target, patch).filter((e): e is NonNullable<typeof e> => e !== null);
  } catch (err) {
    return [err instanceof Error ? err : new Error('invalid operation')];
  }
}

/** The FHIR repository for one tenant, bound to the database or to one open transaction. */
export class HavenRepository extends FhirRepository {
  readonly ctx: RepositoryContext;
  /** The database, or the open transaction this repository runs in. */
  readonly q: Queryable;
  readonly inTransaction: boolean;
  /** Events of the open transaction's writes, appended to the outbox just before COMMIT. */
  private readonly pendingEvents: EventDraft[];

  constructor(ctx: RepositoryContext, q?: Queryable, inTransaction = false, pendingEvents: EventDraft[] = []) {
    super();
    this.ctx = ctx;
    this.q = q ?? ctx.db;
    this.inTransaction = inTransaction;
    this.pendingEvents = pendingEvents;
  }

  /** Read replicas are not used yet: both modes read the primary. */
  setMode(_mode: RepositoryMode): void {}

  generateId(): string {
    return randomUUID();
  }

  /**
   * Runs `callback` in one transaction (joins the current one when already inside). Its writes are queued and sent
   * together (./write-batch.ts); the last of them go out with the outbox events of all of them
   * (../events/outbox.ts) as the transaction's last statement.
   */
  async withTransaction<TResult>(callback: (txRepo: this) => Promise<TResult>, _options?: TransactionOptions): Promise<TResult> {
    if (this.inTransaction) return callback(this);
    return this.ctx.db.transaction(async (tx) => {
      const batch = new WriteBatch(tx, this.ctx.tenant);
      const txRepo = new HavenRepository(this.ctx, batch, true, []);
      const result = await callback(txRepo as this);
      await batch.finish({ drafts: txRepo.pendingEvents, origin: this.ctx.origin });
      return result;
    });
  }

  async createResource<T extends Resource>(resource: T, options?: CreateResourceOptions): Promise<WithId<T>> {
    assertValidResource(resource, this.ctx.limits);
    assertNoConditionalReferences(resource);
    requireGrant(this.ctx.access, 'c', resource.resourceType);
    // `assignedId` ids come from this repository's generateId() (the batch processor assigns them to POST
    // entries so urn:uuid references can be rewritten): a fresh UUID has no current row to lock. Should one
    // ever collide, the primary key refuses the insert (→ 409).
    if (options?.assignedId && resource.id) this.assertTypeAndId(resource.resourceType, resource.id);
    const id = options?.assignedId && resource.id ? resource.id : this.generateId();
    const lastUpdated = new Date().toISOString();
    const stored = withMeta(resource, id, 1, lastUpdated);
    if (!isRestricted(this.ctx.access)) {
      await this.write(stored, 'POST', false, 'create');
      return stored;
    }
    // Restricted callers: write, then check the written row's index rows against the create grants.
    return this.withTransaction(async (repo) => {
      await repo.write(stored, 'POST', false, 'create');
      await assertWritten(repo.q, this.ctx.tenant, this.ctx.access, 'c', stored.resourceType, id);
      return stored;
    });
  }

  async readResource<T extends Resource>(resourceType: string, id: string): Promise<WithId<T>> {
    return this.readCurrent<T>(resourceType, id, 'r', 'read', false);
  }

  /** The current version, if `permission` reaches it (404 when hidden, 403 when visible but not granted). */
  private async readCurrent<T extends Resource>(
    resourceType: string,
    id: string,
    permission: 'r' | 'u',
    what: string,
    forUpdate: boolean,
  ): Promise<WithId<T>> {
    this.assertTypeAndId(resourceType, id);
    requireGrant(this.ctx.access, permission, resourceType, what);
    const row = await this.currentRow(resourceType, id, forUpdate);
    if (!row) throw new OperationOutcomeError(notFound);
    await assertRow(this.q, this.ctx.tenant, this.ctx.access, permission, resourceType, id, what);
    if (row.deleted || !row.content) throw new OperationOutcomeError(gone);
    return fromStored<WithId<T>>(row.content);
  }

  async readReference<T extends Resource>(reference: Reference<T>): Promise<WithId<T>> {
    const [type, id] = parseLocalReference(reference);
    return this.readResource<T>(type, id);
  }

  async readReferences<T extends Resource>(references: readonly Reference<T>[]): Promise<(T | Error)[]> {
    return Promise.all(
      references.map((r) => this.readReference(r).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))),
    );
  }

  async readVersion<T extends Resource>(resourceType: string, id: string, vid: string): Promise<WithId<T>> {
    this.assertTypeAndId(resourceType, id);
    requireGrant(this.ctx.access, 'r', resourceType, 'vread');
    if (!/^\d{1,9}$/.test(vid)) throw new OperationOutcomeError(notFound);
    // History visibility (../policy/README.md): the resource as it is now, and the version's own content.
    await assertRow(this.q, this.ctx.tenant, this.ctx.access, 'r', resourceType, id, 'vread');
    const { rows } = await this.q.query<VersionRow>(
      `SELECT resource_type, id, version_id, last_updated, deleted, content FROM resource_history
       WHERE tenant = $1 AND resource_type = $2 AND id = $3 AND version_id = $4`,
      [this.ctx.tenant, resourceType, id, Number(vid)],
    );
    const row = rows[0];
    if (!row) throw new OperationOutcomeError(notFound);
    if (row.deleted || !row.content) throw new OperationOutcomeError(gone);
    const version = fromStored<WithId<T>>(row.content);
    const access = this.ctx.access;
    if (isRestricted(access) && !resourceAllowed(access.rule('r', resourceType), version)) throw new OperationOutcomeError(notFound);
    return version;
  }

  async readHistory<T extends Resource>(resourceType: string, id: string, options?: ReadHistoryOptions): Promise<Bundle<WithId<T>>> {
    this.assertTypeAndId(resourceType, id);
    const limit = Math.min(options?.limit ?? this.ctx.defaultCount, this.ctx.maxCount);
    const offset = options?.offset ?? 0;
    if (isRestricted(this.ctx.access)) {
      requireGrant(this.ctx.access, 'r', resourceType, 'history');
      await assertRow(this.q, this.ctx.tenant, this.ctx.access, 'r', resourceType, id, 'history');
    } else if (!(await this.currentRow(resourceType, id, false))) {
      throw new OperationOutcomeError(notFound);
    }
    // The policy-aware history (./history.ts, ../policy/README.md) serves every caller.
    return readHistoryPage(this, { resourceType, id, count: limit, offset }) as Promise<Bundle<WithId<T>>>;
  }

  /** One history Bundle entry: the version (absent for deletes) with its request and response. */
  historyEntry(r: VersionRow): BundleEntry {
    const fullUrl = `${this.ctx.baseUrl}/${r.resource_type}/${r.id}`;
    const method = (r.method ?? (r.deleted ? 'DELETE' : 'PUT')) as 'POST' | 'PUT' | 'PATCH' | 'DELETE';
    return {
      fullUrl,
      ...(r.content && !r.deleted ? { resource: fromStored(r.content) } : {}),
      request: {
        method: method === 'PATCH' ? 'PATCH' : method,
        url: method === 'POST' ? r.resource_type : `${r.resource_type}/${r.id}`,
      },
      response: {
        status: r.deleted ? '204' : r.version_id === 1 ? '201' : '200',
        etag: `W/"${r.version_id}"`,
        lastModified: isoInstant(r.last_updated),
      },
    };
  }

  async updateResource<T extends Resource>(resource: T, options?: UpdateResourceOptions): Promise<WithId<T>> {
    assertValidResource(resource, this.ctx.limits);
    assertNoConditionalReferences(resource);
    if (!resource.id) throw new OperationOutcomeError(badRequest('Missing id', `${resource.resourceType}.id`));
    requireGrant(this.ctx.access, 'u', resource.resourceType);
    return this.writeWithLock(resource, resource.id, 'PUT', options?.ifMatch, 'u');
  }

  async patchResource<T extends Resource>(
    resourceType: T['resourceType'],
    id: string,
    patch: Operation[] | Parameters,
    options?: UpdateResourceOptions,
  ): Promise<WithId<T>> {
    if (!Array.isArray(patch)) {
      throw new OperationOutcomeError(
        badRequest('FHIRPath Patch (Parameters) is not supported; send JSON Patch (application/json-patch+json)'),
      );
    }
    requireGrant(this.ctx.access, 'u', resourceType, 'patch');
    return this.withTransaction(async (repo) => {
      const current = await repo.readCurrent<T>(resourceType, id, 'u', 'patch', true);
      if (options?.ifMatch !== undefined && options.ifMatch !== current.meta?.versionId) {
        throw new OperationOutcomeError(preconditionFailed);
      }
      const patched = deepClone(current);
      const errors = tryApplyPatch(patched, patch);
      if (errors.length > 0) {
        throw new OperationOutcomeError(badRequest(`JSON Patch failed: ${errors.map((e) => e?.message).join('; ')}`));
      }
      if (patched.resourceType !== resourceType || patched.id !== id) {
        throw new OperationOutcomeError(badRequest('JSON Patch may not change resourceType or id'));
      }
      assertValidResource(patched, this.ctx.limits);
      assertNoConditionalReferences(patched);
      return repo.writeWithLock(patched, id, 'PATCH', current.meta?.versionId, 'u');
    });
  }

  async deleteResource(resourceType: string, id: string, options?: DeleteResourceOptions): Promise<void> {
    this.assertTypeAndId(resourceType, id);
    requireGrant(this.ctx.access, 'd', resourceType);
    await this.withTransaction(async (repo) => {
      const row = await repo.currentRow(resourceType, id, true);
      if (!row) throw new OperationOutcomeError(notFound);
      await assertRow(repo.q, this.ctx.tenant, this.ctx.access, 'd', resourceType, id, 'delete');
      if (options?.ifMatch !== undefined && options.ifMatch !== String(row.version_id)) {
        throw new OperationOutcomeError(preconditionFailed);
      }
      if (row.deleted) return; // deleting a deleted resource changes nothing (idempotent, RFC 9110 §9.3.5)
      if (this.ctx.hooks?.applies(resourceType)) {
        await this.ctx.hooks.beforeWrite(repo, { interaction: 'delete', resourceType, id, resource: undefined });
      }
      await repo.sendVersion(
        {
          resourceType,
          id,
          versionId: row.version_id + 1,
          lastUpdated: new Date().toISOString(),
          method: 'DELETE',
          content: null,
          index: undefined,
          replaces: true,
        },
        'delete',
      );
    });
  }

  async search<T extends Resource>(searchRequest: SearchRequest<T>): Promise<Bundle<WithId<T>>> {
    return executeSearch(this, searchRequest) as Promise<Bundle<WithId<T>>>;
  }

  async searchByReference<T extends Resource>(
    searchRequest: SearchRequest<T>,
    referenceField: string,
    references: string[],
  ): Promise<Record<string, WithId<T>[]>> {
    const out: Record<string, WithId<T>[]> = Object.create(null);
    for (const ref of references) {
      const filters = [...(searchRequest.filters ?? []), { code: referenceField, operator: 'eq' as const, value: ref }];
      out[ref] = await this.searchResources<T>({ ...searchRequest, filters });
    }
    return out;
  }

  /**
   * Conditional operations take a transaction-scoped advisory lock on (tenant, criteria) so that two
   * concurrent conditional creates with the same criteria cannot both create.
   */
  override async conditionalCreate<T extends Resource>(
    resource: T,
    search: SearchRequest<T>,
    options?: CreateResourceOptions,
  ): Promise<{ resource: WithId<T>; outcome: OperationOutcome }> {
    return this.withTransaction(async (repo) => {
      await repo.lockCriteria(search);
      return Reflect.apply(FhirRepository.prototype.conditionalCreate, repo, [resource, search, options]) as Promise<{
        resource: WithId<T>;
        outcome: OperationOutcome;
      }>;
    });
  }

  override async conditionalUpdate<T extends Resource>(
    resource: T,
    search: SearchRequest,
    options?: CreateResourceOptions & UpdateResourceOptions,
  ): Promise<{ resource: WithId<T>; outcome: OperationOutcome }> {
    return this.withTransaction(async (repo) => {
      await repo.lockCriteria(search);
      return Reflect.apply(FhirRepository.prototype.conditionalUpdate, repo, [resource, search, options]) as Promise<{
        resource: WithId<T>;
        outcome: OperationOutcome;
      }>;
    });
  }

  override async conditionalDelete(search: SearchRequest): Promise<void> {
    return this.withTransaction(async (repo) => {
      await repo.lockCriteria(search);
      return Reflect.apply(FhirRepository.prototype.conditionalDelete, repo, [search]) as Promise<void>;
    });
  }

  private async lockCriteria(search: SearchRequest): Promise<void> {
    const key = `${this.ctx.tenant}|${search.resourceType}|${JSON.stringify(search.filters ?? [])}`;
    await this.q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
  }

  /** Reads the current row; `forUpdate` locks it until the transaction ends. */
  private async currentRow(resourceType: string, id: string, forUpdate: boolean): Promise<VersionRow | undefined> {
    this.assertTypeAndId(resourceType, id);
    const { rows } = await this.q.query<VersionRow>(
      `${FIXED_PLAN}SELECT resource_type, id, version_id, last_updated, deleted, content FROM resources
       WHERE tenant = $1 AND resource_type = $2 AND id = $3${forUpdate ? ' FOR UPDATE' : ''}`,
      [this.ctx.tenant, resourceType, id],
    );
    return rows[0];
  }

  /**
   * Update (or update-as-create) under a row lock, checking If-Match against the locked version.
   * `permission` (`u`, or `c` for a batch create with a preassigned id) must reach the current row before
   * the write (checked before If-Match, so a 412 never reveals a hidden row) and the written row after it.
   */
  private async writeWithLock<T extends Resource>(
    resource: T,
    id: string,
    method: 'PUT' | 'PATCH',
    ifMatch: string | undefined,
    permission: 'c' | 'u',
  ): Promise<WithId<T>> {
    this.assertTypeAndId(resource.resourceType, id);
    // Copying and indexing need no database: done before the row lock is taken, they do not lengthen the time
    // it is held (on embedded storage the lock is the whole database's).
    const stored = withMeta(resource, id, 0, '');
    const index = extractIndexRows(stored);
    if (this.canWriteGuarded(resource.resourceType, permission)) {
      const written = await this.writeGuarded(stored, method, ifMatch, index);
      if (written) return written;
    }
    return this.withTransaction(async (repo) => {
      const row = await repo.currentRow(resource.resourceType, id, true);
      const what = permission === 'c' ? 'create' : method === 'PATCH' ? 'patch' : 'update';
      if (row) await assertRow(repo.q, this.ctx.tenant, this.ctx.access, permission, resource.resourceType, id, what);
      if (ifMatch !== undefined && (!row || ifMatch !== String(row.version_id))) {
        throw new OperationOutcomeError(preconditionFailed);
      }
      stored.meta = { ...stored.meta, versionId: String((row?.version_id ?? 0) + 1), lastUpdated: new Date().toISOString() };
      // So that tables whose rows stay the same are left alone.
      await repo.write(stored, method, row !== undefined, row && !row.deleted ? 'update' : 'create', {
        index,
        ...(row ? { unchangedKinds: unchangedKindsOf(row, stored, index) } : {}),
      });
      await assertWritten(repo.q, this.ctx.tenant, this.ctx.access, permission, resource.resourceType, id);
      return stored;
    });
  }

  /**
   * Can an update skip the transaction and the row lock ({@link HavenRepository.writeGuarded})? Outside a
   * transaction, when no write hook runs for the type and the caller's grant reaches every row of it, so that no
   * check has to see the row before and after the write in one transaction.
   */
  private canWriteGuarded(resourceType: string, permission: 'c' | 'u'): boolean {
    if (this.inTransaction || this.ctx.hooks?.applies(resourceType)) return false;
    return !isRestricted(this.ctx.access) || this.ctx.access.rule(permission, resourceType).kind === 'all';
  }

  /**
   * Update (or update-as-create) as two round trips instead of four: read the current row, then one statement
   * that writes the next version only if the current one is still the version read (optimistic concurrency; the
   * statement waits for a concurrent writer's commit and re-checks). When another writer got there first: a 412
   * for a request with If-Match (the version it matched is gone), else undefined, and the caller takes the row
   * lock instead (concurrent updates then apply one after the other, as they always did). Nothing is held open
   * across round trips (on embedded storage a transaction holds the whole database).
   */
  private async writeGuarded<T extends Resource>(
    stored: WithId<T>,
    method: 'PUT' | 'PATCH',
    ifMatch: string | undefined,
    index: IndexRows,
  ): Promise<WithId<T> | undefined> {
    const { resourceType, id } = stored;
    const row = await this.currentRow(resourceType, id, false);
    if (ifMatch !== undefined && (!row || ifMatch !== String(row.version_id))) throw new OperationOutcomeError(preconditionFailed);
    const versionId = (row?.version_id ?? 0) + 1;
    stored.meta = { ...stored.meta, versionId: String(versionId), lastUpdated: new Date().toISOString() };
    const interaction: EventInteraction = row && !row.deleted ? 'update' : 'create';
    const w = buildVersionsWrite(
      this.ctx.tenant,
      [
        {
          resourceType,
          id,
          versionId,
          lastUpdated: stored.meta.lastUpdated as string,
          method,
          content: stored,
          index,
          replaces: row !== undefined,
          ...(row ? { unchangedKinds: unchangedKindsOf(row, stored, index) } : {}),
        },
      ],
      { drafts: [{ resourceType, id, versionId, interaction }], origin: this.ctx.origin },
      { expectedVersion: row?.version_id ?? null },
    );
    const { rows } = await this.q.query<{ written: number }>(FIXED_PLAN + w.sql, w.params);
    if (rows[0]?.written === 1) {
      this.ctx.db.noteWrites(1, resourceType);
      return stored;
    }
    if (ifMatch !== undefined) throw new OperationOutcomeError(preconditionFailed);
    return undefined;
  }

  /**
   * Writes one version ({@link HavenRepository.sendVersion}). Types with write hooks are always written in a
   * transaction, hooks first. `index` is the version's index rows when the caller computed them already.
   */
  private async write(
    resource: WithId<Resource>,
    method: 'POST' | 'PUT' | 'PATCH',
    replaces: boolean,
    interaction: 'create' | 'update',
    prepared?: { index: IndexRows; unchangedKinds?: ReadonlySet<keyof IndexRows> },
  ): Promise<void> {
    const hooks = this.ctx.hooks;
    if (hooks?.applies(resource.resourceType)) {
      if (!this.inTransaction) return this.withTransaction((repo) => repo.write(resource, method, replaces, interaction, prepared));
      await hooks.beforeWrite(this, { interaction, resourceType: resource.resourceType, id: resource.id, resource });
    }
    await this.sendVersion(
      {
        resourceType: resource.resourceType,
        id: resource.id,
        versionId: Number(resource.meta?.versionId),
        lastUpdated: resource.meta?.lastUpdated as string,
        method: method === 'PUT' && !replaces ? 'PUT' : method,
        content: resource,
        index: prepared?.index ?? extractIndexRows(resource),
        replaces,
        ...(prepared?.unchangedKinds ? { unchangedKinds: prepared.unchangedKinds } : {}),
      },
      interaction,
    );
  }

  /**
   * Writes one version and its outbox event. Outside a transaction, one statement does both. Inside one, the
   * version is queued in the transaction's {@link WriteBatch}, and its event goes out with the transaction's last
   * statement.
   */
  private async sendVersion(w: VersionWrite, interaction: EventInteraction): Promise<void> {
    const event: EventDraft = { resourceType: w.resourceType, id: w.id, versionId: w.versionId, interaction };
    this.ctx.db.noteWrites(1, w.resourceType);
    if (this.inTransaction) {
      // Only withTransaction's repository appends its events at COMMIT: a write through any other would lose its event.
      if (!(this.q instanceof WriteBatch)) throw new Error('A write inside a transaction must go through withTransaction');
      this.pendingEvents.push(event);
      return this.q.write(w);
    }
    const built = buildVersionsWrite(this.ctx.tenant, [w], { drafts: [event], origin: this.ctx.origin });
    await this.q.query(FIXED_PLAN + built.sql, built.params);
  }

  private assertTypeAndId(resourceType: string, id: string): void {
    if (!ID_PATTERN.test(id)) {
      throw new OperationOutcomeError(badRequest(`Invalid id "${id.slice(0, 80)}": ids are 1-64 of [A-Za-z0-9-.]`));
    }
    if (!/^[A-Z][A-Za-z]{1,63}$/.test(resourceType)) {
      throw new OperationOutcomeError(badRequest(`Invalid resource type "${resourceType.slice(0, 80)}"`));
    }
  }
}

/** Splits a relative reference `Type/id` (history suffix ignored). */
function parseLocalReference(reference: Reference): [string, string] {
  const parts = reference.reference?.split('/') ?? [];
  if (parts.length < 2 || !parts[0] || !parts[1]) {
    throw new OperationOutcomeError(badRequest(`Cannot resolve reference "${String(reference.reference).slice(0, 100)}"`));
  }
  return [parts[0], parts[1]];
}
