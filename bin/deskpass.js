#!/usr/bin/env node
// The deskpass command: runs the compiled CLI (npm install builds it; `npm run build` rebuilds it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/run.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('deskpass: not built yet; run `npm run build` (npm install does it) first.\n');
  process.exit(1);
}
await import(entry.href);
