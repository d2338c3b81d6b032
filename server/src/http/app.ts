/**
 * The HTTP application: FHIR APIs for the default tenant (/fhir) and named tenants (/t/{tenant}/fhir),
 * health check, and JSON errors for everything else.
 */
import type { FhirRouter } from '@medplum/fhir-router';
import express from 'express';
import type { Authenticator } from '../auth/authenticate.ts';
import type { HavenConfig } from '../config.ts';
import type { Db } from '../store/db.ts';
import { createFhirApi } from './fhir-api.ts';
import { errorOutcome } from './outcome.ts';
import { sendFhirJson } from './respond.ts';

/** Everything the app is built from. */
export interface AppDeps {
  config: HavenConfig;
  db: Db;
  router: FhirRouter;
  /** Resource types the API serves; anything else is a 404. */
  resourceTypes: ReadonlySet<string>;
  authenticate: Authenticator;
  cursorSecret: string;
  capabilityStatement: (baseUrl: string) => object;
  log: (event: Record<string, unknown>) => void;
}

/** Builds the express application. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const api = createFhirApi(deps);
  app.use('/fhir', api);
  app.use('/t/:tenant/fhir', api);
  app.get('/healthz', async (_req, res) => {
    try {
      await deps.db.query('SELECT 1');
      res.json({ status: 'ok', storage: deps.db.kind });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });
  app.use((req, res) => {
    sendFhirJson(req, res, 404, errorOutcome('not-found', `No route for ${req.method} ${req.path.slice(0, 100)}`));
  });
  return app;
}
