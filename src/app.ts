import Fastify, { type FastifyBaseLogger, type FastifyContextConfig, type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import type { DestinationStream, Logger } from 'pino';
import { isBelowOwaspMinimum, type Config } from './config.js';
import { systemClock, type Clock } from './domain/clock.js';
import type { FlowDeps } from './flows/deps.js';
import { SetupLink } from './flows/setup.js';
import { sweepExpiredRecords } from './flows/maintenance.js';
import { createArgon2Hasher, type PasswordHasher } from './security/password-hasher.js';
import { changesOf, migrateToLatest, openDatabase, type Db, type QueryObserver } from './store/db.js';
import { cachedSessionHolders } from './store/sessions.repo.js';
import { cachedOnlyAccount } from './store/accounts.repo.js';
import { storeEchoesPlugin } from './http/plugins/store-echoes.js';
import { checkpointOffTheEventLoop } from './store/sqlite-checkpoints.js';
import { assertStoreUsable } from './store/store-check.js';
import { Metrics } from './http/plugins/metrics.js';
import { OutboxWorker, type Deliverer, type MailPreparer, type OutboxWorkerOptions } from './mail/outbox-worker.js';
import { RESET_REQUEST, resetRequestPreparer } from './flows/forgot-password.js';
import { LOCK_NOTICE_REQUEST, lockNoticePreparer } from './flows/login.js';
import { createMailTransport, type MailTransport } from './mail/transport.js';
import { rateLimitsPlugin } from './http/plugins/rate-limits.js';
import { rejectNulPlugin } from './http/plugins/reject-nul.js';
import { responseHeadersPlugin } from './http/plugins/response-headers.js';
import { databaseCounters, failoverCounters, redisCounters, type RateCounters } from './security/rate-counters.js';
import { strengthThread } from './security/strength-thread.js';
import { answerClientError, answerFrameworkError, installErrorHandlers } from './http/errors.js';
import { createLogger, OneLinePerRequest } from './http/logging.js';
import { healthRoutes } from './http/api/health-routes.js';
import { publicRoutes } from './http/api/public-routes.js';
import { authenticatedRoutes } from './http/api/authenticated-routes.js';
import { ProviderHost } from './oidc/host.js';
import { providerMount } from './oidc/mount.js';
import { backchannelLogoutDeliverer, backchannelLogoutGiveUp } from './oidc/logout-delivery.js';
import { BACKCHANNEL_LOGOUT } from './store/app-sign-ins.repo.js';

declare module 'fastify' {
  interface FastifyInstance {
    deskpass: {
      deps: FlowDeps;
      config: Config;
      setupLink: SetupLink;
      mailWorker: OutboxWorker;
      cookieName: string;
      /** every route as it was added, with its config (which gate it is behind, what it allows) */
      routes: RouteRecord[];
      /** the OpenID Connect provider apps sign agents in through */
      oidc: ProviderHost;
    };
  }
}

export interface RouteRecord {
  method: string;
  url: string;
  config: FastifyContextConfig;
}

export interface AppOptions {
  config: Config;
  /** tests pass a clock they can move */
  clock?: Clock;
  hasher?: PasswordHasher;
  /** where log lines go (tests capture them); default stdout */
  logStream?: DestinationStream;
  logger?: Logger;
  mailTransport?: MailTransport;
  /** default true; tests of the outbox itself may drive the worker by hand */
  startMailWorker?: boolean;
  /** sees every SQL statement (tests compare the work of two paths) */
  observeQuery?: QueryObserver;
  /** how often expired links and sessions are swept; default hourly, 0 turns it off */
  sweepIntervalMs?: number;
  /** how often the provider looks for rotated signing keys; default 30 s, 0 turns it off */
  keysPollIntervalMs?: number;
  /** tests of slow clients shorten these (see CLIENT_TIMEOUTS) */
  clientTimeouts?: ClientTimeouts;
}

/** How long a client may take, in ms: a slow or hostile client holds a socket, never the server. */
export interface ClientTimeouts {
  /** to send the request line and headers (slowloris); checked every `checkEveryMs` */
  headersMs: number;
  /** to send the whole request, body included (a slow POST) */
  requestMs: number;
  /** a socket with no traffic at all */
  idleMs: number;
  /** a kept-alive connection between requests */
  keepAliveMs: number;
  checkEveryMs: number;
}

export const CLIENT_TIMEOUTS: ClientTimeouts = { headersMs: 10_000, requestMs: 30_000, idleMs: 60_000, keepAliveMs: 65_000, checkEveryMs: 2_000 };

export const BODY_LIMIT_BYTES = 64 * 1024;

/** The whole server as one Fastify instance, built the same way by `serve` and by the tests. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options;
  const logger = options.logger ?? createLogger(config.logLevel, options.logStream);
  if (isBelowOwaspMinimum(config.argon2)) {
    logger.warn({ argon2: config.argon2 }, 'ARGON2ID is below the OWASP minimum (m=19456,t=2,p=1): acceptable for tests only, never in production');
  }
  if (!config.rateLimits) logger.warn('RATE_LIMITS=off: for load tests on a closed machine only');

  const db: Db = openDatabase(config.databaseUrl, options.observeQuery);
  try {
    await assertStoreUsable(db, config.databaseUrl);
    await migrateToLatest(db);
  } catch (error) {
    await db.destroy(); // a pool left open would keep the process (or a test) alive
    throw error;
  }
  const checkpoints = config.databaseUrl.startsWith('sqlite:') && config.databaseUrl !== 'sqlite::memory:'
    ? await checkpointOffTheEventLoop(db, config.databaseUrl.slice('sqlite:'.length), (message) => logger.warn({ err: message }, 'SQLite checkpoint failed'))
    : undefined;
  const clock = options.clock ?? systemClock;
  const transport = options.mailTransport ?? createMailTransport({ smtpUrl: config.smtpUrl, mailDir: config.mailDir });
  const preparers: Record<string, MailPreparer> = {};
  const deliverers: Record<string, Deliverer> = {};
  const giveUp: NonNullable<OutboxWorkerOptions['giveUp']> = {};
  // A hasher the app made is the app's to close (its hashing threads); one a test passes is not.
  const ownHasher = options.hasher ? undefined : createArgon2Hasher(config.argon2);
  // zxcvbn's dictionaries load on their thread now, so the first password checked does not wait;
  // the thread is the process's (it outlives this app, idle threads keep no process alive).
  strengthThread.warmUp();
  const metrics = new Metrics({ db, clock, hasher: options.hasher ?? ownHasher! });
  const mailWorker = new OutboxWorker({
    db,
    transport,
    clock,
    secretKey: config.secretKey,
    publicUrl: config.publicUrl,
    mailFrom: config.mailFrom,
    logger: logger.child({ component: 'outbox' }),
    preparers,
    deliverers,
    giveUp,
    onDelivery: metrics.observeDelivery,
  });
  // Session holders are served from memory; on PostgreSQL, other instances' commits reach this
  // one on a listening connection (until it is up, and whenever it is down, nothing is cached).
  const changes = changesOf(db);
  await changes.listen();
  const sessionHolders = cachedSessionHolders(db);
  metrics.observeSessionCache(sessionHolders, changes);
  const deps: FlowDeps = {
    db,
    sessionHolders,
    onlyAccount: cachedOnlyAccount(db),
    clock,
    hasher: options.hasher ?? ownHasher!,
    publicUrl: config.publicUrl,
    secretKey: config.secretKey,
    notifyMailQueued: () => mailWorker.kick(),
  };
  preparers[RESET_REQUEST] = resetRequestPreparer(deps);
  preparers[LOCK_NOTICE_REQUEST] = lockNoticePreparer(deps);
  const secure = config.publicUrl.startsWith('https:');
  const cookieName = secure ? '__Host-deskpass_session' : 'deskpass_session';
  const oidc = await ProviderHost.start({ deps, issuer: config.publicUrl, cookieName, logger: logger.child({ component: 'oidc' }) as Logger });
  deliverers[BACKCHANNEL_LOGOUT] = backchannelLogoutDeliverer(deps, oidc);
  giveUp[BACKCHANNEL_LOGOUT] = backchannelLogoutGiveUp(deps);

  const timeouts = options.clientTimeouts ?? CLIENT_TIMEOUTS;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Node's own defaults let a client take 60 s for its headers, checked every 30 s, and 300 s
    // for a request: a few hundred slow sockets then sit for minutes. These answer 408 and close.
    http: { headersTimeout: timeouts.headersMs, requestTimeout: timeouts.requestMs, connectionsCheckingInterval: timeouts.checkEveryMs },
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    // Off unless TRUST_PROXY names the proxies: request.ip (rate limits, lockout doors, the
    // audit log) is then the client's address from X-Forwarded-For, as the proxy saw it.
    trustProxy: typeof config.trustProxy === 'number' ? trustHops(config.trustProxy) : (config.trustProxy ?? false),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: true, allErrors: false } },
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
    logController: new OneLinePerRequest(logger as Logger),
  });
  // The API takes JSON only: without this, Fastify's built-in text/plain parser would hand a
  // string to the body schema (400) where the contract says 415 unsupported_media_type.
  app.removeContentTypeParser('text/plain');
  const routes: RouteRecord[] = [];
  app.decorate('deskpass', { deps, config, setupLink: new SetupLink(), mailWorker, cookieName, routes, oidc });
  // Read after every plugin's own onRoute hooks (the gates mark their routes), at ready.
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, get config() { return (route.config ?? {}) as FastifyContextConfig; } });
  });

  await app.register(storeEchoesPlugin); // first: every later hook runs inside the request's list of echoes
  installErrorHandlers(app);
  metrics.install(app, config.metricsToken);
  const counters = config.redisUrl ? await sharedCounters(config.redisUrl, databaseCounters(db, clock), logger, metrics) : databaseCounters(db, clock);
  await app.register(rateLimitsPlugin, { counters, enabled: config.rateLimits });
  await app.register(rejectNulPlugin);
  await app.register(responseHeadersPlugin);
  await app.register(cookie);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Deskpass API', version: '1.0.0', description: 'Agent accounts and passwords for a help desk.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, cookie: { type: 'apiKey', in: 'cookie', name: 'deskpass_session' } } },
    },
  });
  await app.register(healthRoutes);
  await app.register(publicRoutes, { prefix: '/api/v1' });
  await app.register(authenticatedRoutes, { prefix: '/api/v1' });
  await app.register(import('./http/web/index.js')); // the agent portal: pages on the same flows
  await app.register(providerMount(oidc, config.publicUrl)); // OpenID Connect: discovery and /oidc/*
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  if (options.startMailWorker !== false) {
    app.addHook('onReady', async () => mailWorker.start());
  }
  // Dead links (after their 7 days) and expired sessions are swept hourly, in batches.
  let sweeper: NodeJS.Timeout | undefined;
  if (options.sweepIntervalMs !== 0) {
    const sweep = () => sweepExpiredRecords(deps).catch((error) => app.log.error({ err: error }, 'sweep failed'));
    app.addHook('onReady', async () => {
      sweeper = setInterval(sweep, options.sweepIntervalMs ?? 3_600_000);
      sweeper.unref();
      void sweep();
    });
  }
  if (options.keysPollIntervalMs !== 0) oidc.pollKeys(options.keysPollIntervalMs ?? 30_000);
  app.addHook('onClose', async () => {
    clearInterval(sweeper);
    oidc.stop();
    await mailWorker.stop();
    await transport.close();
    await counters.close();
    await ownHasher?.close?.();
    await changes.close();
    await checkpoints?.stop();
    await db.destroy();
  });
  return app;
}

/**
 * Rate-limit counters in Redis, falling back to the store's while Redis is away (a warning in
 * the log and `deskpass_redis_up 0` in /metrics), back to Redis when it returns. At start the
 * first connection gets 2 s: a server whose Redis is down still starts, on the store's counters.
 */
async function sharedCounters(redisUrl: string, fallback: RateCounters, logger: Logger, metrics: Metrics): Promise<RateCounters> {
  const redis = redisCounters(redisUrl);
  const counters = failoverCounters(redis, fallback, {
    down: (error) => {
      metrics.redisUp(false);
      logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'Redis is unavailable: rate limits count in the database until it returns');
    },
    up: () => {
      metrics.redisUp(true);
      logger.info('Redis is back: rate limits count in Redis again');
    },
    fellBack: () => metrics.rateLimitFallback(),
  });
  if (await redis.connected(2000)) metrics.redisUp(true);
  else logger.warn('Redis did not answer within 2 s of start: rate limits count in the database until it does');
  return counters;
}

/** TRUST_PROXY=N: the N nearest hops are proxies (proxy-addr's hop count, as a function Fastify's types accept). */
function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}
