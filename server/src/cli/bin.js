#!/usr/bin/env node
// Launcher for the `haven` bin: runs main.ts with this same Node binary (Node 24 strips TypeScript
// types natively). Plain JS because npm links bins as files to execute, and a .ts bin would depend on
// whichever node the shebang finds first.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('./main.ts', import.meta.url));
const result = spawnSync(process.execPath, [main, ...process.argv.slice(2)], { stdio: 'inherit' });
if (result.error) {
  process.stderr.write(`haven: cannot start ${main}: ${result.error.message}\n`);
  process.exit(2);
}
process.exit(result.status ?? (result.signal === 'SIGINT' ? 130 : 1));
