/**
 * Resources as read back from storage. PostgreSQL's jsonb keeps keys in its own order; FHIR JSON
 * conventionally starts with resourceType, id and meta, so the top level is put back in that order.
 */
import type { Resource } from '@medplum/fhirtypes';

/** Returns `content` with resourceType, id and meta first (other keys keep their stored order). */
export function fromStored<T extends Resource = Resource>(content: unknown): T {
  const { resourceType, id, meta, ...rest } = content as Resource & Record<string, unknown>;
  return { resourceType, id, meta, ...rest } as unknown as T;
}
