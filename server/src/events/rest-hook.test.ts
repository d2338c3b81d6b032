/**
 * rest-hook delivery against a real local HTTP server (node:http on port 0): success, retryable and final
 * statuses, timeouts, refused connections, header forwarding, and that no error carries a body; endpoint rules.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopbackHostname, isRetryableStatus, postNotification, validateEndpoint } from './rest-hook.ts';

const BUNDLE: Bundle = {
  resourceType: 'Bundle',
  type: 'history',
  entry: [
    {
      fullUrl: 'urn:uuid:1',
      resource: { resourceType: 'Patient', id: 'p1', name: [{ family: 'SecretFamilyName' }] },
      request: { method: 'PUT', url: 'Patient/p1' },
      response: { status: '200' },
    },
  ],
};

interface Received {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  body: string;
}
const received: Received[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      const m = /^\/status\/(\d{3})$/.exec(req.url ?? '');
      if (m) {
        res.writeHead(Number(m[1]), {
          'content-type': 'text/plain',
          ...(m[1].startsWith('3') ? { location: 'https://elsewhere.example/' } : {}),
        });
        res.end('response body with PHI: SecretFamilyName');
      } else if (req.url === '/slow') {
        setTimeout(() => {
          if (!res.destroyed) res.end('late');
        }, 3_000).unref();
      } else {
        res.writeHead(200).end('ok');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const post = (path: string, headers: [string, string][] = [], timeoutMs = 2_000) =>
  postNotification(`${base}${path}`, headers, BUNDLE, { timeoutMs });

describe('postNotification against node:http', () => {
  it('200: delivered, as application/fhir+json, with the Bundle and the subscription headers', async () => {
    received.length = 0;
    const result = await post('/hook', [
      ['Authorization', 'Bearer abc'],
      ['X-Tenant-Hint', 'acme'],
      ['X-Multi', '1'],
      ['X-Multi', '2'],
    ]);
    expect(result).toEqual({ ok: true, status: 200 });
    expect(received).toHaveLength(1);
    const [r] = received;
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/hook');
    expect(r.headers['content-type']).toBe('application/fhir+json');
    expect(r.headers.authorization).toBe('Bearer abc');
    expect(r.headers['x-tenant-hint']).toBe('acme');
    expect(r.headers['x-multi']).toBe('1, 2');
    expect(JSON.parse(r.body)).toEqual(BUNDLE);
  });

  it('a subscription header cannot replace the content type', async () => {
    received.length = 0;
    await post('/hook', [['Content-Type', 'text/plain']]);
    expect(received[0].headers['content-type']).toBe('application/fhir+json');
  });

  // [status, retryable]
  const statuses: [number, boolean][] = [
    [500, true],
    [502, true],
    [503, true],
    [408, true],
    [429, true],
    [410, false],
    [400, false],
    [401, false],
    [404, false],
    [302, false],
  ];
  for (const [status, retryable] of statuses) {
    it(`${status}: ${retryable ? 'retryable' : 'final'}, no body in the error`, async () => {
      const result = await post(`/status/${status}`);
      expect(result).toMatchObject({ ok: false, status, retryable });
      if (!result.ok) {
        expect(result.error).toMatch(new RegExp(`^HTTP ${status}`));
        expect(result.error).not.toMatch(/SecretFamilyName|PHI/);
      }
    });
  }

  it('201 and 204 are delivered too', async () => {
    expect(await post('/status/201')).toEqual({ ok: true, status: 201 });
    expect(await post('/status/204')).toEqual({ ok: true, status: 204 });
  });

  it('a redirect is not followed', async () => {
    received.length = 0;
    const result = await post('/status/307');
    expect(result).toMatchObject({ ok: false, status: 307, retryable: false, error: 'HTTP 307 (redirects are not followed)' });
    expect(received).toHaveLength(1);
  });

  it('slow endpoint: retryable timeout', async () => {
    const started = Date.now();
    const result = await post('/slow', [], 200);
    expect(result).toEqual({ ok: false, error: 'timeout after 200 ms', retryable: true });
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('connection refused: retryable ECONNREFUSED', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await postNotification(`http://127.0.0.1:${port}/hook`, [], BUNDLE, { timeoutMs: 2_000 });
    expect(result).toEqual({ ok: false, error: 'ECONNREFUSED', retryable: true });
  });
});

describe('postNotification without a network', () => {
  it('an unparseable endpoint is final', async () => {
    expect(await postNotification('not a url', [], BUNDLE, { timeoutMs: 100 })).toEqual({
      ok: false,
      error: 'invalid endpoint URL',
      retryable: false,
    });
  });
  it('a header the HTTP client refuses is final and not echoed', async () => {
    const result = await postNotification('https://h.example/', [['X-Bad', 'line\nbreak-secret']], BUNDLE, {
      timeoutMs: 100,
      fetchImpl: () => Promise.reject(new Error('unreached')),
    });
    expect(result).toMatchObject({ ok: false, retryable: false });
    if (!result.ok) expect(result.error).not.toContain('secret');
  });
  it('a thrown message never reaches the error; the code does', async () => {
    const fetchImpl = (() =>
      Promise.reject(
        Object.assign(new TypeError('fetch failed: SecretFamilyName'), {
          cause: Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }),
        }),
      )) as typeof fetch;
    expect(await postNotification('https://h.example/', [], BUNDLE, { timeoutMs: 100, fetchImpl })).toEqual({
      ok: false,
      error: 'ENOTFOUND',
      retryable: true,
    });
    const opaque = (() => Promise.reject(new TypeError('SecretFamilyName'))) as typeof fetch;
    expect(await postNotification('https://h.example/', [], BUNDLE, { timeoutMs: 100, fetchImpl: opaque })).toEqual({
      ok: false,
      error: 'network error',
      retryable: true,
    });
  });
  it('the body is not read from a failed response', async () => {
    let read = false;
    const body = new ReadableStream(
      {
        pull(controller) {
          read = true;
          controller.enqueue(new TextEncoder().encode('PHI'));
          controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    const fetchImpl = (() => Promise.resolve(new Response(body, { status: 500 }))) as typeof fetch;
    expect(await postNotification('https://h.example/', [], BUNDLE, { timeoutMs: 100, fetchImpl })).toEqual({
      ok: false,
      status: 500,
      error: 'HTTP 500',
      retryable: true,
    });
    expect(read).toBe(false);
  });
});

describe('isRetryableStatus', () => {
  const table: [number, boolean][] = [
    [408, true],
    [429, true],
    [500, true],
    [599, true],
    [400, false],
    [403, false],
    [409, false],
    [410, false],
    [413, false],
    [301, false],
  ];
  for (const [status, expected] of table) it(`${status} → ${expected}`, () => expect(isRetryableStatus(status)).toBe(expected));
});

describe('validateEndpoint', () => {
  const strict = { allowHttp: false, allowLoopback: false };
  const dev = { allowHttp: true, allowLoopback: true };
  const table: [string, typeof strict, string | undefined][] = [
    ['https://hooks.example.org/fhir/notify?x=1', strict, undefined],
    ['https://hooks.example.org:8443/n', strict, undefined],
    ['http://hooks.example.org/n', strict, 'endpoint must use https'],
    ['http://hooks.example.org/n', { allowHttp: true, allowLoopback: false }, undefined],
    ['/relative/path', strict, 'endpoint must be an absolute URL'],
    ['hooks.example.org/n', strict, 'endpoint must be an absolute URL'],
    ['ftp://hooks.example.org/n', dev, 'endpoint must be an https URL, not ftp:'],
    ['mailto:someone@example.org', dev, 'endpoint must be an https URL, not mailto:'],
    ['https://user:pass@hooks.example.org/n', strict, 'endpoint must not contain credentials; send them in channel.header'],
    ['https://user@hooks.example.org/n', dev, 'endpoint must not contain credentials; send them in channel.header'],
    ['https://localhost/n', strict, 'endpoint must not be a loopback address'],
    ['https://127.0.0.1:9/n', strict, 'endpoint must not be a loopback address'],
    ['https://127.1/n', strict, 'endpoint must not be a loopback address'],
    ['https://2130706433/n', strict, 'endpoint must not be a loopback address'],
    ['https://[::1]/n', strict, 'endpoint must not be a loopback address'],
    ['https://[::ffff:127.0.0.1]/n', strict, 'endpoint must not be a loopback address'],
    ['https://0.0.0.0/n', strict, 'endpoint must not be a loopback address'],
    ['https://api.localhost/n', strict, 'endpoint must not be a loopback address'],
    ['http://127.0.0.1:8080/n', dev, undefined],
  ];
  for (const [url, rules, expected] of table) {
    it(`${url} ${rules.allowHttp ? '(http ok)' : ''}${rules.allowLoopback ? '(loopback ok)' : ''} → ${expected ?? 'ok'}`, () =>
      expect(validateEndpoint(url, rules)).toBe(expected));
  }
});

describe('isLoopbackHostname', () => {
  const table: [string, boolean][] = [
    ['localhost', true],
    ['LOCALHOST.', true],
    ['127.255.0.1', true],
    ['[::1]', true],
    ['::', true],
    ['::ffff:7f00:1', true],
    ['128.0.0.1', false],
    ['10.0.0.1', false],
    ['example.org', false],
    ['localhost.example.org', false],
    ['::2', false],
    ['::ffff:a00:1', false],
  ];
  for (const [host, expected] of table) it(`${host} → ${expected}`, () => expect(isLoopbackHostname(host)).toBe(expected));
});
