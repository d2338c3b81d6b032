/**
 * A caller's compiled policy as the value the store receives (../model/access.ts `Access`): the FHIR API builds one
 * per request, bots and deliveries one per run. The store only asks it for row rules and refusal texts; the layers
 * above the store (Subscription hooks and operations in ../events) read back who the caller is with
 * {@link callerOf}.
 */
import type { Principal } from '../auth/authenticate.ts';
import type { Access, Need, Permission, RowRule } from '../model/access.ts';
import { compilePolicy, missingScopeMessage, rowRule, UNRESTRICTED, type Policy } from './access.ts';

/** The {@link Access} of one compiled {@link Policy}, with the principal it was compiled from (if any). */
export class CallerAccess implements Access {
  readonly unrestricted: boolean;
  readonly policy: Policy;
  /** Absent for callers that act without a token (bots, deliveries): they run with `policy` alone. */
  readonly principal: Principal | undefined;
  /** Row rules already decided, by need and type (a search asks for the same few many times). */
  private readonly rules = new Map<string, RowRule>();

  constructor(policy: Policy, principal?: Principal) {
    this.policy = policy;
    this.principal = principal;
    this.unrestricted = policy.unrestricted;
  }

  rule(need: Need, resourceType: string): RowRule {
    const key = `${need}:${resourceType}`;
    let rule = this.rules.get(key);
    if (!rule) this.rules.set(key, (rule = rowRule(this.policy, need, resourceType)));
    return rule;
  }

  refusal(permission: Permission, resourceType: string, what?: string): string {
    return missingScopeMessage(this.policy, permission, resourceType, what);
  }
}

/** The access of a request's principal (its scopes, patient context and roles: ./access.ts). */
export function accessOf(principal: Principal): CallerAccess {
  return new CallerAccess(compilePolicy(principal), principal);
}

/**
 * The policy and principal behind a repository's access. No access is a trusted internal caller (full access,
 * no principal). An access this module did not build cannot be traced to a caller: refused rather than guessed.
 */
export function callerOf(access: Access | undefined): { policy: Policy; principal?: Principal } {
  if (access === undefined) return { policy: UNRESTRICTED };
  if (access instanceof CallerAccess)
    return access.principal ? { policy: access.policy, principal: access.principal } : { policy: access.policy };
  throw new Error('An access value not built by policy/caller.ts has no caller to record');
}
