/**
 * Veto bots (../../../bots/runtime.ts `mode: 'veto'`) as repository write hooks: they run inside the write's
 * transaction, before the version is written, and a refusal rolls back the whole write (or transaction Bundle)
 * with a 422 OperationOutcome carrying the bot's reason. Their reads see the transaction's own earlier writes.
 * An allowed write may carry a warning: it goes to the request's warning list (RepositoryContext.warnings), which the
 * HTTP layer reports in the response (../http/routes.ts, ../http/respond.ts), and to the log.
 */
import { matchesSearchRequest, OperationOutcomeError, parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import type { VetoBot, VetoContext } from '../../../bots/runtime.ts';
import { HavenRepository, type WriteHooks } from '../store/repository.ts';
import { parseCriteria } from './matcher.ts';

/** The OperationOutcome of a refused write. */
export function vetoOutcome(botId: string, reason: string): OperationOutcomeError {
  return new OperationOutcomeError({
    resourceType: 'OperationOutcome',
    id: 'business-rule',
    issue: [{ severity: 'error', code: 'business-rule', diagnostics: `Refused by ${botId}: ${reason}` }],
  });
}

/** Write hooks that run `bots` (veto mode) on the writes they trigger on. */
export function vetoHooks(
  bots: readonly VetoBot[],
  config: unknown,
  log: (event: Record<string, unknown>) => void = () => undefined,
): WriteHooks {
  const triggers = bots.flatMap((bot) =>
    bot.triggers.map((t) => ({
      bot,
      trigger: t,
      search: t.criteria ? parseCriteria(t.criteria, t.resourceType) : (undefined as SearchRequest | undefined),
    })),
  );
  return {
    applies: (type) => triggers.some((t) => t.trigger.resourceType === type),
    async beforeWrite(repo, change) {
      if (change.interaction === 'delete' || !change.resource) return;
      const resource = change.resource;
      const interaction = change.interaction;
      const reader = new HavenRepository({ ...repo.ctx, access: undefined, hooks: undefined }, repo.q, repo.inTransaction);
      const ctx: VetoContext = {
        config: config as VetoContext['config'],
        now: new Date().toISOString(),
        baseUrl: repo.ctx.baseUrl,
        async read<T extends Resource>(resourceType: string, id: string): Promise<T | undefined> {
          try {
            return await reader.readResource<T>(resourceType, id);
          } catch {
            return undefined;
          }
        },
        async search<T extends Resource>(resourceType: string, query: string): Promise<T[]> {
          const bundle = await reader.search(parseSearchRequest(`${resourceType}?${query}`));
          return (bundle.entry ?? []).map((e) => e.resource as T);
        },
      };
      for (const { bot, trigger, search } of triggers) {
        if (trigger.resourceType !== change.resourceType || !trigger.interactions.includes(interaction)) continue;
        if (search && !matchesSearchRequest(resource, search)) continue;
        const decision = await bot.handle({ tenant: repo.ctx.tenant, interaction, resource }, ctx);
        if (!decision.allow) throw vetoOutcome(bot.id, decision.reason);
        if (decision.warning) {
          // Warnings carry references and instrument names only (the bot contract), so they may be logged.
          repo.ctx.warnings?.push({ resourceType: change.resourceType, id: change.id, source: bot.id, text: decision.warning });
          log({
            level: 'info',
            event: 'bots.veto_warning',
            tenant: repo.ctx.tenant,
            bot: bot.id,
            resourceType: change.resourceType,
            id: change.id,
            warning: decision.warning,
          });
        }
        // An allowed write with a note (a documented override): logged without free text, which may hold PHI;
        // the reason itself stays on the resource and in its history.
        if (decision.note)
          log({
            level: 'info',
            event: 'bots.veto_note',
            tenant: repo.ctx.tenant,
            bot: bot.id,
            resourceType: change.resourceType,
            id: change.id,
            note: decision.note,
          });
      }
    },
  };
}
