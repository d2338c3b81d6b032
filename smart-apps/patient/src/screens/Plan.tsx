/** The care plan and goals, in the words the care team wrote them. */
import type { Resource } from '../../../shared/src/fhir-client.ts';
import { useLaunch } from '../../../shared/src/ui/app-context.tsx';
import { ErrorNotice, InfoNotice, Loading } from '../../../shared/src/ui/Notice.tsx';
import { useLoad } from '../../../shared/src/ui/use-load.ts';
import { loadPlan } from '../data.ts';

const PROGRESS: Readonly<Record<string, string>> = {
  'in-progress': 'Working on it',
  improving: 'Improving',
  worsening: 'Getting harder',
  'no-change': 'No change yet',
  achieved: 'Reached',
  sustaining: 'Keeping it up',
  'not-achieved': 'Not reached',
  'no-progress': 'No progress yet',
  'not-attainable': 'Not reachable for now',
};

function text(concept: unknown): string | undefined {
  const c = concept as { text?: string; coding?: { display?: string }[] } | undefined;
  return c?.text ?? c?.coding?.find((x) => x.display)?.display;
}

function activities(plan: Resource): string[] {
  return ((plan.activity as { detail?: { description?: string; code?: unknown } }[] | undefined) ?? [])
    .map((a) => a.detail?.description ?? text(a.detail?.code))
    .filter((x): x is string => !!x);
}

export function Plan() {
  const { fhir, session } = useLaunch();
  const data = useLoad(() => loadPlan(fhir, session.patient!), `plan:${session.patient}`);
  if (data.loading && !data.data) return <Loading what="your plan" />;
  if (data.error) return <ErrorNotice message={data.error} onRetry={data.reload} />;
  const { plans = [], goals = [] } = data.data ?? {};
  if (!plans.length && !goals.length) return <InfoNotice>Your care team has not shared a plan yet.</InfoNotice>;
  return (
    <div>
      {plans.map((p) => (
        <section key={p.id} className="card" aria-label="Care plan">
          <h2>{typeof p.title === 'string' ? p.title : 'Your care plan'}</h2>
          {typeof p.description === 'string' && <p>{p.description}</p>}
          {activities(p).length > 0 && (
            <>
              <h3>What we agreed to do</h3>
              <ul>
                {activities(p).map((a) => (
                  <li key={a}>{a}</li>
                ))}
              </ul>
            </>
          )}
        </section>
      ))}
      {goals.length > 0 && (
        <section aria-labelledby="goals-title">
          <h2 id="goals-title">Your goals</h2>
          <ul className="cards">
            {goals.map((g) => {
              const progress = (g.achievementStatus as { coding?: { code?: string }[] } | undefined)?.coding?.[0]?.code;
              return (
                <li key={g.id} className="card">
                  <p className="goal">{text(g.description) ?? 'Goal'}</p>
                  {progress && <p className="muted">Progress: {PROGRESS[progress] ?? progress}</p>}
                </li>
              );
            })}
          </ul>
        </section>
      )}
    </div>
  );
}
