/**
 * Worker thread of one after-commit bot (./bot-runner.ts): imports the bots module, runs `handle` for each
 * `run` message, and forwards the bot's reads to the main thread, which performs them with the bot's identity.
 * The main thread stops this worker when a run passes its time limit, so a looping bot cannot stall the server.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { AfterCommitBot, BotContext, BotDefinition, BotEvent, BotTick, ScheduledBot } from '../../../bots/runtime.ts';

/** Main thread → worker. */
export type ToWorker =
  | { type: 'run'; runId: number; event: BotEvent | BotTick; config: unknown; now: string; baseUrl: string }
  | { type: 'reply'; callId: number; ok: true; value: unknown }
  | { type: 'reply'; callId: number; ok: false; error: string };

/** Worker → main thread. */
export type FromWorker =
  | { type: 'call'; runId: number; callId: number; method: 'read' | 'search'; args: [string, string] }
  | { type: 'done'; runId: number; output: unknown }
  | { type: 'failed'; runId: number; error: string };

const { botsModule, botId } = workerData as { botsModule: string; botId: string };
const port = parentPort;
if (!port) throw new Error('bot-worker must run in a worker thread');

const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
let nextCall = 1;

function call(runId: number, method: 'read' | 'search', args: [string, string]): Promise<unknown> {
  const callId = nextCall++;
  return new Promise((resolve, reject) => {
    calls.set(callId, { resolve, reject });
    port!.postMessage({ type: 'call', runId, callId, method, args } satisfies FromWorker);
  });
}

const loaded = import(botsModule).then((mod: { BOTS?: readonly BotDefinition[] }) => {
  const bot = (mod.BOTS ?? []).find((b) => b.id === botId);
  if (!bot || bot.mode === 'veto') throw new Error(`No after-commit or scheduled bot "${botId}" in the bots module`);
  return bot as AfterCommitBot | ScheduledBot;
});

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'reply') {
    const pending = calls.get(msg.callId);
    calls.delete(msg.callId);
    if (msg.ok) pending?.resolve(msg.value);
    else pending?.reject(new Error(msg.error));
    return;
  }
  void (async () => {
    try {
      const bot = await loaded;
      const ctx: BotContext = {
        config: msg.config as BotContext['config'],
        now: msg.now,
        baseUrl: msg.baseUrl,
        read: (resourceType, id) => call(msg.runId, 'read', [resourceType, id]) as never,
        search: (resourceType, query) => call(msg.runId, 'search', [resourceType, query]) as never,
      };
      const output = (await (bot.handle as (e: BotEvent | BotTick, c: BotContext) => Promise<unknown>)(msg.event, ctx)) ?? {};
      port.postMessage({ type: 'done', runId: msg.runId, output } satisfies FromWorker);
    } catch (err) {
      const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      port.postMessage({ type: 'failed', runId: msg.runId, error: error.slice(0, 500) } satisfies FromWorker);
    }
  })();
});
