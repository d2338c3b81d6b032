/**
 * Websocket notifications, decided per bound caller. Delivery (./subscription-delivery.ts) matches an event as the
 * Subscription's owner and numbers it; this module, in every process that holds sockets bound to that subscription,
 * reads the numbered event back and gives each bound receiver (the caller who asked `$get-ws-binding-token`) a
 * notification only when that receiver may read the resource now (./receiver.ts, ./numbered-events.ts). A
 * receiver whose client or user is gone, or who can no longer read the subscribed type at all, has its sockets
 * closed (1008).
 *
 * Across processes on PostgreSQL only the event's number travels through NOTIFY (never a resource, which the
 * 8000-byte payload limit would cut anyway); each process builds its own frames from the database.
 */
import type { Bundle, Subscription } from '@medplum/fhirtypes';
import type { Db } from '../store/db.ts';
import { parseCriteria } from './matcher.ts';
import { buildNotificationBundle, payloadContentOf } from './notification.ts';
import { readNumberedEvents, toNotificationEvent, visibleTo, type NumberedEvent } from './numbered-events.ts';
import { asReceiver, receiverAccessTo, type Standing } from './receiver.ts';
import { loadSubscription } from './subscription-delivery.ts';
import { isDelivering } from './subscription-hook.ts';
import type { WebSocketHub } from './websocket-hub.ts';

/** What the fan-out needs. */
export interface WsFanoutOptions {
  readonly db: Db;
  readonly hub: WebSocketHub;
  /** FHIR base of a tenant. */
  readonly baseUrl: (tenant: string) => string;
  /** HAVEN_AUTH=off (development receivers are valid only then). */
  readonly authOff: boolean;
  readonly log: (event: Record<string, unknown>) => void;
}

/** The running fan-out. */
export interface WsFanout {
  /** Sends numbered event `eventNumber` of a subscription to its bound sockets, each as its receiver may see it. */
  deliver(tenant: string, subscriptionId: string, eventNumber: number): Promise<void>;
  /** Closes the sockets of receivers that can no longer receive, and of subscriptions no longer delivering. */
  revalidate(): Promise<void>;
}

/** Close reason for a revoked receiver (sent as `error <reason>`; names no resource). */
export const ACCESS_REVOKED = 'access revoked';

/** The standing of a bound receiver (its key is the receiver's JSON, see index.ts `resolveToken`). */
export function standingOfKey(db: Db, tenant: string, key: string | undefined, resourceType: string, authOff: boolean): Promise<Standing> {
  let parsed: unknown;
  try {
    parsed = key === undefined ? undefined : JSON.parse(key);
  } catch {
    parsed = undefined;
  }
  return receiverAccessTo(db, tenant, asReceiver(parsed), resourceType, 'r', { authOff });
}

/** Creates the fan-out over `hub`. */
export function createWsFanout(opts: WsFanoutOptions): WsFanout {
  const { db, hub, log } = opts;
  /** Per subscription, the tail of its deliveries: frames leave in event order even though each is decided async. */
  const tails = new Map<string, Promise<void>>();

  function frame(tenant: string, sub: Subscription, event: NumberedEvent): Bundle {
    return buildNotificationBundle({
      baseUrl: opts.baseUrl(tenant),
      subscriptionId: sub.id as string,
      criteria: sub.criteria,
      status: sub.status === 'error' ? 'error' : 'active',
      type: 'event-notification',
      eventsSinceSubscriptionStart: event.eventNumber,
      events: [toNotificationEvent(event)],
      content: payloadContentOf(sub),
    });
  }

  async function deliverNow(tenant: string, subscriptionId: string, eventNumber: number): Promise<void> {
    const keys = hub.receivers(tenant, subscriptionId);
    if (keys.length === 0) return;
    const sub = await loadSubscription(db, tenant, subscriptionId);
    if (!sub || !isDelivering(sub.status) || sub.channel?.type !== 'websocket') return;
    const [event] = await readNumberedEvents(db, tenant, subscriptionId, eventNumber, eventNumber, 1);
    if (!event) return;
    const type = parseCriteria(sub.criteria).resourceType;
    const frames = new Map<string | undefined, Bundle | undefined>();
    let bundle: Bundle | undefined;
    for (const key of keys) {
      const standing = await standingOfKey(db, tenant, key, type, opts.authOff);
      if (!standing.ok) {
        hub.revoke(tenant, subscriptionId, key, ACCESS_REVOKED);
        log({ level: 'warn', event: 'ws.receiver_revoked', tenant, subscription: subscriptionId, reason: standing.reason });
        continue;
      }
      if (visibleTo(standing.policy, event)) frames.set(key, (bundle ??= frame(tenant, sub, event)));
    }
    hub.publish(tenant, subscriptionId, (key) => frames.get(key));
  }

  return {
    deliver(tenant, subscriptionId, eventNumber) {
      const k = `${tenant}\u0000${subscriptionId}`;
      const next = (tails.get(k) ?? Promise.resolve())
        .then(() => deliverNow(tenant, subscriptionId, eventNumber))
        .catch((err: unknown) =>
          log({ level: 'warn', event: 'ws.fanout_failed', tenant, error: err instanceof Error ? err.name : 'error' }),
        );
      tails.set(k, next);
      void next.finally(() => {
        if (tails.get(k) === next) tails.delete(k);
      });
      return next;
    },

    async revalidate() {
      for (const { tenant, subscriptionId, receivers } of hub.bindings()) {
        const sub = await loadSubscription(db, tenant, subscriptionId);
        if (!sub || !isDelivering(sub.status) || sub.channel?.type !== 'websocket') {
          for (const key of receivers) hub.revoke(tenant, subscriptionId, key, 'subscription is off');
          continue;
        }
        const type = parseCriteria(sub.criteria).resourceType;
        for (const key of receivers) {
          const standing = await standingOfKey(db, tenant, key, type, opts.authOff);
          if (standing.ok) continue;
          hub.revoke(tenant, subscriptionId, key, ACCESS_REVOKED);
          log({ level: 'warn', event: 'ws.receiver_revoked', tenant, subscription: subscriptionId, reason: standing.reason });
        }
      }
    },
  };
}
