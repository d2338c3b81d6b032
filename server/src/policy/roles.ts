/**
 * The most each user role may ever be granted. SMART scopes delegate a user's own access to an app; they
 * never widen it (SMART App Launch 2.2, Scopes and Launch Context, §User-level scopes: "user/… scopes
 * allow access to resources the user can access"; §SMART's scopes are used to delegate access). So every
 * scope of a user token is intersected with the union of the user's role caps below.
 *
 * | role        | maximum                              | confinement                                   |
 * |-------------|--------------------------------------|-----------------------------------------------|
 * | `admin`     | `*.cruds`                            | none                                          |
 * | `clinician` | `*.cruds`                            | none (care-team / consent rules come later)   |
 * | `patient`   | `*.cruds`                            | the compartment of their own `Patient` (fhirUser) |
 * | `auditor`   | `AuditEvent.rs`, `Provenance.rs`     | none                                          |
 * | anything else | nothing                            |                                               |
 *
 * Who counts as a user: a principal with roles or with a `fhirUser`. A backend service (no roles, no
 * fhirUser) is not cut: its `system/` scopes were pre-authorised for that client (SMART Backend Services).
 * A user with no known role gets nothing from `user/`, `patient/` or `system/` scopes.
 */
import type { Permission } from '../model/access.ts';

/** One entry of a role's maximum. */
export interface RoleCap {
  /** A resource type or `*`. */
  resourceType: string;
  permissions: readonly Permission[];
  /** `self`: only the compartment of the user's own Patient record (fhirUser must be `Patient/{id}`). */
  confine?: 'self';
}

const ALL: readonly Permission[] = ['c', 'r', 'u', 'd', 's'];

/** The role table (see the module comment). */
export const ROLE_CAPS: Readonly<Record<string, readonly RoleCap[]>> = {
  admin: [{ resourceType: '*', permissions: ALL }],
  clinician: [{ resourceType: '*', permissions: ALL }],
  patient: [{ resourceType: '*', permissions: ALL, confine: 'self' }],
  auditor: [
    { resourceType: 'AuditEvent', permissions: ['r', 's'] },
    { resourceType: 'Provenance', permissions: ['r', 's'] },
  ],
};

/** The caps of a set of roles (union); unknown roles add nothing. */
export function capsOf(roles: readonly string[]): RoleCap[] {
  return roles.flatMap((role) => (Object.hasOwn(ROLE_CAPS, role) ? ROLE_CAPS[role] : []));
}
