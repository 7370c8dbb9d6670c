import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import { seal, unseal } from '../security/sealed.js';
import type { Executor } from '../store/db.js';
import { iso } from '../store/convert.js';
import { addMs, MS_PER_DAY } from '../domain/clock.js';
import { ConfigError } from '../config.js';

/**
 * The provider's signing keys live in the store, shared by every instance, each private JWK
 * encrypted (AES-256-GCM) under a key derived from SECRET_KEY: a copy of the database alone
 * cannot sign tokens. The newest key signs; a key retired by `deskpass keys rotate` stays in the
 * JWKS for KEY_RETENTION_MS, longer than anything it signed lives (ID tokens: an hour).
 */
export const KEY_RETENTION_MS = 2 * MS_PER_DAY;
const ALG = 'RS256';

const PURPOSE = 'deskpass/signing-keys/v1';

export function encryptJwk(secretKey: Buffer, jwk: JsonWebKey, kid: string): string {
  return seal(secretKey, PURPOSE, JSON.stringify(jwk), kid);
}

export function decryptJwk(secretKey: Buffer, sealed: string, kid: string): JsonWebKey {
  if (!sealed.startsWith('v1.')) throw new Error(`signing key ${kid} is not in a known format`);
  const opened = unseal(secretKey, PURPOSE, sealed, kid);
  if (opened === null) {
    throw new ConfigError(`the OpenID Connect signing key ${kid} in the database cannot be decrypted: SECRET_KEY is not the one it was stored under (every instance must use the same SECRET_KEY)`);
  }
  return JSON.parse(opened) as JsonWebKey;
}

function newSigningKey(): { kid: string; jwk: JsonWebKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomBytes(12).toString('base64url');
  return { kid, jwk: { ...privateKey.export({ format: 'jwk' }), kid, alg: ALG, use: 'sig' } };
}

async function insertKey(db: Executor, secretKey: Buffer, now: Date): Promise<string> {
  const { kid, jwk } = newSigningKey();
  await db.insertInto('signing_keys').values({ kid, alg: ALG, encrypted_jwk: encryptJwk(secretKey, jwk, kid), created_at: iso(now), retired_at: null }).execute();
  return kid;
}

/** A first key when the store has none (the first start). Two instances starting at once may both add one: the newest signs, both are published. */
export async function ensureSigningKey(db: Executor, secretKey: Buffer, now: Date): Promise<void> {
  const any = await db.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).limit(1).executeTakeFirst();
  if (!any) await insertKey(db, secretKey, now);
}

/** `deskpass keys rotate`: a new key signs from now on; the others are retired and stay published for KEY_RETENTION_MS. */
export async function rotateSigningKey(db: Executor, secretKey: Buffer, now: Date): Promise<{ kid: string; retired: string[] }> {
  const retired = await db.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).execute();
  await db.updateTable('signing_keys').set({ retired_at: iso(now) }).where('retired_at', 'is', null).execute();
  const kid = await insertKey(db, secretKey, now);
  return { kid, retired: retired.map((r) => r.kid) };
}

/** The keys to publish, the signing one (the newest live key) first; keys retired past the retention are deleted. */
export async function loadSigningKeys(db: Executor, secretKey: Buffer, now: Date): Promise<{ keys: JsonWebKey[]; version: string }> {
  await db.deleteFrom('signing_keys').where('retired_at', '<=', iso(addMs(now, -KEY_RETENTION_MS))).execute();
  const rows = await db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').orderBy('kid', 'desc').execute();
  const live = rows.filter((r) => r.retired_at === null);
  const ordered = [...live, ...rows.filter((r) => r.retired_at !== null)];
  return { keys: ordered.map((r) => decryptJwk(secretKey, r.encrypted_jwk, r.kid)), version: keysVersion(rows) };
}

/** Changes whenever a key is added or retired: instances poll it to pick up a rotation. */
export async function signingKeysVersion(db: Executor): Promise<string> {
  const rows = await db.selectFrom('signing_keys').select(['kid', 'retired_at']).orderBy('kid').execute();
  return keysVersion(rows);
}

function keysVersion(rows: { kid: string; retired_at: string | null }[]): string {
  return [...rows].sort((a, b) => a.kid.localeCompare(b.kid)).map((r) => `${r.kid}:${r.retired_at ?? ''}`).join(',');
}
