/**
 * The embedded database's thread: PGlite (PostgreSQL compiled to WASM) runs here, off the server's main thread,
 * so SQL executes while the main thread parses requests, validates and serialises responses. The main thread
 * talks to it through ./pglite-db.ts; the session logic is ./pglite-session.ts, the messages ./pglite-protocol.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import type { ToDbSession } from './pglite-protocol.ts';
import { PgliteSession } from './pglite-session.ts';

const port = parentPort;
if (!port) throw new Error('pglite-worker.ts runs as a worker thread');
const lite = await PGlite.create((workerData as { dataDir?: string }).dataDir);
const session = await PgliteSession.open(lite, (msg) => port.postMessage(msg));
port.on('message', (msg: ToDbSession) => session.submit(msg));
port.postMessage({ ready: true });
