/**
 * Haven's launcher, the way an EHR launches a SMART app: a signed-in clinician picks a patient (from a FHIR
 * search the server narrows to what this clinician may see) and optionally an encounter, and launches the
 * clinician app through a real EHR launch (`POST /auth/launch`). The app then runs its own authorization.
 */
import { type FormEvent, useState } from 'react';
import type { AppConfig } from '../../registry.ts';
import { standaloneSignIn } from '../../shared/src/boot.ts';
import type { Resource } from '../../shared/src/fhir-client.ts';
import type { SmartEnv } from '../../shared/src/smart-client.ts';
import { useLaunch } from '../../shared/src/ui/app-context.tsx';
import { ErrorNotice, InfoNotice, Loading } from '../../shared/src/ui/Notice.tsx';
import { useLoad } from '../../shared/src/ui/use-load.ts';
import { createLaunch, launchEndpoint } from './launch-api.ts';

function nameOf(p: Resource): string {
  const n = (p.name as { text?: string; given?: string[]; family?: string }[] | undefined)?.[0];
  return n?.text ?? ([...(n?.given ?? []), n?.family].filter(Boolean).join(' ') || `Patient ${p.id}`);
}

export function Launcher({ config }: { config: AppConfig }) {
  const { fhir, session } = useLaunch();
  const [query, setQuery] = useState('');
  const [search, setSearch] = useState('');
  const [selected, setSelected] = useState<string>();
  const [encounter, setEncounter] = useState('');
  const [banner, setBanner] = useState(true);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const patients = useLoad(
    () => fhir.search('Patient', { ...(search ? { name: search } : {}), _sort: 'family', _count: '50' }).then((p) => p.resources),
    `patients:${search}`,
  );
  const encounters = useLoad(
    async () =>
      selected ? (await fhir.search('Encounter', { patient: `Patient/${selected}`, _sort: '-date', _count: '10' })).resources : [],
    `enc:${selected}`,
  );
  const go = async (newTab: boolean) => {
    if (!selected) return setError('Choose a patient first.');
    setBusy(true);
    setError(undefined);
    try {
      const url = await createLaunch(launchEndpoint(session.config.token_endpoint), session.accessToken, {
        clientId: config.clinicianClientId ?? 'haven-clinician',
        patient: selected,
        ...(encounter ? { encounter } : {}),
        needPatientBanner: banner,
      });
      // A new tab only after the click (pop-up blockers, and never inside an embedded frame).
      if (newTab) window.open(url, '_blank', 'noopener');
      else window.location.assign(url);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const submitSearch = (e: FormEvent) => {
    e.preventDefault();
    setSearch(query.trim());
  };
  return (
    <>
      <header className="app-header">
        <p className="brand">Haven launcher</p>
        <p className="who">Signed in as {session.fhirUser?.reference ?? 'unknown user'}</p>
      </header>
      <main id="main" className="page-narrow">
        <h1>Launch the clinician app</h1>
        <p className="muted">This page plays the part of an EHR: it starts the clinician app for the patient you choose.</p>
        <search>
          <form onSubmit={submitSearch} className="search">
            <label htmlFor="patient-search">Find a patient by name</label>
            <div className="search-row">
              <input id="patient-search" type="search" value={query} onChange={(e) => setQuery(e.target.value)} />
              <button type="submit">Search</button>
            </div>
          </form>
        </search>
        {patients.loading && !patients.data && <Loading what="patients" />}
        {patients.error && <ErrorNotice message={patients.error} onRetry={patients.reload} />}
        {patients.data?.length === 0 && <InfoNotice>No patients found.</InfoNotice>}
        {patients.data && patients.data.length > 0 && (
          <fieldset className="patients">
            <legend>Patient</legend>
            {patients.data.map((p) => (
              <label key={p.id} className="option">
                <input
                  type="radio"
                  name="patient"
                  value={p.id}
                  checked={selected === p.id}
                  onChange={() => {
                    setSelected(p.id);
                    setEncounter('');
                  }}
                />
                <span>
                  {nameOf(p)} <span className="muted">{p.birthDate ? `· born ${String(p.birthDate)}` : ''}</span>
                </span>
              </label>
            ))}
          </fieldset>
        )}
        {selected && (encounters.data?.length ?? 0) > 0 && (
          <div className="field">
            <label htmlFor="encounter">Encounter (optional)</label>
            <select id="encounter" value={encounter} onChange={(e) => setEncounter(e.target.value)}>
              <option value="">No encounter</option>
              {encounters.data!.map((e) => (
                <option key={e.id} value={e.id}>
                  {(e.period as { start?: string } | undefined)?.start?.slice(0, 16).replace('T', ' ') ?? 'undated'} · {String(e.status)}
                </option>
              ))}
            </select>
          </div>
        )}
        <label className="option">
          <input type="checkbox" checked={banner} onChange={(e) => setBanner(e.target.checked)} />
          <span>Ask the app to show a patient banner (need_patient_banner)</span>
        </label>
        {error && <ErrorNotice message={error} />}
        <div className="actions">
          <button type="button" className="primary" disabled={busy || !selected} onClick={() => go(false)}>
            Launch
          </button>
          <button type="button" disabled={busy || !selected} onClick={() => go(true)}>
            Launch in a new tab
          </button>
        </div>
      </main>
    </>
  );
}

export function SignedOut({ config, env, ended }: { config: AppConfig; env: SmartEnv; ended: boolean }) {
  const [error, setError] = useState<string>();
  return (
    <main id="main" className="page-narrow">
      <h1>Haven launcher</h1>
      <p>
        {ended
          ? 'Your session ended. Sign in again.'
          : 'Sign in as a clinician to launch the clinician app for a patient, the way an EHR would.'}
      </p>
      {error && <ErrorNotice message={error} />}
      <button
        type="button"
        className="primary"
        onClick={async () => {
          try {
            window.location.assign(await standaloneSignIn(config, env));
          } catch (err) {
            setError((err as Error).message);
          }
        }}
      >
        Sign in
      </button>
    </main>
  );
}
