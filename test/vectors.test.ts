// The conformance vectors: the exact input and carry blocks the Node host writes for each
// scenario, and the exact output and carry blocks the release module answers. Every host must
// reproduce them byte for byte; this suite holds Node to them and fails when they are stale
// (npm run gen:vectors), including the self-test vectors that ship with the runtime.
import { describe, expect, test, beforeAll } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { Core } from '../host-node/core.js';
import { root } from './helpers.js';

interface VectorIndex { abi_version: number; vectors: Array<{ name: string; source: string }> }

let core: Core;
beforeAll(async () => { core = await Core.load(); });

const dir = join(root, 'test/vectors');
const index: VectorIndex = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
const read_hex = (name: string) => Uint8Array.from(Buffer.from(readFileSync(join(dir, name), 'utf8').trim(), 'hex'));

describe('conformance vectors', () => {
  test('there are vectors for every scenario and for random groups', () => {
    expect(index.vectors.filter((v) => v.name.startsWith('random-')).length).toBeGreaterThanOrEqual(64);
    expect(index.vectors.length).toBeGreaterThanOrEqual(90);
  });
  test('some vectors start from the carry of earlier calls', () => {
    expect(index.vectors.filter((v) => existsSync(join(dir, `${v.name}.carry-in.hex`))).length).toBeGreaterThanOrEqual(3);
  });
  test.each(index.vectors.map((v) => [v.name]))('%s: the release module answers the recorded output and carry blocks', (name) => {
    const carry_in = existsSync(join(dir, `${name}.carry-in.hex`)) ? read_hex(`${name}.carry-in.hex`) : null;
    const { output, carry } = core.compute_raw(read_hex(`${name}.in.hex`), carry_in);
    expect(Buffer.from(output).toString('hex')).toBe(Buffer.from(read_hex(`${name}.out.hex`)).toString('hex'));
    expect(Buffer.from(carry).toString('hex')).toBe(Buffer.from(read_hex(`${name}.carry-out.hex`)).toString('hex'));
  });
  test('the vectors and the shipped self-test vectors are up to date with the scenarios and the Node binding', async () => {
    const { build_vectors, selftest_path } = await import('../scripts/gen-vectors.mjs');
    const { files, selftest } = await build_vectors();
    for (const [name, text] of Object.entries(files)) {
      expect(readFileSync(join(dir, name), 'utf8'), `test/vectors/${name} is stale: run npm run gen:vectors`).toBe(text);
    }
    expect(gunzipSync(readFileSync(join(root, selftest_path))).toString('utf8'), `${selftest_path} is stale: run npm run gen:vectors`)
      .toBe(gunzipSync(selftest).toString('utf8'));
  });
});
