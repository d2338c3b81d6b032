/**
 * Browser interactions: the state of one authorization request while the person signs in, picks a
 * patient and consents. Stored server-side; the browser holds only its id (in the page URL) and a
 * binding cookie.
 *
 * CSRF defence (OWASP CSRF cheat sheet: synchronizer token + cookie binding): every form POST must carry
 * the interaction's `csrf_token` AND come from the browser that started the interaction (an HttpOnly,
 * SameSite=Lax cookie whose SHA-256 the interaction stores). A page opened or a form posted from another
 * browser (login CSRF, a leaked interaction URL) is refused.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Db } from '../store/db.ts';
import type { FhirContextItem } from './grants.ts';

/** How long a person has to finish signing in and consenting. */
export const INTERACTION_TTL_S = 600;

/** The EHR context a launch id carried. */
export interface LaunchData {
  userId: string;
  patient?: string;
  encounter?: string;
  fhirContext?: FhirContextItem[];
  needPatientBanner: boolean;
  intent?: string;
}

/** A validated authorization request (RFC 6749 §4.1.1 plus SMART and OIDC parameters). */
export interface AuthRequest {
  redirectUri: string;
  state: string;
  /** Requested scopes after syntax check and reduction to the client's maximum grant. */
  scopes: string[];
  codeChallenge: string;
  nonce?: string;
  /** Present for an EHR launch. */
  launch?: LaunchData;
}

/** An interaction row. */
export interface Interaction {
  id: string;
  tenant: string;
  clientId: string;
  csrf: string;
  request: AuthRequest;
  userId?: string;
  patient?: string;
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

function cookieName(id: string): string {
  return `haven_ia_${sha256(id).slice(0, 12)}`;
}

function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(sha256(a));
  const y = Buffer.from(sha256(b));
  return timingSafeEqual(x, y);
}

/** Creates an interaction and sets its binding cookie on `res`; returns the interaction id. */
export async function startInteraction(
  db: Db,
  res: Response,
  p: { tenant: string; clientId: string; request: AuthRequest; cookiePath: string; secure: boolean },
): Promise<string> {
  const id = randomBytes(24).toString('base64url');
  const binding = randomBytes(32).toString('base64url');
  const csrf = randomBytes(24).toString('base64url');
  await db.query(
    `INSERT INTO auth_interactions (id, tenant, client_id, browser_hash, csrf, request, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
    [id, p.tenant, p.clientId, sha256(binding), csrf, JSON.stringify(p.request), INTERACTION_TTL_S],
  );
  res.cookie(cookieName(id), binding, {
    httpOnly: true,
    sameSite: 'lax',
    secure: p.secure,
    path: p.cookiePath,
    maxAge: INTERACTION_TTL_S * 1000,
  });
  return id;
}

/**
 * Loads an unexpired interaction of this tenant opened by this browser; with `csrf`, also checks the
 * form's token. Undefined when any check fails.
 */
export async function loadInteraction(db: Db, req: Request, tenant: string, id: string, csrf?: string): Promise<Interaction | undefined> {
  if (!/^[A-Za-z0-9_-]{32}$/.test(id)) return undefined;
  const { rows } = await db.query<{
    client_id: string;
    browser_hash: string;
    csrf: string;
    request: AuthRequest;
    user_id: string | null;
    patient: string | null;
  }>(
    'SELECT client_id, browser_hash, csrf, request, user_id, patient FROM auth_interactions WHERE id = $1 AND tenant = $2 AND expires_at > now()',
    [id, tenant],
  );
  const r = rows[0];
  if (!r) return undefined;
  const binding = readCookie(req, cookieName(id));
  if (!binding || !sameSecret(sha256(binding), r.browser_hash)) return undefined;
  if (csrf !== undefined && !sameSecret(csrf, r.csrf)) return undefined;
  return {
    id,
    tenant,
    clientId: r.client_id,
    csrf: r.csrf,
    request: r.request,
    ...(r.user_id ? { userId: r.user_id } : {}),
    ...(r.patient ? { patient: r.patient } : {}),
  };
}

/** Records the signed-in user and, if known, the patient. */
export async function setInteractionUser(db: Db, id: string, userId: string, patient: string | undefined): Promise<void> {
  await db.query('UPDATE auth_interactions SET user_id = $2, patient = COALESCE($3, patient) WHERE id = $1', [id, userId, patient ?? null]);
}

/** Records the chosen patient. */
export async function setInteractionPatient(db: Db, id: string, patient: string): Promise<void> {
  await db.query('UPDATE auth_interactions SET patient = $2 WHERE id = $1', [id, patient]);
}

/** Ends an interaction (completed or abandoned): its id and cookie are worthless afterwards. */
export async function endInteraction(db: Db, res: Response, id: string, cookiePath: string): Promise<boolean> {
  res.clearCookie(cookieName(id), { path: cookiePath });
  const { rowCount } = await db.query('DELETE FROM auth_interactions WHERE id = $1', [id]);
  return rowCount === 1;
}
