/**
 * The bot contract: one file per bot in this folder, each `export default defineBot({...})`, listed in ./index.ts.
 *
 * - `after-commit` bots run from the outbox (server/src/events) after the triggering write committed, in a worker
 *   thread with a time limit. They read through `ctx` and return their writes as FHIR transaction entries; the
 *   runtime applies them atomically with the bot's own scoped identity through the normal repository path
 *   (validation, policy, events), together with the record of the run, so a run's effects happen once.
 * - `veto` bots run inside the write's transaction, before the write, and may refuse it.
 */
import type { BundleEntry, Resource } from '@medplum/fhirtypes';
import type { BotConfig } from './clinical/config.ts';

/** A write that can start a bot. */
export interface BotTrigger {
  readonly resourceType: string;
  readonly interactions: readonly ('create' | 'update' | 'delete')[];
  /**
   * Search parameters the written version must match, as in a search URL without the type
   * (`status=completed,amended`). Empty or absent: every write. Matched in memory first, then confirmed with the
   * server's search semantics; keep them to plain parameters of the type (no chains or `_has`), which both agree on.
   */
  readonly criteria?: string;
}

/** The event an after-commit bot runs for. */
export interface BotEvent {
  readonly tenant: string;
  /** Event number in the tenant's outbox: the idempotency key of the run, with the bot id. */
  readonly seq: number;
  readonly interaction: 'create' | 'update' | 'delete';
  readonly resourceType: string;
  readonly id: string;
  readonly versionId: number;
  /** The version the event is about; for a delete, the last version before it (absent when history has none). */
  readonly resource?: Resource;
}

/** What an after-commit bot may do while it runs. Reads use the bot's scopes. */
export interface BotContext {
  /** Bot configuration (bots/config/defaults.json merged with HAVEN_BOT_CONFIG). */
  readonly config: BotConfig;
  /** Current time (ISO 8601), fixed for the run. */
  readonly now: string;
  /** FHIR base URL of the tenant (`…/fhir` or `…/t/<tenant>/fhir`), to recognise absolute references to this server. */
  readonly baseUrl: string;
  /** The current version of a resource, or undefined when missing, deleted or outside the bot's scopes. */
  read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T | undefined>;
  /** Search (`query` as in a URL, e.g. `subject=Patient/1&_sort=-date`); one page of up to `_count` (default 100). */
  search<T extends Resource = Resource>(resourceType: string, query: string): Promise<T[]>;
}

/** What an after-commit run produced. */
export interface BotOutput {
  /** Entries of one FHIR transaction Bundle, applied atomically with the run record. */
  readonly writes?: readonly BundleEntry[];
  /** A short summary for the run record (no PHI: codes, counts, ids). */
  readonly summary?: string;
}

/** A veto bot's view of a write about to happen. */
export interface VetoInput {
  readonly tenant: string;
  readonly interaction: 'create' | 'update';
  readonly resource: Resource;
}

/** A veto bot's reads: inside the write's transaction, with full access (it only decides). */
export interface VetoContext {
  readonly config: BotConfig;
  readonly now: string;
  /** FHIR base URL of the tenant. */
  readonly baseUrl: string;
  read<T extends Resource = Resource>(resourceType: string, id: string): Promise<T | undefined>;
  search<T extends Resource = Resource>(resourceType: string, query: string): Promise<T[]>;
}

/**
 * A veto bot's decision. An allowed write may carry a note (e.g. a documented override) for the audit log, and a
 * warning for the client (an OperationOutcome issue in the response, an HTTP `Warning` header): the warning reaches
 * logs and headers, so it names references and instruments only, never answers or other PHI.
 */
export type VetoDecision =
  | { readonly allow: true; readonly note?: string; readonly warning?: string }
  | { readonly allow: false; readonly reason: string };

interface BotBase {
  /** Stable id, `[a-z0-9-]+`: part of the idempotency key and of the consumer name `bot:<id>`. */
  readonly id: string;
  readonly description: string;
  readonly triggers: readonly BotTrigger[];
}

/** An after-commit bot. */
export interface AfterCommitBot extends BotBase {
  readonly mode: 'after-commit';
  /** SMART system scopes of the bot's identity (least privilege), e.g. `system/Observation.cru`. */
  readonly scopes: readonly string[];
  /** Time limit of one run (default 10 s): the worker is stopped and the run counts as failed. */
  readonly timeoutMs?: number;
  handle(event: BotEvent, ctx: BotContext): Promise<BotOutput | undefined>;
}

/** What a scheduled bot runs for: one tick of its schedule in one tenant. */
export interface BotTick {
  readonly tenant: string;
  /** Minutes since the epoch at the tick: with the bot id, the idempotency key of the run. */
  readonly tick: number;
}

/**
 * A scheduled bot: runs every `everyMinutes` in every tenant, once across all server processes, for conditions
 * that no write announces (the absence of contact). Same worker, time limit, scopes and atomic writes as an
 * after-commit bot.
 */
export interface ScheduledBot {
  readonly id: string;
  readonly description: string;
  readonly mode: 'scheduled';
  readonly everyMinutes: number;
  readonly scopes: readonly string[];
  readonly timeoutMs?: number;
  handle(tick: BotTick, ctx: BotContext): Promise<BotOutput | undefined>;
}

/** A veto bot. */
export interface VetoBot extends BotBase {
  readonly mode: 'veto';
  handle(input: VetoInput, ctx: VetoContext): Promise<VetoDecision>;
}

export type BotDefinition = AfterCommitBot | VetoBot | ScheduledBot;

const BOT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Declares a bot; checks the declaration so that a malformed bot fails at start, not at its first event. */
export function defineBot<T extends BotDefinition>(bot: T): T {
  if (!BOT_ID.test(bot.id)) throw new Error(`Bot id "${bot.id}" must match ${BOT_ID}`);
  if (bot.mode === 'scheduled') {
    if (!Number.isInteger(bot.everyMinutes) || bot.everyMinutes < 1)
      throw new Error(`Bot ${bot.id}: everyMinutes must be a whole number of minutes ≥ 1`);
    return bot;
  }
  if (bot.triggers.length === 0) throw new Error(`Bot ${bot.id} has no triggers`);
  for (const t of bot.triggers) {
    if (!/^[A-Z][A-Za-z]+$/.test(t.resourceType)) throw new Error(`Bot ${bot.id}: invalid trigger type "${t.resourceType}"`);
    if (t.interactions.length === 0) throw new Error(`Bot ${bot.id}: trigger on ${t.resourceType} has no interactions`);
    if (t.criteria?.includes('?') || t.criteria?.startsWith('/')) {
      throw new Error(`Bot ${bot.id}: criteria are search parameters without the type ("status=completed"), got "${t.criteria}"`);
    }
  }
  if (bot.mode === 'veto' && bot.triggers.some((t) => t.interactions.includes('delete'))) {
    throw new Error(`Bot ${bot.id}: veto bots decide creates and updates only`);
  }
  return bot;
}
