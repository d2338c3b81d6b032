/**
 * `haven seed --demo`: loads the demo clinic (./demo-clinic.ts) into a tenant, registers Haven's apps there, and
 * creates the demo users with the documented password. Safe to run again: resources are upserts with fixed ids,
 * and users or clients that already exist are left as they are. Refused on a server whose BASE_URL is not on
 * this machine unless `--force`, because the demo passwords are public.
 */
import { loadClinicalConfig } from '../../../bots/clinical/config.ts';
import { HAVEN_APPS } from '../../../smart-apps/registry.ts';
import { AuthAdminInputError } from '../auth/admin.ts';
import { isLoopbackHost, loadConfig, type HavenConfig } from '../config.ts';
import { appRegistration } from '../http/app-clients.ts';
import { UsageError, tenantOf, tenantOption, type Command } from './command.ts';
import { DEMO_PASSWORD, DEMO_USERS, demoClinicBundles } from './demo-clinic.ts';
import type { CliIo } from './import-cmd.ts';
import type { Target } from './target.ts';

/** Seeds `tenant`; returns the exit code. */
export async function seedDemo(target: Target, io: CliIo, config: HavenConfig, tenant: string, now = new Date()): Promise<number> {
  let imported = 0;
  for (const bundle of demoClinicBundles(now, loadClinicalConfig())) {
    const result = await target.importDocument(tenant, bundle);
    if (result.failures.length > 0) {
      for (const f of result.failures) io.stderr.write(`haven seed: ${f.entry !== undefined ? `entry ${f.entry}: ` : ''}${f.reason}\n`);
      return 1;
    }
    imported += result.imported;
  }
  io.stdout.write(`demo clinic: ${imported} resources in tenant ${tenant}\n`);
  for (const app of HAVEN_APPS) {
    try {
      await target.auth.addClient({
        tenant,
        type: 'public',
        clientId: app.clientId,
        name: app.name,
        ...appRegistration(app, config.baseUrl),
      });
      io.stdout.write(`registered app ${app.clientId}\n`);
    } catch (err) {
      if (!(err instanceof AuthAdminInputError)) throw err;
      // Already registered (the server registers the default tenant's apps at every start).
    }
  }
  for (const u of DEMO_USERS) {
    try {
      await target.auth.addUser({ tenant, username: u.username, password: DEMO_PASSWORD, fhirUser: u.fhirUser, roles: u.roles });
      io.stdout.write(`created user ${u.username}\n`);
    } catch (err) {
      if (!(err instanceof AuthAdminInputError)) throw err;
      io.stdout.write(`user ${u.username} exists: left as it is\n`);
    }
  }
  const base = tenant === 'default' ? config.baseUrl : `${config.baseUrl}/t/${tenant}`;
  io.stdout.write(`
Demo logins (password for all: ${DEMO_PASSWORD}):
${DEMO_USERS.map((u) => `  ${u.username.padEnd(11)} ${u.who}`).join('\n')}

Clinician: ${config.baseUrl}/launcher/  (sign in as dr.chen, pick a patient, Launch)
Patient:   ${config.baseUrl}/apps/patient/${tenant === 'default' ? '' : `?iss=${encodeURIComponent(`${base}/fhir`)}`}  (sign in as alex)
`);
  return 0;
}

export const SEED_COMMANDS: Record<string, Command> = {
  seed: {
    summary: 'Load the demo clinic (practitioners, patients with score history, users, apps)',
    usage: 'haven seed --demo [--tenant T] [--force]',
    details: `Loads a demo clinic into the tenant: three practitioners with roles and California licenses, care
teams, four patients with months of weekly PHQ-9/GAD-7 totals, care plans and goals, upcoming appointments,
assessments waiting for the patient Alex, a PHQ-9 with a positive item 9 for Taylor (the risk bot raises a
risk Task), and a 42 CFR Part 2 program patient. Registers Haven's apps in the tenant and creates the demo
users, all with the password ${DEMO_PASSWORD}. Every demo resource is tagged
https://haven.health/fhir/CodeSystem/demo|demo. Running it again updates the demo resources.
Refused when BASE_URL is not a loopback address, unless --force: the demo passwords are public.`,
    options: { ...tenantOption, demo: { type: 'boolean' }, force: { type: 'boolean' } },
    positionals: [0, 0],
    prepare(_pos, v, env) {
      if (v.demo !== true) throw new UsageError('--demo is required (the only seed there is)');
      const tenant = tenantOf(v);
      const config = loadConfig(env);
      return async (target, io) => {
        if (!isLoopbackHost(new URL(config.baseUrl).hostname) && v.force !== true) {
          io.stderr.write(
            `haven seed: BASE_URL ${config.baseUrl} is not on this machine, and the demo passwords are public. Use --force to seed anyway.\n`,
          );
          return 2;
        }
        return seedDemo(target, io, config, tenant);
      };
    },
  },
};
