/**
 * The writes of one transaction, sent together. Inside a transaction (a transaction Bundle, a bot's writes, an
 * update under its row lock) the repository queues each version here instead of sending a statement per version;
 * the queue goes out as ONE statement (./write-version.ts) just before the transaction's next query of any kind
 * (a read, a search, a lock, a policy check sees every earlier write, as if each had been sent at once) and at the
 * end, together with the transaction's outbox events. A 100-entry Bundle then costs one round trip and one plan
 * instead of a hundred: on PostgreSQL the per-statement cost (the socket write that wakes the server, the parse,
 * bind and custom plan) was a quarter of the server's time during an ingest.
 *
 * Failures are unchanged in effect: a refused version (a duplicate id) fails the statement that carries it, which
 * aborts the transaction, so nothing of it is stored, as before.
 */
import type { Queryable } from './db.ts';
import { buildVersionsWrite, type EventsToAppend, type VersionWrite } from './write-version.ts';

/** Versions queued for one statement; larger queues are sent in several. */
const MAX_QUEUED = 1_000;

/** A transaction's {@link Queryable} that holds back version writes until they must be sent. */
export class WriteBatch implements Queryable {
  readonly inTransaction = true;
  private readonly tx: Queryable;
  private readonly tenant: string;
  private queued: VersionWrite[] = [];
  /** `type/id` of the queued versions: a second version of one resource sends the first before it is queued. */
  private readonly keys = new Set<string>();

  constructor(tx: Queryable, tenant: string) {
    this.tx = tx;
    this.tenant = tenant;
  }

  /** Queues one version (sent before the transaction's next query, or by {@link WriteBatch.finish}). */
  async write(w: VersionWrite): Promise<void> {
    const key = `${w.resourceType}/${w.id}`;
    if (this.keys.has(key) || this.queued.length >= MAX_QUEUED) await this.flush();
    this.queued.push(w);
    this.keys.add(key);
  }

  async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<{ rows: R[]; rowCount: number }> {
    await this.flush();
    return this.tx.query<R>(sql, params);
  }

  /** Sends what is queued with the transaction's outbox events, in one statement (the transaction's last). */
  async finish(events: EventsToAppend): Promise<void> {
    const writes = this.take();
    if (writes.length === 0 && events.drafts.length === 0) return;
    const w = buildVersionsWrite(this.tenant, writes, events);
    await this.tx.query(w.sql, w.params);
  }

  private async flush(): Promise<void> {
    const writes = this.take();
    if (writes.length === 0) return;
    const w = buildVersionsWrite(this.tenant, writes);
    await this.tx.query(w.sql, w.params);
  }

  private take(): VersionWrite[] {
    const writes = this.queued;
    this.queued = [];
    this.keys.clear();
    return writes;
  }
}
