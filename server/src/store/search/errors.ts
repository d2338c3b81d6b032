/**
 * Search refusals as OperationOutcome values (HTTP 400). The refusal kind decides whether
 * `Prefer: handling=lenient` may skip the parameter instead (search.html#errors): unknown and
 * unsupported parameters may be skipped and reported back; malformed values and guard limits never are,
 * because skipping them would silently widen the result set the client asked for.
 */
import { badRequest, OperationOutcomeError } from '@medplum/core';

/** Why a parameter was refused. */
export const Refusal = {
  /** Malformed value, bad prefix, bad `_count`, chain too deep: always a 400. */
  Invalid: 'invalid',
  /** Unknown parameter or modifier: skippable under lenient handling. */
  Unknown: 'unknown',
  /** Known to FHIR but not implemented by Haven (e.g. `:in`, `:above` on tokens): skippable under lenient handling. */
  Unsupported: 'unsupported',
} as const;
export type Refusal = (typeof Refusal)[keyof typeof Refusal];

/** A 400 OperationOutcomeError naming the offending parameter in `expression` and the problem in `diagnostics`. */
export class SearchError extends OperationOutcomeError {
  readonly refusal: Refusal;
  /** The query parameter name as written (e.g. `name:weird`, `subject:Patient.name`). */
  readonly param: string;

  constructor(refusal: Refusal, param: string, message: string) {
    const outcome = badRequest(message, param);
    const issue = outcome.issue[0];
    issue.diagnostics = message;
    if (refusal !== Refusal.Invalid) issue.code = 'not-supported';
    super(outcome);
    this.refusal = refusal;
    this.param = param;
  }
}

/** A malformed value or a guard limit: never skipped. */
export function invalid(param: string, message: string): SearchError {
  return new SearchError(Refusal.Invalid, param, message);
}

/** An unknown parameter or modifier. */
export function unknown(param: string, message: string): SearchError {
  return new SearchError(Refusal.Unknown, param, message);
}

/** A FHIR feature Haven does not implement. */
export function unsupported(param: string, message: string): SearchError {
  return new SearchError(Refusal.Unsupported, param, message);
}
