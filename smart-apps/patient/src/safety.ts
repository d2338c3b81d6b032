/**
 * Answers that should bring crisis resources to the patient at once, before they submit (clinical.md §4.3:
 * resources are shown on a remote screen's submission "regardless of routing"; showing them as soon as the
 * answer is chosen does not wait for the care team). This decides only what the form shows; the risk bot
 * decides escalation from the submitted response.
 */
import type { AnswerValue } from '../../shared/src/questionnaire.ts';

const LOINC = 'http://loinc.org';
/** PHQ-9 / PHQ-A item 9 answers other than "Not at all" (LA6568-5): clinical.md §1.2 "Positive = any answer other than LA6568-5". */
const ITEM9_POSITIVE = new Set(['LA6569-3', 'LA6570-1', 'LA6571-9']);
const ITEM9_LINK_IDS = new Set(['/44260-8', '44260-8', 'phq-a-9']);
/** C-SSRS screener questions (all seven are safety questions); Yes is LA33-6. */
const CSSRS_LINK_IDS = new Set(['/93246-7', '/93247-5', '/93248-3', '/93249-1', '/93250-9', '/93267-3', '/93269-9']);

/** True when this answer to this question is a safety concern. */
export function isSafetyConcern(linkId: string, answer: AnswerValue | undefined): boolean {
  if (!answer || !('valueCoding' in answer)) return false;
  const { system, code } = answer.valueCoding;
  if (ITEM9_LINK_IDS.has(linkId)) return (system === LOINC || system === undefined) && ITEM9_POSITIVE.has(code ?? '');
  if (CSSRS_LINK_IDS.has(linkId)) return code === 'LA33-6';
  return false;
}
