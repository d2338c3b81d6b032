/**
 * The shape of a `haven` command, shared by cli.ts and the command modules that define commands.
 */
import type { ParseArgsConfig } from 'node:util';
import type { CliIo } from './import-cmd.ts';
import type { Target } from './target.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** A command (or `group sub` command, e.g. `clients add`). */
export interface Command {
  summary: string;
  usage: string;
  details: string;
  options: Options;
  /** Allowed number of positionals: [min, max]. */
  positionals: [number, number];
  /**
   * Checks the arguments (throwing {@link UsageError}) before any storage is opened; returns the action. `env` is the
   * environment the CLI runs with (for commands that read configuration besides storage).
   */
  prepare(
    positionals: string[],
    values: Record<string, string | boolean | string[] | undefined>,
    env: NodeJS.ProcessEnv,
  ): (target: Target, io: CliIo) => Promise<number>;
}

/** A problem with the command line itself (exit 2). */
export class UsageError extends Error {}

const TENANT_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const tenantOption = { tenant: { type: 'string' } } as const satisfies Options;

/** The `--tenant` value, checked. */
export function tenantOf(values: Record<string, unknown>): string {
  const t = (values.tenant as string | undefined) ?? 'default';
  if (!TENANT_PATTERN.test(t)) throw new UsageError(`invalid --tenant "${t}" (lower-case letters, digits and '-', up to 63)`);
  return t;
}
