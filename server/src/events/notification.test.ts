/**
 * Notification Bundles against the R4 shapes of the Subscriptions R5 Backport IG ("Notifications",
 * "Payloads", profiles backport-subscription-notification-r4 and backport-subscription-status-r4), payload
 * content of a Subscription, and R4 channel header lines.
 */
import type { Bundle, Observation, Parameters, ParametersParameter, Subscription } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import {
  NOTIFICATION_BUNDLE_PROFILE,
  PAYLOAD_CONTENT_EXTENSION,
  SUBSCRIPTION_STATUS_PROFILE,
  buildNotificationBundle,
  buildStatusParameters,
  buildStatusSearchBundle,
  parseChannelHeaders,
  payloadContentOf,
  topicOf,
} from './notification.ts';
import type { NotificationEvent, NotificationInput, NotificationType, PayloadContent } from './notification.ts';

const BASE = 'https://haven.example/t/acme/fhir';
const FIXED = { newId: () => '11111111-2222-4333-8444-555555555555', now: () => new Date('2026-05-01T12:00:00.000Z') };

const obs = (id: string, versionId: string): Observation => ({
  resourceType: 'Observation',
  id,
  meta: { versionId },
  status: 'final',
  code: { text: 'PHQ-9 total' },
  valueInteger: 12,
});
const EVENTS: NotificationEvent[] = [
  {
    eventNumber: 7,
    timestamp: '2026-05-01T11:59:00.000Z',
    focus: { resourceType: 'Observation', id: 'o1', versionId: '1' },
    resource: obs('o1', '1'),
    method: 'POST',
  },
  {
    eventNumber: 8,
    timestamp: '2026-05-01T11:59:30.000Z',
    focus: { resourceType: 'Observation', id: 'o2', versionId: '3' },
    resource: obs('o2', '3'),
    additionalContext: [{ resourceType: 'Patient', id: 'p1' }],
  },
  {
    eventNumber: 9,
    timestamp: '2026-05-01T11:59:45.000Z',
    focus: { resourceType: 'Observation', id: 'o3', versionId: '4' },
    deleted: true,
  },
];

function input(type: NotificationType, content: PayloadContent, overrides: Partial<NotificationInput> = {}): NotificationInput {
  const events = type === 'event-notification' || type === 'query-event' ? EVENTS : [];
  return {
    baseUrl: BASE,
    subscriptionId: 'sub1',
    criteria: 'Observation?code=http://loinc.org|44261-6',
    status: 'active',
    type,
    eventsSinceSubscriptionStart: 9,
    events,
    content,
    ...overrides,
  };
}

const statusOf = (b: Bundle): Parameters => b.entry?.[0]?.resource as Parameters;
const params = (p: Parameters, name: string): ParametersParameter[] => (p.parameter ?? []).filter((x) => x.name === name);
const part = (p: ParametersParameter, name: string): ParametersParameter | undefined => p.part?.find((x) => x.name === name);

const TYPES: NotificationType[] = ['handshake', 'heartbeat', 'event-notification', 'query-status', 'query-event'];
const CONTENTS: PayloadContent[] = ['empty', 'id-only', 'full-resource'];

describe('buildNotificationBundle: every content × type', () => {
  for (const content of CONTENTS) {
    for (const type of TYPES) {
      it(`${content} × ${type}`, () => {
        const b = buildNotificationBundle(input(type, content), FIXED);
        const withEvents = type === 'event-notification' || type === 'query-event';
        // Bundle: history, R4 notification profile, status first (backport-notification-bundle-r4-1).
        expect(b).toMatchObject({
          resourceType: 'Bundle',
          type: 'history',
          timestamp: '2026-05-01T12:00:00.000Z',
          meta: { profile: [NOTIFICATION_BUNDLE_PROFILE] },
        });
        expect(b.entry?.[0]).toMatchObject({
          fullUrl: 'urn:uuid:11111111-2222-4333-8444-555555555555',
          request: { method: 'GET', url: `${BASE}/Subscription/sub1/$status` },
          response: { status: '200' },
        });
        const status = statusOf(b);
        expect(status.meta?.profile).toEqual([SUBSCRIPTION_STATUS_PROFILE]);
        expect(params(status, 'type')[0].valueCode).toBe(type);
        expect(params(status, 'events-since-subscription-start')[0]).toEqual({ name: 'events-since-subscription-start', valueString: '9' });
        const notificationEvents = params(status, 'notification-event');
        expect(notificationEvents).toHaveLength(withEvents ? 3 : 0);
        for (const ne of notificationEvents) {
          expect(part(ne, 'event-number')?.valueString).toMatch(/^[789]$/);
          expect(part(ne, 'timestamp')?.valueInstant).toMatch(/^2026-05-01T/);
          expect(part(ne, 'focus') !== undefined).toBe(content !== 'empty');
        }
        // Every entry of a history bundle has request and response (R4 bdl-3, bdl-4).
        for (const e of b.entry ?? []) expect(e.request && e.response).toBeTruthy();
        const eventEntries = (b.entry ?? []).slice(1);
        expect(eventEntries).toHaveLength(withEvents && content !== 'empty' ? 3 : 0);
        for (const e of eventEntries) {
          expect(e.fullUrl).toMatch(new RegExp(`^${BASE}/Observation/o[123]$`));
          expect(e.resource !== undefined).toBe(content === 'full-resource' && e.request?.method !== 'DELETE');
        }
        // empty: no resource id anywhere in the bundle.
        if (content === 'empty') expect(JSON.stringify(b)).not.toMatch(/Observation\/o\d|Patient\/p1/);
      });
    }
  }
});

describe('R4 shapes as the IG examples', () => {
  it('handshake (IG example r4-notification-handshake)', () => {
    const b = buildNotificationBundle({ ...input('handshake', 'id-only'), status: 'requested', eventsSinceSubscriptionStart: 0 }, FIXED);
    expect(statusOf(b)).toEqual({
      resourceType: 'Parameters',
      id: '11111111-2222-4333-8444-555555555555',
      meta: { profile: [SUBSCRIPTION_STATUS_PROFILE] },
      parameter: [
        { name: 'subscription', valueReference: { reference: `${BASE}/Subscription/sub1` } },
        { name: 'status', valueCode: 'requested' },
        { name: 'type', valueCode: 'handshake' },
        { name: 'events-since-subscription-start', valueString: '0' },
      ],
    });
    expect(b.entry).toHaveLength(1);
  });

  it('id-only event (IG example r4-notification-id-only): focus reference, entry without resource', () => {
    const b = buildNotificationBundle(
      input('event-notification', 'id-only', { events: [EVENTS[1]], eventsSinceSubscriptionStart: 8 }),
      FIXED,
    );
    expect(params(statusOf(b), 'notification-event')).toEqual([
      {
        name: 'notification-event',
        part: [
          { name: 'event-number', valueString: '8' },
          { name: 'timestamp', valueInstant: '2026-05-01T11:59:30.000Z' },
          { name: 'focus', valueReference: { reference: `${BASE}/Observation/o2` } },
          { name: 'additional-context', valueReference: { reference: `${BASE}/Patient/p1` } },
        ],
      },
    ]);
    expect(b.entry?.[1]).toEqual({
      fullUrl: `${BASE}/Observation/o2`,
      request: { method: 'PUT', url: 'Observation/o2' },
      response: { status: '200', etag: 'W/"3"' },
    });
  });

  it('full-resource create: POST {type}, 201, the resource', () => {
    const b = buildNotificationBundle(input('event-notification', 'full-resource', { events: [EVENTS[0]] }), FIXED);
    expect(b.entry?.[1]).toEqual({
      fullUrl: `${BASE}/Observation/o1`,
      resource: obs('o1', '1'),
      request: { method: 'POST', url: 'Observation' },
      response: { status: '201', etag: 'W/"1"' },
    });
  });

  it('empty event (IG example r4-notification-empty): event number and timestamp only', () => {
    const b = buildNotificationBundle(input('event-notification', 'empty', { events: [EVENTS[0]] }), FIXED);
    expect(params(statusOf(b), 'notification-event')[0].part).toEqual([
      { name: 'event-number', valueString: '7' },
      { name: 'timestamp', valueInstant: '2026-05-01T11:59:00.000Z' },
    ]);
  });

  it('error status (IG example r4-notification-error): error as CodeableConcept', () => {
    const p = buildStatusParameters({ ...input('query-status', 'id-only'), status: 'error', error: 'endpoint returned HTTP 500' });
    expect(params(p, 'error')).toEqual([{ name: 'error', valueCodeableConcept: { text: 'endpoint returned HTTP 500' } }]);
    expect(params(p, 'status')[0].valueCode).toBe('error');
  });
});

describe('deletes', () => {
  for (const content of ['id-only', 'full-resource'] as const) {
    it(`${content}: DELETE {type}/{id}, 204, no resource`, () => {
      const b = buildNotificationBundle(input('event-notification', content, { events: [EVENTS[2]] }), FIXED);
      expect(b.entry?.[1]).toEqual({
        fullUrl: `${BASE}/Observation/o3`,
        request: { method: 'DELETE', url: 'Observation/o3' },
        response: { status: '204', etag: 'W/"4"' },
      });
      expect(part(params(statusOf(b), 'notification-event')[0], 'focus')?.valueReference?.reference).toBe(`${BASE}/Observation/o3`);
    });
  }
  it('a resource passed with a delete is still left out', () => {
    const b = buildNotificationBundle(
      input('event-notification', 'full-resource', { events: [{ ...EVENTS[2], resource: obs('o3', '4') }] }),
      FIXED,
    );
    expect(b.entry?.[1].resource).toBeUndefined();
  });
  it('method DELETE alone marks a delete', () => {
    const b = buildNotificationBundle(
      input('event-notification', 'full-resource', { events: [{ ...EVENTS[1], method: 'DELETE' }] }),
      FIXED,
    );
    expect(b.entry?.[1]).toMatchObject({ request: { method: 'DELETE', url: 'Observation/o2' }, response: { status: '204' } });
    expect(b.entry?.[1].resource).toBeUndefined();
  });
});

describe('status-only types refuse events', () => {
  for (const type of ['handshake', 'heartbeat', 'query-status'] as const) {
    it(type, () => expect(() => buildNotificationBundle(input(type, 'id-only', { events: EVENTS }))).toThrow(/carries no events/));
  }
});

describe('topic', () => {
  const table: [string, PayloadContent, string | undefined][] = [
    ['Observation?code=http://loinc.org|44261-6', 'full-resource', undefined],
    ['Patient', 'id-only', undefined],
    ['http://hl7.org/SubscriptionTopic/admission', 'id-only', 'http://hl7.org/SubscriptionTopic/admission'],
    ['http://hl7.org/SubscriptionTopic/admission', 'full-resource', 'http://hl7.org/SubscriptionTopic/admission'],
    ['http://hl7.org/SubscriptionTopic/admission', 'empty', undefined],
    ['https://example.org/fhir/Observation?patient=123', 'full-resource', undefined],
  ];
  for (const [criteria, content, expected] of table) {
    it(`${criteria} (${content}) → ${expected ?? 'omitted'}`, () => {
      expect(topicOf(criteria, content)).toBe(expected);
      const p = buildStatusParameters({ ...input('heartbeat', content), criteria, content });
      expect(params(p, 'topic')).toEqual(expected ? [{ name: 'topic', valueCanonical: expected }] : []);
    });
  }
});

describe('buildStatusParameters defaults', () => {
  it('content defaults to empty: events without focus', () => {
    const p = buildStatusParameters({ ...input('query-event', 'id-only'), content: undefined, events: EVENTS });
    expect(params(p, 'notification-event').every((e) => part(e, 'focus') === undefined)).toBe(true);
  });
  it('a fresh random id each call', () => {
    const a = buildStatusParameters(input('heartbeat', 'empty'));
    const b = buildStatusParameters(input('heartbeat', 'empty'));
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.id).not.toBe(b.id);
  });
});

describe('buildStatusSearchBundle ($status)', () => {
  it('searchset of query-status Parameters, one per subscription', () => {
    let n = 0;
    const b = buildStatusSearchBundle(
      [
        { baseUrl: BASE, subscriptionId: 'a', criteria: 'Patient', status: 'active', eventsSinceSubscriptionStart: 3 },
        {
          baseUrl: BASE,
          subscriptionId: 'b',
          criteria: 'Observation',
          status: 'error',
          eventsSinceSubscriptionStart: 0,
          error: 'HTTP 410',
        },
      ],
      { newId: () => `id-${++n}` },
    );
    expect(b).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 2 });
    expect(b.entry?.map((e) => [e.fullUrl, e.search?.mode])).toEqual([
      ['urn:uuid:id-1', 'match'],
      ['urn:uuid:id-2', 'match'],
    ]);
    const [a, c] = (b.entry ?? []).map((e) => e.resource as Parameters);
    expect(params(a, 'type')[0].valueCode).toBe('query-status');
    expect(params(a, 'subscription')[0].valueReference?.reference).toBe(`${BASE}/Subscription/a`);
    expect(params(c, 'error')[0].valueCodeableConcept?.text).toBe('HTTP 410');
    expect(b.entry?.[0].request).toBeUndefined();
  });
  it('no subscriptions → empty searchset', () => {
    expect(buildStatusSearchBundle([])).toEqual({ resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] });
  });
});

describe('payloadContentOf', () => {
  const sub = (channel: Record<string, unknown>): Subscription =>
    ({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'r',
      criteria: 'Patient',
      channel: { type: 'rest-hook', ...channel },
    }) as Subscription;
  const ext = (valueCode: string) => ({ extension: [{ url: PAYLOAD_CONTENT_EXTENSION, valueCode }] });
  const table: [string, Record<string, unknown>, PayloadContent][] = [
    ['no payload', {}, 'empty'],
    ['blank payload', { payload: ' ' }, 'empty'],
    ['extension without a MIME type', { _payload: ext('full-resource') }, 'empty'],
    ['payload, no extension (Haven default)', { payload: 'application/fhir+json' }, 'id-only'],
    ['payload + empty', { payload: 'application/fhir+json', _payload: ext('empty') }, 'empty'],
    ['payload + id-only', { payload: 'application/fhir+json', _payload: ext('id-only') }, 'id-only'],
    ['payload + full-resource', { payload: 'application/fhir+json', _payload: ext('full-resource') }, 'full-resource'],
    ['extension on channel (tolerated)', { payload: 'application/fhir+json', ...ext('full-resource') }, 'full-resource'],
    [
      'other extensions ignored',
      { payload: 'application/fhir+json', _payload: { extension: [{ url: 'urn:x', valueCode: 'full-resource' }] } },
      'id-only',
    ],
  ];
  for (const [name, channel, expected] of table) it(name, () => expect(payloadContentOf(sub(channel))).toBe(expected));
  it('the default for a bare MIME type is configurable', () => {
    expect(payloadContentOf(sub({ payload: 'application/fhir+json' }), 'full-resource')).toBe('full-resource');
  });
  it('refuses an unknown code', () => {
    expect(() => payloadContentOf(sub({ payload: 'application/fhir+json', _payload: ext('everything') }))).toThrow(
      /empty \| id-only \| full-resource/,
    );
  });
});

describe('parseChannelHeaders', () => {
  const sub = (header: string[]): Subscription =>
    ({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'r',
      criteria: 'Patient',
      channel: { type: 'rest-hook', header },
    }) as Subscription;
  const ok: [string, [string, string]][] = [
    ['Authorization: Bearer s3cr3t', ['Authorization', 'Bearer s3cr3t']],
    ['X-Api-Key:abc', ['X-Api-Key', 'abc']],
    ['X-Callback:  https://a.example:8443/x  ', ['X-Callback', 'https://a.example:8443/x']],
    ['X-Empty:', ['X-Empty', '']],
    ['X-Tab: a\tb', ['X-Tab', 'a\tb']],
  ];
  for (const [line, pair] of ok) it(`accepts ${JSON.stringify(line)}`, () => expect(parseChannelHeaders(sub([line]))).toEqual([pair]));
  it('keeps order and duplicates; no header → []', () => {
    expect(parseChannelHeaders(sub(['A: 1', 'B: 2', 'A: 3']))).toEqual([
      ['A', '1'],
      ['B', '2'],
      ['A', '3'],
    ]);
    expect(parseChannelHeaders({ resourceType: 'Subscription' } as Subscription)).toEqual([]);
  });
  const bad: [string, RegExp][] = [
    ['NoColonHere', /header\[0\] must be "Name: value"/],
    [': value', /invalid header name/],
    ['Bad Name: v', /invalid header name/],
    ['X-Bad\u00e9: v', /invalid header name/],
    ['X-Inject: a\r\nHost: evil', /control character/],
    ['X-Nul: a\u0000b', /control character/],
    ['Host: evil.example', /Host header is set by the server/],
    ['content-length: 5', /content-length header/],
    ['Transfer-Encoding: chunked', /Transfer-Encoding header/],
    ['Connection: close', /Connection header/],
    ['Upgrade: websocket', /Upgrade header/],
    ['Content-Type: text/plain', /Content-Type header/],
    ['Expect: 100-continue', /Expect header/],
    ['Proxy-Authorization: Basic eA==', /Proxy-Authorization header/],
    ['TE: trailers', /TE header/],
    ['Keep-Alive: timeout=5', /Keep-Alive header/],
    ['X-Unicode: \u2603', /character HTTP headers cannot carry/],
    [`X-Long: ${'a'.repeat(5000)}`, /longer than 4096/],
  ];
  for (const [line, message] of bad) {
    it(`refuses ${JSON.stringify(line.slice(0, 40))}`, () => expect(() => parseChannelHeaders(sub([line]))).toThrow(message));
  }
  it('refuses more than 20 lines', () => {
    expect(() => parseChannelHeaders(sub(Array.from({ length: 21 }, (_, i) => `X-${i}: v`)))).toThrow(/more than 20 lines/);
    expect(parseChannelHeaders(sub(Array.from({ length: 20 }, (_, i) => `X-${i}: v`)))).toHaveLength(20);
  });
  it('names the offending line and never echoes a value', () => {
    let message = '';
    try {
      parseChannelHeaders(sub(['Authorization: Bearer ok', 'X-Secret: hunter\n2']));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/header\[1\] \(X-Secret\)/);
    expect(message).not.toContain('hunter');
  });
});
