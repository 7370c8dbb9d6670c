import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { NewAuditEvent } from '../../store/audit.repo.js';
import { observeAuditEvents } from '../../flows/consequences.js';
import type { PasswordHasher } from '../../security/password-hasher.js';
import type { Db } from '../../store/db.js';
import type { Clock } from '../../domain/clock.js';
import { outboxBacklog, type OutboxBacklogRow } from '../../store/outbox.repo.js';
import { sendError } from '../errors.js';

export const METRICS_PATH = '/metrics';

/** What the outbox worker reports after each row it handled (a mail, a back-channel logout). */
export type DeliveryObserver = (template: string, result: 'sent' | 'skipped' | 'failed' | 'dropped') => void;

/**
 * The process's Prometheus metrics (prom-client, a registry of this app's own). Counters of
 * events (sign-ins by outcome, lockouts, deliveries) are counted as they happen, in this
 * process; gauges of state (the outbox backlog, the argon2 queue) are read at scrape time, so a
 * scrape of any instance shows the shared backlog.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requestSeconds: Histogram<'method' | 'route' | 'status'>;
  private readonly deliveries: Counter<'template' | 'result'>;
  private readonly stopObserving: Array<() => void> = [];

  constructor(deps: { db: Db; hasher: PasswordHasher; clock: Clock }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'deskpass_' });
    this.requestSeconds = new Histogram({
      name: 'deskpass_http_request_duration_seconds',
      help: 'Time from request to response, by route pattern (unmatched paths share one label)',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const signIns = new Counter({ name: 'deskpass_sign_ins_total', help: 'Sign-in attempts by outcome (succeeded, invalid_credentials, account_locked, two_factor_failed, …), from the audit events this process wrote', labelNames: ['outcome'], registers });
    const lockouts = new Counter({ name: 'deskpass_lockouts_total', help: 'Addresses locked after repeated failed sign-ins', registers });
    const auditEvents = new Counter({ name: 'deskpass_audit_events_total', help: 'Audit events written by this process, by type', labelNames: ['type'], registers });
    this.stopObserving.push(
      observeAuditEvents((event: NewAuditEvent) => {
        auditEvents.inc({ type: event.type });
        if (event.type === 'login.succeeded') signIns.inc({ outcome: 'succeeded' });
        else if (event.type === 'login.failed') signIns.inc({ outcome: String((event.details as { reason?: unknown } | null)?.reason ?? 'failed') });
        else if (event.type === 'login.two_factor_failed') signIns.inc({ outcome: 'two_factor_failed' });
        else if (event.type === 'account.locked') lockouts.inc();
      }),
    );

    const hashWait = new Histogram({ name: 'deskpass_argon2_wait_seconds', help: 'Time an argon2id job waited for a hashing thread', labelNames: ['op'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    const hashRun = new Histogram({ name: 'deskpass_argon2_duration_seconds', help: 'Time an argon2id job ran on its thread', labelNames: ['op'], buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1], registers });
    const { hasher } = deps;
    if (hasher.observe) {
      this.stopObserving.push(
        hasher.observe((job) => {
          hashWait.observe({ op: job.op }, job.waitMs / 1000);
          hashRun.observe({ op: job.op }, job.runMs / 1000);
        }),
      );
    }
    new Gauge({ name: 'deskpass_argon2_queue_depth', help: 'argon2id jobs waiting for a hashing thread now', registers, collect() { this.set(hasher.load?.().queued ?? 0); } });
    new Gauge({ name: 'deskpass_argon2_running', help: 'argon2id jobs on a hashing thread now', registers, collect() { this.set(hasher.load?.().running ?? 0); } });

    this.deliveries = new Counter({ name: 'deskpass_outbox_deliveries_total', help: 'Outbox rows handled by this process: sent, skipped (nothing to send), failed (retried later) or dropped (a back-channel logout given up), by template (backchannel_logout is an app logout)', labelNames: ['template', 'result'], registers });
    // prom-client collects every metric of a scrape at once: the four below share one read of the backlog.
    const backlog = () => this.readBacklog(deps);
    const perTemplate: Array<{ name: string; help: string; value: (row: OutboxBacklogRow) => number }> = [
      { name: 'deskpass_outbox_pending', help: 'Outbox rows waiting to be delivered, by template (shared store)', value: (row) => row.pending },
      { name: 'deskpass_outbox_retrying', help: 'Pending outbox rows that failed at least once, by template', value: (row) => row.retrying },
      { name: 'deskpass_outbox_oldest_pending_age_seconds', help: 'Age of the oldest pending outbox row, by template', value: (row) => row.oldestAgeSeconds },
    ];
    for (const { name, help, value } of perTemplate) {
      new Gauge({
        name,
        help,
        labelNames: ['template'],
        registers,
        async collect() {
          this.reset();
          for (const row of (await backlog()) ?? []) this.set({ template: row.template }, value(row));
        },
      });
    }
    new Gauge({
      name: 'deskpass_store_up',
      help: '1 when this scrape could read the store, else 0',
      registers,
      async collect() {
        this.set((await backlog()) === null ? 0 : 1);
      },
    });
  }

  private backlogRead: Promise<OutboxBacklogRow[] | null> | null = null;

  /**
   * One read per scrape: prom-client starts every metric's collect in one synchronous loop, so
   * the four gauges get the same promise; it is dropped as soon as it settles, and the next
   * scrape reads afresh.
   */
  private readBacklog(deps: { db: Db; clock: Clock }): Promise<OutboxBacklogRow[] | null> {
    this.backlogRead ??= outboxBacklog(deps.db, deps.clock.now())
      .catch(() => null)
      .finally(() => (this.backlogRead = null));
    return this.backlogRead;
  }

  observeDelivery: DeliveryObserver = (template, result) => this.deliveries.inc({ template, result });

  // Only with REDIS_URL: made at the first report, so a server without Redis shows neither.
  private redis?: Gauge;
  private fallbacks?: Counter;

  redisUp(up: boolean): void {
    this.redis ??= new Gauge({ name: 'deskpass_redis_up', help: '1 while the rate-limit counters are in Redis, 0 while they fall back to the store', registers: [this.registry] });
    this.redis.set(up ? 1 : 0);
  }

  rateLimitFallback(): void {
    this.fallbacks ??= new Counter({ name: 'deskpass_rate_limit_fallbacks_total', help: 'Rate-limit counter operations done in the store because Redis was away', registers: [this.registry] });
    this.fallbacks.inc();
  }

  /** The session-holder cache: hits and misses (counted by the cache, read at scrape time), its size, and whether other instances' changes can be seen. */
  observeSessionCache(lookup: { readonly stats: { hits: number; misses: number; size: number } }, changes: { version(): number | null }): void {
    const registers = [this.registry];
    const counted = { hits: 0, misses: 0 };
    for (const key of ['hits', 'misses'] as const) {
      new Counter({
        name: `deskpass_session_cache_${key}_total`,
        help: key === 'hits' ? 'Authenticated requests whose session holder came from memory' : 'Authenticated requests whose session holder was read from the store',
        registers,
        collect() {
          const now = lookup.stats[key];
          this.inc(now - counted[key]);
          counted[key] = now;
        },
      });
    }
    new Gauge({ name: 'deskpass_session_cache_entries', help: 'Session holders in memory now (bounded)', registers, collect() { this.set(lookup.stats.size); } });
    new Gauge({ name: 'deskpass_store_changes_seen', help: "1 while this instance sees every committed change (PostgreSQL: its LISTEN connection is up); 0: nothing is served from memory", registers, collect() { this.set(changes.version() === null ? 0 : 1); } });
  }

  /** Records every answer's latency by its route pattern (never the raw URL: bounded labels). */
  install(app: FastifyInstance, token: string | undefined): void {
    // Callback hooks here and in the other plugins on every request: an async hook costs a promise and a turn of the microtask queue each.
    // Each series' child is looked up once (prom-client hashes a labels object on every observe):
    // bounded like the labels, by the routes, methods and statuses there are.
    const series = new Map<string, { observe(seconds: number): void }>();
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      if (route !== METRICS_PATH) {
        const key = `${request.method} ${reply.statusCode} ${route}`;
        let child = series.get(key);
        if (!child) series.set(key, (child = this.requestSeconds.labels({ method: request.method, route, status: String(reply.statusCode) })));
        child.observe(reply.elapsedTime / 1000);
      }
      done();
    });
    app.addHook('onClose', async () => {
      for (const stop of this.stopObserving) stop();
      this.registry.clear();
    });
    // Without METRICS_TOKEN there is no /metrics: the numbers say how busy the help desk is.
    if (!token) return;
    app.get(METRICS_PATH, { logLevel: 'warn', schema: { hide: true } }, async (request, reply) => {
      if (!carriesMetricsToken(request, token)) return sendError(reply.header('www-authenticate', 'Bearer realm="metrics"'), 'unauthenticated');
      return reply.header('content-type', this.registry.contentType).header('cache-control', 'no-store').send(await this.registry.metrics());
    });
  }
}

/** Does the request carry `Authorization: Bearer <METRICS_TOKEN>`? (compared as SHA-256 digests, in constant time) */
export function carriesMetricsToken(request: FastifyRequest, token: string | undefined): boolean {
  if (!token) return false;
  const header = request.headers.authorization ?? '';
  const given = createHash('sha256').update(header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '').digest();
  return timingSafeEqual(given, createHash('sha256').update(token).digest());
}
