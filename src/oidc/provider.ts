import { hkdfSync, type JsonWebKey } from 'node:crypto';
import Provider, { interactionPolicy, type AccountClaims, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import type { Agent } from '../domain/models.js';
import type { FlowDeps } from '../flows/deps.js';
import { admitSession } from '../flows/session-gate.js';
import type { Authenticated } from '../flows/sessions.js';
import { currentAccount } from '../flows/account.js';
import { findAgentById } from '../store/agents.repo.js';
import { hashToken, secretsEqual } from '../security/tokens.js';
import { kyselyAdapter } from './adapter.js';
import { INTERACTION_PATH, OIDC_ROUTES } from './endpoints.js';
import { ensureAppGrant, useGrantSession } from './grants.js';
import { findLoginAttempts } from '../store/login-attempts.repo.js';
import { normalizeEmail } from '../domain/models.js';
import { errorPage, logoutPage, loggedOutPage } from './pages.js';

const { Check, base: basePolicy } = interactionPolicy;

/** Lifetimes, in seconds. Access tokens live at most 10 minutes (API.md); everything else dies with the Deskpass session anyway. */
export const PROVIDER_TTL = {
  AccessToken: 600,
  AuthorizationCode: 60,
  IdToken: 3600,
  Interaction: 3600,
  RefreshToken: 90 * 24 * 3600,
  Grant: 90 * 24 * 3600,
  Session: 90 * 24 * 3600,
} as const;

export const SUPPORTED_SCOPES = ['openid', 'offline_access', 'email', 'profile', 'groups'] as const;

/** What the interaction result carries besides the standard login: the Deskpass session the agent signed in with. */
export interface DeskpassInteractionResult {
  sessionId: string;
}

export interface ProviderOptions {
  deps: FlowDeps;
  issuer: string;
  /** the Deskpass session cookie's name (the portal's) */
  cookieName: string;
  keys: JsonWebKey[];
  logger: Logger;
}

/** The agent's claims, by scope (API.md): `groups` is the role name, help desks map roles from it. */
export function claimsOf(agent: Agent): AccountClaims {
  const [given, ...family] = agent.name.trim().split(/\s+/);
  return {
    sub: agent.id,
    email: agent.email,
    email_verified: true,
    name: agent.name,
    given_name: given ?? '',
    family_name: family.join(' '),
    preferred_username: agent.email,
    updated_at: Math.floor(agent.updatedAt.getTime() / 1000),
    groups: [agent.role.name],
  };
}

/** Is the agent's sign-in locked (the lockout of API.md: the agent object's `locked`)? */
export function isLocked(auth: Authenticated, now: Date): boolean {
  return !!auth.agentLockedUntil && auth.agentLockedUntil > now;
}

const portalAuthCache = new WeakMap<object, Promise<Authenticated | undefined>>();

/**
 * The Deskpass session of the browser behind this request, through the one session gate: a
 * live session whose agent has no required password change pending (that page comes first).
 * Read once per request.
 */
export function portalAuthOf(deps: FlowDeps, cookieName: string, ctx: KoaContextWithOIDC): Promise<Authenticated | undefined> {
  let cached = portalAuthCache.get(ctx);
  if (!cached) {
    const token = ctx.cookies.get(cookieName, { signed: false });
    // A locked agent (API.md: "locked agents get no code") is treated as not signed in here: the
    // interaction page then says why instead of finishing.
    cached = admitSession(deps, token, {}).then((outcome) => (outcome.ok && !isLocked(outcome.auth, deps.clock.now()) ? outcome.auth : undefined));
    portalAuthCache.set(ctx, cached);
  }
  return cached;
}

/** The Deskpass session a provider session carries: the sid of its authorizations (they all share it). */
function carriedSessionId(ctx: KoaContextWithOIDC): string | undefined {
  for (const authorization of Object.values(ctx.oidc.session?.authorizations ?? {})) if (authorization.sid) return authorization.sid;
  return undefined;
}

/**
 * Is the provider's session the browser's live Deskpass session? It is when the agent just
 * signed in through the portal for this request (the interaction result names the session), or
 * when the provider session already carries that session for the same agent. Anything else
 * (no portal session, another agent, a session that ended) asks for the portal's sign-in again.
 */
async function carriesPortalSession(deps: FlowDeps, cookieName: string, ctx: KoaContextWithOIDC): Promise<Authenticated | undefined> {
  const auth = await portalAuthOf(deps, cookieName, ctx);
  if (!auth || ctx.oidc.session?.accountId !== auth.agent.id) return undefined;
  const signedInNow = (ctx.oidc.result as { deskpass?: DeskpassInteractionResult } | undefined)?.deskpass?.sessionId;
  if (signedInNow === auth.session.id || carriedSessionId(ctx) === auth.session.id) return auth;
  return undefined;
}

type LogoutSender = (this: unknown, sub: string, sid: string) => Promise<void>;
const logoutSenders = new WeakMap<Provider, LogoutSender>();

/**
 * Sends an app its OIDC Back-Channel Logout token (signed by the provider's current key, with
 * sub, sid and the logout event) and resolves when the app answered 200/204; throws otherwise.
 * 'gone' when the app no longer exists or no longer has a logout URI.
 */
export async function sendBackchannelLogout(provider: Provider, clientId: string, sub: string, sid: string): Promise<'sent' | 'gone'> {
  const client = (await provider.Client.find(clientId)) as (InstanceType<Provider['Client']> & { backchannelLogoutUri?: string }) | undefined;
  if (!client?.backchannelLogoutUri) return 'gone';
  await logoutSenders.get(provider)!.call(client, sub, sid);
  return 'sent';
}

/**
 * The agent a code, a token or a provider session stands for, when it may still be used:
 * deactivated, invited and locked agents get no code, no token and no userinfo (API.md); a code
 * or token dies with the Deskpass session it was issued through (its grant's), and an app's use
 * of it is the agent's activity, which keeps that session from going idle.
 */
async function liveAgent(deps: FlowDeps, sub: string, token: { grantId?: string } | undefined): Promise<Agent | undefined> {
  if (token) return token.grantId ? (await useGrantSession(deps, token.grantId, sub))?.agent : undefined;
  const account = await currentAccount(deps);
  const agent = account && (await findAgentById(deps.db, account.id, sub));
  if (!account || !agent || agent.status !== 'active') return undefined;
  const { lockedUntil } = await findLoginAttempts(deps.db, agent.accountId, normalizeEmail(agent.email));
  return lockedUntil && lockedUntil > deps.clock.now() ? undefined : agent;
}

export function createProvider(options: ProviderOptions): Provider {
  const { deps, cookieName, logger } = options;
  const policy = basePolicy();
  // 'login_required' named here: a check added after the prompt is built does not inherit the
  // prompt's error, and prompt=none must answer login_required (OIDC Core §3.1.2.6), not interaction_required.
  policy.get('login')!.checks.add(
    new Check('deskpass_session', 'End-User authentication is required', 'login_required', async (ctx) =>
      (await carriesPortalSession(deps, cookieName, ctx)) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT,
    ),
    0,
  );

  const configuration: Configuration = {
    adapter: kyselyAdapter(deps.db, deps.clock),
    clients: [],
    jwks: { keys: options.keys as never },
    cookies: {
      keys: [Buffer.from(hkdfSync('sha256', deps.secretKey, Buffer.alloc(0), 'deskpass/oidc-cookies/v1', 32)).toString('base64url')],
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    routes: { ...OIDC_ROUTES },
    scopes: [...SUPPORTED_SCOPES],
    claims: {
      // amr and auth_time: how and when the agent signed in, in every ID token (API.md)
      openid: ['sub', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username', 'updated_at'],
      groups: ['groups'],
    },
    // API.md: the claims of the granted scopes come in the ID token too, not only from userinfo.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    allowOmittingSingleRegisteredRedirectUri: false,
    rotateRefreshToken: true,
    enabledJWA: { idTokenSigningAlgValues: ['RS256'], userinfoSigningAlgValues: ['RS256'], introspectionSigningAlgValues: ['RS256'] },
    ttl: { ...PROVIDER_TTL },
    features: {
      devInteractions: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      registration: { enabled: false },
      userinfo: { enabled: true },
      // the library's policy: an app revokes its own tokens only (another app's: 400 invalid_request)
      revocation: { enabled: true },
      introspection: {
        enabled: true,
        // confidential apps only, only about their own tokens, and a token is active only while
        // everything findAccount asks holds (the library's introspection does not ask it)
        allowedPolicy: async (_ctx, client, token) => {
          const { accountId, grantId } = token as { accountId?: string; grantId?: string };
          return client.clientAuthMethod !== 'none' && token.clientId === client.clientId && !!accountId && !!(await liveAgent(deps, accountId, { grantId }));
        },
      },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = logoutPage(form, ctx.oidc.client?.clientName ?? null);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = loggedOutPage();
        },
      },
      // (the typings' feature combinations lag the library: checked at start by the library itself)
    } as Configuration['features'],
    interactions: {
      policy,
      url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`,
    },
    // Apps are the help desk's own (first-party): no consent screen. The grant is the Deskpass session's.
    loadExistingGrant: async (ctx) => {
      const auth = await carriesPortalSession(deps, cookieName, ctx);
      if (!auth) return undefined;
      return ensureAppGrant(deps, ctx, auth);
    },
    findAccount: async (_ctx, sub, token) => {
      const agent = await liveAgent(deps, sub, token as { grantId?: string } | undefined);
      return agent && { accountId: agent.id, claims: async () => claimsOf(agent) };
    },

    // The only requests the provider makes are back-channel logouts, to URIs an administrator
    // registered (manage_apps; there is no dynamic registration). Self-hosted help desks live on
    // private networks and loopback, which the library's SSRF guard refuses: it is lifted here.
    fetch: (url, options) => {
      const { dispatcher: _ssrfGuard, ...rest } = options as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(url, rest);
    },
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris?.some((uri) => new URL(uri).origin === origin) ?? false,
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage(String(out.error ?? 'error'), String(out.error_description ?? ''));
    },
  };

  const provider = new Provider(options.issuer, configuration);
  // the forwarding mount sets Host and X-Forwarded-* from PUBLIC_URL (see mount.ts)
  provider.proxy = true;

  // A confidential app's secret is stored as its SHA-256 (clients.ts): compare hashes, in constant time.
  const Client = provider.Client as unknown as { prototype: { clientSecret?: string; compareClientSecret(actual: string): boolean; includeSid(): boolean } };
  // Every ID token carries sid, the Deskpass session (API.md), with or without back-channel logout.
  Client.prototype.includeSid = () => true;
  Client.prototype.compareClientSecret = function compareClientSecret(actual: string) {
    return typeof this.clientSecret === 'string' && typeof actual === 'string' && secretsEqual(this.clientSecret, hashToken(actual));
  };

  // Deskpass, not the library, tells apps about a logout: from the outbox, retried until it
  // arrives, for every way a session ends (store/app-sign-ins.ts). The library's own direct
  // call (at RP-initiated logout) is turned off; sendBackchannelLogout uses the original.
  const proto = (provider.Client as unknown as { prototype: { backchannelLogout: LogoutSender } }).prototype;
  logoutSenders.set(provider, proto.backchannelLogout);
  proto.backchannelLogout = async () => undefined;

  provider.on('server_error', (_ctx, error) => logger.error({ err: error }, 'oidc provider error'));
  provider.on('grant.error', (_ctx, error) => logger.info({ err: (error as Error).message, detail: (error as { error_detail?: string }).error_detail }, 'oidc token request refused'));
  provider.on('authorization.error', (_ctx, error) => logger.info({ err: (error as Error).message, detail: (error as { error_detail?: string }).error_detail }, 'oidc authorization refused'));
  return provider;
}
