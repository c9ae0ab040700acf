// The loadshare command line. Exit codes: 0 success, 1 internal failure, 2 bad input.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { Core } from './core.js';
import { parse_scenario, ScenarioError } from './scenario.js';
import { allocate_with_node } from './allocate.js';
import { parse_sim_scenario, SimScenarioError } from './sim/scenario.js';
import { run_simulation, type Policy } from './sim/world.js';
import { format_summary } from './sim/summary.js';

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
