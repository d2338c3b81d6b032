/**
 * Request text checked at the FHIR boundary, so that a bad parameter is refused with its name (the store's own
 * wall, ../store/text-guard.ts, cannot tell which parameter a value came from).
 */
import { unsafeTextReason } from '../store/text-guard.ts';
import { HttpError } from './outcome.ts';

/**
 * Throws a 400 naming the first query (or form) parameter whose name or value holds a NUL character or an
 * unpaired surrogate. `params` is Express's parsed query: values are strings or arrays of strings.
 */
export function refuseUnsafeParameters(params: object): void {
  for (const [name, value] of Object.entries(params)) {
    const shownName = JSON.stringify(name.replace(/[\u0000-\u001f]/g, '?').slice(0, 64));
    const nameReason = unsafeTextReason(name);
    if (nameReason) throw new HttpError(400, 'invalid', `The name of search parameter ${shownName} ${nameReason}`, name.slice(0, 64));
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v !== 'string') continue;
      const reason = unsafeTextReason(v);
      if (reason)
        throw new HttpError(
          400,
          'invalid',
          `The value of parameter ${shownName} ${reason}; FHIR strings cannot hold it`,
          name.slice(0, 64),
        );
    }
  }
}

/** `decodeURIComponent`, or null when `text` is not valid percent-encoded UTF-8 (never throws). */
export function safeDecode(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}
