import { isPermission, type Permission } from '../domain/permissions.js';
import type { Role } from '../domain/models.js';
import type { Executor } from './db.js';
import type { RoleRow } from './schema.js';
import { iso } from './convert.js';

export function toRole(row: Pick<RoleRow, 'id' | 'account_id' | 'name' | 'permissions' | 'built_in'>): Role {
  const permissions = (JSON.parse(row.permissions) as string[]).filter(isPermission);
  return { id: row.id, accountId: row.account_id, name: row.name, permissions, builtIn: row.built_in === 1 };
}

export async function insertRole(db: Executor, role: Role, createdAt: Date): Promise<void> {
  await db
    .insertInto('roles')
    .values({ id: role.id, account_id: role.accountId, name: role.name, permissions: JSON.stringify(role.permissions), built_in: role.builtIn ? 1 : 0, created_at: iso(createdAt) })
    .execute();
}

export async function listRoles(db: Executor, accountId: string): Promise<Role[]> {
  const rows = await db.selectFrom('roles').selectAll().where('account_id', '=', accountId).orderBy('built_in', 'desc').orderBy('name').execute();
  return rows.map(toRole);
}

export async function findRoleById(db: Executor, accountId: string, id: string): Promise<Role | undefined> {
  const row = await db.selectFrom('roles').selectAll().where('account_id', '=', accountId).where('id', '=', id).executeTakeFirst();
  return row && toRole(row);
}

export async function findRoleByName(db: Executor, accountId: string, name: string): Promise<Role | undefined> {
  const rows = await db.selectFrom('roles').selectAll().where('account_id', '=', accountId).execute();
  const row = rows.find((r) => r.name.toLowerCase() === name.toLowerCase());
  return row && toRole(row);
}

export async function updateRole(db: Executor, accountId: string, id: string, changes: { name?: string; permissions?: Permission[] }): Promise<void> {
  await db
    .updateTable('roles')
    .set({
      ...(changes.name !== undefined ? { name: changes.name } : {}),
      ...(changes.permissions !== undefined ? { permissions: JSON.stringify(changes.permissions) } : {}),
    })
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .execute();
}

/** How many agents hold each role of the account (deactivated agents too: they keep their role), in one grouped query. */
export async function countAgentsByRole(db: Executor, accountId: string): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('agents')
    .select(['role_id', (eb) => eb.fn.countAll<number | string>().as('count')])
    .where('account_id', '=', accountId)
    .groupBy('role_id')
    .execute();
  return new Map(rows.map((r) => [r.role_id, Number(r.count)]));
}

/** Deletes a custom role that no agent holds, in one statement: 1 when deleted, 0 when it is built in, held (even by an agent added meanwhile) or gone. */
export async function deleteUnusedRole(db: Executor, accountId: string, id: string): Promise<number> {
  const result = await db
    .deleteFrom('roles')
    .where('account_id', '=', accountId)
    .where('id', '=', id)
    .where('built_in', '=', 0)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('agents').select('agents.id').whereRef('agents.role_id', '=', 'roles.id'))))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
