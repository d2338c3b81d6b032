/** The patient app: header, navigation, the chosen screen, and the crisis panel on every screen. */
import { lazy, Suspense, useState } from 'react';
import type { AppConfig } from '../../registry.ts';
import { standaloneSignIn } from '../../shared/src/boot.ts';
import type { SmartEnv } from '../../shared/src/smart-client.ts';
import { useLaunch } from '../../shared/src/ui/app-context.tsx';
import { ErrorNotice, Loading } from '../../shared/src/ui/Notice.tsx';
import { useLoad } from '../../shared/src/ui/use-load.ts';
import { useView, viewHref } from '../../shared/src/ui/use-view.ts';
import { CrisisPanel } from './CrisisPanel.tsx';
import { humanName } from './data.ts';
import { Assessments } from './screens/Assessments.tsx';

// The first screen is Assessments; the others load when opened.
const Appointments = lazy(() => import('./screens/Appointments.tsx').then((m) => ({ default: m.Appointments })));
const Scores = lazy(() => import('./screens/Scores.tsx').then((m) => ({ default: m.Scores })));
const Plan = lazy(() => import('./screens/Plan.tsx').then((m) => ({ default: m.Plan })));
const Messages = lazy(() => import('./screens/Messages.tsx').then((m) => ({ default: m.Messages })));

const VIEWS = ['assessments', 'appointments', 'scores', 'plan', 'messages'] as const;
type View = (typeof VIEWS)[number];
const TITLES: Readonly<Record<View, string>> = {
  assessments: 'To fill in',
  appointments: 'Appointments',
  scores: 'My scores',
  plan: 'Plan and goals',
  messages: 'Messages',
};

/** The signed-in app. */
export function PatientApp({ config }: { config: AppConfig }) {
  const { fhir, session } = useLaunch();
  const [view, go] = useView(VIEWS, 'assessments');
  const me = useLoad(() => fhir.read('Patient', session.patient!), `me:${session.patient}`);
  if (!session.patient) return <ErrorNotice message="This sign-in did not include your record. Sign out and sign in again." />;
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <p className="brand">Haven</p>
        <p className="who">{me.data ? `Signed in as ${humanName(me.data) ?? 'you'}` : ''}</p>
      </header>
      <CrisisPanel configured={config.crisisMessage} />
      <nav aria-label="Sections" className="tabs">
        <ul>
          {VIEWS.map((v) => (
            <li key={v}>
              <a
                href={viewHref(v)}
                aria-current={v === view ? 'page' : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  go(v);
                }}
              >
                {TITLES[v]}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main">
        <h1 id="view-title" tabIndex={-1}>
          {TITLES[view]}
        </h1>
        <Suspense fallback={<Loading what={TITLES[view].toLowerCase()} />}>
          {view === 'assessments' && <Assessments crisis={config.crisisMessage} />}
          {view === 'appointments' && <Appointments />}
          {view === 'scores' && <Scores />}
          {view === 'plan' && <Plan />}
          {view === 'messages' && <Messages />}
        </Suspense>
      </main>
    </>
  );
}

/** Signed out: what Haven is for the patient, and Sign in. */
export function SignedOut({ config, env, ended, iss }: { config: AppConfig; env: SmartEnv; ended: boolean; iss?: string }) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const signIn = async () => {
    setBusy(true);
    setError(undefined);
    try {
      window.location.assign(await standaloneSignIn(config, env, iss ?? config.fhirBase));
    } catch (err) {
      setBusy(false);
      setError((err as Error).message);
    }
  };
  return (
    <>
      <header className="app-header">
        <p className="brand">Haven</p>
      </header>
      <CrisisPanel configured={config.crisisMessage} />
      <main id="main" className="page-narrow">
        <h1>{ended ? 'You are signed out' : 'Welcome'}</h1>
        <p>
          {ended
            ? 'Your session ended. Anything you had answered is saved. Sign in again to go on.'
            : 'See your appointments, fill in check-ins for your care team, follow your plan and send messages.'}
        </p>
        {error && <ErrorNotice message={error} />}
        <button type="button" className="primary" onClick={signIn} disabled={busy}>
          {busy ? 'Opening sign-in…' : 'Sign in'}
        </button>
      </main>
    </>
  );
}

/** Shown over the app when the session ends while it is open. */
export function Ended({ config, env }: { config: AppConfig; env: SmartEnv }) {
  return (
    <div className="notice notice-error">
      <p>Your session ended. Your answers so far are saved.</p>
      <button type="button" onClick={async () => window.location.assign(await standaloneSignIn(config, env))}>
        Sign in again
      </button>
    </div>
  );
}
