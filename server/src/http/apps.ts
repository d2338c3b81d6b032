/**
 * Serves the built SMART apps (smart-apps/, built by smart-apps/build.ts before `npm start`) at their paths
 * (`/apps/patient/`, `/apps/clinician/`, `/launcher/`), and each app's `config.json` (client id, redirect URI
 * and FHIR base from BASE_URL, the crisis text from the bots configuration).
 *
 * Headers: no X-Frame-Options, and CSP `frame-ancestors *`, because the apps run inside EHR iframes whose
 * origins Haven cannot know in advance. That is safe here because an app page holds no ambient credential: its
 * tokens live in the frame's own storage under a launch id in its URL, so a page that frames an app gets an app
 * with no session, and Haven's sign-in pages refuse to be framed. Everything else is locked to this server
 * (`default-src 'self'`, no inline script). `Referrer-Policy: no-referrer` keeps launch ids and codes in the
 * URL from leaking to links the apps open (988lifeline.org).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import { HAVEN_APPS, type AppConfig, type HavenApp } from '../../../smart-apps/registry.ts';
import { distDir } from '../../../smart-apps/build.ts';
import { DEMO_PASSWORD, DEMO_USERS } from '../cli/demo-clinic.ts';
import type { HavenConfig } from '../config.ts';
import type { Db } from '../store/db.ts';
import { loadClinicalConfig } from '../../../bots/clinical/config.ts';
import { fhirBase } from './fhir-api.ts';

/** Options of {@link createAppsRouter}. */
export interface AppsOptions {
  config: Pick<HavenConfig, 'baseUrl'>;
  /** The crisis message patients see (bots configuration `crisis.patientMessage`). */
  crisisMessage?: string;
  /** Storage, for the front door's "is the demo loaded" (no front door without it). */
  db?: Pick<Db, 'query'>;
  /** Where the built apps are (tests); default smart-apps/{app}/dist. */
  distOf?: (app: HavenApp) => string;
}

/** The Content-Security-Policy of app pages. */
export function appCsp(baseUrl: string): string {
  const origin = new URL(baseUrl).origin;
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${origin}`,
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    'frame-ancestors *',
  ].join('; ');
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>App not built – Haven</title></head>
<body><main><h1>This app is not built yet</h1><p>Start Haven with <code>npm start</code>, which builds the apps, or run
<code>node smart-apps/build.ts</code>, then reload.</p><p>If you are in crisis, call or text 988, or call 911.</p></main></body></html>`;

/** The configuration an app reads from `{path}config.json`. */
export function appConfig(app: HavenApp, opts: AppsOptions): AppConfig {
  const clinician = HAVEN_APPS.find((a) => a.id === 'clinician');
  return {
    clientId: app.clientId,
    redirectUri: `${opts.config.baseUrl}${app.redirectPath}`,
    scope: app.scope,
    fhirBase: fhirBase(opts.config as HavenConfig, 'default'),
    origin: new URL(opts.config.baseUrl).origin,
    ...(app.id === 'patient' && opts.crisisMessage ? { crisisMessage: opts.crisisMessage } : {}),
    ...(app.id === 'launcher' && clinician ? { clinicianClientId: clinician.clientId } : {}),
  };
}

function esc(v: string): string {
  return v.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** True when `haven seed --demo` has loaded the demo clinic into the default tenant. */
async function demoSeeded(db: Pick<Db, 'query'>): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM resources WHERE tenant = 'default' AND resource_type = 'Organization' AND id = 'demo-clinic' AND NOT deleted`,
  );
  return rows.length > 0;
}

/** The front door at `/`: what this server is, and links to the apps, the launcher, the FHIR base. */
export function frontDoor(baseUrl: string, demo: boolean): string {
  const fhir = `${baseUrl}/fhir`;
  const logins = demo
    ? `<h2>Demo logins</h2><p>The demo clinic is loaded. Password for every demo user: <code>${esc(DEMO_PASSWORD)}</code> (demo data only).</p>
<table><thead><tr><th scope="col">Username</th><th scope="col">Who</th></tr></thead><tbody>
${DEMO_USERS.map((u) => `<tr><td><code>${esc(u.username)}</code></td><td>${esc(u.who)}</td></tr>`).join('\n')}
</tbody></table>`
    : `<p>No demo data here. To load a demo clinic with logins: <code>npm run haven -- seed --demo</code>, then reload.</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Haven</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}
a{color:#0a4f8a}code{font-size:.95em}table{border-collapse:collapse}td,th{border-bottom:1px solid #ccc;padding:.25rem .75rem;text-align:left}</style></head>
<body><main><h1>Haven</h1>
<p>A FHIR-native behavioral-health platform: a FHIR R4 server with a SMART authorization server, clinical bots, and SMART apps.</p>
<ul>
<li><a href="/launcher/">Launcher</a>: sign in as a clinician, pick a patient, launch the clinician app (an EHR launch).</li>
<li><a href="/apps/patient/">Patient app</a>: sign in as a patient.</li>
<li><a href="/apps/clinician/">Clinician app</a>: opens from a chart or the launcher.</li>
<li>FHIR base: <code>${esc(fhir)}</code> (<a href="/fhir/metadata">CapabilityStatement</a>, <a href="/fhir/.well-known/smart-configuration">SMART configuration</a>)</li>
</ul>
${logins}
<p>If you are in crisis, call or text 988, or call 911.</p>
</main></body></html>
`;
}

/** The router: mount at the root of the app. */
export function createAppsRouter(options: AppsOptions): express.Router {
  // The same crisis text the risk bot sends (HAVEN_BOT_CONFIG over bots/config/defaults.json, validated at start).
  const opts: AppsOptions = { ...options, crisisMessage: options.crisisMessage ?? loadClinicalConfig().crisis.patientMessage };
  // strict: `/apps/patient` and `/apps/patient/` are different routes (the first redirects to the second).
  const router = express.Router({ strict: true });
  const csp = appCsp(opts.config.baseUrl);
  const pageHeaders = (res: express.Response) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Content-Type-Options', 'nosniff');
  };
  if (opts.db) {
    const db = opts.db;
    router.get('/', async (_req, res) => {
      let demo = false;
      try {
        demo = await demoSeeded(db);
      } catch {
        demo = false; // storage trouble shows on /healthz; the front door still answers
      }
      res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'");
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Cache-Control', 'no-store');
      res.type('html').send(frontDoor(opts.config.baseUrl, demo));
    });
  }
  for (const app of HAVEN_APPS) {
    const dist = opts.distOf?.(app) ?? distDir(app.id);
    const bare = app.path.replace(/\/$/, '');
    // `/apps/patient` → `/apps/patient/` (relative asset URLs and the app's own path need the slash).
    router.get(bare, (req, res) => {
      const q = req.originalUrl.indexOf('?');
      res.redirect(301, `${app.path}${q >= 0 ? req.originalUrl.slice(q) : ''}`);
    });
    router.get(`${app.path}config.json`, (_req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.json(appConfig(app, opts));
    });
    // Hashed file names: cache for a year. Unknown assets are a plain 404, never the page.
    router.use(
      `${app.path}assets`,
      (_req, res, next) => {
        res.setHeader('X-Content-Type-Options', 'nosniff');
        next();
      },
      express.static(join(dist, 'assets'), { immutable: true, maxAge: '365d', index: false, dotfiles: 'ignore' }),
      (_req, res) => void res.status(404).type('text/plain').send('Not found'),
    );
    // Every other path under the app (its start page, `launch`, `callback`, views) is the app's page.
    router.get(new RegExp(`^${app.path.replace(/\//g, '\\/')}(?!assets\\/)[^.]*$`), (_req, res) => {
      pageHeaders(res);
      const index = join(dist, 'index.html');
      if (!existsSync(index)) {
        res.setHeader('Cache-Control', 'no-store');
        res.status(503).type('html').send(NOT_BUILT);
        return;
      }
      res.setHeader('Cache-Control', 'no-cache');
      res.sendFile(index);
    });
  }
  return router;
}
