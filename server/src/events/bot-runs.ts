/**
 * The record of bot runs (`haven_bot_runs`, written by ./bot-runner.ts): which bot, which event, outcome. Listed by
 * `haven events bot-runs` and the admin channel.
 */
import type { Queryable } from '../store/db.ts';

const iso = (v: Date | string): string => (v instanceof Date ? v : new Date(v)).toISOString();

/** One recorded bot run (no PHI: the bot's summary names codes, counts and ids). */
export interface BotRun {
  tenant: string;
  bot: string;
  /** Event number, or for a scheduled bot the tick (minutes since the epoch). */
  seq: number;
  outcome: 'succeeded' | 'failed' | 'dead';
  attempts: number;
  detail?: string;
  durationMs?: number;
  finishedAt: string;
}

/** Recent bot runs, newest first, narrowed by tenant, bot and outcome. */
export async function listBotRuns(
  q: Queryable,
  opts: { tenant?: string; bot?: string; outcome?: string; limit?: number } = {},
): Promise<BotRun[]> {
  const { rows } = await q.query<{
    tenant: string;
    bot: string;
    seq: number;
    outcome: BotRun['outcome'];
    attempts: number;
    detail: string | null;
    duration_ms: number | null;
    finished_at: Date | string;
  }>(
    `SELECT tenant, bot, seq, outcome, attempts, detail, duration_ms, finished_at FROM haven_bot_runs
     WHERE ($1::text IS NULL OR tenant = $1) AND ($2::text IS NULL OR bot = $2) AND ($3::text IS NULL OR outcome = $3)
     ORDER BY finished_at DESC, seq DESC LIMIT $4`,
    [opts.tenant ?? null, opts.bot ?? null, opts.outcome ?? null, opts.limit ?? 100],
  );
  return rows.map((r) => ({
    tenant: r.tenant,
    bot: r.bot,
    seq: Number(r.seq),
    outcome: r.outcome,
    attempts: r.attempts,
    ...(r.detail ? { detail: r.detail } : {}),
    ...(r.duration_ms !== null ? { durationMs: r.duration_ms } : {}),
    finishedAt: iso(r.finished_at),
  }));
}
