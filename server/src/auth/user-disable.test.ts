/**
 * A disabled user (`haven users disable`) takes effect on the next request: their access token is refused with
 * 401 invalid_token (RFC 6750 §3.1), their refresh token no longer works (invalid_grant, RFC 6749 §5.2), they cannot
 * sign in; the token check refuses a disabled user's token even if its grant were still live. And `users add` with
 * a fhirUser that does not exist is refused. On the suite's storage (PGlite or PostgreSQL).
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthAdminInputError, localAuthAdmin } from './admin.ts';
import { Browser, authorizeInBrowser, authorizeUrl, startAuthServer, type AuthTestServer } from './testing.ts';
import { setUserDisabled } from './users.ts';

const insecure = { [oauth.allowInsecureRequests]: true } as const;
const REDIRECT = 'http://127.0.0.1:7011/cb';
const SCOPE = 'openid fhirUser offline_access user/Patient.rs';

let ts: AuthTestServer;
let as: oauth.AuthorizationServer;
let app: oauth.Client;

beforeAll(async () => {
  ts = await startAuthServer();
  await ts.seed([
    { resourceType: 'Patient', id: 'p1', name: [{ family: 'Lee' }] },
    { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'One' }] },
    { resourceType: 'Practitioner', id: 'dr2', name: [{ family: 'Two' }] },
  ]);
  await ts.addUser({ username: 'one', fhirUser: 'Practitioner/dr1', roles: ['clinician'] });
  await ts.addUser({ username: 'two', fhirUser: 'Practitioner/dr2', roles: ['clinician'] });
  app = { client_id: (await ts.addClient({ type: 'public', redirectUris: [REDIRECT] })).clientId, token_endpoint_auth_method: 'none' };
  as = (await ts.req('/fhir/.well-known/smart-configuration')).body as oauth.AuthorizationServer;
});
afterAll(async () => {
  await ts?.stop();
});

async function signIn(username: string): Promise<oauth.TokenEndpointResponse> {
  const verifier = oauth.generateRandomCodeVerifier();
  const back = await authorizeInBrowser(
    new Browser(),
    authorizeUrl(ts.urls(), {
      response_type: 'code',
      client_id: app.client_id,
      redirect_uri: REDIRECT,
      scope: SCOPE,
      state: 's',
      aud: as.issuer,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }),
    { username },
  );
  const cb = oauth.validateAuthResponse(as, app, back, 's');
  return oauth.processAuthorizationCodeResponse(
    as,
    app,
    await oauth.authorizationCodeGrantRequest(as, app, oauth.None(), cb, REDIRECT, verifier, insecure),
  );
}

async function read(token: string): Promise<{ status: number; challenge: string | null }> {
  const r = await fetch(`${as.issuer}/Patient/p1`, { headers: { authorization: `Bearer ${token}` } });
  await r.arrayBuffer();
  return { status: r.status, challenge: r.headers.get('www-authenticate') };
}

async function refresh(token: string): Promise<oauth.TokenEndpointResponse> {
  return oauth.processRefreshTokenResponse(as, app, await oauth.refreshTokenGrantRequest(as, app, oauth.None(), token, insecure));
}

describe('a disabled user', () => {
  it('loses access token, refresh token and sign-in at once; enabled again, signs in anew', async () => {
    const tokens = await signIn('one');
    expect((await read(tokens.access_token)).status).toBe(200);
    await setUserDisabled(ts.server.db, 'default', 'one', true);
    const after = await read(tokens.access_token);
    expect(after.status).toBe(401);
    expect(after.challenge).toMatch(/error="invalid_token"/);
    await expect(refresh(tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(signIn('one')).rejects.toThrow(/login failed/);
    expect(ts.logs.some((l) => l.event === 'auth.login' && l.outcome === 'failure' && l.reason === 'disabled')).toBe(true);

    await setUserDisabled(ts.server.db, 'default', 'one', false);
    expect((await read(tokens.access_token)).status).toBe(401);
    const fresh = await signIn('one');
    expect((await read(fresh.access_token)).status).toBe(200);
  });

  it('is refused by the token check and the token endpoint themselves, even while a grant is still live', async () => {
    const tokens = await signIn('two');
    expect((await read(tokens.access_token)).status).toBe(200);
    // Disabled without the grant revocation `users disable` does: the token check must still refuse.
    await ts.server.db.query("UPDATE auth_users SET disabled_at = now() WHERE tenant = 'default' AND username = 'two'");
    expect((await read(tokens.access_token)).status).toBe(401);
    await expect(refresh(tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});

describe('users add (administration)', () => {
  it('refuses a fhirUser that does not exist in the tenant, and accepts one that does', async () => {
    const admin = localAuthAdmin(ts.server.db, ts.config, process.env);
    const input = { tenant: 'default', username: 'ghost', password: 'a long enough password', roles: ['clinician'] };
    await expect(admin.addUser({ ...input, fhirUser: 'Practitioner/nobody' })).rejects.toThrow(AuthAdminInputError);
    await expect(admin.addUser({ ...input, fhirUser: 'Practitioner/nobody' })).rejects.toThrow(/does not exist/);
    // The same id in another tenant does not count.
    await expect(admin.addUser({ ...input, tenant: 'other', fhirUser: 'Practitioner/dr1' })).rejects.toThrow(/does not exist/);
    expect((await admin.listUsers('default')).some((u) => u.username === 'ghost')).toBe(false);
    await expect(admin.addUser({ ...input, fhirUser: 'Practitioner/dr2' })).resolves.toMatchObject({
      user: { username: 'ghost', fhir_user: 'Practitioner/dr2', disabled: false },
    });
  });

  it('applies changes by username; an unknown username is undefined, a bad change an input error', async () => {
    const admin = localAuthAdmin(ts.server.db, ts.config, process.env);
    expect(await admin.changeUser('default', 'ghost', { roles: ['auditor'] })).toMatchObject({ roles: ['auditor'] });
    expect(await admin.changeUser('default', 'ghost', { disabled: true })).toMatchObject({ disabled: true });
    expect(await admin.changeUser('default', 'nobody', { disabled: true })).toBeUndefined();
    await expect(admin.changeUser('default', 'ghost', { password: 'short' })).rejects.toThrow(AuthAdminInputError);
    await expect(admin.changeUser('default', 'ghost', {} as never)).rejects.toThrow(AuthAdminInputError);
  });
});
