#!/usr/bin/env node
// The loadshare CLI; the TypeScript is compiled to dist/ by `npm run build` (run by npm ci).
import { main } from '../dist/host-node/cli.js';

process.exitCode = await main(process.argv.slice(2));
