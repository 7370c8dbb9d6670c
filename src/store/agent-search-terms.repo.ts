import type { Executor } from './db.js';
import type { AgentSearchTermsTable } from './schema.js';

/**
 * The agent search matches a prefix of the email or of any word of the name. The email prefix
 * is a range on the agents' own (account_id, email_normalized) index; name words live here, one
 * row per place in the name where a word starts, to the end of the name ("mary ann smith",
 * "ann smith", "smith"), so that a search for "ann sm" still finds her, as `LIKE '% ann sm%'` did,
 * but as a range on an index instead of a scan of every agent.
 */
export function agentSearchTermRows(agent: { accountId: string; agentId: string; emailNormalized: string; nameNormalized: string }): AgentSearchTermsTable[] {
  const name = agent.nameNormalized;
  const starts = new Set<string>([name]);
  for (let i = name.indexOf(' '); i !== -1; i = name.indexOf(' ', i + 1)) {
    const rest = name.slice(i + 1);
    if (rest !== '' && !rest.startsWith(' ')) starts.add(rest);
  }
  return [...starts].map((term) => ({ account_id: agent.accountId, agent_id: agent.agentId, term, email_normalized: agent.emailNormalized }));
}

/** Replaces the agent's search rows (at creation, and whenever the name changes). */
export async function writeAgentSearchTerms(db: Executor, agent: { accountId: string; agentId: string; emailNormalized: string; nameNormalized: string }): Promise<void> {
  await db.deleteFrom('agent_search_terms').where('agent_id', '=', agent.agentId).execute();
  await db.insertInto('agent_search_terms').values(agentSearchTermRows(agent)).execute();
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
