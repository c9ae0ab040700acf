#!/usr/bin/env node
// npm run bench:render: writes bench/results/latest.md, README.md's performance paragraph and
// docs/performance.md's latest results again from the recorded bench/results/latest.json,
// measuring nothing (after a change to how they read: bench/lib/report.mjs, readme.mjs). The
// recorded code fingerprint is kept as it was, so stale results stay stale for bench:check.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { default_out_dir, write_docs } from './run.mjs';
import { render_markdown } from './lib/report.mjs';

const results = JSON.parse(readFileSync(join(default_out_dir, 'latest.json'), 'utf8'));
if (results.mode !== 'full') {
  console.error('bench:render: bench/results/latest.json is not a full run; run npm run bench');
  process.exit(1);
}
const markdown = render_markdown(results);
writeFileSync(join(default_out_dir, 'latest.md'), markdown);
write_docs(results, markdown);
console.log('bench:render: wrote bench/results/latest.md, README.md and docs/performance.md from bench/results/latest.json');
