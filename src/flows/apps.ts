import { randomBytes } from 'node:crypto';
import { APP_TYPES, APP_URI_PROBLEM_MESSAGES, appUriProblem, launchUrlOf, type App, type AppType } from '../domain/apps.js';
import { fail, forbidden, type Failure, type Result } from '../domain/errors.js';
import type { Agent, RequestContext } from '../domain/models.js';
import { hashToken, newId, newRandomToken } from '../security/tokens.js';
import { findAccountBySlug, findOnlyAccount } from '../store/accounts.repo.js';
import { revokeAppSignIns } from '../store/app-sign-ins.repo.js';
import { deleteApp as deleteAppRow, findAppByClientId, findAppById, insertApp, listApps as listAppRows, setAppSecretHash, updateApp as updateAppRow } from '../store/apps.repo.js';
import { audit } from './consequences.js';
import type { FlowDeps } from './deps.js';
import { checkPermissions, toPrincipalPermissions } from './principal.js';

export const MAX_APP_NAME_LENGTH = 100;
export const MAX_APP_URIS = 20;
export const MAX_APP_URI_LENGTH = 2000;

/** The server's operator at the CLI: no agent, one help desk account, no permission check (they hold the store). */
export interface Operator {
  operator: true;
  accountId: string;
}

/** Who acts on apps: an agent (API, portal; needs manage_apps) or the operator (CLI). */
export type AppsActor = Agent | Operator;

export interface NewApp {
  name: string;
  type: AppType;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  backchannelLogoutUri?: string | null;
  launchUrl?: string | null;
}

/** A PATCH: absent fields stay; null clears the back-channel logout URI or the launch URL. */
export interface AppChanges {
  name?: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  backchannelLogoutUri?: string | null;
  launchUrl?: string | null;
}

/** An app as the portal's Your apps shows it: a name and where it opens, nothing else. */
export interface LaunchableApp {
  id: string;
  name: string;
  launchUrl: string | null;
}

type FieldProblem = { field: string; message: string };

function isOperator(actor: AppsActor): actor is Operator {
  return (actor as Operator).operator === true;
}

function scopeOf(actor: AppsActor): { accountId: string; actorAgentId: string | null } {
  return isOperator(actor) ? { accountId: actor.accountId, actorAgentId: null } : { accountId: actor.accountId, actorAgentId: actor.id };
}

function requireManageApps(actor: AppsActor): Failure | null {
  if (isOperator(actor)) return null;
  const decision = checkPermissions(toPrincipalPermissions(actor), ['manage_apps']);
  return decision.allowed ? null : forbidden(decision.reason);
}

/**
 * 24 random bytes, base64url: 32 URL-safe characters, not a secret (the help desk's configuration
 * shows it). Drawn again when it would start with "-" or "_": a leading "-" reads as an option to
 * `deskpass apps remove CLIENT_ID` and to most shells' tools (about 1 draw in 32; ~190 bits remain).
 */
export function newClientId(): string {
  for (;;) {
    const id = randomBytes(24).toString('base64url');
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}

function uriProblem(field: string, raw: string): FieldProblem | null {
  if (raw.length > MAX_APP_URI_LENGTH) return { field, message: `must be at most ${MAX_APP_URI_LENGTH} characters` };
  const problem = appUriProblem(raw);
  return problem ? { field, message: APP_URI_PROBLEM_MESSAGES[problem] } : null;
}

function uriListProblems(field: string, uris: string[], min: number): FieldProblem[] {
  if (uris.length < min) return [{ field, message: 'needs at least one URI' }];
  if (uris.length > MAX_APP_URIS) return [{ field, message: `can hold at most ${MAX_APP_URIS} URIs` }];
  return uris.map((uri, i) => uriProblem(`${field}.${i}`, uri)).filter((p): p is FieldProblem => p !== null);
}

/** Every rule of an app's fields, in one list of `{field, message}` (the API's invalid_request details). */
function problemsOf(input: AppChanges & { type?: string }, creating: boolean): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (input.name !== undefined || creating) {
    const name = (input.name ?? '').trim();
    if (name.length < 1 || name.length > MAX_APP_NAME_LENGTH) problems.push({ field: 'name', message: `must be 1 to ${MAX_APP_NAME_LENGTH} characters` });
  }
  if (creating && !(APP_TYPES as readonly string[]).includes(input.type ?? '')) problems.push({ field: 'type', message: 'must be "public" or "confidential"' });
  if (input.redirectUris !== undefined || creating) problems.push(...uriListProblems('redirectUris', input.redirectUris ?? [], 1));
  if (input.postLogoutRedirectUris !== undefined) problems.push(...uriListProblems('postLogoutRedirectUris', input.postLogoutRedirectUris, 0));
  for (const field of ['backchannelLogoutUri', 'launchUrl'] as const) {
    const value = input[field];
    if (typeof value === 'string') {
      const problem = uriProblem(field, value);
      if (problem) problems.push(problem);
    }
  }
  return problems;
}

/** Order kept, duplicates dropped: a URI registered twice is registered once. */
function distinct(uris: string[]): string[] {
  return [...new Set(uris)];
}

/**
 * The checks every app flow makes, in the order of the API's conventions: the input's
 * rules (400), then the permission (403); the caller looks the app up next (404).
 */
function refusal(actor: AppsActor, input?: AppChanges & { type?: string }, creating = false): Failure | null {
  if (input) {
    const problems = problemsOf(input, creating);
    if (problems.length > 0) return fail('invalid_request', problems);
  }
  return requireManageApps(actor);
}

/** The account's apps, oldest first. */
export async function listApps(deps: FlowDeps, actor: AppsActor): Promise<Result<{ apps: App[] }>> {
  const refused = refusal(actor);
  if (refused) return refused;
  return { ok: true, apps: await listAppRows(deps.db, scopeOf(actor).accountId) };
}

export async function getApp(deps: FlowDeps, actor: AppsActor, appId: string): Promise<Result<{ app: App }>> {
  const refused = refusal(actor);
  if (refused) return refused;
  const app = await findAppById(deps.db, scopeOf(actor).accountId, appId);
  return app ? { ok: true, app } : fail('not_found');
}

/** Every agent of the account may open every app the help desk registered (they are first-party). */
export async function listLaunchableApps(deps: FlowDeps, agent: Agent): Promise<LaunchableApp[]> {
  const apps = await listAppRows(deps.db, agent.accountId);
  return apps.map((app) => ({ id: app.id, name: app.name, launchUrl: launchUrlOf(app) })).sort((a, b) => a.name.localeCompare(b.name));
}

/** Registers an app; a confidential one gets its secret here, returned this once and stored as its SHA-256 only. */
export async function createApp(deps: FlowDeps, actor: AppsActor, input: NewApp & { context: RequestContext }): Promise<Result<{ app: App; clientSecret: string | null }>> {
  const refused = refusal(actor, input, true);
  if (refused) return refused;
  const { accountId, actorAgentId } = scopeOf(actor);
  const now = deps.clock.now();
  const app: App = {
    id: newId(),
    accountId,
    clientId: newClientId(),
    name: input.name.trim(),
    type: input.type,
    redirectUris: distinct(input.redirectUris),
    postLogoutRedirectUris: distinct(input.postLogoutRedirectUris ?? []),
    backchannelLogoutUri: input.backchannelLogoutUri || null,
    launchUrl: input.launchUrl || null,
    createdAt: now,
    updatedAt: now,
  };
  const clientSecret = app.type === 'confidential' ? newRandomToken() : null;
  await deps.db.transaction().execute(async (trx) => {
    await insertApp(trx, app, clientSecret ? hashToken(clientSecret) : null);
    await audit(trx, { accountId, type: 'app.created', actorAgentId, targetAgentId: null, context: input.context, details: { appId: app.id, clientId: app.clientId, name: app.name, type: app.type }, at: now });
  });
  return { ok: true, app, clientSecret };
}

/** Changes an app's name or URIs (its type and client id stay); a body that changes nothing writes nothing. */
export async function updateApp(deps: FlowDeps, actor: AppsActor, appId: string, input: AppChanges & { context: RequestContext }): Promise<Result<{ app: App }>> {
  const refused = refusal(actor, input);
  if (refused) return refused;
  const { accountId, actorAgentId } = scopeOf(actor);
  const app = await findAppById(deps.db, accountId, appId);
  if (!app) return fail('not_found');
  const wanted: AppChanges = {
    ...(input.name !== undefined ? { name: input.name.trim() } : {}),
    ...(input.redirectUris !== undefined ? { redirectUris: distinct(input.redirectUris) } : {}),
    ...(input.postLogoutRedirectUris !== undefined ? { postLogoutRedirectUris: distinct(input.postLogoutRedirectUris) } : {}),
    ...(input.backchannelLogoutUri !== undefined ? { backchannelLogoutUri: input.backchannelLogoutUri || null } : {}),
    ...(input.launchUrl !== undefined ? { launchUrl: input.launchUrl || null } : {}),
  };
  const changed = (Object.keys(wanted) as (keyof AppChanges)[]).filter((key) => JSON.stringify(wanted[key]) !== JSON.stringify(app[key]));
  if (changed.length === 0) return { ok: true, app };
  const changes = Object.fromEntries(changed.map((key) => [key, wanted[key]])) as AppChanges;
  const now = deps.clock.now();
  const updated: App = { ...app, ...changes, updatedAt: now };
  const found = await deps.db.transaction().execute(async (trx) => {
    // Read again inside the transaction: an app removed meanwhile is not "updated".
    if (!(await findAppById(trx, accountId, appId))) return false;
    await updateAppRow(trx, accountId, appId, changes, now);
    await audit(trx, { accountId, type: 'app.updated', actorAgentId, targetAgentId: null, context: input.context, details: { appId, clientId: app.clientId, name: updated.name, changed }, at: now });
    return true;
  });
  return found ? { ok: true, app: updated } : fail('not_found');
}

/** A new secret for a confidential app; the old one stops working at once. A public app has none (409 app_is_public). */
export async function rotateAppSecret(deps: FlowDeps, actor: AppsActor, appId: string, context: RequestContext): Promise<Result<{ app: App; clientSecret: string }>> {
  const refused = refusal(actor);
  if (refused) return refused;
  const { accountId, actorAgentId } = scopeOf(actor);
  const app = await findAppById(deps.db, accountId, appId);
  if (!app) return fail('not_found');
  if (app.type !== 'confidential') return fail('app_is_public');
  const clientSecret = newRandomToken();
  const found = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    if (!(await findAppById(trx, accountId, appId))) return false;
    await setAppSecretHash(trx, accountId, appId, hashToken(clientSecret), now);
    await audit(trx, { accountId, type: 'app.secret_rotated', actorAgentId, targetAgentId: null, context, details: { appId, clientId: app.clientId, name: app.name }, at: now });
    return true;
  });
  return found ? { ok: true, app, clientSecret } : fail('not_found');
}

/** Removes an app: every grant it holds is revoked with its codes and tokens, in the same transaction. */
export async function deleteApp(deps: FlowDeps, actor: AppsActor, appId: string, context: RequestContext): Promise<Result<{ app: App }>> {
  const refused = refusal(actor);
  if (refused) return refused;
  const { accountId, actorAgentId } = scopeOf(actor);
  const app = await findAppById(deps.db, accountId, appId);
  if (!app) return fail('not_found');
  const deleted = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    await revokeAppSignIns(trx, app.id);
    if ((await deleteAppRow(trx, accountId, app.id)) === 0) return false;
    await audit(trx, { accountId, type: 'app.deleted', actorAgentId, targetAgentId: null, context, details: { appId: app.id, clientId: app.clientId, name: app.name }, at: now });
    return true;
  });
  return deleted ? { ok: true, app } : fail('not_found');
}

/** The CLI's actor: the help desk by slug, or the only one on this server. */
export async function operatorOf(deps: FlowDeps, accountSlug?: string): Promise<Result<{ operator: Operator }, 'not_found'>> {
  const account = accountSlug ? await findAccountBySlug(deps.db, accountSlug) : await findOnlyAccount(deps.db);
  return account ? { ok: true, operator: { operator: true, accountId: account.id } } : fail('not_found');
}

/** The CLI names apps by client id (what the operator sees in the help desk's configuration). */
export async function findAppForOperator(deps: FlowDeps, clientId: string): Promise<Result<{ app: App; operator: Operator }, 'not_found'>> {
  const found = await findAppByClientId(deps.db, clientId);
  return found ? { ok: true, app: found.app, operator: { operator: true, accountId: found.app.accountId } } : fail('not_found');
}
