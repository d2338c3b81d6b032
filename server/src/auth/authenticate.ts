/**
 * The authentication contract of the FHIR API: an {@link Authenticator} turns a request into a
 * {@link Principal} or undefined (→ 401). The SMART authorization server's access-token verifier is the
 * default (./auth-server.ts); HAVEN_AUTH=off swaps in the development authenticator.
 */
import type { Request } from 'express';

/** Who is calling, as later layers (policy, audit) need it. Produced by the token verifier. */
export interface Principal {
  tenant: string;
  /** Stable subject id (user id, client id for backend services, or 'dev' when auth is off). */
  subject: string;
  /** OAuth client the token was issued to (undefined in development mode). */
  clientId?: string;
  /** `Practitioner/123`, `Patient/456` or `RelatedPerson/789` for user tokens. */
  fhirUser?: string;
  /** Granted SMART scopes, exactly as granted (v1 and/or v2 syntax). */
  scopes: string[];
  /** Roles of the user (e.g. 'clinician', 'patient', 'admin'); empty for backend services. */
  roles: string[];
  /** Launch context: the patient in context (id only), when a patient/ scope or launch granted one. */
  patient?: string;
  /** Launch context: the encounter in context (id only). */
  encounter?: string;
  /** Token id (jti), for audit and revocation checks. */
  tokenId?: string;
  /** True only for HAVEN_AUTH=off development mode. */
  development: boolean;
}

/** Resolves a request to a principal, or undefined when it carries no valid credential. */
export type Authenticator = (req: Request, tenant: string) => Promise<Principal | undefined>;

/** The development authenticator: everyone is a full-access developer. Only for HAVEN_AUTH=off. */
export const developmentAuthenticator: Authenticator = async (_req, tenant) => ({
  tenant,
  subject: 'dev',
  scopes: ['system/*.*'],
  roles: ['admin'],
  development: true,
});

/** The default until SMART tokens exist: nothing authenticates. */
export const noTokenVerifier: Authenticator = async () => undefined;
