// Summary statistics for repeated timing samples. Median and percentiles rather than the
// mean: a shared 2-core machine gives long right tails (preemption, other jobs), and one
// stray sample must not move the figure we compare against the native lower bound.

// Linear interpolation between closest ranks (the same definition as numpy's default).
export function percentile(sorted, fraction) {
  if (sorted.length === 0) throw new Error('percentile of no samples');
  const rank = (sorted.length - 1) * fraction;
  const below = Math.floor(rank);
  const above = Math.ceil(rank);
  return sorted[below] + (sorted[above] - sorted[below]) * (rank - below);
}

export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = percentile(sorted, 0.5);
  const deviations = sorted.map((x) => Math.abs(x - median)).sort((a, b) => a - b);
  return {
    count: sorted.length,
    median,
    p10: percentile(sorted, 0.1),
    p90: percentile(sorted, 0.9),
    min: sorted[0],
    max: sorted[sorted.length - 1],
    mad: percentile(deviations, 0.5),
  };
}

// Rounds a figure for the JSON: enough digits to compare runs, no float noise.
export function round_to(value, digits) {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export function round_summary(summary, digits) {
  return Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, k === 'count' ? v : round_to(v, digits)]));
}
