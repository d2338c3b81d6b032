// @vitest-environment happy-dom
/**
 * The questionnaire form as a person uses it: labelled radio groups, an error summary that names unanswered
 * required questions, questions shown and hidden by enableWhen, and answers handed over only when complete.
 */
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import cssrs from '../../../../questionnaires/Questionnaire-cssrs-screener.json' with { type: 'json' };
import phq9 from '../../../../questionnaires/Questionnaire-phq-9.json' with { type: 'json' };
import type { Answers, Questionnaire } from '../questionnaire.ts';
import { QuestionnaireForm } from './QuestionnaireForm.tsx';

afterEach(cleanup);

describe('QuestionnaireForm', () => {
  it('lists every unanswered required question on submit and does not submit', () => {
    const onSubmit = vi.fn();
    render(<QuestionnaireForm questionnaire={phq9 as unknown as Questionnaire} onSubmit={onSubmit} />);
    fireEvent.click(screen.getByRole('button', { name: 'Submit' }));
    expect(onSubmit).not.toHaveBeenCalled();
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toContain('9 questions need an answer');
    expect(alert.querySelectorAll('a')).toHaveLength(9);
  });

  it('groups each question’s answers under its text and submits the answers when complete', () => {
    const onSubmit = vi.fn<(a: Answers) => void>();
    const onChange = vi.fn();
    render(<QuestionnaireForm questionnaire={phq9 as unknown as Questionnaire} onSubmit={onSubmit} onChange={onChange} />);
    const groups = screen.getAllByRole('group');
    expect(groups).toHaveLength(10);
    for (const g of groups.slice(0, 9)) fireEvent.click(g.querySelectorAll('input[type=radio]')[1] as HTMLInputElement);
    // The declined option of item 9 is offered in words a person would use.
    expect(groups[8].textContent).toContain('I would rather not answer');
    expect(onChange).toHaveBeenCalledTimes(9);
    fireEvent.click(screen.getByRole('button', { name: 'Submit' }));
    expect(onSubmit).toHaveBeenCalledTimes(1);
    const answers = onSubmit.mock.calls[0][0];
    expect(Object.keys(answers)).toHaveLength(9);
    expect(answers['/44260-8']).toEqual({ valueCoding: { system: 'http://loinc.org', code: 'LA6569-3', display: 'Several days' } });
  });

  it('shows C-SSRS questions 3 to 5 only after Yes to question 2', () => {
    render(<QuestionnaireForm questionnaire={cssrs as unknown as Questionnaire} onSubmit={() => {}} />);
    expect(screen.getAllByRole('group')).toHaveLength(3);
    const q2 = screen.getAllByRole('group')[1];
    fireEvent.click(q2.querySelector('input[type=radio]') as HTMLInputElement); // "Yes" is the first option
    expect(screen.getAllByRole('group')).toHaveLength(6);
  });

  it('puts extra content under a question when asked (crisis resources after a positive item 9)', () => {
    render(
      <QuestionnaireForm
        questionnaire={phq9 as unknown as Questionnaire}
        onSubmit={() => {}}
        afterQuestion={(item, answer) => (item.linkId === '/44260-8' && answer ? <p>help now</p> : null)}
      />,
    );
    expect(screen.queryByText('help now')).toBeNull();
    fireEvent.click(screen.getAllByRole('group')[8].querySelectorAll('input[type=radio]')[2] as HTMLInputElement);
    expect(screen.getByText('help now')).toBeTruthy();
  });
});
