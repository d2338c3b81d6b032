/**
 * Does an event's version match a criteria string (bot triggers, Subscription.criteria), as seen by a caller?
 *
 * While the event's version is still the current one, the criteria run as a real search restricted to that id,
 * through the caller's repository: the same SQL, the same semantics (chains, `_has`, modifiers) and the same
 * access policy as any search, so a Subscription never matches what its creator could not find. Once the resource
 * has moved on (or for a delete) the event's own version is matched in memory with Medplum's evaluator over the
 * same SearchParameters, and access is checked on that version with the policy's in-memory rule.
 */
import { badRequest, matchesSearchRequest, Operator, OperationOutcomeError, parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { isRestricted } from '../model/access.ts';
import { resourceAllowed } from '../store/access/match.ts';
import type { Queryable } from '../store/db.ts';
import type { HavenRepository } from '../store/repository.ts';
import { mayMatch } from '../store/search/prefilter.ts';
import { fromStored } from '../store/stored.ts';
import type { HavenEvent } from './outbox.ts';

/** Parameters that shape results rather than select them: meaningless in criteria. */
const RESULT_PARAMETERS = new Set([
  '_count',
  '_sort',
  '_include',
  '_revinclude',
  '_summary',
  '_elements',
  '_total',
  '_contained',
  '_containedType',
]);

/**
 * Parses criteria (`Type?a=b` or, with `resourceType` given, `a=b`) into a search request; throws a 400
 * OperationOutcomeError that says what is wrong.
 */
export function parseCriteria(criteria: string, resourceType?: string): SearchRequest {
  const text = criteria.trim();
  const full = resourceType ? `${resourceType}?${text.replace(/^\?/, '')}` : text;
  const type = full.split('?')[0];
  if (!/^[A-Z][A-Za-z]+$/.test(type)) {
    throw new OperationOutcomeError(
      badRequest(`Criteria must start with a resource type ("Observation?code=…"), got "${text.slice(0, 100)}"`),
    );
  }
  if (resourceType && type !== resourceType) throw new OperationOutcomeError(badRequest(`Criteria type ${type} is not ${resourceType}`));
  const search = parseSearchRequest(full);
  for (const f of search.filters ?? []) {
    if (RESULT_PARAMETERS.has(f.code)) throw new OperationOutcomeError(badRequest(`Criteria may not use ${f.code}`));
  }
  if (search.sortRules?.length || search.include?.length || search.revInclude?.length) {
    throw new OperationOutcomeError(badRequest('Criteria may not use _sort, _include or _revinclude'));
  }
  return search;
}

/**
 * The version an event is about: the content read with the event when there is one, else from history; for a
 * delete, the last version before it (what a delete notification or trigger is about).
 */
export async function eventSubject(q: Queryable, event: HavenEvent): Promise<Resource | undefined> {
  if (event.interaction === 'delete') return versionBeforeDelete(q, event);
  return event.content ?? eventVersion(q, event);
}

/** The version an event is about, from history (undefined for a delete). */
async function eventVersion(q: Queryable, event: HavenEvent): Promise<Resource | undefined> {
  if (event.interaction === 'delete') return undefined;
  const { rows } = await q.query<{ content: Resource | null }>(
    `SELECT content FROM resource_history WHERE tenant = $1 AND resource_type = $2 AND id = $3 AND version_id = $4`,
    [event.tenant, event.resourceType, event.id, event.versionId],
  );
  return rows[0]?.content ? fromStored<Resource>(rows[0].content) : undefined;
}

async function isCurrent(q: Queryable, event: HavenEvent): Promise<boolean> {
  const { rows } = await q.query<{ version_id: number }>(
    `SELECT version_id FROM resources WHERE tenant = $1 AND resource_type = $2 AND id = $3`,
    [event.tenant, event.resourceType, event.id],
  );
  return rows[0]?.version_id === event.versionId;
}

/**
 * True when `version` (the event's version, or for a delete the last version before it) matches `search`
 * and `repo`'s caller may read it.
 */
export async function eventMatches(
  repo: HavenRepository,
  event: HavenEvent,
  search: SearchRequest,
  version: Resource | undefined,
): Promise<boolean> {
  if (search.resourceType !== event.resourceType || !version) return false;
  // Most events of a subscribed type fail a token criterion: rule them out without a query.
  if (!mayMatch(version, search)) return false;
  if (event.interaction !== 'delete' && (await isCurrent(repo.q, event))) {
    const bundle = await repo.search({
      ...search,
      filters: [...(search.filters ?? []), { code: '_id', operator: Operator.EQUALS, value: event.id }],
      count: 1,
      total: 'none',
    });
    return (bundle.entry ?? []).some((e) => e.resource?.id === event.id);
  }
  if (!matchesSearchRequest(version, search)) return false;
  const access = repo.ctx.access;
  return !isRestricted(access) || resourceAllowed(access.rule('r', event.resourceType), version);
}

/** The last stored version before a delete event. */
async function versionBeforeDelete(q: Queryable, event: HavenEvent): Promise<Resource | undefined> {
  const { rows } = await q.query<{ content: Resource | null }>(
    `SELECT content FROM resource_history WHERE tenant = $1 AND resource_type = $2 AND id = $3 AND version_id < $4 AND NOT deleted
     ORDER BY version_id DESC LIMIT 1`,
    [event.tenant, event.resourceType, event.id, event.versionId],
  );
  return rows[0]?.content ? fromStored<Resource>(rows[0].content) : undefined;
}
