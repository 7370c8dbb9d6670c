#!/usr/bin/env node
// `npm test`: the whole suite once per store dialect (DIALECTS=sqlite,postgres by default), as
// Kysely's own tests do. Files that never touch the store through the app run once, on SQLite.
// Prints node's test-runner output for each pass, then one closing line for both.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';

const dialects = (process.env.DIALECTS ?? 'sqlite,postgres').split(',').map((d) => d.trim()).filter(Boolean);
const filter = process.argv.slice(2); // optional file names to run
const all = readdirSync('test').filter((f) => f.endsWith('.test.ts')).sort();
const chosen = filter.length ? all.filter((f) => filter.some((x) => f.includes(x))) : all;

// Pure domain rules, the CLI (its own SQLite files), the
// browser tests (the store under them is already covered twice) and the Redis test.
const ONCE = [/^domain-/, /^password-policy\.test/, /^cli\.test/, /^portal-/, /^rate-limits-redis/];

// Several server processes on one store need a store that several processes share.
const POSTGRES_ONLY = [/^multi-instance/];

let passed = 0;
let failed = 0;
let exitCode = 0;
for (const dialect of dialects) {
  const files = chosen
    .filter((f) => dialect === dialects[0] || !ONCE.some((re) => re.test(f)))
    .filter((f) => dialect === 'postgres' || !POSTGRES_ONLY.some((re) => re.test(f)))
    .map((f) => `test/${f}`);
  if (files.length === 0) continue;
  process.stdout.write(`\n# ==== ${dialect}: ${files.length} test files ====\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
    env: { ...process.env, DIALECT: dialect },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let tail = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    tail = (tail + chunk).slice(-4000);
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  passed += Number(/^# pass (\d+)/m.exec(tail)?.[1] ?? 0);
  failed += Number(/^# fail (\d+)/m.exec(tail)?.[1] ?? 0);
  if (code !== 0) exitCode = 1;
}
process.stdout.write(`\n# dialects: ${dialects.join(', ')}\ntotal: ${passed} passed, ${failed} failed\n`);
process.exit(exitCode);
