/**
 * vitest globalSetup: builds the run's migrated template database (./template-storage.ts) before any test file
 * starts, hands it to the workers, and drops it when the run ends.
 */
import type { TestProject } from 'vitest/node';
import { buildTemplate, TEMPLATE_KEY } from './template-storage.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const { template, drop } = await buildTemplate(process.env.DATABASE_URL || undefined);
  project.provide(TEMPLATE_KEY, template);
  return drop;
}
