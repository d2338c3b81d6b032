/**
 * OperationOutcome construction and HTTP status mapping. Every 4xx/5xx of the FHIR API is an
 * OperationOutcome with a diagnostic that says what was wrong; never a stack trace.
 */
import { OperationOutcomeError, getStatus, isOperationOutcome } from '@medplum/core';
import type { OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';

/** An error that already knows its HTTP status and FHIR issue code. */
export class HttpError extends Error {
  readonly status: number;
  readonly outcome: OperationOutcome;
  constructor(status: number, code: OperationOutcomeIssue['code'], diagnostics: string, expression?: string) {
    super(diagnostics);
    this.status = status;
    this.outcome = errorOutcome(code, diagnostics, expression);
  }
}

/** A one-issue error OperationOutcome. */
export function errorOutcome(code: OperationOutcomeIssue['code'], diagnostics: string, expression?: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, details: { text: diagnostics }, diagnostics, ...(expression ? { expression: [expression] } : {}) }],
  };
}

/** Copies `details.text` into `diagnostics` where Medplum left it empty, so clients see the reason in both places. */
export function withDiagnostics(outcome: OperationOutcome): OperationOutcome {
  return {
    ...outcome,
    issue: (outcome.issue ?? []).map((i) => (i.diagnostics || !i.details?.text ? i : { ...i, diagnostics: i.details.text })),
  };
}

/** Maps anything thrown to a status and an OperationOutcome; unknown errors are a generic 500. */
export function toHttpError(err: unknown): { status: number; outcome: OperationOutcome; internal: boolean } {
  if (err instanceof HttpError) return { status: err.status, outcome: err.outcome, internal: false };
  if (err instanceof OperationOutcomeError) {
    const status = getStatus(err.outcome);
    return { status, outcome: withDiagnostics(err.outcome), internal: status >= 500 };
  }
  if (isOperationOutcome(err)) return { status: getStatus(err), outcome: withDiagnostics(err), internal: false };
  return { status: 500, outcome: errorOutcome('exception', 'Internal server error; the request was not applied'), internal: true };
}
