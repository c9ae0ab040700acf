// The module's code by part (issue: "report the size of each part"): the release build again
// with a name section (asc --debug adds names and leaves the code as it is; checked: the code
// section must be byte-equal to the module measured), each function's body size summed by the
// source file it comes from. A function that the optimizer inlined counts where it was inlined.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Which part each source file of assembly/ belongs to.
export const module_parts = [
  { part: 'allocator', files: ['allocate', 'demand_cap'], what: 'water-filling, priorities and rotation, demand caps' },
  { part: 'safety rules', files: ['decide', 'group', 'settings', 'recall', 'validate'], what: 'validation, liveness, health, reserves, settings, views, control law, failsafe' },
  { part: 'carry handling', files: ['carry'], what: 'the carry block: format, checksum, rings, member records' },
  { part: 'config hash', files: ['config_hash', 'sha256', '~lib'], what: 'canonical bytes and SHA-256' },
  { part: 'ABI plumbing', files: ['blocks', 'index'], what: 'block access and the exports' },
];

function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return [value, at];
  }
}

// Section id -> [start, end) of its contents; custom sections by name.
function sections(bytes) {
  const out = { custom: {} };
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++];
    let size;
    [size, at] = leb(bytes, at);
    const end = at + size;
    if (id === 0) {
      let len;
      let p;
      [len, p] = leb(bytes, at);
      out.custom[Buffer.from(bytes.subarray(p, p + len)).toString('utf8')] = [p + len, end];
    } else {
      out[id] = [at, end];
    }
    at = end;
  }
  return out;
}

function imported_function_count(bytes, s) {
  if (!s[2]) return 0;
  let [count, at] = leb(bytes, s[2][0]);
  let functions = 0;
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < 2; k++) { let n; [n, at] = leb(bytes, at); at += n; }
    const kind = bytes[at++];
    if (kind === 0) { functions++; [, at] = leb(bytes, at); } else if (kind === 1) { at += 1; const f = bytes[at++]; [, at] = leb(bytes, at); if (f & 1) [, at] = leb(bytes, at); } else if (kind === 2) { const f = bytes[at++]; [, at] = leb(bytes, at); if (f & 1) [, at] = leb(bytes, at); } else { at += 2; }
  }
  return functions;
}

export function function_sizes(bytes) {
  const s = sections(bytes);
  if (!s[10]) throw new Error('no code section');
  const imported = imported_function_count(bytes, s);
  let [count, at] = leb(bytes, s[10][0]);
  const sizes = [];
  for (let i = 0; i < count; i++) {
    let size;
    [size, at] = leb(bytes, at);
    sizes.push(size);
    at += size;
  }
  const names = new Map();
  const name_section = s.custom.name;
  if (name_section) {
    let p = name_section[0];
    while (p < name_section[1]) {
      const sub = bytes[p++];
      let len;
      [len, p] = leb(bytes, p);
      if (sub === 1) {
        let [n, q] = leb(bytes, p);
        for (let i = 0; i < n; i++) {
          let index;
          let l;
          [index, q] = leb(bytes, q);
          [l, q] = leb(bytes, q);
          names.set(index, Buffer.from(bytes.subarray(q, q + l)).toString('utf8'));
          q += l;
        }
      }
      p += len;
    }
  }
  return { code: bytes.subarray(s[10][0], s[10][1]), functions: sizes.map((size, i) => ({ name: names.get(i + imported) ?? `func[${i + imported}]`, size })) };
}

// ctx.root: the project; module_bytes: the module measured. Returns the parts or why not.
export function measure_module_parts(root, module_bytes) {
  const dir = mkdtempSync(join(tmpdir(), 'loadshare-parts-'));
  try {
    const out = join(dir, 'named.wasm');
    execFileSync(join(root, 'node_modules/.bin/asc'), ['assembly/index.ts', '--target', 'release', '--debug', '--outFile', out, '--textFile', join(dir, 'named.wat')], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    const named = function_sizes(readFileSync(out));
    const measured = function_sizes(module_bytes);
    if (Buffer.compare(Buffer.from(named.code), Buffer.from(measured.code)) !== 0) {
      return { status: 'unavailable', reason: 'the module measured is not the release build of these sources' };
    }
    const parts = module_parts.map((p) => ({ part: p.part, what: p.what, code_bytes: 0, functions: 0 }));
    for (const f of named.functions) {
      const file = f.name.startsWith('~lib') ? '~lib' : f.name.split('/')[1] ?? '';
      const i = module_parts.findIndex((p) => p.files.includes(file));
      if (i < 0) throw new Error(`function ${f.name} belongs to no part`);
      parts[i].code_bytes += f.size;
      parts[i].functions += 1;
    }
    const code_bytes = named.code.length;
    return { status: 'measured', code_section_bytes: code_bytes, rest_bytes: module_bytes.length - code_bytes, parts };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
