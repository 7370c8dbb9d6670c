// Load generators: autocannon for throughput, and two small clients of our own for latency —
// one at a fixed rate (the responsiveness figure), one strictly sequential (search, audit log).
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';

/**
 * Runs autocannon for `seconds` (after a warm-up of `warmupSeconds` whose figures are dropped:
 * the JIT, the page cache and the connection pools settle there). `bodies`, when given, are sent
 * in turn, one per request. Returns requests/s by status class and latency percentiles in ms.
 */
export async function throughput({ url, method = 'GET', headers = {}, bodies, connections = 10, seconds = 8, warmupSeconds = 2 }) {
  let next = 0;
  const requests = [{ method, headers, ...(bodies ? { setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }) } : {}) }];
  const options = { url, connections, pipelining: 1, requests };
  if (warmupSeconds > 0) await autocannon({ ...options, duration: warmupSeconds });
  const result = await autocannon({ ...options, duration: seconds });
  const elapsedS = result.duration;
  return {
    requestsPerSecond: result.requests.total / elapsedS,
    okPerSecond: result['2xx'] / elapsedS,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    seconds: elapsedS,
    connections,
  };
}

/**
 * Interleaved windows on a shared machine: `rounds` times, `windowSeconds` of `a` then of `b`,
 * each window's count added up. Whatever else runs on the machine comes and goes over minutes;
 * measured in alternation, two figures see the same machine, and their ratio means something.
 * `a` and `b` take the window in ms and resolve to { count, seconds }.
 */
export async function interleaved({ a, b, rounds = 4, windowSeconds = 2, pauseMs = 300 }) {
  const sums = { a: { count: 0, seconds: 0 }, b: { count: 0, seconds: 0 }, windows: [] };
  for (let i = 0; i < rounds; i++) {
    for (const [name, run] of [['a', a], ['b', b]]) {
      const { count, seconds } = await run(windowSeconds * 1000);
      sums[name].count += count;
      sums[name].seconds += seconds;
      sums.windows.push({ [name]: Math.round(count / seconds) });
      // let work that the window left in flight (a sign-in mid-hash) finish before the next one
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
  return { a: sums.a.count / sums.a.seconds, b: sums.b.count / sums.b.seconds, windows: sums.windows };
}

/** Starts autocannon in the background; `stop()` ends it and resolves to the same summary. */
export function backgroundLoad({ url, method = 'GET', headers = {}, bodies, connections = 16, seconds = 60 }) {
  let next = 0;
  const instance = autocannon({
    url,
    connections,
    duration: seconds,
    requests: [{ method, headers, ...(bodies ? { setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }) } : {}) }],
  });
  const done = new Promise((resolve, reject) => {
    instance.once('done', resolve);
    instance.once('error', reject);
  });
  return {
    async stop() {
      instance.stop();
      const result = await done;
      return { requestsPerSecond: result.requests.total / result.duration, okPerSecond: result['2xx'] / result.duration, non2xx: result.non2xx };
    },
  };
}

export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function get(agent, url, headers) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent, headers }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode));
    });
    request.on('error', reject);
  });
}

/**
 * GETs `url` at a fixed rate for `seconds`, each request on schedule whatever the previous ones
 * are doing (several keep-alive sockets), and measures each latency from its *scheduled* start:
 * a server that stalls is charged for every request it delayed (no coordinated omission).
 */
export async function fixedRate({ url, headers = {}, perSecond = 40, seconds = 10 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const count = Math.round(perSecond * seconds);
  const intervalMs = 1000 / perSecond;
  const latencies = [];
  const statuses = {};
  const start = performance.now() + 50;
  const pending = [];
  for (let i = 0; i < count; i++) {
    const scheduled = start + i * intervalMs;
    const wait = scheduled - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(
      get(agent, url, headers).then((status) => {
        latencies.push(performance.now() - scheduled);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return { count, statuses, latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies) } };
}

/** GETs each of `urls` in turn, `rounds` times over one keep-alive socket; latencies in ms. */
export async function sequential({ urls, headers = {}, rounds = 10, warmupRounds = 1 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const samples = [];
  for (let round = 0; round < warmupRounds + rounds; round++) {
    for (const url of urls) {
      const started = performance.now();
      const status = await get(agent, url, headers);
      if (status !== 200) throw new Error(`${url} answered ${status}`);
      if (round >= warmupRounds) samples.push({ url, ms: performance.now() - started });
    }
  }
  agent.destroy();
  return samples;
}

/**
 * A burst: `bodies.length` POSTs to `url`, all started at once, one request each on its own
 * socket (no keep-alive, no socket cap: as many connections as requests), each abandoned after
 * `timeoutMs`. Latencies count from the common start to the end of each answer. Returns the
 * latency percentiles of the requests that were answered (any status), the wall time until the
 * last one settled, the counts by outcome, and how many sockets were open at once at most.
 */
export async function burst({ url, headers = {}, bodies, timeoutMs = 60_000 }) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity, maxTotalSockets: Infinity });
  const target = new URL(url);
  const latencies = [];
  const statuses = {};
  const outcome = { ok: 0, non2xx: 0, errors: 0, timeouts: 0 };
  let open = 0;
  let peakOpenSockets = 0;
  const one = (body) =>
    new Promise((resolve) => {
      let settled = false;
      const settle = (kind, status) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outcome[kind]++;
        if (status !== undefined) {
          latencies.push(performance.now() - start);
          statuses[status] = (statuses[status] ?? 0) + 1;
        }
        resolve();
      };
      const request = http.request(
        { hostname: target.hostname, port: target.port, path: target.pathname + target.search, method: 'POST', agent, headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
        (response) => {
          response.resume();
          response.on('end', () => settle(response.statusCode >= 200 && response.statusCode < 300 ? 'ok' : 'non2xx', response.statusCode));
          response.on('error', () => settle('errors'));
        },
      );
      const timer = setTimeout(() => {
        settle('timeouts');
        request.destroy(new Error('timeout'));
      }, timeoutMs);
      request.on('socket', (socket) => {
        let connected = false;
        socket.once('connect', () => {
          connected = true;
          open++;
          peakOpenSockets = Math.max(peakOpenSockets, open);
        });
        socket.once('close', () => {
          if (connected) open--;
        });
      });
      request.on('error', () => settle('errors'));
      request.end(body);
    });
  const start = performance.now();
  await Promise.all(bodies.map(one));
  const wallMs = performance.now() - start;
  agent.destroy();
  return {
    requests: bodies.length,
    ...outcome,
    statuses,
    peakOpenSockets,
    wallMs,
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.length ? Math.max(...latencies) : NaN },
  };
}
