import { createHash, createHmac, hash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

/** 256 random bits, base64url: the shape of every session and link token. */
export function newRandomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Tokens are stored and looked up only as their SHA-256. */
export function hashToken(token: string): string {
  return hash('sha256', token, 'hex'); // the one-shot form: no Hash object per request
}

/**
 * The emailed token of a reset-link row: HMAC(SECRET_KEY, row id). The outbox then holds only
 * the row id, and only a holder of the server secret can turn it back into a working link.
 */
export function deriveLinkToken(secretKey: Buffer, tokenId: string): string {
  return createHmac('sha256', secretKey).update(`deskpass/reset-link/v1:${tokenId}`).digest('base64url');
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** Cheap pre-check before any lookup: a token is 43 base64url characters. */
export function isWellFormedToken(token: string): boolean {
  return TOKEN_SHAPE.test(token);
}

export function newId(): string {
  return randomUUID();
}

/** Constant-time comparison of two secrets of any length. */
export function secretsEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
