import { createRequire } from 'node:module';
import type { ZxcvbnFactory } from '@zxcvbn-ts/core';

/** zxcvbn scores 0–4; under 3 ("safely unguessable": about 10^8 guesses or more) is too weak. */
export const MIN_STRENGTH_SCORE = 3;

/**
 * How much of a password zxcvbn looks at. Its matching grows faster than the length (every
 * substring against every dictionary, and each l33t reading of the password again): measured on
 * this project's 2-core machine, 256 code points took about 1 s, 100 about 0.4 s, 64 with the
 * l33t limit below under 70 ms (on the event loop then; on a thread of its own now, whose queue
 * that would hold up all the same). 64 code points are far more than a score of 3 needs, so a
 * long password is judged by its first 64: a strong prefix makes a strong password, and a weak
 * one (64 repeated letters, then anything) is refused.
 */
export const STRENGTH_ANALYSED_CODE_POINTS = 64;

/**
 * How many de-l33ted readings of the password zxcvbn tries (its default, 100, is what made a
 * 64-character password take 0.3 s); the first readings are the full substitutions, which is
 * what common l33t passwords ("p@ssw0rd") use, and the blocklist catches the rest.
 */
const L33T_READINGS = 10;

const require = createRequire(import.meta.url);

/** Where zxcvbn and its dictionaries are (the strength thread loads them from there too). */
export const ZXCVBN_MODULES = {
  core: require.resolve('@zxcvbn-ts/core'),
  common: require.resolve('@zxcvbn-ts/language-common'),
  english: require.resolve('@zxcvbn-ts/language-en'),
};

/** zxcvbn's options besides its dictionaries and keyboard graphs (common + English). */
export const ZXCVBN_OPTIONS = {
  l33tMaxSubstitutions: L33T_READINGS,
  maxLength: STRENGTH_ANALYSED_CODE_POINTS * 2, // UTF-16 units; we cut by code points before
};

let factory: ZxcvbnFactory | undefined;

/**
 * Built on first use (about 0.2 s: it ranks the dictionaries, which stay in this thread's heap).
 * The server asks the strength thread instead (security/strength-thread.ts); this is its fallback,
 * and what a test or a script asks directly.
 */
function strengthEstimator(): ZxcvbnFactory {
  if (!factory) {
    const { ZxcvbnFactory: Factory } = require(ZXCVBN_MODULES.core) as typeof import('@zxcvbn-ts/core');
    const common = require(ZXCVBN_MODULES.common) as typeof import('@zxcvbn-ts/language-common');
    const english = require(ZXCVBN_MODULES.english) as typeof import('@zxcvbn-ts/language-en');
    factory = new Factory({ ...ZXCVBN_OPTIONS, dictionary: { ...common.dictionary, ...english.dictionary }, graphs: common.adjacencyGraphs });
  }
  return factory;
}

/** Whether this thread has loaded zxcvbn's dictionaries (the server's event loop never should). */
export function strengthDictionariesLoadedHere(): boolean {
  return factory !== undefined;
}

/** What zxcvbn is shown of an NFC password: its first 64 code points. */
export function strengthAnalysed(normalizedPassword: string): string {
  return [...normalizedPassword].slice(0, STRENGTH_ANALYSED_CODE_POINTS).join('');
}

/**
 * zxcvbn's score (0–4) for the first 64 code points of an NFC password, on this thread.
 * `userInputs` are the agent's own words (name, email, help desk name), which count as easy to guess.
 */
export function passwordStrengthScore(normalizedPassword: string, userInputs: string[]): number {
  return strengthEstimator().check(strengthAnalysed(normalizedPassword), userInputs).score;
}
