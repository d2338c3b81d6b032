/**
 * Subscription operations of the Subscriptions R5 Backport IG for R4, added to the FHIR router:
 * - `Subscription/{id}/$status`: a searchset Bundle with the subscription's status Parameters;
 * - `Subscription/{id}/$events`: replay of numbered events (`eventsSinceNumber`, `eventsUntilNumber`, `content`),
 *   so a receiver that missed notifications can fetch them;
 * - `Subscription/{id}/$get-ws-binding-token`: a token to bind a websocket to a `websocket` channel subscription.
 * Each reads the Subscription through the caller's repository first, so the caller's access policy applies
 * (404 when hidden), and `$events` re-checks every event's resource against the caller's grants.
 */
import { createHash, randomBytes } from 'node:crypto';
import { allOk, badRequest, OperationOutcomeError, type WithId } from '@medplum/core';
import type { FhirRequest, FhirRouteHandler, FhirRouter } from '@medplum/fhir-router';
import type { Resource, Subscription } from '@medplum/fhirtypes';
import { rowRule } from '../policy/access.ts';
import { isRestricted } from '../policy/guard.ts';
import { resourceAllowed } from '../policy/sql.ts';
import type { HavenRepository } from '../store/repository.ts';
import { fromStored } from '../store/stored.ts';
import {
  buildNotificationBundle,
  buildStatusSearchBundle,
  payloadContentOf,
  type NotificationEvent,
  type PayloadContent,
} from './notification.ts';
import { eventCount } from './subscription-delivery.ts';

/** How long a websocket binding token is valid (the IG leaves it to the server). */
export const WS_TOKEN_TTL_MS = 5 * 60_000;
/** Most events one `$events` call returns. */
export const MAX_EVENTS_PER_CALL = 100;

/** SHA-256 of a binding token: only hashes are stored. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function param(req: FhirRequest, name: string): string | undefined {
  const q = req.query[name];
  const fromQuery = Array.isArray(q) ? q[0] : q;
  if (fromQuery !== undefined) return String(fromQuery);
  const body = req.body as
    | {
        resourceType?: string;
        parameter?: { name: string; valueString?: string; valueInteger?: number; valueCode?: string; valueInteger64?: string }[];
      }
    | undefined;
  if (body?.resourceType === 'Parameters') {
    const p = body.parameter?.find((x) => x.name === name);
    const v = p?.valueString ?? p?.valueCode ?? p?.valueInteger64 ?? p?.valueInteger;
    return v === undefined ? undefined : String(v);
  }
  return undefined;
}

function nonNegative(req: FhirRequest, name: string): number | undefined {
  const raw = param(req, name);
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw)) throw new OperationOutcomeError(badRequest(`${name} must be a non-negative integer`, name));
  return Number(raw);
}

async function readSubscription(repo: HavenRepository, req: FhirRequest): Promise<WithId<Subscription>> {
  return repo.readResource<Subscription>('Subscription', req.params.id);
}

const status: FhirRouteHandler = async (req, fhirRepo) => {
  const repo = fhirRepo as HavenRepository;
  const sub = await readSubscription(repo, req);
  const count = await eventCount(repo.ctx.db, repo.ctx.tenant, sub.id);
  return [
    allOk,
    buildStatusSearchBundle([
      {
        baseUrl: repo.ctx.baseUrl,
        subscriptionId: sub.id,
        criteria: sub.criteria,
        status: (sub.status ?? 'off') as 'requested' | 'active' | 'error' | 'off',
        eventsSinceSubscriptionStart: count,
        ...(sub.error ? { error: sub.error } : {}),
      },
    ]),
  ];
};

interface ReplayRow {
  event_number: number;
  seq: number;
  resource_type: string;
  resource_id: string;
  version_id: number;
  interaction: string;
  recorded_at: Date | string;
  content: Resource | null;
}

const events: FhirRouteHandler = async (req, fhirRepo) => {
  const repo = fhirRepo as HavenRepository;
  const sub = await readSubscription(repo, req);
  const since = nonNegative(req, 'eventsSinceNumber') ?? 1;
  const until = nonNegative(req, 'eventsUntilNumber');
  const contentParam = param(req, 'content');
  if (contentParam !== undefined && !['empty', 'id-only', 'full-resource'].includes(contentParam)) {
    throw new OperationOutcomeError(badRequest('content must be empty, id-only or full-resource', 'content'));
  }
  const content = (contentParam ?? payloadContentOf(sub)) as PayloadContent;
  const { rows } = await repo.q.query<ReplayRow>(
    `SELECT se.event_number, se.seq, e.resource_type, e.resource_id, e.version_id, e.interaction, e.recorded_at, h.content
     FROM haven_subscription_events se
     JOIN haven_events e ON e.tenant = se.tenant AND e.seq = se.seq
     LEFT JOIN resource_history h ON h.tenant = e.tenant AND h.resource_type = e.resource_type AND h.id = e.resource_id AND h.version_id = e.version_id
     WHERE se.tenant = $1 AND se.subscription_id = $2 AND se.event_number >= $3 AND ($4::bigint IS NULL OR se.event_number <= $4)
     ORDER BY se.event_number LIMIT $5`,
    [repo.ctx.tenant, sub.id, since, until ?? null, MAX_EVENTS_PER_CALL],
  );
  const access = repo.ctx.access;
  const list: NotificationEvent[] = [];
  for (const r of rows) {
    const version = r.content && r.interaction !== 'delete' ? fromStored<Resource>(r.content) : undefined;
    // The caller may differ from the subscription's creator: every event is re-checked against the caller's grants.
    if (version && isRestricted(access) && !resourceAllowed(rowRule(access, 'r', r.resource_type), version)) continue;
    list.push({
      eventNumber: Number(r.event_number),
      timestamp: (r.recorded_at instanceof Date ? r.recorded_at : new Date(r.recorded_at)).toISOString(),
      focus: { resourceType: r.resource_type, id: r.resource_id, versionId: String(r.version_id) },
      ...(r.interaction === 'delete'
        ? { deleted: true, method: 'DELETE' as const }
        : { resource: version, method: r.interaction === 'create' ? ('POST' as const) : ('PUT' as const) }),
    });
  }
  const count = await eventCount(repo.ctx.db, repo.ctx.tenant, sub.id);
  return [
    allOk,
    buildNotificationBundle({
      baseUrl: repo.ctx.baseUrl,
      subscriptionId: sub.id,
      criteria: sub.criteria,
      status: (sub.status ?? 'off') as 'requested' | 'active' | 'error' | 'off',
      type: 'query-event',
      eventsSinceSubscriptionStart: count,
      events: list,
      content,
    }),
  ];
};

/** Adds the operations; `websocketUrl` is where bound sockets connect. */
export function addSubscriptionOperations(router: FhirRouter, websocketUrl: () => string): void {
  const bindingToken: FhirRouteHandler = async (req, fhirRepo) => {
    const repo = fhirRepo as HavenRepository;
    const sub = await readSubscription(repo, req);
    if (sub.channel?.type !== 'websocket') {
      throw new OperationOutcomeError(badRequest('$get-ws-binding-token needs a Subscription with channel.type websocket'));
    }
    const token = randomBytes(32).toString('base64url');
    const expires = new Date(Date.now() + WS_TOKEN_TTL_MS);
    await repo.ctx.db.query(`INSERT INTO haven_ws_tokens (token_hash, tenant, subscription_id, expires_at) VALUES ($1, $2, $3, $4)`, [
      hashToken(token),
      repo.ctx.tenant,
      sub.id,
      expires.toISOString(),
    ]);
    await repo.ctx.db.query(`DELETE FROM haven_ws_tokens WHERE expires_at < now() - interval '1 hour'`);
    return [
      allOk,
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'token', valueString: token },
          { name: 'expiration', valueDateTime: expires.toISOString() },
          { name: 'subscription', valueString: `${repo.ctx.baseUrl}/Subscription/${sub.id}` },
          { name: 'websocket-url', valueUrl: websocketUrl() },
        ],
      },
    ];
  };
  router.add('GET', 'Subscription/:id/$status', status, 'operation');
  router.add('POST', 'Subscription/:id/$status', status, 'operation');
  router.add('GET', 'Subscription/:id/$events', events, 'operation');
  router.add('POST', 'Subscription/:id/$events', events, 'operation');
  router.add('GET', 'Subscription/:id/$get-ws-binding-token', bindingToken, 'operation');
  router.add('POST', 'Subscription/:id/$get-ws-binding-token', bindingToken, 'operation');
}
