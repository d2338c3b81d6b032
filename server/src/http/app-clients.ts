/**
 * Registers Haven's own SMART apps (smart-apps/registry.ts) as public clients of a tenant, with redirect and
 * launch URIs under BASE_URL. Runs at every start for the default tenant (and from `haven seed --demo` for the
 * tenant it seeds): a missing client is added, one whose URIs or scopes differ (BASE_URL changed) is updated,
 * and a client of the same id that an operator registered with another type is left alone with a warning.
 */
import { HAVEN_APPS, type HavenApp } from '../../../smart-apps/registry.ts';
import { addClient, ClientValidationError, getClient, updatePublicClient } from '../auth/clients.ts';
import { splitScopes } from '../auth/scopes.ts';
import type { HavenConfig } from '../config.ts';
import type { Db } from '../store/db.ts';

/** The registration an app gets under `baseUrl`. */
export function appRegistration(app: HavenApp, baseUrl: string): { redirectUris: string[]; launchUri?: string; scopes: string } {
  return {
    redirectUris: [`${baseUrl}${app.redirectPath}`],
    ...(app.launchPath ? { launchUri: `${baseUrl}${app.launchPath}` } : {}),
    scopes: app.scope,
  };
}

/** What happened to each app. */
export type AppClientOutcome = 'added' | 'updated' | 'unchanged' | 'conflict' | 'invalid';

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join(' ') === [...b].sort().join(' ');
}

/** Registers or updates every Haven app in `tenant`; never throws for one app's problem (it is reported). */
export async function registerHavenApps(
  db: Db,
  config: Pick<HavenConfig, 'baseUrl'>,
  tenant = 'default',
  log: (event: Record<string, unknown>) => void = () => {},
): Promise<Record<string, AppClientOutcome>> {
  const outcomes: Record<string, AppClientOutcome> = {};
  for (const app of HAVEN_APPS) {
    const want = appRegistration(app, config.baseUrl);
    try {
      const have = await getClient(db, tenant, app.clientId);
      if (!have) {
        await addClient(db, { tenant, type: 'public', clientId: app.clientId, name: app.name, ...want });
        outcomes[app.clientId] = 'added';
      } else if (have.type !== 'public') {
        outcomes[app.clientId] = 'conflict';
      } else if (
        have.name === app.name &&
        have.launchUri === want.launchUri &&
        sameSet(have.redirectUris, want.redirectUris) &&
        sameSet(have.scopes, splitScopes(want.scopes))
      ) {
        outcomes[app.clientId] = 'unchanged';
      } else {
        await updatePublicClient(db, tenant, app.clientId, { name: app.name, ...want });
        outcomes[app.clientId] = 'updated';
      }
    } catch (err) {
      if (!(err instanceof ClientValidationError)) throw err;
      outcomes[app.clientId] = 'invalid';
    }
    const outcome = outcomes[app.clientId];
    if (outcome === 'conflict' || outcome === 'invalid') {
      log({
        level: 'warn',
        event: 'apps.client_not_registered',
        tenant,
        client_id: app.clientId,
        reason:
          outcome === 'conflict'
            ? 'a client with this id exists with another type; remove it to let Haven register its app'
            : 'BASE_URL must be https (http only on localhost) for app redirect URIs',
      });
    }
  }
  log({ level: 'info', event: 'apps.clients', tenant, outcomes });
  return outcomes;
}
