/**
 * Search indexing: one resource version in, the rows of the sp_* tables out (FHIR R4 search,
 * https://hl7.org/fhir/R4/search.html). Pure; the repository adds tenant, type and id and writes the rows.
 *
 * Expressions come from the SearchParameters in @medplum/core's registry (call `loadDefinitions()` first) and
 * run on Medplum's FHIRPath engine. Per resource type the parameters are compiled once into plans: each
 * parameter's expression is split into its union branches, and a branch that is a plain path from the
 * resource root records the top-level property it needs, so it is not evaluated when the resource lacks it
 * (most of a type's ~50 parameters, for a typical resource). Evaluation dominates the cost.
 *
 * Not indexed, by design:
 * - `_id` and `_lastUpdated` (columns of `resources`), Medplum's `_project` and `_compartment`, and every
 *   `special` parameter (e.g. Location `near`).
 * - Quantity-typed parameters over Range or SampledData (Condition `onset-age` on onsetRange, Observation
 *   `value-quantity` on valueSampledData): no single value to compare with.
 * - Composites whose first component is not a token (DocumentReference `relationship`) or that have more
 *   than two components (MolecularSequence coordinates): sp_composite has one token and one value column.
 *   A second component of type number is stored in c2_number; one of type uri or reference is not indexed.
 * - The implicit code system of `code` elements (`gender=http://hl7.org/fhir/administrative-gender|male`):
 *   rows carry system null, so only the system-less form matches.
 */
import {
  AsAtom,
  DotAtom,
  FhirPathAtom,
  FunctionAtom,
  IndexerAtom,
  IsAtom,
  SymbolAtom,
  UnionAtom,
  evalFhirPathTyped,
  getSearchParameterDetails,
  getSearchParameters,
  isResourceType,
  parseFhirPath,
} from '@medplum/core';
import type { Atom, TypedValue } from '@medplum/core';
import type { Resource, SearchParameter } from '@medplum/fhirtypes';
import { dateRanges } from './index-dates.ts';
import { INDEX_KINDS, emptyIndexRows, normalizeString } from './index-rows.ts';
import type { CompositeRow, IndexRows, QuantityRow, ReferenceRow, StringRow, TokenRow } from './index-rows.ts';

/** Parameters that are not index rows: columns of `resources`, or Medplum's own bookkeeping. */
const NOT_INDEXED: ReadonlySet<string> = new Set(['_id', '_lastUpdated', '_project', '_compartment']);

/**
 * The btree on sp_string.norm refuses entries past ~2.7 kB; 512 characters stay under it in UTF-8.
 * Prefix and :contains search see the first 512 characters of a long text; :exact uses `raw`, kept whole.
 */
const MAX_NORM_LENGTH = 512;

type ValueKind = Exclude<keyof IndexRows, 'composite'>;
const VALUE_KINDS: ReadonlySet<string> = new Set<ValueKind>(['string', 'token', 'reference', 'date', 'number', 'quantity', 'uri']);
/** Kinds of second component that sp_composite has columns for. */
type SecondKind = 'token' | 'quantity' | 'number' | 'date' | 'string';

interface Branch {
  readonly expr: FhirPathAtom;
  /** Top-level properties the branch yields nothing without; empty = always evaluate. */
  readonly needs: readonly string[];
  /**
   * Top-level properties the branch's values are a function of; undefined when that is not known (an expression
   * that is not a plain path from the root, or one that reads `%resource`): it may depend on anything.
   */
  readonly dependsOn: readonly string[] | undefined;
  /** From `.where(resolve() is T)`: keep only references whose target type is T. */
  readonly resolveType: string | undefined;
}
interface CompositePlan {
  readonly first: FhirPathAtom;
  readonly second: FhirPathAtom;
  readonly secondKind: SecondKind;
}
type ParamPlan =
  | { readonly code: string; readonly kind: ValueKind; readonly branches: readonly Branch[] }
  | { readonly code: string; readonly kind: 'composite'; readonly branches: readonly Branch[]; readonly composite: CompositePlan };
interface TypePlan {
  readonly params: SearchParameter[];
  readonly plans: readonly ParamPlan[];
}

const typePlans = new Map<string, TypePlan>();

/** Called when evaluating one parameter fails; the message may quote resource content (never log it raw). */
export type IndexErrorHandler = (code: string, error: unknown) => void;

/**
 * Search parameters of a type that are indexed into sp_* tables (excludes _id and _lastUpdated, which are
 * columns of `resources`, and Medplum-only params `_project`, `_compartment`; excludes params whose type is
 * `special`, and the composites sp_composite cannot hold; see the module comment).
 */
export function indexedSearchParameters(resourceType: string): SearchParameter[] {
  return typePlan(resourceType).params.slice();
}

/**
 * Pure: every index row for one resource (no tenant/type/id; the writer adds them). Rows are deduplicated
 * per table. A parameter whose FHIRPath evaluation throws on odd data contributes no rows; `onError` hears
 * about it and the other parameters are still indexed.
 */
export function extractIndexRows(resource: Resource, onError?: IndexErrorHandler): IndexRows {
  return extractRows(resource, undefined, onError);
}

/**
 * Pure: the index tables whose rows are certainly the same for `before` and `after` (two versions of one resource),
 * without evaluating either: a table is unchanged when no parameter indexed into it depends on a top-level property
 * that differs between the two (`meta.versionId` and `meta.lastUpdated` aside, which always differ and no parameter
 * reads). A parameter whose dependencies are not known counts as changed. An update that changes an Observation's
 * value then rewrites the quantity and composite rows only, and the replaced version is not indexed again to find
 * that out (it cost as much as indexing the new one).
 */
export function unchangedIndexKinds(before: Resource, after: Resource): Set<keyof IndexRows> {
  if (before.resourceType !== after.resourceType) return new Set();
  const kinds = new Set(INDEX_KINDS);
  const changed = changedProperties(before, after);
  for (const plan of typePlan(after.resourceType).plans) {
    if (!kinds.has(plan.kind)) continue;
    if (plan.branches.some((b) => b.dependsOn === undefined || b.dependsOn.some((p) => changed.has(p)))) kinds.delete(plan.kind);
  }
  return kinds;
}

/** Top-level properties that differ between two versions, with their choice-type prefixes (as presentProperties). */
function changedProperties(before: Resource, after: Resource): Set<string> {
  const a = before as unknown as Record<string, unknown>;
  const b = after as unknown as Record<string, unknown>;
  const changed = new Set<string>();
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (key === 'meta' ? sameJson(stableMeta(a[key]), stableMeta(b[key])) : sameJson(a[key], b[key])) continue;
    for (const p of presentProperties({ [key]: true } as unknown as Resource)) changed.add(p);
  }
  return changed;
}

/** Deep equality of JSON values, whatever the order of object keys (stored JSON comes back in jsonb's key order). */
function sameJson(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x) !== Array.isArray(y)) return false;
  if (Array.isArray(x)) {
    const ys = y as unknown[];
    return x.length === ys.length && x.every((v, i) => sameJson(v, ys[i]));
  }
  const xo = x as Record<string, unknown>;
  const yo = y as Record<string, unknown>;
  const keys = Object.keys(xo);
  if (keys.length !== Object.keys(yo).length) return false;
  return keys.every((k) => Object.hasOwn(yo, k) && sameJson(xo[k], yo[k]));
}

/** `meta` without the fields every new version changes. */
function stableMeta(meta: unknown): unknown {
  if (meta === null || typeof meta !== 'object') return meta;
  const { versionId: _v, lastUpdated: _l, ...rest } = meta as Record<string, unknown>;
  return rest;
}

/**
 * Pure: the index rows of only the parameters named in `codes` (the others are not evaluated), for in-memory
 * tests of a few parameters (./search/prefilter.ts). Same rows as {@link extractIndexRows} gives for those codes.
 */
export function extractParameterRows(resource: Resource, codes: ReadonlySet<string>, onError?: IndexErrorHandler): IndexRows {
  return extractRows(resource, codes, onError);
}

function extractRows(resource: Resource, only: ReadonlySet<string> | undefined, onError?: IndexErrorHandler): IndexRows {
  const out = new RowSet();
  const root: TypedValue = { type: resource.resourceType, value: resource };
  const present = presentProperties(resource);
  const staged = new StagedRows();
  for (const plan of typePlan(resource.resourceType).plans) {
    if (only !== undefined && !only.has(plan.code)) continue;
    staged.items.length = 0;
    try {
      for (const branch of plan.branches) {
        if (!branch.needs.every((p) => present.has(p))) continue;
        for (const value of evalFhirPathTyped(branch.expr, [root])) {
          if (branch.resolveType !== undefined && referenceTargetType(value) !== branch.resolveType) continue;
          if (plan.kind === 'composite') addComposite(staged, plan.code, plan.composite, value);
          else addValue(staged, plan.kind, plan.code, value);
        }
      }
    } catch (error) {
      onError?.(plan.code, error);
      continue;
    }
    for (const [table, row] of staged.items) out.add(table, row);
  }
  return out.rows;
}

// ---------------------------------------------------------------------------------------------------------
// Plans

function typePlan(resourceType: string): TypePlan {
  const cached = typePlans.get(resourceType);
  if (cached) return cached;
  const all = getSearchParameters(resourceType);
  // Not cached when definitions are not loaded yet, so a later loadDefinitions() still takes effect.
  if (!all) return { params: [], plans: [] };
  const params: SearchParameter[] = [];
  const plans: ParamPlan[] = [];
  for (const sp of Object.values(all)) {
    if (NOT_INDEXED.has(sp.code) || sp.type === 'special' || !sp.expression) continue;
    const plan = buildPlan(resourceType, sp, Object.values(all));
    if (!plan) continue;
    params.push(sp);
    plans.push(plan);
  }
  const result = { params, plans };
  typePlans.set(resourceType, result);
  return result;
}

function buildPlan(resourceType: string, sp: SearchParameter, all: SearchParameter[]): ParamPlan | undefined {
  try {
    if (sp.type === 'composite') return buildCompositePlan(resourceType, sp, all);
    if (!VALUE_KINDS.has(sp.type)) return undefined;
    // Medplum narrows a shared expression (`AllergyIntolerance.patient | CarePlan.subject...`) to this type.
    const parsed = getSearchParameterDetails(resourceType, sp).parsedExpression;
    const branches = unionBranches(parsed.child).map((atom) => toBranch(atom, resourceType));
    return { code: sp.code, kind: sp.type as ValueKind, branches };
  } catch {
    return undefined; // an expression Medplum cannot type or parse cannot be indexed either
  }
}

/**
 * Composite parameters (search.html#composite): the composite's expression selects nodes and each component's
 * expression runs on each node. Medplum's parsed composite expression drops bare-type branches
 * (`Observation | Observation.component` becomes `Observation.component`), so the expression is split here.
 */
function buildCompositePlan(resourceType: string, sp: SearchParameter, all: SearchParameter[]): ParamPlan | undefined {
  const components = sp.component ?? [];
  if (components.length !== 2) return undefined;
  const [first, second] = components.map((c) => all.find((p) => p.url === c.definition));
  if (first?.type !== 'token' || !second) return undefined;
  const secondKind = second.type;
  if (secondKind !== 'token' && secondKind !== 'quantity' && secondKind !== 'number' && secondKind !== 'date' && secondKind !== 'string')
    return undefined;
  const composite: CompositePlan = {
    first: parseFhirPath(components[0].expression),
    second: parseFhirPath(components[1].expression),
    secondKind,
  };
  const branches = unionBranches(parseFhirPath(sp.expression as string).child)
    .filter((atom) => {
      const s = atom.toString();
      return s === resourceType || s.startsWith(`${resourceType}.`);
    })
    .map((atom) => {
      if (atom instanceof SymbolAtom) {
        // The node is the resource itself: both components' properties must be there.
        const needs = [composite.first, composite.second].map((c) => rootProperty(c.child, undefined));
        const known = needs.every((p) => p !== undefined) && !readsRoot(composite.first.child) && !readsRoot(composite.second.child);
        return {
          expr: new FhirPathAtom(atom.toString(), atom),
          needs: needs.filter((p) => p !== undefined),
          resolveType: undefined,
          dependsOn: known ? (needs as string[]) : undefined,
        };
      }
      return toBranch(atom, resourceType);
    });
  return { code: sp.code, kind: 'composite', branches, composite };
}

function unionBranches(atom: Atom): Atom[] {
  return atom instanceof UnionAtom ? [...unionBranches(atom.left), ...unionBranches(atom.right)] : [atom];
}

/**
 * Medplum's resolve() turns `Type/id` into a stub of that type but an absolute URL into nothing, so
 * `subject.where(resolve() is Patient)` would drop `http://other/fhir/Patient/1`. The filter is taken out of
 * the expression and applied to the reference's parsed target type instead (see referenceTargetType).
 */
function toBranch(atom: Atom, resourceType: string): Branch {
  let resolveType: string | undefined;
  let path = atom;
  if (atom instanceof DotAtom && atom.right instanceof FunctionAtom && atom.right.name === 'where') {
    const test = atom.right.args[0];
    if (test instanceof IsAtom && test.left instanceof FunctionAtom && test.left.name === 'resolve') {
      resolveType = test.right.toString();
      path = atom.left;
    }
  }
  const needs = rootProperty(path, resourceType);
  return {
    expr: new FhirPathAtom(path.toString(), path),
    needs: needs === undefined ? [] : [needs],
    resolveType,
    dependsOn: needs === undefined || readsRoot(path) ? undefined : [choiceKey(path, resourceType, needs) ?? needs],
  };
}

/** Types that have specialisations (Age, Duration… are Quantities): `ofType(Quantity)` may match any of them. */
const TYPES_WITH_SUBTYPES: ReadonlySet<string> = new Set([
  'Quantity',
  'Element',
  'BackboneElement',
  'DataType',
  'Resource',
  'DomainResource',
]);

/**
 * The one JSON key a path into a choice element reads (`Observation.value.ofType(CodeableConcept)` reads only
 * `valueCodeableConcept`), so that a changed `valueQuantity` does not count as a change of it. Undefined for other
 * paths, and for a type with specialisations.
 */
function choiceKey(path: Atom, resourceType: string, root: string): string | undefined {
  const m = /^([A-Za-z]+)\.([a-z][A-Za-z0-9]*)\.ofType\(([A-Za-z]+)\)/.exec(path.toString());
  if (!m || m[1] !== resourceType || m[2] !== root || TYPES_WITH_SUBTYPES.has(m[3])) return undefined;
  return root + m[3].charAt(0).toUpperCase() + m[3].slice(1);
}

/** Does the expression reach outside its path (`%resource`, `%rootResource`, `%context`…)? */
function readsRoot(atom: Atom): boolean {
  return atom.toString().includes('%');
}

/** Steps that map an empty collection to an empty one; `exists()`, `not()`, `and`... do not. */
const EMPTY_PRESERVING: ReadonlySet<string> = new Set(['where', 'ofType', 'as', 'resolve', 'first', 'last', 'extension', 'select']);

/**
 * The property a path starts with (`Observation.value.ofType(Quantity)` → `value`), when the path yields
 * nothing without it; undefined otherwise. With `root` undefined the path is relative (`value.ofType(X)`).
 */
function rootProperty(atom: Atom, root: string | undefined): string | undefined {
  let a = atom;
  for (;;) {
    if (a instanceof UnionAtom) {
      const left = rootProperty(a.left, root);
      return left === rootProperty(a.right, root) ? left : undefined;
    }
    if (a instanceof SymbolAtom) return root === undefined ? a.name : undefined;
    if (a instanceof DotAtom) {
      if (root !== undefined && a.left instanceof SymbolAtom && a.left.name === root) {
        return a.right instanceof SymbolAtom ? a.right.name : undefined;
      }
      if (!(a.right instanceof SymbolAtom) && !(a.right instanceof FunctionAtom && EMPTY_PRESERVING.has(a.right.name))) return undefined;
      a = a.left;
    } else if (a instanceof AsAtom || a instanceof IndexerAtom) {
      a = a.left;
    } else {
      return undefined;
    }
  }
}

/** Top-level keys of a resource, plus each choice-type prefix (`valueQuantity` also gives `value`). */
function presentProperties(resource: Resource): Set<string> {
  const present = new Set<string>();
  for (const key of Object.keys(resource)) {
    present.add(key);
    for (let i = 1; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c >= 65 && c <= 90) present.add(key.slice(0, i));
    }
  }
  return present;
}

// ---------------------------------------------------------------------------------------------------------
// Values to rows, per parameter type (sections of https://hl7.org/fhir/R4/search.html, cited by anchor)

type AnyRow = IndexRows[keyof IndexRows][number];
interface RowSink {
  add<K extends keyof IndexRows>(table: K, row: IndexRows[K][number]): void;
}

/** The result: rows grouped by table, each distinct row once. */
class RowSet implements RowSink {
  readonly rows: IndexRows = emptyIndexRows();
  private readonly seen = new Set<string>();
  add<K extends keyof IndexRows>(table: K, row: IndexRows[K][number]): void {
    const key = table + JSON.stringify(row);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    (this.rows[table] as AnyRow[]).push(row);
  }
}

/** One parameter's rows, kept aside until its evaluation has finished without error. */
class StagedRows implements RowSink {
  readonly items: [keyof IndexRows, AnyRow][] = [];
  add<K extends keyof IndexRows>(table: K, row: IndexRows[K][number]): void {
    this.items.push([table, row]);
  }
}

function addValue(sink: RowSink, kind: ValueKind, code: string, tv: TypedValue): void {
  switch (kind) {
    case 'string':
      for (const raw of stringValues(tv)) sink.add('string', stringRow(code, raw));
      return;
    case 'token':
      for (const t of tokenValues(tv)) sink.add('token', { code, ...t });
      return;
    case 'reference': {
      const row = referenceRow(code, tv);
      if (row) sink.add('reference', row);
      return;
    }
    case 'date':
      for (const [low, high] of dateRanges(tv)) sink.add('date', { code, low, high });
      return;
    case 'number':
      if (typeof tv.value === 'number' && Number.isFinite(tv.value)) sink.add('number', { code, value: tv.value });
      return;
    case 'quantity': {
      const q = quantityValue(tv);
      if (q) sink.add('quantity', { code, ...q });
      return;
    }
    case 'uri':
      if (typeof tv.value !== 'string' || tv.value === '') return;
      // A versioned canonical is found by its bare url, and as written by a `url|version` search.
      sink.add('uri', { code, value: tv.type === 'canonical' ? withoutVersion(tv.value) : tv.value });
      if (tv.type === 'canonical' && tv.value.includes('|')) sink.add('uri', { code, value: tv.value });
      return;
    default:
      kind satisfies never;
  }
}

/** One row per token of component 1 × value of component 2, both evaluated on `node`. */
function addComposite(sink: RowSink, code: string, plan: CompositePlan, node: TypedValue): void {
  const firsts = evalFhirPathTyped(plan.first, [node])
    .flatMap(tokenValues)
    .filter((t) => t.value !== null);
  if (firsts.length === 0) return;
  const seconds: Omit<CompositeRow, 'code' | 'c1_system' | 'c1_value'>[] = [];
  const empty = { c2_system: null, c2_value: null, c2_number: null, c2_unit_code: null, c2_low: null, c2_high: null, c2_string: null };
  for (const tv of evalFhirPathTyped(plan.second, [node])) {
    switch (plan.secondKind) {
      case 'token':
        for (const t of tokenValues(tv)) if (t.value !== null) seconds.push({ ...empty, c2_system: t.system, c2_value: t.value });
        break;
      case 'quantity': {
        const q = quantityValue(tv);
        if (q) seconds.push({ ...empty, c2_number: q.value, c2_system: q.system, c2_unit_code: q.unit_code });
        break;
      }
      case 'number':
        if (typeof tv.value === 'number' && Number.isFinite(tv.value)) seconds.push({ ...empty, c2_number: tv.value });
        break;
      case 'date':
        for (const [low, high] of dateRanges(tv)) seconds.push({ ...empty, c2_low: low, c2_high: high });
        break;
      case 'string':
        for (const raw of stringValues(tv)) seconds.push({ ...empty, c2_string: stringRow(code, raw).norm });
        break;
      default:
        plan.secondKind satisfies never;
    }
  }
  for (const c1 of firsts) for (const c2 of seconds) sink.add('composite', { code, c1_system: c1.system, c1_value: c1.value, ...c2 });
}

function stringRow(code: string, raw: string): StringRow {
  return { code, norm: normalizeString(raw).slice(0, MAX_NORM_LENGTH), raw };
}

/** HumanName and Address search on their parts (search.html#string); other strings on themselves. */
function stringValues(tv: TypedValue): string[] {
  const v = tv.value;
  let parts: unknown[];
  if (typeof v === 'string') parts = [v];
  else if (!v || typeof v !== 'object') return [];
  else if (tv.type === 'HumanName') parts = [v.family, ...list(v.given), ...list(v.prefix), ...list(v.suffix), v.text];
  else if (tv.type === 'Address') parts = [...list(v.line), v.city, v.district, v.state, v.postalCode, v.country, v.text];
  else return [];
  return parts.filter((p): p is string => typeof p === 'string' && p.trim() !== '');
}

type Token = Omit<TokenRow, 'code'>;

/**
 * Token mapping of search.html#token. ContactPoint follows the spec's table (value, no system): its
 * `system` is a code (phone, email), not a URI, and the `phone`/`email` parameters already select on it.
 */
function tokenValues(tv: TypedValue): Token[] {
  const v = tv.value;
  if (typeof v === 'boolean') return [{ system: null, value: String(v), display: null }];
  if (typeof v === 'string') return v === '' ? [] : [{ system: null, value: v, display: null }];
  if (typeof v === 'number') return [{ system: null, value: String(v), display: null }];
  if (!v || typeof v !== 'object') return [];
  switch (tv.type) {
    case 'Coding':
      return codingToken(v);
    case 'CodeableConcept': {
      const out = list(v.coding).flatMap(codingToken);
      if (typeof v.text === 'string' && v.text !== '') out.push({ system: null, value: null, display: v.text.toLowerCase() });
      return out;
    }
    case 'Identifier':
      if (!str(v.value) && !str(v.system)) return [];
      return [{ system: str(v.system), value: str(v.value), display: str(v.type?.text)?.toLowerCase() ?? null }];
    case 'ContactPoint':
      return str(v.value) ? [{ system: null, value: v.value, display: null }] : [];
    default:
      return [];
  }
}

function codingToken(c: unknown): Token[] {
  if (!c || typeof c !== 'object') return [];
  const { system, code, display } = c as Record<string, unknown>;
  if (!str(code) && !str(display)) return [];
  return [{ system: str(system), value: str(code), display: str(display)?.toLowerCase() ?? null }];
}

/**
 * Reference mapping of search.html#reference. `Type/id[/_history/n]` gives target type and id; an absolute
 * `http(s)://…/Type/id` gives the url and the target parsed from it; `urn:…` gives the url only; a contained
 * (`#id`) or conditional (`Type?…`) reference gives nothing, since the writer resolves the latter before
 * storing. Reference.identifier fills the `:identifier` columns of the same row. Canonical and uri values
 * of reference parameters (QuestionnaireResponse `questionnaire`) go to url without their `|version`.
 */
function referenceRow(code: string, tv: TypedValue): ReferenceRow | undefined {
  const row: ReferenceRow = { code, target_type: null, target_id: null, url: null, ident_system: null, ident_value: null };
  const v = tv.value;
  if (typeof v === 'string') {
    if (v === '') return undefined;
    row.url = withoutVersion(v);
    return row;
  }
  if (!v || typeof v !== 'object') return undefined;
  const literal = parseLiteralReference(v.reference);
  if (literal) Object.assign(row, literal);
  if (v.identifier && typeof v.identifier === 'object' && (str(v.identifier.value) || str(v.identifier.system))) {
    row.ident_system = str(v.identifier.system);
    row.ident_value = str(v.identifier.value);
  }
  return row.target_id !== null || row.url !== null || row.ident_value !== null || row.ident_system !== null ? row : undefined;
}

const RELATIVE_REFERENCE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

function parseLiteralReference(reference: unknown): Pick<ReferenceRow, 'target_type' | 'target_id' | 'url'> | undefined {
  if (typeof reference !== 'string' || reference === '' || reference.startsWith('#') || reference.includes('?')) return undefined;
  const ref = reference.replace(/\/_history\/[^/]+$/, '');
  const absolute = /^https?:\/\//i.test(ref);
  const m = RELATIVE_REFERENCE.exec(absolute ? ref.split('/').slice(-2).join('/') : ref);
  const target = m && isResourceType(m[1]) ? { target_type: m[1], target_id: m[2] } : { target_type: null, target_id: null };
  if (absolute || ref.includes(':')) return { ...target, url: ref };
  return target.target_id !== null ? { ...target, url: null } : undefined;
}

/** The type `resolve()` would give: from the literal reference, else from Reference.type. */
function referenceTargetType(tv: TypedValue): string | undefined {
  const v = tv.value;
  if (!v || typeof v !== 'object') return undefined;
  return parseLiteralReference(v.reference)?.target_type ?? str(v.type) ?? undefined;
}

function withoutVersion(canonical: string): string {
  const bar = canonical.indexOf('|');
  return bar >= 0 ? canonical.slice(0, bar) : canonical;
}

const QUANTITY_TYPES: ReadonlySet<string> = new Set([
  'Quantity',
  'SimpleQuantity',
  'MoneyQuantity',
  'Age',
  'Duration',
  'Distance',
  'Count',
]);

/** Quantity mapping of search.html#quantity; Money becomes an ISO 4217 quantity. Range and SampledData: none. */
function quantityValue(tv: TypedValue): Omit<QuantityRow, 'code'> | undefined {
  const v = tv.value;
  if (!v || typeof v !== 'object' || typeof v.value !== 'number' || !Number.isFinite(v.value)) return undefined;
  if (tv.type === 'Money') return { value: v.value, system: 'urn:iso:std:iso:4217', unit_code: str(v.currency), unit: null };
  if (!QUANTITY_TYPES.has(tv.type)) return undefined;
  return { value: v.value, system: str(v.system), unit_code: str(v.code), unit: str(v.unit) };
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}
