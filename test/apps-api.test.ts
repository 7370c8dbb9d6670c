import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TestApp, type Answer } from './support/harness.js';
import { newClientId } from '../src/flows/apps.js';

// The /api/v1/apps contract (API.md, second round, "Apps"): every status and error code, the
// permission, the URI rules, the secret shown once and stored hashed, and deletion revoking grants.

let t: TestApp;
let ownerToken: string;
let plain: { id: string; token: string };
let appsOnly: { id: string; token: string };

const ZAMMAD = {
  name: 'Zammad',
  type: 'public',
  redirectUris: ['https://helpdesk.acme.test/auth/openid_connect/callback'],
  postLogoutRedirectUris: ['https://helpdesk.acme.test/'],
  backchannelLogoutUri: 'https://helpdesk.acme.test/auth/openid_connect/backchannel_logout',
};
const OSTICKET = { name: 'osTicket', type: 'confidential', redirectUris: ['https://tickets.acme.test/api/auth/oauth2'] };
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

function assertError(answer: Answer, status: number, code: string, message?: string): void {
  assert.equal(answer.status, status, message ?? answer.raw);
  assert.equal(answer.body.error.code, code, message ?? answer.raw);
}

function fields(answer: Answer): string[] {
  return (answer.body.error.details ?? []).map((d: { field: string }) => d.field);
}

async function secretHashOf(appId: string): Promise<string | null> {
  const row = await t.app.deskpass.deps.db.selectFrom('apps').select('secret_hash').where('id', '=', appId).executeTakeFirstOrThrow();
  return row.secret_hash;
}

async function auditEvents(type: string): Promise<any[]> {
  const answer = await t.get(`/api/v1/audit-events?type=${type}`, ownerToken);
  assert.equal(answer.status, 200, answer.raw);
  return answer.body.events;
}

before(async () => {
  t = await TestApp.start();
  let agentRoleId: string;
  ({ ownerToken, agentRoleId } = await t.setup());
  plain = await t.addAgent(ownerToken, { email: 'pete.plain@acme.test', name: 'Pete Plain', roleId: agentRoleId, password: 'Silver-Harbor-Thistle-64' });
  const appsRoleId = await t.role(ownerToken, 'App keepers', ['manage_apps']);
  appsOnly = await t.addAgent(ownerToken, { email: 'alex.apps@acme.test', name: 'Alex Apps', roleId: appsRoleId, password: 'Garnet-Willow-Rocket-39' });
});

after(async () => t?.close());

describe('registering apps', () => {
  test('a confidential app: 201 with a 32-character URL-safe client id and its secret this once; the store holds only the SHA-256', async () => {
    const created = await t.post('/api/v1/apps', OSTICKET, ownerToken);
    assert.equal(created.status, 201, created.raw);
    const app = created.body;
    assert.deepEqual(Object.keys(app).sort(), ['backchannelLogoutUri', 'clientId', 'clientSecret', 'createdAt', 'id', 'launchUrl', 'name', 'postLogoutRedirectUris', 'redirectUris', 'type']);
    assert.match(app.clientId, /^[A-Za-z0-9_-]{32}$/);
    assert.match(app.clientSecret, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
    t.secrets.add(app.clientSecret);
    assert.deepEqual({ name: app.name, type: app.type, redirectUris: app.redirectUris, postLogoutRedirectUris: app.postLogoutRedirectUris, backchannelLogoutUri: app.backchannelLogoutUri, launchUrl: app.launchUrl }, { ...OSTICKET, postLogoutRedirectUris: [], backchannelLogoutUri: null, launchUrl: null });
    assert.equal(await secretHashOf(app.id), sha256(app.clientSecret));

    const read = await t.get(`/api/v1/apps/${app.id}`, ownerToken);
    assert.equal(read.status, 200);
    assert.equal(read.body.clientSecret, undefined, 'never shown again');
    const list = await t.get('/api/v1/apps', ownerToken);
    assert.equal(list.status, 200);
    assert.ok(list.body.apps.some((a: { id: string }) => a.id === app.id));
    assert.ok(list.body.apps.every((a: object) => !('clientSecret' in a)));

    const [event] = await auditEvents('app.created');
    assert.deepEqual(event.details, { appId: app.id, clientId: app.clientId, name: 'osTicket', type: 'confidential' });
    assert.equal(event.method, 'api');
    assert.deepEqual(t.leakedSecrets(await t.databaseContents() + (t.dialect === 'postgres' ? JSON.stringify(await t.app.deskpass.deps.db.selectFrom('apps').selectAll().execute()) : '')), []);
    assert.deepEqual(t.leakedSecrets(t.logs.join('')), [], 'no secret in a log line');
  });

  test('a public app has no secret; its name is trimmed, URIs kept in order without duplicates; launchUrl is stored', async () => {
    const created = await t.post('/api/v1/apps', { ...ZAMMAD, name: '  Zammad  ', redirectUris: [ZAMMAD.redirectUris[0], ZAMMAD.redirectUris[0], 'http://localhost:3001/cb'], launchUrl: 'https://helpdesk.acme.test/login' }, ownerToken);
    assert.equal(created.status, 201, created.raw);
    assert.equal(created.body.clientSecret, undefined);
    assert.equal(created.body.name, 'Zammad');
    assert.deepEqual(created.body.redirectUris, [ZAMMAD.redirectUris[0], 'http://localhost:3001/cb']);
    assert.equal(created.body.launchUrl, 'https://helpdesk.acme.test/login');
    assert.equal(await secretHashOf(created.body.id), null);
  });

  test('400 invalid_request lists every URI that breaks a rule, by field', async () => {
    const bad = await t.post(
      '/api/v1/apps',
      {
        name: 'Bad',
        type: 'public',
        redirectUris: ['https://ok.acme.test/cb', '/relative', 'https://acme.test/cb#frag', 'http://helpdesk.acme.test/cb', 'ftp://acme.test/x', ' https://acme.test/cb', 'https://acme.test/c b', 'https://acme.test/\tcb', 'https://acme.test/cb\u009b', 'https://acme.test/\u200bcb', 'https://acme.test/cb\u202e', 'https://acme.test/cb\ud800', 'https://acme.test/cb\u3164', 'https://helpdesk.acme.test\u034f.evil.test/cb', 'https://helpdesk.acme.test\u2215cb.evil.test/x'],
        postLogoutRedirectUris: ['not a url'],
        backchannelLogoutUri: 'http://example.com/logout',
        launchUrl: 'nope',
      },
      ownerToken,
    );
    assertError(bad, 400, 'invalid_request');
    assert.deepEqual(fields(bad), ['redirectUris.1', 'redirectUris.2', 'redirectUris.3', 'redirectUris.4', 'redirectUris.5', 'redirectUris.6', 'redirectUris.7', 'redirectUris.8', 'redirectUris.9', 'redirectUris.10', 'redirectUris.11', 'redirectUris.12', 'redirectUris.13', 'redirectUris.14', 'postLogoutRedirectUris.0', 'backchannelLogoutUri', 'launchUrl']);
    for (const detail of bad.body.error.details) assert.equal(typeof detail.message, 'string');
    assert.match(bad.body.error.details[2].message, /https/);
    assert.deepEqual((await t.get('/api/v1/apps', ownerToken)).body.apps.filter((a: { name: string }) => a.name === 'Bad'), [], 'nothing was created');
  });

  test('400 invalid_request for the shape: name, type, redirect URI count', async () => {
    const cases: [unknown, string][] = [
      [{ ...OSTICKET, name: '   ' }, 'name'],
      [{ ...OSTICKET, name: 'x'.repeat(101) }, 'name'],
      [{ ...OSTICKET, type: 'secret' }, 'type'],
      [{ ...OSTICKET, redirectUris: [] }, 'redirectUris'],
      [{ ...OSTICKET, redirectUris: Array.from({ length: 21 }, (_, i) => `https://acme.test/${i}`) }, 'redirectUris'],
      [{ name: 'No URIs', type: 'public' }, 'redirectUris'],
      [{ ...OSTICKET, postLogoutRedirectUris: Array.from({ length: 21 }, (_, i) => `https://acme.test/${i}`) }, 'postLogoutRedirectUris'],
    ];
    for (const [body, field] of cases) {
      const answer = await t.post('/api/v1/apps', body, ownerToken);
      assertError(answer, 400, 'invalid_request', JSON.stringify(body).slice(0, 80));
      assert.ok(fields(answer).some((f) => f.startsWith(field)), `${field}: ${answer.raw}`);
    }
    const exactly100 = await t.post('/api/v1/apps', { ...OSTICKET, name: ` ${'n'.repeat(100)} ` }, ownerToken);
    assert.equal(exactly100.status, 201, 'a name of exactly 100 characters after trimming is fine');
    t.secrets.add(exactly100.body.clientSecret);
    assert.equal((await t.delete(`/api/v1/apps/${exactly100.body.id}`, ownerToken)).status, 204);
  });
});

describe('who may manage apps', () => {
  test('401 unauthenticated without a session', async () => {
    assertError(await t.get('/api/v1/apps'), 401, 'unauthenticated');
    assertError(await t.post('/api/v1/apps', OSTICKET), 401, 'unauthenticated');
  });

  test('403 forbidden (missing_permission) on every route for an agent without manage_apps; 400 comes first', async () => {
    const someApp = (await t.get('/api/v1/apps', ownerToken)).body.apps[0];
    const calls: Answer[] = [
      await t.get('/api/v1/apps', plain.token),
      await t.post('/api/v1/apps', OSTICKET, plain.token),
      await t.get(`/api/v1/apps/${someApp.id}`, plain.token),
      await t.patch(`/api/v1/apps/${someApp.id}`, { name: 'Mine now' }, plain.token),
      await t.post(`/api/v1/apps/${someApp.id}/secret`, undefined, plain.token),
      await t.delete(`/api/v1/apps/${someApp.id}`, plain.token),
      await t.get('/api/v1/apps/not-an-app', plain.token),
    ];
    for (const answer of calls) {
      assertError(answer, 403, 'forbidden');
      assert.equal(answer.body.error.details[0].reason, 'missing_permission');
    }
    assertError(await t.post('/api/v1/apps', { ...OSTICKET, redirectUris: ['http://evil.example/cb'] }, plain.token), 400, 'invalid_request', 'the request is judged before the permission');
    assert.equal((await t.get(`/api/v1/apps/${someApp.id}`, ownerToken)).body.name, someApp.name);
  });

  test('an agent whose role holds manage_apps only can do it all', async () => {
    const created = await t.post('/api/v1/apps', { ...ZAMMAD, name: 'Peppermint' }, appsOnly.token);
    assert.equal(created.status, 201, created.raw);
    assert.equal((await t.get('/api/v1/apps', appsOnly.token)).status, 200);
    assert.equal((await t.delete(`/api/v1/apps/${created.body.id}`, appsOnly.token)).status, 204);
  });

  test('404 not_found for an unknown id on every route', async () => {
    const id = 'c0ffee00-0000-4000-8000-000000000000';
    assertError(await t.get(`/api/v1/apps/${id}`, ownerToken), 404, 'not_found');
    assertError(await t.patch(`/api/v1/apps/${id}`, { name: 'x' }, ownerToken), 404, 'not_found');
    assertError(await t.post(`/api/v1/apps/${id}/secret`, undefined, ownerToken), 404, 'not_found');
    assertError(await t.delete(`/api/v1/apps/${id}`, ownerToken), 404, 'not_found');
    assertError(await t.patch(`/api/v1/apps/${id}`, { redirectUris: ['nope'] }, ownerToken), 400, 'invalid_request', '400 before 404');
  });
});

describe('changing apps', () => {
  let app: any;
  before(async () => {
    app = (await t.post('/api/v1/apps', { ...ZAMMAD, name: 'Zammad staging' }, ownerToken)).body;
  });

  test('PATCH changes only what it names, audits the changed fields, and null clears the back-channel logout URI', async () => {
    const patched = await t.patch(`/api/v1/apps/${app.id}`, { name: 'Zammad (staging)', backchannelLogoutUri: null, redirectUris: app.redirectUris, clientId: 'mine', type: 'confidential' }, ownerToken);
    assert.equal(patched.status, 200, patched.raw);
    assert.equal(patched.body.name, 'Zammad (staging)');
    assert.equal(patched.body.backchannelLogoutUri, null);
    assert.equal(patched.body.clientId, app.clientId, 'the client id cannot be set');
    assert.equal(patched.body.type, 'public', 'the type cannot be changed');
    assert.deepEqual(patched.body.postLogoutRedirectUris, app.postLogoutRedirectUris);
    const [event] = await auditEvents('app.updated');
    assert.deepEqual(event.details, { appId: app.id, clientId: app.clientId, name: 'Zammad (staging)', changed: ['name', 'backchannelLogoutUri'] });

    const nothing = await t.patch(`/api/v1/apps/${app.id}`, {}, ownerToken);
    assert.equal(nothing.status, 200);
    assert.equal((await auditEvents('app.updated')).length, 1, 'a PATCH that changes nothing writes no event');

    const relaunch = await t.patch(`/api/v1/apps/${app.id}`, { launchUrl: 'https://helpdesk.acme.test/#/login' }, ownerToken);
    assertError(relaunch, 400, 'invalid_request');
    assert.deepEqual(fields(relaunch), ['launchUrl']);
  });

  test('rotating a public app\'s secret: 409 app_is_public', async () => {
    assertError(await t.post(`/api/v1/apps/${app.id}/secret`, undefined, ownerToken), 409, 'app_is_public');
    assert.equal(await secretHashOf(app.id), null);
  });

  test('rotating a confidential app\'s secret: 200 {clientSecret}, the old hash is gone, the audit event has no secret', async () => {
    const created = (await t.post('/api/v1/apps', { ...OSTICKET, name: 'osTicket rotate' }, ownerToken)).body;
    t.secrets.add(created.clientSecret);
    const rotated = await t.post(`/api/v1/apps/${created.id}/secret`, undefined, ownerToken);
    assert.equal(rotated.status, 200, rotated.raw);
    assert.deepEqual(Object.keys(rotated.body), ['clientSecret']);
    t.secrets.add(rotated.body.clientSecret);
    assert.notEqual(rotated.body.clientSecret, created.clientSecret);
    assert.equal(await secretHashOf(created.id), sha256(rotated.body.clientSecret));
    const [event] = await auditEvents('app.secret_rotated');
    assert.deepEqual(event.details, { appId: created.id, clientId: created.clientId, name: 'osTicket rotate' });
    const audit = JSON.stringify(await t.app.deskpass.deps.db.selectFrom('audit_events').selectAll().execute());
    assert.deepEqual(t.leakedSecrets(audit), [], 'no secret in any audit event');
    assert.ok(!audit.includes(sha256(rotated.body.clientSecret)), 'nor its hash');
  });
});

describe('removing an app', () => {
  test('DELETE: 204, its grants and their tokens die with its sign-ins, app.deleted is audited, and it is gone', async () => {
    const db = t.app.deskpass.deps.db;
    const app = (await t.post('/api/v1/apps', { ...ZAMMAD, name: 'Zammad to remove' }, ownerToken)).body;
    const other = (await t.post('/api/v1/apps', { ...ZAMMAD, name: 'Zammad to keep' }, ownerToken)).body;
    const me = (await t.get('/api/v1/me', ownerToken)).body;
    const session = await db.selectFrom('sessions').select(['id', 'account_id']).where('agent_id', '=', me.id).executeTakeFirstOrThrow();
    const now = new Date().toISOString();
    const grant = { model: 'AccessToken', id: 'at-remove', payload: '{}', grant_id: 'grant-remove', uid: null, expires_at: now, consumed_at: null, deskpass_session_id: null };
    await db.insertInto('oidc_payloads').values([grant, { ...grant, model: 'Grant', id: 'grant-remove', grant_id: null }, { ...grant, id: 'at-keep', grant_id: 'grant-keep' }]).execute();
    await db
      .insertInto('app_sign_ins')
      .values([
        { session_id: session.id, app_id: app.id, account_id: session.account_id, agent_id: me.id, grant_id: 'grant-remove', created_at: now },
        { session_id: session.id, app_id: other.id, account_id: session.account_id, agent_id: me.id, grant_id: 'grant-keep', created_at: now },
      ])
      .execute();

    const removed = await t.delete(`/api/v1/apps/${app.id}`, ownerToken);
    assert.equal(removed.status, 204, removed.raw);
    assert.equal(removed.raw, '');
    assertError(await t.get(`/api/v1/apps/${app.id}`, ownerToken), 404, 'not_found');
    assertError(await t.delete(`/api/v1/apps/${app.id}`, ownerToken), 404, 'not_found', 'a second DELETE');
    const payloads = await db.selectFrom('oidc_payloads').select(['model', 'id']).orderBy('id').execute();
    assert.deepEqual(payloads, [{ model: 'AccessToken', id: 'at-keep' }], 'the removed app\'s token and grant are gone; the other app\'s stay');
    const signIns = await db.selectFrom('app_sign_ins').select('app_id').execute();
    assert.deepEqual(signIns, [{ app_id: other.id }]);
    const [event] = await auditEvents('app.deleted');
    assert.deepEqual(event.details, { appId: app.id, clientId: app.clientId, name: 'Zammad to remove' });
  });
});

test('a client id is 32 URL-safe characters and never starts with "-" or "_" (a CLI argument, a form field)', () => {
  const ids = new Set(Array.from({ length: 2000 }, () => newClientId()));
  assert.equal(ids.size, 2000);
  for (const id of ids) assert.match(id, /^[A-Za-z0-9][A-Za-z0-9_-]{31}$/);
});

test('the OpenAPI document names every apps route with its schemas', async () => {
  const doc = (await t.get('/api/v1/openapi.json')).body;
  assert.ok(doc.paths['/api/v1/apps'].get && doc.paths['/api/v1/apps'].post);
  assert.ok(doc.paths['/api/v1/apps/{id}'].get && doc.paths['/api/v1/apps/{id}'].patch && doc.paths['/api/v1/apps/{id}'].delete);
  assert.ok(doc.paths['/api/v1/apps/{id}/secret'].post);
  assert.ok(doc.paths['/api/v1/apps'].post.requestBody.content['application/json'].schema.properties.redirectUris);
  assert.ok(doc.paths['/api/v1/apps'].post.responses['201'].content['application/json'].schema.properties.clientSecret);
});
