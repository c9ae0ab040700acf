// The simulator workload shared by bench/sim.bench.mjs and row 6: 8 chargers, two visits a
// day per charger (staggered), a 1 % lossy network, 1 s ticks, a fixed seed in the scenario.
export function day_scenario(to_sim_scenario, hours) {
  const ids = Array.from({ length: 8 }, (_, i) => `c${i + 1}`);
  const duration_s = hours * 3600;
  const cars = [];
  for (const [i, id] of ids.entries()) {
    cars.push({ charger: id, plug_at_s: 60 + i * 900, unplug_at_s: 60 + i * 900 + 4 * 3600, battery_kwh: 60, soc_pct: 30 });
    cars.push({ charger: id, plug_at_s: 12 * 3600 + i * 600, unplug_at_s: Math.min(duration_s, 12 * 3600 + i * 600 + 6 * 3600), battery_kwh: 80, soc_pct: 20 });
  }
  return to_sim_scenario({
    name: `${hours} h, 8 chargers`, duration_s, tick_ms: 1000,
    config: { group_max_current: 80 }, network: { loss: 0.01 },
    chargers: ids.map((id) => ({ id })), cars: cars.filter((c) => c.plug_at_s < duration_s),
  });
}
