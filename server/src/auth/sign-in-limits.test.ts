/**
 * Rate limits and the password-hash bound over HTTP (limits.ts, throttle.ts, users.ts): the default limits
 * (this file is where they run unraised), 429 with `Retry-After` as an HTML page (sign-in, authorize) or
 * OAuth JSON (token), per-address and per-client token budgets, X-Forwarded-For believed only from
 * configured proxies, parallel wrong passwords that cannot outrun the lockout, and 503 when the hash queue
 * is full. On the suite's storage.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AUTH_RATES } from './limits.ts';
import {
  Browser,
  PASSWORD,
  assertion,
  assertionFields,
  authorizeUrl,
  clientKey,
  parseForms,
  pkce,
  postForm,
  startAuthServer,
  type AuthTestServer,
  type Form,
  type TestKey,
} from './testing.ts';

const REDIRECT = 'http://127.0.0.1:7501/cb';

/** Opens a sign-in page for `clientId` in a fresh browser; `headers` go with the authorize request. */
async function openSignIn(
  ts: AuthTestServer,
  clientId: string,
  headers: Record<string, string> = {},
): Promise<{ browser: Browser; form: Form; host: string }> {
  const urls = ts.urls();
  const url = authorizeUrl(urls, {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: 'openid fhirUser',
    state: 's',
    aud: urls.fhirBase,
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
  });
  const host = new URL(url).host;
  const browser = new Browser();
  const page = await browser.follow(url, host, { headers });
  const form = parseForms(page.body).find((f) => f.action.endsWith('/login'));
  if (!form) throw new Error(`no sign-in form (${page.res.status}): ${page.body.slice(0, 200)}`);
  return { browser, form, host };
}

function signIn(s: { browser: Browser; form: Form; host: string }, username: string, password: string) {
  return s.browser.submit(s.form, { username, password, otp: '', action: 'login' }, s.host);
}

/** Waits (polling, not asserting on time) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (cond()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('default limits', () => {
  let ts: AuthTestServer;
  let clientId: string;
  beforeAll(async () => {
    ts = await startAuthServer({}, { defaultLimits: true });
    await ts.addUser({ username: 'ann', fhirUser: 'Practitioner/a1', roles: ['clinician'] });
    clientId = (await ts.addClient({ type: 'public', redirectUris: [REDIRECT] })).clientId;
  });
  afterAll(async () => {
    await ts?.stop();
  });

  it(`allows ${DEFAULT_AUTH_RATES.signInUser.count} sign-ins per username per minute, then 429 with Retry-After and the form`, async () => {
    const s = await openSignIn(ts, clientId);
    // All at once: the budget is spent as they arrive, long before the bucket refills (one per 6 s).
    const n = DEFAULT_AUTH_RATES.signInUser.count;
    const answers = await Promise.all(Array.from({ length: n + 3 }, (_, i) => signIn(s, 'ann', `wrong password ${i}`)));
    expect(answers.map((a) => a.res.status).sort()).toEqual([...Array(n).fill(401), 429, 429, 429]);
    const limited = answers.find((a) => a.res.status === 429)!;
    const retryAfter = Number(limited.res.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= DEFAULT_AUTH_RATES.signInUser.perSeconds).toBe(true);
    expect(limited.body).toContain('Too many sign-in attempts');
    expect(parseForms(limited.body).some((f) => f.action.endsWith('/login'))).toBe(true);
    // One log line per episode, naming the limit, never the username or the address.
    const logged = ts.logs.filter((l) => l.event === 'auth.rate_limited');
    expect(logged).toEqual([expect.objectContaining({ limit: 'signInUser', tenant: 'default', outcome: 'failure' })]);
    expect(JSON.stringify(logged)).not.toMatch(/ann|127\.0\.0\.1/);
    // Another username from the same address is still served (the address budget is larger).
    expect((await signIn(s, 'someone-else', 'a wrong password')).res.status).toBe(401);
  }, 120_000);
});

describe('small limits', () => {
  let ts: AuthTestServer;
  let clientId: string;
  let backend: { id: string; key: TestKey };
  beforeAll(async () => {
    ts = await startAuthServer({
      HAVEN_AUTH_RATE_SIGNIN_IP: '2/3600',
      HAVEN_AUTH_RATE_SIGNIN_USER: 'off',
      HAVEN_AUTH_RATE_AUTHORIZE_IP: '2/3600',
      HAVEN_AUTH_RATE_TOKEN_IP: '5/3600',
      HAVEN_AUTH_RATE_TOKEN_CLIENT: '2/3600',
    });
    clientId = (await ts.addClient({ type: 'public', redirectUris: [REDIRECT] })).clientId;
    const key = await clientKey('ES384', 'b-1');
    backend = { key, id: (await ts.addClient({ type: 'backend', jwks: { keys: [key.jwk] }, scopes: 'system/Patient.rs' })).clientId };
  });
  afterAll(async () => {
    await ts?.stop();
  });

  it('limits sign-in attempts per address, unknown usernames included', async () => {
    const s = await openSignIn(ts, clientId);
    expect((await signIn(s, 'nobody-1', 'a wrong password')).res.status).toBe(401);
    expect((await signIn(s, 'nobody-2', 'a wrong password')).res.status).toBe(401);
    const limited = await signIn(s, 'nobody-3', 'a wrong password');
    expect(limited.res.status).toBe(429);
    expect(Number(limited.res.headers.get('retry-after'))).toBeGreaterThan(1000);
  });

  it('limits the authorization endpoint per address with an HTML page; X-Forwarded-For is not believed', async () => {
    // The sign-in above used one of the two.
    await openSignIn(ts, clientId);
    const r = await fetch(`${ts.urls().authorize}?client_id=${clientId}`, {
      headers: { 'x-forwarded-for': '203.0.113.50' },
      redirect: 'manual',
    });
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await r.text()).toContain('Too many');
  });

  it('limits tokens per authenticated client, counted only after the client authenticated', async () => {
    const token = async () =>
      postForm(ts.urls().token, {
        grant_type: 'client_credentials',
        scope: 'system/Patient.rs',
        ...assertionFields(await assertion(backend.key, backend.id, ts.urls().token)),
      });
    expect((await token()).status).toBe(200);
    expect((await token()).status).toBe(200);
    const limited = await token();
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited.headers.get('cache-control')).toBe('no-store');
    // Naming the client without its credentials is refused as before, not counted against it.
    const named = await postForm(ts.urls().token, { grant_type: 'client_credentials', client_id: backend.id });
    expect(named.status).toBe(401);
  });

  it('limits every token request per address, in OAuth JSON with CORS', async () => {
    // Four of the five were spent above.
    expect((await postForm(ts.urls().token, { grant_type: 'authorization_code', code: 'x' })).status).toBe(401);
    const limited = await postForm(ts.urls().token, { grant_type: 'authorization_code', code: 'x' }, { 'x-forwarded-for': '198.51.100.7' });
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/retry after \d+ seconds/) });
    expect(limited.headers.get('access-control-allow-origin')).toBe('*');
    const names = ts.logs.filter((l) => l.event === 'auth.rate_limited').map((l) => l.limit);
    expect(names).toEqual(['signInIp', 'authorizeIp', 'tokenClient', 'tokenIp']);
  });
});

describe('behind a trusted proxy (HAVEN_TRUST_PROXY)', () => {
  let ts: AuthTestServer;
  beforeAll(async () => {
    ts = await startAuthServer({ HAVEN_TRUST_PROXY: 'loopback', HAVEN_AUTH_RATE_AUTHORIZE_IP: '1/3600' });
  });
  afterAll(async () => {
    await ts?.stop();
  });

  it('counts by the address the proxy reports; IPv6 clients by their /64', async () => {
    const get = (xff: string) => fetch(`${ts.urls().authorize}?client_id=x`, { headers: { 'x-forwarded-for': xff }, redirect: 'manual' });
    expect((await get('203.0.113.1')).status).toBe(400);
    expect((await get('203.0.113.1')).status).toBe(429);
    expect((await get('203.0.113.2')).status).toBe(400);
    expect((await get('2001:db8:1:2::1')).status).toBe(400);
    expect((await get('2001:db8:1:2:ffff::9')).status).toBe(429);
    expect((await get('2001:db8:1:3::1')).status).toBe(400);
  });
});

describe('parallel wrong passwords', () => {
  let ts: AuthTestServer;
  let clientId: string;
  beforeAll(async () => {
    // One hash at a time, so the test can see all ten guesses queued before it sends the right password.
    ts = await startAuthServer({ HAVEN_AUTH_HASH_CONCURRENCY: '1', HAVEN_AUTH_HASH_QUEUE: '20' });
    await ts.addUser({ username: 'target', fhirUser: 'Practitioner/t1', roles: ['clinician'] });
    clientId = (await ts.addClient({ type: 'public', redirectUris: [REDIRECT] })).clientId;
  });
  afterAll(async () => {
    await ts?.stop();
  });

  it('ten wrong passwords at once, then the right one while they are checked: refused, the account is locked', async () => {
    const gate = ts.server.auth!.deps.guards.gate;
    const s = await openSignIn(ts, clientId);
    const guesses = Array.from({ length: 10 }, (_, i) => signIn(s, 'target', `wrong password ${i}`));
    // Every guess has arrived: it holds the slot, waits for it, or has been answered (and logged).
    const answered = () => ts.logs.filter((l) => l.event === 'auth.login').length;
    await until(() => gate.active + gate.waiting + answered() >= 10, 'ten guesses at the gate');
    const right = await signIn(s, 'target', PASSWORD);
    expect(right.res.status).toBe(401);
    expect((await Promise.all(guesses)).map((g) => g.res.status)).toEqual(Array(10).fill(401));
    expect(gate.peak).toBe(1);
    const reasons = ts.logs.filter((l) => l.event === 'auth.login').map((l) => l.reason);
    expect(reasons.filter((r) => r === 'bad_password')).toHaveLength(5);
    expect(reasons.filter((r) => r === 'locked')).toHaveLength(6);
    const { rows } = await ts.server.db.query<{ locked: boolean }>(
      "SELECT locked_until > now() AS locked FROM auth_users WHERE username = 'target'",
    );
    expect(rows[0].locked).toBe(true);
  }, 120_000);
});

describe('hash queue full', () => {
  let ts: AuthTestServer;
  let clientId: string;
  beforeAll(async () => {
    ts = await startAuthServer({ HAVEN_AUTH_HASH_CONCURRENCY: '1', HAVEN_AUTH_HASH_QUEUE: '0' });
    await ts.addUser({ username: 'waiting', fhirUser: 'Practitioner/w1', roles: ['clinician'] });
    clientId = (await ts.addClient({ type: 'public', redirectUris: [REDIRECT] })).clientId;
  });
  afterAll(async () => {
    await ts?.stop();
  });

  it('answers 503 with Retry-After at once, without counting the attempts against the account', async () => {
    const gate = ts.server.auth!.deps.guards.gate;
    const s = await openSignIn(ts, clientId);
    const release = await gate.acquire();
    try {
      for (let i = 0; i < 6; i++) {
        const busy = await signIn(s, 'waiting', 'a wrong password');
        expect(busy.res.status).toBe(503);
        expect(busy.res.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(busy.body).toContain('busy');
        expect(parseForms(busy.body).some((f) => f.action.endsWith('/login'))).toBe(true);
      }
    } finally {
      release();
    }
    // Six refusals and no lock: the right password signs in (and the browser lands on the next step's page).
    expect((await signIn(s, 'waiting', PASSWORD)).res.status).toBe(200);
    expect(ts.logs.filter((l) => l.event === 'auth.login').map((l) => l.outcome)).toEqual([...Array(6).fill('failure'), 'success']);
  });
});
