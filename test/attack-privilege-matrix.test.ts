import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { deriveLinkToken } from '../src/security/tokens.js';
import { TestApp, OWNER, type Answer } from './support/harness.js';
import { assertStateUnchanged, snapshotState } from './support/db-snapshot.js';
import { PERMISSION_NAMES, type Permission } from '../src/domain/permissions.js';

// The full matrix of who may do what to whom: every actor role × every kind of target × every
// action on an agent, each cell's expected answer computed by `expectedOutcome` below from the
// rules of DESIGN.md and API.md (not from the code), then checked against the running server.
// A refused cell must also leave every stored row as it was.

type ActorKind = 'account_administrator' | 'administrator' | 'agents_only' | 'password_only' | 'both' | 'both_and_roles' | 'plain' | 'audit_only';
type TargetKind = 'account_administrator' | 'administrator' | 'both' | 'plain' | 'self' | 'other_account' | 'nonexistent';
type Action =
  | 'send_reset_email'
  | 'set_password'
  | 'set_one_time_password'
  | 'rename'
  | 'role_to_agent'
  | 'role_to_administrator'
  | 'deactivate'
  | 'unlock'
  | 'resend_invitation'
  | 'revoke_sessions'
  | 'get';

const BOTH: Permission[] = ['manage_agents', 'manage_agent_password'];

const ACTORS: Record<ActorKind, { label: string; permissions: readonly Permission[]; isAccountAdministrator: boolean }> = {
  account_administrator: { label: 'the Account Administrator', permissions: PERMISSION_NAMES, isAccountAdministrator: true },
  administrator: { label: 'a second Administrator', permissions: PERMISSION_NAMES, isAccountAdministrator: false },
  agents_only: { label: 'an agent with manage_agents only', permissions: ['manage_agents'], isAccountAdministrator: false },
  password_only: { label: 'an agent with manage_agent_password only', permissions: ['manage_agent_password'], isAccountAdministrator: false },
  both: { label: 'an agent with both password permissions', permissions: BOTH, isAccountAdministrator: false },
  both_and_roles: { label: 'an agent with both and manage_roles', permissions: [...BOTH, 'manage_roles'], isAccountAdministrator: false },
  plain: { label: 'a plain Agent', permissions: [], isAccountAdministrator: false },
  audit_only: { label: 'an agent with view_audit_log only', permissions: ['view_audit_log'], isAccountAdministrator: false },
};

const TARGETS: Record<TargetKind, string> = {
  account_administrator: 'the Account Administrator',
  administrator: 'a full Administrator',
  both: 'an agent with both password permissions',
  plain: 'a plain Agent',
  self: 'themselves',
  other_account: "another help desk's agent",
  nonexistent: 'an id of no agent',
};

const ACTIONS: Record<Action, string> = {
  send_reset_email: 'send a reset email to',
  set_password: 'set the password of',
  set_one_time_password: 'set a one-time password for',
  rename: 'rename',
  role_to_agent: 'give the Agent role to',
  role_to_administrator: 'give the Administrator role to',
  deactivate: 'deactivate',
  unlock: 'unlock',
  resend_invitation: 'resend the invitation of',
  revoke_sessions: 'sign out everywhere',
  get: 'read',
};

/** Actions that change the target for good: each such cell gets a target of its own. */
const DESTRUCTIVE = new Set<Action>(['set_password', 'set_one_time_password', 'role_to_agent', 'role_to_administrator', 'deactivate']);
const PASSWORD_ACTIONS = new Set<Action>(['send_reset_email', 'set_password', 'set_one_time_password']);
const ROLE_ACTIONS: Partial<Record<Action, 'Agent' | 'Administrator'>> = { role_to_agent: 'Agent', role_to_administrator: 'Administrator' };
const ROLE_PERMISSIONS: Record<'Agent' | 'Administrator', readonly Permission[]> = { Agent: [], Administrator: PERMISSION_NAMES };

interface Expected {
  status: number;
  code?: string;
  reason?: string;
}

type RoleName = 'Agent' | 'Administrator' | 'custom';

/** What is known about the target when the cell's answer is predicted. */
interface TargetFacts {
  exists: boolean;
  isSelf: boolean;
  isAccountAdministrator: boolean;
  permissions: readonly Permission[];
  roleName: RoleName;
}

const hasAll = (held: readonly Permission[], needed: readonly Permission[]) => needed.every((p) => held.includes(p));
const refused = (reason: string): Expected => ({ status: 403, code: 'forbidden', reason });

/** The successful answer of each action on an active agent who already has a password. */
const SUCCESS: Record<Action, Expected> = {
  send_reset_email: { status: 202 },
  set_password: { status: 204 },
  set_one_time_password: { status: 204 },
  rename: { status: 200 },
  role_to_agent: { status: 200 },
  role_to_administrator: { status: 200 },
  deactivate: { status: 200 },
  unlock: { status: 204 },
  // every target here has set a password, so there is no invitation to resend
  resend_invitation: { status: 409, code: 'invitation_not_pending' },
  revoke_sessions: { status: 204 },
  get: { status: 200 },
};

/**
 * The rules, in the contract's order: the permissions the action needs (403 missing_permission
 * comes before 404); the target in this help desk (404 for another account's id or no agent);
 * then, acting on someone else, the Account Administrator is protected from everyone and a
 * target holding a permission the actor lacks is out of reach; then nobody gives a role with
 * a permission they lack, nor changes their own role or status. The password routes act on
 * another agent's password only: one's own is changed with the current one (own_account).
 */
function expectedOutcome(actor: ActorKind, target: TargetFacts, action: Action): Expected {
  const held = ACTORS[actor].permissions;
  const needed: Permission[] = PASSWORD_ACTIONS.has(action) ? BOTH : ['manage_agents'];
  if (!hasAll(held, needed)) return refused('missing_permission');
  if (!target.exists) return { status: 404, code: 'not_found' };
  if (action === 'get') return SUCCESS.get;
  // the password routes act on another agent's password; one's own needs the current one (POST /me/password)
  if (PASSWORD_ACTIONS.has(action) && target.isSelf) return refused('own_account');
  if (!target.isSelf && target.isAccountAdministrator) return refused('account_administrator_protected');
  if (!target.isSelf && !hasAll(held, target.permissions)) return refused('target_more_privileged');
  const role = ROLE_ACTIONS[action];
  if (role && target.isSelf) return refused('cannot_change_own_role');
  if (role && role !== target.roleName && !hasAll(held, ROLE_PERMISSIONS[role])) return refused('cannot_grant_permissions');
  if (action === 'deactivate' && target.isSelf) return refused('cannot_change_own_status');
  return SUCCESS[action];
}

// ---------------------------------------------------------------------------------------------

interface Principal {
  id: string;
  email: string;
  password: string;
}

let t: TestApp;
let other: TestApp;
let foreignAgentId: string;
let adminRoleId: string;
let agentRoleId: string;
const roleIds: Partial<Record<ActorKind | TargetKind, string>> = {};
const actors = {} as Record<ActorKind, Principal>;
const targets = {} as Record<'administrator' | 'both' | 'plain', Principal>;
/** a full Administrator outside the matrix who makes the fresh targets */
let builderToken: string;
let counter = 0;

/** A strong password never used before: only hex digits and fixed letters, so no name or email is in it. */
function freshPassword(): string {
  counter += 1;
  const password = `Pw-${createHash('sha256').update(`matrix-${counter}`).digest('hex').slice(0, 24)}`;
  t.secrets.add(password);
  return password;
}

/** Names and emails without a run of hex letters, so no generated password contains them. */
function freshName(): string {
  counter += 1;
  return `Rox Quill ${counter}`;
}

async function signIn(principal: Principal): Promise<string> {
  return t.login(principal.email, principal.password);
}

/**
 * An active agent with a password, added by the builder, who sets it through their invitation link
 * as a new agent does (an administrator can no longer set an invited agent's password: 409
 * agent_invited, issue 12). No mail round trip: the link is derived from its row as the worker does.
 */
async function freshAgent(roleId: string): Promise<Principal> {
  counter += 1;
  const email = `mx.target${counter}@acme.test`;
  const created = await t.post('/api/v1/agents', { email, name: freshName(), roleId }, builderToken);
  assert.equal(created.status, 201, created.raw);
  const row = await t.app.deskpass.deps.db.selectFrom('password_reset_tokens').select('id').where('agent_id', '=', created.body.id).where('purpose', '=', 'invitation').executeTakeFirstOrThrow();
  const link = deriveLinkToken(t.config.secretKey, row.id);
  t.secrets.add(link);
  const password = freshPassword();
  const set = await t.post('/api/v1/auth/reset-password', { token: link, newPassword: password });
  assert.equal(set.status, 204, set.raw);
  return { id: created.body.id, email, password };
}

async function invitedThenActive(adminToken: string, email: string, roleId: string): Promise<Principal> {
  const password = freshPassword();
  const { id } = await t.addAgent(adminToken, { email, name: freshName(), roleId, password });
  return { id, email, password };
}

function perform(action: Action, targetId: string, token: string): Promise<Answer> {
  const agent = `/api/v1/agents/${encodeURIComponent(targetId)}`;
  switch (action) {
    case 'send_reset_email':
      return t.post(`${agent}/password-reset-email`, undefined, token);
    case 'set_password':
    case 'set_one_time_password':
      return t.put(`${agent}/password`, { password: freshPassword(), requireChangeAtNextLogin: action === 'set_one_time_password' }, token);
    case 'rename':
      return t.patch(agent, { name: freshName() }, token);
    case 'role_to_agent':
      return t.patch(agent, { roleId: agentRoleId }, token);
    case 'role_to_administrator':
      return t.patch(agent, { roleId: adminRoleId }, token);
    case 'deactivate':
      return t.patch(agent, { status: 'deactivated' }, token);
    case 'unlock':
      return t.post(`${agent}/unlock`, undefined, token);
    case 'resend_invitation':
      return t.post(`${agent}/invitation`, undefined, token);
    case 'revoke_sessions':
      return t.post(`${agent}/sessions/revoke`, undefined, token);
    case 'get':
      return t.get(agent, token);
  }
}

/** The id of one cell's target: a fresh agent of the kind when the action changes it for good. */
async function targetIdFor(actor: ActorKind, kind: TargetKind, action: Action): Promise<string> {
  switch (kind) {
    case 'account_administrator':
      return actors.account_administrator.id;
    case 'self':
      return actors[actor].id;
    case 'other_account':
      return foreignAgentId;
    case 'nonexistent':
      return randomUUID();
    default:
      return DESTRUCTIVE.has(action) ? (await freshAgent(roleIds[kind]!)).id : targets[kind].id;
  }
}

function describeExpected(expected: Expected): string {
  if (expected.status === 403) return `403 ${expected.reason}`;
  if (expected.code) return `${expected.status} ${expected.code}`;
  return `${expected.status}`;
}

before(async () => {
  t = await TestApp.start();
  const owner = await t.setup();
  adminRoleId = owner.adminRoleId;
  agentRoleId = owner.agentRoleId;
  actors.account_administrator = { id: owner.ownerId, email: OWNER.email, password: OWNER.password };

  const customRoles: Array<[ActorKind, string, readonly Permission[]]> = [
    ['agents_only', 'Agent Managers', ['manage_agents']],
    ['password_only', 'Password Only', ['manage_agent_password']],
    ['both', 'Password Admins', BOTH],
    ['both_and_roles', 'Password and Role Admins', [...BOTH, 'manage_roles']],
    ['audit_only', 'Auditors', ['view_audit_log']],
  ];
  for (const [kind, name, permissions] of customRoles) roleIds[kind] = await t.role(owner.ownerToken, name, [...permissions]);
  roleIds.administrator = adminRoleId;
  roleIds.plain = agentRoleId;

  for (const kind of Object.keys(ACTORS) as ActorKind[]) {
    if (kind === 'account_administrator') continue;
    const roleId = kind === 'administrator' ? adminRoleId : kind === 'plain' ? agentRoleId : roleIds[kind]!;
    actors[kind] = await invitedThenActive(owner.ownerToken, `mx.actor.${kind.replace(/_/g, '.')}@acme.test`, roleId);
  }
  targets.administrator = await invitedThenActive(owner.ownerToken, 'mx.target.admin@acme.test', adminRoleId);
  targets.both = await invitedThenActive(owner.ownerToken, 'mx.target.both@acme.test', roleIds.both!);
  targets.plain = await invitedThenActive(owner.ownerToken, 'mx.target.plain@acme.test', agentRoleId);
  const builder = await invitedThenActive(owner.ownerToken, 'mx.builder@acme.test', adminRoleId);
  builderToken = await signIn(builder);
  // From here on nothing needs a delivered email; a stopped worker keeps the outbox still between snapshots.
  await t.app.deskpass.mailWorker.stop();

  other = await TestApp.start();
  foreignAgentId = (await other.setup()).ownerId;
});

after(async () => {
  await Promise.all([t.close(), other.close()]);
});

const ACTOR_ROLE_NAMES: Record<ActorKind, RoleName> = {
  account_administrator: 'Administrator',
  administrator: 'Administrator',
  agents_only: 'custom',
  password_only: 'custom',
  both: 'custom',
  both_and_roles: 'custom',
  plain: 'Agent',
  audit_only: 'custom',
};
const TARGET_PERMISSIONS: Record<'administrator' | 'both' | 'plain', readonly Permission[]> = { administrator: PERMISSION_NAMES, both: BOTH, plain: [] };
const TARGET_ROLE_NAMES: Record<'administrator' | 'both' | 'plain', RoleName> = { administrator: 'Administrator', both: 'custom', plain: 'Agent' };

const ACTOR_KINDS = Object.keys(ACTORS) as ActorKind[];
const TARGET_KINDS = Object.keys(TARGETS) as TargetKind[];
const ACTION_KINDS = Object.keys(ACTIONS) as Action[];

/** The facts of a target kind as seen by an actor kind (ids play no part in the rules). */
function factsOf(actor: ActorKind, kind: TargetKind): TargetFacts {
  const isSelf = kind === 'self' || (kind === 'account_administrator' && actor === 'account_administrator');
  if (kind === 'other_account' || kind === 'nonexistent') return { exists: false, isSelf: false, isAccountAdministrator: false, permissions: [], roleName: 'custom' };
  if (kind === 'self') return { exists: true, isSelf, isAccountAdministrator: ACTORS[actor].isAccountAdministrator, permissions: ACTORS[actor].permissions, roleName: ACTOR_ROLE_NAMES[actor] };
  if (kind === 'account_administrator') return { exists: true, isSelf, isAccountAdministrator: true, permissions: PERMISSION_NAMES, roleName: 'Administrator' };
  return { exists: true, isSelf: false, isAccountAdministrator: false, permissions: TARGET_PERMISSIONS[kind], roleName: TARGET_ROLE_NAMES[kind] };
}

test('the rule function exercises every rule of the contract at least once', () => {
  const seen = new Set<string>();
  for (const actor of ACTOR_KINDS) {
    for (const kind of TARGET_KINDS) {
      for (const action of ACTION_KINDS) seen.add(describeExpected(expectedOutcome(actor, factsOf(actor, kind), action)));
    }
  }
  for (const outcome of [
    '403 missing_permission',
    '403 account_administrator_protected',
    '403 target_more_privileged',
    '403 cannot_grant_permissions',
    '403 cannot_change_own_role',
    '403 cannot_change_own_status',
    '403 own_account',
    '404 not_found',
    '409 invitation_not_pending',
    '200',
    '202',
    '204',
  ]) {
    assert.ok(seen.has(outcome), `no cell expects ${outcome}`);
  }
});

function outcomeText(expected: Expected): string {
  return expected.status < 300 ? `allowed (${expected.status})` : `${describeExpected(expected)}, and nothing changes`;
}

for (const actor of ACTOR_KINDS) {
  describe(`${ACTORS[actor].label} acting on agents`, () => {
    for (const kind of TARGET_KINDS) {
      for (const action of ACTION_KINDS) {
        const facts = factsOf(actor, kind);
        const expected = expectedOutcome(actor, facts, action);
        test(`${ACTORS[actor].label} → ${ACTIONS[action]} ${TARGETS[kind]}: ${outcomeText(expected)}`, async () => {
          // a fresh sign-in: acting on passwords needs one in the last 10 minutes
          const token = await signIn(actors[actor]);
          const targetId = await targetIdFor(actor, kind, action);
          assert.equal(targetId === actors[actor].id, facts.isSelf, 'the target is the actor exactly when the facts say so');
          const refusal = expected.status >= 300;
          const before = refusal ? await snapshotState(t) : undefined;
          const answer = await perform(action, targetId, token);
          const where = `${actor} → ${action} → ${kind}: expected ${describeExpected(expected)}, got ${answer.status} ${answer.raw.slice(0, 300)}`;

          assert.equal(answer.status, expected.status, where);
          if (expected.code) assert.equal(answer.body.error.code, expected.code, where);
          if (expected.reason) assert.deepEqual(answer.body.error.details, [{ reason: expected.reason }], where);
          if (before) assertStateUnchanged(before, await snapshotState(t), where);

          if (expected.status === 200) {
            const role = ROLE_ACTIONS[action];
            if (role) assert.equal(answer.body.role.id, role === 'Agent' ? agentRoleId : adminRoleId, where);
            if (action === 'deactivate') assert.equal(answer.body.status, 'deactivated', where);
            if (action === 'get') assert.equal(answer.body.id, targetId, where);
          }
        });
      }
    }
  });
}
