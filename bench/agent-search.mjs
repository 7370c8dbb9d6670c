#!/usr/bin/env node
// `npm run bench:search`: the agent search alone (issue 12, item 5) — the search, the count and
// the status filters over BENCH_AGENTS agents (100,000), on SQLite and PostgreSQL, against a real
// server process built by `npm run build`, one request at a time. The agents are seeded as in
// `npm run bench` (bench/lib/seed.mjs), without the audit events.
//
// Knobs: BENCH_DIALECTS=sqlite,postgres  BENCH_AGENTS=100000  BENCH_ROUNDS=10
// BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test. Writes bench/results-agent-search.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, startDeskpass, stopProcess } from './lib/processes.mjs';
import { inThrowAwayStore } from './lib/store.mjs';
import { ADMIN, seedAgents, setUpHelpDesk } from './lib/seed.mjs';
import { measureAgentSearch } from './lib/agent-search.mjs';

const settings = {
  dialects: (process.env.BENCH_DIALECTS ?? 'sqlite,postgres').split(',').map((d) => d.trim()).filter(Boolean),
  agents: Number(process.env.BENCH_AGENTS ?? 100_000),
  rounds: Number(process.env.BENCH_ROUNDS ?? 10),
  pgUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
};
const log = (message) => process.stderr.write(`[bench-search ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

async function benchDialect(dialect) {
  return inThrowAwayStore(dialect, settings.pgUrl, async ({ dir, storeEnv, openStore }) => {
    const env = { RATE_LIMITS: 'off', LOG_LEVEL: 'warn', ...storeEnv };
    const server = await startDeskpass({ dir, env });
    try {
      await setUpHelpDesk(server.baseUrl, server.logFile);
      log(`${dialect}: seeding ${settings.agents} agents`);
      const started = Date.now();
      const store = await openStore();
      let seeded;
      try {
        seeded = await seedAgents(store, { count: settings.agents });
      } finally {
        await store.close();
      }
      const seedSeconds = Math.round((Date.now() - started) / 100) / 10;
      log(`${dialect}: seeded in ${seedSeconds} s (${seeded.searchTerms} search index rows); measuring`);
      const login = await fetch(`${server.baseUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password }) });
      const { token } = await login.json();
      const figures = await measureAgentSearch({ baseUrl: server.baseUrl, token, queries: seeded.searchPrefixes, rounds: settings.rounds });
      return { dialect, seedSeconds, searchIndexRows: seeded.searchTerms, ...figures };
    } catch (error) {
      log(`${dialect}: failed; the server's last log lines:\n${readFileSync(server.logFile, 'utf8').split('\n').slice(-15).join('\n')}`);
      throw error;
    } finally {
      await stopProcess(server.child);
    }
  });
}

const results = { startedAt: new Date().toISOString(), command: 'npm run bench:search', settings, loadAverageBefore: loadavg().map((l) => Number(l.toFixed(2))), dialects: {} };
for (const dialect of settings.dialects) results.dialects[dialect] = await benchDialect(dialect);
results.loadAverageAfter = loadavg().map((l) => Number(l.toFixed(2)));
writeFileSync(join(REPO_ROOT, 'bench/results-agent-search.json'), JSON.stringify(results, null, 2) + '\n');

const dialects = Object.keys(results.dialects);
const kinds = [...new Set(dialects.flatMap((d) => Object.keys(results.dialects[d].byKind)))];
const cell = (f) => (f ? `${f.p50} / ${f.p95}` : '');
const table = [['query kind (p50 / p95 ms)', ...dialects], ...kinds.map((k) => [k, ...dialects.map((d) => cell(results.dialects[d].byKind[k]))]), ['all', ...dialects.map((d) => cell(results.dialects[d].all))]];
const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
const line = (row) => `| ${row.map((v, c) => v.padEnd(widths[c])).join(' | ')} |`;
process.stdout.write(`\n${[line(table[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...table.slice(1).map(line)].join('\n')}\n`);
for (const d of dialects) process.stdout.write(`${d}: seeded ${settings.agents} agents in ${results.dialects[d].seedSeconds} s, ${results.dialects[d].searchIndexRows} index rows; portal pages with the count line: ${results.dialects[d].checks.portalCountShown}/${results.dialects[d].checks.portalRequests}\n`);
process.stdout.write(`load average before / after: ${results.loadAverageBefore.join(' ')} / ${results.loadAverageAfter.join(' ')}\nwritten: bench/results-agent-search.json\n`);
