/**
 * Haven's EHR launch endpoint (server/src/auth/launch.ts): `POST {authBase}/launch` with the signed-in
 * clinician's token (scope `__haven_launch`) creates a single-use launch bound to the app, the user and the
 * patient, and answers the URL to open (`{launch_uri}?iss=…&launch=…`).
 */

/** The launch endpoint next to the token endpoint (`…/auth/token` → `…/auth/launch`). */
export function launchEndpoint(tokenEndpoint: string): string {
  const url = new URL(tokenEndpoint);
  if (!url.pathname.endsWith('/token')) throw new Error('The token endpoint is not Haven’s: cannot find its launch endpoint.');
  url.pathname = `${url.pathname.slice(0, -'/token'.length)}/launch`;
  return url.toString();
}

/** What to launch. */
export interface LaunchRequest {
  clientId: string;
  patient: string;
  encounter?: string;
  needPatientBanner: boolean;
}

/** Asks Haven for a launch URL; throws an Error with a message fit to show. */
export async function createLaunch(
  endpoint: string,
  accessToken: string,
  req: LaunchRequest,
  doFetch: typeof fetch = fetch,
): Promise<string> {
  const res = await doFetch(endpoint, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({
      client_id: req.clientId,
      patient: req.patient,
      ...(req.encounter ? { encounter: req.encounter } : {}),
      need_patient_banner: req.needPatientBanner,
    }),
  });
  const body = (await res.json().catch(() => ({}))) as { url?: string; error?: string; error_description?: string };
  if (res.status === 201 && typeof body.url === 'string') return body.url;
  if (res.status === 401) throw new Error('Your session has ended. Sign in again.');
  if (res.status === 403) throw new Error('Only clinicians can launch apps for a patient.');
  throw new Error(`The launch was refused: ${body.error_description ?? body.error ?? `status ${res.status}`}.`);
}
