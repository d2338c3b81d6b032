/**
 * Implicit ranges of date and number search values (search.html#date, #number), and value escaping.
 */
import { describe, expect, it } from 'vitest';
import { SearchError } from './errors.ts';
import { splitEscaped, unescapeValue } from './params.ts';
import { parseDateRange, parseNumber } from './values.ts';

describe('parseDateRange', () => {
  it.each([
    ['2020', '2020-01-01T00:00:00.000Z', '2021-01-01T00:00:00.000Z'],
    ['2020-02', '2020-02-01T00:00:00.000Z', '2020-03-01T00:00:00.000Z'],
    ['2020-12', '2020-12-01T00:00:00.000Z', '2021-01-01T00:00:00.000Z'],
    ['2020-02-29', '2020-02-29T00:00:00.000Z', '2020-03-01T00:00:00.000Z'],
    ['2020-03-04T10:00', '2020-03-04T10:00:00.000Z', '2020-03-04T10:01:00.000Z'],
    ['2020-03-04T10:00:30', '2020-03-04T10:00:30.000Z', '2020-03-04T10:00:31.000Z'],
    ['2020-03-04T10:00:30.5', '2020-03-04T10:00:30.500Z', '2020-03-04T10:00:30.600Z'],
    ['2020-03-04T10:00:30.123456', '2020-03-04T10:00:30.123Z', '2020-03-04T10:00:30.124Z'],
    ['2020-03-04T10:00+02:00', '2020-03-04T08:00:00.000Z', '2020-03-04T08:01:00.000Z'],
    ['2020-03-04T00:30-05:30', '2020-03-04T06:00:00.000Z', '2020-03-04T06:01:00.000Z'],
    ['0099-01-01', '0099-01-01T00:00:00.000Z', '0099-01-02T00:00:00.000Z'],
  ])('%s → [%s, %s)', (value, low, next) => {
    const r = parseDateRange('date', value);
    expect([r.low.toISOString(), r.next.toISOString()]).toEqual([low, next]);
  });

  it.each([
    '20',
    '2020-1',
    '2020-13',
    '2021-02-29',
    '2020-02-30',
    '2020-03-04T10',
    '2020-03-04T24:00',
    '2020-03-04Z',
    '2020-03-04T10:00+15:00',
    'today',
  ])('refuses %s', (value) => {
    expect(() => parseDateRange('date', value)).toThrow(SearchError);
  });
});

describe('parseNumber', () => {
  it.each([
    ['100', '5e-1'],
    ['100.00', '5e-3'],
    ['0.5', '5e-2'],
    ['-3', '5e-1'],
    ['1e2', '5e1'],
    ['1.5e2', '5e0'],
    ['.5', '5e-2'],
  ])('%s has half-width %s', (value, half) => {
    expect(parseNumber('n', value)).toEqual({ value, half });
  });

  it.each(['', '-', 'e5', '1.2.3', '1e', 'NaN', '0x10'])('refuses %j', (value) => {
    expect(() => parseNumber('n', value)).toThrow(SearchError);
  });
});

describe('escaping', () => {
  it('splits on unescaped separators only and keeps escapes for the next split', () => {
    expect(splitEscaped('a\\,b,c', ',')).toEqual(['a\\,b', 'c']);
    expect(splitEscaped('s\\|x|c|d', '|', 2)).toEqual(['s\\|x', 'c|d']);
    expect(splitEscaped('a$b\\$c', '$')).toEqual(['a', 'b\\$c']);
    expect(unescapeValue('s\\|x\\,y\\\\z\\$')).toBe('s|x,y\\z$');
  });
});
