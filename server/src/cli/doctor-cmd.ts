/**
 * `haven doctor`: checks the configuration this environment would run with (the environment and the
 * HAVEN_BOT_CONFIG file, bots/config) against the tenants storage knows, and prints what is missing. The check is the
 * server's start-up check (../../../bots/clinical/config-check.ts). Exit codes: 0 nothing fails (warnings may be
 * printed), 1 something fails (e.g. a tenant whose risk Tasks could be left without an owner), 2 the configuration
 * cannot be read. Storage is reached like every command: directly, or through a running server's admin channel.
 */
import { checkClinicalConfig } from '../../../bots/clinical/config-check.ts';
import { loadClinicalConfig, type ClinicalConfig } from '../../../bots/clinical/config.ts';
import { loadConfig } from '../config.ts';
import type { Command } from './command.ts';

export const DOCTOR_COMMANDS: Record<string, Command> = {
  doctor: {
    summary: 'Check the configuration and print what is missing',
    usage: 'haven doctor [--json]',
    details: `Loads the configuration this environment runs with (environment variables and the HAVEN_BOT_CONFIG
file over bots/config/defaults.json) and checks it for every tenant storage knows (tenants with data, and
default). One line per finding:
  FAIL  a tenant where the risk bot runs (HAVEN_BOTS is not off) and no fallback owner of risk Tasks is
        configured (escalation.fallbackOwner, or escalation.tenants.<tenant>.fallbackOwner)
  WARN  allowed but worth a look: bots off, an empty on-call roster, settings for an unknown tenant,
        compact lists that are empty (PSYPACT members ship empty: VERIFY)
Exit code 0 when nothing fails, 1 when something does, 2 when the configuration cannot be read.
The server logs the same findings at every start (config.<code>, e.g. config.risk_fallback_missing).`,
    options: { json: { type: 'boolean' } },
    positionals: [0, 0],
    prepare(_pos, values, env) {
      return async (target, io) => {
        let clinical: ClinicalConfig;
        try {
          clinical = loadClinicalConfig(env);
        } catch (err) {
          io.stderr.write(`haven doctor: ${(err as Error).message}\n`);
          return 2;
        }
        const tenants = await target.tenants();
        const problems = checkClinicalConfig({
          config: clinical,
          botsEnabled: loadConfig(env).events.botsEnabled,
          // The server runs every bot of bots/index.ts, the risk bot among them.
          riskBot: true,
          tenants,
        });
        const failures = problems.filter((p) => p.level === 'fail').length;
        if (values.json) {
          io.stdout.write(`${JSON.stringify({ tenants, problems }, null, 2)}\n`);
        } else {
          for (const p of problems) io.stdout.write(`${p.level === 'fail' ? 'FAIL' : 'WARN'}  ${p.code}  ${p.message}\n`);
          const warnings = problems.length - failures;
          io.stdout.write(
            `${failures === 0 ? 'ok' : 'failed'}: ${failures} failure(s), ${warnings} warning(s); tenants checked: ${tenants.join(', ')}\n`,
          );
        }
        return failures > 0 ? 1 : 0;
      };
    },
  },
};
