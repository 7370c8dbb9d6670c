import type { Agent } from '../../domain/models.js';
import type { Permission } from '../../domain/permissions.js';

export interface NavItem {
  key: string;
  label: string;
  href: string;
}

/** Manage › … entries, each shown only to roles that hold its permission. */
const MANAGE: (NavItem & { needs: Permission })[] = [
  { key: 'agents', label: 'Agents', href: '/manage/agents', needs: 'manage_agents' },
  { key: 'roles', label: 'Roles', href: '/manage/roles', needs: 'manage_roles' },
  { key: 'apps', label: 'Apps', href: '/manage/apps', needs: 'manage_apps' },
  { key: 'audit', label: 'Audit log', href: '/manage/audit', needs: 'view_audit_log' },
  { key: 'account', label: 'Account settings', href: '/manage/account', needs: 'manage_account_settings' },
];

export function manageEntriesFor(agent: Agent): NavItem[] {
  return MANAGE.filter((item) => agent.role.permissions.includes(item.needs)).map(({ key, label, href }) => ({ key, label, href }));
}

/** Where a signed-in agent lands: Your apps, the launcher of the help desk's apps (every agent may open it). */
export function homeFor(_agent: Agent): string {
  return '/apps';
}
