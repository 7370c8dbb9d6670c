import type { Executor } from './db.js';
import type { AgentSearchGramsTable, AgentSearchTermsTable } from './schema.js';

/**
 * The agent search folds case and accents on both sides, the same way: "Muller", "muller" and
 * "MÜLLER" all find "Müller", "jose" finds "José", "strasse" finds "Straße" (ß is "ss"; so
 * "straße" finds "Strasse" too). Compatibility forms fold as well (full-width letters, "ﬁ").
 * Whitespace runs become one space.
 */
export function foldForSearch(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[ßæœøđðþłı]/g, (c) => FOLDED_LETTERS[c] ?? c)
    // "O’Brien" typed as "o'brien": every apostrophe-like mark is one apostrophe
    .replace(/[\u2018\u2019\u02bc\u2032`\u00b4]/g, "'")
    .replace(/\s+/g, ' ')
    .trim();
}

/** Letters that NFKD does not take apart into a base letter and marks. */
const FOLDED_LETTERS: Record<string, string> = { ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', đ: 'd', ð: 'd', þ: 'th', ł: 'l', ı: 'i' };

/** The length from which a search matches inside names and emails (by grams); shorter: word starts. */
export const GRAM_LENGTH = 3;

/** The distinct 3-character grams of a folded text, in code points. */
export function gramsOf(folded: string): string[] {
  const chars = [...folded];
  const grams = new Set<string>();
  for (let i = 0; i + GRAM_LENGTH <= chars.length; i++) grams.add(chars.slice(i, i + GRAM_LENGTH).join(''));
  return [...grams];
}

export interface SearchableAgent {
  accountId: string;
  agentId: string;
  emailNormalized: string;
  /** foldForSearch of the name and of the email */
  nameFolded: string;
  emailFolded: string;
}

/**
 * Short searches (one or two characters) match a prefix of the email or of any word of the name,
 * as a range on an index: one row per place in the folded name where a word starts, to the end
 * of the name ("mary ann smith", "ann smith", "smith"), and one for the folded email.
 */
export function agentSearchTermRows(agent: SearchableAgent): AgentSearchTermsTable[] {
  const name = agent.nameFolded;
  const starts = new Set<string>([name, agent.emailFolded]);
  for (let i = name.indexOf(' '); i !== -1; i = name.indexOf(' ', i + 1)) {
    const rest = name.slice(i + 1);
    if (rest !== '' && !rest.startsWith(' ')) starts.add(rest);
  }
  starts.delete('');
  return [...starts].map((term) => ({ account_id: agent.accountId, agent_id: agent.agentId, term, email_normalized: agent.emailNormalized }));
}

/**
 * Longer searches match anywhere inside the folded name or email: every agent holding the text
 * holds each of its 3-character grams, so the rows of its rarest gram are candidates (in email
 * order on the index), which the agent row then verifies.
 */
export function agentSearchGramRows(agent: SearchableAgent): AgentSearchGramsTable[] {
  const grams = new Set([...gramsOf(agent.nameFolded), ...gramsOf(agent.emailFolded)]);
  return [...grams].map((gram) => ({ account_id: agent.accountId, agent_id: agent.agentId, gram, email_normalized: agent.emailNormalized }));
}

/** Replaces the agent's search rows (at creation, and whenever the name or the email changes), in the caller's transaction. */
export async function writeAgentSearchTerms(db: Executor, agent: SearchableAgent): Promise<void> {
  await db.deleteFrom('agent_search_terms').where('agent_id', '=', agent.agentId).execute();
  await db.deleteFrom('agent_search_grams').where('agent_id', '=', agent.agentId).execute();
  const terms = agentSearchTermRows(agent);
  if (terms.length > 0) await db.insertInto('agent_search_terms').values(terms).execute();
  const grams = agentSearchGramRows(agent);
  // 4 values a row: well under SQLite's 32,766 and PostgreSQL's 65,535 parameters per statement.
  for (let i = 0; i < grams.length; i += 1000) await db.insertInto('agent_search_grams').values(grams.slice(i, i + 1000)).execute();
}

/**
 * The smallest string above every string that starts with `prefix`, in code-point order — which
 * is UTF-8 byte order, SQLite's BINARY and PostgreSQL's "C" collation. So `x >= prefix and
 * x < prefixUpperBound(prefix)` is "x starts with prefix", as a range an index can serve (a LIKE
 * is case-insensitive in SQLite and collation-bound in PostgreSQL, and uses no plain index).
 * Null when there is no such string (only U+10FFFF characters).
 */
export function prefixUpperBound(prefix: string): string | null {
  const codePoints = [...prefix].map((c) => c.codePointAt(0)!);
  while (codePoints.length > 0) {
    let last = codePoints.pop()! + 1;
    if (last >= 0xd800 && last <= 0xdfff) last = 0xe000; // surrogates are not characters
    if (last <= 0x10ffff) return String.fromCodePoint(...codePoints, last);
  }
  return null;
}
