/**
 * Care-management minutes: time spent for this patient this month (recorded as completed Procedures with the
 * period worked), and a form to add time. Totals only; which codes they support is the billing module's job.
 */
import { type FormEvent, useState } from 'react';
import { useLaunch } from '../../../shared/src/ui/app-context.tsx';
import { ErrorNotice, Loading } from '../../../shared/src/ui/Notice.tsx';
import { errorMessage, useLoad } from '../../../shared/src/ui/use-load.ts';
import { MINUTE_ACTIVITIES, minutesOf, minutesRecord } from '../writes.ts';

type Ref = { reference: string; display?: string };

export function Minutes({ patient, me }: { patient: string; me: Ref }) {
  const { fhir } = useLaunch();
  const now = new Date();
  const monthStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)).toISOString().slice(0, 10);
  const list = useLoad(
    () => fhir.searchAll('Procedure', { subject: `Patient/${patient}`, date: `ge${monthStart}`, _count: '100' }, 3),
    `minutes:${patient}:${monthStart}`,
  );
  const [minutes, setMinutes] = useState('');
  const [activity, setActivity] = useState<string>(MINUTE_ACTIVITIES[0]);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  if (list.forbidden) return null;
  const mine = (list.data ?? []).filter((p) => (p.category as { text?: string } | undefined)?.text === 'Behavioral health care management');
  const total = mine.reduce((n, p) => n + minutesOf(p), 0);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      await fhir.create(minutesRecord(patient, me, Number(minutes), activity, new Date(), note));
      setMinutes('');
      setNote('');
      list.reload();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      {list.loading && !list.data ? (
        <Loading what="minutes" />
      ) : (
        <p>
          <strong>{total} minutes</strong> of care management recorded this month ({mine.length} entr{mine.length === 1 ? 'y' : 'ies'}).
        </p>
      )}
      {list.error && <ErrorNotice message={list.error} onRetry={list.reload} />}
      <form className="minutes-form" onSubmit={add}>
        <div>
          <label htmlFor="min-minutes">Minutes</label>
          <input id="min-minutes" type="number" min={1} max={240} required value={minutes} onChange={(e) => setMinutes(e.target.value)} />
        </div>
        <div>
          <label htmlFor="min-activity">Activity</label>
          <select id="min-activity" value={activity} onChange={(e) => setActivity(e.target.value)}>
            {MINUTE_ACTIVITIES.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </div>
        <div className="min-note">
          <label htmlFor="min-note">Note (optional)</label>
          <input id="min-note" type="text" value={note} onChange={(e) => setNote(e.target.value)} />
        </div>
        <button type="submit" disabled={busy || !minutes}>
          Add time
        </button>
      </form>
      {error && <ErrorNotice message={error} />}
    </div>
  );
}
