/**
 * The outbox: every write appends one event per written version in its own transaction (./README.md), without a
 * number. The sequencer ({@link numberEvents}) then numbers committed events per tenant: gap-free, in the order
 * they became visible, which is commit order (a run numbers what has committed by its snapshot; later commits get
 * later runs and higher numbers; within a run, insertion order, in which a resource's next version always comes
 * after the previous one committed). Writers never share a lock: an earlier design numbered events while writing,
 * and the tenant's counter lock, held until COMMIT, halved create throughput.
 */
import type { Resource } from '@medplum/fhirtypes';
import type { Db, Queryable } from '../store/db.ts';
import { fromStored } from '../store/stored.ts';
import { SqlParams } from '../store/sql.ts';

/** The LISTEN/NOTIFY channel woken by every append and every numbering run; the payload is the tenant. */
export const EVENTS_CHANNEL = 'haven_events';

/** Arbitrary constant: the advisory lock that makes the sequencer run one at a time across processes. */
const SEQUENCER_LOCK_KEY = 7_262_504_113;
/** Most events numbered per run. */
const SEQUENCER_BATCH = 10_000;

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

/** A committed, numbered event. */
export interface HavenEvent extends EventDraft {
  readonly tenant: string;
  readonly seq: number;
  readonly actor?: string;
  readonly depth: number;
  readonly recordedAt: string;
  /**
   * The version's stored content, when the reader asked for it for this type ({@link readEvents}); absent for
   * deletes. Saves the consumer a query per event.
   */
  readonly content?: Resource;
}

/**
 * A CTE (named `ev_append`) that appends `drafts` (≥ 1) for `tenant`, for use inside a larger `WITH`; `onlyIf`, a
 * SQL condition, appends them only when it holds (a guarded write that may find its version superseded).
 */
export function appendEventsCte(
  p: SqlParams,
  tenant: string,
  drafts: readonly EventDraft[],
  origin: EventOrigin | undefined,
  onlyIf?: string,
): string {
  return `ev_append AS (INSERT INTO haven_events (tenant, resource_type, resource_id, version_id, interaction, actor, depth)
       SELECT ${p.add(tenant)}, u.rt, u.rid, u.vid, u.act, ${p.add(origin?.actor ?? null)}, ${p.add(origin?.depth ?? 0)}::int
       FROM unnest(${p.add(drafts.map((d) => d.resourceType))}::text[], ${p.add(drafts.map((d) => d.id))}::text[],
         ${p.add(drafts.map((d) => d.versionId))}::int[], ${p.add(drafts.map((d) => d.interaction))}::text[])
         WITH ORDINALITY AS u(rt, rid, vid, act, ord)${onlyIf ? ` WHERE ${onlyIf}` : ''} ORDER BY u.ord)`;
}

/** The final SELECT of a statement that appended events: wakes every dispatcher once the transaction commits. */
export function notifySelect(p: SqlParams, tenant: string): string {
  return `SELECT pg_notify('${EVENTS_CHANNEL}', ${p.add(tenant)})`;
}

/** Appends `drafts` in one statement (the end of a transaction's writes). */
export async function appendEvents(
  q: Queryable,
  tenant: string,
  drafts: readonly EventDraft[],
  origin: EventOrigin | undefined,
): Promise<void> {
  if (drafts.length === 0) return;
  const p = new SqlParams();
  const cte = appendEventsCte(p, tenant, drafts, origin);
  await q.query(`WITH ${cte}\n${notifySelect(p, tenant)}`, p.values);
}

/**
 * Numbers committed, unnumbered events (the sequencer): one run at a time across processes (a try-lock: a process
 * that finds a run in progress leaves it to that run). Returns the tenants that got new numbers; their
 * dispatchers are woken through NOTIFY.
 */
export async function numberEvents(db: Db): Promise<string[]> {
  return db.transaction(async (tx) => {
    const { rows: lock } = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SEQUENCER_LOCK_KEY]);
    if (!lock[0]?.ok) return [];
    const { rows } = await tx.query<{ tenant: string }>(
      `WITH ready AS (
         SELECT id, tenant, row_number() OVER (PARTITION BY tenant ORDER BY id) AS rn
         FROM haven_events WHERE seq IS NULL ORDER BY id LIMIT $1),
       counts AS (SELECT tenant, count(*) AS n FROM ready GROUP BY tenant),
       bump AS (
         INSERT INTO haven_event_counters AS c (tenant, last_seq) SELECT tenant, n FROM counts
         ON CONFLICT (tenant) DO UPDATE SET last_seq = c.last_seq + EXCLUDED.last_seq
         RETURNING c.tenant, c.last_seq),
       numbered AS (
         UPDATE haven_events e SET seq = b.last_seq - k.n + r.rn
         FROM ready r JOIN counts k ON k.tenant = r.tenant JOIN bump b ON b.tenant = r.tenant
         WHERE e.id = r.id
         RETURNING e.tenant)
       SELECT DISTINCT tenant FROM numbered`,
      [SEQUENCER_BATCH],
    );
    for (const { tenant } of rows) await tx.query(`SELECT pg_notify('${EVENTS_CHANNEL}', $1)`, [tenant]);
    return rows.map((r) => r.tenant);
  });
}

/** True when committed events await their numbers (tests and benchmarks wait for none). */
export async function hasUnnumbered(q: Queryable): Promise<boolean> {
  const { rows } = await q.query(`SELECT 1 FROM haven_events WHERE seq IS NULL LIMIT 1`);
  return rows.length > 0;
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

/**
 * Events of `tenant` after `afterSeq`, in order; with their versions' content for the types in `contentTypes`.
 * The content is a scalar subquery under CASE, so the history is read only for those types: as a join condition the
 * type test was applied after the lookup, and every event's version was fetched to be thrown away.
 */
export async function readEvents(
  q: Queryable,
  tenant: string,
  afterSeq: number,
  limit: number,
  contentTypes: readonly string[] = [],
): Promise<HavenEvent[]> {
  const { rows } = await q.query<EventRow & { content: Resource | null }>(
    `SELECT e.*, CASE WHEN e.resource_type = ANY($4::text[]) THEN
       (SELECT h.content FROM resource_history h WHERE h.tenant = e.tenant AND h.resource_type = e.resource_type
          AND h.id = e.resource_id AND h.version_id = e.version_id) END AS content
     FROM haven_events e
     WHERE e.tenant = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`,
    [tenant, afterSeq, limit, contentTypes],
  );
  return rows.map((r) => (r.content ? { ...toEvent(r), content: fromStored<Resource>(r.content) } : toEvent(r)));
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
