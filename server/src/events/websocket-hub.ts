/**
 * The `websocket` channel (Subscriptions R5 Backport IG, "Channels → Websockets"): a client gets a binding
 * token from `$get-ws-binding-token` (elsewhere), opens a websocket on {@link WebSocketHubOptions.path}, sends
 * `bind-with-token <token>`, and receives a `handshake` notification Bundle, then event notifications and
 * periodic `heartbeat` Bundles. One socket may bind several subscriptions (the IG recommends it: browsers cap
 * concurrent websockets).
 *
 * Also the FHIR R4 classic form (R4 Subscription "websocket" channel): `bind <token>` is answered
 * `bound <subscription-id>`, and each notification is a `ping <subscription-id>` text frame, no Bundle.
 * Haven takes a binding token where R4 took a bare subscription id, so knowing an id is not enough to listen.
 *
 * Each binding remembers its receiver (who asked for the token, as a key the resolver gives): the events layer
 * decides per receiver what a notification may show (./ws-fanout.ts), publishes with a frame per receiver, and
 * revokes the bindings of a receiver that can no longer receive.
 *
 * Bad input closes the socket with 1008 (policy violation) after an `error <reason>` text frame. Tokens,
 * Bundles and reasons from the resolver are never logged. Nothing here throws into the HTTP server.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Bundle } from '@medplum/fhirtypes';
import { WebSocket, WebSocketServer } from 'ws';
import type { RawData } from 'ws';

/** What a valid binding token stands for. */
export interface BindingResolution {
  tenant: string;
  subscriptionId: string;
  /** Handshake notification Bundle to send (IG: "Server sends one or more handshake messages"). */
  handshake: Bundle;
  /** Who bound (opaque to the hub): {@link WebSocketHub.publish} may give each receiver its own frame. */
  receiver?: string;
}

/** A Bundle for every bound socket, or one per receiver (undefined: that receiver is not told). */
export type Publication = Bundle | ((receiver: string | undefined) => Bundle | undefined);

/** Configuration of {@link createWebSocketHub}. */
export interface WebSocketHubOptions {
  /** Resolves a binding token (single use or time-limited: the resolver decides); undefined = refused. */
  resolveToken(token: string): Promise<BindingResolution | undefined>;
  /** Interval of heartbeat Bundles and of the ping/pong liveness check; default 30 s. */
  heartbeatMs?: number;
  /** Heartbeat notification Bundle for one bound subscription. */
  heartbeat(tenant: string, subscriptionId: string): Bundle;
  /** Path the upgrade is accepted on, e.g. `/ws/subscriptions`. */
  path: string;
  /** Structured log sink (never given tokens or Bundles). */
  log?: (event: Record<string, unknown>) => void;
  /** A socket that has not bound a subscription within this time is closed (1008); default 30 s. */
  bindTimeoutMs?: number;
  /** Largest client frame accepted; larger ones close the socket with 1009. Default 4 KiB (a bind line). */
  maxMessageBytes?: number;
  /** A client that lets more than this much outgoing data pile up is disconnected; default 16 MiB. */
  maxBufferedBytes?: number;
}

/** The hub returned by {@link createWebSocketHub}. */
export interface WebSocketHub {
  /** Accepts websocket upgrades on `path` of `server`; other paths are left to other upgrade listeners (404 if none). */
  attach(server: Server): void;
  /** Sends to every socket bound to that subscription (per receiver when given a function); returns how many received it. */
  publish(tenant: string, subscriptionId: string, bundle: Publication): number;
  /** Sockets currently bound to that subscription. */
  boundCount(tenant: string, subscriptionId: string): number;
  /** The distinct receivers bound to that subscription. */
  receivers(tenant: string, subscriptionId: string): (string | undefined)[];
  /** Every bound subscription with its distinct receivers. */
  bindings(): { tenant: string; subscriptionId: string; receivers: (string | undefined)[] }[];
  /**
   * Closes (1008, `error <reason>`) every socket bound to that subscription as that receiver; returns how many.
   * The whole socket goes: its caller can no longer receive, whatever else it bound.
   */
  revoke(tenant: string, subscriptionId: string, receiver: string | undefined, reason: string): number;
  /** Stops accepting upgrades, closes every socket (1001) and stops the timers. */
  close(): Promise<void>;
}

/** A client command: `bind-with-token` (Backport IG) or `bind` (R4 classic, answered with pings). */
export interface ClientCommand {
  command: 'bind-with-token' | 'bind';
  token: string;
}

/** Parses one client text frame; undefined for anything that is not exactly `<command> <token>`. */
export function parseClientMessage(text: string): ClientCommand | undefined {
  const m = /^(bind-with-token|bind) +(\S{1,2048})$/.exec(text.trim());
  return m ? { command: m[1] as ClientCommand['command'], token: m[2] } : undefined;
}

type Mode = 'bundle' | 'ping';

interface Binding {
  mode: Mode;
  receiver: string | undefined;
}

interface Connection {
  ws: WebSocket;
  /** Subscription key → how notifications are framed for it, and who bound it. */
  bindings: Map<string, Binding>;
  alive: boolean;
  bindTimer?: NodeJS.Timeout;
}

const key = (tenant: string, subscriptionId: string): string => `${tenant}\u0000${subscriptionId}`;

/** Close codes (RFC 6455 §7.4.1). */
const CLOSE = { goingAway: 1001, policy: 1008, internal: 1011 } as const;

/** Creates a hub; call `attach` on the HTTP server(s) that should accept the upgrade. */
export function createWebSocketHub(opts: WebSocketHubOptions): WebSocketHub {
  const heartbeatMs = opts.heartbeatMs ?? 30_000;
  const bindTimeoutMs = opts.bindTimeoutMs ?? 30_000;
  const maxBuffered = opts.maxBufferedBytes ?? 16 * 1024 * 1024;
  const log = (event: Record<string, unknown>): void => {
    try {
      opts.log?.(event);
    } catch {
      // A failing log sink must not take the hub down.
    }
  };
  const wss = new WebSocketServer({ noServer: true, clientTracking: false, maxPayload: opts.maxMessageBytes ?? 4096 });
  const connections = new Set<Connection>();
  const bound = new Map<string, Set<Connection>>();
  const attached: [Server, (req: IncomingMessage, socket: Duplex, head: Buffer) => void][] = [];
  let closed = false;

  function unbindAll(conn: Connection): void {
    for (const k of conn.bindings.keys()) {
      const set = bound.get(k);
      set?.delete(conn);
      if (set?.size === 0) bound.delete(k);
    }
    conn.bindings.clear();
  }

  /** Queues a frame; false if the socket is not open or was dropped for not keeping up. */
  function send(conn: Connection, data: string): boolean {
    const { ws } = conn;
    if (ws.readyState !== WebSocket.OPEN) return false;
    if (ws.bufferedAmount > maxBuffered) {
      log({ event: 'ws.slow-consumer', bufferedBytes: ws.bufferedAmount });
      ws.terminate();
      return false;
    }
    ws.send(data, (err) => {
      if (err) {
        log({ event: 'ws.send-failed', error: err.name });
        ws.terminate();
      }
    });
    return true;
  }

  function refuse(conn: Connection, reason: string, code: number): void {
    log({ event: 'ws.refused', reason, code });
    unbindAll(conn);
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    conn.ws.send(`error ${reason}`);
    conn.ws.close(code, reason);
  }

  async function onMessage(conn: Connection, data: RawData, isBinary: boolean): Promise<void> {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const text = isBinary ? undefined : bytes.toString('utf8');
    const cmd = text === undefined ? undefined : parseClientMessage(text);
    if (!cmd) return refuse(conn, 'unknown command; expected "bind-with-token <token>" or "bind <token>"', CLOSE.policy);
    let resolution: BindingResolution | undefined;
    try {
      resolution = await opts.resolveToken(cmd.token);
    } catch (err) {
      log({ event: 'ws.resolve-failed', error: err instanceof Error ? err.name : typeof err });
      return refuse(conn, 'internal error', CLOSE.internal);
    }
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    if (!resolution) return refuse(conn, 'invalid or expired token', CLOSE.policy);
    const { tenant, subscriptionId, handshake } = resolution;
    const k = key(tenant, subscriptionId);
    const mode: Mode = cmd.command === 'bind' ? 'ping' : 'bundle';
    conn.bindings.set(k, { mode, receiver: resolution.receiver });
    let set = bound.get(k);
    if (!set) bound.set(k, (set = new Set()));
    set.add(conn);
    clearTimeout(conn.bindTimer);
    log({ event: 'ws.bound', tenant, subscriptionId, mode });
    send(conn, mode === 'ping' ? `bound ${subscriptionId}` : JSON.stringify(handshake));
  }

  function onConnection(ws: WebSocket): void {
    const conn: Connection = { ws, bindings: new Map(), alive: true };
    connections.add(conn);
    conn.bindTimer = setTimeout(() => {
      if (conn.bindings.size === 0) refuse(conn, `no subscription bound within ${bindTimeoutMs} ms`, CLOSE.policy);
    }, bindTimeoutMs);
    conn.bindTimer.unref();
    ws.on('pong', () => (conn.alive = true));
    ws.on('error', (err) => log({ event: 'ws.error', error: (err as NodeJS.ErrnoException).code ?? err.name }));
    ws.on('close', (code) => {
      clearTimeout(conn.bindTimer);
      unbindAll(conn);
      connections.delete(conn);
      log({ event: 'ws.closed', code });
    });
    ws.on('message', (data, isBinary) => {
      onMessage(conn, data, isBinary).catch((err: unknown) => {
        log({ event: 'ws.internal', error: err instanceof Error ? err.name : typeof err });
        ws.terminate();
      });
    });
  }

  /** One tick: drop sockets that did not answer the last ping, ping the rest, send heartbeats. */
  function tick(): void {
    for (const conn of connections) {
      if (!conn.alive) {
        log({ event: 'ws.dead-peer' });
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      try {
        conn.ws.ping();
      } catch {
        conn.ws.terminate();
      }
    }
    for (const [k, set] of bound) {
      const listeners = [...set].filter((c) => c.bindings.get(k)?.mode === 'bundle');
      if (listeners.length === 0) continue;
      const [tenant, subscriptionId] = k.split('\u0000');
      let json: string;
      try {
        json = JSON.stringify(opts.heartbeat(tenant, subscriptionId));
      } catch (err) {
        log({ event: 'ws.heartbeat-failed', tenant, subscriptionId, error: err instanceof Error ? err.name : typeof err });
        continue;
      }
      for (const conn of listeners) send(conn, json);
    }
  }
  const timer = setInterval(tick, heartbeatMs);
  timer.unref();

  return {
    attach(server: Server): void {
      const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
        try {
          const pathname = (req.url ?? '').split('?')[0];
          if (pathname !== opts.path) {
            // Another listener may own this path; answer only when nobody else will.
            if (server.listenerCount('upgrade') === 1)
              socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
            return;
          }
          if (closed) {
            socket.destroy();
            return;
          }
          socket.on('error', () => socket.destroy());
          wss.handleUpgrade(req, socket, head, onConnection);
        } catch (err) {
          log({ event: 'ws.upgrade-failed', error: err instanceof Error ? err.name : typeof err });
          socket.destroy();
        }
      };
      server.on('upgrade', onUpgrade);
      attached.push([server, onUpgrade]);
    },

    publish(tenant: string, subscriptionId: string, bundle: Publication): number {
      const k = key(tenant, subscriptionId);
      const json = new Map<Bundle, string>();
      let delivered = 0;
      for (const conn of bound.get(k) ?? []) {
        const binding = conn.bindings.get(k);
        if (!binding) continue;
        const b = typeof bundle === 'function' ? bundle(binding.receiver) : bundle;
        if (!b) continue;
        let frame = `ping ${subscriptionId}`;
        if (binding.mode === 'bundle') {
          frame = json.get(b) ?? JSON.stringify(b);
          json.set(b, frame);
        }
        if (send(conn, frame)) delivered++;
      }
      return delivered;
    },

    boundCount(tenant: string, subscriptionId: string): number {
      return bound.get(key(tenant, subscriptionId))?.size ?? 0;
    },

    receivers(tenant: string, subscriptionId: string): (string | undefined)[] {
      const k = key(tenant, subscriptionId);
      return [...new Set([...(bound.get(k) ?? [])].map((c) => c.bindings.get(k)?.receiver))];
    },

    bindings() {
      return [...bound].map(([k, set]) => {
        const [tenant, subscriptionId] = k.split('\u0000');
        return { tenant, subscriptionId, receivers: [...new Set([...set].map((c) => c.bindings.get(k)?.receiver))] };
      });
    },

    revoke(tenant: string, subscriptionId: string, receiver: string | undefined, reason: string): number {
      const k = key(tenant, subscriptionId);
      const victims = [...(bound.get(k) ?? [])].filter((c) => c.bindings.get(k)?.receiver === receiver);
      for (const conn of victims) refuse(conn, reason, CLOSE.policy);
      return victims.length;
    },

    async close(): Promise<void> {
      closed = true;
      clearInterval(timer);
      for (const [server, onUpgrade] of attached.splice(0)) server.off('upgrade', onUpgrade);
      const waits = [...connections].map(
        (conn) =>
          new Promise<void>((resolve) => {
            if (conn.ws.readyState === WebSocket.CLOSED) return resolve();
            conn.ws.once('close', () => resolve());
            unbindAll(conn);
            conn.ws.close(CLOSE.goingAway, 'server shutting down');
            // A peer that never answers the close frame is cut off rather than holding shutdown for ws's 30 s.
            setTimeout(() => conn.ws.terminate(), 1_000).unref();
          }),
      );
      await Promise.all(waits);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
