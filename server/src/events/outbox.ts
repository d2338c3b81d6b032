/**
 * The outbox: every committed write appends one numbered event per written version in the same transaction
 * (./README.md). Numbers are per tenant, gap-free and in commit order: the counter row is updated by the
 * statement that appends the events, and its row lock is held from that statement to COMMIT, so a
 * transaction that numbers later also commits later.
 *
 * A write outside an explicit transaction appends its event in its own statement (./../store/write-version.ts);
 * writes inside a transaction collect {@link EventDraft}s and append them all in one statement just before
 * COMMIT ({@link appendEvents}), which keeps the counter lock short for long transaction Bundles.
 */
import type { Queryable } from '../store/db.ts';
import { SqlParams } from '../store/sql.ts';

/** The LISTEN/NOTIFY channel woken by every append; the payload is the tenant. */
export const EVENTS_CHANNEL = 'haven_events';

/** What a write did to a resource. */
export type EventInteraction = 'create' | 'update' | 'delete';

/** Who caused a write, for bot loop protection: absent for people and clients. */
export interface EventOrigin {
  /** `bot:<id>` for a bot's write. */
  readonly actor?: string;
  /** Bot cascade depth: 0 for writes by people and clients, parent event's depth + 1 for a bot's writes. */
  readonly depth: number;
}

/** An event not yet numbered. */
export interface EventDraft {
  readonly resourceType: string;
  readonly id: string;
  readonly versionId: number;
  readonly interaction: EventInteraction;
}

/** A committed event. */
export interface HavenEvent extends EventDraft {
  readonly tenant: string;
  readonly seq: number;
  readonly actor?: string;
  readonly depth: number;
  readonly recordedAt: string;
}

/**
 * CTEs that number and append `drafts` (≥ 1) for `tenant`, for use inside a larger `WITH`. The names
 * `ev_counter` and `ev_append` are reserved by it.
 */
export function appendEventsCtes(p: SqlParams, tenant: string, drafts: readonly EventDraft[], origin: EventOrigin | undefined): string[] {
  const t = p.add(tenant);
  const n = p.add(drafts.length);
  return [
    `ev_counter AS (INSERT INTO haven_event_counters (tenant, last_seq) VALUES (${t}, ${n}::bigint)
       ON CONFLICT (tenant) DO UPDATE SET last_seq = haven_event_counters.last_seq + EXCLUDED.last_seq
       RETURNING last_seq)`,
    `ev_append AS (INSERT INTO haven_events (tenant, seq, resource_type, resource_id, version_id, interaction, actor, depth)
       SELECT ${t}, ev_counter.last_seq - ${n}::bigint + u.ord, u.rt, u.rid, u.vid, u.act, ${p.add(origin?.actor ?? null)}, ${p.add(origin?.depth ?? 0)}::int
       FROM ev_counter, unnest(${p.add(drafts.map((d) => d.resourceType))}::text[], ${p.add(drafts.map((d) => d.id))}::text[],
         ${p.add(drafts.map((d) => d.versionId))}::int[], ${p.add(drafts.map((d) => d.interaction))}::text[])
         WITH ORDINALITY AS u(rt, rid, vid, act, ord))`,
  ];
}

/** The final SELECT of a statement that appended events: wakes every dispatcher once the transaction commits. */
export function notifySelect(p: SqlParams, tenant: string): string {
  return `SELECT pg_notify('${EVENTS_CHANNEL}', ${p.add(tenant)})`;
}

/** Appends `drafts` in one statement (the pre-commit flush of a transaction). */
export async function appendEvents(q: Queryable, tenant: string, drafts: readonly EventDraft[], origin: EventOrigin | undefined): Promise<void> {
  if (drafts.length === 0) return;
  const p = new SqlParams();
  const ctes = appendEventsCtes(p, tenant, drafts, origin);
  await q.query(`WITH ${ctes.join(',\n')}\n${notifySelect(p, tenant)}`, p.values);
}

interface EventRow {
  tenant: string;
  seq: number;
  resource_type: string;
  resource_id: string;
  version_id: number;
  interaction: EventInteraction;
  actor: string | null;
  depth: number;
  recorded_at: Date | string;
}

function toEvent(r: EventRow): HavenEvent {
  return {
    tenant: r.tenant,
    seq: Number(r.seq),
    resourceType: r.resource_type,
    id: r.resource_id,
    versionId: r.version_id,
    interaction: r.interaction,
    ...(r.actor ? { actor: r.actor } : {}),
    depth: r.depth,
    recordedAt: (r.recorded_at instanceof Date ? r.recorded_at : new Date(r.recorded_at)).toISOString(),
  };
}

/** Events of `tenant` after `afterSeq`, in order. */
export async function readEvents(q: Queryable, tenant: string, afterSeq: number, limit: number): Promise<HavenEvent[]> {
  const { rows } = await q.query<EventRow>(
    `SELECT * FROM haven_events WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [tenant, afterSeq, limit],
  );
  return rows.map(toEvent);
}

/** One event by number, or undefined. */
export async function readEvent(q: Queryable, tenant: string, seq: number): Promise<HavenEvent | undefined> {
  const { rows } = await q.query<EventRow>(`SELECT * FROM haven_events WHERE tenant = $1 AND seq = $2`, [tenant, seq]);
  return rows[0] ? toEvent(rows[0]) : undefined;
}

/** The last event number of `tenant` (0 before its first write). */
export async function lastSeq(q: Queryable, tenant: string): Promise<number> {
  const { rows } = await q.query<{ last_seq: number }>(`SELECT last_seq FROM haven_event_counters WHERE tenant = $1`, [tenant]);
  return rows[0] ? Number(rows[0].last_seq) : 0;
}
