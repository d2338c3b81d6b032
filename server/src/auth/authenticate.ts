/**
 * The authentication hook of the FHIR API. Until the SMART authorization server lands (issue 3), no
 * token can be verified, so every request without HAVEN_AUTH=off is a 401. The SMART work plugs a
 * token verifier in through {@link Authenticator}.
 */
import type { Request } from 'express';

/** Who is calling, as later layers (policy, audit) need it. */
export interface Principal {
  tenant: string;
  /** Stable subject id (user, client or 'dev' when auth is off). */
  subject: string;
  fhirUser?: string;
  scopes: string[];
  /** True only for HAVEN_AUTH=off development mode. */
  development: boolean;
}

/** Resolves a request to a principal, or undefined when it carries no valid credential. */
export type Authenticator = (req: Request, tenant: string) => Promise<Principal | undefined>;

/** The development authenticator: everyone is a full-access developer. Only for HAVEN_AUTH=off. */
export const developmentAuthenticator: Authenticator = async (_req, tenant) => ({
  tenant, subject: 'dev', scopes: ['system/*.*'], development: true,
});

/** The default until SMART tokens exist: nothing authenticates. */
export const noTokenVerifier: Authenticator = async () => undefined;
