/** Histogram totals from a system's Prometheus endpoint, for means over a measured window. */

export interface HistogramTotals {
  sum: number;
  count: number;
}

/** Reads `<name>_sum` and `<name>_count` (summed over label sets) of each histogram from `<baseUrl>/metrics`. */
export async function histogramTotals(baseUrl: string, names: readonly string[]): Promise<Record<string, HistogramTotals>> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  const totals: Record<string, HistogramTotals> = {};
  for (const name of names) totals[name] = { sum: 0, count: 0 };
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)_(sum|count)(?:\{[^}]*\})? (\S+)$/.exec(line);
    const t = m && totals[m[1]!];
    if (t) t[m[2] as 'sum' | 'count'] += Number(m[3]);
  }
  return totals;
}

/** Mean of each histogram's observations between two readings, in ms (`null` when none). */
export function meansMs(before: Record<string, HistogramTotals>, after: Record<string, HistogramTotals>): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [name, a] of Object.entries(after)) {
    const b = before[name] ?? { sum: 0, count: 0 };
    const n = a.count - b.count;
    out[name] = n > 0 ? Math.round(((a.sum - b.sum) / n) * 10_000) / 10 : null;
  }
  return out;
}
