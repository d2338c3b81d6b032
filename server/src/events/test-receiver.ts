/**
 * Test support: a rest-hook receiver on a free port that records every notification Bundle, and can be told to
 * fail (HTTP 503) for a while to play a receiver that is down.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, Parameters } from '@medplum/fhirtypes';

/** One received notification. */
export interface Received {
  bundle: Bundle;
  headers: IncomingHttpHeaders;
  /** The status Parameters' `type`. */
  type: string;
  /** Event numbers of the notification's events. */
  eventNumbers: number[];
  /** `focus` references of its events. */
  focus: string[];
}

/** A running receiver. */
export interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Answer 503 to everything while true. */
  down: boolean;
  /** Notifications of type event-notification. */
  events(): Received[];
  waitFor(predicate: (r: Received[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

function summarize(bundle: Bundle, headers: IncomingHttpHeaders): Received {
  const status = bundle.entry?.[0]?.resource as Parameters | undefined;
  const params = status?.parameter ?? [];
  const events = params.filter((p) => p.name === 'notification-event');
  return {
    bundle,
    headers,
    type: params.find((p) => p.name === 'type')?.valueCode ?? '',
    eventNumbers: events.map((e) => Number(e.part?.find((x) => x.name === 'event-number')?.valueString)),
    focus: events.map((e) => e.part?.find((x) => x.name === 'focus')?.valueReference?.reference ?? ''),
  };
}

/** Starts a receiver on 127.0.0.1. */
export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const state = { down: false };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.down) {
        res.writeHead(503).end();
        return;
      }
      try {
        received.push(summarize(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Bundle, req.headers));
        res.writeHead(200).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    get down() {
      return state.down;
    },
    set down(v: boolean) {
      state.down = v;
    },
    events: () => received.filter((r) => r.type === 'event-notification'),
    async waitFor(predicate, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      while (!predicate(received)) {
        if (Date.now() > until) throw new Error(`receiver: condition not met in ${timeoutMs} ms (${received.length} received)`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
