/**
 * The instruments of questionnaires/, loaded once per thread (the bots and the server share it).
 */
import { loadInstruments, type InstrumentRegistry } from './clinical/instruments.ts';

let registry: InstrumentRegistry | undefined;

/** The instrument registry, loaded on first use. */
export function instruments(): InstrumentRegistry {
  registry ??= loadInstruments();
  return registry;
}
