/**
 * The authorization endpoint's side of the error matrix (reference §1.12, RFC 6749 §4.1.2.1, RFC 7636
 * §4.4.1), one test per situation, plus the browser-side protections (CSRF, launch bound to its user).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLaunch } from './launch.ts';
import { Browser, authorizeInBrowser, authorizeUrl, parseForms, pkce, startAuthServer, type AuthTestServer } from './testing.ts';
import { base32Decode, totp } from './totp.ts';

const REDIRECT = 'http://127.0.0.1:7101/cb';
const STATE = 'a b+c/=%&é"<';
let ts: AuthTestServer;
let clientId: string;
let otherClient: string;
let drId: string;
let mfaSeed: string;

beforeAll(async () => {
  ts = await startAuthServer();
  await ts.seed([
    { resourceType: 'Patient', id: 'p1', name: [{ family: 'Lee' }] },
    { resourceType: 'Practitioner', id: 'dr1' },
    { resourceType: 'Practitioner', id: 'dr2' },
  ]);
  drId = (await ts.addUser({ username: 'drwho', fhirUser: 'Practitioner/dr1', roles: ['clinician'] })).id;
  await ts.addUser({ username: 'drno', fhirUser: 'Practitioner/dr2', roles: ['clinician'] });
  await ts.addUser({ username: 'orphan', fhirUser: 'Person/x1', roles: ['patient'] });
  await ts.seed([{ resourceType: 'RelatedPerson', id: 'rp1', patient: { reference: 'Patient/p1' } }]);
  await ts.addUser({ username: 'mum', fhirUser: 'RelatedPerson/rp1', roles: ['related-person'] });
  mfaSeed = (await ts.addUser({ username: 'mfa', fhirUser: 'Practitioner/dr2', roles: ['clinician'], totp: true })).totpSecret!;
  clientId = (
    await ts.addClient({
      type: 'public',
      redirectUris: [REDIRECT],
      launchUri: 'http://127.0.0.1:7101/launch',
      scopes: 'launch launch/patient openid fhirUser patient/*.rs user/*.rs',
    })
  ).clientId;
  otherClient = (
    await ts.addClient({ type: 'public', redirectUris: ['http://127.0.0.1:7102/cb'], launchUri: 'http://127.0.0.1:7102/launch' })
  ).clientId;
});
afterAll(async () => {
  await ts?.stop();
});

function params(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: 'launch/patient patient/*.rs',
    state: STATE,
    aud: ts.urls().fhirBase,
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
}

async function authorize(
  overrides: Record<string, string | undefined> = {},
): Promise<{ status: number; location: URL | undefined; body: string }> {
  const r = await fetch(authorizeUrl(ts.urls(), params(overrides)), { redirect: 'manual' });
  const loc = r.headers.get('location');
  return { status: r.status, location: loc ? new URL(loc, ts.urls().authorize) : undefined, body: await r.text() };
}

/** Expects an error redirect to the client with `error`, the exact state, and no code. */
async function expectErrorRedirect(overrides: Record<string, string | undefined>, error: string): Promise<void> {
  const r = await authorize(overrides);
  expect(r.status).toBe(302);
  expect(`${r.location!.origin}${r.location!.pathname}`).toBe(REDIRECT);
  expect(r.location!.searchParams.get('error')).toBe(error);
  expect(r.location!.searchParams.get('error_description')).toBeTruthy();
  expect(r.location!.searchParams.get('code')).toBeNull();
  if (overrides.state === undefined) expect(r.location!.searchParams.get('state')).toBe(STATE);
}

/** Expects an error page and no redirect at all. */
async function expectErrorPage(overrides: Record<string, string | undefined>): Promise<void> {
  const r = await authorize(overrides);
  expect(r.status).toBe(400);
  expect(r.location).toBeUndefined();
  expect(r.body).toMatch(/<html lang="en">/);
}

describe('no redirect when client or redirect URI cannot be trusted', () => {
  it('unknown client_id → 400 page', () => expectErrorPage({ client_id: 'no-such-client' }));
  it('missing client_id → 400 page', () => expectErrorPage({ client_id: undefined }));
  it('unregistered redirect_uri → 400 page', () => expectErrorPage({ redirect_uri: 'http://127.0.0.1:7101/cb2' }));
  it('redirect_uri differing only by a trailing slash → 400 page', () => expectErrorPage({ redirect_uri: `${REDIRECT}/` }));
  it('redirect_uri of another client → 400 page', () => expectErrorPage({ redirect_uri: 'http://127.0.0.1:7102/cb' }));
});

describe('error redirects, state echoed byte for byte', () => {
  it('missing code_challenge → invalid_request', () => expectErrorRedirect({ code_challenge: undefined }, 'invalid_request'));
  it('code_challenge_method=plain → invalid_request', () => expectErrorRedirect({ code_challenge_method: 'plain' }, 'invalid_request'));
  it('missing code_challenge_method → invalid_request', () => expectErrorRedirect({ code_challenge_method: undefined }, 'invalid_request'));
  it('malformed code_challenge → invalid_request', () => expectErrorRedirect({ code_challenge: 'short' }, 'invalid_request'));
  it('foreign aud → no code', () => expectErrorRedirect({ aud: 'https://inferno.healthit.gov/invalid_aud' }, 'invalid_request'));
  it('missing aud → invalid_request', () => expectErrorRedirect({ aud: undefined }, 'invalid_request'));
  it('response_type=token → unsupported_response_type', () => expectErrorRedirect({ response_type: 'token' }, 'unsupported_response_type'));
  it('missing state → invalid_request', async () => {
    const r = await authorize({ state: undefined });
    expect(r.location!.searchParams.get('error')).toBe('invalid_request');
    expect(r.location!.searchParams.has('state')).toBe(false);
  });
  it('malformed scope → invalid_scope', () => expectErrorRedirect({ scope: 'patient/Observation.dus' }, 'invalid_scope'));
  it('scope on an unknown resource type → invalid_scope', () => expectErrorRedirect({ scope: 'patient/Spaceship.rs' }, 'invalid_scope'));
  it('only scopes beyond the client registration → invalid_scope', () =>
    expectErrorRedirect({ scope: 'system/*.rs offline_access' }, 'invalid_scope'));
  it('a repeated parameter → invalid_request', async () => {
    const url = new URL(authorizeUrl(ts.urls(), params()));
    url.searchParams.append('scope', 'openid');
    const r = await fetch(url, { redirect: 'manual' });
    expect(r.status).toBe(302);
    expect(new URL(r.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });
  it('the trailing-slash form of aud is accepted', async () => {
    const r = await authorize({ aud: `${ts.urls().fhirBase}/` });
    expect(r.status).toBe(303);
    expect(r.location!.pathname).toMatch(/\/auth\/interaction\//);
  });
  it('unknown parameters (max_age, prompt) are ignored', async () => {
    expect((await authorize({ max_age: '0', prompt: 'login' })).status).toBe(303);
  });
});

describe('launch ids', () => {
  const launchOf = (client: string, tenant = 'default', user = drId) =>
    createLaunch(ts.server.db, tenant, client, { userId: user, patient: 'p1', needPatientBanner: true });
  const ehr = (launch: string) => ({ launch, scope: 'launch patient/*.rs' });

  it('unknown launch → invalid_request', () => expectErrorRedirect(ehr('no-such-launch'), 'invalid_request'));
  it('expired launch → invalid_request', async () => {
    const id = await launchOf(clientId);
    await ts.server.db.query("UPDATE auth_launches SET expires_at = now() - interval '1 second' WHERE id = $1", [id]);
    await expectErrorRedirect(ehr(id), 'invalid_request');
  });
  it('reused launch → invalid_request', async () => {
    const id = await launchOf(clientId);
    expect((await authorize(ehr(id))).status).toBe(303);
    await expectErrorRedirect(ehr(id), 'invalid_request');
  });
  it('launch issued for another client → invalid_request', async () =>
    expectErrorRedirect(ehr(await launchOf(otherClient)), 'invalid_request'));
  it('launch of another tenant → invalid_request', async () =>
    expectErrorRedirect(ehr(await launchOf(clientId, 'other')), 'invalid_request'));
  it('a launch completed by another user → access_denied', async () => {
    const back = await authorizeInBrowser(new Browser(), authorizeUrl(ts.urls(), params(ehr(await launchOf(clientId)))), {
      username: 'drno',
    });
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe(STATE);
    expect(back.searchParams.get('code')).toBeNull();
  });
});

describe('the person', () => {
  it('denies → access_denied with state', async () => {
    const back = await authorizeInBrowser(new Browser(), authorizeUrl(ts.urls(), params()), { username: 'drwho', consent: 'deny' });
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe(STATE);
  });

  it('a wrong password shows the form again (401), logs the failure without the password', async () => {
    const b = new Browser();
    const page = await b.follow(authorizeUrl(ts.urls(), params()), new URL(ts.urls().authorize).host);
    const form = parseForms(page.body).find((f) => f.action.endsWith('/login'))!;
    const r = await b.submit(form, { username: 'drwho', password: 'not the password 123', action: 'login' }, new URL(form.action).host);
    expect(r.res.status).toBe(401);
    expect(r.body).toMatch(/role="alert"/);
    expect(r.body).toMatch(/<label for="username">/);
    const failure = ts.logs.find((l) => l.event === 'auth.login' && l.outcome === 'failure' && l.reason === 'bad_password');
    expect(failure).toBeDefined();
    expect(JSON.stringify(ts.logs)).not.toContain('not the password');
  });

  it('a RelatedPerson user gets the patient they are related to, without a picker', async () => {
    const back = await authorizeInBrowser(new Browser(), authorizeUrl(ts.urls(), params()), { username: 'mum' });
    expect(back.searchParams.get('code')).toBeTruthy();
    const { rows } = await ts.server.db.query<{ context: { patient?: string } }>(
      'SELECT context FROM auth_codes ORDER BY expires_at DESC LIMIT 1',
    );
    expect(rows[0].context.patient).toBe('p1');
  });

  it('a TOTP user needs the current code on the sign-in form', async () => {
    await expect(authorizeInBrowser(new Browser(), authorizeUrl(ts.urls(), params()), { username: 'mfa' })).rejects.toThrow(/login failed/);
    const otp = totp(base32Decode(mfaSeed), Date.now() / 1000);
    const back = await authorizeInBrowser(new Browser(), authorizeUrl(ts.urls(), params()), { username: 'mfa', otp });
    expect(back.searchParams.get('code')).toBeTruthy();
  });

  it('a Person user without a linked patient gets access_denied for patient scopes', async () => {
    const back = await authorizeInBrowser(new Browser(), authorizeUrl(ts.urls(), params()), { username: 'orphan' });
    expect(back.searchParams.get('error')).toBe('access_denied');
  });
});

describe('CSRF and browser binding', () => {
  async function loginForm(): Promise<{ b: Browser; form: ReturnType<typeof parseForms>[number]; pageUrl: string }> {
    const b = new Browser();
    const page = await b.follow(authorizeUrl(ts.urls(), params()), new URL(ts.urls().authorize).host);
    return { b, form: parseForms(page.body).find((f) => f.action.endsWith('/login'))!, pageUrl: page.url };
  }

  it('refuses the login form posted from another browser (no binding cookie)', async () => {
    const { form } = await loginForm();
    const r = await new Browser().submit(form, { username: 'drwho', password: 'correct horse battery staple', action: 'login' }, 'x');
    expect(r.res.status).toBe(400);
    expect(r.body).toMatch(/expired|another browser/);
  });

  it('refuses a wrong csrf_token', async () => {
    const { b, form } = await loginForm();
    const r = await b.submit(
      { ...form, fields: { ...form.fields, csrf_token: 'forged' } },
      { username: 'drwho', password: 'correct horse battery staple', action: 'login' },
      'x',
    );
    expect(r.res.status).toBe(400);
  });

  it('refuses the interaction page in another browser', async () => {
    const { pageUrl } = await loginForm();
    expect((await new Browser().fetch(pageUrl)).status).toBe(400);
  });

  it('sends anti-framing and no-store headers on its pages', async () => {
    const b = new Browser();
    const page = await b.follow(authorizeUrl(ts.urls(), params()), new URL(ts.urls().authorize).host);
    expect(page.res.headers.get('x-frame-options')).toBe('DENY');
    expect(page.res.headers.get('cache-control')).toBe('no-store');
    expect(page.res.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
  });
});

describe('oversized and malformed requests', () => {
  it('an oversized POST authorize body → 413 page', async () => {
    const body = new URLSearchParams({ ...(params() as Record<string, string>), pad: 'x'.repeat(70 * 1024) });
    const r = await fetch(ts.urls().authorize, { method: 'POST', body, redirect: 'manual' });
    expect(r.status).toBe(413);
    expect(r.headers.get('location')).toBeNull();
  });
  it('an over-long state → invalid_request', () => expectErrorRedirect({ state: 'x'.repeat(3000) }, 'invalid_request'));
});
