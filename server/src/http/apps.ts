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
import type { HavenConfig } from '../config.ts';
import { loadClinicalConfig } from '../../../bots/clinical/config.ts';
import { fhirBase } from './fhir-api.ts';

/** Options of {@link createAppsRouter}. */
export interface AppsOptions {
  config: Pick<HavenConfig, 'baseUrl'>;
  /** The crisis message patients see (bots configuration `crisis.patientMessage`). */
  crisisMessage?: string;
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
