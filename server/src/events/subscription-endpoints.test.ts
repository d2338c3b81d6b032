/**
 * Rest-hook endpoints Haven refuses to call (server-side request forgery): metadata, private, link-local, CGNAT,
 * unique-local and loopback addresses in every spelling, this machine's own name and addresses, and headers that
 * could bend the request. The operator allow-list opens a partner's private range, never metadata.
 */
import { networkInterfaces, hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../test-support/harness.ts';

/** http allowed (local receivers), loopback NOT allowed, a partner network on the allow-list. */
const ENV = {
  HAVEN_SUBSCRIPTION_ALLOW_HTTP: 'true',
  HAVEN_OUTBOUND_ALLOW: '10.20.0.0/16,ehr.partner.internal',
  HAVEN_EVENT_POLL_MS: '100',
};

function restHook(endpoint: string, header: string[] = []): object {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'ssrf test',
    criteria: 'Patient?family=Nobody',
    channel: { type: 'rest-hook', endpoint, payload: 'application/fhir+json', ...(header.length > 0 ? { header } : {}) },
  };
}

/** This machine's non-loopback interface addresses, as URL hosts. */
function ownInterfaceHosts(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((l) => l ?? [])
    .filter((i) => !i.internal && !i.address.startsWith('fe80'))
    .map((i) => (i.family === 'IPv6' ? `[${i.address}]` : i.address));
}

describe('rest-hook endpoints Haven does not call', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(ENV);
  });
  afterAll(async () => {
    await t.stop();
  });

  const refused = [
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://100.100.100.200/latest/meta-data/',
    'http://10.0.0.1/hook',
    'http://172.16.5.4/hook',
    'http://192.168.1.10:8080/hook',
    'http://169.254.10.10/hook',
    'http://100.64.0.1/hook',
    'http://[fc00::1]/hook',
    'http://[fd12:3456::1]/hook',
    'http://[fe80::1]/hook',
    'http://224.0.0.1/hook',
    'http://0.0.0.0:8080/hook',
    'http://[::]:8080/hook',
    'http://localhost:8080/hook',
    'http://127.0.0.1:8080/hook',
    'http://2130706433:8080/hook',
    'http://0177.0.0.1:8080/hook',
    'http://0x7f.1:8080/hook',
    'http://127.1:8080/hook',
    'http://[::ffff:127.0.0.1]:8080/hook',
    'http://[::ffff:7f00:1]:8080/hook',
    'http://[64:ff9b::7f00:1]:8080/hook',
    'http://[::ffff:a9fe:a9fe]/latest/meta-data/',
  ];
  for (const endpoint of refused) {
    it(`refuses ${endpoint} with a 400 naming the endpoint`, async () => {
      const res = await t.req('/fhir/Subscription', { method: 'POST', json: restHook(endpoint) });
      expect(res.status).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
      expect(res.body.issue[0].diagnostics).toMatch(
        /^Subscription\.channel\.endpoint: endpoint resolves to an address Haven does not call/,
      );
    });
  }

  it("refuses this machine's own host name (a string check let it through)", async () => {
    const res = await t.req('/fhir/Subscription', { method: 'POST', json: restHook(`http://${hostname()}:${new URL(t.fhir).port}/fhir`) });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toMatch(/does not call/);
  });

  it("refuses this machine's own interface addresses", async () => {
    const hosts = ownInterfaceHosts();
    for (const host of hosts) {
      const res = await t.req('/fhir/Subscription', { method: 'POST', json: restHook(`http://${host}:9/hook`) });
      expect(res.status, host).toBe(400);
    }
  });

  it('refuses an update that points a subscription at a refused address', async () => {
    const created = await t.req('/fhir/Subscription', { method: 'POST', json: restHook('http://10.20.1.1/hook') });
    expect(created.status).toBe(201);
    for (const endpoint of ['http://10.0.0.1/hook', 'http://169.254.169.254/', `http://${hostname()}/`]) {
      const res = await t.req(`/fhir/Subscription/${created.body.id}`, {
        method: 'PUT',
        json: { ...restHook(endpoint), id: created.body.id },
      });
      expect(res.status, endpoint).toBe(400);
    }
  });

  // Host-name entries are table-tested in ../net/outbound-policy.test.ts (here the name would not resolve at all).
  it('the operator allow-list opens a partner range, not its neighbours, and never metadata', async () => {
    for (const [endpoint, status] of [
      ['http://10.20.1.1/hook', 201],
      ['http://10.21.0.1/hook', 400],
      ['http://169.254.169.254/hook', 400],
    ] as const) {
      const res = await t.req('/fhir/Subscription', { method: 'POST', json: restHook(endpoint) });
      expect(res.status, endpoint).toBe(status);
    }
  });

  const badHeaders: [string, RegExp][] = [
    ['Host: 169.254.169.254', /Host header is set by the server/],
    ['Expect: 100-continue', /Expect header/],
    ['Transfer-Encoding: chunked', /Transfer-Encoding header/],
    ['Connection: Upgrade', /Connection header/],
    ['Proxy-Authorization: Basic eA==', /Proxy-Authorization header/],
    ['X-Inject: a\r\nHost: evil', /control character/],
  ];
  for (const [line, message] of badHeaders) {
    it(`refuses the header ${JSON.stringify(line.slice(0, 24))}`, async () => {
      const res = await t.req('/fhir/Subscription', { method: 'POST', json: restHook('http://10.20.1.1/hook', [line]) });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body.issue)).toMatch(message);
    });
  }
});
