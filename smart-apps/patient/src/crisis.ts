/**
 * Crisis resources shown on every screen of the patient app. The message is the deployment's configured text
 * (bots configuration `crisis.patientMessage`, served in config.json, the same text the risk bot sends); the
 * buttons are the fixed facts of clinical.md §4.1: call or text 988, chat at 988lifeline.org, 911 in immediate
 * danger (the default message also gives Veterans press 1 or text 838255, Spanish press 2). The "press 3" LGBTQ+ youth line ended on
 * 2025-07-17 and is never shown: a configured message naming it is replaced by the built-in one.
 */
import defaults from '../../../bots/config/defaults.json' with { type: 'json' };

/** The built-in text (bots/config/defaults.json `crisis.patientMessage`). */
export const DEFAULT_CRISIS_MESSAGE: string = defaults.crisis.patientMessage;

const PRESS_3 = /\b(press|oprima|marque)\s+(el\s+)?3\b/i;

/** The message to show: the configured one when it is usable, else the built-in one. */
export function crisisMessage(configured: string | undefined): string {
  if (!configured || !/\b988\b/.test(configured) || PRESS_3.test(configured)) return DEFAULT_CRISIS_MESSAGE;
  return configured;
}

/** One way to reach help. `href` uses tel:/sms:/https: so a phone dials or texts with one tap. */
export interface CrisisAction {
  readonly label: string;
  readonly href: string;
  readonly detail?: string;
}

/** The actions, in the order a person in crisis needs them. */
export const CRISIS_ACTIONS: readonly CrisisAction[] = [
  { label: 'Call 988', href: 'tel:988', detail: '988 Suicide & Crisis Lifeline, 24/7' },
  { label: 'Text 988', href: 'sms:988' },
  { label: 'Chat at 988lifeline.org', href: 'https://988lifeline.org/' },
  { label: 'Call 911', href: 'tel:911', detail: 'If you are in immediate danger' },
];
