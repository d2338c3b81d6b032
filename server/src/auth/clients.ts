/**
 * The client registry: SMART apps and backend services registered per tenant (`haven clients add`).
 *
 * Client types and how they authenticate at the token endpoint:
 * - `public`: none (SMART client-public; PKCE protects the code).
 * - `confidential-symmetric`: client secret, HTTP Basic or form (RFC 6749 §2.3.1; SMART
 *   client-confidential-symmetric). The secret is 256 random bits shown once; only its SHA-256 is stored
 *   (a slow hash adds nothing for a value that cannot be guessed).
 * - `confidential-asymmetric`: private_key_jwt (RFC 7523; SMART client-confidential-asymmetric), JWKS by
 *   value or by URL.
 * - `backend`: like asymmetric, but only for client_credentials (SMART Backend Services).
 *
 * `introspect` registers a confidential or backend client as a resource server: only such clients may call
 * the introspection endpoint (RFC 7662 §2.1), with their credentials or a Bearer token issued to them. A
 * resource server that only introspects needs no redirect URI.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { JWK } from 'jose';
import type { Db } from '../store/db.ts';
import { defaultMaxScopes, splitScopes } from './scopes.ts';

/** Registrable client types. */
export const CLIENT_TYPES = ['public', 'confidential-symmetric', 'confidential-asymmetric', 'backend'] as const;
export type ClientType = (typeof CLIENT_TYPES)[number];

/** A registered client. */
export interface Client {
  tenant: string;
  clientId: string;
  type: ClientType;
  name?: string;
  redirectUris: string[];
  launchUri?: string;
  /** Maximum grant: nothing beyond these scopes is ever issued to the client. */
  scopes: string[];
  secretHash?: string;
  jwks?: { keys: JWK[] };
  jwksUrl?: string;
  /** Registered as a resource server: may introspect the tenant's tokens. */
  introspect: boolean;
}

/** Input of {@link addClient}. */
export interface NewClient {
  tenant: string;
  type: ClientType;
  clientId?: string;
  name?: string;
  redirectUris?: string[];
  launchUri?: string;
  scopes?: string;
  jwks?: unknown;
  jwksUrl?: string;
  /** Registers a resource server (see the module comment); not for public clients. */
  introspect?: boolean;
}

/** A registration the registry refuses, with the reason. */
export class ClientValidationError extends Error {}

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;

/**
 * True for http(s) URLs that are https, or http on a loopback host (RFC 8252 §7.3, development): `localhost`,
 * `[::1]` or an IPv4 address in 127.0.0.0/8, parsed (a name such as `127.example.com` is not loopback).
 */
export function isAcceptableUrl(value: string): boolean {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return false;
  }
  if (u.hash || u.username || u.password) return false;
  if (u.protocol === 'https:') return true;
  // The URL parser has normalized the host: an IPv4 address in any spelling (127.1, 2130706433) is a dotted quad.
  const loopbackV4 = isIP(u.hostname) === 4 && u.hostname.startsWith('127.');
  return u.protocol === 'http:' && (u.hostname === 'localhost' || u.hostname === '[::1]' || loopbackV4);
}

/** Checks a JWKS given by value: public RSA/EC keys, each with a unique `kid`. */
export function validateJwks(jwks: unknown): { keys: JWK[] } {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new ClientValidationError('JWKS must be {"keys": [...]} with at least one key');
  const kids = new Set<string>();
  for (const k of keys as JWK[]) {
    if (typeof k !== 'object' || k === null || (k.kty !== 'RSA' && k.kty !== 'EC'))
      throw new ClientValidationError('JWKS keys must be RSA or EC');
    if (typeof k.kid !== 'string' || k.kid === '')
      throw new ClientValidationError('Every JWKS key needs a kid (SMART client-confidential-asymmetric)');
    if ('d' in k) throw new ClientValidationError(`Key ${k.kid} is a private key: register the public JWKS only`);
    if (kids.has(k.kid)) throw new ClientValidationError(`Duplicate kid ${k.kid}`);
    kids.add(k.kid);
  }
  return { keys: keys as JWK[] };
}

/** SHA-256 of a client secret, hex. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret with the stored hash. */
export function secretMatches(client: Client, presented: string): boolean {
  if (!client.secretHash) return false;
  return timingSafeEqual(Buffer.from(hashSecret(presented), 'hex'), Buffer.from(client.secretHash, 'hex'));
}

function validate(input: NewClient): void {
  if (!(CLIENT_TYPES as readonly string[]).includes(input.type)) throw new ClientValidationError(`Unknown client type "${input.type}"`);
  if (input.clientId !== undefined && !CLIENT_ID.test(input.clientId))
    throw new ClientValidationError('client_id: 1-128 of A-Z a-z 0-9 . _ ~ -');
  const redirects = input.redirectUris ?? [];
  for (const u of [...redirects, ...(input.launchUri ? [input.launchUri] : [])]) {
    if (!isAcceptableUrl(u))
      throw new ClientValidationError(`"${u}" must be an absolute https URL (http only on localhost), without fragment`);
  }
  const asymmetric = input.type === 'confidential-asymmetric' || input.type === 'backend';
  if (input.introspect !== undefined && typeof input.introspect !== 'boolean')
    throw new ClientValidationError('introspect must be true or false');
  // A public client cannot authenticate, so a "resource server" of that type would let anyone introspect.
  if (input.introspect && input.type === 'public')
    throw new ClientValidationError('A public client cannot be a resource server (--introspect): it has no credentials');
  if (input.type === 'backend') {
    if (redirects.length > 0 || input.launchUri) throw new ClientValidationError('A backend client has no redirect or launch URI');
  } else if (redirects.length === 0 && !(input.introspect && !input.launchUri)) {
    throw new ClientValidationError('At least one --redirect-uri is required (unless the client only introspects: --introspect)');
  }
  if (asymmetric && !input.jwks === !input.jwksUrl) throw new ClientValidationError('Give exactly one of --jwks-file and --jwks-url');
  if (!asymmetric && (input.jwks || input.jwksUrl)) throw new ClientValidationError(`A ${input.type} client has no JWKS`);
  if (input.jwksUrl && !isAcceptableUrl(input.jwksUrl))
    throw new ClientValidationError('--jwks-url must be https (http only on localhost)');
  if (input.type === 'backend' && input.scopes && splitScopes(input.scopes).some((s) => !s.startsWith('system/'))) {
    throw new ClientValidationError('A backend client can only hold system/ scopes');
  }
}

interface ClientRow {
  tenant: string;
  client_id: string;
  type: ClientType;
  name: string | null;
  redirect_uris: string[];
  launch_uri: string | null;
  scopes: string;
  secret_hash: string | null;
  jwks: { keys: JWK[] } | null;
  jwks_url: string | null;
  introspect: boolean;
}

function fromRow(r: ClientRow): Client {
  return {
    tenant: r.tenant,
    clientId: r.client_id,
    type: r.type,
    redirectUris: r.redirect_uris,
    scopes: splitScopes(r.scopes),
    introspect: r.introspect === true,
    ...(r.name ? { name: r.name } : {}),
    ...(r.launch_uri ? { launchUri: r.launch_uri } : {}),
    ...(r.secret_hash ? { secretHash: r.secret_hash } : {}),
    ...(r.jwks ? { jwks: r.jwks } : {}),
    ...(r.jwks_url ? { jwksUrl: r.jwks_url } : {}),
  };
}

/**
 * Registers a client. Returns it with the secret (confidential-symmetric only): the one time it exists in
 * the clear.
 * @throws ClientValidationError for an invalid registration or a taken client_id.
 */
export async function addClient(db: Db, input: NewClient): Promise<{ client: Client; secret?: string }> {
  validate(input);
  const jwks = input.jwks !== undefined ? validateJwks(input.jwks) : undefined;
  const clientId = input.clientId ?? randomBytes(16).toString('base64url');
  const secret = input.type === 'confidential-symmetric' ? randomBytes(32).toString('base64url') : undefined;
  const scopes = splitScopes(input.scopes ?? defaultMaxScopes(input.type)).join(' ');
  const { rowCount } = await db.query(
    `INSERT INTO auth_clients (tenant, client_id, type, name, redirect_uris, launch_uri, scopes, secret_hash, jwks, jwks_url, introspect)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
    [
      input.tenant,
      clientId,
      input.type,
      input.name ?? null,
      input.redirectUris ?? [],
      input.launchUri ?? null,
      scopes,
      secret ? hashSecret(secret) : null,
      jwks ? JSON.stringify(jwks) : null,
      input.jwksUrl ?? null,
      input.introspect === true,
    ],
  );
  if (rowCount === 0) throw new ClientValidationError(`client_id "${clientId}" is already registered in tenant ${input.tenant}`);
  const client = await getClient(db, input.tenant, clientId);
  return { client: client!, ...(secret ? { secret } : {}) };
}

/** The client, or undefined when it is not registered in this tenant. */
export async function getClient(db: Pick<Db, 'query'>, tenant: string, clientId: string): Promise<Client | undefined> {
  const { rows } = await db.query<ClientRow>('SELECT * FROM auth_clients WHERE tenant = $1 AND client_id = $2', [tenant, clientId]);
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/**
 * Re-points a registered public client at new URIs and scopes (Haven's own apps when BASE_URL changes). Grants
 * already issued keep their scopes; nothing beyond the new maximum is issued from now on.
 * @throws ClientValidationError for URIs that addClient would refuse.
 */
export async function updatePublicClient(
  db: Pick<Db, 'query'>,
  tenant: string,
  clientId: string,
  update: { name?: string; redirectUris: string[]; launchUri?: string; scopes: string },
): Promise<boolean> {
  validate({
    tenant,
    type: 'public',
    clientId,
    redirectUris: update.redirectUris,
    ...(update.launchUri ? { launchUri: update.launchUri } : {}),
  });
  const { rowCount } = await db.query(
    `UPDATE auth_clients SET name = $3, redirect_uris = $4, launch_uri = $5, scopes = $6
      WHERE tenant = $1 AND client_id = $2 AND type = 'public'`,
    [tenant, clientId, update.name ?? null, update.redirectUris, update.launchUri ?? null, splitScopes(update.scopes).join(' ')],
  );
  return rowCount > 0;
}

/** Every client of a tenant, by client_id. */
export async function listClients(db: Db, tenant: string): Promise<Client[]> {
  const { rows } = await db.query<ClientRow>('SELECT * FROM auth_clients WHERE tenant = $1 ORDER BY client_id', [tenant]);
  return rows.map(fromRow);
}

/** Removes a client and revokes every grant it holds; false when it was not registered. */
export async function removeClient(db: Db, tenant: string, clientId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const { rowCount } = await tx.query('DELETE FROM auth_clients WHERE tenant = $1 AND client_id = $2', [tenant, clientId]);
    await tx.query('UPDATE auth_grants SET revoked_at = now() WHERE tenant = $1 AND client_id = $2 AND revoked_at IS NULL', [
      tenant,
      clientId,
    ]);
    return rowCount > 0;
  });
}

/** The public view of a client (for `clients list`): no secret hash. */
export function describeClient(c: Client): Record<string, unknown> {
  return {
    client_id: c.clientId,
    type: c.type,
    ...(c.name ? { name: c.name } : {}),
    redirect_uris: c.redirectUris,
    ...(c.launchUri ? { launch_uri: c.launchUri } : {}),
    scopes: c.scopes.join(' '),
    ...(c.jwksUrl ? { jwks_url: c.jwksUrl } : {}),
    ...(c.jwks ? { jwks_kids: c.jwks.keys.map((k) => k.kid) } : {}),
    ...(c.introspect ? { introspect: true } : {}),
  };
}
