// The README's performance paragraph and the latest-results section of docs/performance.md,
// both written from one results file, between marker comments, by `npm run bench` (a full run
// of every row over the release module). bench:check renders them again from the committed
// bench/results/latest.{json,md} and fails when the files say something else.
import { format_number } from './format.mjs';

export const readme_markers = ['<!-- bench:readme:begin (written by npm run bench) -->', '<!-- bench:readme:end -->'];
export const docs_markers = ['<!-- bench:latest:begin (written by npm run bench) -->', '<!-- bench:latest:end -->'];

const x = (value) => `${value.toFixed(value >= 10 ? 0 : 1)}x`;
const us = (ns) => (ns >= 1000 ? `${(ns / 1000).toFixed(ns >= 10000 ? 0 : 1)} µs` : `${Math.round(ns)} ns`);
const verdict = (result, target) => (result === 'pass' ? `target ${target}: met` : `target ${target}: missed`);

function ratio_text(ratio) {
  return ratio?.status === 'measured' ? x(ratio.geomean) : null;
}

export function readme_paragraph(results) {
  const m = results.machine;
  const parts = [];
  parts.push(`Measured by \`npm run bench\` (${results.generated_at.slice(0, 10)}, one full run on a ${m.cpu_count}-core ${m.cpu_model} with Node ${m.node.replace(/^v/, '')}; the machine is shared: load average ${results.load_average.start[0]} at the start).`);
  const d = results.rows.decision_time;
  if (d?.status === 'measured') {
    const at8 = (name) => d.engines[name]?.by_members?.[8]?.ns_per_call.median;
    const v8 = d.ratios.v8_over_native;
    const others = Object.keys(d.ratios).filter((k) => /^v8_node\d+_over_native$/.test(k))
      .map((k) => `Node ${k.match(/node(\d+)/)[1]} ${ratio_text(d.ratios[k]) ?? 'not measured'}`);
    let text = `One decision for 8 chargers takes ${at8('native') ? us(at8('native')) : '?'} natively (wasm2c + gcc -O2)`;
    if (v8?.status === 'measured') {
      text += ` and ${us(at8('v8'))} in V8: ${x(v8.geomean)} native over 2–16 members (${verdict(v8.result, '1.5x')}${others.length ? `; the same module on ${others.join(', ')}` : ''})`;
    }
    const w3 = d.ratios.wasm3_over_native;
    if (w3?.status === 'measured') text += `; wasm3 takes ${us(at8('wasm3'))}, ${x(w3.geomean)} native (${verdict(w3.result, '12x')})`;
    text += '.';
    const binding = d.engines.v8_binding?.by_members?.[8]?.ns_per_call.median;
    const w3call = d.engines.wasm3_call?.by_members?.[8]?.ns_per_call.median;
    if (binding || w3call) {
      text += ` The whole call as the hosts make it: ${[binding ? `${us(binding)} through the Node binding (encoding the view and decoding the decision)` : null, w3call ? `${us(w3call)} through the ESP32 host's runtime under wasm3` : null].filter(Boolean).join(', ')}.`;
    }
    parts.push(text);
  }
  const mod = results.rows.module;
  const mem = results.rows.wasm3_memory;
  if (mod?.status === 'measured') {
    let text = `The module is ${mod.size_raw_bytes} bytes (${mod.size_gzip_bytes} gzipped), imports nothing and loads in V8 in ${mod.v8.compile_instantiate_ms.median} ms`;
    if (mem?.status === 'measured') text += `; wasm3's peak heap is ${format_number(mem.peak_heap_bytes)} B (target 24 KiB: ${mem.peak_heap_bytes <= 24576 ? 'met' : 'missed'}), with no growth over 1,000 load/unload cycles${mem.growth_bytes > 0 ? ' (missed: it grew)' : ''}`;
    parts.push(`${text}.`);
  }
  const np = results.rows.node_process;
  if (np?.status === 'measured') {
    parts.push(`A \`loadshare node\` process following 8 peers at 1 Hz for ${np.window_s} s peaks at ${np.rss_peak_mb} MB resident (median ${np.rss_mb.median} MB; ${verdict(np.rss_result, '80 MB')}) and uses ${np.cpu_percent_one_core} % of one core (${verdict(np.cpu_result, '2 %')}).`);
  }
  const rt = results.rows.reaction_time;
  if (rt?.status === 'measured') {
    parts.push(`On loopback, when a car plugs in, the other chargers apply their decreases within ${rt.decrease_ms.median} ms (median; target 200 ms); the newcomer's increase follows after the protocol's ${(rt.increase_first_ms.median / 1000).toFixed(0)} s \`ev_response\` wait.`);
  }
  const sim = results.rows.simulator;
  if (sim?.status === 'measured') {
    parts.push(`The simulator runs 24 h of 8 chargers in ${sim.day_wall_s.toFixed(0)} s${sim.extrapolated ? ' (extrapolated)' : ''}, ${format_number(sim.sim_s_per_wall_s.median)} simulated seconds per second (target ${format_number(sim.target_sim_s_per_wall_s)}: ${sim.result === 'pass' ? 'met' : 'missed'}).`);
  }
  parts.push('Every figure, its spread and the method: [bench/results/latest.md](bench/results/latest.md), [docs/performance.md](docs/performance.md).');
  return wrap(parts.join(' '), 96);
}

function wrap(text, width) {
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

// The latest results as a section of docs/performance.md: latest.md with its headings moved
// two levels down and its title dropped.
export function docs_section(latest_md) {
  return latest_md.split('\n').filter((l, i) => !(i === 0 && l.startsWith('# '))).map((l) => (l.startsWith('#') ? `##${l}` : l)).join('\n').trim();
}

// The text between the markers, or null when a marker is missing.
export function between_markers(text, [begin, end]) {
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < 0 || b < a) return null;
  return text.slice(a + begin.length, b).trim();
}

export function replace_between_markers(text, [begin, end], body) {
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < 0 || b < a) throw new Error(`the markers ${begin} ... ${end} are missing`);
  return `${text.slice(0, a + begin.length)}\n${body}\n${text.slice(b)}`;
}
