import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary as commonDictionary } from '@zxcvbn-ts/language-common';
import { dictionary as englishDictionary } from '@zxcvbn-ts/language-en';

/** zxcvbn scores 0–4; under 3 ("safely unguessable": about 10^8 guesses or more) is too weak. */
export const MIN_STRENGTH_SCORE = 3;

/**
 * How much of a password zxcvbn looks at. Its matching grows faster than the length (every
 * substring against every dictionary, and each l33t reading of the password again), and it
 * runs on the event loop: measured on this project's 2-core machine, 256 code points took
 * about 1 s, 100 about 0.4 s, 64 with the l33t limit below under 70 ms. 64 code points are far
 * more than a score of 3 needs, so a long password is judged by its first 64: a strong prefix
 * makes a strong password, and a weak one (64 repeated letters, then anything) is refused.
 */
export const STRENGTH_ANALYSED_CODE_POINTS = 64;

/**
 * How many de-l33ted readings of the password zxcvbn tries (its default, 100, is what made a
 * 64-character password take 0.3 s); the first readings are the full substitutions, which is
 * what common l33t passwords ("p@ssw0rd") use, and the blocklist catches the rest.
 */
const L33T_READINGS = 10;

let factory: ZxcvbnFactory | undefined;

/** Built once (about 0.2 s: it ranks the dictionaries), at module load; see password-policy.ts. */
export function strengthEstimator(): ZxcvbnFactory {
  factory ??= new ZxcvbnFactory({
    dictionary: { ...commonDictionary, ...englishDictionary },
    graphs: adjacencyGraphs,
    l33tMaxSubstitutions: L33T_READINGS,
    maxLength: STRENGTH_ANALYSED_CODE_POINTS * 2, // UTF-16 units; we cut by code points before
  });
  return factory;
}

/**
 * zxcvbn's score (0–4) for the first 64 code points of an NFC password. `userInputs` are the
 * agent's own words (name, email, help desk name), which count as easy to guess.
 */
export function passwordStrengthScore(normalizedPassword: string, userInputs: string[]): number {
  const analysed = [...normalizedPassword].slice(0, STRENGTH_ANALYSED_CODE_POINTS).join('');
  return strengthEstimator().check(analysed, userInputs).score;
}
