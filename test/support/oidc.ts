import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Page } from 'playwright-core';
import type { TestApp } from './harness.js';
import { insertApp } from '../../src/store/apps.repo.js';
import { hashToken, newId, newRandomToken } from '../../src/security/tokens.js';
import type { AppType } from '../../src/domain/apps.js';

/** An HTTP server of the test's: a relying party's callback and back-channel logout receiver. */
export class RelyingPartyServer {
  /** logout tokens received, in order */
  readonly logoutTokens: string[] = [];
  /** answer this status to logout POSTs (503: the receiver is "down") */
  logoutStatus = 200;
  private waiters: (() => void)[] = [];

  private constructor(private readonly server: Server, readonly origin: string) {}

  static async start(): Promise<RelyingPartyServer> {
    let self: RelyingPartyServer | undefined;
    const server = createServer((req, res) => {
      if (req.method === 'POST' && req.url === '/backchannel_logout') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const token = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('logout_token');
          if (self!.logoutStatus === 200 && token) {
            self!.logoutTokens.push(token);
            for (const wake of self!.waiters.splice(0)) wake();
          }
          res.writeHead(self!.logoutStatus === 200 ? 200 : self!.logoutStatus).end();
        });
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Help desk</title><h1>Help desk</h1>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new RelyingPartyServer(server, `http://127.0.0.1:${port}`);
    return self;
  }

  get callback(): string {
    return `${this.origin}/callback`;
  }

  get logoutUri(): string {
    return `${this.origin}/backchannel_logout`;
  }

  /** Resolves once `count` logout tokens have arrived in all (fails after `ms`). */
  async waitForLogouts(count: number, ms = 10_000): Promise<string[]> {
    const deadline = Date.now() + ms;
    while (this.logoutTokens.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} logout tokens, got ${this.logoutTokens.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.logoutTokens.slice(0, count);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export interface RegisteredApp {
  id: string;
  clientId: string;
  clientSecret?: string;
}

/** Registers an app straight in the store (the Apps API has its own tests). */
export async function registerApp(
  t: TestApp,
  rp: RelyingPartyServer,
  options: { name?: string; type?: AppType; backchannel?: boolean; redirectUris?: string[] } = {},
): Promise<RegisteredApp> {
  const type = options.type ?? 'public';
  const id = newId();
  const clientId = newRandomToken().slice(0, 32);
  const clientSecret = type === 'confidential' ? newRandomToken() : undefined;
  const account = await t.app.deskpass.deps.db.selectFrom('accounts').select('id').executeTakeFirstOrThrow();
  const now = t.clock.now();
  await insertApp(
    t.app.deskpass.deps.db,
    {
      id,
      accountId: account.id,
      clientId,
      name: options.name ?? 'Zammad',
      type,
      redirectUris: options.redirectUris ?? [rp.callback],
      postLogoutRedirectUris: [`${rp.origin}/signed-out`],
      backchannelLogoutUri: options.backchannel === false ? null : rp.logoutUri,
      launchUrl: null,
      createdAt: now,
      updatedAt: now,
    },
    clientSecret ? hashToken(clientSecret) : null,
  );
  if (clientSecret) t.secrets.add(clientSecret);
  return { id, clientId, clientSecret };
}

/** openid-client's configuration for an app, from the server's discovery (http is allowed on loopback). */
export async function relyingParty(issuer: string, app: RegisteredApp, auth: 'none' | 'basic' | 'post' = app.clientSecret ? 'basic' : 'none'): Promise<client.Configuration> {
  const clientAuth = auth === 'none' ? client.None() : auth === 'basic' ? client.ClientSecretBasic(app.clientSecret!) : client.ClientSecretPost(app.clientSecret!);
  return client.discovery(new URL(issuer), app.clientId, undefined, clientAuth, { execute: [client.allowInsecureRequests] });
}

export interface AuthorizationRequest {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

export async function authorizationRequest(config: client.Configuration, redirectUri: string, extra: Record<string, string> = {}): Promise<AuthorizationRequest> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email profile groups',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, verifier, state, nonce };
}

export function redeem(config: client.Configuration, request: AuthorizationRequest, callbackUrl: string) {
  return client.authorizationCodeGrant(config, new URL(callbackUrl), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce });
}

/**
 * A browser without a browser, for the many tests that need an agent signed in to an app but
 * no page: follows the authorization redirects with the agent's Deskpass session as the portal
 * cookie, keeping the provider's cookies, and returns the callback URL (with the code).
 */
export async function authorizeWithSession(_origin: string, sessionToken: string, url: URL, callbackPrefix: string): Promise<string> {
  const landing = await browse(new CookieJar({ deskpass_session: sessionToken }), url.href, callbackPrefix);
  if (landing.kind === 'page') throw new Error(`authorization stopped at ${landing.url}: ${landing.status} ${landing.body.slice(0, 300)}`);
  return landing.url;
}

/** Signs in through the real sign-in page (when asked) and returns where the browser landed on the app. */
export async function authorizeInBrowser(page: Page, url: URL, callback: string, credentials?: { email: string; password: string }): Promise<string> {
  await page.goto(url.href);
  if (credentials && page.url().includes('/login')) {
    await page.getByLabel('Email').fill(credentials.email);
    await page.getByLabel('Password', { exact: true }).fill(credentials.password);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(callback)), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
  } else if (!page.url().startsWith(callback)) {
    await page.waitForURL((u) => u.href.startsWith(callback));
  }
  return page.url();
}

/**
 * A back-channel logout token checked as a relying party must (OIDC Back-Channel Logout 1.0
 * §2.6): signature against the JWKS of discovery, iss, aud, iat, the logout event, sid, sub,
 * and no nonce.
 */
export async function verifyLogoutToken(issuer: string, clientId: string, token: string): Promise<JWTPayload & { sid?: string; events?: Record<string, unknown> }> {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/oidc/jwks`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience: clientId, maxTokenAge: '5 minutes' });
  if (protectedHeader.alg !== 'RS256') throw new Error(`logout token alg ${protectedHeader.alg}`);
  if (protectedHeader.typ !== 'logout+jwt') throw new Error(`logout token typ ${protectedHeader.typ}`);
  const events = payload.events as Record<string, unknown> | undefined;
  if (!events || typeof events['http://schemas.openid.net/event/backchannel-logout'] !== 'object') throw new Error('no back-channel logout event');
  if ('nonce' in payload) throw new Error('a logout token must not carry a nonce');
  if (typeof payload.iat !== 'number' || typeof payload.jti !== 'string') throw new Error('iat and jti are required');
  return payload;
}

/**
 * A cookie jar for plain fetch (a browser without a browser): the portal's session cookie and
 * whatever the provider and the portal set on the way (provider session, interaction, CSRF).
 */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  constructor(initial: Record<string, string> = {}) {
    for (const [name, value] of Object.entries(initial)) this.cookies.set(name, value);
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  names(): string[] {
    return [...this.cookies.keys()];
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  absorb(response: Response): void {
    for (const set of response.headers.getSetCookie()) {
      const [pair] = set.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(set) || /max-age=0(;|$)/i.test(set) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

/** One request with the jar's cookies, redirects not followed; the jar takes the answer's cookies. */
export async function jarFetch(jar: CookieJar, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header();
  if (cookie) headers.set('cookie', cookie);
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.absorb(response);
  return response;
}

/** A form POST (urlencoded) with the jar's cookies, redirects not followed. */
export function postForm(jar: CookieJar, url: string, fields: Record<string, string>): Promise<Response> {
  return jarFetch(jar, url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
}

export type Landing =
  /** the browser was sent to `stopPrefix` (the relying party's callback): not fetched */
  | { kind: 'redirect'; url: string; via: number[] }
  /** a page that is not a redirect (a sign-in page, an error page, a confirmation) */
  | { kind: 'page'; url: string; status: number; body: string; headers: Headers; via: number[] };

/** Follows redirects from `url` with the jar until one leads to `stopPrefix`, or a page answers. */
export async function browse(jar: CookieJar, url: string, stopPrefix: string): Promise<Landing> {
  let next = url;
  const via: number[] = [];
  for (let hop = 0; hop < 12; hop += 1) {
    if (next.startsWith(stopPrefix)) return { kind: 'redirect', url: next, via };
    const response = await jarFetch(jar, next);
    const location = response.headers.get('location');
    if (!location || response.status < 300 || response.status >= 400) {
      return { kind: 'page', url: next, status: response.status, body: await response.text(), headers: response.headers, via };
    }
    via.push(response.status);
    next = new URL(location, next).href;
  }
  throw new Error('too many redirects');
}

/** The value of a (hidden) input of an HTML page, by name. */
export function inputValue(html: string, name: string): string {
  for (const tag of html.match(/<input\b[^>]*>/gi) ?? []) {
    if (new RegExp(`\\bname=["']${name}["']`).test(tag)) {
      const value = /\bvalue=["']([^"']*)["']/.exec(tag);
      if (value) return value[1]!.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
    }
  }
  throw new Error(`no input named ${name} in the page`);
}

/**
 * The action of a form, made absolute against `base`: the form with this id, or the first whose
 * action matches (portal pages have the header's sign-out form first), or the first form.
 */
export function formAction(html: string, base: string, which?: string | RegExp): string {
  const forms = html.match(/<form\b[^>]*>/gi) ?? [];
  const actionOf = (form: string) => /\baction=["']([^"']*)["']/.exec(form)?.[1]?.replace(/&amp;/g, '&');
  const form =
    which === undefined ? forms[0] : typeof which === 'string' ? forms.find((f) => f.includes(`id="${which}"`)) : forms.find((f) => which.test(actionOf(f) ?? ''));
  const action = form && actionOf(form);
  if (!action) throw new Error(`no form ${which ?? ''} in the page`);
  return new URL(action, base).href;
}

/** The error parameters of a redirect to the relying party (query, or fragment when the provider used it). */
export function redirectParams(url: string): URLSearchParams {
  const parsed = new URL(url);
  return parsed.search ? parsed.searchParams : new URLSearchParams(parsed.hash.slice(1));
}

/**
 * A load balancer in front of several instances of one Deskpass (one PUBLIC_URL, its origin):
 * forwards every request to `target`, which a test switches between instances, and logs which
 * instance answered what.
 */
export class Balancer {
  target = '';
  readonly log: { backend: string; method: string; path: string }[] = [];

  private constructor(private readonly server: Server, readonly origin: string) {}

  static async start(): Promise<Balancer> {
    let self: Balancer | undefined;
    const server = createServer((req, res) => {
      const backend = new URL(self!.target);
      self!.log.push({ backend: self!.target, method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]! });
      const upstream = httpRequest({ host: backend.hostname, port: backend.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    server.keepAliveTimeout = 1;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new Balancer(server, `http://127.0.0.1:${port}`);
    return self;
  }

  /** Which backends answered requests to this path (in order), from log entry `since` on. */
  served(path: string, since = 0): string[] {
    return this.log.slice(since).filter((e) => e.path === path).map((e) => e.backend);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Reads `read` until `done` holds (what another worker writes after the fact), failing after `ms`. */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what} never happened: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Where a form on the way to an app sends the browser: the portal answers its "continuing to …"
 * page (a meta refresh, since CSP form-action would stop a redirect chain to the app), whose
 * target is returned; a plain 303 is followed as well.
 */
export async function continuedTo(response: Response, base: string): Promise<string> {
  if (response.status === 303) return new URL(response.headers.get('location')!, base).href;
  const body = await response.text();
  const refresh = /<meta http-equiv="refresh" content="0; url=([^"]+)">/.exec(body);
  if (response.status !== 200 || !refresh) throw new Error(`expected the continue page, got ${response.status}: ${body.slice(0, 300)}`);
  return new URL(refresh[1]!.replace(/&amp;/g, '&'), base).href;
}
