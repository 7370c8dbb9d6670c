import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER } from './support/harness.js';

/** Every path of API.md, with its methods, in OpenAPI's {param} syntax. */
const API_PATHS: Record<string, string[]> = {
  '/healthz': ['get'],
  '/readyz': ['get'],
  '/api/v1/auth/login': ['post'],
  '/api/v1/auth/logout': ['post'],
  '/api/v1/auth/reauthenticate': ['post'],
  '/api/v1/me': ['get'],
  '/api/v1/me/sessions': ['get'],
  '/api/v1/me/sessions/{id}': ['delete'],
  '/api/v1/me/password': ['post'],
  '/api/v1/auth/forgot-password': ['post'],
  '/api/v1/auth/reset-password/{token}': ['get'],
  '/api/v1/auth/reset-password': ['post'],
  '/api/v1/agents': ['get', 'post'],
  '/api/v1/agents/{id}': ['get', 'patch'],
  '/api/v1/agents/{id}/unlock': ['post'],
  '/api/v1/agents/{id}/invitation': ['post'],
  '/api/v1/agents/{id}/sessions/revoke': ['post'],
  '/api/v1/agents/{id}/password-reset-email': ['post'],
  '/api/v1/agents/{id}/password': ['put'],
  '/api/v1/roles': ['get', 'post'],
  '/api/v1/roles/{id}': ['patch'],
  '/api/v1/audit-events': ['get'],
  '/api/v1/account': ['get', 'patch'],
  '/api/v1/setup/{token}': ['get'],
  '/api/v1/setup': ['post'],
  // Second factor (issue 11)
  '/api/v1/me/two-factor': ['get'],
  '/api/v1/me/two-factor/totp': ['post', 'delete'],
  '/api/v1/me/two-factor/totp/confirm': ['post'],
  '/api/v1/me/two-factor/recovery-codes': ['post'],
  '/api/v1/me/passkeys/registration-options': ['post'],
  '/api/v1/me/passkeys': ['post'],
  '/api/v1/me/passkeys/{id}': ['delete'],
  '/api/v1/auth/login/two-factor': ['post'],
  '/api/v1/auth/passkey/options': ['post'],
  '/api/v1/auth/passkey': ['post'],
  '/api/v1/agents/{id}/two-factor': ['delete'],
};

/** The routes anyone may call; every other /api/v1 route takes the session. */
const PUBLIC_OPERATIONS = new Set([
  'post /api/v1/auth/login',
  'post /api/v1/auth/forgot-password',
  'get /api/v1/auth/reset-password/{token}',
  'post /api/v1/auth/reset-password',
  'get /api/v1/setup/{token}',
  'post /api/v1/setup',
  'post /api/v1/auth/login/two-factor',
  'post /api/v1/auth/passkey/options',
  'post /api/v1/auth/passkey',
]);

/** Every property name anywhere under a schema. */
function propertyNames(node: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((child) => propertyNames(child, into));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'properties' && value && typeof value === 'object') Object.keys(value).forEach((name) => into.add(name));
      propertyNames(value, into);
    }
  }
  return into;
}

/** Every example, examples and default value anywhere in the document, with where it sits. */
function examples(node: unknown, path = '$', into: Array<{ path: string; value: unknown }> = []): Array<{ path: string; value: unknown }> {
  if (Array.isArray(node)) node.forEach((child, i) => examples(child, `${path}[${i}]`, into));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'example' || key === 'examples' || key === 'default') into.push({ path: `${path}.${key}`, value });
      examples(value, `${path}.${key}`, into);
    }
  }
  return into;
}

describe('health', () => {
  let t: TestApp;
  before(async () => {
    t = await TestApp.start();
  });
  after(async () => {
    await t.close();
  });

  test('GET /healthz answers 200 {status: "ok"} while the process is up, before any setup', async () => {
    const answer = await t.get('/healthz');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { status: 'ok' });
  });

  test('GET /readyz answers 200 when the database answers', async () => {
    const answer = await t.get('/readyz');
    assert.equal(answer.status, 200);
    assert.equal(answer.body.status, 'ok');
  });

  test('health checks need no session and are not logged at info (they would drown the request log)', async () => {
    const before = t.logs.length;
    for (let i = 0; i < 5; i += 1) {
      assert.equal((await t.get('/healthz')).status, 200);
      assert.equal((await t.get('/readyz')).status, 200);
    }
    assert.equal(t.logs.slice(before).filter((line) => /\/(healthz|readyz)/.test(line)).length, 0);
  });
});

describe('health without a database', () => {
  test('GET /readyz answers 503 not_ready when the database does not answer, while /healthz stays 200', async () => {
    const t = await TestApp.start();
    try {
      await t.app.deskpass.mailWorker.stop();
      await t.app.deskpass.deps.db.destroy();
      const ready = await t.get('/readyz');
      assert.equal(ready.status, 503);
      assert.equal(ready.body.error.code, 'not_ready');
      assert.equal((await t.get('/healthz')).status, 200);
    } finally {
      await t.close();
    }
  });
});

describe('the OpenAPI document', () => {
  let t: TestApp;
  let doc: any;
  let raw: string;
  before(async () => {
    t = await TestApp.start();
    await t.setup();
    const answer = await t.get('/api/v1/openapi.json');
    assert.equal(answer.status, 200);
    assert.match(String(answer.headers['content-type']), /^application\/json/);
    doc = answer.body;
    raw = answer.raw;
  });
  after(async () => {
    await t.close();
  });

  test('GET /api/v1/openapi.json is an OpenAPI 3 document, served without a session', async () => {
    assert.match(doc.openapi, /^3\.\d+\.\d+$/);
    assert.equal(typeof doc.info.title, 'string');
    assert.equal(typeof doc.info.version, 'string');
    assert.equal(typeof doc.paths, 'object');
  });

  test('the OpenAPI document lists every path and method of API.md', () => {
    const missing: string[] = [];
    for (const [path, methods] of Object.entries(API_PATHS)) {
      for (const method of methods) if (!doc.paths[path]?.[method]) missing.push(`${method.toUpperCase()} ${path}`);
    }
    assert.deepEqual(missing, []);
  });

  test('the OpenAPI document declares the path parameters it names', () => {
    for (const [path, methods] of Object.entries(API_PATHS)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const method of methods) {
        const declared = (doc.paths[path][method].parameters ?? []).filter((p: { in: string }) => p.in === 'path').map((p: { name: string }) => p.name);
        assert.deepEqual(declared.sort(), names.sort(), `${method} ${path}`);
      }
    }
  });

  test('the OpenAPI document asks for the session on every route but the public ones', () => {
    for (const [path, methods] of Object.entries(API_PATHS)) {
      if (!path.startsWith('/api/v1/')) continue;
      for (const method of methods) {
        const operation = doc.paths[path][method];
        const isPublic = PUBLIC_OPERATIONS.has(`${method} ${path}`);
        assert.equal(Array.isArray(operation.security) && operation.security.length > 0, !isPublic, `${method} ${path}`);
      }
    }
    assert.ok(doc.components.securitySchemes.bearer);
  });

  test('the OpenAPI document contains no example secrets, and no response schema carries a hash, a password, a token or a second-factor secret but the answers that create them', () => {
    // no example, examples or default that looks like a secret
    const secretish = examples(doc).filter(({ path, value }) => /password|token|secret|hash|cookie/i.test(path) || /password|token|secret/i.test(JSON.stringify(value)));
    assert.deepEqual(secretish, []);
    // nothing in the document has the shape of a token, a SHA-256, an argon2 hash or the secrets this test used
    assert.doesNotMatch(raw, /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/);
    assert.doesNotMatch(raw, /\b[0-9a-f]{64}\b/);
    assert.doesNotMatch(raw, /\$argon2/);
    assert.deepEqual(t.leakedSecrets(raw), []);
    assert.ok(!raw.includes(OWNER.password));

    for (const [path, operations] of Object.entries<any>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(operations)) {
        for (const [status, response] of Object.entries<any>(operation.responses ?? {})) {
          const names = propertyNames(response);
          const where = `${method} ${path} ${status}`;
          // An app's client secret is answered twice only: when the app is registered and when it is rotated (shown once each).
          const answersClientSecret = (method === 'post' && path === '/api/v1/apps' && status === '201') || (method === 'post' && path === '/api/v1/apps/{id}/secret' && status === '200');
          // The second factor's secrets, each in the answer that creates it (API.md "Second factor"):
          // a new authenticator's secret, the recovery codes of a first factor or a regeneration.
          const answersTotpSecret = method === 'post' && path === '/api/v1/me/two-factor/totp' && status === '200';
          const answersRecoveryCodes = method === 'post' && ['/api/v1/me/two-factor/totp/confirm 200', '/api/v1/me/two-factor/recovery-codes 200', '/api/v1/me/passkeys 201'].includes(`${path} ${status}`);
          for (const name of names) {
            if (name === 'clientSecret' && answersClientSecret) continue;
            if (name === 'secret' && answersTotpSecret) continue;
            assert.doesNotMatch(name, /hash|password$|secret/i, `${where} answers a field "${name}"`);
          }
          assert.equal(names.has('clientSecret'), answersClientSecret, `${where} clientSecret field`);
          assert.equal(names.has('secret'), answersTotpSecret, `${where} secret field`);
          assert.equal(names.has('recoveryCodes'), answersRecoveryCodes, `${where} recoveryCodes field`);
          assert.equal(names.has('challenge'), method === 'post' && path === '/api/v1/auth/login' && status === '200', `${where} challenge field`);
          // a session token: the answers of a complete sign-in (password, second step, passkey)
          const carriesToken = names.has('token');
          assert.equal(carriesToken, method === 'post' && ['/api/v1/auth/login', '/api/v1/auth/login/two-factor', '/api/v1/auth/passkey'].includes(path) && status === '200', `${where} token field`);
        }
      }
    }
  });

  test('every error response in the OpenAPI document has the {error: {code, message, details?}} shape', () => {
    let seen = 0;
    for (const operations of Object.values<any>(doc.paths)) {
      for (const operation of Object.values<any>(operations)) {
        for (const [status, response] of Object.entries<any>(operation.responses ?? {})) {
          if (Number(status) < 400) continue;
          const schema = response.content?.['application/json']?.schema;
          if (!schema) continue;
          seen += 1;
          assert.deepEqual(schema.required, ['error']);
          assert.deepEqual(schema.properties.error.required.sort(), ['code', 'message']);
          assert.ok(schema.properties.error.properties.details);
        }
      }
    }
    assert.ok(seen > 50);
  });
});
