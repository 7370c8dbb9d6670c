import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { OWNER, type TestApp } from './harness.js';
import { launchBrowser, newVisitor, signInThroughPage, startPortal } from './portal.js';

/** Someone on the Acme help desk team, as the Manage pages' tests know them. */
export interface Person {
  email: string;
  name: string;
  password: string;
  id: string;
}

/**
 * A help desk with a team in every state Manage › Agents shows: active (Bob), invited (Ivy),
 * deactivated (Dee), locked (Lou), with a one-time password pending (Pat), an agent manager
 * without "Manage Agent Password" (Mia), a second Administrator who is not the Account
 * Administrator (Ada), and 20 invited fillers so the list has a second page. The owner is
 * signed in, in a browser of their own.
 */
export class PortalTeam {
  readonly cspViolations: string[] = [];
  readonly people: Record<'bob' | 'ivy' | 'dee' | 'lou' | 'pat' | 'mia' | 'ada', Person> = {
    bob: { email: 'bob@acme.test', name: 'Bob Baker', password: 'Juniper-Falcon-Orchard-12', id: '' },
    ivy: { email: 'ivy@acme.test', name: 'Ivy Invited', password: '', id: '' },
    dee: { email: 'dee@acme.test', name: 'Dee Departed', password: 'Saffron-Glacier-Piano-77', id: '' },
    lou: { email: 'lou@acme.test', name: 'Lou Locksmith', password: 'Thistle-Harbor-Comet-35', id: '' },
    pat: { email: 'pat@acme.test', name: 'Pat Pending', password: 'Marble-Cactus-Ribbon-48', id: '' },
    mia: { email: 'mia@acme.test', name: 'Mia Manager', password: 'Velvet-Canyon-Otter-63', id: '' },
    ada: { email: 'ada@acme.test', name: 'Ada Admin', password: 'Quartz-Meadow-Heron-91', id: '' },
  };
  ownerId = '';
  ownerToken = '';
  owner!: Page;

  private constructor(
    readonly t: TestApp,
    readonly origin: string,
    readonly browser: Browser,
  ) {}

  /** `hostname: 'localhost'` for passkeys (see startPortal). */
  static async start(options: { hostname?: 'localhost' | '127.0.0.1' } = {}): Promise<PortalTeam> {
    const { t, origin } = await startPortal({}, options);
    const team = new PortalTeam(t, origin, await launchBrowser());
    try {
      await team.hire();
      team.owner = await team.signedIn(OWNER.email, OWNER.password);
    } catch (error) {
      // the test file's `after` never sees a team that failed to start: a browser and a server left open would hang the run
      await team.close();
      throw error;
    }
    return team;
  }

  async close(): Promise<void> {
    await this.browser.close();
    await this.t.close();
  }

  /** A browser profile of one's own, its CSP violations recorded on the team. */
  visitor() {
    return newVisitor(this.browser, this.cspViolations);
  }

  /** Signs in, in a browser of one's own; returns that page. */
  async signedIn(email: string, password: string): Promise<Page> {
    const { page } = await this.visitor();
    await signInThroughPage(page, this.origin, email, password);
    return page;
  }

  agentPage(id: string): string {
    return `${this.origin}/manage/agents/${id}`;
  }

  private async hire(): Promise<void> {
    const { t, people } = this;
    const { ownerId, ownerToken, agentRoleId, adminRoleId } = await t.setup();
    this.ownerId = ownerId;
    this.ownerToken = ownerToken;
    const managersRoleId = await t.role(ownerToken, 'Agent managers', ['manage_agents']);
    const { bob, ivy, dee, lou, pat, mia, ada } = people;
    bob.id = (await t.addAgent(ownerToken, { ...bob, roleId: agentRoleId })).id;
    dee.id = (await t.addAgent(ownerToken, { ...dee, roleId: agentRoleId })).id;
    lou.id = (await t.addAgent(ownerToken, { ...lou, roleId: agentRoleId })).id;
    pat.id = (await t.addAgent(ownerToken, { ...pat, roleId: agentRoleId })).id;
    mia.id = (await t.addAgent(ownerToken, { ...mia, roleId: managersRoleId })).id;
    ada.id = (await t.addAgent(ownerToken, { ...ada, roleId: adminRoleId })).id;
    ivy.id = (await t.post('/api/v1/agents', { email: ivy.email, name: ivy.name, roleId: agentRoleId }, ownerToken)).body.id;
    assert.equal((await t.patch(`/api/v1/agents/${dee.id}`, { status: 'deactivated' }, ownerToken)).status, 200);
    for (let i = 0; i < 5; i += 1) await t.post('/api/v1/auth/login', { email: lou.email, password: `Not-Lou-${i}-Password` });
    t.secrets.add('Temporary-Lagoon-Fossil-22');
    assert.equal((await t.put(`/api/v1/agents/${pat.id}/password`, { password: 'Temporary-Lagoon-Fossil-22', requireChangeAtNextLogin: true }, ownerToken)).status, 204);
    for (let i = 1; i <= 20; i += 1) {
      const n = String(i).padStart(2, '0');
      assert.equal((await t.post('/api/v1/agents', { email: `zed${n}@acme.test`, name: `Zed Filler ${n}`, roleId: agentRoleId }, ownerToken)).status, 201);
    }
  }
}
