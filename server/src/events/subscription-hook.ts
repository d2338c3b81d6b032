/**
 * Runs inside the transaction of every Subscription write (../store/repository.ts `WriteHooks`):
 * - refuses a malformed Subscription with a 400 that says what is wrong: criteria that do not parse or name
 *   unknown search parameters, an unsupported channel type, an endpoint Haven will not call (by its URL, and for a
 *   delivering rest-hook by the addresses its host resolves to now: ../net/outbound-policy.ts), bad headers, an
 *   unsupported payload type or content code;
 * - records its owner, the caller who wrote it, as a receiver (./receiver.ts): every delivery re-checks that the
 *   owner still exists and what it may read then;
 * - registers its outbox consumer (`sub:<id>`), starting after the events already committed, or removes it
 *   when the subscription is turned off or deleted.
 */
import { badRequest, OperationOutcomeError, type SearchRequest } from '@medplum/core';
import type { Subscription } from '@medplum/fhirtypes';
import type { OutboundPolicy } from '../net/outbound-policy.ts';
import { callerOf } from '../policy/caller.ts';
import type { HavenRepository, WriteChange } from '../store/repository.ts';
import { parseCriteria } from './matcher.ts';
import { parseChannelHeaders, payloadContentOf } from './notification.ts';
import { receiverOf, type Receiver } from './receiver.ts';
import { checkEndpoint, FHIR_JSON, validateEndpoint } from './rest-hook.ts';

/** The receiver a write's caller is (its principal and policy, ../policy/caller.ts). */
function ownerOf(repo: HavenRepository): Receiver {
  const caller = callerOf(repo.ctx.access);
  return receiverOf(caller.principal, caller.policy);
}

/** Channel types Haven delivers. */
export const SUPPORTED_CHANNELS = ['rest-hook', 'websocket'] as const;

/** Endpoint rules (from ../config.ts `events` and `outbound`). */
export interface SubscriptionRules {
  /** Which rest-hook endpoints may be called. */
  readonly outbound: OutboundPolicy;
}

/**
 * Time limit of the endpoint lookup when a Subscription is written. It runs inside the write's transaction (before
 * its first statement on a create), so it is kept short; a host that does not answer in time is accepted and checked
 * again at every delivery.
 */
const LOOKUP_TIMEOUT_MS = 2_000;

function refuse(message: string, expression?: string): never {
  throw new OperationOutcomeError(badRequest(message, expression));
}

/**
 * Checks a Subscription's own fields (no database) and returns its parsed criteria: throws a 400
 * OperationOutcomeError naming the problem. `endpointUrl: false` skips the endpoint's URL rules (server-side status
 * changes must go through even when the operator's rules changed since; delivery refuses such an endpoint anyway).
 */
export function checkSubscriptionShape(sub: Subscription, rules: SubscriptionRules, endpointUrl = true): SearchRequest {
  if (!sub.criteria?.trim()) refuse('Subscription.criteria is required', 'Subscription.criteria');
  let search: SearchRequest;
  try {
    search = parseCriteria(sub.criteria);
  } catch (err) {
    refuse(`Subscription.criteria: ${outcomeText(err)}`, 'Subscription.criteria');
  }
  const type = sub.channel?.type;
  if (!(SUPPORTED_CHANNELS as readonly string[]).includes(type ?? '')) {
    refuse(
      `Subscription.channel.type "${String(type).slice(0, 40)}" is not supported; Haven delivers ${SUPPORTED_CHANNELS.join(' and ')}`,
      'Subscription.channel.type',
    );
  }
  if (type === 'rest-hook') {
    const endpoint = sub.channel.endpoint;
    if (!endpoint) refuse('A rest-hook Subscription needs channel.endpoint', 'Subscription.channel.endpoint');
    const why = endpointUrl ? validateEndpoint(endpoint, rules.outbound) : undefined;
    if (why) refuse(`Subscription.channel.endpoint: ${why}`, 'Subscription.channel.endpoint');
  }
  try {
    parseChannelHeaders(sub);
    payloadContentOf(sub);
  } catch (err) {
    refuse(err instanceof Error ? err.message : 'invalid channel', 'Subscription.channel');
  }
  const payload = sub.channel.payload?.trim();
  if (payload && payload !== FHIR_JSON && payload !== 'application/json') {
    refuse(`Subscription.channel.payload "${payload.slice(0, 60)}" is not supported; use ${FHIR_JSON}`, 'Subscription.channel.payload');
  }
  return search;
}

function outcomeText(err: unknown): string {
  if (err instanceof OperationOutcomeError) return err.outcome.issue?.[0]?.diagnostics ?? err.message;
  return err instanceof Error ? err.message : String(err);
}

/** True when a Subscription in this status should be delivering. */
export function isDelivering(status: string | undefined): boolean {
  return status === 'requested' || status === 'active' || status === 'error';
}

/** The hook for Subscription writes. */
export function subscriptionHook(rules: SubscriptionRules): {
  applies(type: string): boolean;
  beforeWrite(repo: HavenRepository, change: WriteChange): Promise<void>;
} {
  return {
    applies: (type) => type === 'Subscription',
    async beforeWrite(repo, change) {
      const tenant = repo.ctx.tenant;
      const sub = change.resource as Subscription | undefined;
      const serverSide = repo.ctx.origin?.actor?.startsWith('system:') === true;
      if (sub) {
        const search = checkSubscriptionShape(sub, rules, !serverSide);
        // Where the endpoint's host points now (the handshake leaves right after this write). Server-side status
        // changes keep the endpoint, and every delivery checks again anyway.
        if (sub.channel.type === 'rest-hook' && isDelivering(sub.status) && !serverSide) {
          const why = await checkEndpoint(sub.channel.endpoint as string, rules.outbound, { timeoutMs: LOOKUP_TIMEOUT_MS });
          if (why) refuse(`Subscription.channel.endpoint: ${why}`, 'Subscription.channel.endpoint');
        }
        // The criteria must be a search this server can run: compile it once (unknown parameters, bad values → 400).
        await repo.search({ ...search, count: 0, total: 'none' });
      }
      if (!sub || !isDelivering(sub.status)) {
        await repo.q.query(`DELETE FROM haven_consumers WHERE tenant = $1 AND consumer = $2`, [tenant, `sub:${change.id}`]);
        return;
      }
      // Server-side writes (status changes by the dispatcher) keep the owner recorded by the caller's last write.
      if (!serverSide) {
        await repo.q.query(
          `INSERT INTO haven_subscriptions (tenant, id, owner) VALUES ($1, $2, $3::jsonb)
           ON CONFLICT (tenant, id) DO UPDATE SET owner = EXCLUDED.owner`,
          [tenant, change.id, JSON.stringify(ownerOf(repo))],
        );
      }
      await repo.q.query(
        `INSERT INTO haven_consumers (tenant, consumer, cursor)
         VALUES ($1, $2, COALESCE((SELECT last_seq FROM haven_event_counters WHERE tenant = $1), 0))
         ON CONFLICT (tenant, consumer) DO NOTHING`,
        [tenant, `sub:${change.id}`],
      );
    },
  };
}
