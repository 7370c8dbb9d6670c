import { randomBytes } from 'node:crypto';
import { Algorithm, hash, verify } from '@node-rs/argon2';
import type { Argon2Params } from '../config.js';
import { normalizePassword } from '../domain/password-policy.js';

/** Hashing and verification of passwords; async and off the event loop (libuv's thread pool). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(storedHash: string, password: string): Promise<boolean>;
  /** true when the stored hash is weaker than the configured cost: rehash at the next sign-in */
  needsRehash(storedHash: string): boolean;
  /**
   * A hash of no one's password, made with the configured cost: verifying against it when the
   * address is unknown (or locked) makes that path cost exactly what a real verification costs.
   */
  dummyHash(): Promise<string>;
}

const ARGON2_PARAMS = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/;

export function createArgon2Hasher(params: Argon2Params): PasswordHasher {
  const options = {
    algorithm: Algorithm.Argon2id,
    memoryCost: params.memoryKiB,
    timeCost: params.iterations,
    parallelism: params.parallelism,
  };
  let dummyHash: Promise<string> | undefined;

  return {
    hash: (password) => hash(normalizePassword(password), options),
    async verify(storedHash, password) {
      if (!storedHash.startsWith('$argon2')) return false;
      try {
        return await verify(storedHash, normalizePassword(password));
      } catch {
        return false;
      }
    },
    needsRehash(storedHash) {
      const match = ARGON2_PARAMS.exec(storedHash);
      if (!match) return true;
      const [m, t, p] = match.slice(1).map(Number);
      return m < params.memoryKiB || t < params.iterations || p !== params.parallelism;
    },
    dummyHash() {
      dummyHash ??= hash(randomBytes(32).toString('base64url'), options);
      return dummyHash;
    },
  };
}
