/**
 * Renders a Questionnaire as an accessible form: each choice question is a fieldset whose legend is the
 * question, with native radio buttons (keyboard and screen readers work as on any form); display items are
 * paragraphs; enableWhen hides and shows questions as answers change. On submit, unanswered required questions
 * are listed in an error summary that links to each (WCAG 3.3.1). A plain React component on purpose: see
 * smart-apps/README.md for why not @medplum/react here.
 */
import { type FormEvent, type ReactNode, useId, useMemo, useRef, useState } from 'react';
import {
  answerKey,
  isEnabled,
  missingRequired,
  optionValue,
  type AnswerValue,
  type Answers,
  type Questionnaire,
  type QuestionnaireItem,
} from '../questionnaire.ts';

const DECLINE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/data-absent-reason';

/** Props of {@link QuestionnaireForm}. */
export interface QuestionnaireFormProps {
  questionnaire: Questionnaire;
  initialAnswers?: Answers;
  /** Every change (the caller saves a draft). */
  onChange?: (answers: Answers) => void;
  onSubmit: (answers: Answers) => Promise<void> | void;
  submitLabel?: string;
  /** Extra content under a question (e.g. crisis resources when a safety question is answered positively). */
  afterQuestion?: (item: QuestionnaireItem, answer: AnswerValue | undefined) => ReactNode;
  disabled?: boolean;
}

function optionLabel(option: NonNullable<QuestionnaireItem['answerOption']>[number]): string {
  const c = option.valueCoding;
  // The data-absent "Asked But Declined" option, said the way a person would.
  if (c?.system === DECLINE_SYSTEM && c.code === 'asked-declined') return 'I would rather not answer';
  return c?.display ?? c?.code ?? option.valueString ?? String(option.valueInteger ?? '');
}

function ChoiceQuestion(props: {
  item: QuestionnaireItem;
  answer: AnswerValue | undefined;
  onAnswer: (v: AnswerValue | undefined) => void;
  number: number;
  invalid: boolean;
  disabled?: boolean;
}) {
  const { item, answer, onAnswer, number, invalid, disabled } = props;
  const chosen = answerKey(answer);
  return (
    <fieldset className={`question${invalid ? ' question-invalid' : ''}`} id={`q-${item.linkId}`} aria-invalid={invalid || undefined}>
      <legend>
        <span className="question-number">{number}.</span> {item.text}
        {item.required && <span className="required"> (required)</span>}
      </legend>
      {invalid && <p className="field-error">Please choose an answer.</p>}
      <div className="options">
        {(item.answerOption ?? []).map((option) => {
          const value = optionValue(option);
          const key = answerKey(value);
          return (
            <label key={key} className="option">
              <input
                type="radio"
                name={item.linkId}
                value={key}
                checked={chosen === key}
                disabled={disabled}
                onChange={() => onAnswer(value)}
              />
              <span>{optionLabel(option)}</span>
            </label>
          );
        })}
      </div>
    </fieldset>
  );
}

function SimpleQuestion(props: {
  item: QuestionnaireItem;
  answer: AnswerValue | undefined;
  onAnswer: (v: AnswerValue | undefined) => void;
  number: number;
  invalid: boolean;
  disabled?: boolean;
}) {
  const { item, answer, onAnswer, number, invalid, disabled } = props;
  const id = `q-${item.linkId}`;
  const text = answer && ('valueString' in answer ? answer.valueString : 'valueInteger' in answer ? String(answer.valueInteger) : '');
  if (item.type === 'boolean') {
    const checked = !!answer && 'valueBoolean' in answer && answer.valueBoolean;
    return (
      <div className="question" id={id}>
        <label className="option">
          <input type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onAnswer({ valueBoolean: e.target.checked })} />
          <span>
            {number}. {item.text}
          </span>
        </label>
      </div>
    );
  }
  const numeric = item.type === 'integer' || item.type === 'decimal';
  return (
    <div className={`question${invalid ? ' question-invalid' : ''}`}>
      <label htmlFor={id}>
        {number}. {item.text}
        {item.required && <span className="required"> (required)</span>}
      </label>
      {item.type === 'text' ? (
        <textarea
          id={id}
          value={text ?? ''}
          disabled={disabled}
          onChange={(e) => onAnswer(e.target.value ? { valueString: e.target.value } : undefined)}
        />
      ) : (
        <input
          id={id}
          type={numeric ? 'number' : item.type === 'date' ? 'date' : 'text'}
          value={text ?? ''}
          disabled={disabled}
          aria-invalid={invalid || undefined}
          onChange={(e) => {
            const v = e.target.value;
            if (v === '') return onAnswer(undefined);
            if (item.type === 'integer') return onAnswer({ valueInteger: Number.parseInt(v, 10) });
            if (item.type === 'decimal') return onAnswer({ valueDecimal: Number(v) });
            if (item.type === 'date') return onAnswer({ valueDate: v });
            onAnswer({ valueString: v });
          }}
        />
      )}
    </div>
  );
}

/** The form. */
export function QuestionnaireForm(props: QuestionnaireFormProps) {
  const { questionnaire, onChange, onSubmit, afterQuestion, disabled } = props;
  const [answers, setAnswers] = useState<Answers>(props.initialAnswers ?? {});
  const [showErrors, setShowErrors] = useState(false);
  const [busy, setBusy] = useState(false);
  const summaryRef = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const missing = useMemo(() => missingRequired(questionnaire, answers), [questionnaire, answers]);
  const missingIds = new Set(showErrors ? missing.map((m) => m.linkId) : []);

  const answer = (linkId: string, value: AnswerValue | undefined) => {
    setAnswers((prev) => {
      const next = { ...prev, [linkId]: value };
      if (value === undefined) delete next[linkId];
      onChange?.(next);
      return next;
    });
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (missing.length > 0) {
      setShowErrors(true);
      // Move focus to the summary so keyboard and screen-reader users learn what is missing.
      queueMicrotask(() => summaryRef.current?.focus());
      return;
    }
    setBusy(true);
    try {
      await onSubmit(answers);
    } finally {
      setBusy(false);
    }
  };

  let number = 0;
  const render = (items: readonly QuestionnaireItem[] | undefined): ReactNode[] =>
    (items ?? []).flatMap((item) => {
      if (!isEnabled(item, answers)) return [];
      if (item.type === 'display')
        return [
          <p key={item.linkId} className="question-display">
            {item.text}
          </p>,
        ];
      if (item.type === 'group') {
        return [
          <section key={item.linkId} className="question-group" aria-label={item.text}>
            {item.text && <h3>{item.text}</h3>}
            {render(item.item)}
          </section>,
        ];
      }
      number += 1;
      const common = {
        item,
        answer: answers[item.linkId],
        onAnswer: (v: AnswerValue | undefined) => answer(item.linkId, v),
        number,
        invalid: missingIds.has(item.linkId),
        disabled: disabled || busy,
      };
      return [
        <div key={item.linkId}>
          {item.type === 'choice' ? <ChoiceQuestion {...common} /> : <SimpleQuestion {...common} />}
          {afterQuestion?.(item, answers[item.linkId])}
        </div>,
      ];
    });

  return (
    <form className="questionnaire" aria-labelledby={titleId} onSubmit={submit} noValidate>
      <h2 id={titleId}>{questionnaire.title ?? questionnaire.name ?? 'Questionnaire'}</h2>
      {showErrors && missing.length > 0 && (
        <div className="notice notice-error" role="alert" tabIndex={-1} ref={summaryRef}>
          <p>{missing.length === 1 ? 'One question needs an answer:' : `${missing.length} questions need an answer:`}</p>
          <ul>
            {missing.map((m) => (
              <li key={m.linkId}>
                <a href={`#q-${m.linkId}`}>{m.text}</a>
              </li>
            ))}
          </ul>
        </div>
      )}
      {render(questionnaire.item)}
      <button type="submit" className="primary" disabled={disabled || busy}>
        {busy ? 'Sending…' : (props.submitLabel ?? 'Submit')}
      </button>
    </form>
  );
}
