/**
 * What is missing or suspicious in the clinical bots' configuration, for `haven doctor` (which fails on a `fail`) and
 * the server's start-up log (every start, so a gap is never forgotten). Pure: the caller supplies the parsed
 * configuration, whether bots run, and the tenants storage knows.
 *
 * The one failure: a tenant where the risk bot runs without a fallback owner. Routing (./routing.ts) ends at the
 * fallback, so without one a risk Task for a patient with no roster entry, treating practitioner or care team names
 * nobody who acts (issue 13). Everything else is a warning: allowed, but worth a look.
 */
import { fallbackOwnerFor, type ClinicalConfig } from './config.ts';

/** One finding. `code` is stable (logs and scripts match on it); `message` says what to do. No PHI. */
export interface ConfigProblem {
  readonly level: 'fail' | 'warn';
  readonly code:
    | 'risk-fallback-missing'
    | 'bots-off'
    | 'on-call-roster-empty'
    | 'tenant-setting-unknown-tenant'
    | 'psypact-members-empty'
    | 'social-work-compact-members-empty'
    | 'counseling-compact-operational-empty';
  readonly tenant?: string;
  readonly message: string;
}

/** What the check looks at. */
export interface ConfigCheckInput {
  readonly config: ClinicalConfig;
  /** Bots run in this deployment (HAVEN_BOTS is not `off`). */
  readonly botsEnabled: boolean;
  /** The risk bot is among the bots that run. */
  readonly riskBot: boolean;
  /** Tenants storage knows (tenants with events, and `default`). */
  readonly tenants: readonly string[];
}

/** Every problem, failures first, in a stable order. */
export function checkClinicalConfig(input: ConfigCheckInput): ConfigProblem[] {
  const { config, botsEnabled, riskBot, tenants } = input;
  const esc = config.escalation;
  const out: ConfigProblem[] = [];
  const riskOn = botsEnabled && riskBot;
  if (riskOn) {
    for (const tenant of [...new Set(tenants)].sort()) {
      if (fallbackOwnerFor(esc, tenant)) continue;
      out.push({
        level: 'fail',
        code: 'risk-fallback-missing',
        tenant,
        message:
          `tenant ${tenant}: the risk bot runs and no fallback owner is configured, so a risk Task for a patient with no ` +
          `on-call entry, treating practitioner or care team has no owner. Set escalation.fallbackOwner (or ` +
          `escalation.tenants.${tenant}.fallbackOwner) in the HAVEN_BOT_CONFIG file.`,
      });
    }
  }
  if (!botsEnabled) {
    out.push({
      level: 'warn',
      code: 'bots-off',
      message: 'HAVEN_BOTS=off: no scores, risk Tasks, safety Flags or outcomes are produced in this process.',
    });
  }
  if (riskOn && esc.onCallLevels.length > 0 && esc.onCall.entries.length === 0 && !esc.onCall.fallback) {
    out.push({
      level: 'warn',
      code: 'on-call-roster-empty',
      message: `escalation.onCall names nobody: ${esc.onCallLevels.join(' and ')} risk goes to the treating practitioner, the care team or the fallback owner, not to an on-call clinician.`,
    });
  }
  for (const tenant of Object.keys(esc.tenants).sort()) {
    if (tenants.includes(tenant)) continue;
    out.push({
      level: 'warn',
      code: 'tenant-setting-unknown-tenant',
      tenant,
      message: `escalation.tenants.${tenant} is configured but storage has no tenant "${tenant}" yet (a typo?).`,
    });
  }
  const lic = config.licensure;
  if (lic.psypact.enabled && lic.psypact.members.length === 0) {
    out.push({
      level: 'warn',
      code: 'psypact-members-empty',
      message:
        'licensure.psypact.members is empty (VERIFY): PSYPACT APIT/TAP authorizations never pass until it lists the member jurisdictions from psypact.gov.',
    });
  }
  if (lic.counselingCompact.enabled && lic.counselingCompact.operational.length === 0) {
    out.push({
      level: 'warn',
      code: 'counseling-compact-operational-empty',
      message: 'licensure.counselingCompact.operational is empty: Counseling Compact privileges never pass.',
    });
  }
  if (lic.socialWorkCompact.enabled && lic.socialWorkCompact.members.length === 0) {
    out.push({
      level: 'warn',
      code: 'social-work-compact-members-empty',
      message: 'licensure.socialWorkCompact is enabled with no members: multistate social work licenses never pass.',
    });
  }
  return out;
}
