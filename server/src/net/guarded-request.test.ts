/**
 * The guarded client against a real local HTTP server: what it refuses never opens a connection, what it resolves
 * it connects to without resolving again, and it follows no redirect and reads no more than allowed.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { guardedRequest, resolveChecked } from './guarded-request.ts';
import type { OutboundPolicy } from './outbound-policy.ts';

const strictHttp: OutboundPolicy = { allow: [], allowLoopback: false, allowHttp: true };
const loopbackOk: OutboundPolicy = { allow: [], allowLoopback: true, allowHttp: true };

const hits: { url?: string; headers: IncomingHttpHeaders }[] = [];
let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push({ url: req.url, headers: req.headers });
    req.resume();
    req.on('end', () => {
      if (req.url === '/redirect') res.writeHead(302, { location: `http://127.0.0.1:${port}/elsewhere` }).end();
      else if (req.url === '/big') res.writeHead(200).end('x'.repeat(5000));
      else if (req.url === '/slow') setTimeout(() => res.destroyed || res.end('late'), 2000).unref();
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  hits.length = 0;
});

describe('guardedRequest', () => {
  it('calls an allowed address, with the URL host as Host and the given headers', async () => {
    const r = await guardedRequest(`http://127.0.0.1:${port}/p?q=1`, {
      method: 'POST',
      headers: [
        ['X-Multi', '1'],
        ['X-Multi', '2'],
      ],
      body: '{}',
      timeoutMs: 2000,
      maxBodyBytes: 100,
      policy: loopbackOk,
    });
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(r.ok && r.body?.toString()).toBe('hello');
    expect(hits[0].url).toBe('/p?q=1');
    expect(hits[0].headers.host).toBe(`127.0.0.1:${port}`);
    expect(hits[0].headers['x-multi']).toBe('1, 2');
    expect(hits[0].headers['content-length']).toBe('2');
  });

  for (const host of ['localhost', hostname(), '127.1', '[::ffff:127.0.0.1]', '2130706433']) {
    it(`refuses ${host} without the loopback flag and opens no connection`, async () => {
      const r = await guardedRequest(`http://${host}:${port}/`, { method: 'GET', timeoutMs: 2000, policy: strictHttp });
      expect(r).toMatchObject({ ok: false, failure: 'refused' });
      expect(hits).toHaveLength(0);
    });
  }

  it('connects to the address it checked, never resolving the name a second time (DNS rebinding)', async () => {
    const answers = [['127.0.0.1'], ['10.0.0.1'], ['169.254.169.254']];
    let calls = 0;
    const resolve = async (): Promise<string[]> => answers[Math.min(calls++, answers.length - 1)];
    const r = await guardedRequest(`http://rebind.example:${port}/x`, { method: 'GET', timeoutMs: 2000, policy: loopbackOk, resolve });
    expect(r).toMatchObject({ ok: true, status: 200 });
    expect(calls).toBe(1);
    expect(hits[0].headers.host).toBe(`rebind.example:${port}`);
  });

  it('refuses a name when any of its addresses is refused', async () => {
    const resolve = async (): Promise<string[]> => ['93.184.216.34', '10.0.0.1'];
    const r = await guardedRequest(`http://mixed.example:${port}/`, { method: 'GET', timeoutMs: 2000, policy: loopbackOk, resolve });
    expect(r).toMatchObject({ ok: false, failure: 'refused', detail: 'address class private (10.0.0.1)' });
    expect(hits).toHaveLength(0);
  });

  it('refuses a name that resolves to this machine’s own interface address', async () => {
    const resolve = async (): Promise<string[]> => ['198.51.100.77'];
    const own = () => new Set(['198.51.100.77']);
    const r = await resolveChecked('https://me.example/', strictHttp, { timeoutMs: 1000, resolve, ownAddresses: own });
    expect(r).toMatchObject({ ok: false, failure: 'refused' });
  });

  it('a name that does not resolve is a dns failure with the code only', async () => {
    const resolve = async (): Promise<string[]> => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND secret.example'), { code: 'ENOTFOUND' });
    };
    expect(await guardedRequest('https://nowhere.example/', { method: 'GET', timeoutMs: 1000, policy: strictHttp, resolve })).toEqual({
      ok: false,
      failure: 'dns',
      detail: 'dns ENOTFOUND',
    });
  });

  it('follows no redirect', async () => {
    const r = await guardedRequest(`http://127.0.0.1:${port}/redirect`, { method: 'GET', timeoutMs: 2000, policy: loopbackOk });
    expect(r).toMatchObject({ ok: true, status: 302 });
    expect(hits.map((h) => h.url)).toEqual(['/redirect']);
  });

  it('reads no more than maxBodyBytes', async () => {
    const r = await guardedRequest(`http://127.0.0.1:${port}/big`, {
      method: 'GET',
      timeoutMs: 2000,
      maxBodyBytes: 1000,
      policy: loopbackOk,
    });
    expect(r).toMatchObject({ ok: false, failure: 'too-large' });
  });

  it('gives up at the time limit', async () => {
    const r = await guardedRequest(`http://127.0.0.1:${port}/slow`, { method: 'GET', timeoutMs: 150, policy: loopbackOk });
    expect(r).toEqual({ ok: false, failure: 'timeout', detail: 'timeout after 150 ms' });
  });

  it('a closed port is a network failure named by its code', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const free = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect(await guardedRequest(`http://127.0.0.1:${free}/`, { method: 'GET', timeoutMs: 2000, policy: loopbackOk })).toEqual({
      ok: false,
      failure: 'network',
      detail: 'ECONNREFUSED',
    });
  });

  it('a header with a line break is never sent and never echoed', async () => {
    const r = await guardedRequest(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: [['X-Bad', 'line\r\nInjected: secret']],
      timeoutMs: 1000,
      policy: loopbackOk,
    });
    expect(r).toMatchObject({ ok: false, failure: 'invalid-request' });
    expect(JSON.stringify(r)).not.toContain('secret');
    expect(hits).toHaveLength(0);
  });
});
