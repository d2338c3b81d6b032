/**
 * Search parameter resolution and the grammar of parameter names and values (FHIR R4,
 * https://hl7.org/fhir/R4/search.html): `name[:modifier]`, chains `ref[:Type].name`, reverse chains
 * `_has:Type:ref:name`, comma (OR), `|` and `$` separators with backslash escapes, and value prefixes.
 */
import { getResourceTypes, getSearchParameters } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import { invalid, unknown, unsupported } from './errors.ts';
import type { ParamLookup } from './types.ts';

/** How a parameter is stored and matched: the R4 types, plus the two that live in `resources` columns. */
export const ParamKind = {
  String: 'string',
  Token: 'token',
  Reference: 'reference',
  Date: 'date',
  Number: 'number',
  Quantity: 'quantity',
  Uri: 'uri',
  Composite: 'composite',
  /** `_id`: `resources.id`. */
  Id: 'id',
  /** `_lastUpdated`: `resources.last_updated`. */
  LastUpdated: 'lastUpdated',
} as const;
export type ParamKind = (typeof ParamKind)[keyof typeof ParamKind];

/** A search parameter as the compiler needs it. */
export interface ResolvedParam {
  code: string;
  kind: ParamKind;
  /** Reference targets; undefined when any type may be referenced. */
  targets?: readonly string[];
  /** Composite components in order (each resolved on the same resource type). */
  components?: readonly ResolvedParam[];
}

/** search.html#all "Parameters for all resources" that Haven indexes, whatever the type. */
const COMMON: Record<string, ResolvedParam> = {
  _id: { code: '_id', kind: ParamKind.Id },
  _lastUpdated: { code: '_lastUpdated', kind: ParamKind.LastUpdated },
  _tag: { code: '_tag', kind: ParamKind.Token },
  _security: { code: '_security', kind: ParamKind.Token },
  _profile: { code: '_profile', kind: ParamKind.Uri },
  _source: { code: '_source', kind: ParamKind.Uri },
};

/** Medplum-internal parameters that @medplum/core adds to every type; not FHIR, not indexed by Haven. */
const NOT_FHIR = new Set(['_compartment', '_project']);

const INDEXED_KINDS = new Set<string>(['string', 'token', 'reference', 'date', 'number', 'quantity', 'uri', 'composite']);

/** Default lookup: the loaded R4 core + Haven SearchParameters (call `loadDefinitions()` first). */
export const defaultLookup: ParamLookup = (resourceType) => {
  const params = getSearchParameters(resourceType);
  return params && Object.values(params);
};

let resourceTypes: Set<string> | undefined;
/** True for a concrete FHIR resource type name. */
export function isResourceType(name: string): boolean {
  resourceTypes ??= new Set(getResourceTypes());
  return resourceTypes.has(name);
}
/** Every concrete resource type (system search without `_type`). */
export function allResourceTypes(): string[] {
  resourceTypes ??= new Set(getResourceTypes());
  return [...resourceTypes];
}

function fromDefinition(lookup: ParamLookup, type: string, sp: SearchParameter, key: string): ResolvedParam | undefined {
  if (NOT_FHIR.has(sp.code ?? '') || !sp.expression || !INDEXED_KINDS.has(sp.type ?? '')) return undefined;
  const kind = sp.type as ParamKind;
  if (kind !== ParamKind.Composite) return { code: sp.code as string, kind, targets: sp.target };
  const all = lookup(type) ?? [];
  const components = (sp.component ?? []).map((c) => {
    const def = all.find((p) => p.url === c.definition);
    const resolved = def && fromDefinition(lookup, type, def, key);
    if (!resolved || resolved.kind === ParamKind.Composite) {
      throw unsupported(key, `Composite parameter ${sp.code} has a component Haven cannot search (${c.definition})`);
    }
    return resolved;
  });
  return { code: sp.code as string, kind, components };
}

/**
 * Resolves `code` on every type in `types`: a parameter must exist with the same kind on all of them
 * (search.html: with `_type`, only parameters common to all types may be used). Reference targets are
 * merged. Throws an `unknown` refusal (400) naming the parameter otherwise.
 * @param key - the parameter as written, for the diagnostic.
 */
export function resolveParam(lookup: ParamLookup, types: readonly string[], code: string, key: string): ResolvedParam {
  // Own keys only: `constructor` or `toString` must not find Object.prototype's members.
  if (Object.hasOwn(COMMON, code)) return COMMON[code] as ResolvedParam;
  let found: ResolvedParam | undefined;
  const targets = new Set<string>();
  let anyTarget = false;
  for (const type of types) {
    const sp = lookup(type)?.find((p) => p.code === code);
    const resolved = sp && fromDefinition(lookup, type, sp, key);
    if (!resolved) {
      const where = types.length === 1 ? type : `${type} (all _type types must define it)`;
      throw unknown(key, `Unknown search parameter '${code}' for ${where}`);
    }
    if (found && found.kind !== resolved.kind) {
      throw unknown(key, `Search parameter '${code}' has different types across ${types.join(', ')}`);
    }
    found ??= resolved;
    if (resolved.targets) for (const t of resolved.targets) targets.add(t);
    else anyTarget = true;
  }
  if (!found) throw unknown(key, `Unknown search parameter '${code}'`);
  if (found.kind === ParamKind.Reference) return { ...found, targets: anyTarget ? undefined : [...targets] };
  return found;
}

/** A parsed parameter name: a plain parameter, a forward chain link, or a reverse chain (`_has`). */
export type FilterKey =
  | { kind: 'param'; code: string; modifier: string | undefined }
  | { kind: 'chain'; code: string; targetType: string | undefined; next: FilterKey }
  | { kind: 'has'; sourceType: string; refCode: string; next: FilterKey };

/** Parses a parameter name as written in the query (search.html#chaining, search.html#has). */
export function parseFilterKey(key: string, whole: string = key): FilterKey {
  if (key.startsWith('_has:')) {
    const parts = key.split(':');
    const [, sourceType, refCode] = parts;
    const rest = parts.slice(3).join(':');
    if (!sourceType || !refCode || !rest) {
      throw invalid(whole, `Invalid _has parameter '${whole}': expected _has:Type:reference-parameter:parameter`);
    }
    if (!isResourceType(sourceType)) throw invalid(whole, `Unknown resource type '${sourceType}' in '${whole}'`);
    return { kind: 'has', sourceType, refCode, next: parseFilterKey(rest, whole) };
  }
  const dot = key.indexOf('.');
  if (dot >= 0) {
    const [code, targetType, extra] = key.slice(0, dot).split(':');
    const rest = key.slice(dot + 1);
    if (!code || extra !== undefined || !rest || targetType === '') {
      throw invalid(whole, `Invalid chained parameter '${whole}'`);
    }
    if (targetType !== undefined && !isResourceType(targetType)) {
      throw invalid(whole, `Invalid chain '${whole}': ':${targetType}' is not a resource type`);
    }
    return { kind: 'chain', code, targetType, next: parseFilterKey(rest, whole) };
  }
  const colon = key.indexOf(':');
  if (colon === 0 || key === '') throw invalid(whole, `Invalid parameter name '${whole}'`);
  if (colon < 0) return { kind: 'param', code: key, modifier: undefined };
  return { kind: 'param', code: key.slice(0, colon), modifier: key.slice(colon + 1) };
}

/** Reference hops in a key: each chain link and each `_has`. */
export function chainDepth(key: FilterKey): number {
  return key.kind === 'param' ? 0 : 1 + chainDepth(key.next);
}

/**
 * Splits on an unescaped separator, keeping every escape in the parts (search.html#escaping): a
 * value is split on `,` first, then on `|` or `$`, so `\|` must survive the first split. (`splitSearchOnComma`
 * from @medplum/core removes all backslashes at once, which would turn `a\|b` into a separator later.)
 */
export function splitEscaped(input: string, sep: string, limit = Infinity): string[] {
  const out: string[] = [];
  let current = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c === '\\' && i + 1 < input.length) {
      current += c + input[i + 1];
      i++;
    } else if (c === sep && out.length + 1 < limit) {
      out.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  out.push(current);
  return out;
}

/** Removes search escapes: `\,` `\|` `\$` `\\` become the character itself. */
export function unescapeValue(input: string): string {
  return input.replace(/\\(.)/g, '$1');
}

/** search.html#prefix: prefixes for number, date and quantity. */
export const PREFIXES = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'] as const;
export type Prefix = (typeof PREFIXES)[number];

/** Splits the prefix off an ordered value (default `eq`); two leading letters that are not a prefix are a 400. */
export function splitPrefix(key: string, value: string, kind: string): { prefix: Prefix; rest: string } {
  const head = value.slice(0, 2);
  if (!/^[a-zA-Z]{2}/.test(head)) return { prefix: 'eq', rest: value };
  if (!(PREFIXES as readonly string[]).includes(head)) {
    throw invalid(key, `Invalid prefix '${head}' in ${key}=${value}: a ${kind} value takes one of ${PREFIXES.join(', ')}`);
  }
  return { prefix: head as Prefix, rest: value.slice(2) };
}
