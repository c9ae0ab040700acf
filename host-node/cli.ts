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
    .option('--no-config-sync', 'report group config differences only: neither push nor adopt (as upstream firmware)')
    .option('--mdns-interval <seconds>', 'background mDNS browse period', '60')
    .option('--config <file>', 'JSON file of /config keys applied at start (over the stored config)')
    .option('--log-json', 'log JSON lines instead of text', false)
    .option('--module-key <pem>', 'trust this module-signing public key for hot swap (repeatable)', (value: string, list: string[]) => [...list, value], [] as string[])
    .action(async (options) => {
      const code = await run_node(options);
      if (code !== 0) throw new UsageError('node stopped with an error');
    });
  add_module_commands(program, write);
  return program;
}

function read_bytes(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function positive_integer(value: string, name: string): number {
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1) throw new UsageError(`${name} must be a positive integer, not "${value}"`);
  return Number(value);
}

// `loadshare module keygen|pack|verify`: signed module packages (docs/hot-swap.md).
function add_module_commands(program: Command, write: (text: string) => void): void {
  const module = program.command('module').description('signed decision modules for hot swap (docs/hot-swap.md)');
  module
    .command('keygen')
    .description('make an ECDSA P-256 key pair for signing modules')
    .requiredOption('--out <dir>', 'folder for module-signing.key.pem and module-signing.pub.pem')
    .action(async (options: { out: string }) => {
      const { generate_keys } = await import('./modules/package.js');
      const { mkdirSync, writeFileSync, existsSync } = await import('node:fs');
      const { join } = await import('node:path');
      const key_path = join(options.out, 'module-signing.key.pem');
      const pub_path = join(options.out, 'module-signing.pub.pem');
      if (existsSync(key_path)) throw new UsageError(`${key_path} exists; refusing to overwrite a key`);
      const keys = generate_keys();
      mkdirSync(options.out, { recursive: true });
      writeFileSync(key_path, keys.private_pem, { mode: 0o600 });
      writeFileSync(pub_path, keys.public_pem);
      write(`wrote ${key_path} (keep it secret) and ${pub_path} (give it to chargers)\n`);
    });
  module
    .command('pack')
    .description('sign a module into a package')
    .argument('<wasm>', 'the module, e.g. build/loadsharing-priority-first.wasm')
    .requiredOption('--key <pem>', 'the private key (from keygen)')
    .requiredOption('--counter <n>', 'monotonic counter: chargers refuse anything not above what they accepted')
    .option('--version <text>', 'human version string', 'unversioned')
    .option('--policy <name>', 'the allocation policy it implements', 'equal_share')
    .option('--out <file>', 'package file (default: <wasm>.lspk)')
    .action(async (wasm: string, options: { key: string; counter: string; version: string; policy: string; out?: string }) => {
      const { pack, load_private_key, PackageError } = await import('./modules/package.js');
      const { writeFileSync } = await import('node:fs');
      const counter = positive_integer(options.counter, '--counter');
      try {
        const key = load_private_key(read_bytes(options.key, 'key').toString('utf8'));
        const bytes = pack(read_bytes(wasm, 'module'), { counter, version: options.version, policy: options.policy }, key);
        const out = options.out ?? `${wasm.replace(/\.wasm$/, '')}.lspk`;
        writeFileSync(out, bytes);
        write(`wrote ${out} (${bytes.length} bytes, counter ${counter}, version ${options.version})\n`);
      } catch (error) {
        if (error instanceof PackageError) throw new UsageError(error.message);
        if (error instanceof Error && /key|PEM|DECODER/i.test(error.message)) throw new UsageError(`--key: ${error.message}`);
        throw error;
      }
    });
  module
    .command('push')
    .description('send a package to a running charger (POST /loadsharing/module)')
    .argument('<package>', 'package file')
    .requiredOption('--to <host:port>', 'the charger')
    .option('--user <name>', 'www_username, when the charger has a password')
    .option('--password <secret>', 'www_password')
    .action(async (file: string, options: { to: string; user?: string; password?: string }) => {
      if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(options.to)) throw new UsageError(`--to must be host or host:port, not "${options.to}"`);
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
      if (options.user !== undefined) headers.authorization = `Basic ${Buffer.from(`${options.user}:${options.password ?? ''}`).toString('base64')}`;
      let response: Response;
      try {
        response = await fetch(`http://${options.to}/loadsharing/module`, { method: 'POST', headers, body: read_bytes(file, 'package') });
      } catch (error) {
        throw new UsageError(`cannot reach ${options.to}: ${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message}`);
      }
      const text = await response.text();
      if (!response.ok) throw new UsageError(`${options.to} refused the package (HTTP ${response.status}): ${text}`);
      write(`${text}\n`);
    });
  module
    .command('verify')
    .description('check a package: signature, hash, ABI, shape, and the self-test')
    .argument('<package>', 'package file')
    .requiredOption('--pub <pem>', 'the trusted public key')
    .action(async (file: string, options: { pub: string }) => {
      const { verify_package, load_public_key, PackageError } = await import('./modules/package.js');
      const { self_test } = await import('./modules/selftest.js');
      try {
        const key = load_public_key(read_bytes(options.pub, 'public key').toString('utf8'));
        const p = verify_package(read_bytes(file, 'package'), [key]);
        await Core.inspect(p.module).catch((error: Error) => { throw new PackageError('module', `module: ${error.message}`); });
        const report = await self_test(p.module, await Core.load());
        write(`${JSON.stringify({ ok: true, manifest: p.manifest, self_test: report }, null, 2)}\n`);
      } catch (error) {
        if (error instanceof PackageError) throw new UsageError(error.message);
        if (error instanceof Error && /key|PEM|DECODER/i.test(error.message)) throw new UsageError(`--pub: ${error.message}`);
        throw error;
      }
    });
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
