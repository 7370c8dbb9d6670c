import { randomBytes } from 'node:crypto';
import { Algorithm } from '@node-rs/argon2';
import type { Argon2Params } from '../config.js';
import { isWellFormedPassword, normalizePassword } from '../domain/password-policy.js';
import { createArgon2Pool, type HashJobListener, type HashLoad } from './argon2-pool.js';

/** Hashing and verification of passwords; async, off the event loop, one per core at a time (argon2-pool.ts). */
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
  /** Ends the hashing threads (idle ones never keep the process alive anyway). */
  close?(): Promise<void>;
  /** the hashing threads' queue, for /metrics */
  load?(): HashLoad;
  observe?(listener: HashJobListener): () => void;
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
  const pool = createArgon2Pool();

  return {
    // every flow refuses a broken password before it hashes one (the policy's invalid_character)
    hash: (password) => (isWellFormedPassword(password) ? pool.hash(normalizePassword(password), options) : Promise.reject(new Error('refusing to hash a password with a lone surrogate'))),
    async verify(storedHash, password) {
      if (!storedHash.startsWith('$argon2')) return false;
      // A lone surrogate would reach argon2 as U+FFFD and match whatever stands there: the same
      // work is done (no answer comes sooner), and the answer is no.
      const wellFormed = isWellFormedPassword(password);
      try {
        const matches = await pool.verify(storedHash, normalizePassword(password));
        return matches && wellFormed;
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
      dummyHash ??= pool.hash(randomBytes(32).toString('base64url'), options);
      return dummyHash;
    },
    close: () => pool.close(),
    load: () => pool.load(),
    observe: (listener) => pool.observe(listener),
  };
}
