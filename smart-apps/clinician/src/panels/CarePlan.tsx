/** The active care plan and goals, with each goal's progress as the outcomes bot last recorded it. */
import type { Resource } from '../../../shared/src/fhir-client.ts';
import { useLaunch } from '../../../shared/src/ui/app-context.tsx';
import { ErrorNotice, InfoNotice, Loading } from '../../../shared/src/ui/Notice.tsx';
import { useLoad } from '../../../shared/src/ui/use-load.ts';
import { conceptText, humanName, loadPlan } from '../data.ts';

function activities(plan: Resource): string[] {
  return ((plan.activity as { detail?: { description?: string; status?: string } }[] | undefined) ?? [])
    .map((a) => (a.detail?.description ? `${a.detail.description}${a.detail.status ? ` (${a.detail.status})` : ''}` : undefined))
    .filter((x): x is string => !!x);
}

export function CarePlan({ patient }: { patient: string }) {
  const { fhir } = useLaunch();
  const data = useLoad(() => loadPlan(fhir, patient), `plan:${patient}`);
  if (data.forbidden) return null;
  if (data.loading && !data.data) return <Loading what="care plan" />;
  if (data.error) return <ErrorNotice message={data.error} onRetry={data.reload} />;
  const { plans = [], goals = [] } = data.data ?? {};
  if (!plans.length && !goals.length) return <InfoNotice>No active care plan.</InfoNotice>;
  return (
    <div className="plan-grid">
      {plans.map((p) => (
        <div key={p.id} className="card">
          <h3>{String(p.title ?? 'Care plan')}</h3>
          <p className="muted">
            Since {(p.period as { start?: string } | undefined)?.start ?? '?'} · author{' '}
            {(p.author as { display?: string } | undefined)?.display ?? humanName(undefined) ?? ''}
          </p>
          <ul>
            {activities(p).map((a) => (
              <li key={a}>{a}</li>
            ))}
          </ul>
        </div>
      ))}
      <div className="card">
        <h3>Goals</h3>
        <ul className="goals">
          {goals.map((g) => (
            <li key={g.id}>
              {conceptText(g.description) ?? 'Goal'}
              <span className="muted">
                {' '}
                · {String(g.lifecycleStatus ?? '')}
                {g.achievementStatus ? ` · ${conceptText(g.achievementStatus)}` : ''}
              </span>
            </li>
          ))}
        </ul>
      </div>
    </div>
  );
}
