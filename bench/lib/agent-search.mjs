// The agent search figures (issue 5, issue 12): one request at a time over the seeded agents,
// p50 / p95 / p99 per kind of query, through the API (a page) and through the portal's
// Manage › Agents (a page, the count, the badges, the HTML), with and without status filters.
import http from 'node:http';
import { percentile } from './load.mjs';

const round = (value) => (Number.isFinite(value) ? Number(value.toFixed(2)) : null);

/** GET `url` on one kept-alive socket; resolves to { status, body, ms }. */
function get(agent, url, headers) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    http
      .get(url, { agent, headers }, (response) => {
        const chunks = [];
        response.on('data', (c) => chunks.push(c));
        response.on('end', () => resolve({ status: response.statusCode, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
      })
      .on('error', reject);
  });
}

/**
 * Every query of `queries` ({ kind, prefix }) as the API and as the portal; every status filter
 * alone and with a search; the second page and the way back (`before`) of a common search.
 * `rounds` timed rounds after one warm-up round. Returns { byKind: { kind: { p50, p95, p99, n } }, all, checks }.
 */
export async function measureAgentSearch({ baseUrl, token, queries, rounds = 10 }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const api = { authorization: `Bearer ${token}` };
  const portal = { cookie: `deskpass_session=${token}` };
  const requests = [];
  const add = (kind, url, headers) => requests.push({ kind, url, headers });
  for (const { kind, prefix } of queries) {
    add(`api: ${kind}`, `${baseUrl}/api/v1/agents?search=${encodeURIComponent(prefix)}&limit=50`, api);
    add(`portal (page + count): ${kind}`, `${baseUrl}/manage/agents?search=${encodeURIComponent(prefix)}`, portal);
  }
  for (const status of ['locked', 'password_change_pending', 'invitation_expired', 'invited', 'deactivated']) {
    add('api: status filter alone', `${baseUrl}/api/v1/agents?status=${status}&limit=50`, api);
    add('api: status filter + search', `${baseUrl}/api/v1/agents?status=${status}&search=mar&limit=50`, api);
    add('portal (page + count): status filter alone', `${baseUrl}/manage/agents?status=${status}`, portal);
    add('portal (page + count): status filter + search', `${baseUrl}/manage/agents?status=${status}&search=ller`, portal);
  }
  add('api: no second factor', `${baseUrl}/api/v1/agents?twoFactor=off&limit=50`, api);
  add('portal (page + count): no second factor + search', `${baseUrl}/manage/agents?twoFactor=off&search=smith`, portal);
  add('portal (page + count): the whole list', `${baseUrl}/manage/agents`, portal);

  // Next and Previous of a common search: the cursors of its first pages, read once.
  const first = await get(agent, `${baseUrl}/api/v1/agents?search=son&limit=25`, api);
  const next = JSON.parse(first.body).nextCursor;
  const page2 = await get(agent, `${baseUrl}/manage/agents?search=son&cursor=${encodeURIComponent(next)}`, portal);
  const prev = /href="[^"]*before=([^"&]+)/.exec(page2.body)?.[1];
  add('portal (page + count): Next page', `${baseUrl}/manage/agents?search=son&cursor=${encodeURIComponent(next)}`, portal);
  if (prev) add('portal (page + count): Previous page', `${baseUrl}/manage/agents?search=son&before=${prev}`, portal);

  const samples = [];
  const checks = { portalCountShown: 0, portalRequests: 0 };
  for (let round = 0; round <= rounds; round++) {
    for (const r of requests) {
      const answer = await get(agent, r.url, r.headers);
      if (answer.status !== 200) throw new Error(`${r.url} answered ${answer.status}: ${answer.body.slice(0, 200)}`);
      if (round === 0) {
        if (r.headers.cookie) {
          checks.portalRequests += 1;
          if (/class="list-count"|No agent matches/.test(answer.body)) checks.portalCountShown += 1;
        }
        continue; // warm-up
      }
      samples.push({ kind: r.kind, ms: answer.ms });
    }
  }
  agent.destroy();
  const byKind = {};
  for (const kind of new Set(requests.map((r) => r.kind))) {
    const ms = samples.filter((s) => s.kind === kind).map((s) => s.ms);
    byKind[kind] = { p50: round(percentile(ms, 50)), p95: round(percentile(ms, 95)), p99: round(percentile(ms, 99)), n: ms.length };
  }
  const all = samples.map((s) => s.ms);
  return { byKind, all: { p50: round(percentile(all, 50)), p95: round(percentile(all, 95)), p99: round(percentile(all, 99)), n: all.length }, checks };
}
