/**
 * HTTP routes of the authorization server: `/auth/...` (and `/t/{tenant}/auth/...`) and the discovery
 * documents under each FHIR base (`{fhirBase}/.well-known/...`).
 *
 * CORS: the JSON endpoints (discovery, JWKS, token, introspection, revocation, userinfo, style) answer any
 * origin with `Access-Control-Allow-Origin: *` and never with credentials: none of them relies on cookies
 * (clients authenticate in the request itself), so a wildcard exposes nothing a direct request would not,
 * and browser apps on any registered origin work (SMART: CORS on token for public clients). The HTML pages
 * and /authorize are navigations, not CORS targets.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { jsonBodyGuard } from '../fhir/json-guard.ts';
import { describeShapeProblem } from '../fhir/json-shape.ts';
import { handleAuthorize, sendErrorPage } from './authorize.ts';
import { requestTenant, type AuthDeps } from './deps.ts';
import { SMART_STYLE, openidConfiguration, smartConfiguration } from './discovery.ts';
import { postConsent, postLogin, postPatient, showInteraction } from './interaction-routes.ts';
import { handleIntrospect, handleRevoke, handleUserinfo } from './introspect-revoke.ts';
import { handleLaunch } from './launch.ts';
import { OAuthError, sendOAuthError } from './oauth-error.ts';
import { limitByAddress } from './throttle.ts';
import { handleToken } from './token-endpoint.ts';
import { STYLE_VERSION, authUrls } from './urls.ts';

/** Largest form body the auth endpoints read (long v2 scope strings fit many times over). */
const FORM_LIMIT = '64kb';

function cors(req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
  res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
  res.setHeader('Access-Control-Max-Age', '600');
  if (req.method === 'OPTIONS') {
    res.status(204).end();
    return;
  }
  next();
}

type Handler = (deps: AuthDeps, req: Request, res: Response) => Promise<void>;

function run(deps: AuthDeps, fn: Handler, kind: 'json' | 'html') {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (requestTenant(req) === undefined) {
      if (kind === 'html') {
        sendErrorPage(res, 404, 'Not found', 'Unknown tenant.');
        return;
      }
      res.status(404).json({ error: 'invalid_request', error_description: 'Unknown tenant' });
      return;
    }
    fn(deps, req, res).catch(next);
  };
}

function jsonDoc(build: (tenant: string) => unknown) {
  return (req: Request, res: Response): void => {
    const tenant = requestTenant(req);
    if (tenant === undefined) {
      res.status(404).json({ error: 'not_found' });
      return;
    }
    // SMART: JSON whatever the Accept header says.
    res
      .status(200)
      .type('application/json')
      .send(JSON.stringify(build(tenant)));
  };
}

/** Turns body-parser and unexpected errors into OAuth JSON (API endpoints) or an error page (forms). */
function errors(deps: AuthDeps) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const e = err as { type?: string; status?: number; expose?: boolean };
    const tooLarge = e.type === 'entity.too.large';
    // body-parser marks every error the request caused (malformed, too large, an unknown charset or
    // Content-Encoding, a body that does not decompress) with a 4xx status and `expose`.
    const bodyProblem = e.expose === true && typeof e.status === 'number' && e.status >= 400 && e.status < 500;
    const unsupportedEncoding = e.type === 'encoding.unsupported' || e.type === 'charset.unsupported';
    const html = /^\/(authorize|interaction)/.test(req.path);
    if (!bodyProblem) {
      deps.log({
        level: 'error',
        event: 'auth.internal_error',
        path: req.route?.path ?? req.path.slice(0, 60),
        error: err instanceof Error ? err.name : 'non-error thrown',
      });
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status = tooLarge ? 413 : unsupportedEncoding ? 415 : bodyProblem ? 400 : 500;
    const message = tooLarge
      ? 'The request is too large'
      : unsupportedEncoding
        ? 'The request body uses a Content-Encoding or charset this server does not accept (send it uncompressed, UTF-8)'
        : bodyProblem
          ? 'The request body is malformed (it could not be read or decompressed as sent)'
          : 'Internal error';
    if (html) {
      sendErrorPage(res, status, status === 500 ? 'Something went wrong' : 'Bad request', message);
      return;
    }
    const tenant = requestTenant(req) ?? 'default';
    sendOAuthError(
      res,
      new OAuthError(status === 500 ? 'server_error' : 'invalid_request', message, status),
      authUrls(deps.config, tenant).issuer,
    );
  };
}

/** The router mounted at `/auth` and `/t/:tenant/auth`. */
export function createAuthRouter(deps: AuthDeps): express.Router {
  const r = express.Router({ mergeParams: true });
  const form = express.urlencoded({ extended: false, limit: FORM_LIMIT, parameterLimit: 200 });
  const json = [
    express.json({ limit: FORM_LIMIT }),
    // Depth and Object.prototype keys (../fhir/json-shape.ts), before a handler reads the body.
    jsonBodyGuard(deps.config.jsonLimits, (req, res, p) =>
      sendOAuthError(
        res,
        new OAuthError('invalid_request', `The request body is malformed: ${describeShapeProblem(p)}`, 400),
        authUrls(deps.config, requestTenant(req) ?? 'default').issuer,
      ),
    ),
  ];

  // Per-address limits come before body parsing: a flood costs as little as possible.
  const authorizeLimit = limitByAddress(deps, 'authorizeIp', 'html');
  r.get('/authorize', authorizeLimit, run(deps, handleAuthorize, 'html'));
  r.post('/authorize', authorizeLimit, form, run(deps, handleAuthorize, 'html'));
  r.get('/interaction/:id', run(deps, showInteraction, 'html'));
  r.post('/interaction/:id/login', form, run(deps, postLogin, 'html'));
  r.post('/interaction/:id/patient', form, run(deps, postPatient, 'html'));
  r.post('/interaction/:id/consent', form, run(deps, postConsent, 'html'));

  r.use(['/token', '/introspect', '/revoke', '/userinfo', '/jwks', '/style', '/launch'], cors);
  r.post('/token', limitByAddress(deps, 'tokenIp', 'json'), form, run(deps, handleToken, 'json'));
  r.post('/introspect', form, run(deps, handleIntrospect, 'json'));
  r.post('/revoke', form, run(deps, handleRevoke, 'json'));
  r.get('/userinfo', run(deps, handleUserinfo, 'json'));
  r.post('/userinfo', form, run(deps, handleUserinfo, 'json'));
  r.post('/launch', json, form, run(deps, handleLaunch, 'json'));
  r.get(
    '/jwks',
    run(
      deps,
      async (d, _req, res) => {
        res.setHeader('Cache-Control', 'public, max-age=300');
        res.type('application/json').send(JSON.stringify(await d.keys.jwks()));
      },
      'json',
    ),
  );
  r.get(`/style/${STYLE_VERSION}.json`, (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=86400');
    res.type('application/json').send(JSON.stringify(SMART_STYLE));
  });
  // RFC 6749 §3.2: the token endpoint takes POST only; say so in OAuth terms rather than a bare 404.
  r.all(['/token', '/introspect', '/revoke'], (req, res) => {
    res.setHeader('Allow', 'POST');
    sendOAuthError(
      res,
      new OAuthError('invalid_request', `${req.method} is not allowed here; use POST`, 405),
      authUrls(deps.config, requestTenant(req) ?? 'default').issuer,
    );
  });
  r.use((req, res) => {
    res.status(404).json({ error: 'not_found', error_description: `No auth route for ${req.method} ${req.path.slice(0, 80)}` });
  });
  r.use(errors(deps));
  return r;
}

/** The router mounted at `{fhirBase}/.well-known` (`/fhir/.well-known`, `/t/:tenant/fhir/.well-known`). */
export function createWellKnownRouter(deps: AuthDeps): express.Router {
  const r = express.Router({ mergeParams: true });
  r.use(cors);
  r.get(
    '/smart-configuration',
    jsonDoc((t) => smartConfiguration(authUrls(deps.config, t))),
  );
  r.get(
    '/openid-configuration',
    jsonDoc((t) => openidConfiguration(authUrls(deps.config, t))),
  );
  return r;
}
