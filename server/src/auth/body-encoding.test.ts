/**
 * Issue 13 item 13: a body the server cannot read as sent (a Content-Encoding whose data does not decompress, an
 * encoding or charset it does not accept) is the client's error on every /auth endpoint that reads a body:
 * an OAuth error (JSON endpoints) or an error page (browser endpoints), 400 or 415, never a 500; and no token.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type AuthTestServer } from './testing.ts';

let ts: AuthTestServer;
let root: string;
beforeAll(async () => {
  ts = await startAuthServer();
  root = ts.fhir.replace(/\/fhir$/, '');
});
afterAll(async () => {
  await ts?.stop();
});

const FORM = 'grant_type=client_credentials&client_id=x';
const oauthEndpoints = ['/auth/token', '/auth/introspect', '/auth/revoke'];
const pageEndpoints = ['/auth/authorize', '/auth/interaction/unknown/login'];

async function post(path: string, headers: Record<string, string>, body: BodyInit) {
  const res = await fetch(root + path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

describe('Content-Encoding that does not match the body', () => {
  for (const path of oauthEndpoints) {
    for (const encoding of ['gzip', 'deflate', 'br']) {
      it(`${path} with Content-Encoding: ${encoding} and a plain body: 400 invalid_request`, async () => {
        const res = await post(path, { 'content-encoding': encoding }, FORM);
        expect(res.status).toBe(400);
        expect(res.type).toMatch(/^application\/json/);
        const body = JSON.parse(res.text);
        expect(body.error).toBe('invalid_request');
        expect(body.error_description).toMatch(/could not be read or decompressed/);
        expect(body.access_token).toBeUndefined();
      });
    }
    it(`${path} with an unknown Content-Encoding: 415 invalid_request`, async () => {
      const res = await post(path, { 'content-encoding': 'x-unknown' }, FORM);
      expect(res.status).toBe(415);
      expect(JSON.parse(res.text).error).toBe('invalid_request');
    });
  }
  for (const path of pageEndpoints) {
    it(`${path} (a browser page) with Content-Encoding: gzip and a plain body: a 400 error page`, async () => {
      const res = await post(path, { 'content-encoding': 'gzip' }, FORM);
      expect(res.status).toBe(400);
      expect(res.type).toMatch(/^text\/html/);
      expect(res.text).not.toMatch(/Something went wrong/);
    });
  }

  it('a body that really is gzip-compressed is read (the OAuth answer is about the client, not the body)', async () => {
    const res = await post('/auth/token', { 'content-encoding': 'gzip' }, gzipSync(FORM));
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text).error).toBe('invalid_client');
  });

  it('nothing the client caused is logged as an internal error', () => {
    expect(ts.logs.filter((l) => l.event === 'auth.internal_error')).toEqual([]);
  });
});
