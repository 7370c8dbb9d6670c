/** The permission catalogue: what a role can grant. */
export const PERMISSIONS = {
  manage_agents: 'Add agents, edit their profile and role, activate, deactivate and unlock them, and sign them out.',
  manage_agent_password: "Reset another agent's password: email a reset link, set it, or set a one-time password.",
  manage_roles: 'Create roles and choose their permissions.',
  manage_account_settings: 'Change the help desk settings: link lifetimes and the password policy.',
  view_audit_log: 'Read the audit log of sign-ins and password changes.',
  manage_apps: 'Connect help desks that sign agents in through Deskpass (OpenID Connect): add, edit and remove apps and their secrets.',
} as const;

export type Permission = keyof typeof PERMISSIONS;
export const PERMISSION_NAMES = Object.keys(PERMISSIONS) as Permission[];

export function isPermission(name: string): name is Permission {
  return Object.hasOwn(PERMISSIONS, name);
}

export const BUILT_IN_ROLES = {
  Administrator: PERMISSION_NAMES,
  Agent: [] as Permission[],
} as const;

/** The parts of an agent that decide what they may do and what may be done to them. */
export interface Principal {
  id: string;
  accountId: string;
  permissions: readonly Permission[];
  isAccountAdministrator: boolean;
}

export type ForbiddenReason =
  | 'missing_permission'
  | 'account_administrator_protected'
  | 'target_more_privileged'
  | 'cannot_grant_permissions'
  | 'cannot_change_own_role'
  | 'cannot_change_own_status'
  | 'plan_feature_unavailable'
  /** the account's password policy lets administrators send reset links only */
  | 'admin_set_password_disabled';

export type Decision = { allowed: true } | { allowed: false; reason: ForbiddenReason };

const ALLOW: Decision = { allowed: true };
const deny = (reason: ForbiddenReason): Decision => ({ allowed: false, reason });

export function hasAll(held: readonly Permission[], needed: readonly Permission[]): boolean {
  return needed.every((p) => held.includes(p));
}

/** May the actor use an action that needs these permissions at all? */
export function checkPermissions(actor: Principal, needed: readonly Permission[]): Decision {
  return hasAll(actor.permissions, needed) ? ALLOW : deny('missing_permission');
}

/**
 * May the actor act on the target's password, sessions or status?
 * The Account Administrator is protected from everyone but themselves, and nobody
 * takes over an agent who holds a permission they lack.
 */
export function checkActOnAgent(actor: Principal, target: Principal): Decision {
  if (actor.accountId !== target.accountId) return deny('missing_permission');
  if (actor.id === target.id) return ALLOW;
  if (target.isAccountAdministrator) return deny('account_administrator_protected');
  if (!hasAll(actor.permissions, target.permissions)) return deny('target_more_privileged');
  return ALLOW;
}

/** May the actor give the target this role? */
export function checkAssignRole(actor: Principal, target: Principal, rolePermissions: readonly Permission[]): Decision {
  if (actor.accountId !== target.accountId) return deny('missing_permission');
  if (actor.id === target.id) return deny('cannot_change_own_role');
  if (target.isAccountAdministrator) return deny('account_administrator_protected');
  if (!hasAll(actor.permissions, target.permissions)) return deny('target_more_privileged');
  if (!hasAll(actor.permissions, rolePermissions)) return deny('cannot_grant_permissions');
  return ALLOW;
}

/** Acting on another agent's password: both permissions, then the target rules. */
export const PASSWORD_ADMIN_PERMISSIONS: readonly Permission[] = ['manage_agents', 'manage_agent_password'];
