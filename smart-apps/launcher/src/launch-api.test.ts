import { describe, expect, it } from 'vitest';
import { createLaunch, launchEndpoint } from './launch-api.ts';

describe('launchEndpoint', () => {
  it('sits next to the token endpoint, for the default tenant and others', () => {
    expect(launchEndpoint('http://localhost:8080/auth/token')).toBe('http://localhost:8080/auth/launch');
    expect(launchEndpoint('https://h.example/t/acme/auth/token')).toBe('https://h.example/t/acme/auth/launch');
    expect(() => launchEndpoint('https://idp.example/oauth2/v1/access')).toThrow(/not Haven/);
  });
});

describe('createLaunch', () => {
  const reply =
    (status: number, body: unknown): typeof fetch =>
    async () =>
      new Response(JSON.stringify(body), { status });
  it('sends the context with the bearer token and returns the URL', async () => {
    let sent: { headers?: HeadersInit; body?: unknown } = {};
    const url = await createLaunch(
      'https://h/auth/launch',
      'tok',
      { clientId: 'haven-clinician', patient: 'p1', encounter: 'e1', needPatientBanner: false },
      async (_u, init) => {
        sent = init ?? {};
        return new Response(JSON.stringify({ url: 'https://h/apps/clinician/launch?iss=x&launch=y' }), { status: 201 });
      },
    );
    expect(url).toBe('https://h/apps/clinician/launch?iss=x&launch=y');
    expect(new Headers(sent.headers).get('authorization')).toBe('Bearer tok');
    expect(JSON.parse(String(sent.body))).toEqual({
      client_id: 'haven-clinician',
      patient: 'p1',
      encounter: 'e1',
      need_patient_banner: false,
    });
  });
  it('explains refusals', async () => {
    const req = { clientId: 'c', patient: 'p', needPatientBanner: true };
    await expect(createLaunch('u', 't', req, reply(403, { error: 'insufficient_scope' }))).rejects.toThrow(/Only clinicians/);
    await expect(createLaunch('u', 't', req, reply(401, {}))).rejects.toThrow(/session has ended/);
    await expect(
      createLaunch('u', 't', req, reply(400, { error: 'invalid_request', error_description: 'patient does not exist' })),
    ).rejects.toThrow(/patient does not exist/);
  });
});
