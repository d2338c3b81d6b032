/**
 * The HTTP application: FHIR APIs for the default tenant (/fhir) and named tenants (/t/{tenant}/fhir),
 * liveness (`/healthz`) and readiness (`/readyz`, ./readiness.ts), and JSON errors for everything else.
 */
import express from 'express';
import type { AuthServer } from '../auth/auth-server.ts';
import { createAppsRouter } from './apps.ts';
import { createFhirApi, type FhirApiDeps } from './fhir-api.ts';
import { errorOutcome } from './outcome.ts';
import { readyzHandler, type Readiness } from './readiness.ts';
import { sendFhirJson } from './respond.ts';

/** Everything the app is built from: what the FHIR API needs, plus the SMART authorization server. */
export type AppDeps = FhirApiDeps & {
  /** The SMART authorization server's routers (absent when HAVEN_AUTH=off). */
  auth?: Pick<AuthServer, 'authRouter' | 'wellKnownRouter'>;
  /** The server's start-up steps; this application is served once they are all done. */
  readiness: Readiness;
};

/** Builds the express application. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // req.ip (the auth rate limits' client address) believes X-Forwarded-For only from the proxies configured.
  app.set('trust proxy', deps.config.trustProxy);
  const api = createFhirApi(deps);
  if (deps.auth) {
    // Before the FHIR API: `.well-known` is not a resource type, and discovery needs no token.
    app.use('/fhir/.well-known', deps.auth.wellKnownRouter);
    app.use('/t/:tenant/fhir/.well-known', deps.auth.wellKnownRouter);
    app.use('/auth', deps.auth.authRouter);
    app.use('/t/:tenant/auth', deps.auth.authRouter);
  }
  // CORS (SMART App Launch 2.2 §1.9: browser apps call the FHIR API directly). Bearer tokens, no cookies,
  // so any origin may call; preflights are answered here.
  const cors: express.RequestHandler = (req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Expose-Headers', 'ETag, Location, Last-Modified, Content-Location, WWW-Authenticate');
    if (req.method !== 'OPTIONS') return next();
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS');
    res.setHeader(
      'Access-Control-Allow-Headers',
      'Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-None-Exist, If-Modified-Since',
    );
    res.setHeader('Access-Control-Max-Age', '600');
    res.status(204).end();
  };
  app.use('/fhir', cors, api);
  app.use('/t/:tenant/fhir', cors, api);
  app.get('/healthz', async (_req, res) => {
    try {
      await deps.db.query('SELECT 1');
      res.json({ status: 'ok', storage: deps.db.kind });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });
  app.get('/readyz', readyzHandler(deps.readiness, deps.db));
  // Haven's SMART apps, the launcher and the front door at / (static; smart-apps/).
  app.use(createAppsRouter({ config: deps.config, db: deps.db }));
  app.use((req, res) => {
    sendFhirJson(req, res, 404, errorOutcome('not-found', `No route for ${req.method} ${req.path.slice(0, 100)}`));
  });
  return app;
}
