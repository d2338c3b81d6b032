/**
 * `unchangedIndexKinds`: an update leaves alone the index tables whose rows cannot have changed. Wrongly calling a
 * table unchanged would leave stale rows behind (searches finding the old values), so the property tested first is
 * soundness, over every top-level property of every resource type the benchmark generates; then that the common
 * updates really skip tables.
 */
import type { Observation, Resource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, it } from 'vitest';
import { generatePatient } from '../../../bench/synthea.ts';
import { loadDefinitions } from '../fhir/definitions.ts';
import { emptyIndexRows, type IndexRows } from './index-rows.ts';
import { extractIndexRows, unchangedIndexKinds } from './indexer.ts';

const KINDS = Object.keys(emptyIndexRows()) as (keyof IndexRows)[];

beforeAll(() => {
  loadDefinitions();
});

type Json = Record<string, unknown>;

/** True when both versions have exactly the same `kind` rows (in any order). */
function sameRows(kind: keyof IndexRows, a: IndexRows, b: IndexRows): boolean {
  const key = (r: object): string => JSON.stringify(r);
  const left = (a[kind] as unknown as object[]).map(key).sort();
  const right = (b[kind] as unknown as object[]).map(key).sort();
  return left.length === right.length && left.every((k, i) => k === right[i]);
}

/** A copy of `value` with its first leaf (depth first) changed: strings get a suffix, numbers grow, booleans flip. */
function alterFirstLeaf(value: unknown): unknown {
  if (typeof value === 'string') return `${value}-changed`;
  if (typeof value === 'number') return value + 1;
  if (typeof value === 'boolean') return !value;
  if (Array.isArray(value)) return value.length === 0 ? ['x'] : [alterFirstLeaf(value[0]), ...value.slice(1)];
  if (value && typeof value === 'object') {
    const entries = Object.entries(value);
    if (entries.length === 0) return { text: 'x' };
    const [[k, v], ...rest] = entries;
    return { [k]: alterFirstLeaf(v), ...Object.fromEntries(rest) };
  }
  return value;
}

/** A deep copy with every object's keys in reverse order (as jsonb may return them). */
function reorderKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reorderKeys);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value)
        .reverse()
        .map(([k, v]) => [k, reorderKeys(v)]),
    );
  return value;
}

/** Versions 1 and 2 of `r`: meta as the repository stamps it. */
function versions(r: Json, next: Json): [Resource, Resource] {
  const before = { ...r, id: 'r1', meta: { ...(r.meta as Json | undefined), versionId: '1', lastUpdated: '2026-01-01T00:00:00.000Z' } };
  const after = {
    ...next,
    id: 'r1',
    meta: { ...(next.meta as Json | undefined), versionId: '2', lastUpdated: '2026-01-02T00:00:00.000Z' },
  };
  return [before as unknown as Resource, after as unknown as Resource];
}

/** Every resource of three generated patients (Patient, Encounter, Condition, Observation, MedicationRequest…). */
function sampleResources(): Json[] {
  const out: Json[] = [];
  for (let i = 0; i < 3; i++) {
    const bundle = generatePatient('unchanged-kinds', i).bundle as { entry: { resource: Json }[] };
    out.push(...bundle.entry.map((e) => e.resource));
  }
  return out;
}

/** Updates of `r`: each top-level property removed, altered, and (where absent) added; a tag added; keys reordered. */
function updatesOf(r: Json): { what: string; next: Json }[] {
  const updates: { what: string; next: Json }[] = [];
  for (const key of Object.keys(r)) {
    if (key === 'resourceType') continue;
    const { [key]: _removed, ...without } = r;
    updates.push({ what: `remove ${key}`, next: without });
    updates.push({ what: `alter ${key}`, next: { ...r, [key]: alterFirstLeaf(r[key]) } });
  }
  for (const key of Object.keys(r).filter((k) => /^[a-z]+[A-Z]/.test(k))) {
    // A choice element switched to another type (valueQuantity → valueString, onsetDateTime → onsetString…).
    const { [key]: _old, ...rest } = r;
    const root = /^[a-z]+/.exec(key)![0];
    for (const other of ['String', 'CodeableConcept', 'Quantity', 'DateTime', 'Period', 'Age', 'Reference']) {
      if (root + other === key) continue;
      const value =
        other === 'String'
          ? 'text'
          : other === 'DateTime'
            ? '2026-02-03'
            : other === 'Period'
              ? { start: '2026-01-01' }
              : other === 'Reference'
                ? { reference: 'Medication/m1' }
                : other === 'CodeableConcept'
                  ? { coding: [{ system: 'http://example.org', code: 'c' }], text: 'c' }
                  : { value: 3, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' };
      updates.push({ what: `switch ${key} to ${root}${other}`, next: { ...rest, [root + other]: value } });
    }
  }
  updates.push({ what: 'add a tag', next: { ...r, meta: { tag: [{ system: 'http://example.org/tags', code: 'new' }] } } });
  updates.push({
    what: 'add a security label',
    next: { ...r, meta: { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }] } },
  });
  updates.push({ what: 'reorder keys', next: reorderKeys(r) as Json });
  return updates;
}

describe('unchangedIndexKinds', () => {
  it('never calls a table unchanged when its rows differ (every property of every generated resource type)', () => {
    const resources = sampleResources();
    expect(new Set(resources.map((r) => r.resourceType)).size).toBeGreaterThanOrEqual(6);
    let pairs = 0;
    let skipped = 0;
    for (const r of resources) {
      for (const { what, next } of updatesOf(r)) {
        const [before, after] = versions(r, next);
        const unchanged = unchangedIndexKinds(before, after);
        const [rowsBefore, rowsAfter] = [extractIndexRows(before), extractIndexRows(after)];
        for (const kind of unchanged) {
          expect(sameRows(kind, rowsBefore, rowsAfter), `${r.resourceType}: ${what}: ${kind} rows changed`).toBe(true);
        }
        pairs++;
        skipped += unchanged.size;
      }
    }
    expect(pairs).toBeGreaterThan(100);
    // Not vacuous: most updates leave most tables alone.
    expect(skipped / (pairs * KINDS.length)).toBeGreaterThan(0.5);
  });

  it('leaves every table alone when only the version stamp or the key order changed', () => {
    for (const r of sampleResources()) {
      const [before, after] = versions(r, reorderKeys(r) as Json);
      // Patient `deceased` is an expression, not a path (`deceased.exists() and deceased != false`): its
      // dependencies are not worked out, so the token table counts as changed on every Patient update.
      const expected = r.resourceType === 'Patient' ? KINDS.filter((k) => k !== 'token') : KINDS;
      expect([...unchangedIndexKinds(before, after)].sort(), r.resourceType as string).toEqual([...expected].sort());
    }
  });

  it("rewrites only the quantity and composite rows when an Observation's value changes", () => {
    const obs: Observation = {
      resourceType: 'Observation',
      status: 'final',
      subject: { reference: 'Patient/p1' },
      effectiveDateTime: '2026-01-01T10:00:00Z',
      code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] },
      valueQuantity: { value: 120, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
    };
    const [before, after] = versions(
      obs as unknown as Json,
      { ...obs, valueQuantity: { ...obs.valueQuantity, value: 135 } } as unknown as Json,
    );
    const unchanged = unchangedIndexKinds(before, after);
    expect(unchanged.has('quantity')).toBe(false);
    expect(unchanged.has('composite')).toBe(false);
    for (const kind of ['string', 'token', 'reference', 'date', 'number', 'uri'] as const) expect(unchanged.has(kind)).toBe(true);
  });

  it('counts the tag tables as changed when a tag is added, and everything as changed between two types', () => {
    const patient = { resourceType: 'Patient', name: [{ family: 'Doe' }] } as Json;
    const [before, after] = versions(patient, { ...patient, meta: { tag: [{ system: 'http://example.org', code: 't' }] } });
    expect(unchangedIndexKinds(before, after).has('token')).toBe(false);
    expect(unchangedIndexKinds(before, { ...after, resourceType: 'Group' } as Resource).size).toBe(0);
  });
});
