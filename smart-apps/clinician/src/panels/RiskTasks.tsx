/**
 * Open suicide-risk review Tasks and their escalation checklist (contact, risk assessment and safety plan,
 * follow-up), as the risk bot raised them. The clinician acknowledges the Task, records each step with what was
 * done, and closes the Task when every step is done. Each action is one update with If-Match, so two clinicians
 * working the same Task cannot overwrite each other (the second is told to reload).
 */
import { useState } from 'react';
import type { Resource } from '../../../shared/src/fhir-client.ts';
import { can } from '../../../shared/src/scopes.ts';
import { longDate } from '../../../shared/src/scores.ts';
import { useLaunch } from '../../../shared/src/ui/app-context.tsx';
import { ErrorNotice, InfoNotice, Loading } from '../../../shared/src/ui/Notice.tsx';
import { errorMessage, useLoad } from '../../../shared/src/ui/use-load.ts';
import { conceptText, loadRiskTasks, taskCode } from '../data.ts';
import { acknowledge, closeRiskTask, completeStep } from '../writes.ts';

type Ref = { reference: string; display?: string };

const STEP_ORDER = ['escalation-contact', 'escalation-response', 'escalation-follow-up'];
const STEP_PROMPT: Readonly<Record<string, string>> = {
  'escalation-contact': 'How was the patient reached (or the attempts made)?',
  'escalation-response': 'Risk level found and safety plan made',
  'escalation-follow-up': 'Follow-up done or booked (when, with whom)',
};

function due(t: Resource): string | undefined {
  return (t.restriction as { period?: { end?: string } } | undefined)?.period?.end;
}

function Step({ step, me, onSaved, readOnly }: { step: Resource; me: Ref; onSaved: () => void; readOnly: boolean }) {
  const { fhir } = useLaunch();
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const code = taskCode(step) ?? '';
  const done = step.status === 'completed';
  const d = due(step);
  const overdue = !done && d && Date.parse(d) < Date.now();
  const save = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await fhir.update(completeStep(step, me, text));
      setText('');
      onSaved();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  const notes = (step.note as { text?: string }[] | undefined) ?? [];
  return (
    <li className={`step${done ? ' step-done' : ''}`}>
      <p className="step-title">
        <span aria-hidden="true">{done ? '☑' : '☐'}</span> {conceptText(step.code) ?? code}
        {d && (
          <span className={overdue ? 'overdue' : 'muted'}>
            {' '}
            · {done ? 'was due' : overdue ? 'overdue since' : 'due'} {longDate(d)}{' '}
            {new Date(d).toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit' })}
          </span>
        )}
      </p>
      {notes.length > 0 && <p className="muted step-note">{notes.at(-1)?.text}</p>}
      {!done && !readOnly && (
        <div className="step-form">
          <label htmlFor={`step-${step.id}`}>{STEP_PROMPT[code] ?? 'What was done'}</label>
          <textarea id={`step-${step.id}`} rows={2} value={text} onChange={(e) => setText(e.target.value)} />
          {error && <ErrorNotice message={error} />}
          <button type="button" onClick={save} disabled={busy || !text.trim()}>
            Mark done
          </button>
        </div>
      )}
    </li>
  );
}

export function RiskTasks({ patient, me }: { patient: string; me: Ref }) {
  const { fhir, granted } = useLaunch();
  const tasks = useLoad(() => loadRiskTasks(fhir, patient), `risk:${patient}`);
  const [error, setError] = useState<string>();
  const readOnly = !can(granted, 'Task', 'u');
  if (tasks.forbidden) return null;
  if (tasks.loading && !tasks.data) return <Loading what="risk tasks" />;
  if (tasks.error) return <ErrorNotice message={tasks.error} onRetry={tasks.reload} />;
  if (!tasks.data?.length) return <InfoNotice>No open suicide-risk tasks.</InfoNotice>;
  const act = async (write: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await write();
      tasks.reload();
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  return (
    <div>
      {error && <ErrorNotice message={error} onRetry={tasks.reload} />}
      {tasks.data.map(({ task, steps }) => {
        const ordered = [...steps].sort((a, b) => STEP_ORDER.indexOf(taskCode(a) ?? '') - STEP_ORDER.indexOf(taskCode(b) ?? ''));
        const acknowledged = task.status !== 'requested' && task.status !== 'received' && task.status !== 'ready';
        const allDone = ordered.length > 0 && ordered.every((s) => s.status === 'completed');
        return (
          <article key={task.id} className={`risk-task priority-${String(task.priority)}`} aria-labelledby={`risk-${task.id}`}>
            <h3 id={`risk-${task.id}`}>{String(task.description ?? 'Suicide risk review')}</h3>
            <p className="muted">
              Priority {String(task.priority ?? 'routine')} · raised {task.authoredOn ? longDate(String(task.authoredOn)) : ''} · owner{' '}
              {(task.owner as Ref | undefined)?.display ?? (task.owner as Ref | undefined)?.reference ?? 'none'} ·{' '}
              {acknowledged ? 'acknowledged' : 'not acknowledged'}
            </p>
            {!readOnly && !acknowledged && (
              <button type="button" className="primary" onClick={() => act(() => fhir.update(acknowledge(task, me)))}>
                Acknowledge
              </button>
            )}
            <ol className="steps">
              {ordered.map((s) => (
                <Step key={s.id} step={s} me={me} onSaved={tasks.reload} readOnly={readOnly} />
              ))}
            </ol>
            {!readOnly && allDone && (
              <button type="button" onClick={() => act(() => fhir.update(closeRiskTask(task, me)))}>
                Close the risk task
              </button>
            )}
          </article>
        );
      })}
    </div>
  );
}
