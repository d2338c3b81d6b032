/**
 * How an app page starts, decided from its URL alone:
 * - `{path}launch?iss=…&launch=…` (EHR launch): start the authorization and leave the page;
 * - `{path}callback?code=…&state=…`: finish it, then show `{path}?session=<id>`;
 * - `{path}?session=<id>`: the launch stored under that id (a reload keeps it);
 * - anything else: signed out (the patient app offers sign-in; the clinician app says "launch from the chart").
 */
import { isLaunchId, SESSION_PARAM } from './launch-store.ts';
import {
  beginLaunch,
  completeLaunch,
  LaunchError,
  loadSession,
  type AppRegistration,
  type SmartEnv,
  type SmartSession,
} from './smart-client.ts';
import type { AppConfig } from '../../registry.ts';

/** Where the page goes next. */
export type BootResult =
  | { kind: 'session'; session: SmartSession }
  | { kind: 'redirect'; url: string }
  | { kind: 'signed-out'; iss?: string; ended?: boolean }
  | { kind: 'error'; message: string; code?: string };

/** The registration an app config describes. */
export function registrationOf(config: AppConfig): AppRegistration {
  return { clientId: config.clientId, redirectUri: config.redirectUri, scope: config.scope };
}

/** Only FHIR bases on the server that serves the app: the default tenant's and `/t/{tenant}/fhir`. */
export function issuerTrust(config: AppConfig): (iss: string) => boolean {
  const tenantBase = new RegExp(`^${config.origin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/t/[a-z0-9-]{1,63}/fhir/?$`);
  return (iss) => iss.replace(/\/+$/, '') === config.fhirBase || tenantBase.test(iss);
}

/** The app's own URL for a session: `{path}?session=<id>`. */
export function sessionUrl(appPath: string, id: string): string {
  return `${appPath}?${SESSION_PARAM}=${encodeURIComponent(id)}`;
}

/** Decides and performs the start of the page at `href` (an absolute URL). */
export async function boot(href: string, appPath: string, config: AppConfig, env: SmartEnv): Promise<BootResult> {
  const url = new URL(href);
  const rest = url.pathname.startsWith(appPath) ? url.pathname.slice(appPath.length) : '';
  const env2: SmartEnv = { ...env, trustIssuer: env.trustIssuer ?? issuerTrust(config) };
  try {
    if (rest === 'launch') {
      const iss = url.searchParams.get('iss');
      const launch = url.searchParams.get('launch');
      if (!iss || !launch)
        return { kind: 'error', message: 'This app was opened without a launch from the chart. Open it again from the chart.' };
      const { authorizeUrl } = await beginLaunch(registrationOf(config), { iss, launch }, env2);
      return { kind: 'redirect', url: authorizeUrl };
    }
    if (rest === 'callback') {
      const session = await completeLaunch(href, env2);
      return { kind: 'session', session };
    }
    const id = url.searchParams.get(SESSION_PARAM);
    if (isLaunchId(id)) {
      const session = loadSession(id, env2);
      if (session) return { kind: 'session', session };
      return { kind: 'signed-out', ended: true };
    }
    const iss = url.searchParams.get('iss') ?? undefined;
    return { kind: 'signed-out', ...(iss ? { iss } : {}) };
  } catch (err) {
    if (err instanceof LaunchError) return { kind: 'error', message: err.message, code: err.code };
    return { kind: 'error', message: 'The app could not start. Try again.' };
  }
}

/** Starts a standalone launch (the patient app's "Sign in"): the URL to open. */
export async function standaloneSignIn(config: AppConfig, env: SmartEnv, iss = config.fhirBase): Promise<string> {
  const { authorizeUrl } = await beginLaunch(
    registrationOf(config),
    { iss },
    { ...env, trustIssuer: env.trustIssuer ?? issuerTrust(config) },
  );
  return authorizeUrl;
}

/** Fetches `{appPath}config.json`, written by the server from BASE_URL and the app registry. */
export async function loadAppConfig(appPath: string, doFetch: typeof fetch = fetch): Promise<AppConfig> {
  const res = await doFetch(`${appPath}config.json`, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new LaunchError('discovery_failed', 'The app could not read its settings from the server.');
  return (await res.json()) as AppConfig;
}
