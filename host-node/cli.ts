// The loadshare command line. Exit codes: 0 success, 1 internal failure, 2 bad input.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { Core } from './core.js';
import { parse_scenario, ScenarioError } from './scenario.js';
import { allocate_with_node } from './allocate.js';
import { parse_sim_scenario, SimScenarioError } from './sim/scenario.js';
import { run_simulation, type Policy } from './sim/world.js';
import { format_summary } from './sim/summary.js';
import { run_campaign, random_scenario_json } from './sim/fuzz.js';

export class UsageError extends Error {}

function read_input(file: string): string {
  try {
    return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file === '-' ? 'standard input' : file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export function build_program(write: (text: string) => void): Command {
  const program = new Command();
  program
    .name('loadshare')
    .description('Masterless load sharing for OpenEVSE chargers')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text), writeOut: (text) => write(text) });
  program
    .command('allocate')
    .description('compute one charger\'s decision for a scenario (JSON, see docs/scenario-format.md)')
    .argument('<file>', 'scenario file, or - for standard input')
    .option('--engine <engine>', 'node (WebAssembly in V8) or wasm3 (the native ESP32 host)', 'node')
    .action(async (file: string, options: { engine: string }) => {
      if (options.engine !== 'node' && options.engine !== 'wasm3') {
        throw new UsageError(`--engine must be node or wasm3, not "${options.engine}"`);
      }
      const view = parse_scenario(read_input(file));
      const core = await Core.load();
      let output;
      if (options.engine === 'wasm3') {
        const { allocate_with_wasm3 } = await import('./wasm3.js');
        output = await allocate_with_wasm3(core, view);
      } else {
        output = allocate_with_node(core, view);
      }
      write(`${JSON.stringify(output, null, 2)}\n`);
    });
  program
    .command('simulate')
    .description('run a simulation scenario in virtual time (JSON, see docs/simulation.md); exit 0 when every check holds, 1 when one fails')
    .argument('<file>', 'simulation scenario file, or - for standard input')
    .option('--seed <n>', 'seed for every random choice (overrides the file\'s)')
    .option('--policy <policy>', 'default (the protocol) or naive (the unsafe seed-plan design, to see the checker fail)', 'default')
    .option('--json', 'print the full result as JSON')
    .action(async (file: string, options: { seed?: string; policy: string; json?: boolean }) => {
      let seed: number | undefined;
      if (options.seed !== undefined) {
        if (!/^\d{1,10}$/.test(options.seed) || Number(options.seed) > 4294967295) throw new UsageError(`--seed must be an integer from 0 to 4294967295, not "${options.seed}"`);
        seed = Number(options.seed);
      }
      if (options.policy !== 'default' && options.policy !== 'naive') throw new UsageError(`--policy must be default or naive, not "${options.policy}"`);
      const scenario = parse_sim_scenario(read_input(file));
      const core = await Core.load();
      const result = run_simulation(scenario, { core, seed, policy: options.policy as Policy });
      write(options.json ? `${JSON.stringify(result, null, 2)}\n` : format_summary(result));
      if (!result.ok) throw new CheckFailed();
    });
  program
    .command('fuzz')
    .description('run a randomized fault campaign (seeded); exit 0 when no run broke a check, 1 otherwise')
    .option('--seeds <n>', 'number of runs', '200')
    .option('--first <seed>', 'first seed', '1')
    .option('--chargers <range>', 'chargers per group, MIN-MAX', '2-6')
    .option('--duration <s>', 'simulated seconds per run', '120')
    .option('--policy <policy>', 'default or naive', 'default')
    .option('--known-bugs <mode>', 'avoid (stay clear of the reproduced protocol bugs) or include', 'avoid')
    .option('--show <seed>', 'print the scenario file of one seed instead of running')
    .action((options: { seeds: string; first: string; chargers: string; duration: string; policy: string; knownBugs: string; show?: string }) => {
      const integer = (name: string, text: string, min: number, max: number) => {
        if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}, not "${text}"`);
        return Number(text);
      };
      const range = /^(\d{1,2})-(\d{1,2})$/.exec(options.chargers);
      if (!range || Number(range[1]) < 1 || Number(range[2]) > 16 || Number(range[1]) > Number(range[2])) throw new UsageError(`--chargers must be MIN-MAX within 1-16, not "${options.chargers}"`);
      if (options.policy !== 'default' && options.policy !== 'naive') throw new UsageError(`--policy must be default or naive, not "${options.policy}"`);
      if (options.knownBugs !== 'avoid' && options.knownBugs !== 'include') throw new UsageError(`--known-bugs must be avoid or include, not "${options.knownBugs}"`);
      const fuzz = {
        chargers_min: Number(range[1]), chargers_max: Number(range[2]),
        duration_s: integer('--duration', options.duration, 20, 86400), known_bugs: options.knownBugs as 'avoid' | 'include',
      };
      if (options.show !== undefined) {
        write(`${JSON.stringify(random_scenario_json(integer('--show', options.show, 0, 4294967295), fuzz), null, 2)}\n`);
        return;
      }
      return Core.load().then((core) => {
        const seeds = integer('--seeds', options.seeds, 1, 10000000);
        const first = integer('--first', options.first, 0, 4294967295);
        const result = run_campaign(core, first, seeds, options.policy as Policy, fuzz);
        write(`${result.runs} runs (${options.policy}, known bugs ${options.knownBugs}), ${result.simulated_s} s simulated in ${(result.wall_ms / 1000).toFixed(1)} s (${(result.runs / (result.wall_ms / 1000)).toFixed(2)} runs/s): ${result.broken.length} broke a check\n`);
        for (const b of result.broken) write(`  seed ${b.seed}: ${b.failures[0]}\n    reproduce: loadshare fuzz --show ${b.seed} --chargers ${options.chargers} --duration ${options.duration} --known-bugs ${options.knownBugs} > seed.json && loadshare simulate seed.json${options.policy === 'naive' ? ' --policy naive' : ''}\n`);
        if (result.broken.length > 0) throw new CheckFailed();
      });
    });
  return program;
}

// A simulation ran and a check failed: exit 1, the summary already says why.
export class CheckFailed extends Error {}

export async function main(argv: string[]): Promise<number> {
  const program = build_program((text) => process.stdout.write(text));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CheckFailed) return 1;
    if (error instanceof ScenarioError || error instanceof SimScenarioError || error instanceof UsageError) {
      process.stderr.write(`loadshare: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`loadshare: internal error: ${(error as Error).stack ?? error}\n`);
    return 1;
  }
}
