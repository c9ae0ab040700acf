// Row 5: reaction time on loopback with real processes: from a car plugging in at one
// charger to the others applying their decreases (target under 200 ms), and to the
// newcomer's increase being applied (bounded by the protocol's ev_response wait; reported,
// no target). PENDING until the Node charger node lands (branch node-host).
//
// To fill in, return { status: 'measured', decrease_ms: summary, increase_ms: summary,
// summary }: start N real charger processes on 127.0.0.1 with a simulated OpenEVSE each,
// plug a car in at one (timestamp t0 from the simulated EVSE), and read the times at which
// each other charger's simulated EVSE receives its lowered limit and the newcomer's EVSE its
// raised one; repeat (quick: 5, full: 20) and summarize. Stop every process it started.
export const waits_on = 'Node charger node with a simulated OpenEVSE (branch node-host)';

// Input: ctx.root, ctx.quick.
export async function reaction_time(_ctx) {
  return {
    status: 'pending',
    reason: waits_on,
    summary: [
      { figure: 'reaction: car plugs in -> others apply their decrease', value: `pending: ${waits_on}`, target: '< 200 ms', result: 'pending' },
      { figure: 'reaction: car plugs in -> newcomer applies its increase', value: `pending: ${waits_on}`, target: 'report (bounded by ev_response_ms)', result: 'pending' },
    ],
  };
}
