import { SETTING_LIMITS, TWO_FACTOR_POLICIES, twoFactorRequiredFor, type TwoFactorPolicy, type AccountSettings, type PasswordPolicySettings, RATE_LIMIT_WINDOWS_MS, type RateLimitSettings } from '../domain/account-settings.js';
import { fail, forbidden, type Result } from '../domain/errors.js';
import type { Account, Agent, RequestContext } from '../domain/models.js';
import { checkPermissions, toPrincipalPermissions } from './principal.js';
import { findOnlyAccount, lockAccountSettings, updateAccountSettings } from '../store/accounts.repo.js';
import { audit } from './consequences.js';
import { normalizeTimeZone } from '../domain/time-zones.js';
import type { FlowDeps } from './deps.js';

/** The help desk this server hosts (one per server for now; by host name later). */
export function currentAccount(deps: Pick<FlowDeps, 'db' | 'onlyAccount'>): Promise<Account | undefined> {
  return deps.onlyAccount ? deps.onlyAccount() : findOnlyAccount(deps.db);
}

export function viewAccount(actor: Agent, account: Account): Result<{ account: Account }> {
  const decision = checkPermissions(toPrincipalPermissions(actor), ['manage_account_settings']);
  if (!decision.allowed) return forbidden(decision.reason);
  return { ok: true, account };
}

/** The password policy fields an administrator may change (enforceOnNextSignIn follows the answer below). */
export type PasswordPolicyChange = Partial<Omit<PasswordPolicySettings, 'enforceOnNextSignIn'>>;

export interface SettingsChange {
  resetLinkLifetimeHours?: number;
  temporaryPasswordLifetimeHours?: number;
  passwordPolicy?: PasswordPolicyChange;
  /**
   * The answer to "must existing passwords that fail the new policy be changed at next sign-in?",
   * sent with a `passwordPolicy` change; it sets `passwordPolicy.enforceOnNextSignIn`.
   */
  requireNonCompliantPasswordsToChange?: boolean;
  lockoutThreshold?: number;
  lockoutMinutes?: number;
  sessionIdleHours?: number;
  sessionAbsoluteHours?: number;
  rateLimits?: Partial<RateLimitSettings>;
  twoFactorPolicy?: TwoFactorPolicy;
  /** an IANA zone name; normalized ("europe/berlin" → "Europe/Berlin"), else 422 time_zone_unknown */
  timeZone?: string;
}

/** Changes the account's settings within their limits; audited. */
export async function updateSettings(deps: FlowDeps, actor: Agent, account: Account, change: SettingsChange, context: RequestContext): Promise<Result<{ account: Account }>> {
  const decision = checkPermissions(toPrincipalPermissions(actor), ['manage_account_settings']);
  if (!decision.allowed) return forbidden(decision.reason);
  const problems: { field: string; message: string }[] = [];
  const within = (field: string, value: number | undefined, limits: { min: number; max: number }) => {
    if (value !== undefined && (!Number.isInteger(value) || value < limits.min || value > limits.max)) {
      problems.push({ field, message: `must be a whole number from ${limits.min} to ${limits.max}` });
    }
  };
  within('resetLinkLifetimeHours', change.resetLinkLifetimeHours, SETTING_LIMITS.resetLinkLifetimeHours);
  within('temporaryPasswordLifetimeHours', change.temporaryPasswordLifetimeHours, SETTING_LIMITS.temporaryPasswordLifetimeHours);
  within('passwordPolicy.minLength', change.passwordPolicy?.minLength, SETTING_LIMITS.minLength);
  within('passwordPolicy.historyDepth', change.passwordPolicy?.historyDepth, SETTING_LIMITS.historyDepth);
  within('passwordPolicy.expiryDays', change.passwordPolicy?.expiryDays, SETTING_LIMITS.expiryDays);
  within('lockoutThreshold', change.lockoutThreshold, SETTING_LIMITS.lockoutThreshold);
  within('lockoutMinutes', change.lockoutMinutes, SETTING_LIMITS.lockoutMinutes);
  within('sessionIdleHours', change.sessionIdleHours, SETTING_LIMITS.sessionIdleHours);
  within('sessionAbsoluteHours', change.sessionAbsoluteHours, SETTING_LIMITS.sessionAbsoluteHours);
  for (const name of RATE_LIMIT_NAMES) within(`rateLimits.${name}`, change.rateLimits?.[name], SETTING_LIMITS.rateLimit);
  const idle = change.sessionIdleHours ?? account.settings.sessionIdleHours;
  const absolute = change.sessionAbsoluteHours ?? account.settings.sessionAbsoluteHours;
  if (idle > absolute) problems.push({ field: 'sessionIdleHours', message: 'must not exceed sessionAbsoluteHours' });
  const enforce = change.requireNonCompliantPasswordsToChange;
  if (enforce !== undefined && change.passwordPolicy === undefined) {
    problems.push({ field: 'requireNonCompliantPasswordsToChange', message: 'is an answer about a passwordPolicy change: send it with passwordPolicy' });
  }
  const policy = change.twoFactorPolicy;
  if (policy !== undefined && !TWO_FACTOR_POLICIES.includes(policy)) problems.push({ field: 'twoFactorPolicy', message: `must be one of ${TWO_FACTOR_POLICIES.join(', ')}` });
  if (problems.length > 0) return fail('invalid_request', problems);
  const timeZone = change.timeZone === undefined ? undefined : normalizeTimeZone(change.timeZone);
  if (timeZone === null) return fail('time_zone_unknown', [{ field: 'timeZone' }]);
  // Whoever makes a factor required has one: otherwise the change would shut its author out mid-session.
  if (policy !== undefined && twoFactorRequiredFor({ twoFactorPolicy: policy }, actor) && !actor.twoFactorEnabled) return fail('two_factor_not_enabled', [{ reason: 'own_factor_missing' }]);

  // Merged into the settings as stored when the write happens (read again, and held on
  // PostgreSQL): two administrators changing different settings at once both keep their change.
  const merge = (current: AccountSettings): AccountSettings => ({
    ...current,
    ...(change.resetLinkLifetimeHours !== undefined ? { resetLinkLifetimeHours: change.resetLinkLifetimeHours } : {}),
    ...(change.temporaryPasswordLifetimeHours !== undefined ? { temporaryPasswordLifetimeHours: change.temporaryPasswordLifetimeHours } : {}),
    ...(change.lockoutThreshold !== undefined ? { lockoutThreshold: change.lockoutThreshold } : {}),
    ...(change.lockoutMinutes !== undefined ? { lockoutMinutes: change.lockoutMinutes } : {}),
    ...(change.sessionIdleHours !== undefined ? { sessionIdleHours: change.sessionIdleHours } : {}),
    ...(change.sessionAbsoluteHours !== undefined ? { sessionAbsoluteHours: change.sessionAbsoluteHours } : {}),
    ...(policy !== undefined ? { twoFactorPolicy: policy } : {}),
    ...(timeZone !== undefined ? { timeZone } : {}),
    rateLimits: { ...current.rateLimits, ...pickRateLimits(change.rateLimits) },
    passwordPolicy: {
      ...current.passwordPolicy,
      ...editablePolicyFields(change.passwordPolicy),
      // Passwords are stored hashed: whether one fails the new policy is known only when its
      // agent next types it, so the answer is kept for the login flow (checkPasswordAtSignIn).
      ...(enforce !== undefined ? { enforceOnNextSignIn: enforce } : {}),
    },
  });
  const now = deps.clock.now();
  const settings = await deps.db.transaction().execute(async (trx) => {
    const merged = merge((await lockAccountSettings(trx, account.id)) ?? account.settings);
    await updateAccountSettings(trx, account.id, merged);
    await audit(trx, { accountId: account.id, type: 'account.settings_updated', actorAgentId: actor.id, targetAgentId: null, context, details: { changed: Object.keys(change), ...(change.passwordPolicy ? { passwordPolicy: Object.keys(editablePolicyFields(change.passwordPolicy)) } : {}) }, at: now });
    return merged;
  });
  return { ok: true, account: { ...account, settings } };
}

const EDITABLE_POLICY_FIELDS = [
  'minLength',
  'historyDepth',
  'requireUppercase',
  'requireLowercase',
  'requireDigit',
  'requireSymbol',
  'expiryDays',
  'adminSetPasswordDisabled',
] as const satisfies readonly (keyof PasswordPolicyChange)[];

/** Only the fields an administrator may set, whatever else a caller put in the object. */
function editablePolicyFields(change: PasswordPolicyChange | undefined): PasswordPolicyChange {
  const picked: Record<string, unknown> = {};
  for (const field of EDITABLE_POLICY_FIELDS) {
    if (change?.[field] !== undefined) picked[field] = change[field];
  }
  return picked as PasswordPolicyChange;
}

const RATE_LIMIT_NAMES = Object.keys(RATE_LIMIT_WINDOWS_MS) as (keyof RateLimitSettings)[];

function pickRateLimits(change: Partial<RateLimitSettings> | undefined): Partial<RateLimitSettings> {
  const picked: Partial<RateLimitSettings> = {};
  for (const name of RATE_LIMIT_NAMES) if (change?.[name] !== undefined) picked[name] = change[name];
  return picked;
}
