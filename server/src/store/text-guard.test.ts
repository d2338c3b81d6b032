/** The store's wall against text PostgreSQL cannot hold: a NUL or an unpaired surrogate, raw or JSON-escaped. */
import { describe, expect, it } from 'vitest';
import { assertStorableParams, findUnsafeText, jsonTextHasUnsafeText, unsafeTextReason } from './text-guard.ts';

describe('unsafeTextReason', () => {
  const cases: Array<[string, string, RegExp | undefined]> = [
    ['plain text', 'Ada Lovelace', undefined],
    ['an emoji (a surrogate pair)', 'ok 😀', undefined],
    ['tab, CR, LF', 'a\tb\r\nc', undefined],
    ['the empty string', '', undefined],
    ['a NUL', 'a\u0000b', /NUL/],
    ['a NUL alone', '\u0000', /NUL/],
    ['a high surrogate at the end', 'a\ud83d', /unpaired surrogate/],
    ['a low surrogate alone', '\ude00x', /unpaired surrogate/],
    ['two high surrogates', '\ud83d\ud83d', /unpaired surrogate/],
    ['a pair reversed', '\ude00\ud83d', /unpaired surrogate/],
  ];
  for (const [what, text, expected] of cases) {
    it(what, () => {
      const reason = unsafeTextReason(text);
      if (expected) expect(reason).toMatch(expected);
      else expect(reason).toBeUndefined();
    });
  }
});

describe('findUnsafeText', () => {
  it('names the path of the first bad value, and never the value', () => {
    const found = findUnsafeText({ name: [{ family: 'ok' }, { given: ['x', 'a\u0000'] }] });
    expect(found).toEqual({ path: 'name[1].given[1]', reason: expect.stringMatching(/NUL/) });
  });
  it('checks property names as well as values', () => {
    expect(findUnsafeText({ ok: 1, 'b\ud800': 2 })?.reason).toMatch(/property name .*unpaired surrogate/);
  });
  it('walks 100,000 levels without exhausting the stack', () => {
    let deep: unknown = 'bad\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnsafeText(deep)?.reason).toMatch(/NUL/);
  });
  it('finds nothing in clean data of every JSON type', () => {
    expect(findUnsafeText({ a: [1, true, null, { b: 'c' }], d: 2.5 })).toBeUndefined();
  });
});

describe('jsonTextHasUnsafeText (JSON.stringify output)', () => {
  const cases: Array<[string, unknown, boolean]> = [
    ['clean', { a: 'b', c: ['😀'] }, false],
    ['a NUL', { a: 'x\u0000' }, true],
    ['a lone high surrogate', { a: '\ud800' }, true],
    ['a lone low surrogate', ['\udfff'], true],
    ['a key with a NUL', { 'k\u0000': 1 }, true],
    ['the text \\u0000 (a backslash then "u0000")', { a: '\\u0000' }, false],
    ['a backslash then a NUL', { a: '\\\u0000' }, true],
    ['the text \\ud800', { a: 'x\\ud800' }, false],
    ['other control characters (escaped, storable)', { a: '\u0001\u001f' }, false],
  ];
  for (const [what, value, expected] of cases) {
    it(what, () => {
      expect(jsonTextHasUnsafeText(JSON.stringify(value))).toBe(expected);
    });
  }
});

describe('assertStorableParams', () => {
  it('passes ordinary parameters of every type', () => {
    expect(() => assertStorableParams(['a', 1, null, true, ['x', 'y'], new Date(0)])).not.toThrow();
  });
  it('refuses a NUL in a string parameter with a 400', () => {
    expect(() => assertStorableParams(['ok', 'a\u0000'])).toThrow(/NUL/);
  });
  it('refuses an unpaired surrogate inside an array parameter', () => {
    expect(() => assertStorableParams([['ok', '\ud800']])).toThrow(/not valid Unicode/);
  });
});
