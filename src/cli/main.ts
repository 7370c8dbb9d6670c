import { isValidEmail } from '../domain/email.js';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, KEY_FILE, loadConfig, type Config } from '../config.js';
import { systemClock } from '../domain/clock.js';
import { PLAN_NAMES } from '../domain/plans.js';
import type { FlowDeps } from '../flows/deps.js';
import { issueAdminRecoveryLink, resetAdminTwoFactor } from '../flows/recover-admin.js';
import { createHelpDesk } from '../flows/setup.js';
import { createArgon2Hasher } from '../security/password-hasher.js';
import { migrateToLatest, openDatabase, type Db } from '../store/db.js';
import { assertStoreUsable, StoreConfigError } from '../store/store-check.js';
import { backupSqlite, BackupRefused, type BackupResult } from '../store/backup.js';
import { resolve } from 'node:path';
import { startServer } from '../server.js';
import { ERRORS } from '../domain/errors.js';
import { appsCommand } from './apps-command.js';
import { rotateSigningKey, KEY_RETENTION_MS } from '../oidc/keys.js';
import { findOnlyAccount } from '../store/accounts.repo.js';
import { audit } from '../flows/consequences.js';

const CLI_CONTEXT = { method: 'cli' as const, ip: null, userAgent: 'deskpass-cli' };

/** The CLI opens the store and calls the same flows as the HTTP API; it never goes through HTTP. */
async function withDeps<T>(config: Config, run: (deps: FlowDeps, db: Db) => Promise<T>): Promise<T> {
  const db = openDatabase(config.databaseUrl);
  const hasher = createArgon2Hasher(config.argon2);
  try {
    await assertStoreUsable(db, config.databaseUrl);
    await migrateToLatest(db);
    // The running server's outbox worker picks queued mail up within its poll interval.
    const deps: FlowDeps = { db, clock: systemClock, hasher, publicUrl: config.publicUrl, secretKey: config.secretKey, notifyMailQueued: () => {} };
    return await run(deps, db);
  } finally {
    await hasher.close?.();
    await db.destroy();
  }
}

function fail(message: string): never {
  process.stderr.write(`deskpass: ${message}\n`);
  process.exit(1);
}

function plan(value: string): string {
  if (!(PLAN_NAMES as string[]).includes(value)) throw new InvalidArgumentError(`one of ${PLAN_NAMES.join(', ')}`);
  return value;
}

export function buildCli(): Command {
  const program = new Command('deskpass').description('Agent accounts and passwords for a help desk.').showHelpAfterError();

  program
    .command('serve')
    .description('run the server (what npm start runs)')
    .action(async () => {
      await startServer(loadConfig());
    });

  program
    .command('migrate')
    .description('bring the database schema up to date')
    .action(async () => {
      await withDeps(loadConfig(), async () => undefined);
      process.stdout.write('Database schema is up to date.\n');
    });

  program
    .command('init')
    .description('create the help desk and its Account Administrator, and print their set-password link')
    .requiredOption('--admin-email <email>', "the Account Administrator's email")
    .option('--admin-name <name>', "the Account Administrator's name", 'Account Administrator')
    .option('--account-name <name>', 'the help desk name', 'Help Desk')
    .option('--plan <plan>', `one of ${PLAN_NAMES.join(', ')}`, plan, 'enterprise')
    .option('--time-zone <zone>', 'the help desk\'s IANA time zone, e.g. Europe/Berlin', 'UTC')
    .action(async (options: { adminEmail: string; adminName: string; accountName: string; plan: string; timeZone: string }) => {
      const config = loadConfig();
      if (!isValidEmail(options.adminEmail)) fail('--admin-email must be an email address');
      const result = await withDeps(config, (deps) =>
        createHelpDesk(deps, { accountName: options.accountName, adminName: options.adminName, adminEmail: options.adminEmail, plan: options.plan, timeZone: options.timeZone, context: CLI_CONTEXT }),
      );
      if (!result.ok && result.code === 'time_zone_unknown') fail(`--time-zone: "${options.timeZone}" is not an IANA time zone this server knows (e.g. Europe/Berlin, America/New_York, UTC)`);
      if (!result.ok) fail(result.code === 'setup_already_done' ? 'this server already hosts a help desk; init refuses a second one' : ERRORS[result.code].message);
      const link = `${config.publicUrl}/reset-password/${result.link!.token}`;
      process.stdout.write(
        `Created the help desk "${result.account.name}" (plan ${result.account.plan}) and its Account Administrator ${result.agent.email}.\n` +
          `They have been emailed a link to set their password; here it is for you too (valid until ${result.link!.expiresAt.toISOString()}, works once):\n\n  ${link}\n\n`,
      );
    });

  program
    .command('recover-admin')
    .description('print a one-time reset link for the Account Administrator (audited)')
    .option('--account <slug>', 'the help desk, by slug')
    .option('--reset-two-factor', "instead: remove the Account Administrator's second factor (authenticator, passkeys, recovery codes) and end their sessions")
    .action(async (options: { account?: string; resetTwoFactor?: boolean }) => {
      const config = loadConfig();
      if (options.resetTwoFactor) {
        const reset = await withDeps(config, (deps) => resetAdminTwoFactor(deps, { accountSlug: options.account, context: CLI_CONTEXT }));
        if (!reset.ok) fail(options.account ? `no help desk with slug "${options.account}"` : 'no help desk yet: run deskpass init first');
        process.stdout.write(
          reset.hadFactor
            ? `The second factor of the Account Administrator ${reset.email} is removed: their authenticator app, passkeys and recovery codes no longer work, and their sessions have ended. They sign in with their password and can set up a new factor in My Settings. They were emailed, and this was written to the audit log.\n`
            : `The Account Administrator ${reset.email} had no second factor; nothing changed except their sessions, which have ended. This was written to the audit log.\n`,
        );
        return;
      }
      const result = await withDeps(config, (deps) => issueAdminRecoveryLink(deps, { accountSlug: options.account, context: CLI_CONTEXT }));
      if (!result.ok) fail(options.account ? `no help desk with slug "${options.account}"` : 'no help desk yet: run deskpass init first');
      process.stdout.write(
        `One-time reset link for the Account Administrator ${result.email} (valid until ${result.expiresAt.toISOString()}; their older links are dead):\n\n  ${result.link}\n\n` +
          'Hand it over in person or over a channel you trust. This was written to the audit log.\n',
      );
    });

  program
    .command('backup')
    .argument('<file>', 'where to write the copy (must not exist yet)')
    .description('a consistent copy of the SQLite database, taken while the server runs')
    .action(async (file: string) => {
      const config = loadConfig();
      if (!config.databaseUrl.startsWith('sqlite:')) {
        fail(
          'deskpass backup copies a SQLite database; with PostgreSQL use pg_dump, which takes a consistent snapshot while serving: ' +
            "pg_dump --format=custom --file=deskpass.dump \"$DATABASE_URL_WITHOUT_SCHEMA\" (add --schema=NAME when DATABASE_URL has ?schema=NAME); keep SECRET_KEY with it",
        );
      }
      let result: BackupResult;
      try {
        result = await backupSqlite(config.databaseUrl.slice('sqlite:'.length), file);
      } catch (error) {
        fail(error instanceof BackupRefused ? error.message : `the backup failed, nothing was written to ${file}: ${(error as Error).message}`);
      }
      const key = process.env.SECRET_KEY ? 'the SECRET_KEY this server runs with' : `the key file ${resolve(KEY_FILE)}`;
      process.stdout.write(
        `Backed up ${result.agents} agents to ${result.file} (${result.bytes} bytes, ${result.pages} pages; SQLite's integrity check: ok).\n` +
          `Keep ${key} too, stored apart from the backup: without it the copy's authenticator secrets and signing keys cannot be opened, and with it anyone holding the copy can.\n` +
          'To restore: stop the server, put the copy at the DATABASE_URL path (remove any -wal and -shm files beside it), start with the same key.\n',
      );
    });

  program.addCommand(appsCommand({ withDeps, fail, context: CLI_CONTEXT }));

  const keys = program.command('keys').description("the OpenID Connect provider's signing keys");
  keys
    .command('rotate')
    .description('a new signing key signs from now on; the old ones stay published until what they signed has expired (audited)')
    .action(async () => {
      const config = loadConfig();
      const rotated = await withDeps(config, (deps) =>
        deps.db.transaction().execute(async (trx) => {
          const now = deps.clock.now();
          const result = await rotateSigningKey(trx, deps.secretKey, now);
          const account = await findOnlyAccount(trx);
          if (account) await audit(trx, { accountId: account.id, type: 'signing_key.rotated', actorAgentId: null, targetAgentId: null, context: CLI_CONTEXT, details: { kid: result.kid, retired: result.retired }, at: now });
          return result;
        }),
      );
      process.stdout.write(
        `New signing key ${rotated.kid}. ${rotated.retired.length ? `Retired ${rotated.retired.join(', ')}: still published for ${KEY_RETENTION_MS / 3_600_000} hours, then removed.` : 'There was no key before.'}\n` +
          'Running instances start signing with it within 30 seconds.\n',
      );
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StoreConfigError) fail(error.message);
    const { code, port, address } = error as { code?: string; port?: number; address?: string };
    if (code === 'EADDRINUSE') fail(`cannot listen on ${address}:${port}: the port is in use (another Deskpass, or another program); set PORT to a free one`);
    throw error;
  }
}
