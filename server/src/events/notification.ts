/**
 * Notification Bundles of the HL7 FHIR Subscriptions R5 Backport IG in their R4 representation
 * (`http://hl7.org/fhir/uv/subscriptions-backport`, STU 1.1 / 1.2 ballot): a `history` Bundle whose first entry
 * is a `Parameters` resource with the status information (profiles `backport-subscription-notification-r4` and
 * `backport-subscription-status-r4`), followed by one entry per event resource as the payload content allows.
 *
 * Also here, because they read the same Subscription: the payload content level of a Subscription and its
 * R4 `channel.header` lines.
 *
 * Pure: no I/O. Random ids and the clock are injectable so tests can pin them.
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Extension, Parameters, ParametersParameter, Resource, Subscription } from '@medplum/fhirtypes';

/** Profile of the notification Bundle (IG "Notifications", R4). */
export const NOTIFICATION_BUNDLE_PROFILE =
  'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4';
/** Profile of the status `Parameters` (IG "Notifications", R4: BackportSubscriptionStatusR4). */
export const SUBSCRIPTION_STATUS_PROFILE =
  'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4';

/** Extension on `Subscription.channel.payload` with the content level (IG "Payloads", BackportPayloadContent). */
export const PAYLOAD_CONTENT_EXTENSION = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content';

/** How much of a resource a notification carries (IG "Payloads": backport-content-value-set). */
export type PayloadContent = 'empty' | 'id-only' | 'full-resource';

const PAYLOAD_CONTENTS: ReadonlySet<string> = new Set<PayloadContent>(['empty', 'id-only', 'full-resource']);

/** `SubscriptionStatus.type` codes (ValueSet subscription-notification-type). */
export type NotificationType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status' | 'query-event';

/** R4 `Subscription.status` codes. */
export type SubscriptionStatusCode = 'requested' | 'active' | 'error' | 'off';

/** Reference target of a notification: a resource of this tenant. */
export interface FocusRef {
  resourceType: string;
  id: string;
  versionId?: string;
}

/** One event of a subscription, as numbered by the outbox. */
export interface NotificationEvent {
  /** Per-subscription event number (IG: `notification-event.event-number`). */
  eventNumber: number;
  /** FHIR instant at which the event happened on the server. */
  timestamp: string;
  focus: FocusRef;
  /** The version the event is about; absent for a delete. */
  resource?: Resource;
  deleted?: boolean;
  /**
   * HTTP method of the write (as stored in the history table). Sets `entry.request`: POST → `POST {type}`,
   * PUT/PATCH → `{method} {type}/{id}`. Absent: DELETE when `deleted`, otherwise PUT (an update is always a
   * truthful description of a new version; the IG allows any request that "makes sense").
   */
  method?: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Other resources relevant to the event (IG `additional-context`); listed by reference only. */
  additionalContext?: readonly FocusRef[];
}

/** Everything a notification Bundle is built from. */
export interface NotificationInput {
  /** FHIR base of the tenant, without a trailing slash (e.g. `https://haven.example/t/acme/fhir`). */
  baseUrl: string;
  subscriptionId: string;
  /** `Subscription.criteria`: a search string (Haven) or a topic canonical (Backport clients); see {@link topicOf}. */
  criteria: string;
  status: SubscriptionStatusCode;
  type: NotificationType;
  /** Events generated since the subscription started, inclusive of these ones; not bumped by handshakes/heartbeats. */
  eventsSinceSubscriptionStart: number;
  events: readonly NotificationEvent[];
  content: PayloadContent;
  /** Human-readable error on the subscription, carried as `error.valueCodeableConcept.text`. Must not contain PHI. */
  error?: string;
}

/** Input of {@link buildStatusParameters}: events are optional and `content` defaults to `empty` (no references). */
export type StatusInput = Omit<NotificationInput, 'events' | 'content' | 'type'> & {
  type: NotificationType;
  events?: readonly NotificationEvent[];
  content?: PayloadContent;
};

/** Injectable randomness and clock, for deterministic tests. */
export interface BuildOptions {
  /** Id of the status Parameters (its fullUrl is `urn:uuid:{id}`); default `crypto.randomUUID`. */
  newId?: () => string;
  /** Bundle.timestamp; default now. */
  now?: () => Date;
}

/** Notification types that carry events; the others carry status only (R4B SubscriptionStatus "Notification Types"). */
const EVENT_TYPES: ReadonlySet<NotificationType> = new Set(['event-notification', 'query-event']);

/**
 * Topic canonical for the status `topic` parameter, or undefined.
 *
 * The parameter is `valueCanonical` 0..1. Haven subscriptions use R4 criteria strings (`Observation?code=…`),
 * which are not canonicals and may embed patient ids, so they are never copied there: the parameter is
 * omitted. A Backport-style subscription that puts a topic canonical URL in `criteria` gets it echoed back.
 * The profile also says `topic` SHOULD NOT be present for `empty` payloads, so it is dropped there too.
 */
export function topicOf(criteria: string, content: PayloadContent): string | undefined {
  if (content === 'empty') return undefined;
  return /^https?:\/\/[^\s?#]+$/.test(criteria) ? criteria : undefined;
}

function absoluteUrl(baseUrl: string, ref: FocusRef): string {
  return `${baseUrl}/${ref.resourceType}/${ref.id}`;
}

function checkEvents(type: NotificationType, events: readonly NotificationEvent[]): void {
  if (events.length > 0 && !EVENT_TYPES.has(type)) {
    throw new Error(`A ${type} notification carries no events (got ${events.length})`);
  }
}

function eventParameter(baseUrl: string, event: NotificationEvent, content: PayloadContent): ParametersParameter {
  const part: ParametersParameter[] = [
    { name: 'event-number', valueString: String(event.eventNumber) },
    { name: 'timestamp', valueInstant: event.timestamp },
  ];
  // IG "Payloads → Empty": focus and additional-context SHALL NOT be present; id-only and full-resource SHALL
  // carry the focus.
  if (content !== 'empty') {
    part.push({ name: 'focus', valueReference: { reference: absoluteUrl(baseUrl, event.focus) } });
    for (const ctx of event.additionalContext ?? []) {
      part.push({ name: 'additional-context', valueReference: { reference: absoluteUrl(baseUrl, ctx) } });
    }
  }
  return { name: 'notification-event', part };
}

/**
 * The status `Parameters` (profile backport-subscription-status-r4, IG "Notifications"): `subscription`,
 * `topic` (see {@link topicOf}), `status`, `type`, `events-since-subscription-start` and `event-number` as
 * `valueString` (R4 has no integer64, the IG encodes them as strings), one `notification-event` per event
 * and an `error` when given.
 */
export function buildStatusParameters(input: StatusInput, options: BuildOptions = {}): Parameters {
  const content = input.content ?? 'empty';
  const events = input.events ?? [];
  checkEvents(input.type, events);
  const topic = topicOf(input.criteria, content);
  const parameter: ParametersParameter[] = [
    { name: 'subscription', valueReference: { reference: `${input.baseUrl}/Subscription/${input.subscriptionId}` } },
    ...(topic ? [{ name: 'topic', valueCanonical: topic }] : []),
    { name: 'status', valueCode: input.status },
    { name: 'type', valueCode: input.type },
    { name: 'events-since-subscription-start', valueString: String(input.eventsSinceSubscriptionStart) },
    ...events.map((e) => eventParameter(input.baseUrl, e, content)),
    ...(input.error ? [{ name: 'error', valueCodeableConcept: { text: input.error } }] : []),
  ];
  return {
    resourceType: 'Parameters',
    id: (options.newId ?? randomUUID)(),
    meta: { profile: [SUBSCRIPTION_STATUS_PROFILE] },
    parameter,
  };
}

/**
 * `entry.request`/`entry.response` of an event entry. R4 invariants bdl-3 and bdl-4 require both on every
 * entry of a `history` Bundle; the values follow the repository's own history entries (201 for version 1,
 * 204 for deletes, 200 otherwise).
 */
function eventEntry(baseUrl: string, event: NotificationEvent, withResource: boolean): BundleEntry {
  const { resourceType, id, versionId } = event.focus;
  const method = event.method ?? (event.deleted ? 'DELETE' : 'PUT');
  const deleted = event.deleted === true || method === 'DELETE';
  const status = deleted ? '204' : versionId === '1' ? '201' : '200';
  return {
    fullUrl: absoluteUrl(baseUrl, event.focus),
    ...(withResource && !deleted && event.resource ? { resource: event.resource } : {}),
    request: { method: deleted ? 'DELETE' : method, url: method === 'POST' && !deleted ? resourceType : `${resourceType}/${id}` },
    response: { status, ...(versionId ? { etag: `W/"${versionId}"` } : {}) },
  };
}

/**
 * A notification Bundle (profile backport-subscription-notification-r4): `type: history`, first entry the
 * status Parameters with `request: GET {base}/Subscription/{id}/$status` (IG "Notifications → Bundle Type
 * Considerations"), then per event, by payload content (IG "Payloads"):
 * - `empty`: nothing else; no resource ids anywhere, not even in the status;
 * - `id-only`: an entry with `fullUrl`, `request` and `response` but no `resource`;
 * - `full-resource`: the same entry with the `resource` (deletes never carry one: DELETE request only).
 * @throws Error when a handshake, heartbeat or query-status notification is given events.
 */
export function buildNotificationBundle(input: NotificationInput, options: BuildOptions = {}): Bundle {
  const status = buildStatusParameters(input, options);
  const statusEntry: BundleEntry = {
    fullUrl: `urn:uuid:${status.id}`,
    resource: status,
    request: { method: 'GET', url: `${input.baseUrl}/Subscription/${input.subscriptionId}/$status` },
    response: { status: '200' },
  };
  const eventEntries =
    input.content === 'empty' ? [] : input.events.map((e) => eventEntry(input.baseUrl, e, input.content === 'full-resource'));
  return {
    resourceType: 'Bundle',
    meta: { profile: [NOTIFICATION_BUNDLE_PROFILE] },
    type: 'history',
    timestamp: (options.now?.() ?? new Date()).toISOString(),
    entry: [statusEntry, ...eventEntries],
  };
}

/**
 * Result of `GET [base]/Subscription/{id}/$status` or `Subscription/$status` (IG OperationDefinition
 * backport-subscription-status: "a bundle containing one or more subscription status resources, one per
 * Subscription being queried. The Bundle type is searchset"). Each status is of type `query-status`.
 */
export function buildStatusSearchBundle(statuses: readonly Omit<StatusInput, 'type' | 'events'>[], options: BuildOptions = {}): Bundle {
  const entry: BundleEntry[] = statuses.map((s) => {
    const resource = buildStatusParameters({ ...s, type: 'query-status' }, options);
    return { fullUrl: `urn:uuid:${resource.id}`, resource, search: { mode: 'match' } };
  });
  return { resourceType: 'Bundle', type: 'searchset', total: entry.length, entry };
}

/**
 * The payload content level of a Subscription.
 *
 * - No `channel.payload` MIME type → `empty`: R4 Subscription.channel.payload says "If the payload is not
 *   present, then there is no payload in the notification, just a notification", whatever a content code says.
 * - Otherwise the `backport-payload-content` extension on `channel.payload` (JSON: `channel._payload.extension`;
 *   IG profile backport-subscription, where it is 1..1). Tolerated: the same extension on `channel` itself,
 *   where some clients put it.
 * - A MIME type without the extension has no IG rule (the profile requires the extension; plain R4 would POST
 *   the whole resource). Haven uses `defaultWithPayload`, `id-only` unless told otherwise: the IG "Payloads"
 *   page asks for "the minimum level of detail consistent with the use case" and calls id-only the usual
 *   balance, and a behavioral-health server should not push PHI to an endpoint that did not ask for it.
 * @throws Error when the extension holds a code outside backport-content-value-set.
 */
export function payloadContentOf(subscription: Subscription, defaultWithPayload: PayloadContent = 'id-only'): PayloadContent {
  const channel = subscription.channel as (Subscription['channel'] & { _payload?: { extension?: Extension[] } }) | undefined;
  if (!channel?.payload?.trim()) return 'empty';
  const ext = [...(channel._payload?.extension ?? []), ...(channel.extension ?? [])].find((e) => e.url === PAYLOAD_CONTENT_EXTENSION);
  if (!ext) return defaultWithPayload;
  const code = ext.valueCode;
  if (code === undefined || !PAYLOAD_CONTENTS.has(code)) {
    throw new Error(
      `Subscription.channel.payload content must be one of empty | id-only | full-resource, got ${JSON.stringify(code ?? null)}`,
    );
  }
  return code as PayloadContent;
}

/** RFC 9110 §5.6.2 token: the characters allowed in a field name. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Fields a subscriber may not set: hop-by-hop fields (RFC 9110 §7.6.1), those the sender owns (Host, framing,
 * and Content-Type, which the IG "Channels → REST-Hook" ties to `channel.payload`), `Expect` (100-continue
 * changes how the request is sent) and proxy credentials (no proxy is used; a proxy-bound secret has no business
 * reaching the receiver).
 */
const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'http2-settings',
  'content-type',
  'expect',
  'proxy-authorization',
  'proxy-authenticate',
]);

/** At most this many header lines, each at most this long: they are sent with every notification. */
export const MAX_HEADER_LINES = 20;
export const MAX_HEADER_LINE_LENGTH = 4096;

/**
 * R4 `Subscription.channel.header` lines ("Name: value", IG "Channels → REST-Hook": "Each Subscription.header
 * value SHALL be conveyed as an HTTP request header") as `[name, value]` pairs, value trimmed of optional
 * whitespace. Error messages name the line and the field but never echo a value (they are often secrets).
 * @throws Error on a line without a colon, an empty or non-token name, a control character or a character outside
 *   Latin-1 in the value (RFC 9110 §5.5 field-value), a forbidden field, too many or too long lines.
 */
export function parseChannelHeaders(subscription: Subscription): [string, string][] {
  const lines = subscription.channel?.header ?? [];
  if (lines.length > MAX_HEADER_LINES) throw new Error(`Subscription.channel.header has more than ${MAX_HEADER_LINES} lines`);
  return lines.map((line, i): [string, string] => {
    const where = `Subscription.channel.header[${i}]`;
    if (line.length > MAX_HEADER_LINE_LENGTH) throw new Error(`${where} is longer than ${MAX_HEADER_LINE_LENGTH} characters`);
    const colon = line.indexOf(':');
    if (colon < 0) throw new Error(`${where} must be "Name: value"`);
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (!FIELD_NAME.test(name)) throw new Error(`${where} has an invalid header name (no spaces or separators before the colon)`);
    // CR/LF would split the request (header injection); other controls are refused by HTTP clients anyway.
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) throw new Error(`${where} (${name}) has a control character in its value`);
    if (/[^\u0000-\u00ff]/.test(value)) throw new Error(`${where} (${name}) has a character HTTP headers cannot carry in its value`);
    if (FORBIDDEN_HEADERS.has(name.toLowerCase()))
      throw new Error(`${where}: the ${name} header is set by the server and cannot be overridden`);
    return [name, value];
  });
}
