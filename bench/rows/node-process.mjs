// Row 4: one Node charger process with 8 peers, each sending status at 1 Hz for 60 s over
// real WebSockets on loopback: resident memory and CPU. Targets: RSS under 80 MB, CPU under
// 2 % of one core. PENDING until the Node charger node lands (branch node-host).
//
// To fill in, return { status: 'measured', rss_mb: summary, cpu_percent_one_core, summary }:
// start 9 real charger processes (the node host's CLI, ports on 127.0.0.1 only, one group
// config), let them settle, then for 60 s (quick: 10 s) sample the measured process's
// /proc/PID/status VmRSS every second and its /proc/PID/stat utime+stime at the start and
// end (CPU % = cpu seconds / wall seconds x 100). Stop every process it started, by pid.
export const waits_on = 'Node charger node (branch node-host)';

// Input: ctx.root, ctx.quick.
export async function node_process(_ctx) {
  return {
    status: 'pending',
    reason: waits_on,
    summary: [
      { figure: 'Node charger process, 8 peers at 1 Hz for 60 s: RSS', value: `pending: ${waits_on}`, target: '< 80 MB', result: 'pending' },
      { figure: 'Node charger process, 8 peers at 1 Hz for 60 s: CPU', value: `pending: ${waits_on}`, target: '< 2 % of one core', result: 'pending' },
    ],
  };
}
