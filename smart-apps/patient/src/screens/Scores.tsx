/** Score history in plain words, newest first, one sentence per check-in. */
import { describeScore, series, TOTALS, type ChartedInstrument } from '../../../shared/src/scores.ts';
import { useLaunch } from '../../../shared/src/ui/app-context.tsx';
import { ErrorNotice, InfoNotice, Loading } from '../../../shared/src/ui/Notice.tsx';
import { useLoad } from '../../../shared/src/ui/use-load.ts';
import { loadScores } from '../data.ts';

export function Scores() {
  const { fhir, session } = useLaunch();
  const scores = useLoad(() => loadScores(fhir, session.patient!), `scores:${session.patient}`);
  if (scores.loading && !scores.data) return <Loading what="your scores" />;
  if (scores.error) return <ErrorNotice message={scores.error} onRetry={scores.reload} />;
  const points = scores.data ?? [];
  if (points.length === 0) return <InfoNotice>No check-in scores yet. They appear here after you send an assessment.</InfoNotice>;
  return (
    <div>
      <p className="muted">On both check-ins, a lower score means fewer symptoms.</p>
      {(Object.keys(TOTALS) as ChartedInstrument[]).map((instrument) => {
        const s = series(points, instrument);
        if (s.length === 0) return null;
        return (
          <section key={instrument} aria-labelledby={`h-${instrument}`}>
            <h2 id={`h-${instrument}`}>
              {TOTALS[instrument].about[0].toUpperCase() + TOTALS[instrument].about.slice(1)} ({TOTALS[instrument].name})
            </h2>
            <ol className="history" reversed>
              {s
                .map((p, i) => ({ p, text: describeScore(p, s[i - 1]) }))
                .reverse()
                .slice(0, 8)
                .map(({ p, text }) => (
                  <li key={p.id}>{text}</li>
                ))}
            </ol>
          </section>
        );
      })}
    </div>
  );
}
