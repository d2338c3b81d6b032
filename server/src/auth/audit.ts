/**
 * Security audit events of the authorization server, as structured log lines until the audit issue
 * stores them as AuditEvent resources (DESIGN.md "Audit"). Each event names who (user id, client id),
 * what and the outcome; never a password, secret, code, token or assertion (a token's `jti` and a grant
 * id are identifiers, not credentials), and no patient identifiers (PHI).
 */

/** Audit event names. */
export const AUDIT = {
  login: 'auth.login',
  authorize: 'auth.authorize',
  tokenIssued: 'auth.token.issued',
  tokenRefused: 'auth.token.refused',
  refresh: 'auth.token.refreshed',
  revoke: 'auth.token.revoked',
  grantRevoked: 'auth.grant.revoked',
  launchCreated: 'auth.launch.created',
  introspect: 'auth.introspect',
  rateLimited: 'auth.rate_limited',
} as const;
export type AuditName = (typeof AUDIT)[keyof typeof AUDIT];

/** Fields an audit event may carry: all non-secret by construction of the call sites. */
export interface AuditFields {
  tenant: string;
  outcome: 'success' | 'failure';
  client_id?: string;
  user_id?: string;
  grant_type?: string;
  grant?: string;
  jti?: string;
  scope?: string;
  /** OAuth error code or internal reason (e.g. bad_password, locked, code_reused). */
  reason?: string;
  auth_method?: string;
  [extra: string]: string | number | boolean | undefined;
}

/** Logger the auth server writes to. */
export type AuditLog = (event: Record<string, unknown>) => void;

/** Emits one audit event. */
export function audit(log: AuditLog, name: AuditName, fields: AuditFields): void {
  log({ level: fields.outcome === 'success' ? 'info' : 'warn', event: name, audit: true, ...fields });
}
