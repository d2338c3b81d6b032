/**
 * The clinical configuration check (../../../bots/clinical/config-check.ts) at server start: every problem is logged
 * at every start (`config.<code>`, e.g. `config.risk_fallback_missing`), so a missing fallback owner cannot be
 * forgotten once a deployment is running. `haven doctor` runs the same check and fails on it.
 */
import { checkClinicalConfig, type ConfigProblem } from '../../../bots/clinical/config-check.ts';
import type { ClinicalConfig } from '../../../bots/clinical/config.ts';
import type { Queryable } from '../store/db.ts';
import type { BotSet } from './index.ts';
import { knownTenants } from './tenants.ts';

/** True for a parsed clinical configuration (a test bot set may carry another). */
function isClinicalConfig(config: unknown): config is ClinicalConfig {
  return typeof config === 'object' && config !== null && 'escalation' in config && 'licensure' in config;
}

/** Checks the bot set's clinical configuration against the tenants in storage and logs each problem; returns them. */
export async function logConfigProblems(
  q: Queryable,
  botsEnabled: boolean,
  botSet: BotSet,
  log: (event: Record<string, unknown>) => void,
): Promise<ConfigProblem[]> {
  if (!isClinicalConfig(botSet.config)) return [];
  const problems = checkClinicalConfig({
    config: botSet.config,
    botsEnabled,
    riskBot: botSet.bots.some((b) => b.id === 'risk'),
    tenants: await knownTenants(q),
  });
  for (const p of problems) {
    log({
      level: 'warn',
      event: `config.${p.code.replaceAll('-', '_')}`,
      ...(p.tenant ? { tenant: p.tenant } : {}),
      severity: p.level,
      message: p.message,
    });
  }
  return problems;
}
