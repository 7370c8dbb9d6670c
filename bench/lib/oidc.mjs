// The OpenID Connect figures (issue 10): token exchanges per second and userinfo reads per
// second, each as a ratio to the bare Fastify hello-world measured in alternating windows.
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

/**
 * A browser signed in to the portal and to the provider: the first authorization goes through
 * the interaction page, later ones are single sign-on (one redirect straight to the code).
 */
export async function providerBrowser(baseUrl, sessionToken, app) {
  const jar = new Map([['deskpass_session', sessionToken]]);
  const authorize = async () => {
    const url = new URL(`${baseUrl}/oidc/auth`);
    url.search = new URLSearchParams({ client_id: app.clientId, response_type: 'code', scope: 'openid email profile groups', redirect_uri: REDIRECT_URI, state: randomBytes(8).toString('hex') }).toString();
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
