/**
 * The clinician app for the patient in the launch context: banner (when the EHR asks for it), open risk Tasks,
 * PHQ-9 and GAD-7 trends, assessments due, care plan and goals, the SOAP note and care-management minutes.
 * Features whose scopes were not granted are hidden, and a launch without write scopes says it is read-only.
 */
import { lazy, Suspense, useMemo } from 'react';
import type { AppConfig } from '../../registry.ts';
import { series, type ChartedInstrument } from '../../shared/src/scores.ts';
import { can } from '../../shared/src/scopes.ts';
import { useLaunch } from '../../shared/src/ui/app-context.tsx';
import { ErrorNotice, InfoNotice, Loading } from '../../shared/src/ui/Notice.tsx';
import { useLoad } from '../../shared/src/ui/use-load.ts';
import { humanName, loadFlags, loadScores } from './data.ts';
import { Assessments } from './panels/Assessments.tsx';
import { CarePlan } from './panels/CarePlan.tsx';
import { PatientBanner } from './panels/PatientBanner.tsx';
import { RiskTasks } from './panels/RiskTasks.tsx';
import { TrendChart } from './panels/TrendChart.tsx';

// Below the first screen: loaded when the page has shown the scores.
const SoapNote = lazy(() => import('./panels/SoapNote.tsx').then((m) => ({ default: m.SoapNote })));
const Minutes = lazy(() => import('./panels/Minutes.tsx').then((m) => ({ default: m.Minutes })));

const SECTIONS = [
  ['risk', 'Risk tasks'],
  ['scores', 'Scores'],
  ['assessments', 'Assessments'],
  ['plan', 'Care plan'],
  ['note', 'SOAP note'],
  ['minutes', 'Minutes'],
] as const;

export function ClinicianApp(_props: { config: AppConfig }) {
  const { fhir, session, granted } = useLaunch();
  const patientId = session.patient;
  const user = session.fhirUser;
  const meLoad = useLoad(
    async () => (user?.onThisServer ? fhir.readReference(user.reference).catch(() => undefined) : undefined),
    `me:${user?.reference}`,
  );
  const me = useMemo(
    () => (user ? { reference: user.reference, ...(humanName(meLoad.data) ? { display: humanName(meLoad.data)! } : {}) } : undefined),
    [user, meLoad.data],
  );
  const patient = useLoad(() => fhir.read('Patient', patientId!), `patient:${patientId}`);
  const flags = useLoad(() => loadFlags(fhir, patientId!), `flags:${patientId}`);
  const scores = useLoad(() => loadScores(fhir, patientId!), `scores:${patientId}`);
  if (!patientId) return <ErrorNotice message="This launch has no patient in context. Open the app again from a patient's chart." />;
  if (!me) return <ErrorNotice message="This launch did not say who you are (no fhirUser). Open the app again from the chart." />;
  const readOnly = !['Composition', 'Task', 'QuestionnaireResponse', 'Procedure'].some((t) => can(granted, t, 'c') || can(granted, t, 'u'));
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <p className="brand">Haven · clinician</p>
        <p className="who">{me.display ?? me.reference}</p>
      </header>
      {session.needPatientBanner && patient.data && <PatientBanner patient={patient.data} flags={flags.data ?? []} />}
      {!session.needPatientBanner && !patient.data && patient.loading && <Loading what="patient" />}
      {patient.error && <ErrorNotice message={patient.error} onRetry={patient.reload} />}
      {readOnly && (
        <p className="notice notice-warn" role="note">
          Read-only: this launch was not given permission to write. You can view everything shown.
        </p>
      )}
      <nav aria-label="Sections" className="jump">
        {SECTIONS.map(([id, label]) => (
          <a key={id} href={`#${id}`}>
            {label}
          </a>
        ))}
      </nav>
      <main id="main">
        <section id="risk" aria-labelledby="h-risk">
          <h2 id="h-risk">Open risk tasks</h2>
          <RiskTasks patient={patientId} me={me} />
        </section>
        <section id="scores" aria-labelledby="h-scores">
          <h2 id="h-scores">Scores</h2>
          {scores.loading && !scores.data && <Loading what="scores" />}
          {scores.error && !scores.forbidden && <ErrorNotice message={scores.error} onRetry={scores.reload} />}
          {scores.forbidden && <InfoNotice>Scores are not shared with this launch.</InfoNotice>}
          {scores.data && (
            <div className="charts">
              {(['phq-9', 'gad-7'] as ChartedInstrument[]).map((i) => (
                <TrendChart key={i} instrument={i} series={series(scores.data!.points, i)} marks={scores.data!.marks} />
              ))}
            </div>
          )}
        </section>
        <section id="assessments" aria-labelledby="h-assessments">
          <h2 id="h-assessments">Assessments due</h2>
          <Assessments patient={patientId} me={me} points={scores.data?.points ?? []} />
        </section>
        <section id="plan" aria-labelledby="h-plan">
          <h2 id="h-plan">Care plan and goals</h2>
          <CarePlan patient={patientId} />
        </section>
        <Suspense fallback={<Loading what="the note" />}>
          {can(granted, 'Composition', 'c') && (
            <section id="note" aria-labelledby="h-note">
              <h2 id="h-note">SOAP note</h2>
              <SoapNote patient={patientId} me={me} />
            </section>
          )}
          {can(granted, 'Procedure', 'c') && (
            <section id="minutes" aria-labelledby="h-minutes">
              <h2 id="h-minutes">Care-management minutes</h2>
              <Minutes patient={patientId} me={me} />
            </section>
          )}
        </Suspense>
      </main>
    </>
  );
}

/** Not launched: explain how to open the app. */
export function NotLaunched({ ended }: { ended: boolean }) {
  return (
    <main id="main" className="page-narrow">
      <h1>{ended ? 'Your session has ended' : 'Open this app from a patient’s chart'}</h1>
      <p>
        {ended
          ? 'Relaunch from the chart to go on. Drafts were saved to Haven as you typed, so nothing is lost.'
          : 'Haven for clinicians opens from your EHR, or from Haven’s launcher, with a patient in context.'}
      </p>
      <p>
        <a href="/launcher/">Open Haven’s launcher</a>
      </p>
    </main>
  );
}
