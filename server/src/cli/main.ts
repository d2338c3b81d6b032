/**
 * Entry point of the `haven` CLI (`npm run haven -- …`, or the `haven` bin through bin.js).
 * The first Ctrl-C lets the current chunk finish and closes storage cleanly (PGlite must not be cut off
 * mid-write, and DATA_DIR/.lock must be released); a second one exits at once.
 */
import { runCli } from './cli.ts';

const controller = new AbortController();
process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(130);
  process.stderr.write('\nhaven: stopping after the current step (Ctrl-C again to quit now)\n');
  controller.abort();
});

process.exitCode = await runCli(process.argv.slice(2), process.env, {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  signal: controller.signal,
});
