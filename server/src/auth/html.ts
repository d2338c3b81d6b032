/**
 * The authorization server's HTML pages: login, patient picker, consent and error. Plain forms that work
 * without JavaScript, with labels, fieldsets and an error summary announced by screen readers
 * (WCAG 2.1: 1.3.1 info and relationships, 3.3.1 error identification, 3.3.2 labels). Every value is
 * HTML-escaped. Field names are documented in auth/README.md.
 */
import { queryString, resourceScope } from '../policy/scopes.ts';

/** Escapes text for HTML element content and double-quoted attributes. */
export function esc(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}
label{display:block;margin-top:1rem;font-weight:600}input[type=text],input[type=password],input[type=search]{width:100%;padding:.5rem;font-size:1rem}
fieldset{margin-top:1rem;border:1px solid #888;padding:.5rem 1rem}fieldset label{display:inline;font-weight:400;margin:0}
.opt{margin:.4rem 0}button{margin-top:1.25rem;margin-right:.75rem;padding:.5rem 1.25rem;font-size:1rem}
.error{border:2px solid #b00020;padding:.5rem 1rem;color:#b00020}code{font-size:.9em}`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)} – Haven</title><style>${STYLE}</style></head>
<body><main>
<h1>${esc(title)}</h1>
${body}
</main></body>
</html>
`;
}

function errorSummary(error: string | undefined): string {
  return error ? `<div class="error" role="alert" id="form-error"><p>${esc(error)}</p></div>\n` : '';
}

/** A page for errors that must not redirect (unknown client, unregistered redirect URI, expired flow). */
export function errorPage(title: string, message: string): string {
  return page(
    title,
    `<div class="error" role="alert"><p>${esc(message)}</p></div>\n<p>You can close this window and start again from the application.</p>`,
  );
}

/** The login form. Fields: csrf_token, username, password, otp, action=login|cancel. */
export function loginPage(p: { action: string; csrf: string; clientName: string; error?: string }): string {
  const described = p.error ? ' aria-describedby="form-error"' : '';
  return page(
    'Sign in',
    `<p><strong>${esc(p.clientName)}</strong> asks to access your health record on your behalf. Sign in to continue.</p>
${errorSummary(p.error)}<form method="post" action="${esc(p.action)}">
<input type="hidden" name="csrf_token" value="${esc(p.csrf)}">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required${described}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${described}>
<label for="otp">One-time code <span style="font-weight:400">(only if your account uses an authenticator app)</span></label>
<input type="text" id="otp" name="otp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6">
<div><button type="submit" name="action" value="login">Sign in</button><button type="submit" name="action" value="cancel" formnovalidate>Cancel</button></div>
</form>`,
  );
}

/** One patient in the picker. */
export interface PatientChoice {
  id: string;
  name: string;
  birthDate?: string;
}

/**
 * The patient picker. POST fields: csrf_token, patient, action=select|cancel. The name filter is a GET
 * form with field `name`.
 */
export function patientPage(p: {
  action: string;
  self: string;
  csrf: string;
  clientName: string;
  patients: PatientChoice[];
  name: string;
  error?: string;
}): string {
  const options =
    p.patients.length === 0
      ? '<p>No patients match.</p>'
      : p.patients
          .map(
            (
              pt,
              i,
            ) => `<div class="opt"><input type="radio" id="patient-${i}" name="patient" value="${esc(pt.id)}"${i === 0 ? ' required' : ''}>
<label for="patient-${i}">${esc(pt.name)}${pt.birthDate ? `, born ${esc(pt.birthDate)}` : ''} <span>(Patient/${esc(pt.id)})</span></label></div>`,
          )
          .join('\n');
  return page(
    'Choose a patient',
    `<p><strong>${esc(p.clientName)}</strong> will open with the patient you choose.</p>
${errorSummary(p.error)}<form method="get" action="${esc(p.self)}" role="search">
<label for="name">Find by name</label>
<input type="search" id="name" name="name" value="${esc(p.name)}">
<button type="submit">Search</button>
</form>
<form method="post" action="${esc(p.action)}">
<input type="hidden" name="csrf_token" value="${esc(p.csrf)}">
<fieldset><legend>Patients</legend>
${options}
</fieldset>
<div><button type="submit" name="action" value="select">Continue</button><button type="submit" name="action" value="cancel" formnovalidate>Cancel</button></div>
</form>`,
  );
}

const PERMS: Record<string, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };
const CONTEXT_WORDS: Record<string, string> = {
  patient: 'of the patient in context',
  user: 'that you can access',
  system: 'in the whole system',
};
const FIXED: Record<string, string> = {
  openid: 'Know who you are (sign-in)',
  fhirUser: 'Know which record represents you',
  launch: 'Open with the patient and encounter of your current session',
  'launch/patient': 'Ask which patient to work with',
  'launch/encounter': 'Ask which encounter to work with',
  offline_access: 'Keep access when you are not using the application',
  online_access: 'Keep access while you are signed in',
  __haven_launch: 'Launch other applications for you',
};

/** A plain-language description of a scope, for the consent form. */
export function describeScope(scope: string): string {
  if (Object.hasOwn(FIXED, scope)) return FIXED[scope] as string;
  const r = resourceScope(scope);
  if (!r) return scope;
  const verbs = r.permissions.map((p) => PERMS[p]).join(', ');
  const what = r.resourceType === '*' ? 'all kinds of records' : `${r.resourceType} records`;
  return `${verbs[0].toUpperCase()}${verbs.slice(1)} ${what} ${CONTEXT_WORDS[r.context]}${r.query ? ` (only where ${queryString(r.query)})` : ''}`;
}

/** The consent form. Fields: csrf_token, scope (one checkbox per scope), action=allow|deny. */
export function consentPage(p: {
  action: string;
  csrf: string;
  clientName: string;
  scopes: string[];
  userLabel: string;
  patientLabel?: string;
  error?: string;
}): string {
  const boxes = p.scopes
    .map(
      (s, i) => `<div class="opt"><input type="checkbox" id="scope-${i}" name="scope" value="${esc(s)}" checked>
<label for="scope-${i}">${esc(describeScope(s))} <code>${esc(s)}</code></label></div>`,
    )
    .join('\n');
  return page(
    'Allow access?',
    `<p>Signed in as <strong>${esc(p.userLabel)}</strong>.${p.patientLabel ? ` Patient: <strong>${esc(p.patientLabel)}</strong>.` : ''}</p>
<p><strong>${esc(p.clientName)}</strong> asks for the permissions below. Untick any you do not want to give.</p>
${errorSummary(p.error)}<form method="post" action="${esc(p.action)}">
<input type="hidden" name="csrf_token" value="${esc(p.csrf)}">
<fieldset><legend>Permissions</legend>
${boxes}
</fieldset>
<div><button type="submit" name="action" value="allow">Allow</button><button type="submit" name="action" value="deny">Deny</button></div>
</form>`,
  );
}
