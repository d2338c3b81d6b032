/**
 * A PHQ-9 or GAD-7 trend: severity bands, the totals over time, response (R) and remission (✓) marks from the
 * outcomes bot. The SVG has a text summary for screen readers, and the numbers are in a table below it.
 */
import { longDate, TOTALS, type ChartedInstrument, type ScorePoint } from '../../../shared/src/scores.ts';
import { chartModel, FRAME, summarize } from '../chart-model.ts';

const BAND_FILL: Readonly<Record<string, string>> = {
  'none-minimal': '#e8f3ea',
  mild: '#f4f6e0',
  moderate: '#fdf0d9',
  'moderately-severe': '#fbe3d4',
  severe: '#f8d7d9',
};

export function TrendChart({
  instrument,
  series,
  marks,
}: {
  instrument: ChartedInstrument;
  series: ScorePoint[];
  marks: Map<string, 'response' | 'remission'>;
}) {
  const model = chartModel(instrument, series, marks);
  const id = `chart-${instrument}`;
  const summary = summarize(instrument, series);
  return (
    <figure className="chart" aria-labelledby={`${id}-caption`}>
      <figcaption id={`${id}-caption`}>
        <strong>{TOTALS[instrument].name}</strong> <span className="muted">{summary}</span>
      </figcaption>
      <svg viewBox={`0 0 ${FRAME.width} ${FRAME.height}`} role="img" aria-label={summary} className="chart-svg">
        {model.bands.map((b) => (
          <g key={b.code}>
            <rect
              x={FRAME.left}
              y={b.y}
              width={FRAME.width - FRAME.left - FRAME.right}
              height={b.height}
              fill={BAND_FILL[b.code] ?? '#eee'}
            />
            <text x={FRAME.width - FRAME.right + 6} y={b.labelY + 4} className="chart-band-label">
              {b.label}
            </text>
          </g>
        ))}
        {model.yTicks.map((t) => (
          <text key={t.value} x={FRAME.left - 6} y={t.y + 4} textAnchor="end" className="chart-tick">
            {t.value}
          </text>
        ))}
        {model.xTicks.map((t) => (
          <text key={`${t.label}-${t.x}`} x={t.x} y={FRAME.height - 8} textAnchor="middle" className="chart-tick">
            {t.label}
          </text>
        ))}
        <path d={model.path} fill="none" stroke="#0a4f8a" strokeWidth={2} />
        {model.points.map((p) => (
          <g key={p.point.id}>
            <circle cx={p.x} cy={p.y} r={3.5} fill="#0a4f8a">
              <title>{`${longDate(p.point.when)}: ${p.point.value}${p.point.band ? ` (${p.point.band.label})` : ''}`}</title>
            </circle>
            {p.mark && (
              <text x={p.x} y={p.y - 8} textAnchor="middle" className={`chart-mark chart-mark-${p.mark}`}>
                {p.mark === 'remission' ? '✓' : 'R'}
              </text>
            )}
          </g>
        ))}
      </svg>
      <p className="chart-legend muted">R: response (a drop of 50 % or more from baseline). ✓: remission (below 5).</p>
      <details>
        <summary>Scores as a table</summary>
        <table className="scores-table">
          <thead>
            <tr>
              <th scope="col">Date</th>
              <th scope="col">Total</th>
              <th scope="col">Severity</th>
              <th scope="col">Outcome</th>
            </tr>
          </thead>
          <tbody>
            {[...model.points].reverse().map((p) => (
              <tr key={p.point.id}>
                <td>{longDate(p.point.when)}</td>
                <td>{p.point.value}</td>
                <td>{p.point.band?.label ?? ''}</td>
                <td>{p.mark === 'remission' ? 'Remission' : p.mark === 'response' ? 'Response' : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
