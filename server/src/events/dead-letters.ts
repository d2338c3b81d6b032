/**
 * The dead-letter list: events a consumer (bot or Subscription) gave up on after its retries. An admin lists
 * them (`haven events dead-letters`, admin channel) and asks for a replay; any running dispatcher then hands the
 * event to its consumer once more, outside the consumer's order (the consumer has moved on), and records the
 * result. A replay that fails again stays in the list with its new error.
 */
import type { Queryable } from '../store/db.ts';
import { EVENTS_CHANNEL } from './outbox.ts';

/** One dead letter, with what its event was about (ids and types only: no PHI). */
export interface DeadLetter {
  tenant: string;
  consumer: string;
  seq: number;
  attempts: number;
  error: string;
  deadAt: string;
  resourceType: string;
  resourceId: string;
  versionId: number;
  interaction: string;
  replayRequestedAt?: string;
  replayedAt?: string;
  replayResult?: string;
}

interface Row {
  tenant: string;
  consumer: string;
  seq: number;
  attempts: number;
  error: string;
  dead_at: Date | string;
  resource_type: string;
  resource_id: string;
  version_id: number;
  interaction: string;
  replay_requested_at: Date | string | null;
  replayed_at: Date | string | null;
  replay_result: string | null;
}

const iso = (v: Date | string): string => (v instanceof Date ? v : new Date(v)).toISOString();

/** Dead letters of a tenant (all tenants when undefined), newest first; replayed ones only when asked. */
export async function listDeadLetters(
  q: Queryable,
  opts: { tenant?: string; includeReplayed?: boolean; limit?: number } = {},
): Promise<DeadLetter[]> {
  const { rows } = await q.query<Row>(
    `SELECT d.tenant, d.consumer, d.seq, d.attempts, d.error, d.dead_at, e.resource_type, e.resource_id, e.version_id, e.interaction,
            d.replay_requested_at, d.replayed_at, d.replay_result
     FROM haven_dead_letters d JOIN haven_events e ON e.tenant = d.tenant AND e.seq = d.seq
     WHERE ($1::text IS NULL OR d.tenant = $1) AND ($2 OR d.replayed_at IS NULL OR d.replay_result NOT IN ('done', 'skipped'))
     ORDER BY d.dead_at DESC, d.seq DESC LIMIT $3`,
    [opts.tenant ?? null, opts.includeReplayed ?? false, opts.limit ?? 1000],
  );
  return rows.map((r) => ({
    tenant: r.tenant,
    consumer: r.consumer,
    seq: Number(r.seq),
    attempts: r.attempts,
    error: r.error,
    deadAt: iso(r.dead_at),
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    versionId: r.version_id,
    interaction: r.interaction,
    ...(r.replay_requested_at ? { replayRequestedAt: iso(r.replay_requested_at) } : {}),
    ...(r.replayed_at ? { replayedAt: iso(r.replayed_at) } : {}),
    ...(r.replay_result ? { replayResult: r.replay_result } : {}),
  }));
}

/**
 * Asks for a replay of a tenant's dead letters, narrowed to one consumer and/or one event number; returns how
 * many were queued. Dispatchers are woken at once.
 */
export async function requestReplay(q: Queryable, tenant: string, filter: { consumer?: string; seq?: number } = {}): Promise<number> {
  const { rowCount } = await q.query(
    `UPDATE haven_dead_letters SET replay_requested_at = now()
     WHERE tenant = $1 AND ($2::text IS NULL OR consumer = $2) AND ($3::bigint IS NULL OR seq = $3)
       AND (replayed_at IS NULL OR replay_result NOT IN ('done', 'skipped'))`,
    [tenant, filter.consumer ?? null, filter.seq ?? null],
  );
  if (rowCount > 0) await q.query(`SELECT pg_notify('${EVENTS_CHANNEL}', $1)`, [tenant]);
  return rowCount;
}
