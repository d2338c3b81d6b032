/**
 * The SOAP note: a Composition linked to the Encounter and the goals it addresses, saved to Haven as a
 * preliminary draft while it is typed (an ended session or a closed tab loses nothing; the draft comes back at the
 * next launch), and signed by the clinician: final, with them as legal attester, and a Provenance, in one
 * transaction. Signing needs a title, an encounter and all four sections.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { DraftSaver, type SaveState } from '../../../shared/src/draft-saver.ts';
import type { Resource } from '../../../shared/src/fhir-client.ts';
import { useLaunch } from '../../../shared/src/ui/app-context.tsx';
import { ErrorNotice, Loading } from '../../../shared/src/ui/Notice.tsx';
import { errorMessage, useLoad } from '../../../shared/src/ui/use-load.ts';
import { conceptText } from '../data.ts';
import { draftOf, missingForSignature, SOAP_SECTIONS, signatureBundle, soapComposition, type SoapDraft } from '../writes.ts';

type Ref = { reference: string; display?: string };

const EMPTY: SoapDraft = { title: 'Care management visit', goals: [], text: { subjective: '', objective: '', assessment: '', plan: '' } };

function saveText(s: SaveState): string {
  switch (s.kind) {
    case 'idle':
      return '';
    case 'pending':
    case 'saving':
      return 'Saving draft…';
    case 'saved':
      return `Draft saved to Haven at ${new Date(s.at).toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit', second: '2-digit' })}.`;
    case 'error':
      return `Draft not saved: ${errorMessage(s.error)} It is kept here; we will try again.`;
    default:
      return s satisfies never;
  }
}

async function loadContext(fhir: ReturnType<typeof useLaunch>['fhir'], patient: string, me: Ref) {
  const [drafts, encounters, goals] = await Promise.all([
    fhir.search('Composition', {
      subject: `Patient/${patient}`,
      status: 'preliminary',
      author: me.reference,
      _sort: '-_lastUpdated',
      _count: '1',
    }),
    fhir
      .search('Encounter', { patient: `Patient/${patient}`, _sort: '-date', _count: '10' })
      .catch(() => ({ resources: [] as Resource[] })),
    fhir.search('Goal', { subject: `Patient/${patient}`, _count: '50' }).catch(() => ({ resources: [] as Resource[] })),
  ]);
  return { draft: drafts.resources[0], encounters: encounters.resources, goals: goals.resources };
}

function Editor({
  initial,
  base,
  encounters,
  goals,
  patient,
  me,
  contextEncounter,
}: {
  initial: SoapDraft;
  base?: Resource;
  encounters: Resource[];
  goals: Resource[];
  patient: string;
  me: Ref;
  contextEncounter?: string;
}) {
  const { fhir } = useLaunch();
  const [draft, setDraft] = useState<SoapDraft>(() => ({
    ...initial,
    ...(initial.encounter || !contextEncounter ? {} : { encounter: contextEncounter }),
  }));
  const saved = useRef<Resource | undefined>(base);
  const [state, setState] = useState<SaveState>({ kind: 'idle' });
  const [missing, setMissing] = useState<string[]>([]);
  const [signed, setSigned] = useState<string>();
  const [error, setError] = useState<string>();
  const saver = useMemo(
    () =>
      new DraftSaver<SoapDraft>(async (d) => {
        const c = soapComposition(d, patient, me, saved.current);
        saved.current = saved.current?.id ? await fhir.update(c) : await fhir.create(c);
      }, setState),
    [fhir, patient, me],
  );
  useEffect(() => () => void saver.flush().catch(() => {}), [saver]);
  const change = (next: SoapDraft) => {
    setDraft(next);
    setSigned(undefined);
    saver.update(next);
  };
  const sign = async () => {
    setError(undefined);
    const m = missingForSignature(draft);
    setMissing(m);
    if (m.length) return;
    try {
      saver.update(draft);
      await saver.flush();
      await fhir.request('POST', '', { body: signatureBundle(saved.current!, me) });
      setSigned(new Date().toLocaleString('en-US'));
      saved.current = undefined;
      setDraft({ ...EMPTY, ...(contextEncounter ? { encounter: contextEncounter } : {}) });
      setState({ kind: 'idle' });
    } catch (err) {
      setError(`Not signed: ${errorMessage(err)}`);
    }
  };
  return (
    <form className="soap" onSubmit={(e) => e.preventDefault()}>
      {signed && (
        <p className="notice notice-success" role="status">
          Note signed at {signed}. A new note can be started below.
        </p>
      )}
      <div className="soap-meta">
        <div>
          <label htmlFor="soap-title">Title</label>
          <input id="soap-title" type="text" value={draft.title} onChange={(e) => change({ ...draft, title: e.target.value })} />
        </div>
        <div>
          <label htmlFor="soap-encounter">Encounter (required)</label>
          <select
            id="soap-encounter"
            value={draft.encounter ?? ''}
            onChange={(e) => change({ ...draft, ...(e.target.value ? { encounter: e.target.value } : { encounter: undefined }) })}
          >
            <option value="">Choose the visit…</option>
            {encounters.map((e) => {
              const start = (e.period as { start?: string } | undefined)?.start;
              return (
                <option key={e.id} value={`Encounter/${e.id}`}>
                  {start ? new Date(start).toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short' }) : 'Undated'} ·{' '}
                  {conceptText((e.type as unknown[] | undefined)?.[0]) ?? String(e.status)}
                </option>
              );
            })}
          </select>
        </div>
      </div>
      {SOAP_SECTIONS.map((s) => (
        <div key={s.key} className="soap-section">
          <label htmlFor={`soap-${s.key}`}>{s.title}</label>
          <textarea
            id={`soap-${s.key}`}
            rows={s.key === 'subjective' ? 4 : 3}
            value={draft.text[s.key]}
            aria-invalid={missing.includes(s.title) || undefined}
            onChange={(e) => change({ ...draft, text: { ...draft.text, [s.key]: e.target.value } })}
          />
        </div>
      ))}
      {goals.length > 0 && (
        <fieldset className="soap-goals">
          <legend>Goals this note addresses</legend>
          {goals.map((g) => {
            const ref = `Goal/${g.id}`;
            return (
              <label key={g.id} className="option">
                <input
                  type="checkbox"
                  checked={draft.goals.includes(ref)}
                  onChange={(e) =>
                    change({ ...draft, goals: e.target.checked ? [...draft.goals, ref] : draft.goals.filter((x) => x !== ref) })
                  }
                />
                <span>{conceptText(g.description) ?? ref}</span>
              </label>
            );
          })}
        </fieldset>
      )}
      {missing.length > 0 && <ErrorNotice message={`To sign, fill in: ${missing.join(', ')}.`} />}
      {error && <ErrorNotice message={error} />}
      <div className="soap-actions">
        <button type="button" className="primary" onClick={sign}>
          Sign note
        </button>
        <span className="save-state" role="status" aria-live="polite">
          {saveText(state)}
        </span>
      </div>
    </form>
  );
}

export function SoapNote({ patient, me }: { patient: string; me: Ref }) {
  const { fhir, session } = useLaunch();
  const ctx = useLoad(() => loadContext(fhir, patient, me), `soap:${patient}:${me.reference}`);
  if (ctx.forbidden) return null;
  if (ctx.loading && !ctx.data) return <Loading what="the note" />;
  if (ctx.error || !ctx.data) return <ErrorNotice message={ctx.error ?? 'The note could not be opened.'} onRetry={ctx.reload} />;
  const { draft, encounters, goals } = ctx.data;
  return (
    <Editor
      initial={draft ? draftOf(draft) : EMPTY}
      {...(draft ? { base: draft } : {})}
      encounters={encounters}
      goals={goals}
      patient={patient}
      me={me}
      {...(session.encounter ? { contextEncounter: `Encounter/${session.encounter}` } : {})}
    />
  );
}
