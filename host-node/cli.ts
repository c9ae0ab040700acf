// The loadshare command line. Exit codes: 0 success, 1 internal failure, 2 bad input.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { Core, project_root } from './core.js';
import { parse_scenario, ScenarioError } from './scenario.js';
import { allocate_with_node } from './allocate.js';
import { run_node, NodeUsageError } from './node/run-node.js';
import { UsageError } from './usage-error.js';
import type { Policy, RunResult } from './sim/world.js';
import type { CampaignSpec, CampaignSummary, Progress } from './sim/campaign.js';
// The simulator, the fault campaigns, their progress bar and the RAPI simulator are imported
// by their commands: a charger (`loadshare node`) never runs them, and what a process has
// loaded it keeps (docs/performance.md, "Where a charger node's memory goes").


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
    .enablePositionalOptions() // lets `fuzz` and `fuzz merge` both have --json (commander needs it here too)
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
    .description('run one charger: REST, WebSocket, mDNS, stored peers and config, a simulated EVSE or a real one over RAPI')
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
    .option('--controller <controller>', 'sim (the simulated EVSE), rapi:DEVICE (serial port) or rapi:tcp://IP:PORT (an OpenEVSE controller over RAPI, docs/rapi.md)', 'sim')
    .action(async (options) => {
      const code = await run_node(options);
      if (code !== 0) throw new UsageError('node stopped with an error');
    });
  program
    .command('rapi-sim')
    .description('a simulated OpenEVSE controller speaking RAPI on TCP, for `loadshare node --controller rapi:tcp://IP:PORT` (docs/rapi.md); commands on stdin: plug, unplug, silent, answer, reboot, status')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .requiredOption('--port <port>', 'TCP port (0: any free one)')
    .option('--max-current <amps>', 'the controller\'s maximum current', '32')
    .action(async (options: { host: string; port: string; maxCurrent: string }) => {
      const port = Number(options.port);
      if (!/^\d{1,5}$/.test(options.port) || port > 65535) throw new UsageError(`--port must be a port number, not "${options.port}"`);
      const max_a = Number(options.maxCurrent);
      if (!/^\d{1,2}$/.test(options.maxCurrent) || max_a < 6 || max_a > 80) throw new UsageError(`--max-current must be 6 to 80 amps, not "${options.maxCurrent}"`);
      const { run_rapi_sim } = await import('./evse/rapi-sim-cli.js');
      await run_rapi_sim(options.host, port, max_a);
    });
  program
    .command('simulate')
    .description('run a simulation scenario in virtual time (JSON, see docs/simulation.md); exit 0 when every check holds, 1 when one fails')
    .argument('<file>', 'simulation scenario file, or - for standard input')
    .option('--seed <n>', 'seed for every random choice (overrides the file\'s)')
    .option('--policy <policy>', 'default (the protocol) or naive (the unsafe seed-plan design, to see the checker fail)', 'default')
    .option('--json', 'print the full result as JSON')
    .option('--out <dir>', 'write chargers.csv, group.csv, summary.json, junit.xml and report.html there')
    .option('--compare-naive', 'also run the naive policy and show it beside the default one (with --out)')
    .action(async (file: string, options: { seed?: string; policy: string; json?: boolean; out?: string; compareNaive?: boolean }) => {
      let seed: number | undefined;
      if (options.seed !== undefined) {
        if (!/^\d{1,10}$/.test(options.seed) || Number(options.seed) > 4294967295) throw new UsageError(`--seed must be an integer from 0 to 4294967295, not "${options.seed}"`);
        seed = Number(options.seed);
      }
      if (options.policy !== 'default' && options.policy !== 'naive') throw new UsageError(`--policy must be default or naive, not "${options.policy}"`);
      const [{ parse_sim_scenario }, { run_simulation }, { format_summary }] = await Promise.all([import('./sim/scenario.js'), import('./sim/world.js'), import('./sim/summary.js')]);
      const scenario = parse_sim_scenario(read_input(file));
      const core = await Core.load();
      const record = options.out !== undefined;
      const on_progress = progress_bar(scenario.duration_s);
      const modules = {
        priority_first: await Core.load(readFileSync(`${project_root()}/build/loadsharing-priority-first.wasm`)),
        carry_next: await Core.load(readFileSync(`${project_root()}/build/loadsharing-carry-next.wasm`)),
      };
      const result = run_simulation(scenario, { core, modules, seed, policy: options.policy as Policy, record, on_progress });
      if (on_progress) process.stderr.write('\r\x1b[K');
      const { series: _series, ...printable } = result;
      write(options.json ? `${JSON.stringify(printable, null, 2)}\n` : format_summary(result));
      if (options.out !== undefined) {
        const runs = [result];
        if (options.compareNaive && options.policy !== 'naive') runs.push(run_simulation(scenario, { core, modules, seed, policy: 'naive', record }));
        await write_outputs(options.out, scenario.name, scenario.description, runs);
        if (!options.json) write(`  wrote ${join(options.out, 'report.html')} and the CSV, JSON and JUnit files\n`);
      }
      if (!result.ok) throw new CheckFailed();
    });
  add_fuzz_command(program, write);
  add_module_commands(program, write);
  return program;
}

// `loadshare fuzz`: a randomized fault campaign on every core, a shard of one, or the scenario
// of one seed; `loadshare fuzz merge`: shard summaries into one (docs/simulation.md).
function add_fuzz_command(program: Command, write: (text: string) => void): void {
  const integer = (name: string, text: string, min: number, max: number) => {
    if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}, not "${text}"`);
    return Number(text);
  };
  const fuzz = program
    .command('fuzz')
    .enablePositionalOptions() // `fuzz merge ... --json F`: merge's --json, not the campaign's
    .description('run a randomized fault campaign (seeded, on every core); exit 0 when no run broke a check, 1 otherwise')
    .option('--seeds <n>', 'number of runs (of the whole campaign, when sharded)', '200')
    .option('--first <seed>', 'first seed', '1')
    .option('--chargers <range>', 'chargers per group, MIN-MAX (1-16)', '2-6')
    .option('--duration <s>', 'simulated seconds per run', '120')
    .option('--policy <policy>', 'default or naive', 'default')
    .option('--jobs <n>', 'worker threads (default: one per core; 1 runs in this thread)')
    .option('--shard <i/n>', 'run only shard I of N (every N-th seed), to split a campaign across machines')
    .option('--json <file>', 'write the campaign\'s summary as JSON (mergeable with loadshare fuzz merge)')
    .option('--show <seed>', 'print the scenario file of one seed instead of running')
    .option('--known-bugs <mode>', 'removed (campaigns always draw from everything)')
    .action(async (options: { seeds: string; first: string; chargers: string; duration: string; policy: string; jobs?: string; shard?: string; json?: string; show?: string; knownBugs?: string }) => {
      if (options.knownBugs !== undefined) {
        throw new UsageError('--known-bugs was removed: every campaign draws from every fault and event kind, and the generator changed with it, so a seed from an older campaign makes another scenario now (docs/simulation.md, "Fault campaigns")');
      }
      const range = /^(\d{1,2})-(\d{1,2})$/.exec(options.chargers);
      if (!range || Number(range[1]) < 1 || Number(range[2]) > 16 || Number(range[1]) > Number(range[2])) throw new UsageError(`--chargers must be MIN-MAX within 1-16, not "${options.chargers}"`);
      if (options.policy !== 'default' && options.policy !== 'naive') throw new UsageError(`--policy must be default or naive, not "${options.policy}"`);
      const spec: CampaignSpec = {
        first: integer('--first', options.first, 0, 4294967295),
        seeds: integer('--seeds', options.seeds, 1, 10000000),
        chargers_min: Number(range[1]), chargers_max: Number(range[2]),
        duration_s: integer('--duration', options.duration, 20, 86400),
        policy: options.policy as Policy,
      };
      if (options.show !== undefined) {
        const { random_scenario_json } = await import('./sim/fuzz.js');
        write(`${JSON.stringify(random_scenario_json(integer('--show', options.show, 0, 4294967295), spec), null, 2)}\n`);
        return;
      }
      if (spec.first + spec.seeds - 1 > 4294967295) throw new UsageError('--first plus --seeds goes past the last seed (4294967295)');
      let shard = null;
      if (options.shard !== undefined) {
        const m = /^(\d{1,6})\/(\d{1,6})$/.exec(options.shard);
        if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) throw new UsageError(`--shard must be I/N with 1 <= I <= N, not "${options.shard}"`);
        shard = { index: Number(m[1]), count: Number(m[2]) };
      }
      const { run_campaign_parallel, default_jobs } = await import('./sim/campaign.js');
      const jobs = options.jobs === undefined ? default_jobs() : integer('--jobs', options.jobs, 1, 1024);
      const bar = await campaign_progress();
      let summary: CampaignSummary;
      try {
        summary = await run_campaign_parallel(spec, { shard, jobs, on_progress: bar.update });
      } finally {
        bar.stop();
      }
      write(format_campaign(summary));
      if (options.json !== undefined) write_json(options.json, summary);
      if (summary.broken.length > 0) throw new CheckFailed();
    });
  fuzz
    .command('merge')
    .description('merge the --json summaries of a campaign\'s shards into the summary of the whole campaign')
    .argument('<results...>', 'summary files written by loadshare fuzz --shard I/N --json FILE')
    .option('--json <file>', 'write the merged summary there')
    .action(async (files: string[], options: { json?: string }) => {
      const { merge_summaries, MergeError } = await import('./sim/campaign.js');
      const parts = files.map((name) => {
        const text = read_input(name);
        try {
          return { name, summary: JSON.parse(text) as unknown };
        } catch (error) {
          throw new UsageError(`${name}: not JSON (${(error as Error).message})`);
        }
      });
      let summary: CampaignSummary;
      try {
        summary = merge_summaries(parts);
      } catch (error) {
        if (error instanceof MergeError) throw new UsageError(error.message);
        throw error;
      }
      write(format_campaign(summary));
      if (options.json !== undefined) write_json(options.json, summary);
      if (summary.broken.length > 0) throw new CheckFailed();
    });
}

function write_json(file: string, value: unknown): void {
  try {
    writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  } catch (error) {
    throw new UsageError(`cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

// Campaign progress on standard error: a bar on a terminal (cli-progress), otherwise a plain
// line at most every 30 s (a log file, CI).
async function campaign_progress(): Promise<{ update: (p: Progress) => void; stop: () => void }> {
  const rate = (p: Progress) => (p.elapsed_ms > 0 ? p.done / (p.elapsed_ms / 1000) : 0);
  const eta = (p: Progress) => {
    const r = rate(p);
    if (r === 0) return '?';
    const s = Math.round((p.total - p.done) / r);
    return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
  };
  const broken = (p: Progress) => (p.broken === 0 ? '0 broken' : `${p.broken} broken (seed${p.broken === 1 ? '' : 's'} ${p.broken_seeds.join(', ')}${p.broken > p.broken_seeds.length ? ', ...' : ''})`);
  if (process.stderr.isTTY) {
    const { SingleBar } = await import('cli-progress');
    const bar = new SingleBar({
      stream: process.stderr,
      format: 'fuzz [{bar}] {value}/{total} runs | {broken} | {rate} runs/s | ETA {eta_text}',
      hideCursor: true,
      clearOnComplete: true,
    });
    let started = false;
    return {
      update: (p) => {
        const payload = { broken: broken(p), rate: rate(p).toFixed(2), eta_text: eta(p) };
        if (!started) { bar.start(p.total, p.done, payload); started = true; } else bar.update(p.done, payload);
      },
      stop: () => { if (started) bar.stop(); },
    };
  }
  let last_ms = 0;
  return {
    update: (p) => {
      if (p.elapsed_ms - last_ms < 30000 || p.done === p.total) return;
      last_ms = p.elapsed_ms;
      process.stderr.write(`fuzz: ${p.done}/${p.total} runs, ${broken(p)}, ${rate(p).toFixed(2)} runs/s, ETA ${eta(p)}\n`);
    },
    stop: () => {},
  };
}

function format_campaign(s: CampaignSummary): string {
  const c = s.campaign;
  const part = s.part ? `, shard${s.part.shards.length > 1 ? 's' : ''} ${s.part.shards.join(',')} of ${s.part.of}` : '';
  const lines = [
    `${s.runs} runs (${c.policy}, seeds ${c.first}-${c.first + c.seeds - 1}${part}, ${c.chargers_min}-${c.chargers_max} chargers, ${c.duration_s} s, generator ${s.generator}), ${s.simulated_s} s simulated in ${s.timing.wall_s} s on ${s.timing.jobs} worker${s.timing.jobs === 1 ? '' : 's'} (${s.timing.runs_per_s} runs/s): ${s.broken.length} broke a check (${s.broken_inv1} INV-1, ${s.broken_permission} permission)`,
  ];
  for (const b of s.broken) lines.push(`  seed ${b.seed}: ${b.failures[0]}`, `    reproduce: ${b.reproduce}`);
  if (s.assumption_violated.length > 0) {
    const shown = s.assumption_violated.slice(0, 20);
    const more = s.assumption_violated.length - shown.length;
    lines.push(`${s.assumption_violated.length} run(s) broke the protocol's assumptions (not judged; what was measured): ${shown.map((a) => `${a.seed}${a.beyond_assumptions.length ? ` (${a.beyond_assumptions[0]})` : ''}`).join(', ')}${more > 0 ? `, and ${more} more (--json lists them all)` : ''}`);
  }
  const below = s.limit_below_held ?? [];
  if (below.length > 0) {
    const shown = below.slice(0, 20);
    lines.push(`${below.length} run(s) set a limit below what dead chargers' controllers (and chargers not told it, at their failsafe current) hold; INV-1 held the group to what they hold until they restarted or were told, the other running chargers to 0 A (docs/simulation.md): ${shown.join(', ')}${below.length > shown.length ? `, and ${below.length - shown.length} more (--json lists them all)` : ''}`);
  }
  const dist = (name: string, d: CampaignSummary['utilisation']) => (d.runs === 0 ? `${name}: no run had one` : `${name}: mean ${d.mean}, p5 <= ${d.p5}, median <= ${d.p50}, p95 <= ${d.p95}, min ${d.min?.toFixed(3)} (${d.runs} runs)`);
  lines.push(dist('utilisation', s.utilisation), dist('fairness', s.fairness));
  lines.push(s.worst_overdraw ? `worst over-draw: ${s.worst_overdraw.peak_a.toFixed(2)} A (${s.worst_overdraw.integral_as.toFixed(2)} A·s), seed ${s.worst_overdraw.seed}` : 'worst over-draw: none');
  return `${lines.join('\n')}\n`;
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

// Long runs on a terminal show how far the simulated clock has got (on standard error, so
// --json output stays clean).
function progress_bar(duration_s: number): ((fraction: number) => void) | undefined {
  if (!process.stderr.isTTY || duration_s < 3600) return undefined;
  return (fraction) => {
    const width = 40;
    const done = Math.round(fraction * width);
    process.stderr.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(fraction * 100).toFixed(0)}% of ${duration_s} s simulated`);
  };
}

// --out: per run (prefixed by policy when several) the time series as CSV, then one
// summary.json, junit.xml and report.html for all runs.
async function write_outputs(dir: string, title: string, description: string, runs: RunResult[]): Promise<void> {
  const [{ chargers_csv, group_csv }, { junit_xml }, { report_html }] = await Promise.all([import('./sim/record.js'), import('./sim/junit.js'), import('./sim/report.js')]);
  try {
    mkdirSync(dir, { recursive: true });
    for (const r of runs) {
      const prefix = runs.length > 1 ? `${r.policy}-` : '';
      if (r.series) {
        writeFileSync(join(dir, `${prefix}chargers.csv`), chargers_csv(r.series));
        writeFileSync(join(dir, `${prefix}group.csv`), group_csv(r.series));
      }
    }
    const summaries = runs.map(({ series: _series, ...rest }) => rest);
    writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(runs.length > 1 ? summaries : summaries[0], null, 2)}\n`);
    writeFileSync(join(dir, 'junit.xml'), junit_xml(runs));
    writeFileSync(join(dir, 'report.html'), report_html(title, description, runs));
  } catch (error) {
    throw new UsageError(`cannot write to ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

// Only a command that loaded the simulator can have thrown its error; the module is loaded here
// on an error path only.
async function is_sim_scenario_error(error: unknown): Promise<boolean> {
  if (!(error instanceof Error)) return false;
  const { SimScenarioError } = await import('./sim/scenario.js');
  return error instanceof SimScenarioError;
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
    if (error instanceof ScenarioError || error instanceof UsageError || error instanceof NodeUsageError || await is_sim_scenario_error(error)) {
      process.stderr.write(`loadshare: ${(error as Error).message}\n`);
      return 2;
    }
    process.stderr.write(`loadshare: internal error: ${(error as Error).stack ?? error}\n`);
    return 1;
  }
}
