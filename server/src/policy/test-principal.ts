/**
 * Test-only authentication: a principal carried in the `x-test-principal` header as JSON, so policy tests
 * can act as any SMART token without the authorization server. Never wired into a real server: tests
 * pass it as `startTestServer({ HAVEN_AUTH: '' }, { authenticate: principalFromTestHeader })`.
 */
import type { Request } from 'express';
import type { Principal } from '../auth/authenticate.ts';
import { startTestServer, type TestServer } from '../test-support/harness.ts';

export const TEST_PRINCIPAL_HEADER = 'x-test-principal';

/** What a test token says: scopes as a space-separated string (as in a token response) or a list. */
export interface TestToken {
  scopes: string | string[];
  patient?: string;
  encounter?: string;
  roles?: string[];
  fhirUser?: string;
  subject?: string;
  clientId?: string;
  /** The tenant the token was issued for; defaults to the tenant of the request. */
  tenant?: string;
}

/** An Authenticator reading {@link TEST_PRINCIPAL_HEADER}; no header → no principal (401). */
export async function principalFromTestHeader(req: Request, tenant: string): Promise<Principal | undefined> {
  const header = req.get(TEST_PRINCIPAL_HEADER);
  if (!header) return undefined;
  const t = JSON.parse(header) as TestToken;
  return {
    tenant: t.tenant ?? tenant,
    subject: t.subject ?? 'test-user',
    clientId: t.clientId ?? 'test-client',
    scopes: Array.isArray(t.scopes) ? t.scopes : t.scopes.split(' ').filter(Boolean),
    roles: t.roles ?? [],
    ...(t.fhirUser ? { fhirUser: t.fhirUser } : {}),
    ...(t.patient ? { patient: t.patient } : {}),
    ...(t.encounter ? { encounter: t.encounter } : {}),
    development: false,
  };
}

/** Request headers for a test token. */
export function as(token: TestToken): Record<string, string> {
  return { [TEST_PRINCIPAL_HEADER]: JSON.stringify(token) };
}

/** A test server whose FHIR API authenticates with {@link principalFromTestHeader}. */
export function startPolicyServer(): Promise<TestServer> {
  return startTestServer({ HAVEN_AUTH: '' }, { authenticate: principalFromTestHeader });
}

/** Full access, for seeding data in tests (a backend service with `system/*.cruds`). */
export const ADMIN: TestToken = { scopes: 'system/*.cruds' };
