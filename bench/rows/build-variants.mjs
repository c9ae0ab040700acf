// Row 7: the module's build settings against size and speed. Builds variants of the release
// module (the release target of asconfig.json with other optimizeLevel / shrinkLevel, or the
// release output post-processed by binaryen's wasm-opt) into a temporary directory, never
// touching build/, and records per variant its size (raw, gzip) and compute() against the
// native build of the same variant in V8 (the main Node line) and in wasm3. Every variant
// must give the release module's output block byte for byte. Full runs only (a quick run
// says it skipped): about 30 s per variant on 2 cores.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { bench_inputs } from '../lib/groups.mjs';
import { decision_time } from './decision-time.mjs';
import { format_number, ratio as format_ratio } from '../lib/format.mjs';
import { module_size_budget_bytes } from './module.mjs';

const wasm_features = ['--enable-bulk-memory', '--enable-sign-ext', '--enable-mutable-globals', '--enable-nontrapping-float-to-int'];

// What each variant is. `asc`: options added to `asc assembly/index.ts --target release`;
// `wasm_opt`: passes run by wasm-opt over the release build's output.
export const variants = [
  { name: 'release', how: 'the release build as configured (asconfig.json)', asc: [] },
  { name: 'O3 s1', how: 'optimizeLevel 3, shrinkLevel 1', asc: ['--optimizeLevel', '3', '--shrinkLevel', '1'] },
  { name: 'O3 s0', how: 'optimizeLevel 3, shrinkLevel 0', asc: ['--optimizeLevel', '3', '--shrinkLevel', '0'] },
  { name: 'O3 s0 converge', how: 'optimizeLevel 3, shrinkLevel 0, --converge (re-run passes until nothing changes)', asc: ['--optimizeLevel', '3', '--shrinkLevel', '0', '--converge'] },
  { name: 'release + inline small', how: 'release, then wasm-opt -aimfs 10 --inlining-optimizing -Oz (inline functions up to 10 instructions)', asc: [], wasm_opt: ['-aimfs', '10', '--inlining-optimizing', '-Oz'] },
];

function asc_settings(root) {
  const release = JSON.parse(readFileSync(join(root, 'asconfig.json'), 'utf8')).targets.release;
  return `optimizeLevel ${release.optimizeLevel}, shrinkLevel ${release.shrinkLevel}${release.converge ? ', converge' : ''}`;
}

function build_variant(root, variant, dir, index) {
  const out = join(dir, `variant-${index}.wasm`);
  const bin = (name) => join(root, 'node_modules/.bin', name);
  // The text file too, so the release target's textFile (build/) is never overwritten.
  execFileSync(bin('asc'), ['assembly/index.ts', '--target', 'release', ...variant.asc, '--outFile', out, '--textFile', join(dir, `variant-${index}.wat`)], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  if (variant.wasm_opt) {
    const opt = join(dir, `variant-${index}.opt.wasm`);
    execFileSync(bin('wasm-opt'), [out, ...wasm_features, ...variant.wasm_opt, '-o', opt], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    copyFileSync(opt, out);
  }
  return out;
}

// Input: ctx.root, ctx.quick, ctx.settings.variants (the decision settings per variant).
export async function build_variants(ctx) {
  if (ctx.quick && !ctx.variants_in_quick) {
    return { status: 'skipped', reason: 'full runs only (npm run bench)', summary: [{ figure: 'build variants: size against V8 and wasm3 speed', value: 'skipped: full runs only', target: '-', result: 'skipped' }] };
  }
  const dir = mkdtempSync(join(tmpdir(), 'loadshare-variants-'));
  const reference = await bench_inputs(ctx.module_bytes);
  const results = [];
  try {
    for (const [index, variant] of variants.entries()) {
      const entry = { name: variant.name, how: variant.how };
      try {
        const path = build_variant(ctx.root, variant, dir, index);
        const bytes = readFileSync(path);
        entry.size_raw_bytes = bytes.length;
        entry.size_gzip_bytes = gzipSync(bytes, { level: 9 }).length;
        const inputs = await bench_inputs(bytes);
        inputs.forEach((c, i) => {
          if (!Buffer.from(c.output).equals(Buffer.from(reference[i].output))) throw new Error(`its output block for ${c.member_count} members differs from the release module's`);
        });
        const timing = await decision_time({
          ...ctx, module_path: path, module_bytes: bytes, inputs, settings: { decision: ctx.settings.variants },
          work_dir: join(dir, `work-${index}`), engine_names: ['native', 'v8', 'wasm3'],
        });
        entry.native_ns = Object.fromEntries(timing.member_counts.map((n) => [n, timing.engines.native.by_members?.[n]?.ns_per_call.median ?? null]));
        entry.v8_over_native = timing.ratios.v8_over_native;
        entry.wasm3_over_native = timing.ratios.wasm3_over_native;
        entry.status = 'measured';
      } catch (error) {
        entry.status = 'error';
        entry.reason = (error.stderr?.toString() || error.message).trim().split('\n')[0];
      }
      results.push(entry);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const data = { status: 'measured', release_settings: asc_settings(ctx.root), size_budget_bytes: module_size_budget_bytes, variants: results };
  return { ...data, summary: summary_lines(data), details: details_table(data) };
}

const geomean = (r) => (r?.status === 'measured' ? format_ratio(r.geomean) : r ? r.status : '-');
const spread = (r) => (r?.status === 'measured' ? `${format_ratio(Math.min(...Object.values(r.by_members)))}-${format_ratio(Math.max(...Object.values(r.by_members)))}` : '-');

function summary_lines({ variants: results, size_budget_bytes }) {
  return results.map((v) => ({
    figure: `build variant "${v.name}": size; V8 / native; wasm3 / native (geomean, 2-16 members)`,
    value: v.status === 'measured' ? `${v.size_raw_bytes} B; ${geomean(v.v8_over_native)}; ${geomean(v.wasm3_over_native)}` : `error: ${v.reason}`,
    target: `<= ${size_budget_bytes} B; <= 1.5x; <= 12x`,
    result: v.status === 'measured' ? 'info' : 'error',
  }));
}

export function details_table({ variants: results, release_settings }) {
  return {
    title: 'Build variants: module size against V8 and wasm3 speed (compute(), quick timing per variant)',
    columns: ['variant', 'how', 'raw B', 'gzip B', 'native ns, 2/8 members', 'V8/native geomean (range)', 'wasm3/native geomean (range)'],
    rows: results.map((v) => (v.status === 'measured'
      ? [v.name, v.how, String(v.size_raw_bytes), String(v.size_gzip_bytes), `${format_number(v.native_ns[2] ?? 0)} / ${format_number(v.native_ns[8] ?? 0)}`,
        `${geomean(v.v8_over_native)} (${spread(v.v8_over_native)})`, `${geomean(v.wasm3_over_native)} (${spread(v.wasm3_over_native)})`]
      : [v.name, v.how, '-', '-', '-', `error: ${v.reason}`, '-'])),
    notes: [
      `The release target today: ${release_settings}. Variants are built from the same sources into a temporary directory; build/ is not touched.`,
      'Each variant is timed against the native (wasm2c + gcc -O2) build of the same variant, with the quick timing settings, in the same run.',
    ],
  };
}
