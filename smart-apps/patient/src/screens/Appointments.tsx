/** Upcoming appointments. */
import type { Resource } from '../../../shared/src/fhir-client.ts';
import { useLaunch } from '../../../shared/src/ui/app-context.tsx';
import { ErrorNotice, InfoNotice, Loading } from '../../../shared/src/ui/Notice.tsx';
import { useLoad } from '../../../shared/src/ui/use-load.ts';
import { loadAppointments, type Ref } from '../data.ts';

function when(a: Resource): string {
  if (typeof a.start !== 'string') return 'Time to be confirmed';
  return new Date(a.start).toLocaleString('en-US', { weekday: 'long', month: 'long', day: 'numeric', hour: 'numeric', minute: '2-digit' });
}

function withWhom(a: Resource): string | undefined {
  const people = ((a.participant as { actor?: Ref }[] | undefined) ?? [])
    .map((p) => p.actor)
    .filter((r): r is Ref => !!r && !r.reference?.startsWith('Patient/') && !!r.display)
    .map((r) => r.display);
  return people.length ? people.join(', ') : undefined;
}

export function Appointments() {
  const { fhir, session } = useLaunch();
  const list = useLoad(() => loadAppointments(fhir, session.patient!), `appointments:${session.patient}`);
  if (list.loading && !list.data) return <Loading what="your appointments" />;
  if (list.error) return <ErrorNotice message={list.error} onRetry={list.reload} />;
  if (!list.data?.length) return <InfoNotice>No upcoming appointments.</InfoNotice>;
  return (
    <ul className="cards">
      {list.data.map((a) => (
        <li key={a.id} className="card">
          <h2>{when(a)}</h2>
          {typeof a.description === 'string' && <p>{a.description}</p>}
          {withWhom(a) && <p>With {withWhom(a)}</p>}
          {a.status === 'proposed' || a.status === 'pending' ? <p className="muted">Not confirmed yet.</p> : null}
        </li>
      ))}
    </ul>
  );
}
