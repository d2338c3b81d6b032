/**
 * The `haven` command line: argument parsing (node:util parseArgs, strict), help, dispatch, exit codes.
 * Exit codes: 0 done, 1 failed or partly failed, 2 usage or configuration error, 130 interrupted.
 */
import { parseArgs } from 'node:util';
import { jsonLimitsFromEnv, loadConfig, type HavenConfig } from '../config.ts';
import { BackupFormatError, RestoreRefusedError } from '../store/backup.ts';
import { AUTH_COMMANDS } from './auth-cmd.ts';
import { DOCTOR_COMMANDS } from './doctor-cmd.ts';
import { EVENTS_COMMANDS } from './events-cmd.ts';
import { SEED_COMMANDS } from './seed-cmd.ts';
import { UsageError, tenantOf, tenantOption, type Command } from './command.ts';
import { runBackup, runExport, runRestore } from './dump-cmd.ts';
import { listImportFiles, runImport, type CliIo } from './import-cmd.ts';
import { DataDirBusyError } from './owner.ts';
import { openTarget, type Target } from './target.ts';

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;
export { UsageError };

const TYPE_PATTERN = /^[A-Z][A-Za-z]{1,63}$/;

const COMMANDS: Record<string, Command> = {
  import: {
    summary: 'Import FHIR Bundles and NDJSON files, or folders of them',
    usage: 'haven import FILE|DIR... [--tenant T]',
    details: `Files: *.json (a Bundle or one resource), *.ndjson / *.jsonl (one resource per line), each
optionally gzipped (*.gz). Folders are read recursively in sorted order, skipping dot-files.
  transaction, batch    through the FHIR API as one request (a transaction is all or nothing;
                        urn:uuid references are resolved)
  collection, searchset entries upserted keeping their ids (urn:uuid fullUrls become ids)
  NDJSON                lines upserted keeping their ids, in chunks of one transaction each
A failing file is reported (file, line or entry, reason) and the import continues; exit code 1
if any file failed. Resource contents are never printed.`,
    options: tenantOption,
    positionals: [1, Infinity],
    prepare(pos, values, env) {
      const tenant = tenantOf(values);
      let files: string[];
      try {
        files = listImportFiles(pos);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      if (files.length === 0) throw new UsageError('no importable files (*.json, *.ndjson, *.jsonl, optionally .gz)');
      return (target, io) => runImport(target, files, tenant, io, jsonLimitsFromEnv(env));
    },
  },
  export: {
    summary: 'Export current resources as NDJSON, one file per resource type',
    usage: 'haven export [--tenant T] [--type A,B] [--out DIR]',
    details: `Writes DIR/{Type}.ndjson (DIR defaults to the current folder) with the current, non-deleted
version of every resource of the tenant, sorted by id, read in pages. --type limits the types.`,
    options: { ...tenantOption, type: { type: 'string' }, out: { type: 'string' } },
    positionals: [0, 0],
    prepare(_pos, values) {
      const tenant = tenantOf(values);
      const types = (values.type as string | undefined)
        ?.split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      const bad = types?.find((t) => !TYPE_PATTERN.test(t));
      if (bad !== undefined || types?.length === 0) throw new UsageError(`invalid --type "${bad ?? ''}"`);
      return (target, io) => runExport(target, tenant, types, (values.out as string | undefined) ?? '.', io);
    },
  },
  backup: {
    summary: 'Write a verified logical backup of all tenants',
    usage: 'haven backup FILE [--force]',
    details: `Writes every row of resources, resource_history and haven_settings (all tenants) as gzip NDJSON
with a header and a SHA-256 trailer, from one consistent snapshot, then reads it back to verify.
Search indexes are rebuilt on restore. Works the same on embedded storage and PostgreSQL, and a
backup from one restores into the other. --force overwrites an existing FILE.`,
    options: { force: { type: 'boolean' } },
    positionals: [1, 1],
    prepare: (pos, values) => (target, io) => runBackup(target, pos[0], values.force === true, io),
  },
  restore: {
    summary: 'Restore a backup (all or nothing)',
    usage: 'haven restore FILE [--force]',
    details: `Checks the file (header, row counts, SHA-256) while loading it in one transaction: a truncated
or corrupted backup changes nothing. Refuses a database that already holds resources unless
--force, which replaces everything in it.`,
    options: { force: { type: 'boolean' } },
    positionals: [1, 1],
    prepare: (pos, values) => (target, io) => runRestore(target, pos[0], values.force === true, io),
  },
  ...AUTH_COMMANDS,
  ...EVENTS_COMMANDS,
  ...DOCTOR_COMMANDS,
  ...SEED_COMMANDS,
};

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: haven COMMAND [options]

Commands:
${lines.join('\n')}
  help COMMAND  Show help for a command

Environment (as for the server): DATA_DIR (./data), DATABASE_URL (unset: embedded storage).
With embedded storage and a running server, commands go through that server's admin channel.
Exit codes: 0 ok, 1 failed or partly failed, 2 usage error.
`;
}

function commandHelp(name: string): string {
  const c = COMMANDS[name];
  return `Usage: ${c.usage}\n\n${c.summary}.\n\n${c.details}\n`;
}

function describeFailure(err: unknown): string {
  if (err instanceof RestoreRefusedError || err instanceof BackupFormatError || err instanceof DataDirBusyError) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  // Storage errors may quote values; name them by SQLSTATE only.
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return `storage error (SQLSTATE ${code})`;
  return err instanceof Error ? err.message : String(err);
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  let [name, ...rest] = argv;
  // Two-word commands (`clients add`): the group and its subcommand name one command.
  if (name !== undefined && rest[0] !== undefined && Object.hasOwn(COMMANDS, `${name} ${rest[0]}`)) {
    name = `${name} ${rest[0]}`;
    rest = rest.slice(1);
  } else if (name === 'help' && rest.length >= 2 && Object.hasOwn(COMMANDS, `${rest[0]} ${rest[1]}`)) {
    rest = [`${rest[0]} ${rest[1]}`];
  }
  if (name === undefined || name === '--help' || name === '-h') {
    (name === undefined ? io.stderr : io.stdout).write(mainHelp());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      io.stdout.write(mainHelp());
      return EXIT.ok;
    }
    if (!(topic in COMMANDS)) {
      io.stderr.write(`haven: unknown command '${topic}'. Run 'haven --help'.\n`);
      return EXIT.usage;
    }
    io.stdout.write(commandHelp(topic));
    return EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    const subs = Object.keys(COMMANDS).filter((c) => c.startsWith(`${name} `));
    if (subs.length > 0) {
      io.stderr.write(
        `haven ${name}: expected one of: ${subs.map((c) => c.slice(name!.length + 1)).join(', ')}. Run 'haven help ${subs[0]}'.\n`,
      );
      return EXIT.usage;
    }
    io.stderr.write(`haven: unknown command '${name}'. Run 'haven --help'.\n`);
    return EXIT.usage;
  }
  let action: (target: Target, io: CliIo) => Promise<number>;
  try {
    const parsed = parseArgs({
      args: [...rest],
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (parsed.values.help) {
      io.stdout.write(commandHelp(name));
      return EXIT.ok;
    }
    const [min, max] = command.positionals;
    const n = parsed.positionals.length;
    if (n < min || n > max) throw new UsageError(n < min ? 'missing argument' : `unexpected argument '${parsed.positionals[max]}'`);
    action = command.prepare(parsed.positionals, parsed.values, env);
  } catch (err) {
    // parseArgs' own messages are long-winded; keep the option name only.
    const unknown =
      (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'([^']+)'/.exec((err as Error).message)?.[1] : undefined;
    io.stderr.write(`haven ${name}: ${unknown ? `unknown option '${unknown}'` : (err as Error).message}\nUsage: ${command.usage}\n`);
    return EXIT.usage;
  }
  let config: HavenConfig;
  try {
    config = loadConfig(env);
  } catch (err) {
    io.stderr.write(`haven: ${(err as Error).message}\n`);
    return EXIT.usage;
  }
  let target: Target | undefined;
  try {
    target = await openTarget(config, env);
    const code = await action(target, io);
    return io.signal?.aborted ? EXIT.interrupted : code;
  } catch (err) {
    if (io.signal?.aborted) {
      io.stderr.write(`haven ${name}: interrupted\n`);
      return EXIT.interrupted;
    }
    io.stderr.write(`haven ${name}: ${describeFailure(err)}\n`);
    return EXIT.failed;
  } finally {
    await target?.close();
  }
}
