// Time series of one run (for --out): per charger and per recorded instant, what a person
// would look at (up, degraded, allocation, applied, pilot, measured current, reason), and for
// the group the checked limit, the total draw and the reserves. Recorded every
// record_interval_ms (at least tick_ms; long runs are thinned to about 4000 points).
export interface ChargerSeries {
  id: string;
  up: boolean[];
  degraded: boolean[];
  target_a: number[];
  applied_a: number[];
  pilot_a: number[];
  draw_a: number[];
  reason: string[];
}

export interface RunSeries {
  interval_ms: number;
  t_s: number[];
  limit_a: number[];
  total_a: number[];
  reserved_a: number[]; // the largest reserve any running engine holds
  chargers: ChargerSeries[];
}

export function series_interval_ms(duration_s: number, tick_ms: number): number {
  return Math.max(tick_ms, Math.ceil((duration_s * 1000) / 4000));
}

function csv_cell(value: string | number | boolean): string {
  const text = typeof value === 'number' ? (Number.isInteger(value) ? String(value) : value.toFixed(3)) : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function chargers_csv(series: RunSeries): string {
  const lines = ['t_s,charger,up,degraded,target_a,applied_a,pilot_a,draw_a,reason'];
  for (let k = 0; k < series.t_s.length; k++) {
    for (const c of series.chargers) {
      lines.push([series.t_s[k], c.id, c.up[k], c.degraded[k], c.target_a[k], c.applied_a[k], c.pilot_a[k], c.draw_a[k], c.reason[k]].map(csv_cell).join(','));
    }
  }
  return `${lines.join('\n')}\n`;
}

export function group_csv(series: RunSeries): string {
  const lines = ['t_s,limit_a,total_a,reserved_a'];
  for (let k = 0; k < series.t_s.length; k++) {
    lines.push([series.t_s[k], series.limit_a[k], series.total_a[k], series.reserved_a[k]].map(csv_cell).join(','));
  }
  return `${lines.join('\n')}\n`;
}
