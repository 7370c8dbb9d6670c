import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * A key for one purpose of the portal, derived from SECRET_KEY with HMAC, so the raw server
 * secret never signs anything itself and one purpose's key says nothing about another's.
 */
export function deriveKey(secretKey: Buffer, purpose: 'csrf' | 'flash'): Buffer {
  return createHmac('sha256', secretKey).update(`deskpass/portal/${purpose}/v1`).digest();
}

export function sign(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('base64url');
}

/** Constant-time check of a signature made by `sign`. */
export function verifySignature(key: Buffer, value: string, signature: string): boolean {
  const expected = Buffer.from(sign(key, value));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
