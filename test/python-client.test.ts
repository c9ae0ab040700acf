// A real client: python-openevse-http (what Home Assistant's OpenEVSE integration uses), in a
// venv under build/ on the newest Python here (test/helpers/python-venv.ts), drives a real
// `loadshare node` on loopback. The script (test/clients/openevse_http_client.py) makes every
// call issue 16 lists and checks each one's effect on the charger's pilot, state and claims.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensure_dist, root } from './helpers/dist.js';
import { free_port, start_node, stop_node, type NodeProc } from './helpers/node-proc.js';
import { ensure_python_client, type PythonClient } from './helpers/python-venv.js';
import { admin } from './helpers/admin.js';

let client: PythonClient;
let node: NodeProc;
let work: string;

beforeAll(async () => {
  ensure_dist();
  client = ensure_python_client();
  work = mkdtempSync(join(tmpdir(), 'loadshare-pyclient-'));
  node = await start_node({ id: 'a', port: await free_port(), data_dir: join(work, 'a'), extra_args: ['--no-mdns'] });
}, 900000);

afterAll(async () => {
  if (node) await stop_node(node);
  if (work) rmSync(work, { recursive: true, force: true });
});

test('python-openevse-http: every call has its effect on the charger, and none lifts it over the group', async () => {
  const script = join(root, 'test', 'clients', 'openevse_http_client.py');
  const lines: string[] = [];
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(client.python, [script, `${node.host}:${node.port}`, admin.username, admin.password], { stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (chunk: Buffer) => lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => child.kill('SIGKILL'), 240000);
    child.on('exit', (c) => { clearTimeout(timer); resolve(c); });
  });
  const context = `python ${client.base_version} (${client.base_python}), python-openevse-http ${client.library_version}\n${lines.join('\n')}\n--- node ---\n${node.lines.slice(-30).join('\n')}`;
  expect(code, context).toBe(0);
  const checks = lines.filter((l) => /^check .*: ok$/.test(l));
  for (const name of ['update reads', 'status follows a car', '/ws frames', 'set_current(12)', 'set_override', 'clear_override', 'toggle_override',
    'make_claim', 'under an 8 A group limit', 'release_claim', 'set_limit', 'set_charge_mode', 'set_service_level', 'send_command', 'older-firmware paths']) {
    expect(checks.some((l) => l.includes(name)), `${name}\n${context}`).toBe(true);
  }
  expect(lines).toContain(`client: ${checks.length} checks passed`);
}, 600000);
