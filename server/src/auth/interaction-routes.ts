/**
 * The pages of an interaction: sign-in, patient picker (standalone launch with `launch/patient`, SMART
 * App Launch 2.2 §standalone), consent, then the authorization code redirect (RFC 6749 §4.1.2).
 *
 * Steps are decided from the stored state on every request, so reloading a page or pressing Back is
 * harmless, and every POST answers 303 (Post/Redirect/Get).
 */
import type { Request, Response } from 'express';
import { AUDIT, audit } from './audit.ts';
import { htmlHeaders, redirectError, sendErrorPage } from './authorize.ts';
import { clientKey } from './client-ip.ts';
import { getClient } from './clients.ts';
import { requestTenant, type AuthDeps } from './deps.ts';
import { displayName, listPatients, ownPatient, readResource } from './fhir-lookup.ts';
import { createCode, type GrantContext } from './grants.ts';
import { GateBusyError } from './hash-gate.ts';
import { consentPage, loginPage, patientPage } from './html.ts';
import { endInteraction, loadInteraction, setInteractionPatient, setInteractionUser, type Interaction } from './interaction.ts';
import { resourceScope } from '../policy/scopes.ts';
import { authUrls } from './urls.ts';
import { spend } from './throttle.ts';
import { authenticateUser, getUser, type LoginResult, type User } from './users.ts';

const LOGIN_FAILED = 'The username, password or one-time code is wrong, or the account is locked for a while after too many attempts.';
const BUSY = 'The server is busy checking other sign-ins. Wait a few seconds and try again.';

function tooManyMessage(seconds: number): string {
  return `Too many sign-in attempts. Wait ${seconds} seconds and try again.`;
}

interface Ctx {
  deps: AuthDeps;
  tenant: string;
  ia: Interaction;
  clientName: string;
  pageUrl: string;
  cookiePath: string;
  issuer: string;
  redirectOrigin: string;
}

async function context(deps: AuthDeps, req: Request, res: Response, csrf?: string): Promise<Ctx | undefined> {
  const tenant = requestTenant(req)!;
  const urls = authUrls(deps.config, tenant);
  const ia = await loadInteraction(deps.db, req, tenant, String(req.params.id), csrf);
  if (!ia) {
    sendErrorPage(
      res,
      400,
      'Sign-in expired',
      'This sign-in page has expired, was already used, or was opened in another browser. Start again from the application.',
    );
    return undefined;
  }
  const client = await getClient(deps.db, tenant, ia.clientId);
  if (!client) {
    sendErrorPage(res, 400, 'Unknown application', 'The application was removed while you were signing in.');
    return undefined;
  }
  return {
    deps,
    tenant,
    ia,
    clientName: client.name ?? client.clientId,
    pageUrl: `${urls.authBase}/interaction/${ia.id}`,
    cookiePath: new URL(urls.authBase).pathname,
    issuer: urls.issuer,
    redirectOrigin: new URL(ia.request.redirectUri).origin,
  };
}

/** True when the request needs a patient in context that the launch did not provide. */
function needsPatient(ia: Interaction): boolean {
  if (ia.request.launch?.patient) return false;
  return ia.request.scopes.some((s) => s === 'launch/patient' || resourceScope(s)?.context === 'patient');
}

async function deny(ctx: Ctx, res: Response, description: string, reason: string): Promise<void> {
  await endInteraction(ctx.deps.db, res, ctx.ia.id, ctx.cookiePath);
  audit(ctx.deps.log, AUDIT.authorize, {
    tenant: ctx.tenant,
    outcome: 'failure',
    client_id: ctx.ia.clientId,
    ...(ctx.ia.userId ? { user_id: ctx.ia.userId } : {}),
    reason,
  });
  redirectError(res, ctx.ia.request.redirectUri, ctx.issuer, 'access_denied', description, ctx.ia.request.state, 303);
}

async function renderStep(ctx: Ctx, req: Request, res: Response, user: User | undefined, error?: string, status = 200): Promise<void> {
  htmlHeaders(res, [ctx.redirectOrigin]);
  const { ia } = ctx;
  if (!user) {
    res.status(status).send(loginPage({ action: `${ctx.pageUrl}/login`, csrf: ia.csrf, clientName: ctx.clientName, error }));
    return;
  }
  if (needsPatient(ia) && !ia.patient) {
    const name = typeof req.query.name === 'string' ? req.query.name.slice(0, 100) : '';
    const patients = await listPatients(ctx.deps.db, ctx.tenant, name);
    res.status(status).send(
      patientPage({
        action: `${ctx.pageUrl}/patient`,
        self: ctx.pageUrl,
        csrf: ia.csrf,
        clientName: ctx.clientName,
        patients,
        name,
        error,
      }),
    );
    return;
  }
  const patient = ia.request.launch?.patient ?? ia.patient;
  const patientLabel = patient
    ? displayName(await readResource(ctx.deps.db, ctx.tenant, 'Patient', patient), `Patient/${patient}`)
    : undefined;
  res.status(status).send(
    consentPage({
      action: `${ctx.pageUrl}/consent`,
      csrf: ia.csrf,
      clientName: ctx.clientName,
      scopes: ia.request.scopes,
      userLabel: `${user.username} (${user.fhirUser})`,
      ...(patientLabel ? { patientLabel } : {}),
      error,
    }),
  );
}

async function currentUser(ctx: Ctx): Promise<User | undefined> {
  return ctx.ia.userId ? getUser(ctx.deps.db, ctx.tenant, ctx.ia.userId) : undefined;
}

/** `GET {authBase}/interaction/:id`: the current step's page. */
export async function showInteraction(deps: AuthDeps, req: Request, res: Response): Promise<void> {
  const ctx = await context(deps, req, res);
  if (ctx) await renderStep(ctx, req, res, await currentUser(ctx));
}

function formField(req: Request, name: string): string {
  const v = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : '';
}

/** `POST …/login`: fields username, password, otp, action (login|cancel). */
export async function postLogin(deps: AuthDeps, req: Request, res: Response): Promise<void> {
  const ctx = await context(deps, req, res, formField(req, 'csrf_token'));
  if (!ctx) return;
  if (formField(req, 'action') === 'cancel') return deny(ctx, res, 'The user cancelled sign-in', 'cancelled');
  if (ctx.ia.userId) {
    res.redirect(303, ctx.pageUrl);
    return;
  }
  const username = formField(req, 'username').slice(0, 256);
  // Per address first, then per username (known or not, so the answer says nothing about which it is).
  const refusal =
    spend(deps, ctx.tenant, 'signInIp', clientKey(req)) ?? spend(deps, ctx.tenant, 'signInUser', `${ctx.tenant}\n${username}`);
  if (refusal) {
    res.setHeader('Retry-After', String(refusal.retryAfterS));
    return renderStep(ctx, req, res, undefined, tooManyMessage(refusal.retryAfterS), 429);
  }
  let result: LoginResult;
  try {
    result = await authenticateUser(deps.db, deps.kek, ctx.tenant, username, formField(req, 'password'), formField(req, 'otp'), {
      gate: deps.guards.gate,
    });
  } catch (err) {
    if (!(err instanceof GateBusyError)) throw err;
    audit(deps.log, AUDIT.login, { tenant: ctx.tenant, outcome: 'failure', client_id: ctx.ia.clientId, reason: 'busy' });
    res.setHeader('Retry-After', String(err.retryAfterS));
    return renderStep(ctx, req, res, undefined, BUSY, 503);
  }
  if (!result.ok) {
    audit(deps.log, AUDIT.login, {
      tenant: ctx.tenant,
      outcome: 'failure',
      client_id: ctx.ia.clientId,
      reason: result.reason,
      ...(result.userId ? { user_id: result.userId } : {}),
    });
    return renderStep(ctx, req, res, undefined, LOGIN_FAILED, 401);
  }
  const user = result.user;
  audit(deps.log, AUDIT.login, { tenant: ctx.tenant, outcome: 'success', client_id: ctx.ia.clientId, user_id: user.id });
  // An EHR launch is bound to the clinician who created it: nobody else can complete it.
  if (ctx.ia.request.launch && ctx.ia.request.launch.userId !== user.id) {
    return deny(ctx, res, 'This launch was created for another user', 'launch_user_mismatch');
  }
  let patient: string | undefined;
  if (needsPatient(ctx.ia)) {
    patient = await ownPatient(deps.db, ctx.tenant, user.fhirUser);
    // Patients and related persons never choose: they get their own (or their linked) record, or nothing.
    if (!patient && !user.fhirUser.startsWith('Practitioner/')) {
      return deny(ctx, res, 'No patient record is linked to this account', 'no_patient_for_user');
    }
  }
  await setInteractionUser(deps.db, ctx.ia.id, user.id, patient);
  res.redirect(303, ctx.pageUrl);
}

/** `POST …/patient`: fields patient, action (select|cancel). Only for practitioner users. */
export async function postPatient(deps: AuthDeps, req: Request, res: Response): Promise<void> {
  const ctx = await context(deps, req, res, formField(req, 'csrf_token'));
  if (!ctx) return;
  if (formField(req, 'action') === 'cancel') return deny(ctx, res, 'The user cancelled patient selection', 'cancelled');
  const user = await currentUser(ctx);
  if (!user) {
    res.redirect(303, ctx.pageUrl);
    return;
  }
  if (!user.fhirUser.startsWith('Practitioner/') || !needsPatient(ctx.ia)) {
    return sendErrorPage(res, 400, 'Not allowed', 'Patient selection is not part of this sign-in.');
  }
  const patient = formField(req, 'patient');
  if (!patient || !(await readResource(deps.db, ctx.tenant, 'Patient', patient))) {
    return renderStep(ctx, req, res, user, 'Choose one of the listed patients.', 400);
  }
  await setInteractionPatient(deps.db, ctx.ia.id, patient);
  res.redirect(303, ctx.pageUrl);
}

/** `POST …/consent`: fields scope (repeated checkboxes), action (allow|deny). Issues the code. */
export async function postConsent(deps: AuthDeps, req: Request, res: Response): Promise<void> {
  const ctx = await context(deps, req, res, formField(req, 'csrf_token'));
  if (!ctx) return;
  const { ia } = ctx;
  const user = await currentUser(ctx);
  if (!user || (needsPatient(ia) && !ia.patient)) {
    res.redirect(303, ctx.pageUrl);
    return;
  }
  if (formField(req, 'action') !== 'allow') return deny(ctx, res, 'The user denied access', 'denied');
  const raw = (req.body as Record<string, unknown>).scope;
  const ticked = new Set((Array.isArray(raw) ? raw : [raw]).filter((s): s is string => typeof s === 'string'));
  // Only scopes that were asked for can be granted, whatever the form says.
  const scopes = ia.request.scopes.filter((s) => ticked.has(s));
  if (scopes.length === 0) return deny(ctx, res, 'The user granted no permissions', 'nothing_granted');
  // Ending the interaction first makes a double submit harmless: only one request can issue a code.
  if (!(await endInteraction(deps.db, res, ia.id, ctx.cookiePath))) {
    return sendErrorPage(res, 400, 'Sign-in expired', 'This sign-in was already completed.');
  }
  const launch = ia.request.launch;
  const patient = launch?.patient ?? ia.patient;
  const wantsPatient = scopes.some((s) => s === 'launch' || s === 'launch/patient' || resourceScope(s)?.context === 'patient');
  const ctxOut: GrantContext = {
    ...(patient && wantsPatient ? { patient } : {}),
    ...(launch?.encounter && scopes.includes('launch') ? { encounter: launch.encounter } : {}),
    ...(launch?.fhirContext && scopes.includes('launch') ? { fhirContext: launch.fhirContext } : {}),
    ...(launch?.intent && scopes.includes('launch') ? { intent: launch.intent } : {}),
    // An EHR may show its own banner; a standalone app always has to (SMART context-banner).
    needPatientBanner: launch ? launch.needPatientBanner : true,
    fhirUser: user.fhirUser,
    ...(ia.request.nonce ? { nonce: ia.request.nonce } : {}),
    authTime: Math.floor(Date.now() / 1000),
  };
  const code = await createCode(deps.db, ctx.tenant, {
    clientId: ia.clientId,
    redirectUri: ia.request.redirectUri,
    codeChallenge: ia.request.codeChallenge,
    userId: user.id,
    scopes: scopes.join(' '),
    context: ctxOut,
  });
  audit(deps.log, AUDIT.authorize, {
    tenant: ctx.tenant,
    outcome: 'success',
    client_id: ia.clientId,
    user_id: user.id,
    scope: scopes.join(' '),
  });
  const url = new URL(ia.request.redirectUri);
  url.searchParams.append('code', code);
  url.searchParams.append('state', ia.request.state);
  url.searchParams.append('iss', ctx.issuer);
  res.setHeader('Cache-Control', 'no-store');
  res.redirect(303, url.toString());
}
