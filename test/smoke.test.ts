import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { TestApp, OWNER } from './support/harness.js';

let t: TestApp;
before(async () => { t = await TestApp.start(); });
after(async () => { await t.close(); });

test('smoke: setup, add an agent through the invitation, sign in', async () => {
  const { ownerToken, agentRoleId } = await t.setup();
  const me = await t.get('/api/v1/me', ownerToken);
  assert.equal(me.status, 200);
  assert.equal(me.body.email, OWNER.email);
  const agent = await t.addAgent(ownerToken, { email: 'sam@acme.test', name: 'Sam Support', roleId: agentRoleId, password: 'Glacier-Pepper-Violin-77' });
  const sam = await t.get('/api/v1/me', agent.token);
  assert.equal(sam.body.status, 'active');
});
