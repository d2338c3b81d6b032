/**
 * Test support for the authorization server: a server with auth on (on the suite's storage), client and
 * user registration, FHIR seed data, and a headless "browser" (fetch with manual redirects, a cookie jar,
 * and HTML form filling) that walks authorize → login → patient → consent like a person would.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { createFhirRouter } from '../http/routes.ts';
import { servedResourceTypes } from '../server.ts';
import { importResources } from '../store/import.ts';
import { cursorSecret } from '../store/settings.ts';
import { startTestServer, type TestServer } from '../test-support/harness.ts';
import { addClient, type NewClient } from './clients.ts';
import { AUTH_LIMIT_ENV } from './limits.ts';
import { loadKek } from './secret.ts';
import { authUrls, type AuthUrls } from './urls.ts';
import { addUser, type NewUser } from './users.ts';

/** Default password of test users. */
export const PASSWORD = 'correct horse battery staple';

/** A test server with the SMART authorization server on. */
export interface AuthTestServer extends TestServer {
  urls: (tenant?: string) => AuthUrls;
  addClient(input: Omit<NewClient, 'tenant'> & { tenant?: string }): Promise<{ clientId: string; secret?: string }>;
  addUser(
    input: Omit<NewUser, 'tenant' | 'password'> & { tenant?: string; password?: string },
  ): Promise<{ id: string; totpSecret?: string }>;
  seed(resources: Record<string, unknown>[], tenant?: string): Promise<void>;
}

/**
 * Rate limits off for test files that sign in and fetch tokens many times in a row from one address (the
 * limits are tested on their own, with their defaults, in sign-in-limits.test.ts). The hash bound stays.
 */
export const UNLIMITED_RATES: Record<string, string> = Object.fromEntries(
  (['signInIp', 'signInUser', 'authorizeIp', 'tokenIp', 'tokenClient'] as const).map((k) => [AUTH_LIMIT_ENV[k], 'off']),
);

/**
 * Starts a server with HAVEN_AUTH on, rate limits off ({@link UNLIMITED_RATES}) unless `defaultLimits`;
 * `env` overrides either.
 */
export async function startAuthServer(env: Record<string, string> = {}, opts: { defaultLimits?: boolean } = {}): Promise<AuthTestServer> {
  const ts = await startTestServer({ HAVEN_AUTH: 'on', ...(opts.defaultLimits ? {} : UNLIMITED_RATES), ...env });
  const db = ts.server.db;
  const kek = loadKek({ ...process.env, ...env }, ts.config.dataDir);
  return Object.assign(ts, {
    urls: (tenant = 'default') => authUrls(ts.config, tenant),
    async addClient(input: Omit<NewClient, 'tenant'> & { tenant?: string }) {
      const { client, secret } = await addClient(db, { tenant: 'default', ...input });
      return { clientId: client.clientId, ...(secret ? { secret } : {}) };
    },
    async addUser(input: Omit<NewUser, 'tenant' | 'password'> & { tenant?: string; password?: string }) {
      const { user, totpSecret } = await addUser(db, kek, { tenant: 'default', password: PASSWORD, ...input });
      return { id: user.id, ...(totpSecret ? { totpSecret } : {}) };
    },
    async seed(resources: Record<string, unknown>[], tenant = 'default') {
      const res = await importResources(
        {
          db,
          router: createFhirRouter(() => {}),
          tenant,
          baseUrl: authUrls(ts.config, tenant).fhirBase,
          cursorSecret: await cursorSecret(db),
          servedTypes: new Set(servedResourceTypes()),
        },
        resources.map((resource, at) => ({ at, resource })),
        'entry',
      );
      if (res.failures.length > 0) throw new Error(`seed failed: ${JSON.stringify(res.failures)}`);
    },
  });
}

/** A PKCE pair (RFC 7636 S256). */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** A parsed HTML form. */
export interface Form {
  action: string;
  method: string;
  fields: Record<string, string>;
  /** Values of checkboxes and radios by name. */
  choices: Record<string, string[]>;
}

function unescapeHtml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? unescapeHtml(m[1]) : undefined;
}

/** The POST forms of a page, with hidden fields and the choices offered. */
export function parseForms(html: string): Form[] {
  const forms: Form[] = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const fields: Record<string, string> = {};
    const choices: Record<string, string[]> = {};
    for (const input of m[2].matchAll(/<input\b[^>]*>/g)) {
      const tag = input[0];
      const name = attr(tag, 'name');
      if (!name) continue;
      const type = attr(tag, 'type') ?? 'text';
      if (type === 'hidden') fields[name] = attr(tag, 'value') ?? '';
      if (type === 'checkbox' || type === 'radio') (choices[name] ??= []).push(attr(tag, 'value') ?? '');
    }
    forms.push({ action: attr(m[1], 'action') ?? '', method: (attr(m[1], 'method') ?? 'get').toLowerCase(), fields, choices });
  }
  return forms;
}

/** A minimal browser: cookies per host, manual redirects, form posts. */
export class Browser {
  private readonly jar = new Map<string, Map<string, string>>();

  private cookieHeader(url: URL): string | undefined {
    const c = this.jar.get(url.host);
    return c?.size ? [...c].map(([k, v]) => `${k}=${v}`).join('; ') : undefined;
  }

  private store(url: URL, res: Response): void {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      const jar = this.jar.get(url.host) ?? new Map<string, string>();
      this.jar.set(url.host, jar);
      const expired = attrs.some((a) => /max-age=0|expires=thu, 01 jan 1970/i.test(a.trim()));
      if (expired || value === '') jar.delete(name);
      else jar.set(name, value);
    }
  }

  /** One request, no redirect following. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const u = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = this.cookieHeader(u);
    if (cookie) headers.set('cookie', cookie);
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    this.store(u, res);
    return res;
  }

  /** Follows redirects while they stay on `host`; returns the last response and its URL. */
  async follow(url: string, host: string, init: RequestInit = {}): Promise<{ res: Response; url: string; body: string }> {
    let current = url;
    let res = await this.fetch(current, init);
    for (let i = 0; i < 10 && res.status >= 300 && res.status < 400; i++) {
      const next = new URL(res.headers.get('location')!, current).toString();
      if (new URL(next).host !== host) return { res, url: next, body: await res.text() };
      current = next;
      res = await this.fetch(current);
    }
    return { res, url: current, body: await res.text() };
  }

  /** Submits a form with extra fields (repeatable names as arrays). */
  async submit(form: Form, extra: Record<string, string | string[]>, host: string): Promise<{ res: Response; url: string; body: string }> {
    const body = new URLSearchParams(form.fields);
    for (const [k, v] of Object.entries(extra)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    return this.follow(form.action, host, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }
}

/** What a person does on the pages. */
export interface PersonActions {
  username: string;
  password?: string;
  otp?: string;
  /** Patient id to pick, when the picker appears. */
  patient?: string;
  /** Scopes to leave ticked (default: all offered); 'deny' presses Deny. */
  consent?: string[] | 'deny';
}

/**
 * Drives the pages from an authorization URL until the server redirects away from itself; returns that
 * redirect (the client's redirect URI with `code` or `error`), or throws with the page it got stuck on.
 */
export async function authorizeInBrowser(
  browser: Browser,
  authorizeUrl: string,
  person: PersonActions,
  init: RequestInit = {},
): Promise<URL> {
  const host = new URL(authorizeUrl).host;
  let step = await browser.follow(authorizeUrl, host, init);
  for (let i = 0; i < 6; i++) {
    if (new URL(step.url).host !== host) return new URL(step.url);
    const post = parseForms(step.body).find((f) => f.method === 'post');
    if (!post) throw new Error(`stuck at ${step.url} (${step.res.status}): ${step.body.slice(0, 300)}`);
    if (post.action.endsWith('/login')) {
      step = await browser.submit(
        post,
        { username: person.username, password: person.password ?? PASSWORD, otp: person.otp ?? '', action: 'login' },
        host,
      );
      if (step.res.status === 401) throw new Error('login failed');
    } else if (post.action.endsWith('/patient')) {
      step = await browser.submit(post, { patient: person.patient ?? post.choices.patient?.[0] ?? '', action: 'select' }, host);
    } else if (post.action.endsWith('/consent')) {
      if (person.consent === 'deny') step = await browser.submit(post, { action: 'deny' }, host);
      else step = await browser.submit(post, { scope: person.consent ?? post.choices.scope ?? [], action: 'allow' }, host);
    } else {
      throw new Error(`unknown form ${post.action}`);
    }
  }
  throw new Error('too many steps');
}

/** Builds an authorization URL. */
export function authorizeUrl(urls: AuthUrls, params: Record<string, string | undefined>): string {
  const u = new URL(urls.authorize);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

/** A client key pair with its public JWK. */
export interface TestKey {
  kid: string;
  alg: 'RS384' | 'ES384';
  privateKey: CryptoKey;
  jwk: JWK;
}

/** Generates a client key pair. */
export async function clientKey(alg: 'RS384' | 'ES384', kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg } };
}

/** A JWKS served on 127.0.0.1, counting fetches. */
export interface JwksHost {
  url: string;
  hits: number;
  keys: JWK[];
  cacheControl: string;
  close(): Promise<void>;
}

/** Serves `keys` as a JWKS at a loopback URL. */
export async function serveJwks(keys: JWK[], cacheControl = 'max-age=60'): Promise<JwksHost> {
  const host: JwksHost = { url: '', hits: 0, keys, cacheControl, close: async () => {} };
  const server: Server = createServer((_req, res) => {
    host.hits++;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': host.cacheControl });
    res.end(JSON.stringify({ keys: host.keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  host.close = () => new Promise<void>((r) => server.close(() => r()));
  return host;
}

/** SMART's assertion shape: typ JWT, aud = token endpoint (oauth4webapi defaults to the issuer). */
export function smartAssertion(
  as: oauth.AuthorizationServer,
  key: TestKey,
  tweak?: (h: Record<string, unknown>, p: Record<string, unknown>) => void,
): oauth.ClientAuth {
  return oauth.PrivateKeyJwt(
    { key: key.privateKey, kid: key.kid },
    {
      [oauth.modifyAssertion]: (h, p) => {
        (h as Record<string, unknown>).typ = 'JWT';
        p.aud = as.token_endpoint;
        tweak?.(h as Record<string, unknown>, p as Record<string, unknown>);
      },
    },
  );
}

/** Runs authorize → login → consent for `clientId` and returns the code with its PKCE verifier. */
export async function obtainCode(
  ts: AuthTestServer,
  o: { clientId: string; redirectUri: string; scope: string; person: PersonActions; tenant?: string; extra?: Record<string, string> },
): Promise<{ code: string; verifier: string; challenge: string; callback: URL }> {
  const urls = ts.urls(o.tenant);
  const { verifier, challenge } = pkce();
  const callback = await authorizeInBrowser(
    new Browser(),
    authorizeUrl(urls, {
      response_type: 'code',
      client_id: o.clientId,
      redirect_uri: o.redirectUri,
      scope: o.scope,
      state: 'state-1',
      aud: urls.fhirBase,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...o.extra,
    }),
    o.person,
  );
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code: ${callback}`);
  return { code, verifier, challenge, callback };
}

/** POSTs a form to a URL; returns status, headers and parsed JSON. */
export async function postForm(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await r.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: r.status, headers: r.headers, body };
}

/** A SMART client assertion signed with `key`; `claims`/`header` override the defaults (undefined removes). */
export async function assertion(
  key: TestKey,
  clientId: string,
  aud: string,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const { SignJWT } = await import('jose');
  const now = Math.floor(Date.now() / 1000);
  const payload = Object.fromEntries(
    Object.entries({ iss: clientId, sub: clientId, aud, exp: now + 120, jti: randomBytes(12).toString('hex'), ...claims }).filter(
      ([, v]) => v !== undefined,
    ),
  );
  const hdr = Object.fromEntries(Object.entries({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).filter(([, v]) => v !== undefined));
  return new SignJWT(payload).setProtectedHeader(hdr as { alg: string }).sign(key.privateKey);
}

/** The form fields of private_key_jwt client authentication. */
export function assertionFields(jwt: string): Record<string, string> {
  return { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt };
}
