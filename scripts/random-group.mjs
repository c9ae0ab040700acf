// The seeded random-group generator lives in the runtime (host-node/random-group.ts: the
// hot-swap self-test uses it); scripts and tests take it from the build.
export { prng, random_scenario } from '../dist/host-node/random-group.js';
