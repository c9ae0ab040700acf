// The loadshare command line. Exit codes: 0 success, 1 internal failure, 2 bad input.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { Core } from './core.js';
import { parse_scenario, ScenarioError } from './scenario.js';
import { allocate_with_node } from './allocate.js';
import { run_node, NodeUsageError } from './node/run-node.js';

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
    .command('node')
    .description('run one charger: REST, WebSocket, mDNS, stored peers and config, simulated EVSE')
    .requiredOption('--id <id>', 'this charger\'s id in the group (1..32 characters)')
    .requiredOption('--http-port <port>', 'HTTP and WebSocket port')
    .option('--host <address>', 'address to listen on and to give peers', '127.0.0.1')
    .requiredOption('--data-dir <dir>', 'where peers.json and config.json live')
    .option('--peer <host:port>', 'join this peer (repeatable)', (value: string, list: string[]) => [...list, value], [] as string[])
    .option('--no-mdns', 'neither advertise nor browse with mDNS')
    .option('--mdns-interval <seconds>', 'background mDNS browse period', '60')
    .option('--config <file>', 'JSON file of /config keys applied at start (over the stored config)')
    .option('--log-json', 'log JSON lines instead of text', false)
    .action(async (options) => {
      const code = await run_node(options);
      if (code !== 0) throw new UsageError('node stopped with an error');
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = build_program((text) => process.stdout.write(text));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof ScenarioError || error instanceof UsageError || error instanceof NodeUsageError) {
      process.stderr.write(`loadshare: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`loadshare: internal error: ${(error as Error).stack ?? error}\n`);
    return 1;
  }
}
