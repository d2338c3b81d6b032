/**
 * `npm start`: runs the Haven server with configuration from the environment. The server logs `server.started`
 * when it listens (answering 503 until ready) and `server.ready` once it serves (./http/readiness.ts).
 */
import { loadConfig } from './config.ts';
import { logEvent, startServer } from './server.ts';

try {
  const config = loadConfig();
  const server = await startServer(config);
  const stop = async (): Promise<void> => {
    logEvent({ level: 'info', event: 'server.stopping' });
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  logEvent({ level: 'fatal', event: 'server.start_failed', error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
