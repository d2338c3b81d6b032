import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.ts';
import { checkAddress, checkAddresses, checkUrl, parseAllowList, type OutboundPolicy } from './outbound-policy.ts';

const strict: OutboundPolicy = { allow: [], allowLoopback: false, allowHttp: false };
const dev: OutboundPolicy = { allow: [], allowLoopback: true, allowHttp: true };
const partner: OutboundPolicy = {
  allow: parseAllowList('ehr.partner.internal, *.lab.internal, 10.20.0.0/16, 169.254.169.254/16, fd12:3456::/32, 192.0.2.7'),
  allowLoopback: false,
  allowHttp: false,
};
/** This machine: a public address and a private one. */
const OWN = new Set(['127.0.0.1', '::1', '203.0.114.9', '10.20.0.5']);

describe('parseAllowList', () => {
  it('parses hosts, wildcards, addresses and ranges', () => {
    expect(parseAllowList(' a.example , *.b.example,10.0.0.0/8, fd00::/8 ,10.1.1.1,').map((e) => e.kind)).toEqual([
      'host',
      'host',
      'cidr',
      'cidr',
      'cidr',
    ]);
    expect(parseAllowList(undefined)).toEqual([]);
  });
  for (const bad of ['http://a.example', '10.0.0.0/33', 'a b', '*', '*.', 'a..b', '10.0.0', '-a.example']) {
    it(`refuses ${JSON.stringify(bad)}`, () => expect(() => parseAllowList(bad)).toThrow(/HAVEN_OUTBOUND_ALLOW/));
  }
});

describe('HAVEN_OUTBOUND_ALLOW', () => {
  it('is read at start, and a malformed entry stops the start with its name', () => {
    expect(loadConfig({ HAVEN_OUTBOUND_ALLOW: 'ehr.partner.internal,10.20.0.0/16' }).outbound.allow.map((e) => e.text)).toEqual([
      'ehr.partner.internal',
      '10.20.0.0/16',
    ]);
    expect(loadConfig({}).outbound.allow).toEqual([]);
    expect(() => loadConfig({ HAVEN_OUTBOUND_ALLOW: '10.20.0.0/16,https://ehr.example' })).toThrow(/"https:\/\/ehr.example"/);
  });
});

describe('checkAddress', () => {
  // [host, address, policy, refused class or undefined]
  const table: [string, string, OutboundPolicy, string | undefined][] = [
    ['hooks.example.org', '93.184.216.34', strict, undefined],
    ['hooks.example.org', '10.0.0.1', strict, 'private'],
    ['hooks.example.org', '127.0.0.1', strict, 'loopback'],
    ['hooks.example.org', '127.0.0.1', dev, undefined],
    ['hooks.example.org', '::ffff:127.0.0.1', dev, undefined],
    ['hooks.example.org', '10.0.0.1', dev, 'private'],
    ['hooks.example.org', '169.254.169.254', dev, 'metadata'],
    ['hooks.example.org', '0.0.0.0', dev, 'unspecified'],
    ['hooks.example.org', '::', dev, 'unspecified'],
    ['hooks.example.org', '100.64.1.1', strict, 'cgnat'],
    ['hooks.example.org', 'fc00::1', strict, 'unique-local'],
    ['hooks.example.org', 'fe80::1', strict, 'link-local'],
    ['hooks.example.org', '224.0.0.1', strict, 'multicast'],
    ['hooks.example.org', '255.255.255.255', strict, 'broadcast'],
    ['hooks.example.org', '64:ff9b::a00:1', strict, 'private'],
    // this machine's own addresses, however public they look
    ['hooks.example.org', '203.0.114.9', strict, 'own'],
    ['hooks.example.org', '::ffff:203.0.114.9', strict, 'own'],
    // the allow-list: a named host opens private addresses, not metadata and not this machine
    ['ehr.partner.internal', '10.99.0.1', partner, undefined],
    ['EHR.Partner.Internal.', '10.99.0.1', partner, undefined],
    ['ehr.partner.internal', '169.254.169.254', partner, 'metadata'],
    ['x.ehr.partner.internal', '10.99.0.1', partner, 'private'],
    ['a.lab.internal', '192.168.0.1', partner, undefined],
    ['lab.internal', '192.168.0.1', partner, 'private'],
    // a range opens what it holds
    ['other.example', '10.20.3.4', partner, undefined],
    ['other.example', '::ffff:10.20.3.4', partner, undefined],
    ['other.example', '10.21.0.1', partner, 'private'],
    ['other.example', 'fd12:3456::9', partner, undefined],
    ['other.example', '192.0.2.7', partner, undefined],
    // …but a range does not open metadata or this machine: only that exact address would
    ['other.example', '169.254.169.254', partner, 'metadata'],
    ['other.example', '169.254.1.1', partner, undefined],
    ['other.example', '10.20.0.5', partner, 'private'],
    ['ehr.partner.internal', '10.20.0.5', partner, undefined],
    // nothing opens broadcast, multicast or unspecified
    ['ehr.partner.internal', '0.0.0.0', partner, 'unspecified'],
    ['hooks.example.org', 'not-an-ip', strict, 'reserved'],
  ];
  for (const [host, address, policy, expected] of table) {
    const name = policy === strict ? 'strict' : policy === dev ? 'loopback allowed' : 'allow-list';
    it(`${host} at ${address} (${name}) → ${expected ?? 'allowed'}`, () => {
      const why = checkAddress(host, address, policy, OWN);
      expect(why?.kind === 'address' ? why.class : why).toBe(expected);
    });
  }
  it('exact metadata entries open that address only', () => {
    const p: OutboundPolicy = { ...strict, allow: parseAllowList('169.254.169.254') };
    expect(checkAddress('h', '169.254.169.254', p, OWN)).toBeUndefined();
    expect(checkAddress('h', '169.254.169.253', p, OWN)).toMatchObject({ class: 'metadata' });
  });
});

describe('checkAddresses', () => {
  it('one refused address refuses the host', () => {
    expect(checkAddresses('h.example', ['93.184.216.34', '10.0.0.1'], strict, OWN)).toMatchObject({ class: 'private' });
    expect(checkAddresses('h.example', ['93.184.216.34', '2606:4700::1'], strict, OWN)).toBeUndefined();
  });
  it('no address at all is refused', () => expect(checkAddresses('h.example', [], strict, OWN)).toMatchObject({ kind: 'url' }));
});

describe('checkUrl', () => {
  // [url, policy, expected: 'ok' | a message fragment | an address class]
  const table: [string, OutboundPolicy, string][] = [
    ['https://hooks.example.org/fhir?x=1', strict, 'ok'],
    ['http://hooks.example.org/', strict, 'must use https'],
    ['http://hooks.example.org/', dev, 'ok'],
    ['ftp://hooks.example.org/', dev, 'must be an https URL, not ftp:'],
    ['file:///etc/passwd', dev, 'must be an https URL, not file:'],
    ['gopher://127.0.0.1:6379/', dev, 'must be an https URL, not gopher:'],
    ['data:text/plain,x', dev, 'must be an https URL, not data:'],
    ['/relative', dev, 'must be an absolute URL'],
    ['https://user:pw@hooks.example.org/', dev, 'must not contain credentials'],
    ['https://user@hooks.example.org/', dev, 'must not contain credentials'],
    // loopback in every spelling the URL parser folds to 127.0.0.1 / ::1
    ['https://localhost/', strict, 'loopback'],
    ['https://api.localhost./', strict, 'loopback'],
    ['https://127.0.0.1/', strict, 'loopback'],
    ['https://2130706433/', strict, 'loopback'],
    ['https://0177.0.0.1/', strict, 'loopback'],
    ['https://0x7f.0.0.1/', strict, 'loopback'],
    ['https://0x7f000001/', strict, 'loopback'],
    ['https://127.1/', strict, 'loopback'],
    ['https://127.0.1/', strict, 'loopback'],
    ['https://[::1]/', strict, 'loopback'],
    ['https://[::ffff:127.0.0.1]/', strict, 'loopback'],
    ['https://[::ffff:7f00:1]/', strict, 'loopback'],
    ['https://[0:0:0:0:0:ffff:7f00:1]/', strict, 'loopback'],
    ['https://[64:ff9b::127.0.0.1]/', strict, 'loopback'],
    ['https://0.0.0.0/', dev, 'unspecified'],
    ['https://0/', dev, 'unspecified'],
    ['https://[::]/', dev, 'unspecified'],
    // metadata by address and by name
    ['http://169.254.169.254/latest/meta-data/', dev, 'metadata'],
    ['http://2852039166/', dev, 'metadata'],
    ['http://[fd00:ec2::254]/', dev, 'metadata'],
    ['http://[::ffff:a9fe:a9fe]/', dev, 'metadata'],
    ['http://metadata.google.internal/computeMetadata/v1/', dev, 'metadata'],
    ['http://METADATA.GOOGLE.INTERNAL./', dev, 'metadata'],
    // private, link-local, CGNAT, unique-local
    ['https://10.0.0.1/', strict, 'private'],
    ['https://012.0.0.1/', strict, 'private'],
    ['https://192.168.1.1/', strict, 'private'],
    ['https://172.16.0.1/', strict, 'private'],
    ['https://169.254.1.1/', strict, 'link-local'],
    ['https://[fe80::1]/', strict, 'link-local'],
    ['https://100.64.0.1/', strict, 'cgnat'],
    ['https://[fc00::1]/', strict, 'unique-local'],
    ['https://[fd12::1]/', strict, 'unique-local'],
    ['https://224.0.0.1/', strict, 'multicast'],
    ['https://255.255.255.255/', strict, 'broadcast'],
    ['https://203.0.114.9/', strict, 'own'],
    ['https://8.8.8.8/', strict, 'ok'],
    ['https://10.20.1.1/', partner, 'ok'],
  ];
  for (const [url, policy, expected] of table) {
    it(`${url} → ${expected}`, () => {
      const r = checkUrl(url, policy, OWN);
      const got = 'url' in r ? 'ok' : r.refusal.kind === 'url' ? r.refusal.message : r.refusal.class;
      expect(got).toBe(expected);
    });
  }
  it('the allow-list can name a loopback host for development', () => {
    const p: OutboundPolicy = { ...strict, allowHttp: true, allow: parseAllowList('localhost') };
    expect('url' in checkUrl('http://localhost:8080/', p, OWN)).toBe(true);
  });
});
