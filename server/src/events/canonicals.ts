/**
 * Installs Haven's Questionnaires (questionnaires/) as canonical resources in every tenant, through the
 * repository (validated, indexed, with events), by conditional update on `url` + `version`: a tenant gets each
 * instrument version once, and a new version is added beside the old one (responses keep pointing at theirs).
 * A settings row per tenant records the installed set, so a restart or poll costs one query.
 */
import { createHash } from 'node:crypto';
import { Operator } from '@medplum/core';
import type { Questionnaire } from '@medplum/fhirtypes';
import type { Db } from '../store/db.ts';
import { HavenRepository, type RepositoryContext } from '../store/repository.ts';

/** Installs `questionnaires` into `tenants` (every tenant with data, plus `default`, for `*`). */
export async function installCanonicals(
  db: Db,
  questionnaires: readonly Questionnaire[],
  tenants: readonly string[],
  repoContext: (tenant: string) => RepositoryContext,
): Promise<void> {
  if (questionnaires.length === 0) return;
  const fingerprint = createHash('sha256').update(JSON.stringify(questionnaires)).digest('hex').slice(0, 16);
  let list = tenants.filter((t) => t !== '*');
  if (tenants.includes('*')) {
    const { rows } = await db.query<{ tenant: string }>(`SELECT tenant FROM haven_event_counters`);
    list = [...new Set(['default', ...list, ...rows.map((r) => r.tenant)])];
  }
  for (const tenant of list) {
    const key = `canonicals:${tenant}`;
    const { rows } = await db.query<{ value: string }>(`SELECT value FROM haven_settings WHERE key = $1`, [key]);
    if (rows[0]?.value === fingerprint) continue;
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
}
