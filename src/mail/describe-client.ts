import Bowser from 'bowser';

// Bowser's own vocabulary. Its fallback parser names an unknown browser after the first words
// of the User-Agent, which is client text: only names from these lists ever reach an email.
const KNOWN_BROWSERS = new Set<string>(Object.values(Bowser.BROWSER_MAP).filter((name) => name !== 'Generic'));
const KNOWN_SYSTEMS = new Set<string>(Object.values(Bowser.OS_MAP));

export const UNRECOGNISED_CLIENT = 'an unrecognised browser or app';

/**
 * A short description of the client behind a User-Agent ("Chrome on Linux") for emails and
 * pages. Built from a fixed vocabulary only, so the text a client sends (URLs, instructions) is
 * never quoted back to the agent. No version: an agent recognises their browser by its name,
 * browsers update themselves every few weeks, and a version number is noise in an alarm email.
 */
export function describeClient(userAgent: string | null | undefined): string | null {
  if (!userAgent) return null;
  const parsed = Bowser.parse(userAgent.slice(0, 512));
  const browser = KNOWN_BROWSERS.has(parsed.browser.name ?? '') ? parsed.browser.name! : null;
  const system = KNOWN_SYSTEMS.has(parsed.os.name ?? '') ? parsed.os.name! : null;
  if (!browser) return system ? `${UNRECOGNISED_CLIENT} on ${system}` : UNRECOGNISED_CLIENT;
  return system ? `${browser} on ${system}` : browser;
}
