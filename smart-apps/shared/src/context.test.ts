import { describe, expect, it } from 'vitest';
import { contextReferences, parseFhirUser, parseFlag } from './context.ts';

describe('parseFlag', () => {
  it.each([
    [true, false, true],
    [false, true, false],
    ['true', false, true],
    ['false', true, false],
    ['TRUE', false, true],
    [' False ', true, false],
    ['1', false, true],
    ['0', true, false],
    [undefined, true, true],
    [undefined, false, false],
    ['maybe', true, true],
    [1, false, false],
  ])('%j (fallback %j) → %j', (value, fallback, expected) => {
    expect(parseFlag(value, fallback)).toBe(expected);
  });
});

describe('parseFhirUser', () => {
  const base = 'https://ehr.example/fhir';
  it('takes an absolute URL on this server as a relative reference', () => {
    expect(parseFhirUser('https://ehr.example/fhir/Practitioner/abc-1', base)).toEqual({
      type: 'Practitioner',
      id: 'abc-1',
      reference: 'Practitioner/abc-1',
      onThisServer: true,
    });
  });
  it('accepts a trailing slash on the base and a history suffix', () => {
    expect(parseFhirUser('https://ehr.example/fhir/Patient/p1/_history/3', `${base}/`)?.reference).toBe('Patient/p1');
  });
  it('takes a relative reference as is', () => {
    expect(parseFhirUser('Practitioner/123', base)).toMatchObject({ reference: 'Practitioner/123', onThisServer: true });
  });
  it('marks a URL on another server', () => {
    expect(parseFhirUser('https://idp.example/r4/Practitioner/9', base)).toMatchObject({
      reference: 'Practitioner/9',
      onThisServer: false,
    });
  });
  it('refuses what is not a user reference', () => {
    expect(parseFhirUser('Observation/1', base)).toBeUndefined();
    expect(parseFhirUser('Practitioner/', base)).toBeUndefined();
    expect(parseFhirUser('Practitioner/a b', base)).toBeUndefined();
    expect(parseFhirUser(42, base)).toBeUndefined();
    expect(parseFhirUser('', base)).toBeUndefined();
  });
});

describe('contextReferences', () => {
  it('keeps relative references only', () => {
    expect(
      contextReferences([
        { reference: 'Encounter/e1' },
        { reference: 'https://x/fhir/Observation/1' },
        { canonical: 'http://q' },
        null,
        { reference: 'bad' },
      ]),
    ).toEqual(['Encounter/e1']);
    expect(contextReferences('Encounter/e1')).toEqual([]);
  });
});
