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
}

export interface PasswordPolicySettings {
  minLength: number;
  /** how many of the agent's previous passwords may not be used again */
  historyDepth: number;
}

export const INVITATION_LIFETIME_HOURS = 7 * 24;
export const REAUTHENTICATION_WINDOW_MS = 10 * 60_000;
export const MAX_PASSWORD_LENGTH = 256;

export const DEFAULT_SETTINGS: AccountSettings = {
  resetLinkLifetimeHours: 48,
  temporaryPasswordLifetimeHours: 72,
  passwordPolicy: { minLength: 12, historyDepth: 5 },
  lockoutThreshold: 5,
  lockoutMinutes: 60,
  sessionIdleHours: 8,
  sessionAbsoluteHours: 7 * 24,
};

export const SETTING_LIMITS = {
  resetLinkLifetimeHours: { min: 1, max: 72 },
  temporaryPasswordLifetimeHours: { min: 1, max: 720 },
  minLength: { min: 8, max: 64 },
  historyDepth: { min: 0, max: 24 },
} as const;

/** Reads stored settings, filling any field an older version did not write. */
export function parseSettings(json: string): AccountSettings {
  const stored = JSON.parse(json) as Partial<AccountSettings>;
  return {
    ...DEFAULT_SETTINGS,
    ...stored,
    passwordPolicy: { ...DEFAULT_SETTINGS.passwordPolicy, ...(stored.passwordPolicy ?? {}) },
  };
}
