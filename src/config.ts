import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { isLoopbackHost } from './domain/apps.js';

/** Argon2id cost: memory in KiB, iterations, lanes. */
export interface Argon2Params {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
}

export const OWASP_ARGON2ID_MINIMUM: Argon2Params = { memoryKiB: 19456, iterations: 2, parallelism: 1 };

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  /** `sqlite:PATH` or `postgres://…` */
  databaseUrl: string;
  /** unset: messages are written as .eml files under mailDir */
  smtpUrl: string | undefined;
  mailDir: string;
  mailFrom: string;
  redisUrl: string | undefined;
  rateLimits: boolean;
  /** protects what waits in the outbox; 32+ bytes */
  secretKey: Buffer;
  argon2: Argon2Params;
  logLevel: string;
  /** METRICS_TOKEN: GET /metrics answers Prometheus text to `Authorization: Bearer <it>`; unset, there is no /metrics */
  metricsToken?: string;
  /**
   * TRUST_PROXY: the reverse proxies whose X-Forwarded-For names the client (addresses or
   * CIDR ranges, comma-separated, or a number of hops); unset, the peer address is the client.
   */
  trustProxy?: string[] | number;
}

export class ConfigError extends Error {}

const DATA_DIR = './data';
/** Where the secret key lives when SECRET_KEY is not set (made at the first start). */
export const KEY_FILE = `${DATA_DIR}/secret.key`;

/**
 * A URL as it may be shown (errors, logs): the password of `scheme://user:password@host` and
 * anything that looks like one is replaced by `***`.
 */
export function redactCredentials(url: string): string {
  return url.replace(/(\/\/[^/:@\s]*):[^@\s]*@/g, '$1:***@').replace(/([?&](?:password|pass|pwd)=)[^&\s]*/gi, '$1***');
}

function parseDatabaseUrl(raw: string): string {
  if (raw.startsWith('sqlite:')) return raw;
  if (/^postgres(ql)?:\/\//.test(raw)) {
    try {
      new URL(raw);
      return raw;
    } catch {
      throw new ConfigError(`DATABASE_URL is not a valid postgres:// URL: "${redactCredentials(raw)}"`);
    }
  }
  throw new ConfigError(`DATABASE_URL must be sqlite:PATH or postgres://…, got "${redactCredentials(raw)}"`);
}

/** Reads the environment once, at start; throws ConfigError with a sentence a person can act on. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = parsePort(env.PORT ?? '3000');
  const host = env.HOST ?? '127.0.0.1';
  const publicUrl = parsePublicUrl(env.PUBLIC_URL ?? `http://localhost:${port}`);
  const databaseUrl = parseDatabaseUrl(env.DATABASE_URL ?? `sqlite:${DATA_DIR}/deskpass.sqlite`);
  const smtpUrl = env.SMTP_URL || undefined;
  if (smtpUrl && !/^smtps?:\/\//.test(smtpUrl)) {
    throw new ConfigError('SMTP_URL must start with smtp:// or smtps://');
  }
  const rateLimits = (env.RATE_LIMITS ?? 'on').toLowerCase();
  if (rateLimits !== 'on' && rateLimits !== 'off') throw new ConfigError('RATE_LIMITS must be on or off');
  if (databaseUrl.startsWith('postgres') && !env.SECRET_KEY) {
    throw new ConfigError('SECRET_KEY is required with PostgreSQL and must be the same on every instance');
  }
  return {
    port,
    host,
    publicUrl,
    databaseUrl,
    smtpUrl,
    mailDir: `${DATA_DIR}/mail`,
    mailFrom: env.MAIL_FROM ?? 'Deskpass <no-reply@localhost>',
    redisUrl: env.REDIS_URL || undefined,
    rateLimits: rateLimits === 'on',
    secretKey: env.SECRET_KEY ? parseSecretKey(env.SECRET_KEY) : loadOrCreateSecretKey(KEY_FILE),
    argon2: parseArgon2(env.ARGON2ID ?? 'm=19456,t=2,p=1'),
    logLevel: env.LOG_LEVEL ?? 'info',
    metricsToken: parseMetricsToken(env.METRICS_TOKEN),
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
  };
}

function parseTrustProxy(raw: string | undefined): string[] | number | undefined {
  if (raw === undefined || raw.trim() === '' || raw.trim().toLowerCase() === 'false') return undefined;
  const value = raw.trim();
  if (/^\d{1,3}$/.test(value)) {
    const hops = Number(value);
    if (hops < 1 || hops > 5) throw new ConfigError(`TRUST_PROXY=${value}: a hop count is 1–5 (the proxies in front of the server); more would trust what any client writes into X-Forwarded-For`);
    return hops;
  }
  if (value.toLowerCase() === 'true') {
    throw new ConfigError('TRUST_PROXY=true would let any client choose its own address (and its rate limits): name the proxies, e.g. TRUST_PROXY=127.0.0.1 or TRUST_PROXY=10.0.0.0/8, or a number of hops');
  }
  const entries = value.split(',').map((entry) => entry.trim()).filter(Boolean);
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address);
    const ok = extra === undefined && family !== 0 && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)));
    if (!ok) throw new ConfigError(`TRUST_PROXY: "${entry}" is not an IP address or CIDR range (e.g. 127.0.0.1, 10.0.0.0/8, ::1)`);
    // 0.0.0.0/0 is TRUST_PROXY=true by another name: a range as wide as a /8 (or a /16 of IPv6) is the limit
    if (bits !== undefined && Number(bits) < (family === 4 ? 8 : 16)) {
      throw new ConfigError(`TRUST_PROXY: "${entry}" is too wide: it would let most of the internet choose its own address; name the proxies' own addresses or subnet`);
    }
  }
  return entries;
}

function parseMetricsToken(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  if (raw.length < 32 || /\s/.test(raw)) throw new ConfigError('METRICS_TOKEN must be at least 32 characters without spaces (e.g. openssl rand -hex 32)');
  return raw;
}

function parsePort(raw: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT must be 0–65535, got "${raw}"`);
  return port;
}

function parsePublicUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`PUBLIC_URL is not a URL: "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('PUBLIC_URL must be http(s)');
  // PUBLIC_URL is the OpenID Connect issuer: help desks trust what it signs only over https.
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new ConfigError(`PUBLIC_URL must be https:// (http:// is for localhost and loopback addresses only), got "${raw}"`);
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

export function parseArgon2(raw: string): Argon2Params {
  const parts = Object.fromEntries(
    raw.split(',').map((part) => {
      const [key, value] = part.split('=').map((s) => s.trim());
      return [key, Number(value)];
    }),
  );
  const params = { memoryKiB: parts.m, iterations: parts.t, parallelism: parts.p };
  const valid =
    Number.isInteger(params.memoryKiB) &&
    Number.isInteger(params.iterations) &&
    Number.isInteger(params.parallelism) &&
    params.parallelism >= 1 &&
    params.parallelism <= 16 &&
    params.iterations >= 1 &&
    params.memoryKiB >= 8 * params.parallelism;
  if (!valid) throw new ConfigError(`ARGON2ID must look like m=19456,t=2,p=1, got "${raw}"`);
  return params;
}

export function isBelowOwaspMinimum(params: Argon2Params): boolean {
  return params.memoryKiB < OWASP_ARGON2ID_MINIMUM.memoryKiB || params.iterations < OWASP_ARGON2ID_MINIMUM.iterations;
}

function parseSecretKey(raw: string): Buffer {
  const key = /^[0-9a-f]+$/i.test(raw) && raw.length % 2 === 0 ? Buffer.from(raw, 'hex') : Buffer.from(raw, 'utf8');
  if (key.length < 32) throw new ConfigError('SECRET_KEY must hold at least 32 bytes (64 hex characters)');
  return key;
}

/** The embedded default: a key generated once, readable only by the server's user. */
function loadOrCreateSecretKey(path: string): Buffer {
  const file = resolve(path);
  if (existsSync(file)) return parseSecretKey(readFileSync(file, 'utf8').trim());
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return parseSecretKey(readFileSync(file, 'utf8').trim());
}
