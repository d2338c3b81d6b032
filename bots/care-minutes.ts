/**
 * Care-minutes bot (veto): checks every care-management time entry (a Procedure, server/src/billing/time-entry.ts)
 * as it is written, from the clinician app or the API. Refused, with a 422 naming the reason:
 * - a malformed entry (no patient, practitioner, period, whole minutes, known activity and role);
 * - minutes logged twice (same practitioner, patient and period) or overlapping another entry of the same
 *   practitioner (nobody does two things at once), so minutes are never double-counted;
 * - an entry in a closed billing month (server/src/billing/closed-months.ts), and a change that would move an entry
 *   out of, or withdraw it from, a closed month.
 * Deletes are not checked here (veto bots see creates and updates): withdraw an entry with status entered-in-error.
 * Concurrent overlapping writes can both pass; the registry and month close count overlaps once (`countOnce`) and
 * list them for review.
 */
import type { Procedure } from '@medplum/fhirtypes';
import { closedMonthQuery } from '../server/src/billing/closed-months.ts';
import { conflictsOf, describeConflict, isTimeEntry, parseTimeEntry, type TimeEntry } from '../server/src/billing/time-entry.ts';
import { defineBot, type VetoContext } from './runtime.ts';

/** Entries of `performer` near `entry` (a day on either side; an entry spans at most 8 hours). */
async function neighbours(ctx: VetoContext, entry: TimeEntry): Promise<TimeEntry[]> {
  const from = new Date(entry.startMs - 86_400_000).toISOString();
  const to = new Date(entry.endMs + 86_400_000).toISOString();
  const found = await ctx.search<Procedure>(
    'Procedure',
    `performer=${encodeURIComponent(entry.performer)}&date=ge${encodeURIComponent(from)}&date=le${encodeURIComponent(to)}&_count=1000`,
  );
  return found.filter(isTimeEntry).flatMap((p) => parseTimeEntry(p).entry ?? []);
}

async function isClosed(ctx: VetoContext, month: string): Promise<boolean> {
  return (await ctx.search('List', closedMonthQuery(month))).length > 0;
}

export default defineBot({
  id: 'care-minutes',
  description: 'Refuses malformed, duplicate and overlapping care-management minutes and minutes in closed billing months',
  mode: 'veto',
  triggers: [{ resourceType: 'Procedure', interactions: ['create', 'update'] }],
  async handle(input, ctx) {
    const resource = input.resource as Procedure;
    const before = input.interaction === 'update' && resource.id ? await ctx.read<Procedure>('Procedure', resource.id) : undefined;
    if (!isTimeEntry(resource)) {
      if (isTimeEntry(before))
        return {
          allow: false,
          reason: 'a care-management time entry cannot be turned into another Procedure; withdraw it with status entered-in-error',
        };
      return { allow: true };
    }
    const parsed = parseTimeEntry(resource);
    if (!parsed.entry) return { allow: false, reason: `invalid care-management time entry: ${parsed.problems.join('; ')}` };
    const entry = parsed.entry;
    const month = entry.date.slice(0, 7);
    if (await isClosed(ctx, month))
      return { allow: false, reason: `billing month ${month} is closed: its minutes cannot be added or changed` };
    const old = isTimeEntry(before) ? parseTimeEntry(before).entry : undefined;
    if (old && old.date.slice(0, 7) !== month && (await isClosed(ctx, old.date.slice(0, 7)))) {
      return { allow: false, reason: `billing month ${old.date.slice(0, 7)} is closed: this entry cannot be moved out of it` };
    }
    const conflicts = conflictsOf(entry, await neighbours(ctx, entry));
    if (conflicts.length > 0)
      return { allow: false, reason: `care-management minutes not recorded: ${conflicts.map(describeConflict).join('; ')}` };
    return { allow: true };
  },
});
