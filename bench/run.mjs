#!/usr/bin/env node
// `npm run bench`: Deskpass's speed, as ratios to ceilings measured in the same run on the same
// machine (issue 5, "Speed"). Real server processes (`node bin/deskpass.js serve`, built by
// `npm run build`) with RATE_LIMITS=off and the production argon2id cost, on SQLite and on
// PostgreSQL (a throw-away schema), loaded over 127.0.0.1 only, every measurement bounded in time.
//
// Knobs (environment): BENCH_DIALECTS=sqlite,postgres  BENCH_SECONDS=8 (per throughput figure,
// in alternating 2-second windows for the two figures of a ratio)
// BENCH_AGENTS=100000  BENCH_AUDIT_EVENTS=1000000  BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test
// BENCH_REDIS_URL=redis://127.0.0.1:6379 (PostgreSQL runs use it as REDIS_URL, as several-instance
// setups do; skipped with a warning when it does not answer PING)  BENCH_LABEL=… (a name for this run in results.json).
//
// Writes bench/results.json and prints a table; BENCHMARKS.md explains the figures.
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { REPO_ROOT, residentMemory, serverPid, startCeiling, startDeskpass, startHello, stopProcess } from './lib/processes.mjs';
import { inThrowAwayStore } from './lib/store.mjs';
import { ADMIN, AGENT_PASSWORD, seedAgents, seedAuditEvents, setUpHelpDesk } from './lib/seed.mjs';
import { backgroundLoad, burst, fixedRate, interleaved, percentile, sequential, throughput } from './lib/load.mjs';
import { exchangeCodes, mintCodes, mintRefreshTokens, providerBrowser, refreshChains, registerBenchApp } from './lib/oidc.mjs';
import { measureAgentSearch } from './lib/agent-search.mjs';

const ARGON2ID = 'm=19456,t=2,p=1'; // the production default (OWASP minimum)
const settings = {
  dialects: (process.env.BENCH_DIALECTS ?? 'sqlite,postgres').split(',').map((d) => d.trim()).filter(Boolean),
  seconds: Number(process.env.BENCH_SECONDS ?? 8), // per figure: ceiling, sign-ins, hello-world, /me, forgot
  windowSeconds: 2, // the alternating windows of a ratio's two figures
  agents: Number(process.env.BENCH_AGENTS ?? 100_000),
  auditEvents: Number(process.env.BENCH_AUDIT_EVENTS ?? 1_000_000),
  pgUrl: process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  redisUrl: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379', // PostgreSQL runs only
  loginConnections: 16, // far more sign-ins in flight than cores: a morning rush
  cores: availableParallelism(),
  readConnections: 10, // autocannon's default, for /me and for the hello-world alike
  refreshChains: 10, // independent chains of rotating refresh tokens, one request in flight each
  responsivenessRate: 40, // GET /me per second while sign-ins saturate the machine
  responsivenessSeconds: 10,
  burstSignIns: 500, // distinct agents signing in at once, one request and one socket each
  burstTimeoutMs: 60_000, // per request
};
settings.rounds = Math.max(1, Math.round(settings.seconds / settings.windowSeconds));
const GOALS = { loginEfficiency: 0.9, cheapRead: { sqlite: 0.35, postgres: 0.2 }, meP99UnderLoadMs: 15, burstFailures: 0 };

const log = (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value, digits = 2) => (Number.isFinite(value) ? Number(value.toFixed(digits)) : null);
const roundMemory = ({ rssMiB, hwmMiB }) => ({ rssMiB: round(rssMiB, 1), hwmMiB: round(hwmMiB, 1) });

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  return {
    nproc: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

async function postgresReachable(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Whether Redis at `url` answers PING within 2 s. */
async function redisReachable(url) {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2000, commandTimeout: 2000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => {}); // the answer below says it
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

async function signIn(baseUrl, email, password) {
  const response = await fetch(`${baseUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) });
  if (response.status !== 200) throw new Error(`sign-in of ${email} answered ${response.status}: ${await response.text()}`);
  return (await response.json()).token;
}

/**
 * A measurement against the hello-world `helloLoad`, in alternating windows (see interleaved()):
 * `b` measures one window of `ms` and resolves to { count, seconds }.
 */
function againstHello(helloLoad, b) {
  return interleaved({
    rounds: settings.rounds,
    windowSeconds: settings.windowSeconds,
    pauseMs: 100,
    a: async (ms) => {
      const r = await throughput({ ...helloLoad, seconds: ms / 1000, warmupSeconds: 0 });
      return { count: r.ok, seconds: r.seconds };
    },
    b,
  });
}

/** One window of autocannon on `load`; its non-2xx answers and errors add up in figures[failuresKey]. */
function loadWindow(figures, load, failuresKey) {
  return async (ms) => {
    const r = await throughput({ ...load, seconds: ms / 1000, warmupSeconds: 0 });
    figures[failuresKey] = (figures[failuresKey] ?? 0) + r.non2xx + r.errors;
    return { count: r.ok, seconds: r.seconds };
  };
}

/** Everything measured on one dialect, against one server process. */
async function benchDialect(dialect, { redisUrl } = {}) {
  return inThrowAwayStore(dialect, settings.pgUrl, async ({ dir, storeEnv, openStore }) => {
    const env = { RATE_LIMITS: 'off', ARGON2ID, LOG_LEVEL: 'info', ...storeEnv };
    if (redisUrl) env.REDIS_URL = redisUrl;
    const figures = { dialect, redisUrl: redisUrl ?? null };
    log(`${dialect}: starting the server${redisUrl ? ` (REDIS_URL=${redisUrl})` : ''}`);
    const server = await startDeskpass({ dir, env });
    const { baseUrl } = server;
    try {
      await setUpHelpDesk(baseUrl, server.logFile);
      // The server's resident memory (the process itself, not bin/deskpass.js's wrapper if any).
      const measured = serverPid(server.child);
      figures.serverProcess = measured;
      const memory = { afterStart: roundMemory(residentMemory(measured.pid)) };

      log(`${dialect}: seeding ${settings.agents} agents and ${settings.auditEvents} audit events with bulk SQL`);
      const store = await openStore();
      let seeded;
      const seedStarted = Date.now();
      try {
        seeded = await seedAgents(store, { count: settings.agents });
        await seedAuditEvents(store, { count: settings.auditEvents, accountId: seeded.accountId, adminId: seeded.adminId });
      } finally {
        await store.close();
      }
      figures.seedSeconds = round((Date.now() - seedStarted) / 1000, 1);
      figures.searchTermRows = seeded.searchTerms;

      // 1 + 2. Successful sign-ins per second ÷ the argon2id ceiling (a separate process, 4
      // verifications in flight; then one per core), measured in alternating 2-second windows (see interleaved()).
      const loginBodies = seeded.loginEmails.map((email) => JSON.stringify({ email, password: AGENT_PASSWORD }));
      const loginUrl = `${baseUrl}/api/v1/auth/login`;
      const loginLoad = { url: loginUrl, method: 'POST', headers: { 'content-type': 'application/json' }, bodies: loginBodies, connections: settings.loginConnections };
      const ceilingProcess = await startCeiling({ ARGON2ID, IN_FLIGHT: '4' });
      let signIns;
      try {
        log(`${dialect}: warm-up of the sign-in path and of the ceiling process`);
        await throughput({ ...loginLoad, seconds: 2, warmupSeconds: 0 });
        await ceilingProcess.measure(1000);
        log(`${dialect}: sign-ins (${settings.loginConnections} connections) vs argon2id ceiling, ${settings.rounds} × ${settings.windowSeconds} s each, alternating`);
        const signInWindow = async (ms) => {
          const r = await throughput({ ...loginLoad, seconds: ms / 1000, warmupSeconds: 0 });
          figures.loginFailures = (figures.loginFailures ?? 0) + r.non2xx + r.errors;
          return { count: r.ok, seconds: r.seconds };
        };
        const against = (inFlight) => interleaved({
          rounds: settings.rounds,
          windowSeconds: settings.windowSeconds,
          a: async (ms) => ceilingProcess.measure(ms, inFlight).then((r) => ({ count: r.verifications, seconds: r.seconds })),
          b: signInWindow,
        });
        signIns = await against(4);
        // The same against the library at its best here (issue 13, sixth round): one verification
        // in flight per core, as the server hashes; 4 time-slice 2 cores and flatter the ratio.
        log(`${dialect}: sign-ins vs argon2id ceiling with one verification per core (${settings.cores}), alternating`);
        const onePerCore = await against(settings.cores);
        figures.argon2OnePerCorePerSecond = round(onePerCore.a, 1);
        figures.loginsPerSecondOnePerCoreWindows = round(onePerCore.b, 1);
        figures.loginEfficiencyOnePerCore = round(onePerCore.b / onePerCore.a, 3);
        figures.loginWindowsOnePerCore = onePerCore.windows;
      } finally {
        await ceilingProcess.stop();
      }
      figures.argon2VerificationsPerSecond = round(signIns.a, 1);
      figures.loginsPerSecond = round(signIns.b, 1);
      figures.loginEfficiency = round(signIns.b / signIns.a, 3);
      figures.loginWindows = signIns.windows;

      // 3. Cheap read: GET /api/v1/me with a Bearer token ÷ a bare Fastify hello-world (its own
      // process), alternating windows again.
      const agentToken = await signIn(baseUrl, seeded.loginEmails[0], AGENT_PASSWORD);
      const adminToken = await signIn(baseUrl, ADMIN.email, ADMIN.password);
      const meLoad = { url: `${baseUrl}/api/v1/me`, headers: { authorization: `Bearer ${agentToken}` }, connections: settings.readConnections };
      const hello = await startHello({ dir });
      let reads;
      try {
        const helloLoad = { url: `${hello.baseUrl}/`, connections: settings.readConnections };
        log(`${dialect}: warm-up of GET /api/v1/me and of the hello-world`);
        await throughput({ ...meLoad, seconds: 2, warmupSeconds: 0 });
        await throughput({ ...helloLoad, seconds: 2, warmupSeconds: 0 });
        log(`${dialect}: GET /api/v1/me vs bare Fastify hello-world (${settings.readConnections} connections), ${settings.rounds} × ${settings.windowSeconds} s each, alternating`);
        reads = await againstHello(helloLoad, loadWindow(figures, meLoad, 'meNon2xx'));
      } finally {
        await stopProcess(hello.child);
      }
      figures.helloRequestsPerSecond = round(reads.a, 0);
      figures.meRequestsPerSecond = round(reads.b, 0);
      figures.cheapRead = round(reads.b / reads.a, 3);
      figures.cheapReadGoal = GOALS.cheapRead[dialect];
      figures.readWindows = reads.windows;

      // 4. Responsiveness: /me at a fixed 40 requests/s while sign-ins saturate the machine. First
      // the floor of this measurement on this machine: the bare hello-world and /me at the same
      // rate with nothing else running (the client's timers, the wake-ups of idle cores).
      const floorHello = await startHello({ dir });
      try {
        const helloIdle = await fixedRate({ url: `${floorHello.baseUrl}/`, perSecond: settings.responsivenessRate, seconds: settings.responsivenessSeconds });
        figures.helloIdleMs = { p50: round(helloIdle.latencyMs.p50), p99: round(helloIdle.latencyMs.p99), max: round(helloIdle.latencyMs.max) };
      } finally {
        await stopProcess(floorHello.child);
      }
      const meIdle = await fixedRate({ url: `${baseUrl}/api/v1/me`, headers: { authorization: `Bearer ${agentToken}` }, perSecond: settings.responsivenessRate, seconds: settings.responsivenessSeconds });
      figures.meIdleMs = { p50: round(meIdle.latencyMs.p50), p99: round(meIdle.latencyMs.p99), max: round(meIdle.latencyMs.max) };
      log(`${dialect}: GET /me at ${settings.responsivenessRate}/s during a sign-in load (${settings.responsivenessSeconds} s)`);
      const background = backgroundLoad({ url: loginUrl, method: 'POST', headers: { 'content-type': 'application/json' }, bodies: loginBodies, connections: settings.loginConnections, seconds: settings.responsivenessSeconds + 30 });
      await sleep(2000); // let the hashing queue fill up first
      const steady = await fixedRate({ url: `${baseUrl}/api/v1/me`, headers: { authorization: `Bearer ${agentToken}` }, perSecond: settings.responsivenessRate, seconds: settings.responsivenessSeconds });
      const during = await background.stop();
      figures.meUnderLoadMs = { p50: round(steady.latencyMs.p50), p99: round(steady.latencyMs.p99), max: round(steady.latencyMs.max) };
      figures.meUnderLoadStatuses = steady.statuses;
      figures.loginsPerSecondDuringResponsiveness = round(during.okPerSecond, 1);

      // 4b. A burst of sign-ins: 500 distinct agents at once, one request and one socket each,
      // 60 s each at most; latencies from the common start. After a pause for the sign-ins the
      // background load left in flight.
      await sleep(1000);
      const burstEmails = seeded.loginEmails.slice(0, settings.burstSignIns);
      if (burstEmails.length < settings.burstSignIns) log(`${dialect}: warning: only ${burstEmails.length} agents for the burst of ${settings.burstSignIns} (BENCH_AGENTS is too small)`);
      log(`${dialect}: a burst of ${burstEmails.length} concurrent sign-ins (distinct agents, one socket each, ${settings.burstTimeoutMs / 1000} s timeout)`);
      const rush = await burst({ url: loginUrl, headers: { 'content-type': 'application/json' }, bodies: burstEmails.map((email) => JSON.stringify({ email, password: AGENT_PASSWORD })), timeoutMs: settings.burstTimeoutMs });
      figures.burst = {
        requests: rush.requests,
        ok: rush.ok,
        non2xx: rush.non2xx,
        errors: rush.errors,
        timeouts: rush.timeouts,
        failures: rush.non2xx + rush.errors + rush.timeouts,
        statuses: rush.statuses,
        peakOpenSockets: rush.peakOpenSockets,
        wallMs: round(rush.wallMs, 0),
        latencyMs: { p50: round(rush.latencyMs.p50, 0), p99: round(rush.latencyMs.p99, 0), max: round(rush.latencyMs.max, 0) },
      };
      if (rush.peakOpenSockets < rush.requests) log(`${dialect}: note: at most ${rush.peakOpenSockets} of the burst's ${rush.requests} sockets were open at once`);
      memory.afterBurst = roundMemory(residentMemory(measured.pid));

      // 5. Agent search over the seeded agents (the API's page, the portal's page with its count,
      // the status filters: bench/lib/agent-search.mjs, also run alone by `npm run bench:search`),
      // and the audit log's first page, one request at a time.
      log(`${dialect}: agent search (${seeded.searchPrefixes.length} queries, API and portal, status filters, × 10 rounds)`);
      const search = await measureAgentSearch({ baseUrl, token: adminToken, queries: seeded.searchPrefixes, rounds: 10 });
      figures.agentSearchMs = { ...search.all, byKind: search.byKind };
      memory.afterSearch = roundMemory(residentMemory(measured.pid));

      log(`${dialect}: audit log first page (200 requests), and first page of one agent's events`);
      const auditAll = (await sequential({ urls: [`${baseUrl}/api/v1/audit-events?limit=50`], headers: { authorization: `Bearer ${adminToken}` }, rounds: 200 })).map((s) => s.ms);
      figures.auditFirstPageMs = { p50: round(percentile(auditAll, 50)), p99: round(percentile(auditAll, 99)) };
      const auditAgent = (await sequential({ urls: [`${baseUrl}/api/v1/audit-events?limit=50&agentId=${seeded.adminId}`], headers: { authorization: `Bearer ${adminToken}` }, rounds: 200 })).map((s) => s.ms);
      figures.auditAgentPageMs = { p50: round(percentile(auditAgent, 50)), p99: round(percentile(auditAgent, 99)) };

      // 6. OpenID Connect: code exchanges at the token endpoint (a confidential app, client_secret_basic,
      // codes minted beforehand between windows: each is single-use) and GET userinfo with a Bearer
      // access token, each in alternating windows with the hello-world.
      log(`${dialect}: OpenID Connect token exchanges and userinfo vs the hello-world`);
      const oidcStore = await openStore();
      let benchApp;
      try {
        benchApp = await registerBenchApp(oidcStore, seeded.accountId);
      } finally {
        await oidcStore.close();
      }
      const providerSession = await providerBrowser(baseUrl, adminToken, benchApp);
      const oidcHello = await startHello({ dir });
      try {
        const helloLoad = { url: `${oidcHello.baseUrl}/`, connections: settings.readConnections };
        let accessToken;
        figures.tokenFailures = 0;
        let ranOut = false;
        // warm-up, which also sizes the pool of codes minted before each window (1.5 × what it can use)
        const warm = await exchangeCodes(baseUrl, benchApp, await mintCodes(providerSession, 300), 1000);
        const codesPerWindow = Math.max(300, Math.ceil((warm.count / warm.seconds) * settings.windowSeconds * 1.5));
        const exchanges = await againstHello(helloLoad, async (ms) => {
          const codes = await mintCodes(providerSession, codesPerWindow);
          const r = await exchangeCodes(baseUrl, benchApp, codes, ms);
          figures.tokenFailures += r.failures;
          if (r.firstFailure) log(`${dialect}: a token exchange failed: ${r.firstFailure}; server log: ${readFileSync(server.logFile, 'utf8').split('\n').filter((l) => l.includes('oidc')).slice(-3).join(' | ')}`);
          accessToken ??= r.accessToken;
          ranOut ||= r.ranOut;
          return { count: r.count, seconds: r.seconds };
        });
        figures.tokenExchangesPerSecond = round(exchanges.b, 0);
        figures.tokenHelloRequestsPerSecond = round(exchanges.a, 0);
        figures.tokenExchangeRatio = round(exchanges.b / exchanges.a, 3);
        figures.tokenCodesRanOut = ranOut;
        const userinfoLoad = { url: `${baseUrl}/oidc/userinfo`, headers: { authorization: `Bearer ${accessToken}` }, connections: settings.readConnections };
        await throughput({ ...userinfoLoad, seconds: 2, warmupSeconds: 0 });
        const userinfo = await againstHello(helloLoad, loadWindow(figures, userinfoLoad, 'userinfoNon2xx'));
        figures.userinfoPerSecond = round(userinfo.b, 0);
        figures.userinfoHelloRequestsPerSecond = round(userinfo.a, 0);
        figures.userinfoRatio = round(userinfo.b / userinfo.a, 3);

        // 6b. Refresh-token grants (issue 13): each use consumes the token and answers a new one,
        // so the load is independent chains, each carrying on with its answer's token. The chains'
        // first tokens are minted before the windows (scope offline_access with prompt=consent);
        // a chain that failed is re-seeded from a fresh code before the next window (untimed).
        log(`${dialect}: OpenID Connect refresh-token grants (${settings.refreshChains} chains) vs the hello-world`);
        const refreshTokens = await mintRefreshTokens(baseUrl, providerSession, benchApp, settings.refreshChains);
        figures.refreshFailures = 0;
        figures.refreshReseeds = 0;
        let refreshFailureLogged = false;
        const refreshWindow = async (ms) => {
          const broken = refreshTokens.flatMap((token, i) => (token ? [] : [i]));
          if (broken.length > 0) {
            const fresh = await mintRefreshTokens(baseUrl, providerSession, benchApp, broken.length);
            broken.forEach((i, k) => (refreshTokens[i] = fresh[k]));
            figures.refreshReseeds += broken.length;
          }
          const r = await refreshChains(baseUrl, benchApp, refreshTokens, ms);
          figures.refreshFailures += r.failures;
          if (r.firstFailure && !refreshFailureLogged) {
            refreshFailureLogged = true;
            log(`${dialect}: a refresh-token grant failed (${r.broken.length} chain(s) to re-seed): ${r.firstFailure}; server log: ${readFileSync(server.logFile, 'utf8').split('\n').filter((l) => l.includes('oidc')).slice(-3).join(' | ')}`);
          }
          return r;
        };
        await refreshWindow(1000); // warm-up (its failures count too)
        const refreshes = await againstHello(helloLoad, async (ms) => {
          const r = await refreshWindow(ms);
          return { count: r.count, seconds: r.seconds };
        });
        figures.refreshesPerSecond = round(refreshes.b, 0);
        figures.refreshHelloRequestsPerSecond = round(refreshes.a, 0);
        figures.refreshRatio = round(refreshes.b / refreshes.a, 3);
      } finally {
        await stopProcess(oidcHello.child);
      }

      // 7. Forgot password: no hashing on that path (the outbox worker does the rest later). Last,
      // because the worker goes on draining what this queued.
      log(`${dialect}: forgot-password load (${settings.readConnections} connections, ${settings.seconds} s)`);
      const forgotBodies = seeded.loginEmails.flatMap((email, i) => [JSON.stringify({ email }), JSON.stringify({ email: `nobody${i}@bench.example` })]);
      const forgot = await throughput({ url: `${baseUrl}/api/v1/auth/forgot-password`, method: 'POST', headers: { 'content-type': 'application/json' }, bodies: forgotBodies, connections: settings.readConnections, seconds: settings.seconds });
      figures.forgotPasswordPerSecond = round(forgot.okPerSecond, 0);
      figures.forgotNon2xx = forgot.non2xx + forgot.errors;
      figures.forgotLatencyMs = forgot.latencyMs;

      // The server's peak resident memory over the whole run (VmHWM, just before it stops).
      const end = residentMemory(measured.pid);
      figures.rssMiB = { afterStart: memory.afterStart.rssMiB, afterSearch: memory.afterSearch.rssMiB, afterBurst: memory.afterBurst.rssMiB, peak: round(end.hwmMiB, 1) };
      figures.memoryMiB = { ...memory, beforeStop: roundMemory(end) };
      return figures;
    } finally {
      await stopProcess(server.child);
    }
  });
}

function printTable(results) {
  const dialects = Object.keys(results.dialects);
  const rows = [
    ['argon2id ceiling, verifications/s (4 in flight)', (f) => f.argon2VerificationsPerSecond, ''],
    ['successful sign-ins/s (16 connections)', (f) => f.loginsPerSecond, ''],
    ['login efficiency = sign-ins/s ÷ ceiling', (f) => f.loginEfficiency, `≥ ${GOALS.loginEfficiency.toFixed(2)}`],
    [`argon2id ceiling, one per core (${settings.cores} in flight) / sign-ins/s beside it`, (f) => `${f.argon2OnePerCorePerSecond} / ${f.loginsPerSecondOnePerCoreWindows}`, ''],
    ['login efficiency against one per core', (f) => f.loginEfficiencyOnePerCore, 'reported'],
    ['bare Fastify hello-world, req/s', (f) => f.helloRequestsPerSecond, ''],
    ['GET /api/v1/me (Bearer), req/s', (f) => f.meRequestsPerSecond, ''],
    ['cheap read = /me ÷ hello-world', (f) => f.cheapRead, dialects.map((d) => `≥ ${GOALS.cheapRead[d]?.toFixed(2)} ${d}`).join(' / ')],
    ['hello-world p50 / p99 ms at 40/s, machine idle (the floor)', (f) => `${f.helloIdleMs.p50} / ${f.helloIdleMs.p99}`, ''],
    ['GET /me p50 / p99 ms at 40/s, machine idle', (f) => `${f.meIdleMs.p50} / ${f.meIdleMs.p99}`, ''],
    ['GET /me p50 ms at 40/s under sign-in load', (f) => f.meUnderLoadMs.p50, ''],
    ['GET /me p99 ms at 40/s under sign-in load', (f) => f.meUnderLoadMs.p99, `≤ ${GOALS.meP99UnderLoadMs}`],
    [`sign-in burst of ${settings.burstSignIns}: p50 / p99 / max ms`, (f) => `${f.burst.latencyMs.p50} / ${f.burst.latencyMs.p99} / ${f.burst.latencyMs.max}`, ''],
    ['sign-in burst: wall time ms / ok / sockets open at once', (f) => `${f.burst.wallMs} / ${f.burst.ok} / ${f.burst.peakOpenSockets}`, ''],
    ['burst failures (non-2xx + errors)', (f) => `${f.burst.failures} (${f.burst.non2xx} + ${f.burst.errors + f.burst.timeouts})`, `${GOALS.burstFailures}`],
    ['forgot-password, req/s', (f) => f.forgotPasswordPerSecond, ''],
    ['OIDC code exchanges/s (token endpoint, 10 clients)', (f) => f.tokenExchangesPerSecond, ''],
    ['token exchange ratio = exchanges/s ÷ hello-world', (f) => f.tokenExchangeRatio, ''],
    [`OIDC refresh-token grants/s (${settings.refreshChains} chains)`, (f) => f.refreshesPerSecond, ''],
    ['refresh ratio = refreshes/s ÷ hello-world', (f) => f.refreshRatio, ''],
    ['refresh-token grant failures (non-200)', (f) => f.refreshFailures, ''],
    ['OIDC userinfo (Bearer), req/s', (f) => f.userinfoPerSecond, ''],
    ['userinfo ratio = userinfo ÷ hello-world', (f) => f.userinfoRatio, ''],
    [`agent search p50 / p99 ms (${results.settings.agents} agents)`, (f) => `${f.agentSearchMs.p50} / ${f.agentSearchMs.p99}`, 'a few ms'],
    [`audit log first page p50 / p99 ms (${results.settings.auditEvents} events)`, (f) => `${f.auditFirstPageMs.p50} / ${f.auditFirstPageMs.p99}`, 'a few ms'],
    ["one agent's audit events p50 / p99 ms", (f) => `${f.auditAgentPageMs.p50} / ${f.auditAgentPageMs.p99}`, ''],
    ['server RSS MiB: after start / after burst / after search', (f) => `${f.rssMiB.afterStart} / ${f.rssMiB.afterBurst} / ${f.rssMiB.afterSearch}`, ''],
    ['server peak RSS MiB (VmHWM over the run)', (f) => f.rssMiB.peak, ''],
  ];
  const table = [['figure', ...dialects, 'goal'], ...rows.map(([label, get, goal]) => [label, ...dialects.map((d) => String(get(results.dialects[d]))), goal])];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const line = (row) => `| ${row.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  const out = [line(table[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...table.slice(1).map(line)];
  process.stdout.write(`\n${out.join('\n')}\n`);
  for (const d of dialects) {
    const byKind = results.dialects[d].agentSearchMs.byKind;
    process.stdout.write(`\n${d} agent search p50 / p95 ms by kind: ${Object.entries(byKind).map(([k, v]) => `${k} ${v.p50} / ${v.p95}`).join('; ')}`);
  }
  process.stdout.write(`\nload average before / after: ${results.loadAverageBefore.join(' ')} / ${results.loadAverageAfter.join(' ')}\n`);
}

const results = {
  label: process.env.BENCH_LABEL ?? null,
  startedAt: new Date().toISOString(),
  command: 'npm run bench',
  machine: machine(),
  settings: { ...settings, argon2id: ARGON2ID, rateLimits: 'off', logLevel: 'info' },
  goals: GOALS,
  loadAverageBefore: loadavg().map((l) => round(l, 2)),
  dialects: {},
};
if (results.loadAverageBefore[0] > results.machine.nproc * 0.5) {
  log(`warning: the machine is busy (load average ${results.loadAverageBefore[0]} on ${results.machine.nproc} cores); figures will be noisy`);
}
for (const dialect of settings.dialects) {
  if (dialect === 'postgres' && !(await postgresReachable(settings.pgUrl))) {
    log(`PostgreSQL is not reachable at ${settings.pgUrl}: skipping it (set BENCH_PG_URL, or BENCH_DIALECTS=sqlite)`);
    continue;
  }
  let redisUrl;
  if (dialect === 'postgres') {
    if (await redisReachable(settings.redisUrl)) redisUrl = settings.redisUrl;
    else log(`warning: Redis does not answer PING at ${settings.redisUrl}: the PostgreSQL run goes without REDIS_URL (set BENCH_REDIS_URL)`);
  }
  results.dialects[dialect] = await benchDialect(dialect, { redisUrl });
}
results.loadAverageAfter = loadavg().map((l) => round(l, 2));
results.finishedAt = new Date().toISOString();
writeFileSync(join(REPO_ROOT, 'bench/results.json'), JSON.stringify(results, null, 2) + '\n');
printTable(results);
process.stdout.write('\nwritten: bench/results.json\n');
