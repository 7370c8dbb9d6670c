import { appUriProblem, APP_URI_PROBLEM_MESSAGES, type App, type AppType } from '../../domain/apps.js';
import type { ProviderEndpoints } from '../../oidc/endpoints.js';

export type PresetKey = 'zammad' | 'osticket' | 'peppermint' | 'other';

/** A help desk Deskpass knows how to set up: what to register, and what its administrator types in. */
export interface AppPreset {
  key: PresetKey;
  label: string;
  summary: string;
  type: AppType;
  pkce: string;
  /** paths under the help desk's base URL; null: none */
  redirectPath: string | null;
  postLogoutPath: string | null;
  backchannelPath: string | null;
  /** where agents start in the help desk (Your apps opens it) */
  launchPath: string;
  /** the step-by-step of the help desk's own settings, with the values of the registered app */
  steps: (values: SetupValues) => string[];
}

/** What the help desk's administrator pastes: the provider's addresses and the app's credentials. */
export interface SetupValues {
  endpoints: ProviderEndpoints;
  clientId: string;
  appName: string;
  hasSecret: boolean;
}

const secretWord = (v: SetupValues) => (v.hasSecret ? 'the client secret shown above (once)' : 'nothing: this is a public client');

export const APP_PRESETS: readonly AppPreset[] = [
  {
    key: 'zammad',
    label: 'Zammad',
    summary: 'Public client with PKCE (S256). Zammad signs agents out when their Deskpass session ends (back-channel logout).',
    type: 'public',
    pkce: 'S256, required',
    redirectPath: '/auth/openid_connect/callback',
    postLogoutPath: '/',
    backchannelPath: '/auth/openid_connect/backchannel_logout',
    launchPath: '/',
    steps: (v) => [
      'In Zammad, open Settings › Security › Third-party Applications.',
      'Switch on "Authentication via OpenID Connect" and open its settings.',
      `Display name: ${v.appName} (what agents see on Zammad's sign-in button).`,
      `Identifier: ${v.clientId}`,
      `Issuer: ${v.endpoints.issuer}`,
      'UID Field: sub. Scopes: openid email profile. PKCE: on (S256).',
      "Zammad shows the callback and back-channel logout URLs it uses under the form: they must be exactly the redirect URI and back-channel logout URI registered here. Save.",
      'Sign out of Zammad and use the OpenID Connect button on its sign-in page to check.',
    ],
  },
  {
    key: 'osticket',
    label: 'osTicket',
    summary: "osTicket's OAuth2 Client plugin: a confidential client (client secret, no PKCE) that reads the agent's identity from the userinfo endpoint.",
    type: 'confidential',
    pkce: 'not used (the client secret authenticates osTicket)',
    redirectPath: '/api/auth/oauth2',
    postLogoutPath: null,
    backchannelPath: null,
    // the staff panel: the plugin signs agents in there
    launchPath: '/scp/',
    steps: (v) => [
      'In osTicket, open Admin Panel › Manage › Plugins and install the "OAuth2 Client" plugin if it is not there (Add New Plugin).',
      'Open the plugin, go to Instances › Add New Instance, and give it a name such as Deskpass.',
      'Under Config, choose "Agent authentication".',
      `Client Id: ${v.clientId}. Client Secret: ${secretWord(v)}.`,
      `Authorization Endpoint: ${v.endpoints.authorization}`,
      `Token Endpoint: ${v.endpoints.token}`,
      `Resource Details Endpoint: ${v.endpoints.userinfo}`,
      'Scopes: openid email profile. User Identifier / Email attribute: email. Name attribute: name.',
      "The Redirect URI osTicket shows must be exactly the redirect URI registered here. Save, set the instance Active, and sign in to the staff panel with it.",
    ],
  },
  {
    key: 'peppermint',
    label: 'Peppermint',
    summary: "Public client with PKCE (S256). Peppermint's sign-in page receives the code at /auth/oidc (check the Redirect URI its settings page shows, and edit it here if yours differs).",
    type: 'public',
    pkce: 'S256, required',
    redirectPath: '/auth/oidc',
    postLogoutPath: null,
    backchannelPath: null,
    launchPath: '/',
    steps: (v) => [
      'In Peppermint, open Admin › Authentication.',
      'Choose the provider type OIDC.',
      `Issuer: ${v.endpoints.issuer}`,
      `Client Id: ${v.clientId} (Peppermint asks for no secret: it is a public client with PKCE).`,
      'Redirect URI: Peppermint fills it in from its own address; it must be exactly the redirect URI registered here. Save.',
      'Sign out of Peppermint and sign in again: it sends you to Deskpass.',
    ],
  },
  {
    key: 'other',
    label: 'Other',
    summary: 'Any OpenID Connect relying party: fill in its redirect URIs yourself.',
    type: 'confidential',
    pkce: 'S256: required for public clients, accepted from confidential ones',
    redirectPath: null,
    postLogoutPath: null,
    backchannelPath: null,
    launchPath: '/',
    steps: (v) => [
      `Point the app at the issuer ${v.endpoints.issuer}: most apps read every other address from the discovery document.`,
      `Client ID: ${v.clientId}. Client secret: ${secretWord(v)}.`,
      'Flow: authorization code. Scopes: openid email profile (add groups for role names, offline_access for a refresh token).',
      "Register the app's callback URL here as a redirect URI, exactly as the app sends it.",
    ],
  },
];

export function presetOf(key: string | undefined): AppPreset | undefined {
  return APP_PRESETS.find((p) => p.key === key);
}

/** Which preset a registered app looks like, from its first redirect URI: its hints stay available after registration. */
export function presetForApp(app: App): AppPreset {
  const path = (() => {
    try {
      return new URL(app.redirectUris[0] ?? '').pathname;
    } catch {
      return '';
    }
  })();
  return APP_PRESETS.find((p) => p.redirectPath && path.endsWith(p.redirectPath)) ?? APP_PRESETS[APP_PRESETS.length - 1];
}

/** The help desk's base URL as typed: absolute, no fragment, no query, without the trailing slash. */
export function normalizeBaseUrl(raw: string): { ok: true; base: string } | { ok: false; message: string } {
  const problem = appUriProblem(raw);
  if (problem) return { ok: false, message: `The help desk address ${APP_URI_PROBLEM_MESSAGES[problem]}.` };
  const url = new URL(raw);
  return { ok: true, base: `${url.origin}${url.pathname.replace(/\/+$/, '')}` };
}

/** The registration form a preset fills in from the base URL. */
export function presetForm(preset: AppPreset, base: string | null): { name: string; type: AppType; redirectUris: string; postLogoutRedirectUris: string; backchannelLogoutUri: string; launchUrl: string } {
  const at = (path: string | null) => (base && path ? `${base}${path}` : '');
  return {
    name: preset.key === 'other' ? '' : preset.label,
    type: preset.type,
    redirectUris: at(preset.redirectPath),
    postLogoutRedirectUris: at(preset.postLogoutPath),
    backchannelLogoutUri: at(preset.backchannelPath),
    launchUrl: at(preset.launchPath),
  };
}
