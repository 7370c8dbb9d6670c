import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { OWNER, type TestApp } from './support/harness.js';
import { clickAndWait, screenshot } from './support/portal.js';
import { PortalTeam } from './support/portal-team.js';

// Manage › Agents as an administrator looking for someone on a support call (issue 12, item 5):
// the search folds case and accents and matches inside names and emails, says how many match,
// pages both ways keeping the search, filters on the states that need attention, and shows
// each agent's last sign-in.

let team: PortalTeam;
let t: TestApp;
let origin: string;
let owner: Page;
let people: PortalTeam['people'];

const names = () => owner.locator('tbody tr .cell-name a').allInnerTexts();
const countText = () => owner.locator('.list-count').innerText();

describe('agent portal: finding an agent among many', () => {
  before(async () => {
    team = await PortalTeam.start();
    ({ t, origin, owner, people } = team);
    const roles = await t.get('/api/v1/roles', team.ownerToken);
    const agentRoleId = roles.body.roles.find((r: { name: string }) => r.name === 'Agent').id;
    for (const [email, name] of [
      ['jurgen.mueller@acme.test', 'Jürgen Müller'],
      ['zoe@acme.test', 'Zoë Muller'],
      ['jose.garcia@acme.test', 'José García'],
    ]) {
      assert.equal((await t.post('/api/v1/agents', { email, name, roleId: agentRoleId }, team.ownerToken)).status, 201);
    }
  });
  after(async () => team?.close());

  test('"Muller" finds Müller and Muller, the count says so, and the search box keeps the text', async () => {
    await owner.goto(`${origin}/manage/agents`);
    await owner.getByLabel('Search').fill('Muller');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    assert.deepEqual((await names()).sort(), ['Jürgen Müller', 'Zoë Muller']);
    assert.equal(await countText(), '2 agents match “Muller”');
    assert.equal(await owner.getByLabel('Search').inputValue(), 'Muller');
    await screenshot(owner, 'search-muller');

    // inside a name and inside an email, accents typed or not
    await owner.getByLabel('Search').fill('ARCI');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    assert.deepEqual(await names(), ['José García']);
    assert.equal(await countText(), '1 agent matches “ARCI”');
    await owner.getByLabel('Search').fill('ksmith');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    assert.deepEqual(await names(), [people.lou.name]);
    await owner.goto(`${origin}/manage/agents?search=${encodeURIComponent('nobody-here')}`);
    assert.match(await owner.locator('.empty').innerText(), /No agent matches “nobody-here”\./);
  });

  test('Next and Previous page through a search, the same rows both ways, the search kept', async () => {
    await owner.goto(`${origin}/manage/agents`);
    await owner.getByLabel('Search').fill('acme.t');
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    const everyone = (await t.get('/api/v1/agents?limit=200', team.ownerToken)).body.agents.length;
    assert.equal(await countText(), `${everyone} agents match “acme.t”`);
    const first = await names();
    assert.equal(first.length, 25);
    assert.equal(await owner.getByRole('link', { name: '← Previous' }).count(), 0, 'the first page has no Previous');

    await clickAndWait(owner, owner.getByRole('link', { name: 'Next →' }));
    const second = await names();
    assert.equal(second.length, everyone - 25);
    assert.equal(new Set([...first, ...second]).size, everyone, 'no agent twice, none left out');
    assert.equal(await owner.getByLabel('Search').inputValue(), 'acme.t');
    assert.equal(await countText(), `${everyone} agents match “acme.t”`);
    assert.equal(await owner.getByRole('link', { name: 'Next →' }).count(), 0, 'the last page has no Next');
    await screenshot(owner, 'search-page-2');

    await clickAndWait(owner, owner.getByRole('link', { name: '← Previous' }));
    assert.deepEqual(await names(), first);
    assert.equal(new URL(owner.url()).searchParams.get('search'), 'acme.t');
    assert.equal(await owner.getByRole('link', { name: '← Previous' }).count(), 0);
    assert.equal(await owner.getByRole('link', { name: 'Next →' }).count(), 1);
  });

  test('the Locked filter, and the other states that need attention', async () => {
    await owner.goto(`${origin}/manage/agents`);
    await owner.getByLabel('Status').selectOption({ label: 'Locked' });
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    assert.equal(new URL(owner.url()).searchParams.get('status'), 'locked');
    assert.deepEqual(await names(), [people.lou.name]);
    assert.equal(await countText(), '1 locked agent');
    assert.match(await owner.locator('tbody tr').innerText(), /Locked/);
    assert.equal(await owner.getByLabel('Status').inputValue(), 'locked', 'the filter keeps its choice');
    await screenshot(owner, 'search-locked');

    await owner.getByLabel('Status').selectOption({ label: 'Password change pending' });
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    assert.deepEqual(await names(), [people.pat.name]);
    assert.equal(await countText(), '1 agent with a password change pending');

    await owner.getByLabel('Status').selectOption({ label: 'Invitation expired' });
    await clickAndWait(owner, owner.getByRole('button', { name: 'Filter' }));
    assert.equal(await owner.locator('tbody tr').count(), 0, 'every invitation is still live');
    t.clock.advanceSeconds(8 * 24 * 3600); // past the 7-day invitations (and the owner's session)
    owner = await team.signedIn(OWNER.email, OWNER.password);
    await owner.goto(`${origin}/manage/agents?status=invitation_expired&search=muller`);
    assert.deepEqual((await names()).sort(), ['Jürgen Müller', 'Zoë Muller']);
    assert.equal(await countText(), '2 agents whose invitation expired match “muller”');
    assert.match(await owner.locator('tbody').innerText(), /Invitation expired/);
  });

  test('each agent shows their last sign-in: "… ago", or "Never"', async () => {
    await owner.goto(`${origin}/manage/agents?search=${encodeURIComponent(OWNER.email)}`);
    const ownerRow = owner.locator('tbody tr', { hasText: OWNER.name });
    assert.equal(await ownerRow.locator('td[data-label="Last sign-in"]').innerText(), 'just now');
    const stamp = await ownerRow.locator('td[data-label="Last sign-in"] time').getAttribute('datetime');
    assert.equal(stamp, t.clock.now().toISOString());

    await owner.goto(`${origin}/manage/agents?search=bob`);
    assert.equal(await owner.locator('tbody tr td[data-label="Last sign-in"]').innerText(), '8 days ago');
    await owner.goto(`${origin}/manage/agents?search=ivy`);
    assert.equal(await owner.locator('tbody tr td[data-label="Last sign-in"]').innerText(), 'Never');
    await screenshot(owner, 'search-last-sign-in');
  });
});
