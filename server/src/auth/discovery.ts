/**
 * Discovery documents: SMART configuration (App Launch 2.2 conformance.html "Using .well-known"), OpenID
 * Provider metadata (OIDC Discovery §3), the CapabilityStatement security block (SMART 1.0 oauth-uris
 * extension, deprecated but still read by fhirclient and older clients), and the style document
 * (`smart_style_url`, App Launch 2.2 §styling).
 *
 * Only what works is advertised: each capability below is implemented and tested.
 */
import type { CapabilityStatementRestSecurity } from '@medplum/fhirtypes';
import { ASSERTION_ALGS } from './client-auth.ts';
import { SIGNING_ALG } from './keys.ts';
import { NON_RESOURCE_SCOPES } from './scopes.ts';
import { GRANT_TYPES } from './token-endpoint.ts';
import type { AuthUrls } from './urls.ts';

/** SMART capabilities Haven implements (conformance.html "Capabilities"). */
export const SMART_CAPABILITIES = [
  'launch-ehr',
  'launch-standalone',
  'authorize-post',
  'client-public',
  'client-confidential-symmetric',
  'client-confidential-asymmetric',
  'sso-openid-connect',
  'context-banner',
  'context-style',
  'context-ehr-patient',
  'context-ehr-encounter',
  'context-standalone-patient',
  'permission-offline',
  'permission-patient',
  'permission-user',
  'permission-v1',
  'permission-v2',
] as const;

/** Client authentication methods at the token endpoint. */
export const TOKEN_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;

const RESOURCE_SCOPE_EXAMPLES = [
  'patient/*.cruds',
  'patient/*.rs',
  'patient/*.read',
  'patient/*.write',
  'patient/*.*',
  'user/*.cruds',
  'user/*.rs',
  'user/*.read',
  'user/*.write',
  'user/*.*',
  'system/*.cruds',
  'system/*.rs',
  'system/*.read',
  'system/*.write',
  'system/*.*',
];

/** `GET {fhirBase}/.well-known/smart-configuration`. */
export function smartConfiguration(urls: AuthUrls): Record<string, unknown> {
  return {
    issuer: urls.issuer,
    jwks_uri: urls.jwks,
    authorization_endpoint: urls.authorize,
    token_endpoint: urls.token,
    token_endpoint_auth_methods_supported: [...TOKEN_AUTH_METHODS],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
    grant_types_supported: [...GRANT_TYPES],
    scopes_supported: [...NON_RESOURCE_SCOPES, ...RESOURCE_SCOPE_EXAMPLES],
    response_types_supported: ['code'],
    introspection_endpoint: urls.introspect,
    revocation_endpoint: urls.revoke,
    userinfo_endpoint: urls.userinfo,
    capabilities: [...SMART_CAPABILITIES],
    code_challenge_methods_supported: ['S256'],
    authorization_response_iss_parameter_supported: true,
  };
}

/** `GET {fhirBase}/.well-known/openid-configuration` (the issuer is the FHIR base). */
export function openidConfiguration(urls: AuthUrls): Record<string, unknown> {
  return {
    issuer: urls.issuer,
    authorization_endpoint: urls.authorize,
    token_endpoint: urls.token,
    userinfo_endpoint: urls.userinfo,
    jwks_uri: urls.jwks,
    introspection_endpoint: urls.introspect,
    revocation_endpoint: urls.revoke,
    scopes_supported: ['openid', 'fhirUser', ...NON_RESOURCE_SCOPES.filter((s) => s !== 'openid' && s !== 'fhirUser')],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: [...GRANT_TYPES],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [SIGNING_ALG],
    token_endpoint_auth_methods_supported: [...TOKEN_AUTH_METHODS],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'fhirUser'],
    code_challenge_methods_supported: ['S256'],
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    claims_parameter_supported: false,
    authorization_response_iss_parameter_supported: true,
  };
}

/**
 * The `rest[0].security` block of the CapabilityStatement for a FHIR base: SMART-on-FHIR service and the
 * oauth-uris extension (authorize, token, introspect, revoke), matching the well-known document URL for
 * URL (Inferno STU1 compares them).
 * @param fhirBase `${BASE_URL}/fhir` or `${BASE_URL}/t/{tenant}/fhir`
 */
export function smartSecurityBlock(fhirBase: string): CapabilityStatementRestSecurity {
  const authBase = fhirBase.replace(/\/fhir$/, '/auth');
  return {
    service: [
      {
        coding: [
          { system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR', display: 'SMART-on-FHIR' },
        ],
        text: 'OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)',
      },
    ],
    extension: [
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [
          { url: 'authorize', valueUri: `${authBase}/authorize` },
          { url: 'token', valueUri: `${authBase}/token` },
          { url: 'introspect', valueUri: `${authBase}/introspect` },
          { url: 'revoke', valueUri: `${authBase}/revoke` },
        ],
      },
    ],
    description: `SMART App Launch 2.2; discovery at ${fhirBase}/.well-known/smart-configuration`,
  };
}

/** The style document behind `smart_style_url` (SMART App Launch 2.2 §styling). */
export const SMART_STYLE = {
  color_background: '#f7f7f7',
  color_error: '#b00020',
  color_highlight: '#2a6f97',
  color_modal_backdrop: 'rgba(0, 0, 0, 0.4)',
  color_success: '#2e7d32',
  color_text: '#1b1b1b',
  dim_border_radius: '6px',
  dim_font_size: '16px',
  dim_spacing_size: '16px',
  font_family_body: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
  font_family_heading: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
} as const;
