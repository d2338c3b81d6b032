/**
 * The FHIR REST API of one tenant base (`/fhir` or `/t/{tenant}/fhir`): content negotiation, the
 * authentication hook, `metadata`, then dispatch into the FHIR router with a tenant-bound repository.
 */
import { parse as parseQuery } from 'node:querystring';
import { getStatus } from '@medplum/core';
import type { FhirRequest, FhirRouter } from '@medplum/fhir-router';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Authenticator } from '../auth/authenticate.ts';
import type { HavenConfig } from '../config.ts';
import { accessOf } from '../policy/caller.ts';
import type { Db } from '../store/db.ts';
import { HavenRepository, type WriteHooks } from '../store/repository.ts';
import { jsonBodyGuard } from '../fhir/json-guard.ts';
import { HttpError, errorOutcome, toHttpError } from './outcome.ts';
import { FHIR_JSON, sendFhirJson, sendFhirResponse } from './respond.ts';
import { summaryOptions } from './summary.ts';
import { refuseUnsafeParameters, safeDecode } from './request-text.ts';

/** What the API needs from the process. */
export interface FhirApiDeps {
  config: HavenConfig;
  db: Db;
  router: FhirRouter;
  /** Resource types the API serves; anything else is a 404. */
  resourceTypes: ReadonlySet<string>;
  authenticate: Authenticator;
  cursorSecret: string;
  capabilityStatement: (baseUrl: string) => object;
  log: (event: Record<string, unknown>) => void;
  /** Write hooks of the events layer (../events): Subscription registration and veto bots. */
  hooks?: WriteHooks;
  /**
   * Makes a tenant ready before its first request is served (the events layer installs Haven's Questionnaires
   * there). Called only for authenticated requests, so that an unauthenticated probe of `/t/{any}/fhir` writes
   * nothing; resolves at once for a tenant already prepared.
   */
  prepareTenant?: (tenant: string) => Promise<void>;
}

const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json-patch+json'];
const XML_PATTERN = /(^|[/+])xml\b/i;
const TENANT_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Tenant of a request: the default tenant for /fhir, else the path's {tenant}. */
export function tenantOf(req: Request): string {
  const t = req.params.tenant;
  return typeof t === 'string' ? t : 'default';
}

/** FHIR base URL of a tenant. */
export function fhirBase(config: HavenConfig, tenant: string): string {
  return tenant === 'default' ? `${config.baseUrl}/fhir` : `${config.baseUrl}/t/${tenant}/fhir`;
}

function sendError(req: Request, res: Response, err: unknown, log: FhirApiDeps['log']): void {
  const { status, outcome, internal } = toHttpError(err);
  if (internal) {
    // Never log bodies, parameters or values (PHI); only the error's class and message.
    log({
      level: 'error',
      event: 'fhir.internal_error',
      method: req.method,
      route: req.route?.path,
      error: err instanceof Error ? `${err.name}: ${err.message}` : 'non-error thrown',
    });
  }
  sendFhirJson(req, res, status, outcome);
}

/** Rejects XML and unknown media types before anything else runs. */
function negotiate(req: Request): void {
  const format = typeof req.query._format === 'string' ? req.query._format : undefined;
  if (format && XML_PATTERN.test(format)) throw new HttpError(415, 'not-supported', 'XML is not supported: use application/fhir+json');
  if (format && !/json/i.test(format)) throw new HttpError(415, 'not-supported', `Unsupported _format "${format.slice(0, 40)}": use json`);
  const accept = req.get('accept');
  if (accept && XML_PATTERN.test(accept) && !/json|\*\/\*/i.test(accept)) {
    throw new HttpError(415, 'not-supported', 'XML is not supported: accept application/fhir+json');
  }
  const hasBody = req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH';
  const contentType = req.get('content-type');
  if (hasBody && contentType) {
    if (XML_PATTERN.test(contentType)) throw new HttpError(415, 'not-supported', 'XML is not supported: send application/fhir+json');
    const isSearchForm = req.method === 'POST' && /\/_search$/.test(req.path) && /application\/x-www-form-urlencoded/i.test(contentType);
    if (!isSearchForm && !JSON_TYPES.some((t) => contentType.toLowerCase().startsWith(t))) {
      throw new HttpError(415, 'not-supported', `Unsupported Content-Type "${contentType.slice(0, 60)}": send application/fhir+json`);
    }
  }
}

/** Builds the express router mounted at each FHIR base. */
export function createFhirApi(deps: FhirApiDeps): express.Router {
  const api = express.Router({ mergeParams: true });
  api.use((req, res, next) => {
    try {
      if (!TENANT_PATTERN.test(tenantOf(req))) throw new HttpError(404, 'not-found', 'Unknown tenant');
      negotiate(req);
      next();
    } catch (err) {
      sendError(req, res, err, deps.log);
    }
  });
  api.use(express.json({ type: JSON_TYPES, limit: deps.config.maxBodyBytes, strict: true }));
  // A POST _search form is read as text and parsed like the URL's query (node:querystring, no prototype), so that
  // every parameter reaches the search parser: body-parser's form parser drops `__proto__` silently.
  api.use(express.text({ type: 'application/x-www-form-urlencoded', limit: deps.config.maxBodyBytes }));
  // Before anything walks the body: depth, sizes, and keys that name Object.prototype members (400 or 413).
  api.use(
    jsonBodyGuard(deps.config.jsonLimits, (req, res, p) =>
      sendError(req, res, new HttpError(p.status, p.code, p.diagnostics, p.expression), deps.log),
    ),
  );
  api.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') {
      sendError(req, res, new HttpError(413, 'too-long', `Request body exceeds the limit of ${deps.config.maxBodyBytes} bytes`), deps.log);
    } else if (e.type === 'entity.parse.failed') {
      sendError(req, res, new HttpError(400, 'structure', `Malformed JSON body: ${e.message ?? 'parse error'}`), deps.log);
    } else {
      sendError(req, res, new HttpError(e.status && e.status < 500 ? e.status : 400, 'invalid', 'Unreadable request body'), deps.log);
    }
  });

  // Discovery is public (SMART App Launch 2.2 §2.3; FHIR R4 capabilities).
  api.get('/metadata', (req, res) => {
    sendFhirJson(req, res, 200, deps.capabilityStatement(fhirBase(deps.config, tenantOf(req))));
  });

  api.use(async (req, res) => {
    const tenant = tenantOf(req);
    try {
      const principal = await deps.authenticate(req, tenant);
      if (!principal) {
        // RFC 6750 §3.1: no error code when the request carried no credentials at all.
        const sentToken = /^Bearer\s/i.test(req.get('authorization') ?? '');
        res.setHeader('WWW-Authenticate', `Bearer realm="${fhirBase(deps.config, tenant)}"${sentToken ? ', error="invalid_token"' : ''}`);
        throw new HttpError(
          401,
          'login',
          sentToken
            ? 'The access token is invalid, expired or revoked'
            : 'Authentication required: send an access token as "Authorization: Bearer <token>"',
        );
      }
      // Relative to the mount point (/fhir or /t/{tenant}/fhir): express strips it from req.url.
      const url = req.url.replace(/^\/+/, '');
      const firstSegment = url.split(/[/?]/)[0];
      if (safeDecode(url.split('?')[0]) === null) {
        throw new HttpError(400, 'invalid', 'The request path is not valid percent-encoding (RFC 3986 §2.1, UTF-8)');
      }
      if (firstSegment && !firstSegment.startsWith('$') && !firstSegment.startsWith('_') && !deps.resourceTypes.has(firstSegment)) {
        throw new HttpError(404, 'not-supported', `Unknown resource type "${(safeDecode(firstSegment) ?? firstSegment).slice(0, 64)}"`);
      }
      refuseUnsafeParameters(req.query);
      const baseUrl = fhirBase(deps.config, tenant);
      if (principal.tenant !== tenant) {
        // A token is issued for one FHIR base (its `aud`); it never opens another tenant (RFC 6750 §3.1).
        res.setHeader('WWW-Authenticate', `Bearer realm="${fhirBase(deps.config, tenant)}", error="invalid_token"`);
        throw new HttpError(401, 'login', 'This access token was not issued for this FHIR base');
      }
      try {
        await deps.prepareTenant?.(tenant);
      } catch (err) {
        // Not the client's fault and not its business: logged (no PHI: the tenant name and the error class), and
        // the request may simply be tried again.
        deps.log({
          level: 'error',
          event: 'fhir.tenant_setup_failed',
          tenant,
          error: err instanceof Error ? `${err.name}: ${err.message.slice(0, 200)}` : 'non-error thrown',
        });
        res.setHeader('Retry-After', '5');
        throw new HttpError(503, 'transient', 'This FHIR base is still being set up; retry in a few seconds');
      }
      const repo = new HavenRepository({
        db: deps.db,
        tenant,
        baseUrl,
        maxCount: deps.config.maxCount,
        defaultCount: deps.config.defaultCount,
        lenient: /handling=lenient/.test(req.get('prefer') ?? ''),
        cursorSecret: deps.cursorSecret,
        // The caller's SMART grants as decided by ../policy, applied by the store on every path below.
        access: accessOf(principal),
        ...(deps.hooks ? { hooks: deps.hooks } : {}),
        // Warnings the write hooks raise for this request (reported by ../http/routes.ts and ./respond.ts).
        warnings: [],
        limits: deps.config.jsonLimits,
      });
      let body = req.body as unknown;
      if (req.method === 'POST' && /\/_search$/.test(req.path)) {
        // POST _search: parameters may come in the form body and in the URL; both apply.
        const form = typeof body === 'string' ? parseQuery(body) : {};
        refuseUnsafeParameters(form);
        body = Object.assign(Object.create(null), req.query, form);
      }
      const fhirReq: FhirRequest = {
        method: req.method as FhirRequest['method'],
        url,
        pathname: '',
        body,
        params: {},
        query: {},
        headers: req.headers,
        config: { transactions: true },
      };
      const summary = summaryOptions(req.query as Record<string, unknown>);
      const result = await deps.router.handleRequest(fhirReq, repo);
      if (getStatus(result[0]) === 403) {
        // RFC 6750 §3.1: a valid token without the scope the request needs.
        res.setHeader('WWW-Authenticate', `Bearer realm="${baseUrl}", error="insufficient_scope"`);
      }
      const isRead = req.method === 'GET' && /^[A-Za-z]+\/[^/?]+(\/_history\/[^/?]+)?(\?|$)/.test(url) && !/\/_history(\?|$)/.test(url);
      sendFhirResponse(req, res, result, baseUrl, isRead, summary);
    } catch (err) {
      sendError(req, res, err, deps.log);
    }
  });
  return api;
}

export { FHIR_JSON, errorOutcome };
