/**
 * Summarises a V8 `.cpuprofile` (written by the server under `node --cpu-prof`): self time by area (a
 * package in node_modules, a folder of server/src, Node internals, GC) and by function, per bench phase.
 * Phases are time windows measured from the child's spawn, which is within milliseconds of the profile's
 * start; the server's own start-up (loading definitions) falls outside every window.
 * Open the file in Chrome DevTools (Performance → Load profile) for the full call tree.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A named span of the run, in ms since the server child was spawned. */
export interface PhaseWindow {
  readonly name: string;
  readonly fromMs: number;
  readonly toMs: number;
}

/** Where a frame's code lives, coarse enough to see which layer the time goes to. */
function areaOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native: V8 builtins, I/O syscalls)';
  if (url.startsWith('wasm://')) return 'PGlite WASM (PostgreSQL executing SQL)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  const src = /\/(server\/src\/(?:[^/]+\/)?)/.exec(url);
  if (src) return src[1];
  if (url.startsWith('node:')) return 'node internals';
  return url
    .replace(/^file:\/\//, '')
    .split('/')
    .slice(-2)
    .join('/');
}

function shortUrl(url: string): string {
  return url
    .replace(/^file:\/\//, '')
    .replace(/^.*node_modules\//, '')
    .replace(/^.*\/(server\/src\/)/, '$1');
}

function topLines(m: Map<string, number>, busy: number, n: number, indent: string): string[] {
  return [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, us]) => `${indent}${((100 * us) / Math.max(1, busy)).toFixed(1).padStart(5)}%  ${k}`);
}

/** Top areas and functions by self time in each window, as printable lines. */
export function summarizeProfile(file: string, windows: readonly PhaseWindow[], topN = 10): string[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out: string[] = [];
  for (const w of windows) {
    const fns = new Map<string, number>();
    const areas = new Map<string, number>();
    let busy = 0;
    let idle = 0;
    let t = 0; // µs since the profile started
    profile.samples.forEach((id, i) => {
      const dt = profile.timeDeltas[i] ?? 0;
      t += dt;
      if (t < w.fromMs * 1000 || t > w.toMs * 1000) return;
      const cf = byId.get(id)?.callFrame;
      if (!cf) return;
      if (cf.functionName === '(idle)' || cf.functionName === '(program)') {
        idle += dt;
        return;
      }
      busy += dt;
      const name = `${cf.functionName || '(anonymous)'} ${cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : ''}`.trim();
      fns.set(name, (fns.get(name) ?? 0) + dt);
      const area = areaOf(cf.url, cf.functionName);
      areas.set(area, (areas.get(area) ?? 0) + dt);
    });
    const span = (w.toMs - w.fromMs) / 1000;
    out.push(
      `${w.name}: ${span.toFixed(1)} s, main thread busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / Math.max(1, busy + idle)).toFixed(0)}%, rest idle/waiting). Self time by area:`,
    );
    out.push(...topLines(areas, busy, topN, '  '));
    out.push('  hottest functions:');
    out.push(...topLines(fns, busy, topN, '  '));
  }
  return out;
}
