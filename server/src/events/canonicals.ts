/**
 * Installs Haven's Questionnaires (questionnaires/) as canonical resources in every tenant, through the
 * repository (validated, indexed, with events), by conditional update on `url` + `version`: a tenant gets each
 * instrument version once, and a new version is added beside the old one (responses keep pointing at theirs).
 * A settings row per tenant records the installed set, so a restart costs one query for all tenants.
 *
 * When it runs (issue 13 item 4): at start, for `default` and every tenant that has data, before the server is
 * ready; for a tenant that appears later, before its first FHIR request is served ({@link CanonicalInstaller.ensure})
 * and, for data that reaches a tenant some other way (the CLI on PostgreSQL), when the dispatcher first sees it.
 * One installation per tenant runs at a time in a process, whichever of these asks.
 */
import { createHash } from 'node:crypto';
import { Operator } from '@medplum/core';
import type { Questionnaire } from '@medplum/fhirtypes';
import type { Db } from '../store/db.ts';
import { HavenRepository, type RepositoryContext } from '../store/repository.ts';

/** Installs the canonical Questionnaires into tenants, once per tenant and content. */
export interface CanonicalInstaller {
  /** Installs into `tenants`; `*` stands for `default` and every tenant that has data. */
  install(tenants: readonly string[]): Promise<void>;
  /** Installs into one tenant unless this process already knows it is done (then resolves at once). */
  ensure(tenant: string): Promise<void>;
}

const SETTING_PREFIX = 'canonicals:';

/**
 * Tenants that hold anything: those with numbered events, and those with resources (one index probe per tenant:
 * `resources_type_updated` leads with the tenant, and the recursive query skips from one tenant to the next).
 */
export async function tenantsWithData(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ tenant: string }>(
    `WITH RECURSIVE t(tenant) AS (
       (SELECT tenant FROM resources ORDER BY tenant LIMIT 1)
       UNION ALL
       SELECT (SELECT r.tenant FROM resources r WHERE r.tenant > t.tenant ORDER BY r.tenant LIMIT 1) FROM t WHERE t.tenant IS NOT NULL
     )
     SELECT tenant FROM t WHERE tenant IS NOT NULL
     UNION SELECT tenant FROM haven_event_counters`,
  );
  return rows.map((r) => r.tenant);
}

/** An installer of `questionnaires` (none: it does nothing). */
export function createCanonicalInstaller(
  db: Db,
  questionnaires: readonly Questionnaire[],
  repoContext: (tenant: string) => RepositoryContext,
): CanonicalInstaller {
  const fingerprint = createHash('sha256').update(JSON.stringify(questionnaires)).digest('hex').slice(0, 16);
  /** Tenants known to hold this set: nothing to ask the database again. */
  const installed = new Set<string>();
  const running = new Map<string, Promise<void>>();

  async function installInto(tenant: string): Promise<void> {
    const key = `${SETTING_PREFIX}${tenant}`;
    const { rows } = await db.query<{ value: string }>(`SELECT value FROM haven_settings WHERE key = $1`, [key]);
    if (rows[0]?.value === fingerprint) return;
    const repo = new HavenRepository({ ...repoContext(tenant), origin: { actor: 'system:install', depth: 0 } });
    for (const q of questionnaires) {
      await repo.conditionalUpdate({ ...q, id: undefined } as Questionnaire, {
        resourceType: 'Questionnaire',
        filters: [
          { code: 'url', operator: Operator.EQUALS, value: q.url as string },
          { code: 'version', operator: Operator.EQUALS, value: q.version as string },
        ],
      });
    }
    await db.query(`INSERT INTO haven_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [
      key,
      fingerprint,
    ]);
  }

  function ensure(tenant: string): Promise<void> {
    if (questionnaires.length === 0 || installed.has(tenant)) return Promise.resolve();
    let work = running.get(tenant);
    if (!work) {
      work = installInto(tenant)
        .then(() => {
          installed.add(tenant);
        })
        .finally(() => running.delete(tenant));
      running.set(tenant, work);
    }
    return work;
  }

  return {
    ensure,
    async install(tenants) {
      if (questionnaires.length === 0) return;
      let list = tenants.filter((t) => t !== '*');
      if (tenants.includes('*')) {
        list = [...new Set(['default', ...list, ...(await tenantsWithData(db))])];
        // One query tells which tenants hold this set already (a restart with many tenants costs one round trip).
        const { rows } = await db.query<{ key: string; value: string }>(`SELECT key, value FROM haven_settings WHERE key LIKE $1`, [
          `${SETTING_PREFIX}%`,
        ]);
        for (const r of rows) if (r.value === fingerprint) installed.add(r.key.slice(SETTING_PREFIX.length));
      }
      for (const tenant of list) await ensure(tenant);
    },
  };
}
