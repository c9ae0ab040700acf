// Bad input against a real `loadshare node` process: malformed JSON, wrong types, out-of-range
// numbers, unknown keys and a 1 MB body over HTTP; garbage frames on its /ws server; and a
// fake peer whose status stream sends malformed frames. Each is refused (4xx) or ignored
// with a log line; the node's state is unchanged and the process keeps running.
import { describe, expect, test, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { ensure_dist } from './helpers/dist.js';
import { free_port, start_node, stop_node, wait_until, http, type NodeProc } from './helpers/node-proc.js';

let work: string;
let node: NodeProc;
let fake: Server;
let fake_wss: WebSocketServer;
let fake_port: number;
const fake_status = { amp: 0, voltage: 240, pilot: 0, state: 1, vehicle: 0, max_current: 32, loadsharing: { id: 'fake', seen: ['fake'], degraded: false } };

const alive = () => node.child.exitCode === null && node.child.signalCode === null;
const logs = () => node.lines.slice(-40).join('\n');

beforeAll(async () => {
  ensure_dist();
  work = mkdtempSync(join(tmpdir(), 'loadshare-bad-'));
  fake_port = await free_port();
  fake = createServer((req, res) => {
    if (req.url === '/status') { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(fake_status)); return; }
    res.statusCode = 404; res.end();
  });
  fake_wss = new WebSocketServer({ server: fake, path: '/ws' });
  await new Promise<void>((r) => fake.listen(fake_port, '127.0.0.1', r));
  node = await start_node({ id: 'd', port: await free_port(), data_dir: join(work, 'd'), extra_args: ['--no-mdns'], config: { loadsharing_heartbeat_timeout: 5 } });
});

afterAll(async () => {
  await stop_node(node);
  for (const c of fake_wss.clients) c.terminate();
  fake_wss.close();
  await new Promise((r) => fake.close(r));
  rmSync(work, { recursive: true, force: true });
});

describe('HTTP', () => {
  test('malformed, mistyped, out-of-range, unknown and oversized writes are 4xx; nothing changes', async () => {
    const before = await http(node.base, 'GET', '/config');
    const cases: Array<[string, string, unknown, number]> = [
      ['POST', '/config', '{"loadsharing_priority": ', 400],
      ['POST', '/config', { loadsharing_group_max_current: '40' }, 400],
      ['POST', '/config', { loadsharing_heartbeat_timeout: 1 }, 400],
      ['POST', '/config', { loadsharing_heartbeat_timeout: 1e308 }, 400],
      ['POST', '/config', { not_a_key: true }, 400],
      ['POST', '/config', JSON.stringify({ wifi_serial: 'x'.repeat(1024 * 1024) }), 413],
      ['POST', '/config', 'null', 400],
      ['POST', '/status', { voltage: -1 }, 400],
      ['POST', '/sim/ev', { soc: 'full' }, 400],
      ['POST', '/loadsharing/peers', { host: ['a.b'] }, 400],
      ['POST', '/loadsharing/peers', JSON.stringify({ host: 'x'.repeat(1024 * 1024) }), 413],
      ['DELETE', '/loadsharing/peers/nobody.local', undefined, 404],
    ];
    for (const [method, path, body, code] of cases) {
      const r = await http(node.base, method, path, body);
      expect(r.status, `${method} ${path} ${String(body).slice(0, 40)}`).toBe(code);
      expect(typeof r.json.msg).toBe('string');
    }
    expect((await http(node.base, 'GET', '/config')).json).toEqual(before.json);
    expect((await http(node.base, 'GET', '/loadsharing/peers')).json).toEqual([]);
    expect(alive()).toBe(true);
  });
});

describe('WebSocket', () => {
  test('the /ws server: full document first, then deltas; ping/pong; garbage ignored', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${node.port}/ws`);
    const frames: any[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
    await wait_until(() => frames.length >= 2, 5000, 'two frames');
    expect(frames[0].loadsharing.id).toBe('d');
    expect(frames[0]).toHaveProperty('amp');
    expect(Object.keys(frames[1]).length).toBeLessThan(Object.keys(frames[0]).length);
    ws.send('not json');
    ws.send(Buffer.from([0, 1, 2]), { binary: true });
    ws.send('[1,2,3]');
    ws.send(JSON.stringify({ ping: 1 }));
    await wait_until(() => frames.some((f) => f.pong === 1), 5000, 'pong');
    await wait_until(() => node.lines.some((l) => l.includes('client frame ignored')), 5000, 'a log line');
    ws.close();
    expect(alive()).toBe(true);
  });

  test('a peer sending malformed frames: each ignored with a log line; the peer is still followed', async () => {
    expect((await http(node.base, 'POST', '/loadsharing/peers', { host: `127.0.0.1:${fake_port}`, reciprocal: false })).status).toBe(200);
    const peer = await new Promise<WebSocket>((resolve) => fake_wss.once('connection', resolve));
    peer.send(JSON.stringify(fake_status));
    await wait_until(async () => (await http(node.base, 'GET', '/loadsharing/peers')).json[0]?.id === 'fake', 5000, 'fake known', logs);
    const config_before = (await http(node.base, 'GET', '/config')).json;
    peer.send('{"amp": 5');
    peer.send('[1,2]');
    peer.send('"text"');
    peer.send(Buffer.from([0xff, 0xfe]), { binary: true });
    peer.send(JSON.stringify({ loadsharing: 5 }));
    peer.send(JSON.stringify({ amp: 'lots', loadsharing: { max_current: -5, alloc: { d: 'x' }, seen: [1, null] } }));
    peer.send(JSON.stringify({ amp: 1200, voltage: 235 }));
    await wait_until(() => node.lines.filter((l) => l.includes('malformed frame ignored')).length >= 4, 5000, 'four malformed-frame log lines', logs);
    await wait_until(() => node.lines.some((l) => l.includes('is not an object')), 5000, 'not-an-object log line', logs);
    await wait_until(async () => (await http(node.base, 'GET', '/loadsharing/peers')).json[0]?.status?.amp === 1200, 5000, 'the valid delta merged', logs);
    const peers = (await http(node.base, 'GET', '/loadsharing/peers')).json;
    expect(peers).toHaveLength(1);
    expect(peers[0]).toMatchObject({ id: 'fake', joined: true });
    expect((await http(node.base, 'GET', '/config')).json).toEqual(config_before);
    const s = (await http(node.base, 'GET', '/status')).json;
    expect(s.loadsharing.id).toBe('d');
    expect(Number.isFinite(s.loadsharing.applied_current)).toBe(true);
    // A frame that claims our own id: refused, and its session with it (identity is sticky:
    // what follows on that socket is not taken); the link reconnects and starts from a whole document.
    let again = new Promise<WebSocket>((resolve) => fake_wss.once('connection', resolve));
    peer.send(JSON.stringify({ loadsharing: { id: 'd' } }));
    peer.send(JSON.stringify({ amp: 9999 }));
    await wait_until(() => node.lines.some((l) => l.includes('claims our own id')), 5000, 'own-id log line', logs);
    const reopened = await again;
    expect((await http(node.base, 'GET', '/loadsharing/peers')).json[0].status.amp).not.toBe(9999);
    reopened.send(JSON.stringify(fake_status));
    reopened.send(JSON.stringify({ amp: 1300 }));
    await wait_until(async () => (await http(node.base, 'GET', '/loadsharing/peers')).json[0]?.status?.amp === 1300, 5000, 'a delta merged on the new session', logs);
    // An oversized frame closes that socket (ws maxPayload); the link reconnects by itself.
    again = new Promise<WebSocket>((resolve) => fake_wss.once('connection', resolve));
    reopened.send(JSON.stringify({ pad: 'x'.repeat(300 * 1024) }));
    const second = await again;
    second.send(JSON.stringify(fake_status));
    await wait_until(async () => (await http(node.base, 'GET', '/loadsharing/peers')).json[0]?.connected === true, 10000, 'reconnected', logs);
    expect(alive()).toBe(true);
  });
});

describe('one charger joined under two addresses', () => {
  test('the second address is dropped once its id shows it is the same charger', async () => {
    // Loopback is all of 127/8: the fake peer answers on 127.0.0.2 as well.
    const twin = createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(fake_status)); });
    await new Promise<void>((r) => twin.listen(fake_port, '127.0.0.2', r));
    try {
      expect((await http(node.base, 'POST', '/loadsharing/peers', { host: `127.0.0.2:${fake_port}`, reciprocal: false })).json.msg).toBe('done');
      await wait_until(() => node.lines.some((l) => l.includes(`127.0.0.2:${fake_port} removed`)), 10000, 'the duplicate dropped', logs);
      const hosts = ((await http(node.base, 'GET', '/loadsharing/peers')).json as any[]).map((p) => p.host);
      expect(hosts).toEqual([`127.0.0.1:${fake_port}`]);
      const ids = (await http(node.base, 'GET', '/loadsharing/status')).json.allocations.map((a: any) => a.id);
      expect(ids.sort()).toEqual(['d', 'fake']);
    } finally {
      await new Promise((r) => twin.close(r));
    }
  });
});

describe('an upstream peer', () => {
  test('without a load-sharing block it is known by its hostname field, and followed', async () => {
    const doc = { amp: 7000, voltage: 240, pilot: 16, state: 3, vehicle: 1, max_current: 16, hostname: 'openevse-7b2c' };
    const port = await free_port();
    const server = createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(doc)); });
    const wss = new WebSocketServer({ server, path: '/ws' });
    wss.on('connection', (socket) => socket.send(JSON.stringify(doc)));
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    try {
      expect((await http(node.base, 'POST', '/loadsharing/peers', { host: `127.0.0.1:${port}`, reciprocal: false })).status).toBe(200);
      await wait_until(async () => {
        const list = (await http(node.base, 'GET', '/loadsharing/peers')).json as any[];
        return list.some((p) => p.id === 'openevse-7b2c' && p.connected && p.status.amp === 7000);
      }, 10000, 'the upstream peer known by hostname', logs);
      expect((await http(node.base, 'DELETE', `/loadsharing/peers/127.0.0.1:${port}?reciprocal=false`)).status).toBe(200);
    } finally {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('command line', () => {
  test.each([
    [['--id', 'a b', '--http-port', '1', '--data-dir', '/tmp/x'], /--id must be/],
    [['--id', 'a', '--http-port', 'eighty', '--data-dir', '/tmp/x'], /--http-port must be a port number/],
    [['--id', 'a', '--http-port', '8000', '--data-dir', '/tmp/x', '--config', '/nonexistent.json'], /--config \/nonexistent.json: ENOENT/],
    [['--id', 'a', '--http-port', '8000'], /required option/],
    // A data dir below a regular file (the node binary) cannot be made.
    [['--id', 'a', '--http-port', '8000', '--data-dir', `${process.execPath}/loadshare`], /--data-dir .*\/loadshare: ENOTDIR/],
  ])('loadshare node %j: exit 2, one sentence', async (args, message) => {
    const { spawnSync } = await import('node:child_process');
    const { root } = await import('./helpers/dist.js');
    const r = spawnSync(process.execPath, [join(root, 'bin/loadshare.js'), 'node', ...args], { encoding: 'utf8', timeout: 10000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('a --config with a bad value: exit 2 naming the key', async () => {
    const { spawnSync } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
    const { root } = await import('./helpers/dist.js');
    const file = join(work, 'bad-config.json');
    writeFileSync(file, JSON.stringify({ loadsharing_heartbeat_timeout: 2 }));
    const r = spawnSync(process.execPath, [join(root, 'bin/loadshare.js'), 'node', '--id', 'a', '--http-port', '8000', '--data-dir', join(work, 'x'), '--config', file], { encoding: 'utf8', timeout: 10000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/loadsharing_heartbeat_timeout must be >= 5/);
  });
});
