/**
 * A small FHIR R4 REST client for the apps: bearer token from the launch, one refresh and retry on 401, time
 * limits, errors as values the screens can explain (OperationOutcome diagnostics, 403 = "not granted", so a
 * feature can hide itself), and creates that answer `201` with only a `Location` header (Epic does) read back.
 */
import { LaunchError } from './smart-client.ts';

/** Where tokens come from (a {@link SessionTokens}, or a fixed token in tests). */
export interface TokenSource {
  accessToken(): Promise<string>;
  refresh(): Promise<unknown>;
}

/** A minimal FHIR resource shape. */
export interface Resource {
  resourceType: string;
  id?: string;
  meta?: { versionId?: string; lastUpdated?: string };
  [key: string]: unknown;
}

/** A FHIR request that failed. `message` is fit to show; `status` 0 means no answer (network, timeout). */
export class FhirError extends Error {
  readonly status: number;
  readonly outcome?: Resource;

  constructor(status: number, message: string, outcome?: Resource) {
    super(message);
    this.name = 'FhirError';
    this.status = status;
    if (outcome) this.outcome = outcome;
  }

  /** The server refused this type or interaction for the granted scopes (feature should hide). */
  get forbidden(): boolean {
    return this.status === 403;
  }
}

/** Diagnostics of an OperationOutcome, joined. */
export function outcomeText(body: unknown): string | undefined {
  const issues = (body as { resourceType?: string; issue?: { diagnostics?: string; details?: { text?: string } }[] })?.issue;
  if ((body as { resourceType?: string })?.resourceType !== 'OperationOutcome' || !Array.isArray(issues)) return undefined;
  const texts = issues.map((i) => i.diagnostics ?? i.details?.text).filter((t): t is string => typeof t === 'string' && t !== '');
  return texts.length ? texts.join('; ') : undefined;
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  401: 'Your session has ended.',
  403: 'This app was not given access to that information.',
  404: 'Not found.',
  409: 'Someone else changed this at the same time. Reload and try again.',
  412: 'This was changed elsewhere since you opened it. Reload and try again.',
  429: 'The server is busy. Try again in a moment.',
  503: 'The server is starting or unavailable. Try again in a moment.',
};

/** Options of {@link FhirClient}. */
export interface FhirClientOptions {
  fetch?: typeof fetch;
  /** Time limit of one request (default 20 s): an EHR that hangs must not hang the screen. */
  timeoutMs?: number;
}

/** A search result page. */
export interface SearchPage<T> {
  resources: T[];
  /** `_include`d resources and OperationOutcomes (search mode not "match"). */
  included: Resource[];
  next?: string;
  total?: number;
}

/** FHIR REST against one base URL with one launch's tokens. */
export class FhirClient {
  readonly base: string;
  private readonly tokens: TokenSource;
  private readonly doFetch: typeof fetch;
  private readonly timeoutMs: number;

  constructor(base: string, tokens: TokenSource, opts: FhirClientOptions = {}) {
    this.base = base;
    this.tokens = tokens;
    this.doFetch = opts.fetch ?? ((...args) => fetch(...args));
    this.timeoutMs = opts.timeoutMs ?? 20_000;
  }

  /** An absolute URL for a path relative to the base (or an absolute URL on the same server, e.g. a next link). */
  url(path: string): string {
    if (/^https?:\/\//.test(path)) {
      if (!path.startsWith(`${this.base}/`) && path !== this.base) throw new FhirError(0, 'Refusing a link to another server.');
      return path;
    }
    const rest = path.replace(/^\/+/, '');
    return rest === '' ? this.base : `${this.base}/${rest}`;
  }

  private async send(method: string, path: string, body: unknown, headers: Record<string, string>, token: string): Promise<Response> {
    const h = new Headers({ accept: 'application/fhir+json', ...headers, authorization: `Bearer ${token}` });
    if (body !== undefined && !h.has('content-type')) h.set('content-type', 'application/fhir+json');
    try {
      return await this.doFetch(this.url(path), {
        method,
        headers: h,
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      if (err instanceof FhirError) throw err;
      const timedOut = (err as { name?: string })?.name === 'TimeoutError';
      throw new FhirError(
        0,
        timedOut ? 'The server did not answer in time. Try again.' : 'The server could not be reached. Check the connection.',
      );
    }
  }

  /**
   * One request; on 401 refreshes the token once and retries. Returns the parsed body (undefined when empty).
   * @throws FhirError for any non-2xx answer; LaunchError `session_expired` when the session cannot continue.
   */
  async request<T = Resource>(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<{ body: T | undefined; status: number; headers: Headers }> {
    let res = await this.send(method, path, init.body, init.headers ?? {}, await this.tokens.accessToken());
    if (res.status === 401) {
      try {
        await this.tokens.refresh();
      } catch {
        throw new LaunchError('session_expired', 'Your session has ended.');
      }
      res = await this.send(method, path, init.body, init.headers ?? {}, await this.tokens.accessToken());
      if (res.status === 401) throw new LaunchError('session_expired', 'Your session has ended.');
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const why = outcomeText(parsed) ?? STATUS_TEXT[res.status] ?? `The server answered ${res.status}.`;
      throw new FhirError(res.status, why, parsed as Resource | undefined);
    }
    return { body: parsed as T | undefined, status: res.status, headers: res.headers };
  }

  /** Reads `Type/id`. */
  async read<T extends Resource = Resource>(type: string, id: string): Promise<T> {
    const { body } = await this.request<T>('GET', `${type}/${encodeURIComponent(id)}`);
    if (!body) throw new FhirError(502, 'The server sent an empty answer.');
    return body;
  }

  /** Reads a relative reference (`Practitioner/1`). */
  async readReference<T extends Resource = Resource>(reference: string): Promise<T> {
    const [type, id] = reference.split('/');
    if (!type || !id) throw new FhirError(400, `Not a reference: ${reference}`);
    return this.read<T>(type, id);
  }

  /** One page of a type search. `params` as a query string or record. */
  async search<T extends Resource = Resource>(type: string, params: Record<string, string> | string = {}): Promise<SearchPage<T>> {
    const query = typeof params === 'string' ? params : new URLSearchParams(params).toString();
    return this.page<T>(`${type}${query ? `?${query}` : ''}`);
  }

  /** A search page by path or next link. */
  async page<T extends Resource = Resource>(pathOrLink: string): Promise<SearchPage<T>> {
    const { body } = await this.request<{
      entry?: { resource?: Resource; search?: { mode?: string } }[];
      link?: { relation: string; url: string }[];
      total?: number;
    }>('GET', pathOrLink);
    const resources: T[] = [];
    const included: Resource[] = [];
    for (const e of body?.entry ?? []) {
      if (!e.resource) continue;
      if ((e.search?.mode ?? 'match') === 'match') resources.push(e.resource as T);
      else included.push(e.resource);
    }
    const next = body?.link?.find((l) => l.relation === 'next')?.url;
    return { resources, included, ...(next ? { next } : {}), ...(body?.total !== undefined ? { total: body.total } : {}) };
  }

  /** Every match, following next links up to `maxPages`. */
  async searchAll<T extends Resource = Resource>(type: string, params: Record<string, string> | string = {}, maxPages = 20): Promise<T[]> {
    let page = await this.search<T>(type, params);
    const all = [...page.resources];
    for (let i = 1; i < maxPages && page.next; i++) {
      page = await this.page<T>(page.next);
      all.push(...page.resources);
    }
    return all;
  }

  /**
   * Creates a resource and returns it as stored. A server that answers with no body (only `Location`) is read
   * back from that Location, so the caller always gets the id and version.
   */
  async create<T extends Resource>(resource: T): Promise<T> {
    const { body, headers } = await this.request<T>('POST', resource.resourceType, {
      body: resource,
      headers: { prefer: 'return=representation' },
    });
    if (body?.resourceType === resource.resourceType && body.id) return body;
    const location = headers.get('location') ?? headers.get('content-location');
    const m = location ? /([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?\/?$/.exec(location) : null;
    if (!m) throw new FhirError(502, 'The server saved this but did not say where. Reload to see it.');
    return this.read<T>(m[1], m[2]);
  }

  /** Updates a resource (with `If-Match` on its version when it has one, so a stale copy cannot overwrite). */
  async update<T extends Resource>(resource: T): Promise<T> {
    if (!resource.id) throw new FhirError(400, 'Cannot update a resource without an id.');
    const version = resource.meta?.versionId;
    const { body } = await this.request<T>('PUT', `${resource.resourceType}/${encodeURIComponent(resource.id)}`, {
      body: resource,
      headers: { prefer: 'return=representation', ...(version ? { 'if-match': `W/"${version}"` } : {}) },
    });
    if (body?.resourceType === resource.resourceType) return body;
    return this.read<T>(resource.resourceType, resource.id);
  }
}
