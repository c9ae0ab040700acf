// The human-readable summary of a simulation run (the CLI prints it; --json prints the
// RunResult instead).
import type { RunResult } from './world.js';

// Who was cut off from every charger that knew the new limit, with a quorum of its own, and when.
const cut_off_text = (w: RunResult['limit_windows'][number]): string =>
  w.cut_off.map((c) => `${c.charger} ${c.from_s.toFixed(1)}–${c.to_s === null ? 'end' : `${c.to_s.toFixed(1)} s`}`).join(', ');

const window_text = (w: RunResult['limit_windows'][number]): string => {
  const cut = w.cut_off.length > 0 ? `; cut off with a quorum: ${cut_off_text(w)}` : '';
  if (w.closed_by === 'superseded') return `replaced by a newer change${cut ? ` (${cut.slice(2)})` : ''}`;
  if (w.window_s === null) {
    if (w.reached_s === null) return 'never bound: it never reached another charger';
    if (w.cut_off.some((c) => c.to_s === null)) return `open: cut off (the group keeps the old limit${cut})`;
    return `never bound (not told: ${w.never_told.join(', ')}${cut})`;
  }
  const how = w.closed_by === 'bound' ? `closed by the protocol's bound; never told: ${w.never_told.join(', ') || 'none'}` : `every charger told by ${w.told_s!.toFixed(2)} s${w.until_heard ? '; no message of a charger holding it reached another yet: it binds the others once one does' : ''}`;
  return `${w.window_s.toFixed(2)} s (${how}${cut})`;
};

const n = (value: number | null, digits = 3) => (value === null ? 'n/a' : value.toFixed(digits));

export function format_summary(r: RunResult): string {
  const lines: string[] = [];
  lines.push(`${r.name} (seed ${r.seed}, policy ${r.policy}, ${r.duration_s} s simulated in ${(r.wall_ms / 1000).toFixed(2)} s)`);
  lines.push(`  INV-1: peak over-draw ${n(r.inv1.peak_overdraw_a)} A, integral ${n(r.inv1.overdraw_integral_as)} A·s, peak total draw ${n(r.inv1.peak_total_a, 2)} A`);
  lines.push(`  permission (oracle): ${r.permission_violations.length} of ${r.raises_checked} raises without room; oscillation: ${r.reversals} reversals`);
  lines.push(`  utilisation ${n(r.utilisation)} (while demand exceeded supply: ${n(r.scarce_utilisation)}), fairness (Jain) ${n(r.fairness)}`);
  const conv = r.convergence.map((c) => `${c.label} @${c.at_s}s: ${c.after_s === null ? 'not settled' : `${c.after_s.toFixed(1)} s`}`);
  lines.push(`  convergence (max ${n(r.max_convergence_s, 1)} s):`);
  for (const c of conv.slice(0, 40)) lines.push(`    ${c}`);
  if (conv.length > 40) lines.push(`    ... ${conv.length - 40} more`);
  if (r.limit_windows.length > 0) {
    lines.push('  limit decreases (window until the new limit binds):');
    for (const w of r.limit_windows) lines.push(`    ${w.charger} ${w.from_a} -> ${w.to_a} A @${w.at_s}s: ${window_text(w)}`);
  }
  lines.push('  chargers:');
  for (const c of r.chargers) {
    const counts = Object.entries(c.event_counts).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`    ${c.id}: ${c.energy_kwh.toFixed(2)} kWh, ${c.reversals} reversals, longest wait ${c.max_starved_s.toFixed(0)} s, applied ${c.final_applied_a ?? 'down'} A, draw ${c.final_draw_a.toFixed(1)} A, config version ${c.final_config_version}${c.crashes ? `, ${c.crashes} crash(es)` : ''}${c.auth_failures ? `, ${c.auth_failures} refused by the group key` : ''}${counts ? ` | ${counts}` : ''}`);
  }
  const s = r.network;
  lines.push(`  network: ${s.sent_count} sent, ${s.delivered_count} delivered, ${s.lost_count} lost, ${s.cut_count} cut, ${s.reordered_count} reordered, max delay ${s.max_delay_ms.toFixed(0)} ms`);
  lines.push(`  status frames: ${r.frames.full} whole documents (${r.frames.sessions} sessions), ${r.frames.delta} deltas`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  if (r.assumption_violated.length > 0) {
    lines.push('  ASSUMPTION VIOLATED (INV-1 and permission are measured above but not part of the verdict):');
    for (const a of r.assumption_violated) lines.push(`    ${a}`);
    for (const f of r.beyond_assumptions) lines.push(`    outside the assumptions: ${f}`);
  }
  lines.push(r.ok ? (r.assumption_violated.length > 0 ? '  result: assumption violated; every other check holds' : '  result: every check holds') : '  result: FAILED');
  for (const f of r.failures) lines.push(`    ${f}`);
  return `${lines.join('\n')}\n`;
}
