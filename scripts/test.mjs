#!/usr/bin/env node
// `npm test`: the whole suite once per store dialect (DIALECTS=sqlite,postgres by default), as
// Kysely's own tests do. Files that never touch the store through the app run once, on SQLite.
// Prints node's test-runner output (spec reporter) for each pass, then one closing line for both.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';

// npm scripts run on the project's own Node.js (node_modules/.bin/node, see README); the suite
// is only meaningful there, not on whatever older node started this file by hand.
const REQUIRED_MAJOR = 24;
process.stdout.write(`# node ${process.version} (${process.execPath})\n`);
if (Number(process.versions.node.split('.')[0]) < REQUIRED_MAJOR) {
  process.stdout.write(`Bail out! the suite needs Node.js ${REQUIRED_MAJOR} or newer: run it with \`npm test\`.\n`);
  process.exit(1);
}

const dialects = (process.env.DIALECTS ?? 'sqlite,postgres').split(',').map((d) => d.trim()).filter(Boolean);
const filter = process.argv.slice(2); // optional file names to run
const all = readdirSync('test').filter((f) => f.endsWith('.test.ts')).sort();
const chosen = filter.length ? all.filter((f) => filter.some((x) => f.includes(x))) : all;

// Pure domain rules, the CLI (its own SQLite files), the
// browser tests (the store under them is already covered twice) and the Redis test.
const ONCE = [/^domain-/, /^compiled-once/, /^argon2-pool/, /^password-policy\.test/, /^cli\.test/, /^database-url/, /^backup/, /^disk-full/, /^session-cache-cli/, /^sqlite-checkpoints/, /^sqlite-two-processes/, /^portal-/, /^rate-limits-redis/];

// Several server processes on one store need a store that several processes share.
const POSTGRES_ONLY = [/^multi-instance/, /^postgres-outage/, /^prepared-statements/];

// The spec reporter closes with `ℹ pass N`, `ℹ fail N`, … (and then the failing tests again):
// read those lines wherever they fall in the output.
const SUMMARY = /^ℹ (pass|fail|cancelled|skipped|todo) (\d+)$/;
const ANSI = /\x1b\[[0-9;]*m/g;

let passed = 0;
let failed = 0;
let skipped = 0;
let exitCode = 0;
for (const dialect of dialects) {
  const files = chosen
    .filter((f) => dialect === dialects[0] || !ONCE.some((re) => re.test(f)))
    .filter((f) => dialect === 'postgres' || !POSTGRES_ONLY.some((re) => re.test(f)))
    .map((f) => `test/${f}`);
  if (files.length === 0) continue;
  process.stdout.write(`\n# ==== ${dialect}: ${files.length} test files ====\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files], {
    env: { ...process.env, DIALECT: dialect },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const summary = {};
  let partial = '';
  const read = (text) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const match = SUMMARY.exec(line.replace(ANSI, '').trimEnd());
      if (match) summary[match[1]] = Number(match[2]);
    }
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    read(chunk);
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  read('\n');
  if (summary.pass === undefined || summary.fail === undefined) {
    // No summary means the runner died or its report changed: never count that as a pass.
    process.stdout.write(`\n# ${dialect}: no test summary in the runner's output (exit ${code})\n`);
    failed += 1;
    exitCode = 1;
    continue;
  }
  passed += summary.pass;
  // A cancelled test (its file crashed or timed out) did not pass: count it with the failures.
  failed += summary.fail + (summary.cancelled ?? 0);
  skipped += (summary.skipped ?? 0) + (summary.todo ?? 0);
  if (code !== 0 || summary.fail > 0 || (summary.cancelled ?? 0) > 0) exitCode = 1;
}
if (passed === 0 && exitCode === 0) exitCode = 1; // a run that tested nothing is no green run
process.stdout.write(
  `\n# dialects: ${dialects.join(', ')}\ntotal: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`,
);
process.exit(exitCode);
