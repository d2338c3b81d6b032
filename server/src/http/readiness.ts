/**
 * Liveness and readiness (issue 13 item 4). The listener binds as soon as the process starts, before storage is
 * open, so that a load balancer or Kubernetes sees a live process at once; until every start-up step is done it
 * answers `/healthz` 200 (alive), `/readyz` 503 with what is still pending, and everything else 503 with an
 * OperationOutcome and `Retry-After`. Only when ready does the server hand requests to the real application:
 * no client ever sees a tenant without its Questionnaires or a write before the bots are registered.
 */
import express from 'express';
import type { Db } from '../store/db.ts';
import { errorOutcome } from './outcome.ts';
import { sendFhirJson } from './respond.ts';

/**
 * What a server does before it is ready, in order: `storage` (opened, migrations applied), `questionnaires`
 * (questionnaires/ installed into `default` and every tenant that has data), `bots` (bot consumers registered,
 * dispatcher running), `http` (the application built and serving).
 */
export const STARTUP_STEPS = ['storage', 'questionnaires', 'bots', 'http'] as const;
export type StartupStep = (typeof STARTUP_STEPS)[number];

/** Seconds a client is asked to wait before retrying while the server starts. */
export const STARTING_RETRY_AFTER_SECONDS = 2;

/** Which start-up steps are done. */
export class Readiness {
  private readonly completed = new Set<StartupStep>();

  complete(step: StartupStep): void {
    this.completed.add(step);
  }

  get ready(): boolean {
    return this.pending().length === 0;
  }

  pending(): StartupStep[] {
    return STARTUP_STEPS.filter((s) => !this.completed.has(s));
  }

  done(): StartupStep[] {
    return STARTUP_STEPS.filter((s) => this.completed.has(s));
  }
}

/** The `/readyz` answer: 200 only when every step is done and the database answers. */
export interface ReadinessReport {
  readonly status: 200 | 503;
  readonly body: { status: 'ready' | 'starting' | 'unavailable'; pending?: StartupStep[]; done?: StartupStep[]; storage?: string };
}

/**
 * Decides the `/readyz` answer. `storage` is the database kind when it answered a probe, `false` when the probe
 * failed, undefined when there is no database yet.
 */
export function readinessReport(readiness: Readiness, storage: string | false | undefined): ReadinessReport {
  if (!readiness.ready) return { status: 503, body: { status: 'starting', pending: readiness.pending(), done: readiness.done() } };
  if (storage === false || storage === undefined) return { status: 503, body: { status: 'unavailable', pending: [] } };
  return { status: 200, body: { status: 'ready', storage } };
}

/** Probes the database: its kind when it answers, `false` when it does not. */
export async function probeStorage(db: Db): Promise<string | false> {
  try {
    await db.query('SELECT 1');
    return db.kind;
  } catch {
    return false;
  }
}

/** `GET /readyz` of the running application (every step done; the database must still answer). */
export function readyzHandler(readiness: Readiness, db: Db): express.RequestHandler {
  return async (_req, res) => {
    const report = readinessReport(readiness, await probeStorage(db));
    res.status(report.status).json(report.body);
  };
}

/**
 * The application served while the server starts: `/healthz` 200 (the process is alive), `/readyz` 503 with the
 * pending steps, anything else 503 + `Retry-After` + an OperationOutcome naming what is pending.
 */
export function createStartingApp(readiness: Readiness): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', ready: false });
  });
  app.get('/readyz', (_req, res) => {
    const report = readinessReport(readiness, undefined);
    res.status(report.status).json(report.body);
  });
  app.use((req, res) => {
    res.setHeader('Retry-After', String(STARTING_RETRY_AFTER_SECONDS));
    // Browser apps must be able to read the reason (CORS, as on the FHIR API).
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'Retry-After');
    sendFhirJson(
      req,
      res,
      503,
      errorOutcome('transient', `Haven is starting (pending: ${readiness.pending().join(', ')}); retry in a few seconds`),
    );
  });
  return app;
}
