#!/usr/bin/env node
// Simulator throughput: 24 h of 8 chargers (cars arriving and leaving, a lossy network),
// simulated seconds per wall second, and fault-campaign runs per second. Needs `npm run build`.
// Prints JSON (and a markdown line). Usage: node bench/sim.bench.mjs [hours]
import { Core } from '../dist/host-node/core.js';
import { to_sim_scenario } from '../dist/host-node/sim/scenario.js';
import { run_simulation } from '../dist/host-node/sim/world.js';
import { run_campaign, load_campaign_cores } from '../dist/host-node/sim/fuzz.js';
import { day_scenario } from './lib/sim-day.mjs';

const hours = Number(process.argv[2] ?? 24);
const core = await Core.load();
const duration_s = hours * 3600;
const scenario = day_scenario(to_sim_scenario, hours);
const result = run_simulation(scenario, { core });
const campaign = run_campaign(await load_campaign_cores(), 1, 30, 'default', { duration_s: 120 });
const out = {
  scenario: scenario.name,
  wall_s: result.wall_ms / 1000,
  simulated_s_per_wall_s: duration_s / (result.wall_ms / 1000),
  engine_ticks: result.engine_ticks,
  engine_ticks_per_wall_s: result.engine_ticks / (result.wall_ms / 1000),
  samples: result.samples,
  messages: result.network.sent_count,
  inv1_peak_overdraw_a: result.inv1.peak_overdraw_a,
  campaign_runs_per_wall_s: campaign.runs / (campaign.wall_ms / 1000),
  campaign_simulated_s_per_wall_s: campaign.simulated_s / (campaign.wall_ms / 1000),
};
console.log(JSON.stringify(out, null, 2));
console.log(`| ${out.scenario} | ${out.wall_s.toFixed(1)} s wall | ${Math.round(out.simulated_s_per_wall_s)} sim-s/s | ${Math.round(out.engine_ticks_per_wall_s)} engine ticks/s | campaign ${out.campaign_runs_per_wall_s.toFixed(2)} runs/s (120 s, 2-6 chargers) |`);
