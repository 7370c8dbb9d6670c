import { Command, InvalidArgumentError } from 'commander';
import { APP_TYPES, type App, type AppType } from '../domain/apps.js';
import { ERRORS, type Failure } from '../domain/errors.js';
import type { RequestContext } from '../domain/models.js';
import { createApp, deleteApp, findAppForOperator, listApps, operatorOf, rotateAppSecret } from '../flows/apps.js';
import type { FlowDeps } from '../flows/deps.js';
import { loadConfig, type Config } from '../config.js';
import { appJson } from '../http/schemas.js';

interface CliTools {
  withDeps: <T>(config: Config, run: (deps: FlowDeps) => Promise<T>) => Promise<T>;
  fail: (message: string) => never;
  context: RequestContext;
}

/** The options each API field comes from, for error messages an operator can act on. */
const OPTION_OF: Record<string, string> = {
  name: '--name',
  type: '--type',
  redirectUris: '--redirect-uri',
  postLogoutRedirectUris: '--post-logout-redirect-uri',
  backchannelLogoutUri: '--backchannel-logout-uri',
  launchUrl: '--launch-url',
};

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function appType(value: string): AppType {
  if (!(APP_TYPES as readonly string[]).includes(value)) throw new InvalidArgumentError(`one of ${APP_TYPES.join(', ')}`);
  return value as AppType;
}

/** "--redirect-uri #2 (http://x/cb) must use https://…", one line per problem. */
function describe(failure: Failure, values: Record<string, string | string[] | undefined> = {}): string {
  if (failure.code !== 'invalid_request' || !failure.details?.length) return ERRORS[failure.code].message;
  return failure.details
    .map((d) => {
      const { field = '', message = 'is not valid' } = d as { field?: string; message?: string };
      const [name, index] = field.split('.');
      const option = OPTION_OF[name] ?? field;
      if (index === undefined) return `${option} ${message}`;
      const list = values[name];
      const value = Array.isArray(list) ? list[Number(index)] : undefined;
      return `${option} #${Number(index) + 1}${value !== undefined ? ` (${value})` : ''} ${message}`;
    })
    .join('\n  ');
}

function line(app: App): string {
  return `${app.clientId}  ${app.type.padEnd(12)}  ${app.name}\n    redirect: ${app.redirectUris.join(', ')}\n    back-channel logout: ${app.backchannelLogoutUri ?? 'off'}\n`;
}

/** `deskpass apps …`: register, list, remove and rotate the secret of the apps that sign agents in through Deskpass (audited as the CLI). */
export function appsCommand(tools: CliTools): Command {
  const { withDeps, context } = tools;
  // An explicitly typed const, so TypeScript narrows after a call to it (a destructured never-function does not).
  const fail: (message: string) => never = tools.fail;
  const apps = new Command('apps').description('the apps (help desks, OIDC clients) that sign agents in through Deskpass');

  apps
    .command('add')
    .description('register an app and print its client id (and, for a confidential app, its secret, this once)')
    .requiredOption('--name <name>', 'what agents see, such as "Zammad"')
    .requiredOption('--type <type>', `one of ${APP_TYPES.join(', ')}`, appType)
    .option('--redirect-uri <uri>', 'a redirect URI (repeat for more; at least one)', collect, [])
    .option('--post-logout-redirect-uri <uri>', 'where the app may send agents after logout (repeatable)', collect, [])
    .option('--backchannel-logout-uri <uri>', 'where Deskpass sends logout tokens when a session ends')
    .option('--launch-url <uri>', 'where Your apps opens the app (default: the first redirect URI\'s origin)')
    .option('--account <slug>', 'the help desk, by slug (default: the only one)')
    .option('--json', 'print one JSON object {clientId, clientSecret?} and nothing else')
    .action(async (options: { name: string; type: AppType; redirectUri: string[]; postLogoutRedirectUri: string[]; backchannelLogoutUri?: string; launchUrl?: string; account?: string; json?: boolean }) => {
      if (options.redirectUri.length === 0) fail('give at least one --redirect-uri');
      const input = {
        name: options.name,
        type: options.type,
        redirectUris: options.redirectUri,
        postLogoutRedirectUris: options.postLogoutRedirectUri,
        backchannelLogoutUri: options.backchannelLogoutUri ?? null,
        launchUrl: options.launchUrl ?? null,
      };
      const result = await withDeps(loadConfig(), async (deps) => {
        const actor = await operatorOf(deps, options.account);
        if (!actor.ok) return actor;
        return createApp(deps, actor.operator, { ...input, context });
      });
      if (!result.ok) {
        if (result.code === 'not_found') fail(options.account ? `no help desk with slug "${options.account}"` : 'no help desk yet (or several: pass --account SLUG)');
        fail(`the app was not registered:\n  ${describe(result, input as unknown as Record<string, string[]>)}`);
      }
      const { app, clientSecret } = result;
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ clientId: app.clientId, ...(clientSecret ? { clientSecret } : {}) })}\n`);
        return;
      }
      process.stdout.write(`Registered ${app.type} app "${app.name}".\n\n  Client id:     ${app.clientId}\n`);
      if (clientSecret) process.stdout.write(`  Client secret: ${clientSecret}\n\nCopy the secret now: it is stored hashed and never shown again (apps rotate-secret makes a new one).\n`);
      else process.stdout.write('\nA public app has no secret: it signs in with PKCE (S256).\n');
    });

  apps
    .command('list')
    .description('list the registered apps')
    .option('--account <slug>', 'the help desk, by slug (default: the only one)')
    .option('--json', 'print one JSON object {apps: [...]}, as GET /api/v1/apps answers')
    .action(async (options: { account?: string; json?: boolean }) => {
      const result = await withDeps(loadConfig(), async (deps) => {
        const actor = await operatorOf(deps, options.account);
        return actor.ok ? listApps(deps, actor.operator) : actor;
      });
      if (!result.ok) fail(options.account ? `no help desk with slug "${options.account}"` : 'no help desk yet (or several: pass --account SLUG)');
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ apps: result.apps.map(appJson) })}\n`);
        return;
      }
      if (result.apps.length === 0) process.stdout.write('No apps yet. Register one with: deskpass apps add --name NAME --type public|confidential --redirect-uri URI\n');
      else process.stdout.write(result.apps.map(line).join(''));
    });

  apps
    .command('remove')
    .description('remove an app: every token it holds dies')
    .argument('<client-id>', 'the app\'s client id')
    .action(async (clientId: string) => {
      const result = await withDeps(loadConfig(), async (deps) => {
        const found = await findAppForOperator(deps, clientId);
        return found.ok ? deleteApp(deps, found.operator, found.app.id, context) : found;
      });
      if (!result.ok) fail(`no app with client id "${clientId}"`);
      process.stdout.write(`Removed "${result.app.name}" (${result.app.clientId}); its sign-ins and tokens are revoked.\n`);
    });

  apps
    .command('rotate-secret')
    .description('give a confidential app a new secret (the old one stops working) and print it, this once')
    .argument('<client-id>', 'the app\'s client id')
    .option('--json', 'print one JSON object {clientId, clientSecret} and nothing else')
    .action(async (clientId: string, options: { json?: boolean }) => {
      const result = await withDeps(loadConfig(), async (deps) => {
        const found = await findAppForOperator(deps, clientId);
        return found.ok ? rotateAppSecret(deps, found.operator, found.app.id, context) : found;
      });
      if (!result.ok) fail(result.code === 'app_is_public' ? `"${clientId}" is a public app: it has no secret to rotate` : `no app with client id "${clientId}"`);
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ clientId: result.app.clientId, clientSecret: result.clientSecret })}\n`);
        return;
      }
      process.stdout.write(`New client secret for "${result.app.name}" (${result.app.clientId}); the old one no longer works:\n\n  ${result.clientSecret}\n\nCopy it now: it is never shown again.\n`);
    });

  return apps;
}
