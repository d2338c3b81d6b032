/**
 * The tenants storage knows: every tenant that has events (each write appends one, ./outbox.ts), and `default`, which
 * is served before its first write. Read by `haven doctor` and the start-up configuration check.
 */
import type { Queryable } from '../store/db.ts';

/** Known tenants, sorted, `default` included. */
export async function knownTenants(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ tenant: string }>(`SELECT tenant FROM haven_event_counters`);
  return [...new Set(['default', ...rows.map((r) => r.tenant)])].sort();
}
