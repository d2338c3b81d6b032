/**
 * The websocket hub with real `ws` clients against a node:http server: bind-with-token and the R4 classic
 * bind/bound/ping form, heartbeats, tenant isolation, bad input (1008), resolver failures (1011), idle and
 * dead peers, oversized frames, wrong paths, shutdown, and that the HTTP server survives all of it.
 */
import { createServer, request } from 'node:http';
import type { Server } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Bundle, Parameters } from '@medplum/fhirtypes';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ClientOptions } from 'ws';
import { buildNotificationBundle } from './notification.ts';
import type { NotificationType } from './notification.ts';
import { createWebSocketHub, parseClientMessage } from './websocket-hub.ts';
import type { BindingResolution, WebSocketHub, WebSocketHubOptions } from './websocket-hub.ts';

const BASE = 'http://localhost/t/acme/fhir';
const PATH = '/ws/subscriptions';

function notification(tenant: string, subscriptionId: string, type: NotificationType): Bundle {
  return buildNotificationBundle({
    baseUrl: BASE.replace('acme', tenant),
    subscriptionId,
    criteria: 'Observation',
    status: type === 'handshake' ? 'requested' : 'active',
    type,
    eventsSinceSubscriptionStart: 0,
    events: [],
    content: 'id-only',
  });
}

const TOKENS: Record<string, [string, string, string?]> = {
  'tok-a': ['acme', 's1'],
  'tok-a2': ['acme', 's2'],
  'tok-b': ['beta', 's1'],
  'tok-ann': ['acme', 's1', 'ann'],
  'tok-bob': ['acme', 's1', 'bob'],
};

async function resolveToken(token: string): Promise<BindingResolution | undefined> {
  if (token === 'boom') throw new Error('database down');
  if (token === 'slow') await new Promise((r) => setTimeout(r, 300));
  const hit = TOKENS[token === 'slow' ? 'tok-a' : token];
  if (!hit) return undefined;
  return {
    tenant: hit[0],
    subscriptionId: hit[1],
    handshake: notification(hit[0], hit[1], 'handshake'),
    ...(hit[2] ? { receiver: hit[2] } : {}),
  };
}

interface Harness {
  server: Server;
  hub: WebSocketHub;
  url: string;
  port: number;
  logs: Record<string, unknown>[];
}
const cleanups: (() => Promise<void>)[] = [];

async function start(overrides: Partial<WebSocketHubOptions> = {}): Promise<Harness> {
  const logs: Record<string, unknown>[] = [];
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('http ok'));
  const hub = createWebSocketHub({
    resolveToken,
    heartbeat: (t, s) => notification(t, s, 'heartbeat'),
    path: PATH,
    heartbeatMs: 60_000,
    log: (e) => logs.push(e),
    ...overrides,
  });
  hub.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  cleanups.push(async () => {
    await hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { server, hub, url: `ws://127.0.0.1:${port}${PATH}`, port, logs };
}

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A client that queues text frames and records how it was closed. */
interface Client {
  ws: WebSocket;
  next(timeoutMs?: number): Promise<string>;
  frames: string[];
  closed: Promise<{ code: number; reason: string }>;
}

async function client(url: string, options?: ClientOptions): Promise<Client> {
  const ws = new WebSocket(url, options);
  const frames: string[] = [];
  const waiters: ((s: string) => void)[] = [];
  ws.on('message', (data) => {
    const text = data.toString();
    const w = waiters.shift();
    if (w) w(text);
    else frames.push(text);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  cleanups.push(async () => {
    ws.terminate();
  });
  const next = (timeoutMs = 2_000) =>
    frames.length > 0
      ? Promise.resolve(frames.shift()!)
      : new Promise<string>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no frame')), timeoutMs);
          waiters.push((s) => {
            clearTimeout(t);
            resolve(s);
          });
        });
  return { ws, next, frames, closed };
}

/** The notification type of a Bundle frame (status Parameters `type`). */
function typeOf(frame: string): string | undefined {
  const status = (JSON.parse(frame) as Bundle).entry?.[0]?.resource as Parameters | undefined;
  return status?.parameter?.find((p) => p.name === 'type')?.valueCode;
}

async function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('parseClientMessage', () => {
  const table: [string, ReturnType<typeof parseClientMessage>][] = [
    ['bind-with-token abc.def', { command: 'bind-with-token', token: 'abc.def' }],
    ['bind abc', { command: 'bind', token: 'abc' }],
    ['  bind-with-token abc\r\n', { command: 'bind-with-token', token: 'abc' }],
    ['bind', undefined],
    ['bind a b', undefined],
    ['BIND abc', undefined],
    ['unbind abc', undefined],
    ['', undefined],
    ['{"bind":"x"}', undefined],
    [`bind ${'x'.repeat(2049)}`, undefined],
  ];
  for (const [text, expected] of table) it(JSON.stringify(text.slice(0, 30)), () => expect(parseClientMessage(text)).toEqual(expected));
});

describe('bind-with-token (Backport IG)', () => {
  it('handshake, then notifications for that subscription only, per tenant', async () => {
    const h = await start();
    const c = await client(h.url);
    c.ws.send('bind-with-token tok-a');
    const handshake = await c.next();
    expect(typeOf(handshake)).toBe('handshake');
    expect(h.hub.boundCount('acme', 's1')).toBe(1);
    expect(h.hub.publish('acme', 's1', notification('acme', 's1', 'event-notification'))).toBe(1);
    expect(typeOf(await c.next())).toBe('event-notification');
    // Same subscription id in another tenant, and another subscription: not delivered.
    expect(h.hub.publish('beta', 's1', notification('beta', 's1', 'event-notification'))).toBe(0);
    expect(h.hub.publish('acme', 's2', notification('acme', 's2', 'event-notification'))).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.frames).toEqual([]);
    expect(JSON.stringify(h.logs)).not.toContain('tok-a');
  });

  it('one socket binds several subscriptions; several sockets share one', async () => {
    const h = await start();
    const a = await client(h.url);
    const b = await client(h.url);
    a.ws.send('bind-with-token tok-a');
    a.ws.send('bind-with-token tok-a2');
    b.ws.send('bind-with-token tok-a');
    await Promise.all([a.next(), a.next(), b.next()]);
    expect(h.hub.boundCount('acme', 's1')).toBe(2);
    expect(h.hub.boundCount('acme', 's2')).toBe(1);
    expect(h.hub.publish('acme', 's1', notification('acme', 's1', 'event-notification'))).toBe(2);
    expect(h.hub.publish('acme', 's2', notification('acme', 's2', 'event-notification'))).toBe(1);
    expect([await a.next(), await a.next(), await b.next()].map(typeOf)).toEqual([
      'event-notification',
      'event-notification',
      'event-notification',
    ]);
    b.ws.close();
    await until(() => h.hub.boundCount('acme', 's1') === 1);
  });

  it('sends heartbeat Bundles on the interval', async () => {
    const h = await start({ heartbeatMs: 80 });
    const c = await client(h.url);
    c.ws.send('bind-with-token tok-a');
    await c.next();
    expect(typeOf(await c.next())).toBe('heartbeat');
    expect(typeOf(await c.next())).toBe('heartbeat');
  });

  it('a heartbeat builder that throws is logged and skipped', async () => {
    const h = await start({
      heartbeatMs: 50,
      heartbeat: () => {
        throw new Error('no');
      },
    });
    const c = await client(h.url);
    c.ws.send('bind-with-token tok-a');
    await c.next();
    await until(() => h.logs.some((l) => l.event === 'ws.heartbeat-failed'));
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('per-receiver frames', () => {
  it('publish with a function gives each receiver its own Bundle, or nothing', async () => {
    const h = await start();
    const ann = await client(h.url);
    const bob = await client(h.url);
    const bobPing = await client(h.url);
    ann.ws.send('bind-with-token tok-ann');
    bob.ws.send('bind-with-token tok-bob');
    bobPing.ws.send('bind tok-bob');
    await Promise.all([ann.next(), bob.next(), bobPing.next()]);
    expect(h.hub.receivers('acme', 's1').sort()).toEqual(['ann', 'bob']);
    expect(h.hub.bindings()).toEqual([{ tenant: 'acme', subscriptionId: 's1', receivers: ['ann', 'bob'] }]);
    const forAnn = notification('acme', 's1', 'event-notification');
    expect(h.hub.publish('acme', 's1', (r) => (r === 'ann' ? forAnn : undefined))).toBe(1);
    expect(JSON.parse(await ann.next())).toEqual(forAnn);
    // Neither a Bundle nor a classic ping reaches a receiver that is not told.
    await new Promise((r) => setTimeout(r, 50));
    expect(bob.frames).toEqual([]);
    expect(bobPing.frames).toEqual([]);
  });

  it('revoke closes the sockets bound as that receiver (1008) and only those', async () => {
    const h = await start();
    const ann = await client(h.url);
    const bob = await client(h.url);
    ann.ws.send('bind-with-token tok-ann');
    bob.ws.send('bind-with-token tok-bob');
    await Promise.all([ann.next(), bob.next()]);
    expect(h.hub.revoke('acme', 's1', 'bob', 'access revoked')).toBe(1);
    expect(await bob.next()).toBe('error access revoked');
    expect((await bob.closed).code).toBe(1008);
    expect(h.hub.receivers('acme', 's1')).toEqual(['ann']);
    expect(h.hub.publish('acme', 's1', notification('acme', 's1', 'event-notification'))).toBe(1);
    expect(typeOf(await ann.next())).toBe('event-notification');
  });
});

describe('R4 classic bind', () => {
  it('bound <id>, then ping <id> per notification, no heartbeat Bundles', async () => {
    const h = await start({ heartbeatMs: 50 });
    const c = await client(h.url);
    c.ws.send('bind tok-a');
    expect(await c.next()).toBe('bound s1');
    expect(h.hub.publish('acme', 's1', notification('acme', 's1', 'event-notification'))).toBe(1);
    expect(await c.next()).toBe('ping s1');
    await new Promise((r) => setTimeout(r, 200));
    expect(c.frames).toEqual([]);
  });
});

describe('bad input', () => {
  const cases: [string, string | Buffer][] = [
    ['unknown command', 'subscribe s1'],
    ['binary frame', Buffer.from('bind-with-token tok-a')],
    ['empty frame', ''],
  ];
  for (const [name, frame] of cases) {
    it(`${name}: error frame, close 1008`, async () => {
      const h = await start();
      const c = await client(h.url);
      c.ws.send(frame);
      expect(await c.next()).toMatch(/^error unknown command/);
      expect((await c.closed).code).toBe(1008);
    });
  }

  it('invalid token: error frame, close 1008, nothing bound', async () => {
    const h = await start();
    const c = await client(h.url);
    c.ws.send('bind-with-token nope');
    expect(await c.next()).toBe('error invalid or expired token');
    expect(await c.closed).toEqual({ code: 1008, reason: 'invalid or expired token' });
    expect(h.hub.boundCount('acme', 's1')).toBe(0);
  });

  it('a protocol error drops the bindings the socket already had', async () => {
    const h = await start();
    const c = await client(h.url);
    c.ws.send('bind-with-token tok-a');
    await c.next();
    c.ws.send('nonsense');
    expect((await c.closed).code).toBe(1008);
    expect(h.hub.boundCount('acme', 's1')).toBe(0);
  });

  it('resolver failure: error frame, close 1011, the server keeps serving', async () => {
    const h = await start();
    const c = await client(h.url);
    c.ws.send('bind-with-token boom');
    expect(await c.next()).toBe('error internal error');
    expect((await c.closed).code).toBe(1011);
    expect(JSON.stringify(h.logs)).not.toContain('database down');
    const again = await client(h.url);
    again.ws.send('bind-with-token tok-a');
    expect(typeOf(await again.next())).toBe('handshake');
  });

  it('oversized frame: close 1009', async () => {
    const h = await start({ maxMessageBytes: 64 });
    const c = await client(h.url);
    c.ws.send(`bind-with-token ${'x'.repeat(100)}`);
    expect((await c.closed).code).toBe(1009);
  });

  it('client gone while the token resolves: no binding left behind', async () => {
    const h = await start();
    const c = await client(h.url);
    c.ws.send('bind-with-token slow');
    c.ws.close();
    await c.closed;
    await new Promise((r) => setTimeout(r, 400));
    expect(h.hub.boundCount('acme', 's1')).toBe(0);
  });
});

describe('idle and dead sockets', () => {
  it('a socket that binds nothing within bindTimeoutMs is closed (1008); a bound one stays', async () => {
    const h = await start({ bindTimeoutMs: 300 });
    const idle = await client(h.url);
    const busy = await client(h.url);
    busy.ws.send('bind-with-token tok-a');
    await busy.next();
    const started = Date.now();
    expect((await idle.closed).code).toBe(1008);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(await idle.next()).toMatch(/^error no subscription bound within 300 ms/);
    await new Promise((r) => setTimeout(r, 200));
    expect(busy.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('a peer that stops answering pings is terminated', async () => {
    const h = await start({ heartbeatMs: 150 });
    const c = await client(h.url, { autoPong: false });
    c.ws.send('bind-with-token tok-a');
    await c.next();
    expect((await c.closed).code).toBe(1006);
    await until(() => h.hub.boundCount('acme', 's1') === 0);
    expect(h.logs.some((l) => l.event === 'ws.dead-peer')).toBe(true);
  });
});

describe('HTTP server integration', () => {
  it('another path: 404 when nobody else handles upgrades; plain HTTP still served', async () => {
    const h = await start();
    await expect(client(`ws://127.0.0.1:${h.port}/elsewhere`)).rejects.toThrow(/404/);
    const body = await new Promise<string>((resolve, reject) => {
      request({ host: '127.0.0.1', port: h.port, path: '/' }, (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve(b));
      })
        .on('error', reject)
        .end();
    });
    expect(body).toBe('http ok');
  });

  it('another path is left to another upgrade listener', async () => {
    const h = await start();
    let seen = '';
    h.server.on('upgrade', (req, socket) => {
      if (req.url === '/other') {
        seen = req.url;
        socket.destroy();
      }
    });
    await expect(client(`ws://127.0.0.1:${h.port}/other`)).rejects.toThrow();
    expect(seen).toBe('/other');
  });

  it('a garbage upgrade request does not crash the server', async () => {
    const h = await start();
    const reply = await new Promise<string>((resolve) => {
      const s = tcpConnect(h.port, '127.0.0.1', () =>
        s.write(`GET ${PATH} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`),
      );
      let b = '';
      s.on('data', (c) => (b += c));
      s.on('close', () => resolve(b));
      s.on('error', () => resolve(b));
    });
    expect(reply).toMatch(/^HTTP\/1.1 400/);
    const c = await client(h.url);
    c.ws.send('bind tok-a');
    expect(await c.next()).toBe('bound s1');
  });

  it('close(): clients get 1001, bindings are gone, new upgrades are refused', async () => {
    const h = await start();
    const c = await client(h.url);
    c.ws.send('bind-with-token tok-a');
    await c.next();
    await h.hub.close();
    expect((await c.closed).code).toBe(1001);
    expect(h.hub.boundCount('acme', 's1')).toBe(0);
    expect(h.hub.publish('acme', 's1', notification('acme', 's1', 'event-notification'))).toBe(0);
    await expect(client(h.url)).rejects.toThrow();
  });
});
