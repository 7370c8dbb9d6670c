/** A help desk (or any OpenID Connect relying party) that signs agents in through Deskpass. */
export interface App {
  id: string;
  accountId: string;
  /** what the help desk is configured with */
  clientId: string;
  name: string;
  /** public: a browser or native app that cannot keep a secret (PKCE S256 required); confidential: has a secret */
  type: AppType;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  backchannelLogoutUri: string | null;
  /** where Your apps opens the help desk; null: the origin of the first redirect URI (see launchUrlOf) */
  launchUrl: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type AppType = 'public' | 'confidential';
export const APP_TYPES: readonly AppType[] = ['public', 'confidential'];

export type AppUriProblem = 'not_ascii' | 'not_absolute' | 'has_fragment' | 'not_https' | 'not_http';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || hostname.endsWith('.localhost');
}

/**
 * The one rule for every URI an app registers (redirect, post-logout, back-channel logout):
 * absolute, http(s), no fragment, and https unless the host is loopback or localhost.
 * Returns what is wrong, or null.
 */
export function appUriProblem(raw: string): AppUriProblem | null {
  // Printable ASCII only: URL() forgives spaces and drops tabs, and Unicode lets a URI read as
  // another (invisible characters, slash and dot lookalikes in the host). The stored URI must be
  // the one the provider matches and the one an administrator reads: anything else is
  // percent-encoded, and an international domain name is given in its punycode (xn--) form.
  if (!/^[\x21-\x7e]+$/.test(raw)) return 'not_ascii';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'not_absolute';
  }
  if (raw.includes('#')) return 'has_fragment';
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'not_http';
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) return 'not_https';
  return null;
}

export const APP_URI_PROBLEM_MESSAGES: Record<AppUriProblem, string> = {
  not_ascii: 'must be written in printable ASCII, without spaces: percent-encode other characters, and give an international domain name in its xn-- form',
  not_absolute: 'must be an absolute URL, such as https://helpdesk.example.com/callback',
  has_fragment: 'must not contain a fragment (#…)',
  not_https: 'must use https:// (http:// is accepted for localhost and loopback addresses only)',
  not_http: 'must be an http(s) URL',
};

/** Where the portal's Your apps opens the app: its launch URL, else its first redirect URI's origin. */
export function launchUrlOf(app: App): string | null {
  if (app.launchUrl) return app.launchUrl;
  const first = app.redirectUris[0];
  return first ? new URL(first).origin + '/' : null;
}
