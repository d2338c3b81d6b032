/**
 * `haven events dead-letters` and `haven events replay`: the dead-letter list of bots and Subscriptions
 * (../events/dead-letters.ts). Lines name consumers, event numbers, resource types and ids, never contents.
 */
import { UsageError, tenantOf, tenantOption, type Command } from './command.ts';

const CONSUMER = /^(bot|sub):[A-Za-z0-9\-.]{1,64}$/;

export const EVENTS_COMMANDS: Record<string, Command> = {
  'events dead-letters': {
    summary: 'List events that a bot or Subscription gave up on after its retries',
    usage: 'haven events dead-letters [--tenant T | --all-tenants] [--replayed] [--json]',
    details: `One line per dead letter: tenant, consumer (bot:<id> or sub:<Subscription id>), event number,
attempts, what the event was about (type/id/version, interaction), when it died and why (status codes and
error classes, no data). --replayed also lists those already replayed successfully.`,
    options: { ...tenantOption, 'all-tenants': { type: 'boolean' }, replayed: { type: 'boolean' }, json: { type: 'boolean' } },
    positionals: [0, 0],
    prepare(_pos, values) {
      const tenant = values['all-tenants'] ? undefined : tenantOf(values);
      return async (target, io) => {
        const list = await target.deadLetters(tenant, values.replayed === true);
        if (values.json) {
          io.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          return 0;
        }
        if (list.length === 0) io.stdout.write('no dead letters\n');
        for (const d of list) {
          io.stdout.write(
            `${d.tenant} ${d.consumer} #${d.seq} ${d.interaction} ${d.resourceType}/${d.resourceId}/_history/${d.versionId}` +
              ` attempts=${d.attempts} dead=${d.deadAt} error=${JSON.stringify(d.error)}` +
              `${d.replayResult ? ` replay=${JSON.stringify(d.replayResult)}` : ''}${d.replayRequestedAt ? ' (replay queued)' : ''}\n`,
          );
        }
        return 0;
      };
    },
  },
  'events bot-runs': {
    summary: 'List recent bot runs: which bot, which event, outcome',
    usage: 'haven events bot-runs [--tenant T | --all-tenants] [--bot ID] [--outcome succeeded|failed|dead] [--limit N] [--json]',
    details: `Newest first (default 100). Each line: tenant, bot, event number (a scheduled bot: its tick), outcome,
attempts, duration and the bot's summary or error (codes, counts and ids; never resource content).`,
    options: {
      ...tenantOption,
      'all-tenants': { type: 'boolean' },
      bot: { type: 'string' },
      outcome: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
    },
    positionals: [0, 0],
    prepare(_pos, values) {
      const tenant = values['all-tenants'] ? undefined : tenantOf(values);
      const bot = values.bot as string | undefined;
      if (bot !== undefined && !/^[a-z0-9][a-z0-9-]{0,62}$/.test(bot)) throw new UsageError(`invalid --bot "${bot}"`);
      const outcome = values.outcome as string | undefined;
      if (outcome !== undefined && !['succeeded', 'failed', 'dead'].includes(outcome))
        throw new UsageError('--outcome is succeeded, failed or dead');
      const limitText = values.limit as string | undefined;
      if (limitText !== undefined && !/^\d{1,4}$/.test(limitText)) throw new UsageError(`invalid --limit "${limitText}"`);
      return async (target, io) => {
        const runs = await target.botRuns({
          ...(tenant ? { tenant } : {}),
          ...(bot ? { bot } : {}),
          ...(outcome ? { outcome } : {}),
          ...(limitText ? { limit: Number(limitText) } : {}),
        });
        if (values.json) {
          io.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
          return 0;
        }
        if (runs.length === 0) io.stdout.write('no bot runs\n');
        for (const r of runs) {
          io.stdout.write(
            `${r.finishedAt} ${r.tenant} ${r.bot} #${r.seq} ${r.outcome} attempts=${r.attempts}` +
              `${r.durationMs !== undefined ? ` ${r.durationMs}ms` : ''}${r.detail ? ` ${JSON.stringify(r.detail)}` : ''}\n`,
          );
        }
        return 0;
      };
    },
  },
  'events replay': {
    summary: 'Queue dead letters for replay by the running server(s)',
    usage: 'haven events replay [--tenant T] [--consumer bot:<id>|sub:<id>] [--seq N]',
    details: `Queues the tenant's dead letters (narrowed by consumer and/or event number) for one more attempt; a
running server replays them within a second and records the result, shown by 'haven events dead-letters'.
A replay is outside the consumer's order: the consumer has moved on.`,
    options: { ...tenantOption, consumer: { type: 'string' }, seq: { type: 'string' } },
    positionals: [0, 0],
    prepare(_pos, values) {
      const tenant = tenantOf(values);
      const consumer = values.consumer as string | undefined;
      if (consumer !== undefined && !CONSUMER.test(consumer))
        throw new UsageError(`invalid --consumer "${consumer}" (bot:<id> or sub:<id>)`);
      const seqText = values.seq as string | undefined;
      if (seqText !== undefined && !/^\d{1,15}$/.test(seqText)) throw new UsageError(`invalid --seq "${seqText}"`);
      return async (target, io) => {
        const queued = await target.requestReplay(tenant, {
          ...(consumer ? { consumer } : {}),
          ...(seqText ? { seq: Number(seqText) } : {}),
        });
        io.stdout.write(`${queued} dead letter(s) queued for replay\n`);
        return queued > 0 ? 0 : 1;
      };
    },
  },
};
