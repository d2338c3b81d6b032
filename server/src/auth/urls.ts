/**
 * The URLs of one tenant's authorization server. Each tenant is its own issuer: its FHIR base is the
 * OIDC `issuer` and the `aud` of its tokens (SMART App Launch 2.2: `aud` identifies the FHIR server; OIDC
 * Discovery §4: `{issuer}/.well-known/openid-configuration`), and its endpoints live under `/auth` for the
 * default tenant and `/t/{tenant}/auth` for the others.
 */
import type { HavenConfig } from '../config.ts';
import { fhirBase } from '../http/fhir-api.ts';

/** Absolute URLs of a tenant's FHIR base and authorization endpoints. */
export interface AuthUrls {
  fhirBase: string;
  /** The OIDC issuer: the FHIR base. */
  issuer: string;
  authBase: string;
  authorize: string;
  token: string;
  introspect: string;
  revoke: string;
  jwks: string;
  userinfo: string;
  launch: string;
  style: string;
}

/** Version of the style document; bumped when its content changes (SMART: a new URL when styles change). */
export const STYLE_VERSION = 'v1';

/** URLs for `tenant`. */
export function authUrls(config: Pick<HavenConfig, 'baseUrl'>, tenant: string): AuthUrls {
  const base = fhirBase(config as HavenConfig, tenant);
  const authBase = tenant === 'default' ? `${config.baseUrl}/auth` : `${config.baseUrl}/t/${tenant}/auth`;
  return {
    fhirBase: base,
    issuer: base,
    authBase,
    authorize: `${authBase}/authorize`,
    token: `${authBase}/token`,
    introspect: `${authBase}/introspect`,
    revoke: `${authBase}/revoke`,
    jwks: `${authBase}/jwks`,
    userinfo: `${authBase}/userinfo`,
    launch: `${authBase}/launch`,
    style: `${authBase}/style/${STYLE_VERSION}.json`,
  };
}
