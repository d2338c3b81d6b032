/**
 * FHIR R4 search compiled to SQL over `resources` and the `sp_*` index tables
 * (https://hl7.org/fhir/R4/search.html). Entry points: {@link parseSearch} (query → request),
 * {@link compileSearch} (request → page and count SQL), {@link fetchIncludes} / {@link compileIncludes}
 * (`_include` / `_revinclude` rounds).
 */
export { compileSearch } from './compile.ts';
export { SearchError, Refusal } from './errors.ts';
export { compileIncludes, fetchIncludes, DEFAULT_INCLUDE_LIMITS } from './include.ts';
export type { IncludeLimits, IncludeRound, ResourceRow } from './include.ts';
export { parseSearch, RESULT_PARAMS } from './request.ts';
export type { SearchQuery } from './request.ts';
export type { CompiledSearch, ResourceKey, SearchContext } from './types.ts';
