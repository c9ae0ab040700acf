#!/usr/bin/env node
// Prints the group-key values host-esp32/test/lsh_test_member.c checks the C host against,
// computed by the Node host's own GroupAuth (host-node/station/peer-auth.ts, from dist/; run
// `npm run build` first): key "esp32 member test key 0123", clock 1700000000123 ms. Each value
// is also verified here with GroupAuth's public checks, so what the C test expects is what Node
// signs and accepts. Run it after any change to the signing, and copy the values into the test.
// `--check` (npm run test:esp32) exits 1 when a value is missing from lsh_test_member.c: the C
// test would then hold MACs Node no longer makes.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const module_path = join(root, 'dist/host-node/station/peer-auth.js');
if (!existsSync(module_path)) {
  console.error('gen-auth-vectors: dist/ is missing: run `npm run build` first');
  process.exit(1);
}
const { GroupAuth, h_id, h_to, h_ts, h_nonce, h_mac } = await import(pathToFileURL(module_path).href);

const key = 'esp32 member test key 0123';
const now_ms = 1700000000123;
const auth = new GroupAuth(key, { now_ms: () => now_ms });
const check = process.argv.includes('--check');
const test_source = readFileSync(join(root, 'host-esp32/test/lsh_test_member.c'), 'utf8');
let stale = 0;
function print(label, ...values) {
  console.log(`${label}:`, ...values);
  for (const v of values) if (!test_source.includes(v)) stale += 1;
}
const fail = (what) => { console.error(`gen-auth-vectors: Node does not accept its own ${what}`); process.exit(1); };

// A request with a fixed nonce (sign_request draws a random one): GroupAuth's own MAC layout,
// then its public verify_request must take it for the named destination and refuse it for another.
function request(method, path, body, sender, to, nonce) {
  const mac = auth.mac(['loadshare-req-v2', method, path, sender, to, now_ms, nonce], body);
  const headers = { [h_id]: sender, [h_to]: to, [h_ts]: String(now_ms), [h_nonce]: nonce, [h_mac]: mac };
  const fresh = () => new GroupAuth(key, { now_ms: () => now_ms });
  if (!fresh().verify_request(headers, method, path, body, (x) => x === to).ok) fail(`request to ${to}`);
  if (fresh().verify_request(headers, method, path, body, () => false).reason !== 'signed for another charger') fail(`refusal of a request to ${to}`);
  return mac;
}

print('request POST /config node-a -> esp', request('POST', '/config', '{"loadsharing_group_max_current":20}', 'node-a', 'esp', 'b3ec23b4c32362054c0a181bb88dd84b'));
print('request GET /status node-a -> 127.0.0.1:1000', request('GET', '/status', '', 'node-a', '127.0.0.1:1000', 'a'.repeat(32)));

const response = auth.sign_response('00112233445566778899aabbccddeeff', 200, '{"msg":"done"}');
if (auth.verify_response(response, '00112233445566778899aabbccddeeff', 200, '{"msg":"done"}') !== null) fail('response');
print('response 200 {"msg":"done"}', response[h_ts], response[h_mac]);

const doc = '{"loadsharing":{"id":"node-a"}}';
const frame = JSON.parse(auth.sign_frame('ffeeddccbbaa99887766554433221100', 7, doc, 'esp'));
if (typeof auth.verify_frame('ffeeddccbbaa99887766554433221100', 6, frame, 'esp') !== 'object') fail('frame');
if (auth.verify_frame('ffeeddccbbaa99887766554433221100', 6, frame, 'node-b') !== 'bad frame signature') fail('refusal of a frame for another subscriber');
print('frame ctr 7 for esp', String(frame.ls_sig.ts), frame.ls_sig.mac);
if (check && stale > 0) {
  console.error(`gen-auth-vectors: ${stale} value(s) above are not in host-esp32/test/lsh_test_member.c: update its expected MACs`);
  process.exit(1);
}
