/**
 * Haven's own SMART apps: where each is served, its client id and the scopes it asks for. The server reads this
 * to register the apps as public clients at start (server/src/http/app-clients.ts) and to hand each app its
 * configuration (`{path}config.json`); the apps read their part from that file, so registration and request
 * never drift apart. Pure data: no imports.
 *
 * Scopes are least privilege for what each screen does. `user/` scopes are cut by the signed-in user's role on
 * the server, and will be narrowed further by care-team policy when it lands (issue 14) without any change here.
 */

/** One app. */
export interface HavenApp {
  /** Folder under smart-apps/ and build output `smart-apps/{id}/dist`. */
  readonly id: 'patient' | 'clinician' | 'launcher';
  readonly clientId: string;
  readonly name: string;
  /** URL path the app is served under (ends with `/`). */
  readonly path: string;
  /** Path of the redirect URI, relative to BASE_URL. */
  readonly redirectPath: string;
  /** Path of the EHR launch URI (apps that an EHR launches), relative to BASE_URL. */
  readonly launchPath?: string;
  /** Scopes requested at authorize; also the client's maximum grant. */
  readonly scope: string;
}

const PATIENT_SCOPE = [
  'launch/patient',
  'openid',
  'fhirUser',
  'online_access',
  'patient/Patient.r',
  'patient/Appointment.rs',
  'patient/Questionnaire.rs',
  'patient/QuestionnaireResponse.crus',
  'patient/Observation.rs',
  'patient/CarePlan.rs',
  'patient/Goal.rs',
  'patient/CareTeam.rs',
  'patient/Communication.crs',
  'patient/Practitioner.rs',
].join(' ');

const CLINICIAN_SCOPE = [
  'launch',
  'launch/patient',
  'openid',
  'fhirUser',
  'online_access',
  'user/Patient.rs',
  'user/Practitioner.rs',
  'user/PractitionerRole.rs',
  'user/Encounter.rs',
  'user/Condition.rs',
  'user/Appointment.rs',
  'user/Questionnaire.rs',
  'user/QuestionnaireResponse.crs',
  'user/Observation.rs',
  'user/Flag.rs',
  'user/Task.crus',
  'user/CarePlan.rus',
  'user/Goal.rs',
  'user/CareTeam.rs',
  'user/Communication.crs',
  'user/Composition.crus',
  'user/Provenance.crs',
  'user/Procedure.crs',
].join(' ');

/** Every app Haven serves. */
export const HAVEN_APPS: readonly HavenApp[] = [
  {
    id: 'patient',
    clientId: 'haven-patient',
    name: 'Haven for patients',
    path: '/apps/patient/',
    redirectPath: '/apps/patient/callback',
    scope: PATIENT_SCOPE,
  },
  {
    id: 'clinician',
    clientId: 'haven-clinician',
    name: 'Haven for clinicians',
    path: '/apps/clinician/',
    redirectPath: '/apps/clinician/callback',
    launchPath: '/apps/clinician/launch',
    scope: CLINICIAN_SCOPE,
  },
  {
    id: 'launcher',
    clientId: 'haven-launcher',
    name: 'Haven launcher',
    path: '/launcher/',
    redirectPath: '/launcher/callback',
    scope: 'openid fhirUser __haven_launch user/Patient.rs user/Encounter.rs user/Practitioner.rs',
  },
];

/** What an app fetches from `{path}config.json`. */
export interface AppConfig {
  clientId: string;
  /** Absolute redirect URI as registered. */
  redirectUri: string;
  scope: string;
  /** FHIR base of the default tenant (the app may be given another `iss` on the same server). */
  fhirBase: string;
  /** Origin of BASE_URL: the only server the app talks to. */
  origin: string;
  /** Crisis text for patients (bots configuration `crisis.patientMessage`). */
  crisisMessage?: string;
  /** Client id of the clinician app (the launcher launches it). */
  clinicianClientId?: string;
}
