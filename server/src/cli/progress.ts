/**
 * Progress of a long CLI command on stderr: a cli-progress bar when stderr is a terminal, plain lines
 * (at most one per interval) when it is a pipe or a log file, where a redrawn bar would be noise.
 */
import cliProgress from 'cli-progress';

/** A writable text stream that may be a terminal. */
export interface OutStream {
  write(text: string): boolean;
  isTTY?: boolean;
}

/** Counters shown alongside the bar. */
export interface ProgressCounts {
  resources: number;
  failed: number;
  file: string;
}

/** What commands report progress through. */
export interface Progress {
  /** Bytes done so far (out of the total given at creation) and the counters. */
  update(doneBytes: number, counts: ProgressCounts): void;
  /** Prints a line without breaking the bar. */
  log(line: string): void;
  stop(): void;
}

function mb(bytes: number): string {
  return (bytes / 1_048_576).toFixed(1);
}

/** Creates a progress reporter over `totalBytes` on `err`. */
export function createProgress(err: OutStream, label: string, totalBytes: number, intervalMs = 5000): Progress {
  if (err.isTTY) {
    const multi = new cliProgress.MultiBar(
      {
        stream: err as NodeJS.WritableStream,
        format: `${label} |{bar}| {percentage}% | {doneMb}/{totalMb} MB | {resources} resources | {failed} failed | {file}`,
        hideCursor: true,
        clearOnComplete: false,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    const bar = multi.create(Math.max(totalBytes, 1), 0, { doneMb: '0.0', totalMb: mb(totalBytes), resources: 0, failed: 0, file: '' });
    return {
      update(done, c) {
        bar.update(Math.min(done, totalBytes), {
          doneMb: mb(done),
          totalMb: mb(totalBytes),
          resources: c.resources,
          failed: c.failed,
          file: c.file,
        });
      },
      log(line) {
        multi.log(`${line}\n`);
      },
      stop() {
        // MultiBar prints logged lines only on its next redraw, and stop() does not redraw: force one.
        multi.update();
        multi.stop();
      },
    };
  }
  let last = 0;
  return {
    update(done, c) {
      const now = Date.now();
      if (now - last < intervalMs) return;
      last = now;
      const pct = totalBytes > 0 ? Math.floor((100 * Math.min(done, totalBytes)) / totalBytes) : 100;
      err.write(`${label}: ${pct}% (${mb(done)}/${mb(totalBytes)} MB), ${c.resources} resources, ${c.failed} failed\n`);
    },
    log(line) {
      err.write(`${line}\n`);
    },
    stop() {},
  };
}
