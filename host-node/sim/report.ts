// report.html: one self-contained page (inline SVG, no scripts, no external files) that shows
// a run at a glance: the group's total draw against the checked limit, and per charger its
// car's current and applied limit over bands for down (grey) and degraded (orange). When the
// naive policy ran too, its run is drawn beside the default one.
import type { RunResult } from './world.js';
import type { RunSeries } from './record.js';

const palette = ['#1f77b4', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22', '#7f7f7f'];
const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

interface Frame { width: number; height: number; left: number; right: number; top: number; bottom: number; t_max: number; y_max: number }

const x_of = (f: Frame, t: number) => f.left + ((f.width - f.left - f.right) * t) / Math.max(f.t_max, 1e-9);
const y_of = (f: Frame, y: number) => f.height - f.bottom - ((f.height - f.top - f.bottom) * y) / Math.max(f.y_max, 1e-9);

function polyline(f: Frame, t: number[], y: number[], colour: string, extra = '', step = false): string {
  const points: string[] = [];
  for (let k = 0; k < t.length; k++) {
    if (step && k > 0) points.push(`${x_of(f, t[k]).toFixed(1)},${y_of(f, y[k - 1]).toFixed(1)}`);
    points.push(`${x_of(f, t[k]).toFixed(1)},${y_of(f, y[k]).toFixed(1)}`);
  }
  return `<polyline fill="none" stroke="${colour}" stroke-width="1.5" ${extra} points="${points.join(' ')}"/>`;
}

function axes(f: Frame, y_label: string): string {
  const ticks: string[] = [];
  const y_step = nice_step(f.y_max / 4);
  for (let y = 0; y <= f.y_max + 1e-9; y += y_step) {
    ticks.push(`<line x1="${f.left}" x2="${f.width - f.right}" y1="${y_of(f, y)}" y2="${y_of(f, y)}" stroke="#eee"/><text x="${f.left - 4}" y="${y_of(f, y) + 4}" text-anchor="end">${y}</text>`);
  }
  const t_step = nice_step(f.t_max / 6);
  for (let t = 0; t <= f.t_max + 1e-9; t += t_step) {
    ticks.push(`<text x="${x_of(f, t)}" y="${f.height - f.bottom + 14}" text-anchor="middle">${t}</text>`);
  }
  return `${ticks.join('')}<text x="4" y="${f.top - 4}">${esc(y_label)}</text><text x="${f.width - f.right}" y="${f.height - 2}" text-anchor="end">time (s)</text>`;
}

function nice_step(raw: number): number {
  if (!(raw > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

function bands(f: Frame, t: number[], on: boolean[], colour: string): string {
  const out: string[] = [];
  let start: number | null = null;
  for (let k = 0; k <= t.length; k++) {
    const flag = k < t.length && on[k];
    if (flag && start === null) start = t[k];
    if (!flag && start !== null) {
      const end = k < t.length ? t[k] : t[t.length - 1];
      out.push(`<rect x="${x_of(f, start)}" y="${f.top}" width="${Math.max(1, x_of(f, end) - x_of(f, start))}" height="${f.height - f.top - f.bottom}" fill="${colour}" opacity="0.25"/>`);
      start = null;
    }
  }
  return out.join('');
}

function group_chart(s: RunSeries, y_max: number): string {
  const f: Frame = { width: 900, height: 260, left: 40, right: 10, top: 20, bottom: 22, t_max: s.t_s[s.t_s.length - 1] ?? 1, y_max };
  return `<svg viewBox="0 0 ${f.width} ${f.height}" width="100%" font-size="11" font-family="sans-serif">${axes(f, 'amps: total draw (black), checked limit (red), largest reserve (grey)')}
${polyline(f, s.t_s, s.limit_a, '#d62728', 'stroke-dasharray="6 3"', true)}
${polyline(f, s.t_s, s.reserved_a, '#999', 'stroke-dasharray="2 2"', true)}
${polyline(f, s.t_s, s.total_a, '#000', '', true)}</svg>`;
}

function charger_chart(s: RunSeries, i: number, y_max: number): string {
  const c = s.chargers[i];
  const colour = palette[i % palette.length];
  const f: Frame = { width: 900, height: 110, left: 40, right: 10, top: 16, bottom: 20, t_max: s.t_s[s.t_s.length - 1] ?? 1, y_max };
  return `<svg viewBox="0 0 ${f.width} ${f.height}" width="100%" font-size="11" font-family="sans-serif">
${bands(f, s.t_s, c.up.map((u) => !u), '#888')}${bands(f, s.t_s, c.degraded, '#ff7f0e')}
${axes(f, `${c.id}: car current (solid), applied limit (dashed)`)}
${polyline(f, s.t_s, c.applied_a, colour, 'stroke-dasharray="5 3" opacity="0.7"', true)}
${polyline(f, s.t_s, c.draw_a, colour, '', true)}</svg>`;
}

function run_section(r: RunResult): string {
  const s = r.series;
  const verdict = r.ok ? '<b style="color:#2ca02c">every check holds</b>' : '<b style="color:#d62728">FAILED</b>';
  const facts = [
    `peak over-draw ${r.inv1.peak_overdraw_a.toFixed(3)} A, integral ${r.inv1.overdraw_integral_as.toFixed(3)} A·s`,
    `raises without room (oracle) ${r.permission_violations.length} of ${r.raises_checked}, oscillation ${r.reversals} reversals`,
    ...(r.assumption_violated.length ? [`ASSUMPTION VIOLATED (INV-1 and permission not judged): ${r.assumption_violated.join('; ')}`] : []),
    `utilisation ${r.utilisation?.toFixed(3) ?? 'n/a'}, fairness ${r.fairness?.toFixed(3) ?? 'n/a'}`,
    `max convergence ${r.max_convergence_s?.toFixed(1) ?? 'n/a'} s`,
  ];
  let charts = '<p>(no time series recorded)</p>';
  if (s && s.t_s.length > 0) {
    const y_group = Math.max(1, ...s.limit_a.filter(Number.isFinite), ...s.total_a) * 1.1;
    const y_charger = Math.max(1, ...s.chargers.flatMap((c) => [...c.draw_a, ...c.applied_a])) * 1.1;
    charts = group_chart(s, y_group) + s.chargers.map((_, i) => charger_chart(s, i, y_charger)).join('\n');
  }
  return `<section><h2>policy ${esc(r.policy)}, seed ${r.seed}: ${verdict}</h2>
<ul>${facts.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>
${r.failures.length ? `<pre>${esc(r.failures.join('\n'))}</pre>` : ''}
${charts}
<details><summary>convergence after each event</summary><ul>${r.convergence.map((c) => `<li>${esc(`${c.at_s} s ${c.label}: ${c.after_s === null ? 'not settled' : `${c.after_s.toFixed(1)} s`}`)}</li>`).join('')}</ul></details>
</section>`;
}

export function report_html(title: string, description: string, runs: RunResult[]): string {
  const layout = runs.length > 1 ? 'display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px' : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:16px;max-width:1900px}h1{font-size:20px}h2{font-size:16px}pre{background:#fee;padding:8px;white-space:pre-wrap}svg{display:block;margin-bottom:4px}</style></head>
<body><h1>${esc(title)}</h1><p>${esc(description)}</p>
<p>Bands: grey = charger down (crashed or not booted), orange = degraded. Red dashed = the limit INV-1 is checked against.</p>
<div style="${layout}">${runs.map(run_section).join('\n')}</div></body></html>
`;
}
