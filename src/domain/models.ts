import type { AccountSettings } from './account-settings.js';
import type { Permission } from './permissions.js';

/** The domain's view of the stored rows: camelCase, times as Date, flags as booleans. */
export interface Account {
  id: string;
  name: string;
  slug: string;
  plan: string;
  settings: AccountSettings;
  createdAt: Date;
}

export interface Role {
  id: string;
  accountId: string;
  name: string;
  permissions: Permission[];
  builtIn: boolean;
}

export type AgentStatus = 'invited' | 'active' | 'deactivated';

export interface Agent {
  id: string;
  accountId: string;
  email: string;
  name: string;
  role: Role;
  isAccountAdministrator: boolean;
  status: AgentStatus;
  passwordHash: string | null;
  passwordChangedAt: Date | null;
  passwordChangeRequired: boolean;
  temporaryPasswordExpiresAt: Date | null;
  /** the administrator who chose the current password, when the agent did not */
  passwordSetByAgentId: string | null;
  /** has a confirmed authenticator app or a passkey */
  twoFactorEnabled: boolean;
  /** the IANA zone the agent chose for times shown to them; null: the help desk's */
  timeZone: string | null;
  /** when a session last started for them; null: never */
  lastSignInAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Session {
  id: string;
  accountId: string;
  agentId: string;
  createdAt: Date;
  lastSeenAt: Date;
  authenticatedAt: Date;
  expiresAt: Date;
  ip: string | null;
  userAgent: string | null;
  /** how the sign-in that started it was made (RFC 8176: pwd, otp, hwk, mfa) */
  amr: AuthenticationMethod[];
}

export type AuthenticationMethod = 'pwd' | 'otp' | 'hwk' | 'user' | 'mfa';

/** Who did something and from where, for the audit log. */
export interface RequestContext {
  method: 'api' | 'portal' | 'cli' | 'oidc';
  ip: string | null;
  userAgent: string | null;
}

/** Emails and names are compared case-insensitively, after trimming. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

