/**
 * The JSON shape bounds, case by case: depth (iterative, whatever the input's depth), keys that name members of
 * Object.prototype, array lengths, values per resource, Bundle entries.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_JSON_LIMITS, checkJsonShape, isPrototypeKey, type JsonLimits } from './json-shape.ts';

const small: JsonLimits = { maxDepth: 5, maxArrayLength: 3, maxResourceValues: 20, maxBundleEntries: 2 };

/** `levels` nested arrays (JSON.parse, as a client's body arrives). */
const nestedArrays = (levels: number): unknown => JSON.parse(`${'['.repeat(levels)}${']'.repeat(levels)}`);
const nestedObjects = (levels: number): unknown => JSON.parse(`${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);

/** Every name `key in {}` finds through the prototype: the class of names a plain-object lookup gets wrong. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);

describe('nesting depth', () => {
  it('accepts exactly maxDepth levels and refuses one more, with a 400 and where', () => {
    expect(checkJsonShape(nestedArrays(5), small)).toBeUndefined();
    expect(checkJsonShape(nestedArrays(6), small)).toMatchObject({
      status: 400,
      code: 'structure',
      diagnostics: 'JSON nested more than 5 levels deep',
    });
    expect(checkJsonShape(nestedObjects(5), small)).toBeUndefined();
    expect(checkJsonShape(nestedObjects(6), small)).toMatchObject({ status: 400, expression: '$.a.a.a.a.a' });
  });

  it('walks without recursion: 5,000 and 200,000 levels are refused, not a stack overflow', () => {
    for (const levels of [5_000, 200_000]) {
      expect(checkJsonShape(nestedArrays(levels), DEFAULT_JSON_LIMITS)?.status).toBe(400);
      expect(checkJsonShape(nestedObjects(levels), DEFAULT_JSON_LIMITS)?.status).toBe(400);
    }
  });

  it('names the resource type in the path', () => {
    const p = checkJsonShape({ resourceType: 'Patient', name: nestedArrays(10) }, small);
    // The resource is level 1, `name` level 2: the sixth level is the fourth array inside `name`.
    expect(p?.expression).toBe('Patient.name[0][0][0][0]');
  });
});

describe('keys that name Object.prototype members', () => {
  it('knows the whole class, and the _-prefixed primitive-extension form of each', () => {
    expect(PROTOTYPE_NAMES).toEqual(expect.arrayContaining(['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty']));
    for (const name of PROTOTYPE_NAMES) {
      expect(isPrototypeKey(name), name).toBe(true);
      expect(isPrototypeKey(`_${name}`), `_${name}`).toBe(true);
    }
    for (const fine of ['name', '_birthDate', 'prototype', 'proto', '_', 'valueString', 'extension'])
      expect(isPrototypeKey(fine), fine).toBe(false);
  });

  it('refuses each at the top, nested in a datatype, inside an array item and in a Bundle entry', () => {
    for (const name of PROTOTYPE_NAMES) {
      const bodies = [
        `{"resourceType":"Patient","${name}":1}`,
        `{"resourceType":"Patient","meta":{"${name}":{"x":1}}}`,
        `{"resourceType":"Patient","name":[{"family":"x","${name}":"y"}]}`,
        `{"resourceType":"Observation","valueQuantity":{"value":1,"_${name}":{}}}`,
        `{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","${name}":[]}}]}`,
      ];
      for (const text of bodies) {
        const p = checkJsonShape(JSON.parse(text), DEFAULT_JSON_LIMITS);
        expect(p, text).toMatchObject({ status: 400, code: 'structure' });
        expect(p?.diagnostics).toContain(`"`);
      }
    }
  });
});

describe('sizes', () => {
  it('bounds each array (413), and Bundle.entry by its own bound', () => {
    expect(checkJsonShape({ resourceType: 'Patient', name: [{}, {}, {}] }, small)).toBeUndefined();
    expect(checkJsonShape({ resourceType: 'Patient', name: [{}, {}, {}, {}] }, small)).toMatchObject({
      status: 413,
      code: 'too-long',
      expression: 'Patient.name',
    });
    const bundle = (n: number) => ({
      resourceType: 'Bundle',
      entry: Array.from({ length: n }, () => ({ resource: { resourceType: 'Patient' } })),
    });
    expect(checkJsonShape(bundle(2), small)).toBeUndefined();
    expect(checkJsonShape(bundle(3), small)?.diagnostics).toBe('A Bundle may have at most 2 entries; this one has 3');
  });

  it('counts JSON values per resource; each Bundle entry resource has a budget of its own', () => {
    // 1 object + resourceType + 18 in `name` = 20 values: the limit.
    const at = { resourceType: 'Patient', name: [{ given: ['a', 'b'], family: 'c' }, { given: ['d', 'e'], family: 'f' }, { text: 'g' }] };
    const values = (v: unknown): number =>
      v !== null && typeof v === 'object' ? 1 + Object.values(v).reduce<number>((n, x) => n + values(x), 0) : 1;
    expect(values(at)).toBeLessThanOrEqual(20);
    expect(checkJsonShape(at, small)).toBeUndefined();
    const over = {
      ...at,
      gender: 'x',
      birthDate: '2000',
      active: true,
      deceasedBoolean: false,
      language: 'en',
      id: 'x',
      implicitRules: 'y',
    };
    expect(values(over)).toBeGreaterThan(20);
    expect(checkJsonShape(over, small)).toMatchObject({ status: 413, code: 'too-long' });
    // Two entries of `at` each: the Bundle as a whole holds more than 20 values, each resource fewer.
    const deeper = { ...small, maxDepth: 10 };
    const bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ resource: at }, { resource: at }] };
    expect(checkJsonShape(bundle, deeper)).toBeUndefined();
    expect(checkJsonShape({ ...bundle, entry: [{ resource: at }, { resource: over }] }, deeper)?.expression).toMatch(
      /^Bundle\.entry\[1\]\.resource/,
    );
  });

  it('counts a Bundle nested in an entry, and a non-Bundle "entry" array, as ordinary values', () => {
    const notBundle = { resourceType: 'Patient', entry: [{ resource: { a: 1 } }, {}, {}, {}] };
    expect(checkJsonShape(notBundle, small)?.diagnostics).toMatch(/^An array may have at most 3 items/);
  });
});
