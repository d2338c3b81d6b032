/**
 * The dispatcher on real storage with stand-in consumers: a consumer that is stuck (a rest-hook endpoint that does
 * not answer, a bot in a long search) holds only its own slot; every other consumer keeps receiving its events.
 */
import { describe, expect, it } from 'vitest';
import { testRepository } from '../test-support/harness.ts';
import { useScratchDb } from '../test-support/scratch-db.ts';
import { startDispatcher, type ConsumerHandler } from './dispatcher.ts';
import type { HavenEvent } from './outbox.ts';

const scratch = useScratchDb();

/** Resolves when `check` holds, polling; rejects after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A consumer handler that records the sequence numbers it gets, after waiting for `wait` when given. */
function handler(prefix: string, seen: number[], wait?: Promise<void>): ConsumerHandler {
  return {
    prefix,
    async handle(_c, event: HavenEvent) {
      seen.push(event.seq);
      if (wait) await wait;
      return { kind: 'done' };
    },
  };
}

describe('dispatcher', () => {
  it('keeps serving the other consumers while one is stuck on an event, then resumes the stuck one in order', async () => {
    const db = scratch.db;
    const tenant = 'dispatch-t';
    await db.query(`INSERT INTO haven_consumers (tenant, consumer, cursor) VALUES ($1, 'stuck:a', 0), ($1, 'fast:b', 0)`, [tenant]);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const stuckSeen: number[] = [];
    const fastSeen: number[] = [];
    const dispatcher = await startDispatcher({
      db,
      handlers: [handler('stuck:', stuckSeen, gate), handler('fast:', fastSeen)],
      retry: { baseMs: 10, maxMs: 20, maxAttempts: 3 },
      pollMs: 50,
      roundGapMs: 10,
      concurrency: 4,
    });
    try {
      const repo = testRepository(db, tenant, `http://x/t/${tenant}/fhir`);
      await repo.createResource({ resourceType: 'Basic', code: { text: 'first' } });
      await until(() => stuckSeen.length === 1 && fastSeen.length === 1, 10_000, 'both consumers have the first event');
      // The stuck consumer is still inside event 1; the others must not wait for it.
      await repo.createResource({ resourceType: 'Basic', code: { text: 'second' } });
      await repo.createResource({ resourceType: 'Basic', code: { text: 'third' } });
      await until(() => fastSeen.length === 3, 10_000, 'the fast consumer has all three events');
      expect(fastSeen).toEqual([1, 2, 3]);
      expect(stuckSeen).toEqual([1]);
      release();
      await dispatcher.idle(10_000);
      expect(stuckSeen).toEqual([1, 2, 3]);
    } finally {
      release();
      await dispatcher.stop();
    }
  });

  it("registers a new tenant's consumers in the round that first numbers its events, without waiting for its notification", async () => {
    const tenant = 'dispatch-new';
    // Notifications that never arrive (a slow listener connection): only the numbering can reveal the tenant.
    const db = { ...scratch.db, listen: async () => async () => undefined };
    const registered: string[][] = [];
    const seen: number[] = [];
    const dispatcher = await startDispatcher({
      db,
      handlers: [handler('late:', seen)],
      retry: { baseMs: 10, maxMs: 20, maxAttempts: 3 },
      pollMs: 60_000,
      roundGapMs: 10,
      beforeClaim: async (tenants) => {
        registered.push([...tenants]);
        if (!tenants.includes(tenant)) return [];
        await scratch.db.query(`INSERT INTO haven_consumers (tenant, consumer, cursor) VALUES ($1, 'late:a', 0) ON CONFLICT DO NOTHING`, [
          tenant,
        ]);
        return [tenant];
      },
    });
    try {
      await until(() => registered.length > 0, 10_000, 'the start-up registration ran'); // '*', before any event
      const repo = testRepository(scratch.db, tenant, `http://x/t/${tenant}/fhir`);
      await repo.createResource({ resourceType: 'Basic', code: { text: 'first' } });
      await dispatcher.idle(10_000);
      expect(registered).toContainEqual([tenant]);
      expect(seen).toEqual([1]);
    } finally {
      await dispatcher.stop();
    }
  });

  it('tries a failed registration again in the next round instead of dropping the tenant', async () => {
    const tenant = 'dispatch-retry';
    let failures = 1;
    const seen: number[] = [];
    const dispatcher = await startDispatcher({
      db: scratch.db,
      handlers: [handler('retry:', seen)],
      retry: { baseMs: 10, maxMs: 20, maxAttempts: 3 },
      pollMs: 60_000,
      roundGapMs: 10,
      beforeClaim: async (tenants) => {
        if (!tenants.includes(tenant)) return [];
        if (failures-- > 0) throw new Error('registration failed (deliberately)');
        await scratch.db.query(`INSERT INTO haven_consumers (tenant, consumer, cursor) VALUES ($1, 'retry:a', 0) ON CONFLICT DO NOTHING`, [
          tenant,
        ]);
        return [tenant];
      },
      log: () => undefined,
    });
    try {
      const repo = testRepository(scratch.db, tenant, `http://x/t/${tenant}/fhir`);
      await repo.createResource({ resourceType: 'Basic', code: { text: 'first' } });
      await until(() => seen.length === 1, 10_000, 'the consumer registered on the second try has the event');
      expect(failures).toBe(-1);
      expect(seen).toEqual([1]);
    } finally {
      await dispatcher.stop();
    }
  });

  it('registers a tenant notified before its first events were numbered once they are (no wait for the periodic re-check)', async () => {
    const tenant = 'dispatch-early';
    // The notification of a tenant's first write can be handled before that write is numbered: registration then
    // finds no counter for the tenant and registers nothing. This listener is driven by the test to make that order
    // certain; numbering notifications never arrive, so only the numbering round itself can reveal the tenant again.
    let notify: (tenant: string) => void = () => undefined;
    const db = {
      ...scratch.db,
      listen: async (_channel: string, fn: (payload: string) => void) => {
        notify = fn;
        return async () => undefined;
      },
    };
    const asked: string[][] = [];
    const seen: number[] = [];
    const dispatcher = await startDispatcher({
      db,
      handlers: [handler('early:', seen)],
      retry: { baseMs: 10, maxMs: 20, maxAttempts: 3 },
      pollMs: 60_000,
      roundGapMs: 10,
      // Registers as the server does: from the tenant's event counter, so only tenants with numbered events.
      beforeClaim: async (tenants) => {
        asked.push([...tenants]);
        const { rows } = await scratch.db.query<{ tenant: string }>(
          `INSERT INTO haven_consumers (tenant, consumer, cursor)
           SELECT tenant, 'early:a', 0 FROM haven_event_counters WHERE tenant = ANY($1::text[])
           ON CONFLICT DO NOTHING RETURNING tenant`,
          [tenants],
        );
        return rows.map((r) => r.tenant);
      },
    });
    try {
      await until(() => asked.length > 0, 10_000, 'the start-up registration ran');
      notify(tenant);
      await until(() => asked.some((t) => t.includes(tenant)), 10_000, 'the notified tenant was asked for');
      const repo = testRepository(scratch.db, tenant, `http://x/t/${tenant}/fhir`);
      await repo.createResource({ resourceType: 'Basic', code: { text: 'first' } });
      await dispatcher.idle(10_000);
      expect(asked.filter((t) => t.includes(tenant))).toHaveLength(2);
      expect(seen).toEqual([1]);
    } finally {
      await dispatcher.stop();
    }
  });
});
