/**
 * Bounds on the shape of a client's JSON, checked before anything walks it recursively (validation, indexing,
 * cloning, serialising) and before anything copies its keys into other objects.
 *
 * - Nesting depth: a 5,000-level `[[[…]]]` made every recursive walker overflow the stack (a 500). No FHIR resource
 *   nests anywhere near {@link DEFAULT_JSON_LIMITS.maxDepth} levels (a Questionnaire ten item levels deep is ~25).
 * - Keys that name a property of `Object.prototype` (`__proto__`, `constructor`, `toString`…): no FHIR element has
 *   such a name, and a lookup like `key in elements` or `table[key]` finds the prototype's member, so they used to
 *   pass validation (and `__proto__`, assigned to a plain object, replaces its prototype). Refused wherever they are.
 * - Array lengths and the number of JSON values of one resource: one 4 MB Patient with 100,000 names held the server
 *   for 19 s (validation, indexing and ~300,000 index rows). A Bundle's resources are counted one by one (each
 *   `entry[i].resource` has the resource budget), and `Bundle.entry` has a bound of its own.
 *
 * The walk is iterative (an explicit stack), so it is safe on input of any depth, and it stops at the first problem.
 */

/** The bounds; every one is configurable (../config.ts, README "Configuration"). */
export interface JsonLimits {
  /** HAVEN_MAX_JSON_DEPTH: most nested objects and arrays, counted from the body's top level. */
  readonly maxDepth: number;
  /** HAVEN_MAX_ARRAY_LENGTH: most items of any one array (except `Bundle.entry`). */
  readonly maxArrayLength: number;
  /** HAVEN_MAX_RESOURCE_VALUES: most JSON values (objects, arrays, strings, numbers, booleans, nulls) per resource. */
  readonly maxResourceValues: number;
  /** HAVEN_MAX_BUNDLE_ENTRIES: most entries of one Bundle. */
  readonly maxBundleEntries: number;
}

/**
 * Defaults no real clinical resource reaches: the largest resources Haven handles (a long Questionnaire, a Bundle
 * of a patient's record, a CarePlan) stay below a tenth of each. Sized so that the largest allowed resource is
 * validated, indexed and stored in about a second (bench/README.md, "large bodies").
 */
export const DEFAULT_JSON_LIMITS: JsonLimits = {
  maxDepth: 64,
  maxArrayLength: 5_000,
  maxResourceValues: 50_000,
  maxBundleEntries: 10_000,
};

/** A problem as one line for logs and CLI output: where, then what (keys and indices only, never values). */
export function describeShapeProblem(p: JsonShapeProblem): string {
  return p.expression ? `${p.expression}: ${p.diagnostics}` : p.diagnostics;
}

/** Why a body was refused: the HTTP status (400 malformed, 413 too large), FHIR issue code and a diagnostic. */
export interface JsonShapeProblem {
  readonly status: 400 | 413;
  readonly code: 'structure' | 'too-long';
  readonly diagnostics: string;
  /** Where, as a FHIRPath-like path from the top (`Patient.name[3]`), when it helps. */
  readonly expression?: string;
}

/**
 * True for a key that names a member of `Object.prototype` (`__proto__`, `constructor`, `hasOwnProperty`,
 * `toString`, `valueOf`…), or such a name behind FHIR's `_` prefix of primitive extensions (`_constructor`).
 */
export function isPrototypeKey(key: string): boolean {
  return key in Object.prototype || (key.startsWith('_') && key.slice(1) in Object.prototype);
}

/** One JSON value waiting to be visited, with what its checks need. */
interface Frame {
  readonly value: unknown;
  readonly depth: number;
  /** Values counted so far in the resource this value belongs to (shared by reference). */
  readonly budget: { count: number };
  readonly parent: Frame | undefined;
  /** Property name or array index under `parent`. */
  readonly key: string | number | undefined;
}

function pathOf(frame: Frame, root: string): string {
  const parts: string[] = [];
  for (let f: Frame | undefined = frame; f?.parent; f = f.parent) {
    parts.push(typeof f.key === 'number' ? `[${f.key}]` : `.${f.key}`);
  }
  return root + parts.reverse().join('');
}

function rootName(value: unknown): string {
  const t = (value as { resourceType?: unknown } | null)?.resourceType;
  return typeof t === 'string' && /^[A-Za-z]{1,64}$/.test(t) ? t : '$';
}

/** True when `frame` is `Bundle.entry[i].resource` (its own resource budget starts there). */
function isEntryResource(frame: Frame): boolean {
  const entry = frame.parent;
  const entries = entry?.parent;
  const bundle = entries?.parent;
  return (
    frame.key === 'resource' &&
    typeof entry?.key === 'number' &&
    entries?.key === 'entry' &&
    (bundle?.value as { resourceType?: unknown } | null)?.resourceType === 'Bundle'
  );
}

/**
 * Checks a parsed JSON value (a resource, a Bundle, a JSON Patch document…) against `limits`; undefined when it is
 * within them. The whole value has one budget of JSON values, except that each `Bundle.entry[i].resource` has its own.
 */
export function checkJsonShape(value: unknown, limits: JsonLimits): JsonShapeProblem | undefined {
  const root = rootName(value);
  const stack: Frame[] = [{ value, depth: 0, budget: { count: 0 }, parent: undefined, key: undefined }];
  for (let frame = stack.pop(); frame; frame = stack.pop()) {
    const { value: v } = frame;
    const budget = isEntryResource(frame) ? { count: 0 } : frame.budget;
    budget.count++;
    if (budget.count > limits.maxResourceValues) {
      return {
        status: 413,
        code: 'too-long',
        diagnostics: `A resource may hold at most ${limits.maxResourceValues} JSON values (objects, arrays and primitives); this one holds more`,
        expression: pathOf(frame, root),
      };
    }
    if (typeof v !== 'object' || v === null) continue;
    const depth = frame.depth + 1;
    if (depth > limits.maxDepth) {
      return {
        status: 400,
        code: 'structure',
        diagnostics: `JSON nested more than ${limits.maxDepth} levels deep`,
        expression: pathOf(frame, root),
      };
    }
    if (Array.isArray(v)) {
      const bundleEntries = frame.key === 'entry' && (frame.parent?.value as { resourceType?: unknown })?.resourceType === 'Bundle';
      const max = bundleEntries ? limits.maxBundleEntries : limits.maxArrayLength;
      if (v.length > max) {
        return {
          status: 413,
          code: 'too-long',
          diagnostics: bundleEntries
            ? `A Bundle may have at most ${max} entries; this one has ${v.length}`
            : `An array may have at most ${max} items; this one has ${v.length}`,
          expression: pathOf(frame, root),
        };
      }
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], depth, budget, parent: frame, key: i });
      continue;
    }
    const keys = Object.keys(v);
    for (const key of keys) {
      if (isPrototypeKey(key)) {
        return {
          status: 400,
          code: 'structure',
          diagnostics: `Invalid property "${key}": no FHIR element has this name`,
          expression: pathOf({ value: undefined, depth, budget, parent: frame, key }, root),
        };
      }
    }
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      stack.push({ value: (v as Record<string, unknown>)[key], depth, budget, parent: frame, key });
    }
  }
  return undefined;
}
