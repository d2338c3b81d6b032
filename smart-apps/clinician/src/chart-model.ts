/**
 * The geometry of a score trend chart: time on x, the total on y (0 at the bottom, the instrument's maximum at
 * the top), severity bands as horizontal stripes, one point per total, and marks where the outcomes bot recorded
 * response (≥ 50 % drop from baseline) or remission. Pure, so the chart component only draws.
 */
import { BANDS, TOTALS, type ChartedInstrument, type ScorePoint } from '../../shared/src/scores.ts';

/** Drawing area. */
export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export const FRAME: Frame = { width: 640, height: 220, left: 36, right: 110, top: 10, bottom: 28 };

/** A band stripe. */
export interface BandRect {
  code: string;
  label: string;
  y: number;
  height: number;
  labelY: number;
}

/** A plotted total. */
export interface PlotPoint {
  point: ScorePoint;
  x: number;
  y: number;
  mark?: 'response' | 'remission';
}

/** Everything to draw. */
export interface ChartModel {
  bands: BandRect[];
  points: PlotPoint[];
  path: string;
  yTicks: { value: number; y: number }[];
  xTicks: { label: string; x: number }[];
}

/**
 * Builds the chart. `marks` maps a total Observation id to the outcome recorded for it (remission wins over
 * response when both are true).
 */
export function chartModel(
  instrument: ChartedInstrument,
  series: readonly ScorePoint[],
  marks: ReadonlyMap<string, 'response' | 'remission'>,
  frame: Frame = FRAME,
): ChartModel {
  const max = TOTALS[instrument].max;
  const innerW = frame.width - frame.left - frame.right;
  const innerH = frame.height - frame.top - frame.bottom;
  const y = (v: number) => frame.top + innerH - (v / max) * innerH;
  const times = series.map((p) => Date.parse(p.when));
  const t0 = times.length ? Math.min(...times) : 0;
  const t1 = times.length ? Math.max(...times) : 1;
  const span = t1 - t0 || 1;
  const x = (t: number) => (series.length === 1 ? frame.left + innerW / 2 : frame.left + ((t - t0) / span) * innerW);
  const bands = BANDS[instrument].map((b) => {
    // A band covers its whole integer range: from the lower edge of `from` to the upper edge of `to`.
    const top = y(Math.min(max, b.to + 0.5));
    const bottom = y(Math.max(0, b.from - 0.5));
    return { code: b.code, label: b.label, y: top, height: bottom - top, labelY: (top + bottom) / 2 };
  });
  const points = series.map((p, i) => {
    const mark = marks.get(p.id);
    return { point: p, x: x(times[i]), y: y(p.value), ...(mark ? { mark } : {}) };
  });
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
  const yTicks = [0, 5, 10, 15, 20, 25].filter((v) => v <= max).map((v) => ({ value: v, y: y(v) }));
  const xTicks: { label: string; x: number }[] = [];
  if (series.length) {
    const months = new Set<string>();
    for (const [i, p] of series.entries()) {
      const d = new Date(p.when);
      const key = `${d.getUTCFullYear()}-${d.getUTCMonth()}`;
      if (months.has(key)) continue;
      months.add(key);
      xTicks.push({ label: d.toLocaleDateString('en-US', { month: 'short', timeZone: 'UTC' }), x: x(times[i]) });
    }
  }
  return { bands, points, path, yTicks, xTicks };
}

/** A one-sentence summary of a series for screen readers and the caption. */
export function summarize(instrument: ChartedInstrument, series: readonly ScorePoint[]): string {
  const name = TOTALS[instrument].name;
  if (series.length === 0) return `No ${name} scores yet.`;
  const first = series[0];
  const last = series[series.length - 1];
  const band = last.band ? ` (${last.band.label})` : '';
  if (series.length === 1) return `${name}: one score, ${last.value}${band}.`;
  const change = last.value - first.value;
  const pct = first.value > 0 ? Math.round((-change / first.value) * 100) : 0;
  const direction = change < 0 ? `down ${-change} (${pct} % lower)` : change > 0 ? `up ${change}` : 'unchanged';
  return `${name}: latest ${last.value}${band}, ${direction} from the first of ${series.length} scores (${first.value}).`;
}
