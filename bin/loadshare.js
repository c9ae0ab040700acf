#!/usr/bin/env node
// The loadshare CLI; the TypeScript is compiled to dist/ by `npm run build` (run by npm ci).
// A charger node sets its V8 flags before the program loads (host-node/node/v8-flags.ts).
import { apply_node_v8_flags } from '../dist/host-node/node/v8-flags.js';

if (process.argv[2] === 'node') apply_node_v8_flags();
const { main } = await import('../dist/host-node/cli.js');

process.exitCode = await main(process.argv.slice(2));
