/**
 * Delivers outbox events to R4 Subscriptions as the dispatcher's `sub:` consumer (./dispatcher.ts).
 *
 * For each event, in order: load the Subscription (gone or off → the consumer is removed); on its first event
 * while `requested`, send the Backport handshake (rest-hook) and set it `active`; match the event's version
 * against the criteria AS ITS CREATOR (search semantics and the creator's access policy: ./matcher.ts); number
 * the match per subscription (`haven_subscription_events`, the Backport `eventNumber`, stable across retries and
 * replayable with `$events`); POST the notification Bundle (rest-hook) or publish it to bound sockets (websocket).
 * A failed POST is retried with backoff by the dispatcher; when it gives up, the event is dead-lettered and the
 * Subscription goes to `error` until a later delivery succeeds.
 */
import type { Subscription } from '@medplum/fhirtypes';
import type { Policy } from '../policy/access.ts';
import type { Db } from '../store/db.ts';
import { HavenRepository, type RepositoryContext } from '../store/repository.ts';
import { fromStored } from '../store/stored.ts';
import type { ConsumerHandler, ConsumerState, HandleResult } from './dispatcher.ts';
import { eventMatches, eventSubject, parseCriteria } from './matcher.ts';
import { buildNotificationBundle, parseChannelHeaders, payloadContentOf, type NotificationEvent } from './notification.ts';
import type { HavenEvent } from './outbox.ts';
import { postNotification } from './rest-hook.ts';
import { isDelivering } from './subscription-hook.ts';

/** Sends a bundle to the sockets bound to a subscription (./websocket-hub.ts); returns how many received it. */
export type SocketPublisher = (tenant: string, subscriptionId: string, bundle: ReturnType<typeof buildNotificationBundle>) => number;

/** What delivery needs from the server. */
export interface DeliveryOptions {
  readonly db: Db;
  /** Repository settings of a tenant, without access (delivery sets the creator's). */
  readonly repoContext: (tenant: string) => RepositoryContext;
  readonly timeoutMs: number;
  readonly publish: SocketPublisher;
  readonly log?: (event: Record<string, unknown>) => void;
}

const TYPE_CACHE_MS = 1000;

/** The current Subscription resource, undefined when missing or deleted. */
export async function loadSubscription(db: Db, tenant: string, id: string): Promise<Subscription | undefined> {
  const { rows } = await db.query<{ content: Subscription | null; deleted: boolean }>(
    `SELECT content, deleted FROM resources WHERE tenant = $1 AND resource_type = 'Subscription' AND id = $2`,
    [tenant, id],
  );
  const row = rows[0];
  return row && !row.deleted && row.content ? fromStored<Subscription>(row.content) : undefined;
}

async function ownerPolicy(db: Db, tenant: string, id: string): Promise<Policy | undefined> {
  const { rows } = await db.query<{ owner: Policy }>(`SELECT owner FROM haven_subscriptions WHERE tenant = $1 AND id = $2`, [tenant, id]);
  return rows[0]?.owner;
}

/** Numbers a matched event for a subscription (idempotent: a retried event keeps its number). */
async function numberEvent(db: Db, tenant: string, subscriptionId: string, seq: number): Promise<number> {
  await db.query(
    `INSERT INTO haven_subscription_events (tenant, subscription_id, event_number, seq)
     SELECT $1, $2, COALESCE(max(event_number), 0) + 1, $3 FROM haven_subscription_events WHERE tenant = $1 AND subscription_id = $2
     ON CONFLICT DO NOTHING`,
    [tenant, subscriptionId, seq],
  );
  const { rows } = await db.query<{ event_number: number }>(
    `SELECT event_number FROM haven_subscription_events WHERE tenant = $1 AND subscription_id = $2 AND seq = $3`,
    [tenant, subscriptionId, seq],
  );
  return Number(rows[0].event_number);
}

/** How many events have matched a subscription since it started (Backport `events-since-subscription-start`). */
export async function eventCount(db: Db, tenant: string, id: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT COALESCE(max(event_number), 0)::int AS n FROM haven_subscription_events WHERE tenant = $1 AND subscription_id = $2`,
    [tenant, id],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Creates the `sub:` consumer handler. */
export function createSubscriptionDelivery(opts: DeliveryOptions): ConsumerHandler {
  const log = opts.log ?? (() => undefined);
  /**
   * Criteria type of active subscriptions, remembered briefly so that a burst of writes of other types does not
   * load the Subscription once per event. A change of criteria takes effect within {@link TYPE_CACHE_MS}.
   */
  const activeType = new Map<string, { type: string; until: number }>();

  /** A server-side status change (handshake result, error state), written as a new version. */
  async function setStatus(tenant: string, sub: Subscription, status: 'active' | 'error', error?: string): Promise<void> {
    if (sub.status === status && (sub.error ?? undefined) === error) return;
    const repo = new HavenRepository({ ...opts.repoContext(tenant), origin: { actor: 'system:subscriptions', depth: 0 } });
    const next: Subscription = { ...sub, status };
    if (error) next.error = error;
    else delete next.error;
    try {
      // If-Match: a client's concurrent change wins; the status is set again at the next event.
      await repo.updateResource(next, { ifMatch: sub.meta?.versionId });
    } catch {
      return;
    }
    log({ level: status === 'error' ? 'warn' : 'info', event: 'subscriptions.status', tenant, subscription: sub.id, status });
  }

  function baseOf(tenant: string): string {
    return opts.repoContext(tenant).baseUrl;
  }

  async function send(tenant: string, sub: Subscription, bundle: ReturnType<typeof buildNotificationBundle>): Promise<HandleResult> {
    if (sub.channel.type === 'websocket') {
      opts.publish(tenant, sub.id as string, bundle);
      return { kind: 'done' };
    }
    const result = await postNotification(sub.channel.endpoint as string, parseChannelHeaders(sub), bundle, { timeoutMs: opts.timeoutMs });
    return result.ok ? { kind: 'done' } : { kind: 'failed', error: result.error, retryable: result.retryable };
  }

  return {
    prefix: 'sub:',

    async handle(consumer: ConsumerState, event: HavenEvent): Promise<HandleResult> {
      const id = consumer.consumer.slice(4);
      // Events of other types cost no query while the subscription is known to be active for another type. A write
      // of the Subscription itself is an event in the same ordered stream: it clears what was remembered.
      if (event.resourceType === 'Subscription' && event.id === id) activeType.delete(consumer.consumer);
      const known = activeType.get(consumer.consumer);
      if (known && known.until > Date.now() && known.type !== event.resourceType) return { kind: 'skipped' };
      const sub = await loadSubscription(opts.db, event.tenant, id);
      if (!sub || !isDelivering(sub.status)) return { kind: 'gone' };
      const baseUrl = baseOf(event.tenant);
      const content = payloadContentOf(sub);
      if (sub.status === 'requested') {
        if (sub.channel.type === 'rest-hook') {
          const handshake = buildNotificationBundle({
            baseUrl,
            subscriptionId: id,
            criteria: sub.criteria,
            status: 'requested',
            type: 'handshake',
            eventsSinceSubscriptionStart: 0,
            events: [],
            content,
          });
          const shook = await send(event.tenant, sub, handshake);
          if (shook.kind === 'failed') return { ...shook, error: `handshake: ${shook.error}` };
        }
        await setStatus(event.tenant, sub, 'active');
        // The event that triggered the handshake is delivered like any other (it may be a matching resource
        // written before the Subscription in the same transaction Bundle).
        sub.status = 'active';
      }
      const owner = await ownerPolicy(opts.db, event.tenant, id);
      if (!owner) return { kind: 'gone' };
      const search = parseCriteria(sub.criteria);
      if (sub.status === 'active') activeType.set(consumer.consumer, { type: search.resourceType, until: Date.now() + TYPE_CACHE_MS });
      if (search.resourceType !== event.resourceType) return { kind: 'skipped' };
      const repo = new HavenRepository({ ...opts.repoContext(event.tenant), access: owner });
      const version = await eventSubject(repo.q, event);
      if (!(await eventMatches(repo, event, search, version))) return { kind: 'skipped' };
      const eventNumber = await numberEvent(opts.db, event.tenant, id, event.seq);
      const notification: NotificationEvent = {
        eventNumber,
        timestamp: event.recordedAt,
        focus: { resourceType: event.resourceType, id: event.id, versionId: String(event.versionId) },
        ...(event.interaction === 'delete'
          ? { deleted: true, method: 'DELETE' as const }
          : { resource: version, method: event.interaction === 'create' ? ('POST' as const) : ('PUT' as const) }),
      };
      const bundle = buildNotificationBundle({
        baseUrl,
        subscriptionId: id,
        criteria: sub.criteria,
        status: sub.status === 'error' ? 'error' : 'active',
        type: 'event-notification',
        eventsSinceSubscriptionStart: eventNumber,
        events: [notification],
        content,
      });
      const result = await send(event.tenant, sub, bundle);
      if (result.kind === 'done') {
        await opts.db.query(
          `UPDATE haven_subscription_events SET delivered_at = now() WHERE tenant = $1 AND subscription_id = $2 AND event_number = $3`,
          [event.tenant, id, eventNumber],
        );
        if (sub.status === 'error') await setStatus(event.tenant, sub, 'active');
      }
      return result;
    },

    async onDeadLetter(consumer: ConsumerState, event: HavenEvent, error: string): Promise<void> {
      const id = consumer.consumer.slice(4);
      const sub = await loadSubscription(opts.db, event.tenant, id);
      if (sub) await setStatus(event.tenant, sub, 'error', `Delivery failed after retries (${error}); missed events are listed by $events`);
    },
  };
}
