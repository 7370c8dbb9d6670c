import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Secrets the server must read back (the provider's signing keys, authenticator secrets) are
 * stored sealed: AES-256-GCM under a key derived from SECRET_KEY for one purpose, bound to the
 * row that holds them (`context`, the GCM additional data), so a copy of the database alone
 * opens nothing and a sealed value moved to another row does not open either.
 */
export function deriveKey(secretKey: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), purpose, 32));
}

export function seal(secretKey: Buffer, purpose: string, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(secretKey, purpose), iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** The plaintext, or null when the value is not in the known format or does not open under this key and context. */
export function unseal(secretKey: Buffer, purpose: string, sealed: string, context: string): string | null {
  const [version, iv, body, tag] = sealed.split('.');
  if (version !== 'v1' || !iv || !body || !tag) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(secretKey, purpose), Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

/**
 * What is stored of a secret the server only ever compares (recovery codes, second-step
 * challenges, passkey ceremony challenges): an HMAC under a key derived from SECRET_KEY, so a
 * copy of the database cannot be searched offline for a code.
 */
export function keyedHash(secretKey: Buffer, purpose: string, value: string): string {
  return createHmac('sha256', deriveKey(secretKey, purpose)).update(value, 'utf8').digest('hex');
}
