/**
 * The dependency direction between the store and the policy (DESIGN.md, Style: "policy decides and hands the store
 * a value; the store never imports policy"), checked by reading every import of the production modules.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Test files and test-only helpers set up fixtures through any layer; the rule is about the code they test. */
function isTestCode(name: string): boolean {
  return name.endsWith('.test.ts') || name.startsWith('test-') || name === 'fixture.ts';
}

function sources(folder: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(folder)) {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts') && !isTestCode(name)) out.push(path);
  }
  return out;
}

/** Every module specifier a file imports or re-exports, statically or dynamically. */
function importsOf(text: string): string[] {
  const specs: string[] = [];
  for (const m of text.matchAll(
    /(?:^|[\s;])(?:import|export)\s[^'"]*?\sfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm,
  )) {
    specs.push(m[1] ?? m[2] ?? m[3]);
  }
  return specs;
}

/** `folder`'s files that import anything under one of `forbidden` (folders of server/src), as `file → target`. */
function crossings(folder: string, forbidden: readonly string[]): string[] {
  const out: string[] = [];
  for (const file of sources(join(SRC, folder))) {
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = relative(SRC, resolve(dirname(file), spec));
      if (forbidden.some((f) => target === f || target.startsWith(`${f}/`))) out.push(`${relative(SRC, file)} → ${target}`);
    }
  }
  return out;
}

describe('layers', () => {
  it('reads static, type-only, re-export and dynamic imports', () => {
    const text = [
      "import { a } from '../policy/access.ts';",
      "import type { Principal } from '../auth/authenticate.ts';",
      "export { x } from './x.ts';",
      "const m = await import('../auth/users.ts');",
      "import '../side-effect.ts';",
      "import {\n  b,\n  c,\n} from '../policy/guard.ts';",
    ].join('\n');
    expect(importsOf(text).sort()).toEqual(
      ['../policy/access.ts', '../auth/authenticate.ts', './x.ts', '../policy/guard.ts', '../auth/users.ts', '../side-effect.ts'].sort(),
    );
  });

  it('the store imports neither the policy nor auth: it receives the access decision as a value (model/access.ts)', () => {
    expect(crossings('store', ['policy', 'auth'])).toEqual([]);
  });

  it('the policy decides without the store: index facts it needs live in model/', () => {
    expect(crossings('policy', ['store'])).toEqual([]);
  });

  it('model/ is shared ground: it imports none of the layers that use it', () => {
    expect(crossings('model', ['store', 'policy', 'auth', 'http', 'events'])).toEqual([]);
  });
});
