/**
 * A SMART App Launch 2.2 client for browser apps, on oauth4webapi (panva): discovery, EHR and standalone
 * launch, PKCE S256, state, code exchange, refresh. Sections cited are of app-launch.html (SMART 2.2).
 *
 * One launch, one id: `beginLaunch` stores its pending request under a fresh launch id, which also opens the
 * `state` value, so the redirect back names the launch it completes; `completeLaunch` stores the session under
 * the same id, and the app keeps the id in its URL (`?session=`). Nothing is looked up "by the last launch".
 */
import * as oauth from 'oauth4webapi';
import { contextReferences, parseFhirUser, parseFlag, type FhirUser } from './context.ts';
import { LaunchStore, newLaunchId, type KeyValueStore } from './launch-store.ts';

/** What the client reads from `{iss}/.well-known/smart-configuration` (conformance.html "Metadata"). */
export interface SmartConfiguration {
  issuer?: string;
  authorization_endpoint: string;
  token_endpoint: string;
  revocation_endpoint?: string;
  jwks_uri?: string;
  capabilities?: string[];
  code_challenge_methods_supported?: string[];
}

/** How an app is registered with the server. */
export interface AppRegistration {
  clientId: string;
  /** Absolute redirect URI, exactly as registered. */
  redirectUri: string;
  /** Scopes to request (space-separated). */
  scope: string;
}

/** Where the client keeps state and how it reaches the network. */
export interface SmartEnv {
  store: KeyValueStore;
  fetch?: typeof fetch;
  now?: () => number;
  /** Which `iss` values the app will talk to. Haven's apps trust only the server that serves them. */
  trustIssuer?: (iss: string) => boolean;
}

/** Why a launch failed, for a message a person can act on. */
export type LaunchErrorCode =
  | 'untrusted_iss'
  | 'discovery_failed'
  | 'no_pkce'
  | 'unknown_launch'
  | 'authorization_denied'
  | 'authorization_failed'
  | 'token_failed'
  | 'session_expired';

/** A launch that cannot go on; `message` is fit to show. */
export class LaunchError extends Error {
  readonly code: LaunchErrorCode;

  constructor(code: LaunchErrorCode, message: string) {
    super(message);
    this.name = 'LaunchError';
    this.code = code;
  }
}

/** A signed-in launch: tokens and context (token response, app-launch.html §"Obtain access token"). */
export interface SmartSession {
  id: string;
  iss: string;
  clientId: string;
  redirectUri: string;
  config: SmartConfiguration;
  accessToken: string;
  refreshToken?: string;
  /** Epoch ms after which the access token is treated as expired. */
  expiresAt: number;
  scope: string;
  patient?: string;
  encounter?: string;
  fhirUser?: FhirUser;
  needPatientBanner: boolean;
  intent?: string;
  smartStyleUrl?: string;
  /** Relative references from `fhirContext`. */
  fhirContext: string[];
  tenant?: string;
  launchType: 'ehr' | 'standalone';
}

interface PendingLaunch {
  iss: string;
  config: SmartConfiguration;
  state: string;
  verifier: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  createdAt: number;
  launchType: 'ehr' | 'standalone';
}

/** A pending authorization is abandoned after this long (the server's codes and launches live shorter). */
const PENDING_TTL_MS = 15 * 60_000;
/** Refresh this long before expiry, so a request never starts with a token about to lapse. */
const EXPIRY_MARGIN_MS = 60_000;

const pendingStore = (env: SmartEnv) => new LaunchStore<PendingLaunch>(env.store, 'haven.smart.pending');
const sessionStore = (env: SmartEnv) => new LaunchStore<SmartSession>(env.store, 'haven.smart.session');
const now = (env: SmartEnv) => (env.now ?? Date.now)();

function isLoopback(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\./.test(url.hostname);
}

/** oauth4webapi refuses http: unless told; Haven allows http only on loopback (RFC 8252 §7.3), so do we. */
function requestOptions(env: SmartEnv, endpoint: string): { [oauth.allowInsecureRequests]?: boolean; [oauth.customFetch]?: typeof fetch } {
  const url = new URL(endpoint);
  return {
    ...(url.protocol === 'http:' && isLoopback(url) ? { [oauth.allowInsecureRequests]: true } : {}),
    ...(env.fetch ? { [oauth.customFetch]: env.fetch } : {}),
  };
}

function authorizationServer(iss: string, config: SmartConfiguration): oauth.AuthorizationServer {
  return {
    // Without sso-openid-connect a server may omit `issuer`; the FHIR base then names it.
    issuer: config.issuer ?? iss,
    authorization_endpoint: config.authorization_endpoint,
    token_endpoint: config.token_endpoint,
    ...(config.revocation_endpoint ? { revocation_endpoint: config.revocation_endpoint } : {}),
    ...(config.jwks_uri ? { jwks_uri: config.jwks_uri } : {}),
  };
}

/** Checks an `iss` (a FHIR base): absolute http(s), trusted by the app. */
function checkIssuer(iss: string, env: SmartEnv): string {
  let url: URL;
  try {
    url = new URL(iss);
  } catch {
    throw new LaunchError('untrusted_iss', 'The launch did not name a valid FHIR server (iss).');
  }
  if ((url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url))) || url.hash || url.username)
    throw new LaunchError('untrusted_iss', `This app only connects to https FHIR servers (got ${url.origin}).`);
  if (env.trustIssuer && !env.trustIssuer(iss))
    throw new LaunchError('untrusted_iss', `This app is not set up to connect to ${url.origin}.`);
  return iss.replace(/\/+$/, '');
}

/** SMART discovery: `GET {iss}/.well-known/smart-configuration` (conformance.html "Using .well-known"). */
export async function discover(iss: string, env: SmartEnv): Promise<SmartConfiguration> {
  const doFetch = env.fetch ?? fetch;
  let body: Partial<SmartConfiguration> | undefined;
  try {
    const res = await doFetch(`${iss}/.well-known/smart-configuration`, { headers: { accept: 'application/json' } });
    if (res.ok) body = (await res.json()) as Partial<SmartConfiguration>;
  } catch {
    body = undefined;
  }
  if (!body || typeof body.authorization_endpoint !== 'string' || typeof body.token_endpoint !== 'string')
    throw new LaunchError('discovery_failed', 'The FHIR server did not describe its sign-in (no SMART configuration).');
  // SMART 2.x apps SHALL use PKCE S256; a server that lists methods without S256 cannot be used safely.
  const methods = body.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256'))
    throw new LaunchError('no_pkce', 'The FHIR server does not support PKCE S256, which this app requires.');
  return body as SmartConfiguration;
}

/**
 * Starts a launch: EHR launch when `launch` is given (app-launch.html "EHR Launch": `launch` and `aud`=`iss`),
 * standalone otherwise. Returns the authorization URL to open and the launch id.
 */
export async function beginLaunch(
  registration: AppRegistration,
  params: { iss: string; launch?: string },
  env: SmartEnv,
): Promise<{ id: string; authorizeUrl: string }> {
  const iss = checkIssuer(params.iss, env);
  const config = await discover(iss, env);
  const id = newLaunchId();
  const state = `${id}.${oauth.generateRandomState()}`;
  const verifier = oauth.generateRandomCodeVerifier();
  const challenge = await oauth.calculatePKCECodeChallenge(verifier);
  const launchType = params.launch ? 'ehr' : 'standalone';
  pendingStore(env).set(id, {
    iss,
    config,
    state,
    verifier,
    clientId: registration.clientId,
    redirectUri: registration.redirectUri,
    scope: registration.scope,
    createdAt: now(env),
    launchType,
  });
  const url = new URL(config.authorization_endpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', registration.clientId);
  url.searchParams.set('redirect_uri', registration.redirectUri);
  url.searchParams.set('scope', registration.scope);
  url.searchParams.set('state', state);
  url.searchParams.set('aud', iss);
  url.searchParams.set('code_challenge', challenge);
  url.searchParams.set('code_challenge_method', 'S256');
  if (params.launch) url.searchParams.set('launch', params.launch);
  return { id, authorizeUrl: url.toString() };
}

function tokenFailure(err: unknown): LaunchError {
  if (err instanceof oauth.ResponseBodyError) {
    return new LaunchError('token_failed', `Sign-in could not be completed: ${err.error_description ?? err.error}.`);
  }
  return new LaunchError('token_failed', 'Sign-in could not be completed: the server answered in a way this app does not accept.');
}

function sessionFrom(
  id: string,
  pending: Pick<PendingLaunch, 'iss' | 'config' | 'clientId' | 'redirectUri' | 'launchType'>,
  result: oauth.TokenEndpointResponse,
  at: number,
  previous?: SmartSession,
): SmartSession {
  const claims = oauth.getValidatedIdTokenClaims(result);
  const fhirUser = parseFhirUser(claims?.fhirUser ?? result.fhirUser, pending.iss) ?? previous?.fhirUser;
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const patient = str(result.patient) ?? previous?.patient;
  const encounter = str(result.encounter) ?? previous?.encounter;
  const intent = str(result.intent) ?? previous?.intent;
  const smartStyleUrl = str(result.smart_style_url) ?? previous?.smartStyleUrl;
  const tenant = str(result.tenant) ?? previous?.tenant;
  const expiresIn = typeof result.expires_in === 'number' && result.expires_in > 0 ? result.expires_in : 300;
  const refreshToken = str(result.refresh_token) ?? previous?.refreshToken;
  return {
    id,
    iss: pending.iss,
    clientId: pending.clientId,
    redirectUri: pending.redirectUri,
    config: pending.config,
    accessToken: result.access_token,
    ...(refreshToken ? { refreshToken } : {}),
    expiresAt: at + expiresIn * 1000,
    scope: str(result.scope) ?? previous?.scope ?? '',
    ...(patient ? { patient } : {}),
    ...(encounter ? { encounter } : {}),
    ...(fhirUser ? { fhirUser } : {}),
    // Absent means "the EHR does not say": show the banner (the safe default for a clinician app).
    needPatientBanner: parseFlag(result.need_patient_banner, previous?.needPatientBanner ?? true),
    ...(intent ? { intent } : {}),
    ...(smartStyleUrl ? { smartStyleUrl } : {}),
    fhirContext: result.fhirContext !== undefined ? contextReferences(result.fhirContext) : (previous?.fhirContext ?? []),
    ...(tenant ? { tenant } : {}),
    launchType: pending.launchType,
  };
}

/** The launch id a callback URL belongs to (the part of `state` before the dot). */
export function launchIdOfCallback(callbackUrl: string): string | undefined {
  const state = new URL(callbackUrl).searchParams.get('state');
  const id = state?.split('.')[0];
  return id || undefined;
}

/**
 * Completes a launch at the redirect URI: checks `state` and the RFC 9207 `iss`, exchanges the code with the
 * PKCE verifier, and stores the session under the launch id.
 */
export async function completeLaunch(callbackUrl: string, env: SmartEnv): Promise<SmartSession> {
  const id = launchIdOfCallback(callbackUrl);
  const pendings = pendingStore(env);
  const pending = id ? pendings.get(id) : undefined;
  if (!id || !pending || now(env) - pending.createdAt > PENDING_TTL_MS) {
    if (id) pendings.remove(id);
    throw new LaunchError('unknown_launch', 'This sign-in was not started here, or it has expired. Start again from the app or the chart.');
  }
  pendings.remove(id); // single use, whatever happens next
  const as = authorizationServer(pending.iss, pending.config);
  const client: oauth.Client = { client_id: pending.clientId };
  let params: URLSearchParams;
  try {
    params = oauth.validateAuthResponse(as, client, new URL(callbackUrl), pending.state);
  } catch (err) {
    if (err instanceof oauth.AuthorizationResponseError) {
      const denied = err.error === 'access_denied';
      throw new LaunchError(
        denied ? 'authorization_denied' : 'authorization_failed',
        denied ? 'Access was not allowed, so the app cannot open.' : `Sign-in failed: ${err.error_description ?? err.error}.`,
      );
    }
    throw new LaunchError('authorization_failed', 'Sign-in failed: the answer from the server did not match this sign-in.');
  }
  let result: oauth.TokenEndpointResponse;
  try {
    const res = await oauth.authorizationCodeGrantRequest(
      as,
      client,
      oauth.None(),
      params,
      pending.redirectUri,
      pending.verifier,
      requestOptions(env, as.token_endpoint!),
    );
    result = await oauth.processAuthorizationCodeResponse(as, client, res);
  } catch (err) {
    throw tokenFailure(err);
  }
  const session = sessionFrom(id, pending, result, now(env));
  sessionStore(env).set(id, session);
  return session;
}

/** The stored session of a launch id, if any. */
export function loadSession(id: string, env: SmartEnv): SmartSession | undefined {
  return sessionStore(env).get(id);
}

/** Forgets a session (sign out of this launch). */
export function forgetSession(id: string, env: SmartEnv): void {
  sessionStore(env).remove(id);
}

/** True when the access token is expired or about to be. */
export function needsRefresh(session: SmartSession, at: number): boolean {
  return at >= session.expiresAt - EXPIRY_MARGIN_MS;
}

/**
 * Refreshes the access token (app-launch.html "Refresh access token"); the new session replaces the stored one.
 * @throws LaunchError `session_expired` when there is no refresh token or the server refuses it.
 */
export async function refreshSession(session: SmartSession, env: SmartEnv): Promise<SmartSession> {
  if (!session.refreshToken) throw new LaunchError('session_expired', 'Your session has ended.');
  const as = authorizationServer(session.iss, session.config);
  const client: oauth.Client = { client_id: session.clientId };
  let result: oauth.TokenEndpointResponse;
  try {
    const res = await oauth.refreshTokenGrantRequest(
      as,
      client,
      oauth.None(),
      session.refreshToken,
      requestOptions(env, as.token_endpoint!),
    );
    result = await oauth.processRefreshTokenResponse(as, client, res);
  } catch {
    sessionStore(env).remove(session.id);
    throw new LaunchError('session_expired', 'Your session has ended.');
  }
  const next = sessionFrom(session.id, session, result, now(env), session);
  sessionStore(env).set(session.id, next);
  return next;
}

/** Hands out a current access token for one session, refreshing once at a time when it runs out. */
export class SessionTokens {
  private refreshing: Promise<SmartSession> | undefined;
  private session: SmartSession;
  private readonly env: SmartEnv;

  constructor(session: SmartSession, env: SmartEnv) {
    this.session = session;
    this.env = env;
  }

  /** The session as last refreshed. */
  current(): SmartSession {
    return this.session;
  }

  /** A token that is not about to expire (refreshed first if needed and possible). */
  async accessToken(): Promise<string> {
    if (needsRefresh(this.session, now(this.env)) && this.session.refreshToken) return (await this.refresh()).accessToken;
    if (now(this.env) >= this.session.expiresAt) throw new LaunchError('session_expired', 'Your session has ended.');
    return this.session.accessToken;
  }

  /** Forces a refresh (after a 401); concurrent callers share one request. */
  async refresh(): Promise<SmartSession> {
    this.refreshing ??= refreshSession(this.session, this.env).finally(() => {
      this.refreshing = undefined;
    });
    this.session = await this.refreshing;
    return this.session;
  }
}
