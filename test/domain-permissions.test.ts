import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BUILT_IN_ROLES,
  PASSWORD_ADMIN_PERMISSIONS,
  PERMISSION_NAMES,
  checkActOnAgent,
  checkAssignRole,
  checkPermissions,
  isPermission,
  type Permission,
  type Principal,
} from '../src/domain/permissions.js';
import { DEFAULT_PLAN, PLANS, PLAN_NAMES, isPlan, planHasFeature } from '../src/domain/plans.js';
import { checkPasswordRules, normalizePassword, passwordLength, type PolicyContext } from '../src/domain/password-policy.js';
import { DEFAULT_SETTINGS, MAX_PASSWORD_LENGTH } from '../src/domain/account-settings.js';
import { ConfigError, OWASP_ARGON2ID_MINIMUM, isBelowOwaspMinimum, loadConfig, parseArgon2 } from '../src/config.js';

const ACCOUNT = 'acct-1';
const OTHER_ACCOUNT = 'acct-2';

function principal(id: string, permissions: readonly Permission[], extra: Partial<Principal> = {}): Principal {
  return { id, accountId: ACCOUNT, permissions, isAccountAdministrator: false, ...extra };
}

const ALL = PERMISSION_NAMES;
const owner = principal('owner', ALL, { isAccountAdministrator: true });
const admin = principal('admin', ALL);
const manager = principal('manager', ['manage_agents']);
const passwordAdmin = principal('pwadmin', ['manage_agents', 'manage_agent_password']);
const plainAgent = principal('agent', []);

const reasons = (d: ReturnType<typeof checkActOnAgent>) => (d.allowed ? 'allowed' : d.reason);

describe('checkPermissions', () => {
  test('an actor holding every needed permission is allowed', () => {
    assert.deepEqual(checkPermissions(passwordAdmin, PASSWORD_ADMIN_PERMISSIONS), { allowed: true });
    assert.deepEqual(checkPermissions(admin, ALL), { allowed: true });
  });

  test('missing any one needed permission is refused with missing_permission', () => {
    assert.deepEqual(checkPermissions(manager, PASSWORD_ADMIN_PERMISSIONS), { allowed: false, reason: 'missing_permission' });
    assert.deepEqual(checkPermissions(principal('p', ['manage_agent_password']), PASSWORD_ADMIN_PERMISSIONS), { allowed: false, reason: 'missing_permission' });
    assert.deepEqual(checkPermissions(plainAgent, ['view_audit_log']), { allowed: false, reason: 'missing_permission' });
  });

  test('needing nothing is always allowed, even for an agent without permissions', () => {
    assert.deepEqual(checkPermissions(plainAgent, []), { allowed: true });
  });

  test('acting on another agent\'s password needs both manage_agents and manage_agent_password', () => {
    assert.deepEqual([...PASSWORD_ADMIN_PERMISSIONS].sort(), ['manage_agent_password', 'manage_agents']);
  });

  test('the catalogue has exactly the six documented permissions; built-in Administrator has all, Agent none', () => {
    assert.deepEqual([...PERMISSION_NAMES].sort(), ['manage_account_settings', 'manage_agent_password', 'manage_agents', 'manage_apps', 'manage_roles', 'view_audit_log']);
    assert.deepEqual([...BUILT_IN_ROLES.Administrator].sort(), [...PERMISSION_NAMES].sort());
    assert.deepEqual(BUILT_IN_ROLES.Agent, []);
    assert.equal(isPermission('manage_agents'), true);
    assert.equal(isPermission('fly'), false);
    assert.equal(isPermission('toString'), false);
    assert.equal(isPermission('__proto__'), false);
  });
});

describe('checkActOnAgent', () => {
  test('acting on oneself is allowed, for the Account Administrator and for an agent without permissions', () => {
    assert.equal(reasons(checkActOnAgent(owner, owner)), 'allowed');
    assert.equal(reasons(checkActOnAgent(plainAgent, plainAgent)), 'allowed');
  });

  test('the Account Administrator is protected from everyone else, even a full Administrator', () => {
    assert.equal(reasons(checkActOnAgent(admin, owner)), 'account_administrator_protected');
    assert.equal(reasons(checkActOnAgent(passwordAdmin, owner)), 'account_administrator_protected');
    assert.equal(reasons(checkActOnAgent(plainAgent, owner)), 'account_administrator_protected');
  });

  test('a target whose permissions are a subset of the actor\'s (or equal) may be acted on', () => {
    assert.equal(reasons(checkActOnAgent(passwordAdmin, plainAgent)), 'allowed');
    assert.equal(reasons(checkActOnAgent(passwordAdmin, manager)), 'allowed');
    assert.equal(reasons(checkActOnAgent(passwordAdmin, principal('peer', ['manage_agent_password', 'manage_agents']))), 'allowed');
    assert.equal(reasons(checkActOnAgent(admin, principal('admin2', ALL))), 'allowed');
    assert.equal(reasons(checkActOnAgent(owner, admin)), 'allowed');
  });

  test('a target holding any permission the actor lacks is refused with target_more_privileged', () => {
    assert.equal(reasons(checkActOnAgent(passwordAdmin, admin)), 'target_more_privileged');
    assert.equal(reasons(checkActOnAgent(manager, passwordAdmin)), 'target_more_privileged');
    assert.equal(reasons(checkActOnAgent(passwordAdmin, principal('auditor', ['view_audit_log']))), 'target_more_privileged');
    assert.equal(reasons(checkActOnAgent(plainAgent, manager)), 'target_more_privileged');
  });

  test('account_administrator_protected wins over target_more_privileged', () => {
    assert.equal(reasons(checkActOnAgent(manager, owner)), 'account_administrator_protected');
  });

  test('an agent of another account can never be acted on, whatever the permissions', () => {
    const stranger = principal('stranger', [], { accountId: OTHER_ACCOUNT });
    const strangerOwner = principal('stranger-owner', ALL, { accountId: OTHER_ACCOUNT, isAccountAdministrator: true });
    assert.equal(reasons(checkActOnAgent(owner, stranger)), 'missing_permission');
    assert.equal(reasons(checkActOnAgent(admin, stranger)), 'missing_permission');
    assert.equal(reasons(checkActOnAgent(strangerOwner, plainAgent)), 'missing_permission');
    // same id in two accounts is still two agents
    assert.equal(reasons(checkActOnAgent(admin, principal('admin', [], { accountId: OTHER_ACCOUNT }))), 'missing_permission');
  });
});

describe('checkAssignRole', () => {
  test('nobody changes their own role, not even the Account Administrator', () => {
    assert.equal(reasons(checkAssignRole(owner, owner, ALL)), 'cannot_change_own_role');
    assert.equal(reasons(checkAssignRole(admin, admin, [])), 'cannot_change_own_role');
    assert.equal(reasons(checkAssignRole(plainAgent, plainAgent, [])), 'cannot_change_own_role');
  });

  test('the Account Administrator\'s role cannot be changed by anyone else', () => {
    assert.equal(reasons(checkAssignRole(admin, owner, ALL)), 'account_administrator_protected');
    assert.equal(reasons(checkAssignRole(admin, owner, [])), 'account_administrator_protected');
  });

  test('a target stronger than the actor keeps their role: target_more_privileged', () => {
    assert.equal(reasons(checkAssignRole(passwordAdmin, admin, [])), 'target_more_privileged');
    assert.equal(reasons(checkAssignRole(manager, passwordAdmin, ['manage_agents'])), 'target_more_privileged');
  });

  test('a role with a permission the actor lacks cannot be given: cannot_grant_permissions', () => {
    assert.equal(reasons(checkAssignRole(manager, plainAgent, ['manage_agents', 'manage_roles'])), 'cannot_grant_permissions');
    assert.equal(reasons(checkAssignRole(passwordAdmin, plainAgent, ALL)), 'cannot_grant_permissions');
  });

  test('target_more_privileged is decided before cannot_grant_permissions', () => {
    assert.equal(reasons(checkAssignRole(manager, admin, ALL)), 'target_more_privileged');
  });

  test('a weaker target may be given any role within the actor\'s permissions', () => {
    assert.equal(reasons(checkAssignRole(passwordAdmin, plainAgent, ['manage_agents', 'manage_agent_password'])), 'allowed');
    assert.equal(reasons(checkAssignRole(passwordAdmin, manager, [])), 'allowed');
    assert.equal(reasons(checkAssignRole(owner, admin, [])), 'allowed');
    assert.equal(reasons(checkAssignRole(admin, plainAgent, ALL)), 'allowed');
  });

  test('an agent of another account can never be given a role', () => {
    const stranger = principal('stranger', [], { accountId: OTHER_ACCOUNT });
    assert.equal(reasons(checkAssignRole(owner, stranger, [])), 'missing_permission');
    assert.equal(reasons(checkAssignRole(admin, stranger, ALL)), 'missing_permission');
  });
});

describe('plans', () => {
  test('all four plans (Mighty, Fantastic, Enterprise, Enterprise Plus) have agent_password_management', () => {
    assert.deepEqual([...PLAN_NAMES].sort(), ['enterprise', 'enterprise_plus', 'fantastic', 'mighty']);
    assert.deepEqual(PLAN_NAMES.map((p) => PLANS[p].label).sort(), ['Enterprise', 'Enterprise Plus', 'Fantastic', 'Mighty']);
    for (const plan of PLAN_NAMES) {
      assert.equal(isPlan(plan), true, plan);
      assert.equal(planHasFeature(plan, 'agent_password_management'), true, plan);
    }
  });

  test('an unknown plan has no feature, including names inherited from Object', () => {
    for (const plan of ['free', '', 'Enterprise', 'toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      assert.equal(isPlan(plan), false, plan);
      assert.equal(planHasFeature(plan, 'agent_password_management'), false, plan);
    }
  });

  test('the default plan is a known plan', () => {
    assert.equal(isPlan(DEFAULT_PLAN), true);
  });
});

describe('password policy', () => {
  const policy = DEFAULT_SETTINGS.passwordPolicy;
  const context: PolicyContext = { email: 'ana.lima@acme.test', name: 'Ana Lima', accountName: 'Acme Support' };
  const rules = (password: string, ctx: PolicyContext = context) => checkPasswordRules(password, policy, ctx).map((v) => v.rule);

  test('the default policy asks for at least 12 characters and at most 256', () => {
    assert.equal(policy.minLength, 12);
    assert.equal(MAX_PASSWORD_LENGTH, 256);
  });

  test('a good passphrase passes every rule', () => {
    assert.deepEqual(checkPasswordRules('Tundra-Mosaic-Falcon-42', policy, context), []);
    assert.deepEqual(rules('correct horse battery staple'), []);
  });

  test('length is counted in code points after NFC: é composed and é decomposed count the same', () => {
    const composed = '\u00e9';
    const decomposed = 'e\u0301';
    assert.equal(normalizePassword(decomposed), composed);
    assert.equal(passwordLength(composed), 1);
    assert.equal(passwordLength(decomposed), 1);
    // 11 + é = 12 code points either way: both pass
    assert.deepEqual(rules(`Zebra-Crane${composed}`), []);
    assert.deepEqual(rules(`Zebra-Crane${decomposed}`), []);
    // 10 + é = 11 after NFC; the decomposed form has 12 code points before NFC and still fails
    assert.deepEqual(rules(`Zebra-Cran${composed}`), ['min_length']);
    assert.equal([...`Zebra-Cran${decomposed}`].length, 12);
    assert.deepEqual(rules(`Zebra-Cran${decomposed}`), ['min_length']);
  });

  test('a character outside the BMP counts as one, not as two UTF-16 units', () => {
    const twelve = '\u{1F98A}\u{1F43B}\u{1F427}\u{1F989}\u{1F41D}\u{1F40C}\u{1F419}\u{1F988}\u{1F42C}\u{1F422}\u{1F98E}\u{1F996}';
    assert.equal(twelve.length, 24);
    assert.equal(passwordLength(twelve), 12);
    assert.deepEqual(rules(twelve), []);
    assert.deepEqual(rules(twelve.slice(0, 22)), ['min_length']);
  });

  test('exactly the minimum length passes; one less is min_length', () => {
    assert.deepEqual(rules('Qx7-Rv9-Tm2k'), []);
    assert.deepEqual(rules('Qx7-Rv9-Tm2'), ['min_length']);
  });

  test('the account minimum is honoured (a policy of 16 rejects 15)', () => {
    const strict = { ...policy, minLength: 16 };
    assert.deepEqual(checkPasswordRules('Qx7-Rv9-Tm2k-Lp9', strict, context), []);
    assert.deepEqual(checkPasswordRules('Qx7-Rv9-Tm2k-Lp', strict, context).map((v) => v.rule), ['min_length']);
  });

  test('256 code points pass; 257 is max_length', () => {
    const unit = 'Qx7-Rv9-Tm2k-Lp9'; // 16
    const max = unit.repeat(16);
    assert.equal(passwordLength(max), 256);
    assert.deepEqual(rules(max), []);
    assert.deepEqual(rules(`${max}z`), ['max_length']);
    // decomposed characters are counted after NFC here too
    const nearlyMax = `${unit.repeat(15)}Qx7-Rv9-Tm2k-Lp`; // 255
    assert.deepEqual(rules(`${nearlyMax}e\u0301`), []);
  });

  test('"password" is too short, blocklisted and too weak', () => {
    assert.deepEqual(rules('password').sort(), ['blocklisted', 'min_length', 'too_weak']);
  });

  test('common passwords and a single repeated character are blocklisted, whatever the case', () => {
    // zxcvbn finds them weak as well
    assert.deepEqual(rules('Password1234'), ['blocklisted', 'too_weak']);
    assert.deepEqual(rules('QWERTY123456'), ['blocklisted', 'too_weak']);
    assert.deepEqual(rules('zzzzzzzzzzzzzzzz'), ['blocklisted', 'too_weak']);
  });

  test('the full email address is personal information', () => {
    assert.deepEqual(rules('x-ana.lima@acme.test-x', { email: 'ana.lima@acme.test', name: 'Zed Q', accountName: 'Qq' }), ['contains_personal_info']);
  });

  test('the email local part is personal information, whatever the case', () => {
    const ctx = { email: 'kowalczyk@acme.test', name: 'Zed Q', accountName: 'Qq' };
    assert.deepEqual(rules('Harbor-KOWALCZYK-91', ctx), ['contains_personal_info']);
  });

  test('any word of the name with at least 3 letters is personal information; shorter words are not', () => {
    const ctx = { email: 'x1@acme.test', name: 'Bo Lindqvist Eva', accountName: 'Qq' };
    assert.deepEqual(rules('Harbor-lindqvist-91', ctx), ['contains_personal_info']);
    assert.deepEqual(rules('Harbor-EVA-Lantern-91', ctx), ['contains_personal_info']);
    assert.deepEqual(rules('Bo-Harbor-Lantern-91', ctx), []);
  });

  test('a name written with accents matches the password after NFC', () => {
    const ctx = { email: 'x1@acme.test', name: 'Zo\u00e9 Martin', accountName: 'Qq' };
    assert.deepEqual(rules('Harbor-zoe\u0301-Lantern', ctx), ['contains_personal_info']);
  });

  test('the help desk name is personal information', () => {
    assert.deepEqual(rules('Quiet-ACME-river-77', { email: 'x1@example.test', name: 'Zed Q', accountName: 'Acme Support' }), ['contains_personal_info']);
    assert.deepEqual(rules('river-support-quiet-77', { email: 'x1@example.test', name: 'Zed Q', accountName: 'Acme Support' }), ['contains_personal_info']);
  });

  test('several rules are reported together', () => {
    assert.deepEqual(rules('ana').sort(), ['contains_personal_info', 'min_length', 'too_weak']);
  });
});

describe('config', () => {
  const KEY = 'ab'.repeat(32);

  test('parseArgon2 reads m, t and p, with or without spaces', () => {
    assert.deepEqual(parseArgon2('m=19456,t=2,p=1'), OWASP_ARGON2ID_MINIMUM);
    assert.deepEqual(parseArgon2(' m = 256 , t = 1 , p = 1 '), { memoryKiB: 256, iterations: 1, parallelism: 1 });
    assert.deepEqual(parseArgon2('p=2,t=3,m=65536'), { memoryKiB: 65536, iterations: 3, parallelism: 2 });
  });

  test('parseArgon2 refuses a malformed or impossible cost with ConfigError', () => {
    for (const raw of ['', 'm=19456,t=2', 'm=abc,t=2,p=1', 'm=19456,t=0,p=1', 'm=19456,t=2,p=0', 'm=19456,t=2,p=17', 'm=15,t=1,p=2', 'm=19456.5,t=2,p=1', 'm=19456;t=2;p=1', 'm=-1,t=2,p=1']) {
      assert.throws(() => parseArgon2(raw), ConfigError, raw);
    }
  });

  test('a cost below the OWASP minimum is recognised (the server warns)', () => {
    assert.equal(isBelowOwaspMinimum(parseArgon2('m=256,t=1,p=1')), true);
    assert.equal(isBelowOwaspMinimum(parseArgon2('m=19456,t=1,p=1')), true);
    assert.equal(isBelowOwaspMinimum(OWASP_ARGON2ID_MINIMUM), false);
  });

  test('loadConfig applies the documented defaults', () => {
    const config = loadConfig({ SECRET_KEY: KEY });
    assert.equal(config.port, 3000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.publicUrl, 'http://localhost:3000');
    assert.equal(config.databaseUrl, 'sqlite:./data/deskpass.sqlite');
    assert.equal(config.smtpUrl, undefined);
    assert.equal(config.mailFrom, 'Deskpass <no-reply@localhost>');
    assert.equal(config.rateLimits, true);
    assert.deepEqual(config.argon2, OWASP_ARGON2ID_MINIMUM);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.secretKey.length, 32);
  });

  test('loadConfig reads a valid environment and trims the PUBLIC_URL slash', () => {
    const config = loadConfig({
      SECRET_KEY: KEY,
      PORT: '8080',
      PUBLIC_URL: 'https://desk.example.com/',
      DATABASE_URL: 'postgres://u:p@db/deskpass',
      SMTP_URL: 'smtp://mail:25',
      RATE_LIMITS: 'OFF',
      ARGON2ID: 'm=65536,t=3,p=1',
    });
    assert.equal(config.port, 8080);
    assert.equal(config.publicUrl, 'https://desk.example.com');
    assert.equal(config.rateLimits, false);
    assert.equal(config.smtpUrl, 'smtp://mail:25');
    assert.deepEqual(config.argon2, { memoryKiB: 65536, iterations: 3, parallelism: 1 });
  });

  test('loadConfig refuses each invalid setting with ConfigError', () => {
    const bad: Record<string, string>[] = [
      { PORT: 'abc' },
      { PORT: '70000' },
      { PORT: '-1' },
      { PUBLIC_URL: 'not a url' },
      { PUBLIC_URL: 'ftp://desk.example.com' },
      // the OpenID Connect issuer: https, or http on loopback only
      { PUBLIC_URL: 'http://desk.example.com' },
      { PUBLIC_URL: 'http://10.0.0.5:3000' },
      { DATABASE_URL: 'mysql://db/deskpass' },
      { DATABASE_URL: './deskpass.sqlite' },
      { SMTP_URL: 'http://mail:25' },
      { RATE_LIMITS: 'maybe' },
      { ARGON2ID: 'm=1,t=1' },
      { SECRET_KEY: 'too-short' },
      { SECRET_KEY: 'ab'.repeat(31) },
    ];
    for (const env of bad) {
      assert.throws(() => loadConfig({ SECRET_KEY: KEY, ...env }), ConfigError, JSON.stringify(env));
    }
  });

  test('PUBLIC_URL may be http:// on localhost and loopback addresses (development, tests)', () => {
    for (const url of ['http://localhost:3000', 'http://127.0.0.1:4100', 'http://[::1]:3000', 'http://desk.localhost']) {
      assert.equal(loadConfig({ SECRET_KEY: KEY, PUBLIC_URL: url }).publicUrl, url);
    }
  });

  test('PostgreSQL without SECRET_KEY is refused (every instance needs the same key)', () => {
    assert.throws(() => loadConfig({ DATABASE_URL: 'postgres://u:p@db/deskpass' }), ConfigError);
    assert.throws(() => loadConfig({ DATABASE_URL: 'postgresql://u:p@db/deskpass' }), ConfigError);
  });
});
