/**
 * EHR launch (SMART App Launch 2.2 "Launch App: EHR Launch"): `POST {authBase}/launch` creates an opaque,
 * single-use launch id, valid five minutes, bound to one client, one user and the launch context, and
 * answers the URL to open: `{launch_uri}?iss={fhirBase}&launch={id}`.
 *
 * Who may call it: a user's access token from this tenant, whose user has the `clinician` or `admin`
 * role, and which was granted the Haven extension scope `__haven_launch` (least privilege: an ordinary
 * app acting for a clinician cannot mint launches; only an app registered and consented for it, such as
 * Haven's launcher). The launch is bound to that same user: at authorize, only they can complete it.
 */
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Queryable } from '../store/db.ts';
import { AUDIT, audit } from './audit.ts';
import { getClient } from './clients.ts';
import { requestTenant, type AuthDeps } from './deps.ts';
import { encounterOfPatient, readResource } from './fhir-lookup.ts';
import type { FhirContextItem } from './grants.ts';
import type { LaunchData } from './interaction.ts';
import { OAuthError, noStore, sendOAuthError } from './oauth-error.ts';
import { bearerToken, verifyAccessToken } from './tokens.ts';
import { authUrls } from './urls.ts';

/** Lifetime of a launch id (seconds). */
export const LAUNCH_TTL_S = 300;
/** Roles allowed to create launches. */
export const LAUNCH_ROLES = ['clinician', 'admin'] as const;
/** Scope a token needs to create launches. */
export const LAUNCH_SCOPE = '__haven_launch';

const ID = /^[A-Za-z0-9.-]{1,64}$/;
const REFERENCE = /^[A-Z][A-Za-z]{1,63}\/[A-Za-z0-9.-]{1,64}$/;

/** Stores a launch; returns its id. */
export async function createLaunch(q: Queryable, tenant: string, clientId: string, data: LaunchData): Promise<string> {
  const id = randomBytes(24).toString('base64url');
  const { userId, ...context } = data;
  await q.query(
    `INSERT INTO auth_launches (id, tenant, client_id, user_id, context, expires_at)
     VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))`,
    [id, tenant, clientId, userId, JSON.stringify(context), LAUNCH_TTL_S],
  );
  return id;
}

/**
 * Uses up a launch id for `clientId`, atomically. Undefined when it is unknown in this tenant, expired,
 * already used, or issued for another client.
 */
export async function consumeLaunch(q: Queryable, tenant: string, id: string, clientId: string): Promise<LaunchData | undefined> {
  if (id.length > 128) return undefined;
  const { rows } = await q.query<{ user_id: string; context: Omit<LaunchData, 'userId'> }>(
    `UPDATE auth_launches SET used_at = now()
      WHERE id = $1 AND tenant = $2 AND client_id = $3 AND used_at IS NULL AND expires_at > now()
      RETURNING user_id, context`,
    [id, tenant, clientId],
  );
  return rows[0] ? { userId: rows[0].user_id, ...rows[0].context } : undefined;
}

function optionalString(body: Record<string, unknown>, key: string, pattern: RegExp): string | undefined {
  const v = body[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !pattern.test(v)) throw new OAuthError('invalid_request', `${key} is malformed`);
  return v;
}

function parseFhirContext(v: unknown): FhirContextItem[] | undefined {
  if (v === undefined) return undefined;
  const list = typeof v === 'string' ? (JSON.parse(v) as unknown) : v;
  if (!Array.isArray(list) || list.length > 20)
    throw new OAuthError('invalid_request', 'fhirContext must be an array of up to 20 {reference, role?} objects');
  return list.map((item: { reference?: unknown; role?: unknown }) => {
    if (typeof item?.reference !== 'string' || !REFERENCE.test(item.reference))
      throw new OAuthError('invalid_request', 'fhirContext references must be relative Type/id');
    if (item.role !== undefined && (typeof item.role !== 'string' || item.role.length > 200))
      throw new OAuthError('invalid_request', 'fhirContext role must be a string');
    return { reference: item.reference, ...(item.role ? { role: item.role as string } : {}) };
  });
}

/** `POST {authBase}/launch`: JSON or form body {client_id, patient?, encounter?, need_patient_banner?, intent?, fhirContext?}. */
export async function handleLaunch(deps: AuthDeps, req: Request, res: Response): Promise<void> {
  const tenant = requestTenant(req)!;
  const urls = authUrls(deps.config, tenant);
  noStore(res);
  try {
    const token = bearerToken(req.get('authorization'));
    const caller = token ? await verifyAccessToken(deps.keys, deps.db, token, tenant, urls.issuer) : undefined;
    if (!caller) throw new OAuthError('invalid_token', 'A valid access token of this server is required');
    if (!caller.userId || !caller.roles.some((r) => (LAUNCH_ROLES as readonly string[]).includes(r))) {
      throw new OAuthError('insufficient_scope', 'Only clinician or admin users may create launches', 403);
    }
    if (!caller.claims.scope.split(' ').includes(LAUNCH_SCOPE))
      throw new OAuthError('insufficient_scope', `The token lacks the ${LAUNCH_SCOPE} scope`, 403);
    const body = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const clientId = body.client_id;
    if (typeof clientId !== 'string' || clientId === '') throw new OAuthError('invalid_request', 'client_id is required');
    const client = await getClient(deps.db, tenant, clientId);
    if (!client?.launchUri) throw new OAuthError('invalid_request', 'Unknown client, or the client has no registered launch URI');
    const patient = optionalString(body, 'patient', ID);
    const encounter = optionalString(body, 'encounter', ID);
    const intent = optionalString(body, 'intent', /^[\x20-\x7E]{1,200}$/);
    if (patient && !(await readResource(deps.db, tenant, 'Patient', patient)))
      throw new OAuthError('invalid_request', 'patient does not exist');
    if (encounter && !(await encounterOfPatient(deps.db, tenant, encounter, patient)))
      throw new OAuthError('invalid_request', 'encounter does not exist or belongs to another patient');
    const banner = body.need_patient_banner;
    const fhirContext = parseFhirContext(body.fhirContext);
    const data: LaunchData = {
      userId: caller.userId,
      needPatientBanner: !(banner === false || banner === 'false'),
      ...(patient ? { patient } : {}),
      ...(encounter ? { encounter } : {}),
      ...(intent ? { intent } : {}),
      ...(fhirContext ? { fhirContext } : {}),
    };
    const id = await createLaunch(deps.db, tenant, client.clientId, data);
    const url = new URL(client.launchUri);
    url.searchParams.set('iss', urls.fhirBase);
    url.searchParams.set('launch', id);
    audit(deps.log, AUDIT.launchCreated, { tenant, outcome: 'success', client_id: client.clientId, user_id: caller.userId });
    res.status(201).json({ launch: id, url: url.toString(), expires_in: LAUNCH_TTL_S });
  } catch (err) {
    if (err instanceof SyntaxError) return sendOAuthError(res, new OAuthError('invalid_request', 'fhirContext is not JSON'), urls.issuer);
    if (!(err instanceof OAuthError)) throw err;
    if (err.status === 403) {
      res.setHeader('WWW-Authenticate', `Bearer realm="${urls.issuer}", error="insufficient_scope", scope="${LAUNCH_SCOPE}"`);
      res.status(403).json({ error: err.code, error_description: err.message });
      return;
    }
    sendOAuthError(res, err, urls.issuer);
  }
}
