/**
 * Assessments to complete: each assigned (in-progress) response, filled in on its Questionnaire's form. Answers
 * are saved to Haven as the patient goes (the draft stays in progress, so nothing is scored or escalated until
 * it is sent); Send marks it completed, which the score and risk bots act on. After sending, the crisis
 * resources are shown whatever the answers (clinical.md §4.3).
 */
import { useMemo, useRef, useState } from 'react';
import { DraftSaver, type SaveState } from '../../../shared/src/draft-saver.ts';
import type { Answers, Questionnaire, QuestionnaireResponse } from '../../../shared/src/questionnaire.ts';
import { answersOf, buildResponse } from '../../../shared/src/questionnaire.ts';
import { longDate } from '../../../shared/src/scores.ts';
import { useLaunch } from '../../../shared/src/ui/app-context.tsx';
import { ErrorNotice, InfoNotice, Loading } from '../../../shared/src/ui/Notice.tsx';
import { QuestionnaireForm } from '../../../shared/src/ui/QuestionnaireForm.tsx';
import { errorMessage, useLoad } from '../../../shared/src/ui/use-load.ts';
import { CrisisPanel } from '../CrisisPanel.tsx';
import { loadAssignments, type Assignment } from '../data.ts';
import { isSafetyConcern } from '../safety.ts';

function saveText(state: SaveState): string {
  switch (state.kind) {
    case 'idle':
      return '';
    case 'pending':
    case 'saving':
      return 'Saving your answers…';
    case 'saved':
      return 'Your answers so far are saved.';
    case 'error':
      return `Not saved yet: ${errorMessage(state.error)} We will try again.`;
    default:
      return state satisfies never;
  }
}

function Fill({ assignment, crisis, onDone }: { assignment: Assignment; crisis?: string; onDone: (sent: boolean) => void }) {
  const { fhir, session } = useLaunch();
  const current = useRef<QuestionnaireResponse>(assignment.response);
  const [saveState, setSaveState] = useState<SaveState>({ kind: 'idle' });
  const [error, setError] = useState<string>();
  const patientRef = { reference: `Patient/${session.patient}` };
  const q: Questionnaire = assignment.questionnaire;
  const saver = useMemo(
    () =>
      new DraftSaver<Answers>(async (answers) => {
        const draft = buildResponse(q, answers, { ...current.current, status: 'in-progress' });
        current.current = (await fhir.update(draft)) as QuestionnaireResponse;
      }, setSaveState),
    [fhir, q],
  );

  const send = async (answers: Answers) => {
    setError(undefined);
    try {
      saver.cancel();
      const done = buildResponse(q, answers, {
        ...current.current,
        status: 'completed',
        authored: new Date().toISOString(),
        author: patientRef,
        source: patientRef,
      });
      current.current = (await fhir.update(done)) as QuestionnaireResponse;
      onDone(true);
    } catch (err) {
      setError(`Your answers were not sent: ${errorMessage(err)}`);
    }
  };

  return (
    <div>
      <p>
        <button type="button" className="link" onClick={() => onDone(false)}>
          Back to the list
        </button>
      </p>
      {q.description && <p className="muted">Your answers go to your care team. There are no right or wrong answers.</p>}
      {error && <ErrorNotice message={error} />}
      <QuestionnaireForm
        questionnaire={q}
        initialAnswers={answersOf(assignment.response)}
        onChange={(a) => saver.update(a)}
        onSubmit={send}
        submitLabel="Send to my care team"
        afterQuestion={(item, answer) =>
          isSafetyConcern(item.linkId, answer) ? (
            <div className="inline-crisis" role="note">
              <p>
                <strong>Thank you for telling us.</strong> Your care team will see this answer when you send. If you might act on these
                thoughts, please get help now:
              </p>
              <CrisisPanel configured={crisis} emphasis />
            </div>
          ) : null
        }
      />
      <p className="save-state" role="status" aria-live="polite">
        {saveText(saveState)}
      </p>
    </div>
  );
}

/** The screen. */
export function Assessments({ crisis }: { crisis?: string }) {
  const { fhir, session } = useLaunch();
  const cache = useRef(new Map());
  const [open, setOpen] = useState<Assignment>();
  const [sent, setSent] = useState(false);
  // Responses sent in this visit leave the list at once, before the list is read again.
  const [sentIds, setSentIds] = useState<ReadonlySet<string>>(new Set());
  const list = useLoad(() => loadAssignments(fhir, session.patient!, cache.current), `assignments:${session.patient}`);

  if (open) {
    return (
      <Fill
        assignment={open}
        crisis={crisis}
        onDone={(wasSent) => {
          if (wasSent && open.response.id) setSentIds((s) => new Set([...s, open.response.id as string]));
          setOpen(undefined);
          setSent(wasSent);
          list.reload();
        }}
      />
    );
  }
  const waiting = list.data?.filter((a) => !sentIds.has(a.response.id ?? ''));
  return (
    <div>
      {sent && (
        <div className="notice notice-success" role="status">
          <p>
            <strong>Thank you. Your answers were sent to your care team.</strong> They will look at them and follow up with you.
          </p>
          <p>If you are struggling right now, help is available any time:</p>
          <CrisisPanel configured={crisis} emphasis />
        </div>
      )}
      {list.loading && !list.data && <Loading what="your assessments" />}
      {list.error && <ErrorNotice message={list.error} onRetry={list.reload} />}
      {waiting && waiting.length === 0 && (
        <InfoNotice>Nothing to fill in right now. Your care team will let you know when there is.</InfoNotice>
      )}
      {waiting && waiting.length > 0 && (
        <ul className="cards">
          {waiting.map((a) => (
            <li key={a.response.id} className="card">
              <h2>{a.questionnaire.title ?? a.questionnaire.name}</h2>
              {a.due && <p>Please complete by {longDate(a.due)}.</p>}
              {a.response.item?.length ? <p className="muted">You have started this one.</p> : null}
              <button
                type="button"
                className="primary"
                onClick={() => {
                  setSent(false);
                  setOpen(a);
                }}
              >
                {a.response.item?.length ? 'Continue' : 'Start'}
                <span className="visually-hidden"> {a.questionnaire.title}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
