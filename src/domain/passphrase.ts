import { webcrypto } from 'node:crypto';
import type { PasswordPolicySettings } from './account-settings.js';
import { EFF_LONG_WORDS } from './eff-long-words.js';

/**
 * Readable passphrases for "Generate" on an administrator's set-password forms (issue 12,
 * item 14): words that can be read out on a phone call, joined by "-". The words are EFF's
 * long list (7,772 of them, chosen to be easy to spell and free of offensive words), so each
 * carries 12.9 bits: four are 51 bits, five 64. Each word is a uniform choice from
 * crypto.getRandomValues by rejection sampling (no modulo bias).
 */
export const PASSPHRASE_WORDS = 4;

/** A uniform integer in [0, n), n ≤ 2^32, from the platform's CSPRNG: draws over the largest multiple of n are redrawn. */
export function randomBelow(n: number): number {
  const limit = Math.floor(2 ** 32 / n) * n;
  const draw = new Uint32Array(1);
  for (;;) {
    webcrypto.getRandomValues(draw);
    if (draw[0] < limit) return draw[0] % n;
  }
}

/**
 * "violin-stardom-unpaved-tiger": four random words, more while shorter than the policy's
 * minimum; a digit after one word when the policy requires digits, one word capitalised when it
 * requires an uppercase letter ("-" is the symbol a symbol rule asks for). The caller still checks
 * it against the whole policy (blocklist, the agent's personal information) and draws again.
 */
export function generatePassphrase(policy: Pick<PasswordPolicySettings, 'minLength' | 'requireUppercase' | 'requireDigit'>): string {
  const picked: string[] = [];
  while (picked.length < PASSPHRASE_WORDS || picked.join('-').length < policy.minLength) picked.push(EFF_LONG_WORDS[randomBelow(EFF_LONG_WORDS.length)]);
  if (policy.requireDigit) {
    const at = randomBelow(picked.length);
    picked[at] = `${picked[at]}${randomBelow(10)}`;
  }
  if (policy.requireUppercase) {
    const at = randomBelow(picked.length);
    picked[at] = picked[at].charAt(0).toUpperCase() + picked[at].slice(1);
  }
  return picked.join('-');
}
