import { fail, type Result } from '../domain/errors.js';
import type { Agent } from '../domain/models.js';
import { normalizeTimeZone } from '../domain/time-zones.js';
import { updateAgent } from '../store/agents.repo.js';
import type { FlowDeps } from './deps.js';

/**
 * The signed-in agent's own time zone for pages and emails: an IANA name, or null for "the help
 * desk's". Not a security change: no audit event, no notice, no session touched.
 */
export async function setOwnTimeZone(deps: Pick<FlowDeps, 'db' | 'clock'>, auth: { agent: Agent }, timeZone: string | null): Promise<Result<{ agent: Agent }, 'time_zone_unknown'>> {
  const zone = timeZone === null ? null : normalizeTimeZone(timeZone);
  if (timeZone !== null && zone === null) return fail('time_zone_unknown', [{ field: 'timeZone' }]);
  await updateAgent(deps.db, auth.agent.accountId, auth.agent.id, { time_zone: zone }, deps.clock.now());
  return { ok: true, agent: { ...auth.agent, timeZone: zone } };
}
