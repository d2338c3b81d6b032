/**
 * Delivers outbox events to R4 Subscriptions as the dispatcher's `sub:` consumer (./dispatcher.ts).
 *
 * For each event, in order: load the Subscription (gone or off → the consumer is removed); decide what its owner may
 * read NOW (./receiver.ts: the owner's client and user must still exist, scopes cut to the client's current
 * registration, current roles) and, when the owner is gone or no longer reaches the subscribed type, turn the
 * Subscription `off`, record why and deliver nothing; on its first event while `requested`, send the Backport
 * handshake (rest-hook) and set it `active`; match the event's version against the criteria AS THAT OWNER (search
 * semantics and the owner's current access policy: ./matcher.ts); number the match per subscription
 * (`haven_subscription_events`, the Backport `eventNumber`, stable across retries and replayable with `$events`);
 * POST the notification Bundle (rest-hook, through the outbound guard) or announce it to the sockets bound to the
 * subscription (websocket: ./ws-fanout.ts decides per bound caller).
 *
 * A failed POST is retried with backoff by the dispatcher; when it gives up, the event is dead-lettered and the
 * Subscription goes to `error` until a later delivery succeeds. `Subscription.error` is generic: whether an endpoint
 * refused, timed out or answered some status is in the server log and the dead-letter list, never in a resource a
 * subscriber can read (it would make rest-hook endpoints a port scanner).
 */
import type { Subscription } from '@medplum/fhirtypes';
import type { OutboundPolicy } from '../net/outbound-policy.ts';
import { CallerAccess } from '../policy/caller.ts';
import type { Db } from '../store/db.ts';
import { HavenRepository, type RepositoryContext } from '../store/repository.ts';
import { fromStored } from '../store/stored.ts';
import type { ConsumerHandler, ConsumerState, HandleResult } from './dispatcher.ts';
import { eventMatches, eventSubject, parseCriteria } from './matcher.ts';
import { buildNotificationBundle, parseChannelHeaders, payloadContentOf, type NotificationEvent } from './notification.ts';
import type { HavenEvent } from './outbox.ts';
import { asReceiver, receiverAccessTo, type Receiver, type Revoked, type Standing } from './receiver.ts';
import { postNotification } from './rest-hook.ts';
import { isDelivering } from './subscription-hook.ts';

/** Hands a numbered event of a websocket Subscription to the sockets bound to it, wherever they are (./ws-fanout.ts). */
export type SocketAnnouncer = (tenant: string, subscriptionId: string, eventNumber: number) => Promise<void>;

/** What delivery needs from the server. */
export interface DeliveryOptions {
  readonly db: Db;
  /** Repository settings of a tenant, without access (delivery sets the owner's). */
  readonly repoContext: (tenant: string) => RepositoryContext;
  readonly timeoutMs: number;
  /** Which rest-hook endpoints may be called (../net/outbound-policy.ts). */
  readonly outbound: OutboundPolicy;
  /** HAVEN_AUTH=off: Subscriptions created in development mode are valid only while it stays off. */
  readonly authOff: boolean;
  readonly announce: SocketAnnouncer;
  readonly log?: (event: Record<string, unknown>) => void;
}

/** `Subscription.error` after the retries: the reason is in the server log and the dead-letter list only. */
export const DELIVERY_FAILED_ERROR =
  'Notifications could not be delivered after retries (the reason is in the server log); missed events are listed by $events';
/** `Subscription.error` when the server turned it off because its owner can no longer receive what it notifies. */
export const OWNER_REVOKED_ERROR = 'Turned off by the server: its owner no longer has access to what it notifies';

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

/**
 * The recorded owner of a Subscription: `found` false when nothing is recorded (not a delivering Subscription);
 * `owner` undefined for a record from before owners were receivers (nothing says whose it was).
 */
async function ownerOf(db: Db, tenant: string, id: string): Promise<{ found: boolean; owner: Receiver | undefined }> {
  const { rows } = await db.query<{ owner: unknown }>(`SELECT owner FROM haven_subscriptions WHERE tenant = $1 AND id = $2`, [tenant, id]);
  return { found: rows.length > 0, owner: rows.length > 0 ? asReceiver(rows[0].owner) : undefined };
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

  /** A server-side status change (handshake result, error state, turned off), written as a new version. */
  async function setStatus(tenant: string, sub: Subscription, status: 'active' | 'error' | 'off', error?: string): Promise<boolean> {
    if (sub.status === status && (sub.error ?? undefined) === error) return true;
    const repo = new HavenRepository({ ...opts.repoContext(tenant), origin: { actor: 'system:subscriptions', depth: 0 } });
    const next: Subscription = { ...sub, status };
    if (error) next.error = error;
    else delete next.error;
    try {
      // If-Match: a client's concurrent change wins; the status is set again at the next event.
      await repo.updateResource(next, { ifMatch: sub.meta?.versionId });
    } catch {
      return false;
    }
    log({ level: status === 'active' ? 'info' : 'warn', event: 'subscriptions.status', tenant, subscription: sub.id, status });
    return true;
  }

  /** What the owner may read now, refused when it no longer reaches the subscribed type (matching is a search). */
  async function ownerStanding(tenant: string, id: string, resourceType: string): Promise<Standing | undefined> {
    const { found, owner } = await ownerOf(opts.db, tenant, id);
    if (!found) return undefined;
    return receiverAccessTo(opts.db, tenant, owner, resourceType, 's', { authOff: opts.authOff });
  }

  /**
   * The owner can no longer receive: nothing is delivered, the Subscription goes `off` with a generic reason, the
   * event is recorded as withheld in the dead-letter list (`haven events dead-letters` shows why; a replay decides
   * again and stays withheld), and the reason is logged.
   */
  async function turnOff(event: HavenEvent, consumer: string, sub: Subscription, reason: Revoked): Promise<HandleResult> {
    log({ level: 'warn', event: 'subscriptions.owner_revoked', tenant: event.tenant, subscription: sub.id, reason, seq: event.seq });
    await opts.db.query(
      `INSERT INTO haven_dead_letters (tenant, consumer, seq, attempts, error) VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING`,
      [event.tenant, consumer, event.seq, `withheld: ${reason}`],
    );
    // When a client's concurrent change wins, the next event decides again.
    return (await setStatus(event.tenant, sub, 'off', OWNER_REVOKED_ERROR)) ? { kind: 'gone' } : { kind: 'skipped' };
  }

  async function post(sub: Subscription, bundle: ReturnType<typeof buildNotificationBundle>): Promise<HandleResult> {
    const result = await postNotification(sub.channel.endpoint as string, parseChannelHeaders(sub), bundle, {
      timeoutMs: opts.timeoutMs,
      policy: opts.outbound,
    });
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
      const baseUrl = opts.repoContext(event.tenant).baseUrl;
      const content = payloadContentOf(sub);
      const search = parseCriteria(sub.criteria);
      if (sub.status === 'requested') {
        // Nothing, not even a handshake, goes to an owner who can no longer receive.
        const standing = await ownerStanding(event.tenant, id, search.resourceType);
        if (!standing) return { kind: 'gone' };
        if (!standing.ok) return turnOff(event, consumer.consumer, sub, standing.reason);
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
          const shook = await post(sub, handshake);
          if (shook.kind === 'failed') return { ...shook, error: `handshake: ${shook.error}` };
        }
        await setStatus(event.tenant, sub, 'active');
        // The event that triggered the handshake is delivered like any other (it may be a matching resource
        // written before the Subscription in the same transaction Bundle).
        sub.status = 'active';
      }
      if (sub.status === 'active') activeType.set(consumer.consumer, { type: search.resourceType, until: Date.now() + TYPE_CACHE_MS });
      if (search.resourceType !== event.resourceType) return { kind: 'skipped' };
      // Decided at every delivery: a client removed or narrowed, a user removed, roles changed since the last event.
      const standing = await ownerStanding(event.tenant, id, search.resourceType);
      if (!standing) return { kind: 'gone' };
      if (!standing.ok) return turnOff(event, consumer.consumer, sub, standing.reason);
      const repo = new HavenRepository({ ...opts.repoContext(event.tenant), access: new CallerAccess(standing.policy) });
      const version = await eventSubject(repo.q, event);
      if (!(await eventMatches(repo, event, search, version))) return { kind: 'skipped' };
      const eventNumber = await numberEvent(opts.db, event.tenant, id, event.seq);
      let result: HandleResult;
      if (sub.channel.type === 'websocket') {
        // Each bound socket gets what ITS caller may read (./ws-fanout.ts); the event is numbered either way, so a
        // socket that was not told sees the gap and can ask $events, which checks its caller again.
        await opts.announce(event.tenant, id, eventNumber);
        result = { kind: 'done' };
      } else {
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
        result = await post(sub, bundle);
      }
      if (result.kind === 'done') {
        await opts.db.query(
          `UPDATE haven_subscription_events SET delivered_at = now() WHERE tenant = $1 AND subscription_id = $2 AND event_number = $3`,
          [event.tenant, id, eventNumber],
        );
        if (sub.status === 'error') await setStatus(event.tenant, sub, 'active');
      }
      return result;
    },

    async onDeadLetter(consumer: ConsumerState, event: HavenEvent): Promise<void> {
      const id = consumer.consumer.slice(4);
      const sub = await loadSubscription(opts.db, event.tenant, id);
      if (sub && isDelivering(sub.status)) await setStatus(event.tenant, sub, 'error', DELIVERY_FAILED_ERROR);
    },
  };
}
