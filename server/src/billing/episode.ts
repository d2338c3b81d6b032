/**
 * Episode of care (clinical.md §2.3, §2.6): a new episode starts at the first month of service, or after
 * `episodeBreakMonths` consecutive calendar months without any service; the initial month is the episode's first
 * calendar month of service.
 */
import type { BillingConfig } from './config.ts';
import { monthIndex, monthFromIndex } from './months.ts';
import type { PriorBilledCode } from './types.ts';

/** Where `month` sits in its episode. */
export interface EpisodePosition {
  readonly startMonth: string;
  /** First calendar month of the episode (99492 thresholds apply). */
  readonly firstMonth: boolean;
  /** The month is billed with initial-month thresholds (equals firstMonth unless configured otherwise). */
  readonly initialMonth: boolean;
  readonly reason: string;
}

/**
 * The episode position of `month`, given the earlier months with service and (when known) the referral month.
 * Months before the referral month belong to an earlier episode and are ignored.
 */
export function episodePosition(
  config: BillingConfig['cocm'],
  month: string,
  episode: { readonly start?: string; readonly priorServiceMonths: readonly string[] },
  priorBilling: readonly PriorBilledCode[],
): EpisodePosition {
  const here = monthIndex(month);
  const floor = episode.start === undefined ? Number.NEGATIVE_INFINITY : monthIndex(episode.start);
  const prior = [...new Set(episode.priorServiceMonths.map(monthIndex))].filter((i) => i < here && i >= floor).sort((a, b) => b - a);
  if (prior.length === 0) {
    const why = episode.start !== undefined && floor < here ? ` since the referral in ${episode.start}` : '';
    return { startMonth: month, firstMonth: true, initialMonth: true, reason: `first month of the episode: no earlier service${why}` };
  }
  const gap = here - prior[0] - 1;
  if (gap >= config.episodeBreakMonths) {
    return {
      startMonth: month,
      firstMonth: true,
      initialMonth: true,
      reason: `new episode: ${gap} consecutive months without service since ${monthFromIndex(prior[0])} (a break of ${config.episodeBreakMonths} or more restarts the episode)`,
    };
  }
  let start = prior[0];
  for (const i of prior.slice(1)) {
    if (start - i - 1 >= config.episodeBreakMonths) break;
    start = i;
  }
  const startMonth = monthFromIndex(start);
  if (!config.initialMonthIsFirstEpisodeMonth) {
    const billed99492 = priorBilling.some((b) => b.code === '99492' && monthIndex(b.month) >= start && monthIndex(b.month) < here);
    if (!billed99492) {
      return {
        startMonth,
        firstMonth: false,
        initialMonth: true,
        reason: `episode started ${startMonth}; 99492 not yet billed in it, so initial-month thresholds still apply (cocm.initialMonthIsFirstEpisodeMonth = false)`,
      };
    }
  }
  return { startMonth, firstMonth: false, initialMonth: false, reason: `subsequent month of the episode that started ${startMonth}` };
}
