/**
 * The embedded database's thread: PGlite (PostgreSQL compiled to WASM) runs here, off the server's main thread,
 * so SQL executes while the main thread parses requests, validates and serialises responses. The main thread
 * talks to it through ./pglite-db.ts; the protocol is in ./pglite-protocol.ts.
 *
 * Queries go to PostgreSQL as one wire-protocol exchange each (Parse, Bind, Describe, Execute, Sync in one
 * buffer, as `pg` sends them over a socket), run synchronously, and are decoded by `pg`'s own protocol parser and
 * type parsers (./pg-types.ts): one call into WASM per query instead of one per message, and rows shaped exactly
 * as on a PostgreSQL server. JSON columns are sent back as text and parsed by the main thread (a string crosses
 * threads as one copy; a parsed object would be serialised here and rebuilt there).
 *
 * The database has one session. A transaction owns it from its first query to its `end`; requests of anyone else
 * wait in arrival order until then.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { serialize, type DatabaseError } from 'pg-protocol';
import { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage, CommandCompleteMessage, DataRowMessage, NotificationResponseMessage, RowDescriptionMessage } from 'pg-protocol/dist/messages.js';
import { encodeParam, parseTextValue } from './pg-types.ts';
import type { FromDbThread, QueryResult, SerializedDbError, ToDbThread } from './pglite-protocol.ts';

const JSON_OIDS = new Set([114, 3802]);
const port = parentPort;
if (!port) throw new Error('pglite-worker.ts runs as a worker thread');

const lite = await PGlite.create((workerData as { dataDir?: string }).dataDir);

/** LISTEN channel → listener ids on the main thread. */
const listeners = new Map<string, Set<number>>();
const channelOf = new Map<number, string>();

function post(msg: FromDbThread): void {
  port!.postMessage(msg);
}

/**
 * Sends `message` to PostgreSQL and decodes the answer. Throws the first error PostgreSQL reported.
 * `execProtocolRawStream` hands over the raw answer without PGlite decoding it a second time.
 */
async function exchange(message: Buffer): Promise<BackendMessage[]> {
  const chunks: Buffer[] = [];
  // The chunks are views into PostgreSQL's memory: copied before the next call reuses it.
  await lite.execProtocolRawStream(message, { syncToFs: false, onRawData: (chunk) => void chunks.push(Buffer.from(chunk)) });
  const messages: BackendMessage[] = [];
  const parser = new Parser();
  for (const chunk of chunks) parser.parse(chunk, (m) => messages.push(m));
  let error: DatabaseError | undefined;
  for (const m of messages) {
    if (m.name === 'notification') deliver(m as NotificationResponseMessage);
    else if (m.name === 'error' && !error) error = m as DatabaseError;
  }
  if (error) throw error;
  return messages;
}

function deliver(n: NotificationResponseMessage): void {
  for (const listenerId of listeners.get(n.channel) ?? []) post({ notify: listenerId, payload: n.payload });
}

/** Row count as `pg` reports it: the number at the end of the command tag (`INSERT 0 5`, `UPDATE 3`, `SELECT 2`). */
function rowCountOf(tag: string | undefined): number {
  const m = tag ? /(\d+)$/.exec(tag) : null;
  return m ? Number(m[1]) : 0;
}

/** Runs one parameterised statement (extended protocol, unnamed statement and portal, text values). */
async function runQuery(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
  const message = Buffer.concat([
    serialize.parse({ text: sql }),
    serialize.bind({ values: params as unknown[], valueMapper: encodeParam }),
    serialize.describe({ type: 'P' }),
    serialize.execute({}),
    serialize.sync(),
  ]);
  const messages = await exchange(message);
  const description = messages.find((m) => m.name === 'rowDescription') as RowDescriptionMessage | undefined;
  const fields = description?.fields ?? [];
  const rows: Record<string, unknown>[] = [];
  for (const m of messages) {
    if (m.name !== 'dataRow') continue;
    const values = (m as DataRowMessage).fields as (string | null)[];
    const row: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const v = values[i];
      row[f.name] = v === null || v === undefined || JSON_OIDS.has(f.dataTypeID) ? (v ?? null) : parseTextValue(f.dataTypeID, v);
    }
    rows.push(row);
  }
  const complete = messages.find((m) => m.name === 'commandComplete') as CommandCompleteMessage | undefined;
  return {
    rows,
    rowCount: rowCountOf(complete?.text),
    jsonColumns: fields.filter((f) => JSON_OIDS.has(f.dataTypeID)).map((f) => f.name),
  };
}

/** Runs a script of statements without parameters (simple protocol); returns the last command tag. */
async function runScript(sql: string): Promise<string | undefined> {
  const messages = await exchange(serialize.query(sql));
  return (messages.filter((m) => m.name === 'commandComplete').at(-1) as CommandCompleteMessage | undefined)?.text;
}

/** Ends the owning transaction. A COMMIT of a transaction that had failed rolls back: that is an error too. */
async function endTransaction(commit: boolean): Promise<void> {
  owner = undefined;
  const tag = await runScript(commit ? 'COMMIT' : 'ROLLBACK');
  if (commit && tag === 'ROLLBACK') {
    throw Object.assign(new Error('The transaction was rolled back instead of committed: a statement in it had failed'), { code: '25P02' });
  }
}

/** Keeps what callers look at (SQLSTATE `code`, `constraint`, `detail`...) across the thread boundary. */
function serializeError(err: unknown): SerializedDbError {
  if (!(err instanceof Error)) return { message: String(err) };
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(err)) if (typeof v === 'string') fields[k] = v;
  return { ...fields, message: err.message, name: err.name };
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Requests not yet run, in arrival order. */
const queue: ToDbThread[] = [];
/** The transaction that owns the session, if any. */
let owner: number | undefined;
let closing = false;

/** The request to run next: the owner's, else the oldest (any request when no transaction owns the session). */
function nextRunnable(): number {
  if (owner === undefined) return queue.length > 0 ? 0 : -1;
  return queue.findIndex((m) => (m.op === 'query' || m.op === 'end') && m.tx === owner);
}

async function run(msg: ToDbThread): Promise<unknown> {
  switch (msg.op) {
    case 'query':
      if (msg.tx !== undefined && owner === undefined) {
        await runScript('BEGIN');
        owner = msg.tx;
      }
      return runQuery(msg.sql, msg.params);
    case 'end':
      if (owner !== msg.tx) return undefined; // no query ever began it: nothing to commit
      await endTransaction(msg.commit);
      return undefined;
    case 'exec':
      await runScript(msg.sql);
      return undefined;
    case 'listen': {
      const set = listeners.get(msg.channel) ?? new Set<number>();
      if (set.size === 0) await runScript(`LISTEN ${quoteIdent(msg.channel)}`);
      set.add(msg.listenerId);
      listeners.set(msg.channel, set);
      channelOf.set(msg.listenerId, msg.channel);
      return undefined;
    }
    case 'unlisten': {
      const channel = channelOf.get(msg.listenerId);
      channelOf.delete(msg.listenerId);
      const set = channel === undefined ? undefined : listeners.get(channel);
      if (channel !== undefined && set?.delete(msg.listenerId) && set.size === 0) {
        listeners.delete(channel);
        await runScript(`UNLISTEN ${quoteIdent(channel)}`);
      }
      return undefined;
    }
    case 'close':
      throw new Error('close is run by pump()');
  }
}

let pumping = false;

/** Runs every request that may run now, one at a time, in order. */
async function pump(): Promise<void> {
  if (pumping) return;
  pumping = true;
  try {
    for (let i = nextRunnable(); i >= 0 && !closing; i = nextRunnable()) {
      const msg = queue.splice(i, 1)[0]!;
      if (msg.op === 'close') {
        closing = true;
        await lite.close().then(
          () => post({ id: msg.id, ok: true, value: undefined }),
          (err: unknown) => post({ id: msg.id, ok: false, error: serializeError(err) }),
        );
        return;
      }
      try {
        post({ id: msg.id, ok: true, value: await run(msg) });
      } catch (err) {
        post({ id: msg.id, ok: false, error: serializeError(err) });
      }
    }
  } finally {
    pumping = false;
  }
}

port.on('message', (msg: ToDbThread) => {
  if (closing) {
    post({ id: msg.id, ok: false, error: { message: 'the embedded database is closed' } });
    return;
  }
  queue.push(msg);
  void pump();
});
post({ ready: true });
