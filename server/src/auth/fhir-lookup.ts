/**
 * The few FHIR facts the authorization server needs, read straight from the resources table: whether a
 * launch's patient and encounter exist, the patients a picker offers, and a RelatedPerson's patient.
 * Read-only; what a user may then see is decided by policy on the FHIR API, not here.
 */
import type { Queryable } from '../store/db.ts';
import type { PatientChoice } from './html.ts';

const ID = /^[A-Za-z0-9.-]{1,64}$/;

/** The current, non-deleted resource content, or undefined. */
export async function readResource(q: Queryable, tenant: string, type: string, id: string): Promise<Record<string, unknown> | undefined> {
  if (!ID.test(id)) return undefined;
  const { rows } = await q.query<{ content: Record<string, unknown> }>(
    'SELECT content FROM resources WHERE tenant = $1 AND resource_type = $2 AND id = $3 AND NOT deleted',
    [tenant, type, id],
  );
  return rows[0]?.content;
}

interface HumanName {
  text?: string;
  given?: string[];
  family?: string;
  prefix?: string[];
}

/** A display name for a Patient (first name entry), or its id. */
export function displayName(resource: Record<string, unknown> | undefined, fallback: string): string {
  const n = (resource?.name as HumanName[] | undefined)?.[0];
  if (!n) return fallback;
  return n.text ?? ([...(n.given ?? []), n.family].filter(Boolean).join(' ') || fallback);
}

/** Up to `limit` patients whose name contains `filter` (case-insensitive), for the picker. */
export async function listPatients(q: Queryable, tenant: string, filter: string, limit = 50): Promise<PatientChoice[]> {
  const like = `%${filter.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const { rows } = await q.query<{ id: string; content: Record<string, unknown> }>(
    `SELECT id, content FROM resources WHERE tenant = $1 AND resource_type = 'Patient' AND NOT deleted
        AND ($2 = '' OR (content->'name')::text ILIKE $3)
      ORDER BY last_updated DESC, id LIMIT $4`,
    [tenant, filter, like, limit],
  );
  return rows.map((r) => ({
    id: r.id,
    name: displayName(r.content, `Patient ${r.id}`),
    ...(typeof r.content.birthDate === 'string' ? { birthDate: r.content.birthDate } : {}),
  }));
}

/**
 * The patient a user's own record puts in context: themself for a Patient user, the subject of a
 * RelatedPerson; undefined for practitioners (they pick).
 */
export async function ownPatient(q: Queryable, tenant: string, fhirUser: string): Promise<string | undefined> {
  const [type, id] = fhirUser.split('/');
  if (type === 'Patient') return id;
  if (type === 'RelatedPerson') {
    const rp = await readResource(q, tenant, 'RelatedPerson', id);
    const ref = (rp?.patient as { reference?: string } | undefined)?.reference;
    const m = ref ? /^Patient\/([A-Za-z0-9.-]{1,64})$/.exec(ref) : null;
    return m?.[1];
  }
  return undefined;
}

/** True when `Encounter/{encounter}` exists and, if `patient` is given, is that patient's encounter. */
export async function encounterOfPatient(q: Queryable, tenant: string, encounter: string, patient: string | undefined): Promise<boolean> {
  const enc = await readResource(q, tenant, 'Encounter', encounter);
  if (!enc) return false;
  if (!patient) return true;
  return (enc.subject as { reference?: string } | undefined)?.reference === `Patient/${patient}`;
}
