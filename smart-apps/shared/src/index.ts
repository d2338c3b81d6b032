/** Haven's SMART client for browser apps: launch, session, FHIR access, scope and context parsing. */
export * from './context.ts';
export * from './fhir-client.ts';
export * from './launch-store.ts';
export * from './scopes.ts';
export * from './smart-client.ts';
