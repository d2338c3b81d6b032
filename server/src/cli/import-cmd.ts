/**
 * `haven import FILE|DIR…`: FHIR Bundles (`.json`) and NDJSON (`.ndjson`, `.jsonl`), optionally gzipped,
 * or folders of them (recursive, in byte order of path so runs are repeatable). Each file stands alone:
 * a failure is reported with its location and the import moves on to the next file.
 */
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createGunzip, gunzipSync } from 'node:zlib';
import type { Bundle } from '@medplum/fhirtypes';
import { DEFAULT_JSON_LIMITS, checkJsonShape, describeShapeProblem, type JsonLimits } from '../fhir/json-shape.ts';
import { IMPORT_CHUNK, collectionItems, failureReason, type ImportFailure, type ImportItem, type ImportResult } from '../store/import.ts';
import { createProgress, type OutStream, type Progress } from './progress.ts';
import type { Target } from './target.ts';

/** Streams and cancellation a command runs with. */
export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  signal?: AbortSignal;
  /** Standard input (`haven users add` reads the password from it). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(mode: boolean): unknown };
}

const IMPORTABLE = /\.(ndjson|jsonl|json)(\.gz)?$/i;
const NDJSON = /\.(ndjson|jsonl)(\.gz)?$/i;
/** Keeps one admin request well below the server's default 16 MB body limit. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** Failures printed per file; the rest are counted. */
const MAX_LISTED = 20;

/** Thrown when the user interrupts (Ctrl-C): the current chunk finishes, nothing after it starts. */
export class InterruptedError extends Error {}

/** Expands files and folders into the files to import, sorted; throws for a path that does not exist. */
export function listImportFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    const names = readdirSync(dir)
      .filter((n) => !n.startsWith('.'))
      .sort();
    for (const name of names) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (IMPORTABLE.test(name)) out.push(p);
    }
  };
  for (const p of paths) {
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) throw new Error(`no such file or folder: ${p}`);
    if (st.isDirectory()) walk(p);
    else out.push(p);
  }
  return out;
}

/**
 * Turns a JSON.parse error into a location. V8's message can quote the offending text, which may be
 * PHI, so only the position it reports is kept. `oneLine`: the text is one NDJSON line, so only the column.
 */
export function jsonErrorLocation(err: unknown, text: string, oneLine = false): string {
  const message = err instanceof Error ? err.message : '';
  const m = /position (\d+)/.exec(message);
  if (!m) {
    if (/end of JSON input/.test(message)) return 'invalid JSON: unexpected end of input';
    return /^Unexpected token/.test(message) ? 'invalid JSON: unexpected token' : 'invalid JSON';
  }
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const column = pos - before.lastIndexOf('\n');
  return oneLine ? `invalid JSON at column ${column}` : `invalid JSON at line ${before.split('\n').length}, column ${column}`;
}

/** Why a file failed as a whole, without quoting data: errno codes, SQLSTATEs, or our own messages. */
function describeError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return failureReason(err);
  if (typeof code === 'string') return `cannot read (${code})`;
  return err instanceof Error ? err.message : 'unknown error';
}

/** Lines of a byte stream (UTF-8, `\n` or `\r\n`), numbered from 1. */
async function* numberedLines(source: AsyncIterable<Buffer>): AsyncGenerator<{ n: number; text: string }> {
  let rest = Buffer.alloc(0);
  let n = 0;
  const decode = (b: Buffer): string => {
    const s = b.toString('utf8');
    const t = s.endsWith('\r') ? s.slice(0, -1) : s;
    return n === 1 && t.charCodeAt(0) === 0xfeff ? t.slice(1) : t;
  };
  for await (const chunk of source) {
    let buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) >= 0) {
      n++;
      yield { n, text: decode(buf.subarray(0, nl)) };
      buf = buf.subarray(nl + 1);
    }
    rest = Buffer.from(buf);
  }
  if (rest.length) {
    n++;
    yield { n, text: decode(rest) };
  }
}

/** Counters of one run. */
interface Tally {
  imported: number;
  failed: number;
  bytesBefore: number;
  file: string;
  /** Bounds on each document's shape, checked here before anything walks or sends it (../fhir/json-shape.ts). */
  limits: JsonLimits;
}

function merge(into: ImportResult, r: ImportResult): void {
  into.imported += r.imported;
  into.failures.push(...r.failures);
}

async function importNdjson(
  target: Target,
  tenant: string,
  path: string,
  io: CliIo,
  tally: Tally,
  progress: Progress,
): Promise<ImportResult> {
  const result: ImportResult = { imported: 0, failures: [] };
  const raw = createReadStream(path);
  let read = 0;
  raw.on('data', (c) => {
    read += c.length;
  });
  const source = path.toLowerCase().endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  raw.once('error', (err) => (source as NodeJS.ReadableStream & { destroy(e?: Error): void }).destroy(err));
  let items: ImportItem[] = [];
  let bytes = 0;
  const flush = async (): Promise<void> => {
    if (items.length === 0) return;
    if (io.signal?.aborted) throw new InterruptedError('interrupted');
    const r = await target.importResources(tenant, items, 'line');
    merge(result, r);
    tally.imported += r.imported;
    tally.failed += r.failures.length;
    items = [];
    bytes = 0;
    progress.update(tally.bytesBefore + read, { resources: tally.imported, failed: tally.failed, file: tally.file });
  };
  for await (const { n, text } of numberedLines(source as AsyncIterable<Buffer>)) {
    if (text.trim() === '') continue;
    let resource: unknown;
    try {
      resource = JSON.parse(text);
    } catch (err) {
      result.failures.push({ line: n, reason: jsonErrorLocation(err, text, true) });
      tally.failed++;
      continue;
    }
    const shape = checkJsonShape(resource, tally.limits);
    if (shape) {
      result.failures.push({ line: n, reason: describeShapeProblem(shape) });
      tally.failed++;
    } else {
      items.push({ at: n, resource });
      bytes += text.length;
    }
    if (items.length >= IMPORT_CHUNK || bytes >= CHUNK_BYTES) await flush();
  }
  await flush();
  result.failures.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return result;
}

async function importJson(target: Target, tenant: string, path: string, io: CliIo, tally: Tally): Promise<ImportResult> {
  const buf = await readFile(path);
  const text = (path.toLowerCase().endsWith('.gz') ? gunzipSync(buf) : buf).toString('utf8').replace(/^\uFEFF/, '');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { imported: 0, failures: [{ reason: jsonErrorLocation(err, text) }] };
  }
  const bundle = doc as Bundle;
  const chunked = bundle?.resourceType === 'Bundle' && (bundle.type === 'collection' || bundle.type === 'searchset');
  // Checked before anything walks the document (urn:uuid rewriting, JSON.stringify for the admin channel). A chunked
  // collection is not one request, so its number of entries is not bounded; each entry still is, as a resource.
  const shape = checkJsonShape(doc, chunked ? { ...tally.limits, maxBundleEntries: Number.MAX_SAFE_INTEGER } : tally.limits);
  if (shape) return { imported: 0, failures: [{ reason: describeShapeProblem(shape) }] };
  let result: ImportResult;
  if (chunked) {
    // Sent in chunks (not as one document) so a large collection neither holds one huge transaction
    // nor exceeds the admin channel's body limit.
    result = { imported: 0, failures: [] };
    const items = collectionItems(bundle);
    for (let i = 0; i < items.length; i += IMPORT_CHUNK) {
      if (io.signal?.aborted) throw new InterruptedError('interrupted');
      merge(result, await target.importResources(tenant, items.slice(i, i + IMPORT_CHUNK), 'entry'));
    }
  } else {
    result = await target.importDocument(tenant, doc);
    // A lone resource has no entries: its problems belong to the file.
    if (bundle?.resourceType !== 'Bundle') result.failures = result.failures.map((f) => ({ reason: f.reason }));
  }
  tally.imported += result.imported;
  tally.failed += result.failures.length;
  return result;
}

function where(f: ImportFailure): string {
  if (f.line !== undefined) return `line ${f.line}: `;
  if (f.entry !== undefined) return `entry ${f.entry}: `;
  return '';
}

/**
 * Imports every file (see {@link listImportFiles}); returns the exit code (0 all files imported cleanly, 1 any file had a failure).
 * Failures go to stderr as `FILE: line N: reason`; the summary goes to stdout. A transaction refused with 412 (a
 * conditional reference that matched nothing yet) is tried once more after every other file: folders such as
 * Synthea's hold patient bundles that point at Practitioners and Organizations written by later files.
 */
export async function runImport(
  target: Target,
  files: readonly string[],
  tenant: string,
  io: CliIo,
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
): Promise<number> {
  const sizes = files.map((f) => statSync(f).size);
  const total = sizes.reduce((a, b) => a + b, 0);
  const progress = createProgress(io.stderr, 'import', total);
  const tally: Tally = { imported: 0, failed: 0, bytesBefore: 0, file: '', limits };
  const started = performance.now();
  let filesOk = 0;
  let filesFailed = 0;
  let interrupted = false;
  const deferred: number[] = [];

  /** Imports file `i` and reports it; false when the user interrupted. `lastTry`: no deferral. */
  const importOne = async (i: number, lastTry: boolean): Promise<boolean> => {
    const path = files[i];
    const name = relative(process.cwd(), path) || path;
    tally.file = name;
    let result: ImportResult;
    try {
      result = NDJSON.test(path)
        ? await importNdjson(target, tenant, path, io, tally, progress)
        : await importJson(target, tenant, path, io, tally);
    } catch (err) {
      if (err instanceof InterruptedError) return false;
      result = { imported: 0, failures: [{ reason: describeError(err) }] };
      tally.failed++;
    }
    if (!lastTry && result.preconditionFailed && result.imported === 0) {
      // Not a failure yet: counted when its second try ends.
      tally.failed -= result.failures.length;
      deferred.push(i);
      return true;
    }
    if (!deferred.includes(i)) tally.bytesBefore += sizes[i];
    progress.update(tally.bytesBefore, { resources: tally.imported, failed: tally.failed, file: name });
    if (result.failures.length === 0) {
      filesOk++;
      if (!io.stderr.isTTY)
        progress.log(`import: ${name}: ${result.imported} resources${lastTry && deferred.includes(i) ? ' (second try)' : ''}`);
    } else {
      filesFailed++;
      progress.log(
        `import: ${name}: FAILED (${result.imported} resources imported, ${result.failures.length} problem${result.failures.length === 1 ? '' : 's'})`,
      );
      for (const f of result.failures.slice(0, MAX_LISTED)) progress.log(`  ${name}: ${where(f)}${f.reason}`);
      if (result.failures.length > MAX_LISTED) progress.log(`  ${name}: … and ${result.failures.length - MAX_LISTED} more`);
    }
    return true;
  };

  try {
    for (let i = 0; i < files.length && !interrupted; i++) {
      interrupted = !(await importOne(i, false));
    }
    for (const i of deferred) {
      if (interrupted) break;
      tally.bytesBefore += sizes[i];
      interrupted = !(await importOne(i, true));
    }
  } finally {
    progress.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const rate = seconds > 0 ? Math.round(tally.imported / seconds) : tally.imported;
  io.stdout.write(
    `import: ${filesOk} files ok, ${filesFailed} failed${interrupted ? ', interrupted' : ''}; ` +
      `${tally.imported} resources imported in ${seconds.toFixed(1)} s (${rate}/s) into ${target.description}\n`,
  );
  return filesFailed > 0 || interrupted ? 1 : 0;
}
