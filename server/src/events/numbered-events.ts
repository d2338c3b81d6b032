/**
 * The numbered events of a Subscription (`haven_subscription_events`: what matched it, as its owner), read back for
 * whoever receives them after the fact: `$events` replays them to its caller, and the websocket fan-out
 * (./ws-fanout.ts) sends each to the sockets bound to the subscription. Either way the receiver may differ from
 * the owner, so each event is decided again with the receiver's grants ({@link visibleTo}), deletes included: a
 * delete is decided on the last version before it, so its id reaches only those who could read that resource.
 */
import type { Resource } from '@medplum/fhirtypes';
import { isRestricted } from '../model/access.ts';
import { rowRule, type Policy } from '../policy/access.ts';
import { resourceAllowed } from '../store/access/match.ts';
import type { Queryable } from '../store/db.ts';
import { fromStored } from '../store/stored.ts';
import type { NotificationEvent } from './notification.ts';

/** One numbered event of a subscription. */
export interface NumberedEvent {
  readonly eventNumber: number;
  readonly timestamp: string;
  readonly resourceType: string;
  readonly id: string;
  readonly versionId: number;
  readonly interaction: 'create' | 'update' | 'delete';
  /** The version the event is about, or for a delete the last version before it (what access is decided on). */
  readonly subject: Resource | undefined;
}

interface Row {
  event_number: number | string;
  resource_type: string;
  resource_id: string;
  version_id: number;
  interaction: NumberedEvent['interaction'];
  recorded_at: Date | string;
  content: Resource | string | null;
}

/** Events numbered `since`..`until` (inclusive; `until` undefined: no end) of a subscription, at most `limit`, in order. */
export async function readNumberedEvents(
  q: Queryable,
  tenant: string,
  subscriptionId: string,
  since: number,
  until: number | undefined,
  limit: number,
): Promise<NumberedEvent[]> {
  const { rows } = await q.query<Row>(
    `SELECT se.event_number, e.resource_type, e.resource_id, e.version_id, e.interaction, e.recorded_at, h.content
     FROM haven_subscription_events se
     JOIN haven_events e ON e.tenant = se.tenant AND e.seq = se.seq
     LEFT JOIN LATERAL (
       SELECT hv.content FROM resource_history hv
       WHERE hv.tenant = e.tenant AND hv.resource_type = e.resource_type AND hv.id = e.resource_id
         AND hv.version_id <= e.version_id AND NOT hv.deleted
       ORDER BY hv.version_id DESC LIMIT 1) h ON true
     WHERE se.tenant = $1 AND se.subscription_id = $2 AND se.event_number >= $3 AND ($4::bigint IS NULL OR se.event_number <= $4)
     ORDER BY se.event_number LIMIT $5`,
    [tenant, subscriptionId, since, until ?? null, limit],
  );
  return rows.map((r) => ({
    eventNumber: Number(r.event_number),
    timestamp: (r.recorded_at instanceof Date ? r.recorded_at : new Date(r.recorded_at)).toISOString(),
    resourceType: r.resource_type,
    id: r.resource_id,
    versionId: Number(r.version_id),
    interaction: r.interaction,
    subject: r.content ? fromStored<Resource>(r.content) : undefined,
  }));
}

/** True when `policy` may read what the event is about (a deleted resource: its last version). */
export function visibleTo(policy: Policy, event: NumberedEvent): boolean {
  if (!isRestricted(policy)) return true;
  const rule = rowRule(policy, 'r', event.resourceType);
  if (!event.subject) return rule.kind === 'all';
  return resourceAllowed(rule, event.subject);
}

/** The event as a notification entry (./notification.ts); deletes carry no resource. */
export function toNotificationEvent(event: NumberedEvent): NotificationEvent {
  return {
    eventNumber: event.eventNumber,
    timestamp: event.timestamp,
    focus: { resourceType: event.resourceType, id: event.id, versionId: String(event.versionId) },
    ...(event.interaction === 'delete'
      ? { deleted: true, method: 'DELETE' as const }
      : { resource: event.subject, method: event.interaction === 'create' ? ('POST' as const) : ('PUT' as const) }),
  };
}
