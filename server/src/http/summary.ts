/**
 * `_summary` and `_elements` (FHIR R4 §3.1.1.5.8-9): trims resources to their summary elements, their
 * text, everything but text, or the listed elements. Mandatory elements and `id`/`meta` are always kept,
 * and trimmed resources are tagged SUBSETTED as the spec requires.
 */
import { OperationOutcomeError, badRequest, tryGetDataType } from '@medplum/core';
import type { Bundle, Coding, Resource } from '@medplum/fhirtypes';

/** What the client asked for. */
export interface SummaryOptions {
  summary?: 'true' | 'text' | 'data' | 'false';
  elements?: string[];
}

const SUBSETTED: Coding = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };

/** Reads _summary/_elements from a query; undefined when neither is present. 400 on unknown values. */
export function summaryOptions(query: Record<string, unknown>): SummaryOptions | undefined {
  const raw = query._summary;
  const summary = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  const elRaw = query._elements;
  const elements = (Array.isArray(elRaw) ? elRaw.join(',') : (elRaw as string | undefined))
    ?.split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (summary === undefined && !elements?.length) return undefined;
  if (summary !== undefined && !['true', 'text', 'data', 'false', 'count'].includes(summary as string)) {
    throw new OperationOutcomeError(
      badRequest(`Invalid _summary "${String(summary).slice(0, 20)}": expected true, text, data, count or false`, '_summary'),
    );
  }
  if (summary === 'count') return undefined; // handled by search (count only)
  return { summary: summary as SummaryOptions['summary'], elements };
}

function tagged(resource: Resource): Resource {
  const tags = resource.meta?.tag ?? [];
  if (tags.some((t) => t.code === SUBSETTED.code && t.system === SUBSETTED.system)) return resource;
  return { ...resource, meta: { ...resource.meta, tag: [...tags, SUBSETTED] } };
}

function pick(resource: Resource, keep: (key: string) => boolean): Resource {
  // fromEntries defines properties: a stored key can never reach the copy's prototype.
  const out = Object.fromEntries(Object.entries(resource).filter(([k]) => keep(k)));
  return tagged(out as unknown as Resource);
}

/** Applies the options to one resource (not to Bundles: see {@link applySummary}). */
function summarizeResource(resource: Resource, opts: SummaryOptions): Resource {
  const schema = tryGetDataType(resource.resourceType);
  const mandatory = schema?.mandatoryProperties ?? new Set<string>();
  const base = (k: string): boolean => k === 'resourceType' || k === 'id' || k === 'meta' || mandatory.has(k);
  if (opts.elements?.length) {
    const wanted = new Set(opts.elements.map((e) => e.split('.')[0]));
    return pick(resource, (k) => base(k) || wanted.has(k));
  }
  switch (opts.summary) {
    case 'true': {
      const summary = schema?.summaryProperties ?? new Set<string>();
      return pick(resource, (k) => base(k) || summary.has(k));
    }
    case 'text':
      return pick(resource, (k) => base(k) || k === 'text');
    case 'data':
      return pick(resource, (k) => k !== 'text');
    case 'false':
    case undefined:
      return resource;
    default:
      return opts.summary satisfies never;
  }
}

/** Applies _summary/_elements to a resource, or to each entry resource of a Bundle. */
export function applySummary(resource: Resource, opts: SummaryOptions): Resource {
  if (resource.resourceType === 'Bundle') {
    const bundle = resource as Bundle;
    return {
      ...bundle,
      entry: bundle.entry?.map((e) =>
        e.resource && e.search?.mode !== 'outcome' ? { ...e, resource: summarizeResource(e.resource, opts) } : e,
      ),
    };
  }
  if (resource.resourceType === 'OperationOutcome') return resource;
  return summarizeResource(resource, opts);
}
