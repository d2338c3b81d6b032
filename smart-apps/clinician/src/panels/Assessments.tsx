/** Assessments due and overdue (from the last score and what was sent), and sending one to the patient. */
import { type FormEvent, useState } from 'react';
import { can } from '../../../shared/src/scopes.ts';
import { longDate, series, TOTALS, type ScorePoint } from '../../../shared/src/scores.ts';
import { useLaunch } from '../../../shared/src/ui/app-context.tsx';
import { ErrorNotice, Loading } from '../../../shared/src/ui/Notice.tsx';
import { errorMessage, useLoad } from '../../../shared/src/ui/use-load.ts';
import { DUE_EXTENSION, loadPendingAssessments } from '../data.ts';
import { DEFAULT_CADENCE_DAYS, dueState, type DueState, TRACKED } from '../due.ts';
import { assignmentFor, SENDABLE, type Sendable } from '../writes.ts';

type Ref = { reference: string; display?: string };

function describe(state: DueState): string {
  switch (state.kind) {
    case 'up-to-date':
      return `up to date; next due ${longDate(state.nextDue)}`;
    case 'due':
      return `due since ${longDate(state.since)}`;
    case 'overdue':
      return `overdue since ${longDate(state.since)}`;
    case 'sent':
      return state.due ? `sent; the patient has until ${longDate(state.due)}` : 'sent; waiting for the patient';
    case 'sent-overdue':
      return `sent and not returned; was due ${longDate(state.due)}`;
    case 'never':
      return 'never measured';
    default:
      return state satisfies never;
  }
}

export function Assessments({ patient, me, points, onSent }: { patient: string; me: Ref; points: ScorePoint[]; onSent?: () => void }) {
  const { fhir, granted } = useLaunch();
  const pending = useLoad(() => loadPendingAssessments(fhir, patient), `pending:${patient}`);
  const [instrument, setInstrument] = useState<Sendable>('phq-9');
  const [dueDays, setDueDays] = useState('3');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const canSend = can(granted, 'QuestionnaireResponse', 'c');
  if (pending.loading && !pending.data) return <Loading what="assessments" />;
  const now = new Date();
  const send = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setMessage(undefined);
    try {
      const days = Math.min(30, Math.max(0, Number.parseInt(dueDays, 10) || 0));
      await fhir.create(assignmentFor(instrument, patient, me, new Date(Date.now() + days * 86_400_000)));
      setMessage({ ok: true, text: `${SENDABLE[instrument].label} sent. The patient sees it in the patient app.` });
      pending.reload();
      onSent?.();
    } catch (err) {
      setMessage({ ok: false, text: `Not sent: ${errorMessage(err)}` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      {pending.error && !pending.forbidden && <ErrorNotice message={pending.error} onRetry={pending.reload} />}
      <ul className="due-list">
        {TRACKED.map((t) => {
          const s = series(points, t);
          const canonical = SENDABLE[t].canonical;
          const sent = (pending.data ?? [])
            .filter((qr) => qr.questionnaire === canonical)
            .map((qr) => ({
              due: (qr.extension as { url: string; valueDateTime?: string }[] | undefined)?.find((x) => x.url === DUE_EXTENSION)
                ?.valueDateTime,
            }));
          const state = dueState(
            { ...(s.length ? { lastScored: s[s.length - 1].when } : {}), pending: sent.map((x) => (x.due ? { due: x.due } : {})) },
            DEFAULT_CADENCE_DAYS[t],
            now,
          );
          return (
            <li key={t} className={`due due-${state.kind}`}>
              <strong>{TOTALS[t].name}</strong>: {describe(state)}
            </li>
          );
        })}
      </ul>
      {canSend && (
        <form className="send-form" onSubmit={send}>
          <div>
            <label htmlFor="send-instrument">Send to the patient</label>
            <select id="send-instrument" value={instrument} onChange={(e) => setInstrument(e.target.value as Sendable)}>
              {(Object.keys(SENDABLE) as Sendable[]).map((k) => (
                <option key={k} value={k}>
                  {SENDABLE[k].label}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label htmlFor="send-due">Due in (days)</label>
            <input id="send-due" type="number" min={0} max={30} value={dueDays} onChange={(e) => setDueDays(e.target.value)} />
          </div>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Sending…' : 'Send assessment'}
          </button>
        </form>
      )}
      {message && (
        <p role="status" className={`notice ${message.ok ? 'notice-success' : 'notice-error'}`}>
          {message.text}
        </p>
      )}
    </div>
  );
}
