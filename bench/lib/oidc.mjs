// The OpenID Connect figures (issue 10): token exchanges per second and userinfo reads per
// second, each as a ratio to the bare Fastify hello-world measured in alternating windows; and
// refresh-token grants per second (issue 13), on chains of rotating refresh tokens.
import { createHash, randomBytes, randomUUID } from 'node:crypto';

const REDIRECT_URI = 'http://127.0.0.1:9/callback'; // never contacted: the code is read off the redirect

/** A confidential app straight in the store (the Apps API has its own tests); returns its credentials. */
export async function registerBenchApp(store, accountId) {
  const clientId = randomBytes(16).toString('base64url');
  const secret = randomBytes(32).toString('base64url');
  const now = new Date().toISOString();
  await store.query(
    'insert into apps (id, account_id, client_id, name, type, secret_hash, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri, launch_url, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [randomUUID(), accountId, clientId, 'Bench help desk', 'confidential', createHash('sha256').update(secret).digest('hex'), JSON.stringify([REDIRECT_URI]), '[]', null, null, now, now],
  );
  return { clientId, secret, basic: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` };
}

function cookieHeader(jar) {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}

/** What an authorization asks for to get a refresh token: oidc-provider drops offline_access without prompt=consent (README). */
export const OFFLINE = { scope: 'openid offline_access', prompt: 'consent' };

/**
 * A browser signed in to the portal and to the provider: the first authorization goes through
 * the interaction page, later ones are single sign-on (one redirect straight to the code).
 * `authorize(OFFLINE)` asks for a refresh token: prompt=consent sends every such authorization
 * through the interaction page again (no page is shown: it finishes at once and redirects back
 * to the authorization endpoint), so those must run one at a time (this jar ignores cookie paths).
 */
export async function providerBrowser(baseUrl, sessionToken, app) {
  const jar = new Map([['deskpass_session', sessionToken]]);
  const authorize = async ({ scope = 'openid email profile groups', prompt } = {}) => {
    const url = new URL(`${baseUrl}/oidc/auth`);
    url.search = new URLSearchParams({ client_id: app.clientId, response_type: 'code', scope, redirect_uri: REDIRECT_URI, state: randomBytes(8).toString('hex'), ...(prompt ? { prompt } : {}) }).toString();
    let next = url.href;
    for (let hop = 0; hop < 8; hop++) {
      if (next.startsWith(REDIRECT_URI)) return new URL(next).searchParams.get('code');
      const response = await fetch(next, { redirect: 'manual', headers: { cookie: cookieHeader(jar) } });
      for (const set of response.headers.getSetCookie()) {
        const [pair] = set.split(';');
        const eq = pair.indexOf('=');
        jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      }
      await response.arrayBuffer();
      const location = response.headers.get('location');
      if (!location) throw new Error(`authorization stopped at ${next} with ${response.status}`);
      next = new URL(location, next).href;
    }
    throw new Error('too many redirects');
  };
  return { authorize };
}

/** `count` fresh codes, `concurrency` at a time (not timed: codes are single-use). */
export async function mintCodes(browser, count, concurrency = 8) {
  // the first through the interaction, alone (this jar ignores cookie paths); then single sign-on
  const codes = [await browser.authorize()];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (codes.length < count) codes.push(await browser.authorize());
  }));
  return codes;
}

/** Exchanges codes at the token endpoint with `concurrency` clients for `ms`; returns { count, seconds, failures, accessToken }. */
export async function exchangeCodes(baseUrl, app, codes, ms, concurrency = 10) {
  let ok = 0;
  let failures = 0;
  let accessToken;
  let firstFailure;
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline && codes.length > 0) {
      const code = codes.pop();
      const response = await fetch(`${baseUrl}/oidc/token`, {
        method: 'POST',
        headers: { authorization: app.basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }).toString(),
      });
      const body = await response.json();
      if (response.status === 200 && body.id_token) {
        ok += 1;
        accessToken ??= body.access_token;
      } else {
        failures += 1;
        firstFailure ??= `${response.status} ${JSON.stringify(body)}`;
      }
    }
  }));
  return { count: ok, seconds: (performance.now() - started) / 1000, failures, firstFailure, accessToken, ranOut: codes.length === 0 };
}

async function tokenRequest(baseUrl, app, params) {
  const response = await fetch(`${baseUrl}/oidc/token`, {
    method: 'POST',
    headers: { authorization: app.basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body, text };
}

/** `count` refresh tokens (scope openid offline_access, prompt=consent), one code at a time (not timed). */
export async function mintRefreshTokens(baseUrl, browser, app, count) {
  const tokens = [];
  while (tokens.length < count) {
    const code = await browser.authorize(OFFLINE);
    const { status, body, text } = await tokenRequest(baseUrl, app, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
    if (status !== 200 || !body?.refresh_token) throw new Error(`a code exchange for scope "${OFFLINE.scope}" with prompt=${OFFLINE.prompt} gave no refresh token: ${status} ${text.slice(0, 300)}`);
    tokens.push(body.refresh_token);
  }
  return tokens;
}

/**
 * Refresh-token grants for `ms` on independent chains, one per entry of `tokens` (one
 * connection's worth each): every chain posts grant_type=refresh_token with its token and
 * carries on with the rotated one from the answer (tokens[i] is replaced in place). A chain
 * that fails stops for the rest of the window: its token may have been consumed, and presenting
 * a consumed refresh token again revokes the whole grant. Its index is in `broken`, for the
 * caller to re-seed. Returns { count, seconds, failures, firstFailure, broken }.
 */
export async function refreshChains(baseUrl, app, tokens, ms) {
  let ok = 0;
  let failures = 0;
  let firstFailure;
  const broken = [];
  const started = performance.now();
  const deadline = started + ms;
  await Promise.all(tokens.map(async (_, i) => {
    if (!tokens[i]) return void broken.push(i);
    while (performance.now() < deadline) {
      let answer;
      try {
        answer = await tokenRequest(baseUrl, app, { grant_type: 'refresh_token', refresh_token: tokens[i] });
      } catch (error) {
        answer = { status: 'error', text: String(error?.cause ?? error) };
      }
      if (answer.status === 200 && answer.body?.refresh_token) {
        ok += 1;
        tokens[i] = answer.body.refresh_token;
      } else {
        failures += 1;
        firstFailure ??= `${answer.status} ${answer.text.slice(0, 500)}`;
        tokens[i] = undefined;
        broken.push(i);
        return;
      }
    }
  }));
  return { count: ok, seconds: (performance.now() - started) / 1000, failures, firstFailure, broken };
}
