#!/usr/bin/env node
// Writes the signed module packages the native ESP32 hot-swap tests install, with the Node
// host's own package code (dist/host-node/modules/package.js), into build/esp32/packages/:
// fresh keys every run (no key in the repository), a good priority-first package, every
// refusal case, a module that passes the self-test but traps later, and seeded mutations of a
// good package. index.txt records, for each package, the verdict of Node's verify_package
// (signature, hash, ABI) and the manifest, so the C verifier is cross-checked on the same bytes;
// install.txt the verdict of the Node host's whole install pipeline for the install cases.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { generateKeyPairSync } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import binaryen from 'binaryen';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out_dir = join(root, process.argv[2] ?? 'build/esp32/packages');
const modules_dir = join(root, 'build/esp32/test-modules');
const pkg = await import(pathToFileURL(join(root, 'dist/host-node/modules/package.js')).href);
// A package for the ABI after the one the hosts speak is the wrong one.
const abi = await import(pathToFileURL(join(root, 'dist/host-node/abi.js')).href);
const { ABI_VERSION } = abi;
const { generate_keys, load_private_key, load_public_key, pack, pack_manifest, sha256_hex, verify_package } = pkg;

rmSync(out_dir, { recursive: true, force: true });
mkdirSync(out_dir, { recursive: true });

const trusted = generate_keys();
const second = generate_keys();
const untrusted = generate_keys();
writeFileSync(join(out_dir, 'trusted.pub.pem'), trusted.public_pem);
writeFileSync(join(out_dir, 'second.pub.pem'), second.public_pem);
// Not P-256: a charger must refuse to trust it.
const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'pem' });
writeFileSync(join(out_dir, 'p384.pub.pem'), p384);
const key = load_private_key(trusted.private_pem);
const trusted_keys = [load_public_key(trusted.public_pem), load_public_key(second.public_pem)];

const priority_first = readFileSync(join(root, 'build/loadsharing-priority-first.wasm'));
const builtin = readFileSync(join(root, 'build/loadsharing.wasm'));
const test_module = (name) => readFileSync(join(modules_dir, `${name}.wasm`));

// The priority-first core with a time bomb: compute() traps once now_ms (the input block's first
// f64) reaches 2e12 (2033). The conformance vectors are from 2026, so it passes the self-test
// and the invariant checks, and fails only in the field: the case rollback exists for.
function time_bomb(bytes) {
  const m = binaryen.readBinary(bytes);
  m.setFeatures(binaryen.Features.All); // the core uses bulk memory and saturating truncation
  const compute = binaryen.getExportInfo(m.getExport('compute')).value;
  const input_ptr = binaryen.getExportInfo(m.getExport('input_ptr')).value;
  m.removeExport('compute');
  m.addFunction('compute_time_bomb', binaryen.none, binaryen.i32, [], m.block(null, [
    m.if(m.f64.ge(m.f64.load(0, 8, m.call(input_ptr, [], binaryen.i32)), m.f64.const(2e12)), m.unreachable()),
    m.return(m.call(compute, [], binaryen.i32)),
  ], binaryen.i32));
  m.addFunctionExport('compute_time_bomb', 'compute');
  if (!m.validate()) throw new Error('time bomb module does not validate');
  const out = m.emitBinary();
  m.dispose();
  return out;
}

// The priority-first core that lies whenever the first member's priority is not 0: it claims
// 99 A applied over its target. No policy-independent conformance vector has such a member;
// the self-test's invariant checks over generated groups must catch it (on both hosts).
function lies_on_priorities(bytes) {
  const m = binaryen.readBinary(bytes);
  m.setFeatures(binaryen.Features.All);
  const exported = (name) => binaryen.getExportInfo(m.getExport(name)).value;
  const compute = exported('compute');
  const input_ptr = exported('input_ptr');
  const output_ptr = exported('output_ptr');
  m.removeExport('compute');
  const first_priority_at = abi.IN_MEMBER_BASE + abi.IN_MEMBER_PRIORITY;
  m.addFunction('compute_liar', binaryen.none, binaryen.i32, [binaryen.i32], m.block(null, [
    m.local.set(0, m.call(compute, [], binaryen.i32)),
    m.if(m.i32.ne(m.i32.load(first_priority_at, 4, m.call(input_ptr, [], binaryen.i32)), m.i32.const(0)),
      m.f64.store(abi.OUT_SELF_APPLIED_CURRENT_A, 8, m.call(output_ptr, [], binaryen.i32), m.f64.const(99))),
    m.return(m.local.get(0, binaryen.i32)),
  ], binaryen.i32));
  m.addFunctionExport('compute_liar', 'compute');
  if (!m.validate()) throw new Error('lying module does not validate');
  const out = m.emitBinary();
  m.dispose();
  return out;
}

const fields = (counter, version, policy = 'priority_first') => ({ counter, version, policy });
const packages = {
  'pf-1': pack(priority_first, fields(1, 'pf-1'), key),
  'pf-2': pack(priority_first, fields(2, 'pf-2'), key),
  'pf-3': pack(priority_first, fields(3, 'pf-3'), key),
  'pf-second-key-20': pack(priority_first, fields(20, 'pf-20-second-key'), load_private_key(second.private_pem)),
  'builtin-4': pack(builtin, fields(4, 'equal-share-4', 'equal_share'), key),
  'time-bomb-5': pack(time_bomb(priority_first), fields(5, 'pf-time-bomb-5'), key),
  'time-bomb-6': pack(time_bomb(priority_first), fields(6, 'pf-time-bomb-6'), key),
  'unknown-key': pack(priority_first, fields(10, 'x'), load_private_key(untrusted.private_pem)),
  'wrong-abi': pack_manifest({ abi_version: ABI_VERSION + 1, module_sha256: sha256_hex(priority_first), module_size: priority_first.length, counter: 10, version: 'x', policy: 'p' }, priority_first, key),
  'imports': pack(test_module('extra-import'), fields(10, 'x'), key),
  'module-abi': pack(test_module('wrong-abi'), fields(10, 'x'), key),
  'bad-layout': pack(test_module('bad-layout'), fields(10, 'x'), key),
  'traps': pack(test_module('traps'), fields(10, 'x'), key),
  'stack-overflow': pack(test_module('stack-overflow'), fields(10, 'x'), key),
  'never-returns': pack(test_module('never-returns'), fields(10, 'x'), key),
  'lies-on-priorities': pack(lies_on_priorities(priority_first), fields(10, 'x'), key),
  'lies': pack(test_module('applied-above-target'), fields(10, 'x'), key),
  'not-wasm': pack(test_module('not-wasm'), fields(10, 'x'), key),
  'not-a-package': new TextEncoder().encode('hello, charger'),
};
const good = Buffer.from(packages['pf-2']);
const tampered_bytes = Buffer.from(pack(priority_first, fields(10, 'x'), key));
tampered_bytes[tampered_bytes.length - 10] ^= 1;
packages['tampered-bytes'] = tampered_bytes;
const tampered_manifest = Buffer.from(pack(priority_first, fields(10, 'x'), key));
tampered_manifest.write('9', tampered_manifest.indexOf('counter=10') + 8, 'latin1');
packages['tampered-manifest'] = tampered_manifest;
packages['truncated'] = good.subarray(0, 100);
packages['trailing-bytes'] = Buffer.concat([good, Buffer.from([0])]);
packages['format-2'] = Buffer.from(good); packages['format-2'][4] = 2;
packages['empty'] = Buffer.alloc(0);

// Seeded mutations of the good package: single byte changes spread over the header, manifest,
// signature and module, and truncations. Node's verdict on each is the expected C verdict.
let seed = 20261127;
const random = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed; };
for (let i = 0; i < 48; i++) {
  const bytes = Buffer.from(good);
  if (i % 8 === 7) {
    packages[`mutation-${i}`] = bytes.subarray(0, random() % bytes.length);
    continue;
  }
  // Bias toward the first 400 bytes (header, manifest, signature), where the verdicts differ.
  const at = i % 2 === 0 ? random() % Math.min(400, bytes.length) : random() % bytes.length;
  bytes[at] ^= 1 << (random() % 8);
  packages[`mutation-${i}`] = bytes;
}

const index = [];
for (const [name, bytes] of Object.entries(packages)) {
  writeFileSync(join(out_dir, `${name}.lspk`), bytes);
  let verdict = 'ok';
  let manifest = null;
  try {
    manifest = verify_package(bytes, trusted_keys).manifest;
  } catch (error) {
    if (error.code === undefined) throw error;
    verdict = error.code;
  }
  index.push([name, verdict, manifest ? manifest.counter : 0, manifest ? manifest.module_sha256 : '-', manifest ? manifest.version : '-'].join(' '));
}
writeFileSync(join(out_dir, 'index.txt'), `${index.join('\n')}\n`);

// The whole install pipeline on the Node host (ModuleManager: verify, counter, inspect,
// self-test, stage) for each package the C slots test installs on a fresh charger, so the
// refusal codes are cross-checked end to end, not only the verification. never-returns is
// left out: Node stops it with its worker timeout (seconds); its own tests cover that.
const { ModuleManager } = await import(pathToFileURL(join(root, 'dist/host-node/modules/manager.js')).href);
const { Core } = await import(pathToFileURL(join(root, 'dist/host-node/core.js')).href);
const builtin_core = await Core.load();
const install_cases = ['pf-2', 'time-bomb-5', 'tampered-bytes', 'tampered-manifest', 'unknown-key', 'wrong-abi', 'imports', 'module-abi',
  'bad-layout', 'not-wasm', 'traps', 'stack-overflow', 'lies', 'lies-on-priorities', 'truncated', 'not-a-package', 'trailing-bytes', 'empty'];
const installs = [];
for (const name of install_cases) {
  const data_dir = mkdtempSync(join(tmpdir(), 'lsh-esp32-pkg-'));
  const manager = new ModuleManager({ data_dir, trusted_keys, builtin: builtin_core, now_ms: () => 1767225600000, self_test: { random_groups: 50, timeout_ms: 10000 } });
  await manager.init();
  let code = 'ok';
  try {
    await manager.install(packages[name]);
  } catch (error) {
    if (error.code === undefined) throw error;
    code = error.code;
  }
  rmSync(data_dir, { recursive: true, force: true });
  installs.push(`${name} ${code}`);
}
writeFileSync(join(out_dir, 'install.txt'), `${installs.join('\n')}\n`);
console.log(`gen-esp32-test-packages: ${index.length} packages in ${out_dir}, ${installs.length} installed on the Node host`);
