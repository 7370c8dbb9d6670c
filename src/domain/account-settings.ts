/** Per-account settings, stored as JSON on the account; every field has a default. */
export interface AccountSettings {
  /** lifetime of self-service, admin-sent and recovery links; 1–72 (NIST SP 800-63B-4 suggests ≤ 24) */
  resetLinkLifetimeHours: number;
  /** how long a one-time password set by an administrator works; 1–720 */
  temporaryPasswordLifetimeHours: number;
  passwordPolicy: PasswordPolicySettings;
  /** consecutive failed sign-ins that lock an address */
  lockoutThreshold: number;
  lockoutMinutes: number;
  sessionIdleHours: number;
  sessionAbsoluteHours: number;
  rateLimits: RateLimitSettings;
  /** who must have a second factor: nobody, agents whose role holds any permission, everybody */
  twoFactorPolicy: TwoFactorPolicy;
  /** the help desk's IANA time zone ("Europe/Berlin"): times shown to agents who chose none, and in emails */
  timeZone: string;
}

export const TWO_FACTOR_POLICIES = ['optional', 'required_for_admins', 'required'] as const;
export type TwoFactorPolicy = (typeof TWO_FACTOR_POLICIES)[number];

/** Must this agent have a second factor under the account's policy? ("Admins": a role with any permission, API.md.) */
export function twoFactorRequiredFor(settings: Pick<AccountSettings, 'twoFactorPolicy'>, agent: { role: { permissions: readonly string[] } }): boolean {
  return settings.twoFactorPolicy === 'required' || (settings.twoFactorPolicy === 'required_for_admins' && agent.role.permissions.length > 0);
}

/**
 * Request limits (429 rate_limited with Retry-After). Per-IP limits are generous because a whole
 * office shares one address behind its NAT, and sign-in counts only failures.
 */
export interface RateLimitSettings {
  /** failed sign-ins per IP per 15 minutes */
  failedSignInsPerIp: number;
  /** forgot-password requests per email address per hour */
  forgotPasswordPerEmail: number;
  /** forgot-password requests per IP per 15 minutes */
  forgotPasswordPerIp: number;
  /** reset-link checks and redemptions per IP per 15 minutes */
  resetLinkPerIp: number;
  /** re-authentications and password changes per IP per 15 minutes */
  passwordProofsPerIp: number;
  /** requests to the OpenID Connect token endpoint per app (client id) per 15 minutes */
  tokenRequestsPerClient: number;
}

export const RATE_LIMIT_WINDOWS_MS: Record<keyof RateLimitSettings, number> = {
  failedSignInsPerIp: 15 * 60_000,
  forgotPasswordPerEmail: 60 * 60_000,
  forgotPasswordPerIp: 15 * 60_000,
  resetLinkPerIp: 15 * 60_000,
  passwordProofsPerIp: 15 * 60_000,
  tokenRequestsPerClient: 15 * 60_000,
};

export interface PasswordPolicySettings {
  /** in code points after NFC; 8–64 */
  minLength: number;
  /** how many of the agent's previous passwords may not be used again; 0–24 */
  historyDepth: number;
  /** HappyFox-style character classes, all off by default (NIST and OWASP advise against them) */
  requireUppercase: boolean;
  requireLowercase: boolean;
  requireDigit: boolean;
  /** a character that is neither a letter nor a digit (punctuation, symbols, spaces, emoji) */
  requireSymbol: boolean;
  /** a password older than this must be changed at the next sign-in; 0 = never, else 1–3650 */
  expiryDays: number;
  /** administrators may not set passwords directly (PUT /agents/{id}/password), only send reset links */
  adminSetPasswordDisabled: boolean;
  /**
   * Set by a policy change that answered "yes" to "must existing passwords that fail the new
   * policy be changed at next sign-in?": the login flow then checks the typed password
   * (`checkPasswordAtSignIn`) and requires a change when it fails. Not editable on its own.
   */
  enforceOnNextSignIn: boolean;
}

export const INVITATION_LIFETIME_HOURS = 7 * 24;
export const REAUTHENTICATION_WINDOW_MS = 10 * 60_000;
export const MAX_PASSWORD_LENGTH = 256;

export const DEFAULT_SETTINGS: AccountSettings = {
  resetLinkLifetimeHours: 48,
  temporaryPasswordLifetimeHours: 72,
  passwordPolicy: {
    minLength: 12,
    historyDepth: 5,
    requireUppercase: false,
    requireLowercase: false,
    requireDigit: false,
    requireSymbol: false,
    expiryDays: 0,
    adminSetPasswordDisabled: false,
    enforceOnNextSignIn: false,
  },
  lockoutThreshold: 5,
  lockoutMinutes: 60,
  sessionIdleHours: 8,
  sessionAbsoluteHours: 7 * 24,
  twoFactorPolicy: 'optional',
  timeZone: 'UTC',
  rateLimits: { failedSignInsPerIp: 100, forgotPasswordPerEmail: 5, forgotPasswordPerIp: 30, resetLinkPerIp: 60, passwordProofsPerIp: 60, tokenRequestsPerClient: 3000 },
};

export const SETTING_LIMITS = {
  resetLinkLifetimeHours: { min: 1, max: 72 },
  temporaryPasswordLifetimeHours: { min: 1, max: 720 },
  minLength: { min: 8, max: 64 },
  historyDepth: { min: 0, max: 24 },
  /** 0 means "never expires" */
  expiryDays: { min: 0, max: 3650 },
  lockoutThreshold: { min: 3, max: 20 },
  lockoutMinutes: { min: 1, max: 1440 },
  sessionIdleHours: { min: 1, max: 24 * 7 },
  sessionAbsoluteHours: { min: 1, max: 24 * 90 },
  /** every request limit: at least 1, at most 100,000 per window */
  rateLimit: { min: 1, max: 100_000 },
} as const;

/** The zone times are shown in to this agent: their own choice, else the help desk's. */
export function timeZoneFor(settings: Pick<AccountSettings, 'timeZone'>, agent: { timeZone: string | null } | null | undefined): string {
  return agent?.timeZone ?? settings.timeZone;
}

/** Reads stored settings, filling any field an older version did not write. */
export function parseSettings(json: string): AccountSettings {
  const stored = JSON.parse(json) as Partial<AccountSettings>;
  return {
    ...DEFAULT_SETTINGS,
    ...stored,
    passwordPolicy: { ...DEFAULT_SETTINGS.passwordPolicy, ...(stored.passwordPolicy ?? {}) },
    rateLimits: { ...DEFAULT_SETTINGS.rateLimits, ...(stored.rateLimits ?? {}) },
  };
}
