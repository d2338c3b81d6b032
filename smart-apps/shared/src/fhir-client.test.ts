import { describe, expect, it } from 'vitest';
import { FhirClient, FhirError, type TokenSource } from './fhir-client.ts';
import { LaunchError } from './smart-client.ts';

const BASE = 'https://haven.example/fhir';

function tokens(refreshed = 'fresh', failRefresh = false): TokenSource & { refreshes: number } {
  let token = 'stale';
  const t = {
    refreshes: 0,
    accessToken: async () => token,
    refresh: async () => {
      t.refreshes++;
      if (failRefresh) throw new Error('refused');
      token = refreshed;
    },
  };
  return t;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/fhir+json', ...headers },
  });
}

describe('FhirClient', () => {
  it('refreshes once on 401 and retries with the new token', async () => {
    const seen: string[] = [];
    const t = tokens();
    const client = new FhirClient(BASE, t, {
      fetch: async (_url, init) => {
        const auth = new Headers(init?.headers).get('authorization')!;
        seen.push(auth);
        return auth === 'Bearer fresh' ? json(200, { resourceType: 'Patient', id: 'p1' }) : json(401, undefined);
      },
    });
    expect((await client.read('Patient', 'p1')).id).toBe('p1');
    expect(seen).toEqual(['Bearer stale', 'Bearer fresh']);
    expect(t.refreshes).toBe(1);
  });

  it('ends the session when the refresh is refused', async () => {
    const client = new FhirClient(BASE, tokens('x', true), { fetch: async () => json(401, undefined) });
    await expect(client.read('Patient', 'p1')).rejects.toMatchObject({ name: 'LaunchError', code: 'session_expired' });
    await expect(client.read('Patient', 'p1')).rejects.toBeInstanceOf(LaunchError);
  });

  it('turns an OperationOutcome into a message and marks 403 as forbidden', async () => {
    const client = new FhirClient(BASE, tokens(), {
      fetch: async () =>
        json(403, {
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'forbidden', diagnostics: 'Composition.c is not granted' }],
        }),
    });
    const err = (await client.search('Composition').catch((e) => e)) as FhirError;
    expect(err).toBeInstanceOf(FhirError);
    expect(err.forbidden).toBe(true);
    expect(err.message).toBe('Composition.c is not granted');
  });

  it('reads back a create answered with only a Location header (Epic-style)', async () => {
    const calls: string[] = [];
    const client = new FhirClient(BASE, tokens(), {
      fetch: async (url, init) => {
        calls.push(`${init?.method} ${url}`);
        if (init?.method === 'POST')
          return new Response(null, { status: 201, headers: { location: `${BASE}/Communication/c9/_history/1` } });
        return json(200, { resourceType: 'Communication', id: 'c9', meta: { versionId: '1' } });
      },
    });
    const created = await client.create<{ resourceType: string; id?: string; status: string }>({
      resourceType: 'Communication',
      status: 'completed',
    });
    expect(created.id).toBe('c9');
    expect(calls).toEqual([`POST ${BASE}/Communication`, `GET ${BASE}/Communication/c9`]);
  });

  it('says so when a create has neither body nor Location', async () => {
    const client = new FhirClient(BASE, tokens(), { fetch: async () => new Response(null, { status: 201 }) });
    await expect(client.create({ resourceType: 'Task' })).rejects.toThrow(/did not say where/);
  });

  it('gives a clear error when the server does not answer in time', async () => {
    const client = new FhirClient(BASE, tokens(), {
      timeoutMs: 20,
      fetch: (_url, init) =>
        new Promise((_resolve, reject) => {
          init?.signal?.addEventListener('abort', () => reject(init.signal!.reason));
        }),
    });
    await expect(client.read('Patient', 'p1')).rejects.toMatchObject({ status: 0, message: expect.stringMatching(/in time/) });
  });

  it('sends If-Match with the version on update', async () => {
    let ifMatch: string | null = null;
    const client = new FhirClient(BASE, tokens(), {
      fetch: async (_url, init) => {
        ifMatch = new Headers(init?.headers).get('if-match');
        return json(200, { resourceType: 'Task', id: 't1', meta: { versionId: '4' } });
      },
    });
    await client.update({ resourceType: 'Task', id: 't1', meta: { versionId: '3' } });
    expect(ifMatch).toBe('W/"3"');
  });

  it('splits matches from included resources and follows next links on the same server only', async () => {
    const client = new FhirClient(BASE, tokens(), {
      fetch: async (url) =>
        String(url).includes('page=2')
          ? json(200, { resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Task', id: 't2' }, search: { mode: 'match' } }] })
          : json(200, {
              resourceType: 'Bundle',
              link: [{ relation: 'next', url: `${BASE}/Task?page=2` }],
              entry: [
                { resource: { resourceType: 'Task', id: 't1' }, search: { mode: 'match' } },
                { resource: { resourceType: 'Patient', id: 'p1' }, search: { mode: 'include' } },
              ],
            }),
    });
    const first = await client.search('Task', { _include: 'Task:patient' });
    expect(first.resources.map((r) => r.id)).toEqual(['t1']);
    expect(first.included.map((r) => r.id)).toEqual(['p1']);
    expect((await client.searchAll('Task')).map((r) => r.id)).toEqual(['t1', 't2']);
    expect(() => client.url('https://evil.example/fhir/Task')).toThrow(/another server/);
  });
});
