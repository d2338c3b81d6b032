/**
 * Per-type filter semantics against real rows (search.html#ptypes): each case is a query and the exact ids it
 * must return from the fixture (tenant t1 unless stated).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFixture, searchIds, sorted } from './test-fixture.ts';
import type { Fixture } from './test-fixture.ts';

let fx: Fixture;
beforeAll(async () => {
  fx = await openFixture();
});
afterAll(async () => {
  await fx?.close();
});

type Case = [type: string, query: string, ids: string[]];

function table(name: string, cases: Case[]): void {
  describe(name, () => {
    it.each(cases)('%s?%s', async (type, query, ids) => {
      expect(sorted(await searchIds(fx.db, type, query))).toEqual(sorted(ids));
    });
  });
}

table('string', [
  ['Patient', 'name=smi', ['p1', 'p2']], // starts-with; p5 is deleted
  ['Patient', 'name=SMITH', ['p1', 'p2']],
  ['Patient', 'name=ith', []],
  ['Patient', 'name:contains=ith', ['p1', 'p2']],
  ['Patient', 'name:exact=Smith', ['p1']],
  ['Patient', 'name:exact=smith', []],
  ['Patient', 'name=elo', ['p3']], // accents removed
  ['Patient', 'name=%C3%89LO', ['p3']],
  ['Patient', 'name=100%25_', ['p6']], // LIKE wildcards are literal: not p7 "1000 sure"
  ['Patient', 'name:contains=_', ['p6']],
  ['Patient', 'name=Pat%5C,%20Jr', ['p4']], // escaped comma is part of the value
  ['Patient', 'name=durand,wilson,smith', ['p1', 'p2', 'p3']], // OR
  ['Patient', 'name=smi&name=son', []], // AND, both starts-with on some name: Smithson starts with smi, nothing starts with son
  ['Patient', 'name=smi&name=ann', ['p2']],
  ['Patient', 'name:missing=true', []],
  ['Practitioner', 'name=hou', ['dr1']],
]);

table('token', [
  ['Observation', 'code=http://loinc.org|8480-6', ['o1', 'o5', 'o6', 'o10']],
  ['Observation', 'code=1234-5', ['o2', 'o3', 'o4', 'o7']], // any system
  ['Observation', 'code=http://snomed.info/sct|', ['o4']], // any code of the system
  ['Observation', 'code=|abc', ['o8']], // no system
  ['Observation', 'code=|1234-5', []],
  ['Observation', 'code=abc', ['o8']],
  ['Observation', 'code=http://loinc.org|a%5C,b', ['o9']],
  ['Observation', 'code=a%5C,b,abc', ['o8', 'o9']],
  ['Observation', 'code:not=http://loinc.org|8480-6', ['o2', 'o3', 'o4', 'o7', 'o8', 'o9']],
  ['Observation', 'code:not=1234-5,abc', ['o1', 'o5', 'o6', 'o9', 'o10']],
  ['Observation', 'code:text=blood', ['o1']], // a word of the display starts with it
  ['Observation', 'code:text=SYSTOLIC', ['o1']],
  ['Observation', 'code:text=lood', []],
  ['Observation', 'code:text=phq-9,pressure', ['o1', 'o2']],
  ['Observation', 'status=final,amended', ['o1', 'o3', 'o5']],
  ['Patient', 'gender=male', ['p1']],
  ['Patient', 'gender:missing=true', ['p3', 'p6', 'p7']],
  ['Patient', 'gender:missing=false', ['p1', 'p2', 'p4']],
  ['Patient', 'active=true', ['p1']],
  ['Patient', 'identifier=http://mrn|111', ['p1']],
  ['Patient', 'identifier=222', ['p2']],
  ['Patient', '_tag=http://tags|vip', ['p1']],
  ['Patient', '_id=p1,p2', ['p1', 'p2']],
  ['Patient', '_id=p5', []],
  ['Patient', '_id:not=p1,p2', ['p3', 'p4', 'p6', 'p7']],
  ['Patient', '_id:missing=true', []],
]);

table('reference', [
  ['Observation', 'subject=Patient/p1', ['o1', 'o2']],
  ['Observation', 'subject=p1', ['o1', 'o2']], // any target type
  ['Observation', 'subject:Patient=p1', ['o1', 'o2']],
  ['Observation', 'subject:Location=p1', []],
  ['Observation', 'subject=Location/loc1', ['o5']],
  ['Observation', 'subject=Patient/p1/_history/3', ['o1', 'o2']],
  ['Observation', 'subject=http://other.example/fhir/Patient/p1', ['o6']],
  ['Observation', 'subject:identifier=http://mrn|666', ['o10']],
  ['Observation', 'subject:identifier=|666', []],
  ['Observation', 'subject=Patient/p1,Patient/p3', ['o1', 'o2', 'o4']],
  ['Observation', 'subject:missing=true', ['o8']],
  ['Observation', 'patient=p2', ['o3']],
  ['QuestionnaireResponse', 'questionnaire=http://haven/Q/phq9%7C1.0', ['qr1']], // canonical: version not indexed
]);

table('date', [
  ['Patient', 'birthdate=1980', ['p1', 'p4']],
  ['Patient', 'birthdate=1980-05-12', ['p1', 'p4']],
  ['Patient', 'birthdate=1980-05-12T10:30', ['p4']], // p1's whole day is not within the minute
  ['Patient', 'birthdate=1980-05-12T12:30%2B02:00', ['p4']], // same instant in another zone
  ['Patient', 'birthdate=1980-05-12T10:30:00Z', ['p4']],
  ['Patient', 'birthdate=1990-06', []], // p2 is the whole of 1990: not within June
  ['Patient', 'birthdate=eq1990', ['p2']],
  ['Patient', 'birthdate=ne1980', ['p2', 'p3']],
  ['Patient', 'birthdate=gt1990', ['p3']],
  ['Patient', 'birthdate=ge1990', ['p2', 'p3']],
  ['Patient', 'birthdate=lt1990', ['p1', 'p4']],
  ['Patient', 'birthdate=le1990-06', ['p1', 'p2', 'p4']],
  ['Patient', 'birthdate=sa1985', ['p2', 'p3']],
  ['Patient', 'birthdate=eb1985', ['p1', 'p4']],
  ['Patient', 'birthdate=ap1990-07', ['p2']], // now = 2025: ±3.45 years
  ['Patient', 'birthdate=1980,2000', ['p1', 'p3', 'p4']],
  ['Patient', 'birthdate=ge1980&birthdate=lt1995', ['p1', 'p2', 'p4']],
  ['Patient', 'birthdate:missing=true', ['p6', 'p7']],
  ['Observation', 'date=2024-01', ['o1']], // o3 starts in December
  ['Observation', 'date=2020-03-04T10:00', ['o4']],
  ['Observation', 'date=2020-03-04T10:00:30', ['o4']],
  ['Observation', 'date=2020-03-04T10:01', []],
  ['Observation', 'date=sa2023-12-31', ['o1', 'o2']],
  ['Observation', 'date=le2024-01-01', ['o3', 'o4']],
  ['Observation', 'date=2024-01-01', []],
  ['Observation', 'date=ap2024-01-01', ['o1', 'o3']], // now = 2025: ±36.6 days
  ['Patient', '_lastUpdated=ge2024-03', ['p3', 'p4', 'p6', 'p7']],
  ['Patient', '_lastUpdated=lt2024-02', ['p1']],
  ['Patient', '_lastUpdated=2024-02-01', ['p2']],
]);

table('number and quantity', [
  ['RiskAssessment', 'probability=100', ['ra3', 'ra4']], // [99.5, 100.5)
  ['RiskAssessment', 'probability=100.0', ['ra3']],
  ['RiskAssessment', 'probability=0.5', ['ra2']],
  ['RiskAssessment', 'probability=1e2', ['ra3', 'ra4']],
  ['RiskAssessment', 'probability=gt0.3', ['ra2', 'ra3', 'ra4']],
  ['RiskAssessment', 'probability=le0.5', ['ra1', 'ra2']],
  ['RiskAssessment', 'probability=ne100', ['ra1', 'ra2']],
  ['RiskAssessment', 'probability=ap0.26', ['ra1']],
  ['Observation', 'value-quantity=100', ['o3', 'o4']],
  ['Observation', 'value-quantity=100.0', ['o3']],
  ['Observation', 'value-quantity=lt5.4|http://unitsofmeasure.org|mg', []],
  ['Observation', 'value-quantity=le5.4|http://unitsofmeasure.org|mg', ['o2']],
  ['Observation', 'value-quantity=5.4||mg', ['o2']],
  ['Observation', 'value-quantity=100||mg', ['o3']], // matches Quantity.unit
  ['Observation', 'value-quantity=gt100|http://unitsofmeasure.org|mm[Hg]', ['o1', 'o5']],
  ['Observation', 'value-quantity=ap100', ['o3', 'o4']],
  ['Observation', 'value-quantity=ne100', ['o1', 'o2', 'o5', 'o10']],
  ['Observation', 'value-quantity:missing=false', ['o1', 'o2', 'o3', 'o4', 'o5', 'o10']],
]);

table('uri', [
  ['Questionnaire', 'url=http://haven/Q/phq9', ['q1', 'q2']],
  ['Questionnaire', 'url=http://haven/Q/phq9%7C2.0', ['q2']], // url|version through the version parameter
  ['Questionnaire', 'url=http://haven/Q', []],
  ['Questionnaire', 'url:below=http://haven/Q', ['q1', 'q2', 'q3']], // not http://haven/Qx
  ['Questionnaire', 'url:above=http://haven/Q/phq9/part', ['q1', 'q2']],
  ['Questionnaire', 'url:missing=true', []],
  ['Patient', '_profile=http://haven/sd/haven-patient', ['p1']],
]);

table('composite', [
  ['Observation', 'code-value-quantity=http://loinc.org|8480-6$gt130', ['o5']],
  ['Observation', 'code-value-quantity=http://loinc.org|8480-6$gt100,http://loinc.org|1234-5$5.4', ['o1', 'o2', 'o5']],
  ['Observation', 'code-value-quantity=8480-6$120|http://unitsofmeasure.org|mm[Hg]', ['o1']],
  ['Observation', 'code-value-quantity=8480-6$120|http://unitsofmeasure.org|mg', []],
  ['Observation', 'code-value-quantity:missing=true', ['o3', 'o4', 'o6', 'o7', 'o8', 'o9', 'o10']],
]);

describe('tenancy', () => {
  it.each([
    ['Patient', 'name=zed', [], ['p3']],
    ['Patient', 'gender=male', ['p1'], ['p3']],
    ['Observation', 'code=1234-5', ['o2', 'o3', 'o4', 'o7'], ['x2']],
    ['Observation', 'subject=Patient/p3', ['o4'], ['o1']],
  ])('%s?%s sees only its tenant', async (type, query, t1, t2) => {
    expect(sorted(await searchIds(fx.db, type, query))).toEqual(t1);
    expect(sorted(await searchIds(fx.db, type, query, { tenant: 't2' }))).toEqual(t2);
  });
});
