/**
 * One parameter (no chain) on one owner row, as SQL: modifiers checked per type, comma values ORed inside a
 * single `EXISTS` over the owner's index rows (search.html#modifiers, search.html#ptypes).
 */
import { INDEX_TABLES } from '../index-rows.ts';
import { invalid, unknown, unsupported } from './errors.ts';
import {
  dateCond,
  numberCond,
  parseDateValue,
  parseNumberValue,
  quantityCond,
  stringCond,
  tokenCond,
  tokenTextCond,
  uriCond,
  withoutVersion,
} from './conditions.ts';
import { isResourceType, ParamKind, resolveParam, splitEscaped, unescapeValue } from './params.ts';
import type { ResolvedParam } from './params.ts';
import { nextAlias } from './types.ts';
import type { Build, Owner } from './types.ts';

/** Every modifier R4 defines; anything else is an unknown modifier. */
const FHIR_MODIFIERS = new Set(['missing', 'exact', 'contains', 'text', 'in', 'not-in', 'below', 'above', 'not', 'identifier', 'of-type']);

/** Modifiers Haven implements, per kind (`missing` is valid for all; reference also takes `:[Type]`). */
const SUPPORTED: Record<ParamKind, readonly string[]> = {
  string: ['exact', 'contains'],
  token: ['not', 'text'],
  reference: ['identifier'],
  date: [],
  number: [],
  quantity: [],
  uri: ['below', 'above'],
  composite: [],
  id: ['not'],
  lastUpdated: [],
};

/** FHIR modifiers that are valid for a kind but need terminology, Groups/Lists or identifier types Haven does not index. */
const NOT_IMPLEMENTED: Partial<Record<ParamKind, readonly string[]>> = {
  token: ['in', 'not-in', 'below', 'above', 'of-type'],
  reference: ['below', 'above'],
  id: ['in', 'not-in'],
};

const TABLE: Record<ParamKind, string | undefined> = {
  string: INDEX_TABLES.string,
  token: INDEX_TABLES.token,
  reference: INDEX_TABLES.reference,
  date: INDEX_TABLES.date,
  number: INDEX_TABLES.number,
  quantity: INDEX_TABLES.quantity,
  uri: INDEX_TABLES.uri,
  composite: INDEX_TABLES.composite,
  id: undefined,
  lastUpdated: undefined,
};

/**
 * `EXISTS` over the owner's rows of `param` in its index table; `cond` gets the index alias.
 * Tenant and type are bound constants so the (tenant, resource_type, code, ...) indexes apply.
 */
export function indexExists(b: Build, owner: Owner, param: ResolvedParam, cond?: (alias: string) => string): string {
  const table = TABLE[param.kind] as string;
  const a = nextAlias(b, 'x');
  const where = [
    `${a}.tenant = ${b.tenant}`,
    `${a}.resource_type = ${owner.typeSql}`,
    `${a}.id = ${owner.alias}.id`,
    `${a}.code = ${b.params.add(param.code)}`,
  ];
  if (cond) where.push(`(${cond(a)})`);
  return `EXISTS (SELECT 1 FROM ${table} ${a} WHERE ${where.join(' AND ')})`;
}

function checkModifier(param: ResolvedParam, modifier: string | undefined, key: string): void {
  if (modifier === undefined || modifier === 'missing') return;
  if (SUPPORTED[param.kind].includes(modifier)) return;
  if (param.kind === ParamKind.Reference && isResourceType(modifier)) {
    if (param.targets && !param.targets.includes(modifier)) {
      throw invalid(key, `Invalid modifier :${modifier} on ${param.code}: it references ${param.targets.join(', ')}`);
    }
    return;
  }
  if (NOT_IMPLEMENTED[param.kind]?.includes(modifier)) {
    throw unsupported(key, `Modifier :${modifier} on ${param.kind} parameter ${param.code} is not supported`);
  }
  if (FHIR_MODIFIERS.has(modifier)) {
    throw unknown(key, `Modifier :${modifier} is not valid for ${param.kind} parameter ${param.code}`);
  }
  throw unknown(key, `Unknown modifier :${modifier} on ${param.code}`);
}

/** Comma-separated OR values (search.html#combining), each still escaped; empty alternatives are refused. */
function orValues(key: string, value: string): string[] {
  const parts = splitEscaped(value, ',');
  if (parts.some((part) => part === '')) throw invalid(key, `Empty value in ${key}=${value}`);
  return parts;
}

function anyOf(conds: string[]): string {
  return conds.length === 1 ? conds[0] : conds.map((c) => `(${c})`).join(' OR ');
}

/**
 * SQL for `key=value` where `key` names `param` (with optional `modifier`) on `owner`.
 * @param key - the parameter as written, for diagnostics.
 */
export function paramCondition(
  b: Build,
  owner: Owner,
  param: ResolvedParam,
  modifier: string | undefined,
  value: string,
  key: string,
): string {
  checkModifier(param, modifier, key);
  if (modifier === 'missing') {
    if (value !== 'true' && value !== 'false') throw invalid(key, `Invalid ${key}=${value}: expected true or false`);
    if (!TABLE[param.kind]) return value === 'true' ? 'FALSE' : 'TRUE'; // _id and _lastUpdated always exist
    const exists = indexExists(b, owner, param);
    return value === 'true' ? `NOT ${exists}` : exists;
  }
  const values = orValues(key, value);
  const p = b.params;
  switch (param.kind) {
    case ParamKind.String:
      return indexExists(b, owner, param, (a) =>
        anyOf(
          values.map((v) => {
            const text = unescapeValue(v);
            return modifier === 'exact' ? `${a}.raw = ${p.add(text)}` : stringCond(p, `${a}.norm`, text, modifier === 'contains');
          }),
        ),
      );
    case ParamKind.Token: {
      if (modifier === 'text') {
        return indexExists(b, owner, param, (a) => anyOf(values.map((v) => tokenTextCond(p, `${a}.display`, v))));
      }
      const exists = indexExists(b, owner, param, (a) => anyOf(values.map((v) => tokenCond(p, `${a}.system`, `${a}.value`, v, key))));
      return modifier === 'not' ? `NOT ${exists}` : exists; // :not = no value matches (search.html#token)
    }
    case ParamKind.Reference:
      return indexExists(b, owner, param, (a) => anyOf(values.map((v) => referenceCond(b, a, param, modifier, v, key))));
    case ParamKind.Date:
      return indexExists(b, owner, param, (a) =>
        anyOf(
          values.map((v) => {
            const { prefix, range } = parseDateValue(key, v);
            return dateCond(p, `${a}.low`, `${a}.high`, prefix, range, b.now);
          }),
        ),
      );
    case ParamKind.Number:
      return indexExists(b, owner, param, (a) =>
        anyOf(
          values.map((v) => {
            const { prefix, num } = parseNumberValue(key, v);
            return numberCond(p, `${a}.value`, prefix, num);
          }),
        ),
      );
    case ParamKind.Quantity:
      return indexExists(b, owner, param, (a) =>
        anyOf(
          values.map((v) =>
            quantityCond(p, { value: `${a}.value`, system: `${a}.system`, code: `${a}.unit_code`, unit: `${a}.unit` }, v, key),
          ),
        ),
      );
    case ParamKind.Uri:
      return anyOf(values.map((v) => uriParamCond(b, owner, param, modifier as 'below' | 'above' | undefined, v, key)));
    case ParamKind.Composite:
      return indexExists(b, owner, param, (a) => anyOf(values.map((v) => compositeCond(b, a, param, v, key))));
    case ParamKind.Id: {
      const ids = `${owner.alias}.id = ANY(${p.add(values.map(unescapeValue))}::text[])`;
      return modifier === 'not' ? `NOT (${ids})` : ids;
    }
    case ParamKind.LastUpdated: {
      const col = `${owner.alias}.last_updated`;
      return anyOf(
        values.map((v) => {
          const { prefix, range } = parseDateValue(key, v);
          return dateCond(p, col, col, prefix, range, b.now);
        }),
      );
    }
    default:
      return param.kind satisfies never;
  }
}

/**
 * One uri value. `url=http://x|1.0` on a canonical resource (whose `url` element is a plain uri, indexed
 * without version) also matches the pair url = `http://x` and `version` = `1.0` (search.html#uri and
 * canonical references), when the type has a `version` token parameter.
 */
function uriParamCond(
  b: Build,
  owner: Owner,
  param: ResolvedParam,
  modifier: 'below' | 'above' | undefined,
  value: string,
  key: string,
): string {
  const exact = indexExists(b, owner, param, (a) => uriCond(b.params, `${a}.value`, value, modifier));
  const [url, version, extra] = splitEscaped(value, '|');
  if (modifier !== undefined || version === undefined || extra !== undefined || param.code !== 'url') return exact;
  let versionParam: ResolvedParam;
  try {
    versionParam = resolveParam(b.lookup, owner.types, 'version', key);
  } catch {
    return exact;
  }
  if (versionParam.kind !== ParamKind.Token) return exact;
  const bare = indexExists(b, owner, param, (a) => uriCond(b.params, `${a}.value`, url, undefined));
  const versioned = indexExists(b, owner, versionParam, (a) => `${a}.value = ${b.params.add(unescapeValue(version))}`);
  return `(${exact} OR (${bare} AND ${versioned}))`;
}

/**
 * Reference match (search.html#reference): `Type/id` (a trailing `/_history/n` is ignored: the index keeps no
 * versions), a bare `id` (any declared target type), an absolute or canonical URL (`|version` ignored),
 * `:identifier` (`system|value` on Reference.identifier) and `:[Type]` (id of that type).
 */
function referenceCond(b: Build, a: string, param: ResolvedParam, modifier: string | undefined, escaped: string, key: string): string {
  const p = b.params;
  if (modifier === 'identifier') return tokenCond(p, `${a}.ident_system`, `${a}.ident_value`, escaped, key);
  const value = unescapeValue(escaped);
  if (modifier === undefined && /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(value)) return `${a}.url = ${p.add(withoutVersion(value))}`;
  let type = modifier;
  let id = value;
  const parts = value.split('/');
  if (parts.length === 2 || (parts.length === 4 && parts[2] === '_history')) {
    if (!isResourceType(parts[0])) throw invalid(key, `Invalid reference '${value}' in ${key}: '${parts[0]}' is not a resource type`);
    if (type !== undefined && type !== parts[0]) throw invalid(key, `Reference '${value}' in ${key} is not a ${type}`);
    type = parts[0];
    id = parts[1];
  } else if (parts.length !== 1 || id === '') {
    throw invalid(key, `Invalid reference '${value}' in ${key}: expected Type/id, id or an absolute URL`);
  }
  if (type !== undefined) {
    if (param.targets && !param.targets.includes(type)) {
      throw invalid(key, `Invalid reference '${value}' in ${key}: ${param.code} references ${param.targets.join(', ')}`);
    }
    return `${a}.target_id = ${p.add(id)} AND ${a}.target_type = ${p.add(type)}`;
  }
  const typeCond = param.targets ? `${a}.target_type = ANY(${p.add(param.targets)}::text[])` : `${a}.target_type IS NOT NULL`;
  return `${a}.target_id = ${p.add(id)} AND ${typeCond}`;
}

/**
 * Composite match (search.html#composite): `first$second`, the first component a token (`c1_*`), the second in the
 * columns of its kind. Other shapes are not indexed (see migrations/001_resources.sql sp_composite).
 */
function compositeCond(b: Build, a: string, param: ResolvedParam, value: string, key: string): string {
  const [first, second] = param.components ?? [];
  if (param.components?.length !== 2 || first.kind !== ParamKind.Token) {
    throw unsupported(key, `Composite parameter ${param.code} is not supported: only token$value composites are indexed`);
  }
  const parts = splitEscaped(value, '$');
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw invalid(key, `Invalid composite value '${value}' in ${key}: expected two components separated by '$'`);
  }
  const p = b.params;
  const c1 = tokenCond(p, `${a}.c1_system`, `${a}.c1_value`, parts[0], key);
  let c2: string;
  switch (second.kind) {
    case ParamKind.Token:
      c2 = tokenCond(p, `${a}.c2_system`, `${a}.c2_value`, parts[1], key);
      break;
    case ParamKind.Quantity:
      c2 = quantityCond(p, { value: `${a}.c2_number`, system: `${a}.c2_system`, code: `${a}.c2_unit_code` }, parts[1], key);
      break;
    case ParamKind.Date: {
      const { prefix, range } = parseDateValue(key, parts[1]);
      c2 = dateCond(p, `${a}.c2_low`, `${a}.c2_high`, prefix, range, b.now);
      break;
    }
    case ParamKind.Number: {
      const { prefix, num } = parseNumberValue(key, parts[1]);
      c2 = numberCond(p, `${a}.c2_number`, prefix, num);
      break;
    }
    case ParamKind.String:
      c2 = stringCond(p, `${a}.c2_string`, unescapeValue(parts[1]), false);
      break;
    default:
      throw unsupported(key, `Composite parameter ${param.code} is not supported: its second component is a ${second.kind}`);
  }
  return `${c1} AND ${c2}`;
}
