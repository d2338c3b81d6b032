/**
 * Who receives notification content, and what they may read NOW.
 *
 * Every path that hands out notification content decides with the grants of whoever receives it, at delivery
 * time: a rest-hook Subscription's owner (the caller who created or last changed it), a websocket binding's
 * caller (who asked `$get-ws-binding-token`), and the caller of `$events`. What is recorded at creation is the
 * receiver's identity and the scopes its token carried ({@link Receiver}); what is decided at delivery is
 * {@link receiverAccess}: the OAuth client must still be registered, the user must still exist and be enabled
 * ({@link userStanding}), and the scopes are cut to what the client is
 * registered for today and compiled with the user's current roles (../policy/access.ts). A removed client or user
 * yields no policy at all; a narrowed registration yields a narrower one.
 */
import type { Principal } from '../auth/authenticate.ts';
import { getClient } from '../auth/clients.ts';
import { getUser } from '../auth/users.ts';
import { compilePolicy, rowRule, UNRESTRICTED, type Need, type Policy } from '../policy/access.ts';
import { PERMISSIONS, parseScope, queryString, type ResourceScope } from '../policy/scopes.ts';
import type { Queryable } from '../store/db.ts';

/** A receiver as recorded with a Subscription or a binding token (JSON in the database). */
export type Receiver =
  /** A caller with an OAuth client (and a user, for user tokens). */
  | {
      readonly kind: 'client';
      readonly clientId: string;
      /** The user the token was issued to; absent for Backend Services tokens (subject = client). */
      readonly userId?: string;
      /** The scopes of the token, as granted. */
      readonly scopes: readonly string[];
      readonly fhirUser?: string;
      readonly patient?: string;
      readonly encounter?: string;
    }
  /** HAVEN_AUTH=off: everyone is the developer; valid only while the server runs that way. */
  | { readonly kind: 'development' }
  /** A trusted internal caller (import, the local admin channel, a bot): no token, the policy it wrote with. */
  | { readonly kind: 'internal'; readonly policy: Policy };

/** Why a receiver gets nothing any more. */
export const Revoked = {
  ClientRemoved: 'client-removed',
  UserRemoved: 'user-removed',
  UserDisabled: 'user-disabled',
  /** Created with HAVEN_AUTH=off; the server now checks tokens, and no one owns it. */
  DevelopmentOwner: 'development-owner',
  /** Nothing recorded says who it is (a record from before receivers were recorded, or a caller without a client). */
  Unknown: 'unknown-receiver',
  /** The receiver exists but its grants no longer reach the subscribed type. */
  NoGrant: 'no-grant',
} as const;
export type Revoked = (typeof Revoked)[keyof typeof Revoked];

/** What a receiver may read now, or why nothing. */
export type Standing = { readonly ok: true; readonly policy: Policy } | { readonly ok: false; readonly reason: Revoked };

/** The receiver a request's caller is: `principal` from the authenticator, `access` as the repository holds it. */
export function receiverOf(principal: Principal | undefined, access: Policy | undefined): Receiver {
  if (!principal) return { kind: 'internal', policy: access ?? UNRESTRICTED };
  if (principal.development) return { kind: 'development' };
  if (!principal.clientId) return { kind: 'client', clientId: '', scopes: [] };
  return {
    kind: 'client',
    clientId: principal.clientId,
    // Backend Services tokens carry the client as subject; user tokens the user's id.
    ...(principal.subject !== principal.clientId ? { userId: principal.subject } : {}),
    scopes: [...principal.scopes],
    ...(principal.fhirUser ? { fhirUser: principal.fhirUser } : {}),
    ...(principal.patient ? { patient: principal.patient } : {}),
    ...(principal.encounter ? { encounter: principal.encounter } : {}),
  };
}

/** Reads a receiver back from its JSON; undefined for anything else (a record from before receivers). */
export function asReceiver(value: unknown): Receiver | undefined {
  const v = value as { kind?: unknown; clientId?: unknown; scopes?: unknown; policy?: unknown } | null;
  if (v?.kind === 'development') return { kind: 'development' };
  if (v?.kind === 'internal' && typeof v.policy === 'object' && v.policy !== null) return v as Receiver;
  if (v?.kind === 'client' && typeof v.clientId === 'string' && Array.isArray(v.scopes)) return v as Receiver;
  return undefined;
}

/**
 * The intersection of two scopes: what a token scope still grants under a client's current registration. Equal
 * non-resource scopes (`openid`, `fhirUser`…) survive; resource scopes of one context meet on the narrower type,
 * the common permissions and both query constraints (ANDed).
 */
export function meetScope(a: string, b: string): string | undefined {
  const x = parseScope(a);
  const y = parseScope(b);
  if (x.kind !== 'resource' || y.kind !== 'resource') return x.kind === 'other' && a === b ? a : undefined;
  const s: ResourceScope = x.scope;
  const t: ResourceScope = y.scope;
  if (s.context !== t.context) return undefined;
  const type = s.resourceType === '*' ? t.resourceType : t.resourceType === '*' || t.resourceType === s.resourceType ? s.resourceType : '';
  if (!type) return undefined;
  const perms = PERMISSIONS.filter((p) => s.permissions.includes(p) && t.permissions.includes(p)).join('');
  if (!perms) return undefined;
  const query = [...new Set([s.query, t.query].filter((q) => q !== undefined).map((q) => queryString(q)))].join('&');
  return `${s.context}/${type}.${perms}${query ? `?${query}` : ''}`;
}

/** Every scope `held` still grants within `registered` (pairwise {@link meetScope}, deduplicated). */
export function meetScopes(held: readonly string[], registered: readonly string[]): string[] {
  const out = new Set<string>();
  for (const h of held) {
    for (const r of registered) {
      const m = meetScope(h, r);
      if (m) out.add(m);
    }
  }
  return [...out];
}

/** A user's standing now: removed, disabled, or active with their current roles. */
export type UserStanding = { readonly state: 'active'; readonly roles: readonly string[] } | { readonly state: 'removed' | 'disabled' };

/**
 * Whether a user may still receive data, with their current roles: removed, disabled (`haven users disable`), or
 * active. This is the one place every delivery path (rest-hook, websocket, `$events`) asks.
 */
export async function userStanding(q: Queryable, tenant: string, userId: string): Promise<UserStanding> {
  const user = await getUser(q, tenant, userId);
  if (!user) return { state: 'removed' };
  if (user.disabled) return { state: 'disabled' };
  return { state: 'active', roles: user.roles };
}

/** Options of {@link receiverAccess}. */
export interface AccessOptions {
  /** The server runs with HAVEN_AUTH=off (development receivers are valid only then). */
  readonly authOff: boolean;
}

/** What `receiver` may read now (see the module comment), or why nothing. */
export async function receiverAccess(q: Queryable, tenant: string, receiver: Receiver | undefined, opts: AccessOptions): Promise<Standing> {
  if (!receiver) return { ok: false, reason: Revoked.Unknown };
  switch (receiver.kind) {
    case 'internal':
      return { ok: true, policy: receiver.policy };
    case 'development':
      return opts.authOff ? { ok: true, policy: UNRESTRICTED } : { ok: false, reason: Revoked.DevelopmentOwner };
    case 'client': {
      if (!receiver.clientId) return { ok: false, reason: Revoked.Unknown };
      const client = await getClient(q, tenant, receiver.clientId);
      if (!client) return { ok: false, reason: Revoked.ClientRemoved };
      let roles: readonly string[] = [];
      if (receiver.userId) {
        const user = await userStanding(q, tenant, receiver.userId);
        if (user.state !== 'active') return { ok: false, reason: user.state === 'removed' ? Revoked.UserRemoved : Revoked.UserDisabled };
        roles = user.roles;
      }
      const policy = compilePolicy({
        tenant,
        subject: receiver.userId ?? receiver.clientId,
        clientId: receiver.clientId,
        scopes: meetScopes(receiver.scopes, client.scopes),
        roles: [...roles],
        ...(receiver.fhirUser ? { fhirUser: receiver.fhirUser } : {}),
        ...(receiver.patient ? { patient: receiver.patient } : {}),
        ...(receiver.encounter ? { encounter: receiver.encounter } : {}),
        development: false,
      });
      return { ok: true, policy };
    }
    default:
      return receiver satisfies never;
  }
}

/** {@link receiverAccess}, refused as {@link Revoked.NoGrant} when the policy reaches no row of `resourceType` with `need`. */
export async function receiverAccessTo(
  q: Queryable,
  tenant: string,
  receiver: Receiver | undefined,
  resourceType: string,
  need: Need,
  opts: AccessOptions,
): Promise<Standing> {
  const standing = await receiverAccess(q, tenant, receiver, opts);
  if (standing.ok && rowRule(standing.policy, need, resourceType).kind === 'none') return { ok: false, reason: Revoked.NoGrant };
  return standing;
}
