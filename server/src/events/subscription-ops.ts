/**
 * Subscription operations of the Subscriptions R5 Backport IG for R4, added to the FHIR router:
 * - `Subscription/{id}/$status`: a searchset Bundle with the subscription's status Parameters;
 * - `Subscription/{id}/$events`: replay of numbered events (`eventsSinceNumber`, `eventsUntilNumber`, `content`),
 *   so a receiver that missed notifications can fetch them;
 * - `Subscription/{id}/$get-ws-binding-token`: a token to bind a websocket to a `websocket` channel subscription.
 * Each reads the Subscription through the caller's repository first, so the caller's access policy applies
 * (404 when hidden). Who receives notification content is decided with that receiver's grants as they are now
 * (./receiver.ts): `$events` re-checks every event (deletes on the version before them) against its caller's, and a
 * binding token is issued only to a caller who may read the subscribed type, and remembers that caller, so a bound
 * socket receives only what its caller may read (./ws-fanout.ts), not what the Subscription's owner may.
 */
import { createHash, randomBytes } from 'node:crypto';
import { allOk, badRequest, OperationOutcomeError, type WithId } from '@medplum/core';
import type { FhirRequest, FhirRouteHandler, FhirRouter } from '@medplum/fhir-router';
import type { Subscription } from '@medplum/fhirtypes';
import { forbidden } from '../model/access.ts';
import type { Policy } from '../policy/access.ts';
import { callerOf } from '../policy/caller.ts';
import type { HavenRepository } from '../store/repository.ts';
import { parseCriteria } from './matcher.ts';
import { buildNotificationBundle, buildStatusSearchBundle, payloadContentOf, type PayloadContent } from './notification.ts';
import { readNumberedEvents, toNotificationEvent, visibleTo } from './numbered-events.ts';
import { receiverAccessTo, receiverOf, Revoked, type Receiver } from './receiver.ts';
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

/**
 * What the caller may read of `resourceType` now: its token's scopes cut to its client's current registration,
 * its user's current roles (./receiver.ts). 403 when the caller can no longer receive it at all.
 */
async function callerAccess(repo: HavenRepository, resourceType: string, what: string): Promise<{ receiver: Receiver; policy: Policy }> {
  const caller = callerOf(repo.ctx.access);
  const receiver = receiverOf(caller.principal, caller.policy);
  // A development principal exists only while HAVEN_AUTH=off.
  const standing = await receiverAccessTo(repo.ctx.db, repo.ctx.tenant, receiver, resourceType, 'r', {
    authOff: caller.principal?.development === true,
  });
  if (standing.ok) return { receiver, policy: standing.policy };
  throw forbidden(
    standing.reason === Revoked.NoGrant
      ? `${what} needs read access to ${resourceType}: this Subscription notifies about ${resourceType} resources, and a caller receives only what it may read (one of patient/${resourceType}.r, user/${resourceType}.r, system/${resourceType}.r or a wildcard)`
      : `${what}: the caller's client or user can no longer receive notifications`,
  );
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
  const { policy } = await callerAccess(repo, parseCriteria(sub.criteria).resourceType, '$events');
  const numbered = await readNumberedEvents(repo.q, repo.ctx.tenant, sub.id, since, until, MAX_EVENTS_PER_CALL);
  // The caller may differ from the subscription's owner: every event (a delete by the version before it) is checked
  // against the caller's current grants, and one it may not read is left out entirely, number and id included.
  const list = numbered.filter((e) => visibleTo(policy, e)).map(toNotificationEvent);
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
    // The socket will receive what THIS caller may read (checked again at every notification), so a caller who
    // may read nothing of the subscribed type gets no token at all.
    const { receiver } = await callerAccess(repo, parseCriteria(sub.criteria).resourceType, '$get-ws-binding-token');
    const token = randomBytes(32).toString('base64url');
    const expires = new Date(Date.now() + WS_TOKEN_TTL_MS);
    await repo.ctx.db.query(
      `INSERT INTO haven_ws_tokens (token_hash, tenant, subscription_id, expires_at, receiver) VALUES ($1, $2, $3, $4, $5::jsonb)`,
      [hashToken(token), repo.ctx.tenant, sub.id, expires.toISOString(), JSON.stringify(receiver)],
    );
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
