// The charger node's start-up collection (host-node/node/run-node.ts): after it, V8's young
// generation is back to its minimum instead of the 16 MB start-up grew it to (bench row 4,
// docs/performance.md "Where a charger node's memory goes").
import { expect, test } from 'vitest';
import { getHeapSpaceStatistics } from 'node:v8';
import { release_startup_memory } from '../host-node/node/run-node.js';

const new_space_bytes = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

// Node 20's V8 has no "last resort" flavour for a script-triggered collection; the project
// runs on Node 22 and 24 (package.json engines).
const supported = Number(process.versions.node.split('.')[0]) >= 22;

test.runIf(supported)('one footprint-reducing collection shrinks the young generation to its minimum', () => {
  // Grow the young generation the way start-up does: many objects that survive scavenges.
  const keep: object[][] = [];
  for (let round = 0; round < 40; round++) keep.push(Array.from({ length: 20000 }, (_, i) => ({ i, round })));
  const grown = new_space_bytes();
  expect(grown).toBeGreaterThan(2 * 1024 * 1024);
  expect(release_startup_memory()).toBe(true);
  expect(new_space_bytes()).toBeLessThanOrEqual(2 * 1024 * 1024);
  expect(keep.length).toBe(40); // what was still referenced survives
});

test('the gc function is hidden again afterwards', () => {
  release_startup_memory();
  expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
});
