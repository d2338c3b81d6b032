/**
 * Test support: registered OAuth clients and users for Subscription tests that act through the test-principal
 * header (../policy/test-principal.ts). Delivery checks that a Subscription's owner is still registered and cuts its
 * scopes to the registration (./receiver.ts), so a test principal must name a client that exists.
 */
import { exportJWK, generateKeyPair } from 'jose';
import { addClient, removeClient } from '../auth/clients.ts';
import type { TestToken } from '../policy/test-principal.ts';
import type { Db } from '../store/db.ts';

let keys: Promise<{ keys: object[] }> | undefined;

function publicJwks(): Promise<{ keys: object[] }> {
  keys ??= (async () => {
    const { publicKey } = await generateKeyPair('ES384', { extractable: true });
    return { keys: [{ ...(await exportJWK(publicKey)), kid: 'test-1', alg: 'ES384', use: 'sig' }] };
  })();
  return keys;
}

/** Registers a Backend Services client with these (system/) scopes, and returns a test token acting as it. */
export async function backendClient(db: Db, clientId: string, scopes: string, tenant = 'default'): Promise<TestToken> {
  await addClient(db, { tenant, clientId, type: 'backend', jwks: await publicJwks(), scopes });
  return { clientId, subject: clientId, scopes };
}

/** Registers a public app client (user-facing) with these maximum scopes. */
export async function appClient(db: Db, clientId: string, scopes: string, tenant = 'default'): Promise<void> {
  await addClient(db, { tenant, clientId, type: 'public', redirectUris: ['https://app.example/callback'], scopes });
}

/** Removes a client and registers it again under the same id with other scopes (a narrowed registration). */
export async function reregisterBackend(db: Db, clientId: string, scopes: string, tenant = 'default'): Promise<void> {
  await removeClient(db, tenant, clientId);
  await addClient(db, { tenant, clientId, type: 'backend', jwks: await publicJwks(), scopes });
}

/** Adds a user row directly (no password needed here: these users never sign in, they only own Subscriptions). */
export async function addTestUser(db: Db, id: string, roles: string[], fhirUser: string, tenant = 'default'): Promise<void> {
  await db.query(`INSERT INTO auth_users (tenant, id, username, fhir_user, roles, password_hash) VALUES ($1, $2, $3, $4, $5, 'scrypt$x')`, [
    tenant,
    id,
    `u-${id}`,
    fhirUser,
    roles,
  ]);
}
