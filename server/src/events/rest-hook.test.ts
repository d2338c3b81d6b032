/**
 * rest-hook delivery against a real local HTTP server (node:http on port 0): success, retryable and final
 * statuses, timeouts, refused connections, header forwarding, and that no error carries a body; endpoint rules.
 * The receiver is on loopback, so these posts run with the loopback flag the tests use.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Bundle } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboundPolicy } from '../net/outbound-policy.ts';
import { checkEndpoint, isRetryableStatus, postNotification, validateEndpoint } from './rest-hook.ts';

const LOOPBACK_OK: OutboundPolicy = { allow: [], allowHttp: true, allowLoopback: true };

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
  postNotification(`${base}${path}`, headers, BUNDLE, { timeoutMs, policy: LOOPBACK_OK });

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
    const result = await postNotification(`http://127.0.0.1:${port}/hook`, [], BUNDLE, { timeoutMs: 2_000, policy: LOOPBACK_OK });
    expect(result).toEqual({ ok: false, error: 'ECONNREFUSED', retryable: true });
  });
});

describe('postNotification: refusals and failures', () => {
  it('an unparseable endpoint is final', async () => {
    expect(await postNotification('not a url', [], BUNDLE, { timeoutMs: 100, policy: LOOPBACK_OK })).toEqual({
      ok: false,
      error: 'url: must be an absolute URL',
      retryable: false,
    });
  });
  it('a header the HTTP client refuses is final, not sent and not echoed', async () => {
    received.length = 0;
    const result = await post('/hook', [['X-Bad', 'line\nbreak-secret']]);
    expect(result).toMatchObject({ ok: false, retryable: false });
    if (!result.ok) expect(result.error).not.toContain('secret');
    expect(received).toHaveLength(0);
  });
  it('a lookup failure is retryable and carries the code only', async () => {
    const resolve = async (): Promise<string[]> => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND SecretFamilyName.example'), { code: 'ENOTFOUND' });
    };
    expect(await postNotification('https://h.example/', [], BUNDLE, { timeoutMs: 100, policy: LOOPBACK_OK, resolve })).toEqual({
      ok: false,
      error: 'dns ENOTFOUND',
      retryable: true,
    });
  });
  it('a host that now resolves to a private or metadata address is refused at delivery, nothing sent (rebinding)', async () => {
    received.length = 0;
    const port = new URL(base).port;
    for (const address of ['10.0.0.7', '169.254.169.254', '::ffff:192.168.0.1', 'fd00:ec2::254']) {
      const resolve = async (): Promise<string[]> => [address];
      const result = await postNotification(`http://hooks.example.org:${port}/hook`, [], BUNDLE, {
        timeoutMs: 500,
        policy: LOOPBACK_OK,
        resolve,
      });
      expect(result).toMatchObject({ ok: false, retryable: false });
      if (!result.ok) expect(result.error).toMatch(/^address class (private|metadata)/);
    }
    expect(received).toHaveLength(0);
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
  const strict: OutboundPolicy = { allow: [], allowHttp: false, allowLoopback: false };
  const dev: OutboundPolicy = LOOPBACK_OK;
  const httpOnly: OutboundPolicy = { ...strict, allowHttp: true };
  const REFUSED = /^endpoint resolves to an address Haven does not call/;
  const table: [string, OutboundPolicy, string | RegExp | undefined][] = [
    ['https://hooks.example.org/fhir/notify?x=1', strict, undefined],
    ['https://hooks.example.org:8443/n', strict, undefined],
    ['http://hooks.example.org/n', strict, 'endpoint must use https'],
    ['http://hooks.example.org/n', httpOnly, undefined],
    ['/relative/path', strict, 'endpoint must be an absolute URL'],
    ['hooks.example.org/n', strict, 'endpoint must be an absolute URL'],
    ['ftp://hooks.example.org/n', dev, 'endpoint must be an https URL, not ftp:'],
    ['mailto:someone@example.org', dev, 'endpoint must be an https URL, not mailto:'],
    ['https://user:pass@hooks.example.org/n', strict, 'endpoint must not contain credentials'],
    ['https://user@hooks.example.org/n', dev, 'endpoint must not contain credentials'],
    ['https://localhost/n', strict, REFUSED],
    ['https://127.0.0.1:9/n', strict, REFUSED],
    ['https://127.1/n', strict, REFUSED],
    ['https://2130706433/n', strict, REFUSED],
    ['https://[::1]/n', strict, REFUSED],
    ['https://[::ffff:127.0.0.1]/n', strict, REFUSED],
    ['https://0.0.0.0/n', dev, REFUSED],
    ['https://api.localhost/n', strict, REFUSED],
    ['https://169.254.169.254/latest/meta-data/', dev, REFUSED],
    ['https://[fd00:ec2::254]/', dev, REFUSED],
    ['https://metadata.google.internal/', dev, REFUSED],
    ['https://10.1.2.3/', dev, REFUSED],
    ['https://100.64.0.9/', dev, REFUSED],
    ['https://[fc00::5]/', dev, REFUSED],
    ['https://[fe80::5]/', dev, REFUSED],
    ['http://127.0.0.1:8080/n', dev, undefined],
  ];
  for (const [url, policy, expected] of table) {
    it(`${url} ${policy.allowHttp ? '(http ok)' : ''}${policy.allowLoopback ? '(loopback ok)' : ''} → ${expected ?? 'ok'}`, () => {
      const got = validateEndpoint(url, policy);
      if (expected instanceof RegExp) expect(got).toMatch(expected);
      else expect(got).toBe(expected);
    });
  }
});

describe('checkEndpoint (with DNS)', () => {
  const strict: OutboundPolicy = { allow: [], allowHttp: true, allowLoopback: false };
  it('refuses a name that resolves to a refused address', async () => {
    const resolve = async (): Promise<string[]> => ['10.9.8.7'];
    expect(await checkEndpoint('https://partner.example/', strict, { timeoutMs: 500, resolve })).toMatch(/does not call/);
  });
  it('refuses this machine’s own name (it resolves to loopback or an interface address)', async () => {
    expect(await checkEndpoint(`http://${hostname()}/`, strict, { timeoutMs: 2000 })).toMatch(/does not call/);
  });
  it('accepts a public answer, and a name that does not resolve yet (delivery checks again)', async () => {
    expect(
      await checkEndpoint('https://partner.example/', strict, { timeoutMs: 500, resolve: async () => ['93.184.216.34'] }),
    ).toBeUndefined();
    const nx = async (): Promise<string[]> => {
      throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
    };
    expect(await checkEndpoint('https://partner.example/', strict, { timeoutMs: 500, resolve: nx })).toBeUndefined();
  });
});
