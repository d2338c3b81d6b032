/**
 * Every bot Haven runs, in one list (the server and the bot worker threads import it). Add a bot here after
 * writing its file; see ../README.md "Bots".
 */
import answerCheck from './answer-check.ts';
import careMinutes from './care-minutes.ts';
import licensure from './licensure.ts';
import missedCare from './missed-care.ts';
import noContact from './no-contact.ts';
import outcomes from './outcomes.ts';
import risk from './risk.ts';
import score from './score.ts';
import type { BotDefinition } from './runtime.ts';

export const BOTS: readonly BotDefinition[] = [answerCheck, licensure, score, risk, outcomes, missedCare, noContact, careMinutes];

/** URL of this module, for worker threads. */
export const BOTS_MODULE = import.meta.url;
