// Row 6: the simulator's speed: simulated seconds per wall second for 8 chargers over 24 h
// (target at least 17,000, i.e. 24 h in under 5 s). PENDING until the simulator lands.
//
// To fill in, return { status: 'measured', sim_s_per_wall_s: summary, summary }: run the
// simulator in-process (virtual time, fixed seed) for 8 chargers over 24 simulated hours
// (quick: 1 h), time it with process.hrtime, repeat 3 (quick: 1) times.
export const waits_on = 'the simulator (issue: simulator, not started)';

// Input: ctx.root, ctx.quick.
export async function simulator_speed(_ctx) {
  return {
    status: 'pending',
    reason: waits_on,
    summary: [
      { figure: 'simulator: simulated s per wall s, 8 chargers over 24 h', value: `pending: ${waits_on}`, target: '>= 17,000', result: 'pending' },
    ],
  };
}
