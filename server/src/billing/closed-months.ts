/**
 * A closed billing month: a `List` (status current) coded `https://haven.health/fhir/CodeSystem/billing#month-close`
 * with identifier `https://haven.health/fhir/sid/billing-month|YYYY-MM`, written by `$month-close` and listing the
 * draft Claims it produced. While it exists, time entries of that month cannot be added, changed or withdrawn.
 */
import type { List, Reference } from '@medplum/fhirtypes';

type ListSource = NonNullable<List['source']>;

export const BILLING_SYSTEM = 'https://haven.health/fhir/CodeSystem/billing';
export const BILLING_MONTH_SYSTEM = 'https://haven.health/fhir/sid/billing-month';

/** Search query (without the type) finding the closure of `month`. */
export function closedMonthQuery(month: string): string {
  return `code=${encodeURIComponent(`${BILLING_SYSTEM}|month-close`)}&identifier=${encodeURIComponent(`${BILLING_MONTH_SYSTEM}|${month}`)}&status=current`;
}

/** The List that closes `month`. */
export function monthCloseList(month: string, closedAt: string, entries: readonly Reference[], source?: ListSource): List {
  return {
    resourceType: 'List',
    status: 'current',
    mode: 'snapshot',
    title: `Billing month ${month} closed`,
    code: { coding: [{ system: BILLING_SYSTEM, code: 'month-close', display: 'Billing month closed' }] },
    identifier: [{ system: BILLING_MONTH_SYSTEM, value: month }],
    date: closedAt,
    ...(source ? { source } : {}),
    ...(entries.length > 0 ? { entry: entries.map((item) => ({ item })) } : {}),
  };
}
