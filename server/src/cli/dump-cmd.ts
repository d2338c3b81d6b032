/**
 * `haven export`, `haven backup`, `haven restore`. Formats are described in store/backup.ts.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { join } from 'node:path';
import { readBackup } from '../store/backup.ts';
import type { CliIo } from './import-cmd.ts';
import type { Target } from './target.ts';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Writes `{out}/{Type}.ndjson` for each resource type of the tenant (or each of `types`, an empty file
 * when it has none, so a consumer that asked for a type always finds its file).
 */
export async function runExport(
  target: Target,
  tenant: string,
  types: readonly string[] | undefined,
  out: string,
  io: CliIo,
): Promise<number> {
  mkdirSync(out, { recursive: true });
  const counts = await target.exportTypeCounts(tenant, types);
  const list = types ? [...types].sort() : counts.map((c) => c.type);
  let total = 0;
  for (const type of list) {
    const path = join(out, `${type}.ndjson`);
    const tmp = `${path}.partial`;
    const file = createWriteStream(tmp);
    let n = 0;
    try {
      for await (const line of target.exportLines(tenant, type)) {
        if (io.signal?.aborted) throw new Error('interrupted');
        if (!file.write(`${line}\n`)) await once(file, 'drain');
        n++;
      }
      file.end();
      await finished(file);
    } catch (err) {
      file.destroy();
      rmSync(tmp, { force: true });
      throw err;
    }
    // Renamed only when complete, so a half-written export never looks like a whole one.
    renameSync(tmp, path);
    total += n;
    io.stderr.write(`export: ${type}: ${plural(n, 'resource')} -> ${path}\n`);
  }
  io.stdout.write(
    `export: ${plural(total, 'resource')} of tenant ${tenant} in ${plural(list.length, 'file')} under ${out} (from ${target.description})\n`,
  );
  return 0;
}

/** Writes a backup to a temporary file, verifies it by reading it back, then moves it into place. */
export async function runBackup(target: Target, file: string, force: boolean, io: CliIo): Promise<number> {
  if (existsSync(file) && !force) {
    io.stderr.write(`haven backup: ${file} exists; pass --force to overwrite it\n`);
    return 1;
  }
  const tmp = `${file}.partial`;
  try {
    const out = createWriteStream(tmp, { mode: 0o600 });
    await target.backup(out);
    if (!out.writableFinished) {
      out.end();
      await finished(out);
    }
    const summary = await readBackup(createReadStream(tmp));
    renameSync(tmp, file);
    const rows = Object.entries(summary.rows)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ');
    io.stdout.write(
      `backup: ${file} (${(statSync(file).size / 1_048_576).toFixed(1)} MB; ${rows}; SHA-256 verified) from ${target.description}\n`,
    );
    return 0;
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Restores a backup file (all or nothing). */
export async function runRestore(target: Target, file: string, force: boolean, io: CliIo): Promise<number> {
  if (!existsSync(file)) {
    io.stderr.write(`haven restore: no such file: ${file}\n`);
    return 1;
  }
  const summary = await target.restore(createReadStream(file), force);
  const rows = Object.entries(summary.rows)
    .map(([t, n]) => `${t} ${n}`)
    .join(', ');
  io.stdout.write(
    `restore: ${file} (backup of ${summary.createdAt}; ${rows}; ${summary.indexed ?? 0} resources re-indexed) into ${target.description}\n`,
  );
  return 0;
}
