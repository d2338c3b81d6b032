/**
 * Discovery (SMART App Launch 2.2 conformance.html; reference §1.1, §1.2, §1.8): smart-configuration at
 * every FHIR base, JSON whatever the Accept header, absolute URLs, CORS, exactly the implemented
 * capabilities; OpenID configuration, JWKS, style document, and the CapabilityStatement security block.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer } from '../test-support/harness.ts';
import { SMART_CAPABILITIES, smartSecurityBlock } from './discovery.ts';
import { startAuthServer, type AuthTestServer } from './testing.ts';

let ts: AuthTestServer;
beforeAll(async () => {
  ts = await startAuthServer();
});
afterAll(async () => {
  await ts?.stop();
});

const ISSUE_CAPABILITIES = [
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
];

describe('smart-configuration', () => {
  for (const base of ['/fhir', '/t/clinic-2/fhir']) {
    it(`is JSON at ${base} for any Accept, with absolute URLs under that base`, async () => {
      for (const accept of [undefined, 'application/json', 'text/html', 'application/fhir+json', 'application/xml']) {
        const r = await ts.req(`${base}/.well-known/smart-configuration`, { headers: accept ? { accept } : {} });
        expect(r.status, accept).toBe(200);
        expect(r.headers.get('content-type')).toMatch(/^application\/json/);
        const c = r.body;
        const tenant = base === '/fhir' ? 'default' : 'clinic-2';
        const urls = ts.urls(tenant);
        expect(c.issuer).toBe(urls.fhirBase);
        expect(c.authorization_endpoint).toBe(urls.authorize);
        expect(c.token_endpoint).toBe(urls.token);
        for (const k of [
          'issuer',
          'jwks_uri',
          'authorization_endpoint',
          'token_endpoint',
          'introspection_endpoint',
          'revocation_endpoint',
        ]) {
          expect(new URL(c[k]).protocol, k).toMatch(/^https?:$/);
        }
      }
    });
  }

  it('advertises exactly the capabilities of the issue, S256 only, and the grants served', async () => {
    const { body: c } = await ts.req('/fhir/.well-known/smart-configuration');
    expect([...c.capabilities].sort()).toEqual([...ISSUE_CAPABILITIES].sort());
    expect([...SMART_CAPABILITIES].sort()).toEqual([...ISSUE_CAPABILITIES].sort());
    expect(c.capabilities.every((x: unknown) => typeof x === 'string')).toBe(true);
    expect(c.code_challenge_methods_supported).toEqual(['S256']);
    expect(c.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(c.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'private_key_jwt']));
    expect(c.token_endpoint_auth_signing_alg_values_supported).toEqual(expect.arrayContaining(['RS384', 'ES384']));
    expect(c.response_types_supported).toEqual(['code']);
    expect(c.scopes_supported).toEqual(
      expect.arrayContaining(['openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access', 'patient/*.rs', 'system/*.rs']),
    );
  });

  it('allows any origin (CORS), including preflight', async () => {
    const r = await ts.req('/fhir/.well-known/smart-configuration', { headers: { origin: 'https://app.example' } });
    expect(['*', 'https://app.example']).toContain(r.headers.get('access-control-allow-origin'));
    const pre = await ts.req('/fhir/.well-known/smart-configuration', {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('rejects a malformed tenant', async () => {
    const r = await ts.req('/t/Bad_Tenant/fhir/.well-known/smart-configuration');
    expect(r.status).toBe(404);
  });
});

describe('OpenID Connect discovery and keys', () => {
  it('serves openid-configuration at {issuer}/.well-known/openid-configuration', async () => {
    const { body: smart } = await ts.req('/fhir/.well-known/smart-configuration');
    const r = await ts.req(new URL(`${smart.issuer}/.well-known/openid-configuration`).pathname);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    for (const k of [
      'issuer',
      'authorization_endpoint',
      'token_endpoint',
      'jwks_uri',
      'response_types_supported',
      'subject_types_supported',
      'id_token_signing_alg_values_supported',
    ]) {
      expect(r.body[k], k).toBeDefined();
    }
    expect(r.body.issuer).toBe(smart.issuer);
    expect(r.body.id_token_signing_alg_values_supported).toContain('RS256');
  });

  it('serves a JWKS with bare public RSA keys and a kid', async () => {
    const { body: smart } = await ts.req('/fhir/.well-known/smart-configuration');
    const r = await ts.req(new URL(smart.jwks_uri).pathname, { headers: { origin: 'https://x.example' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect(r.body.keys.length).toBeGreaterThanOrEqual(1);
    for (const k of r.body.keys) {
      expect(k.kty).toBe('RSA');
      expect(typeof k.kid).toBe('string');
      expect(k.d).toBeUndefined();
      expect(k.p).toBeUndefined();
    }
  });

  it('serves the style document as JSON', async () => {
    const r = await ts.req(new URL(ts.urls().style).pathname);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.body.color_background).toMatch(/^#/);
  });
});

describe('CapabilityStatement security block', () => {
  it('matches the well-known URLs for authorize, token, introspect and revoke', async () => {
    for (const tenant of ['default', 'clinic-2']) {
      const urls = ts.urls(tenant);
      const { body: smart } = await ts.req(new URL(`${urls.fhirBase}/.well-known/smart-configuration`).pathname);
      const sec = smartSecurityBlock(urls.fhirBase);
      expect(sec.service?.[0].coding?.[0].code).toBe('SMART-on-FHIR');
      const ext = sec.extension?.find((e) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
      const uri = (name: string) => ext?.extension?.find((e) => e.url === name)?.valueUri;
      expect(uri('authorize')).toBe(smart.authorization_endpoint);
      expect(uri('token')).toBe(smart.token_endpoint);
      expect(uri('introspect')).toBe(smart.introspection_endpoint);
      expect(uri('revoke')).toBe(smart.revocation_endpoint);
      expect(uri('manage')).toBe(smart.management_endpoint);
      expect(uri('register')).toBe(smart.registration_endpoint);
    }
  });
});

describe('with HAVEN_AUTH=off', () => {
  it('offers no authorization server (nothing would honour its tokens)', async () => {
    const off = await startTestServer({ HAVEN_AUTH: 'off' });
    try {
      expect((await off.req('/fhir/.well-known/smart-configuration')).status).toBe(404);
      expect((await off.req('/auth/token', { method: 'POST' })).status).toBe(404);
    } finally {
      await off.stop();
    }
  });
});
