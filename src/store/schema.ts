import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * Tables as Kysely sees them. Times are ISO 8601 UTC strings of fixed width
 * (`2026-01-02T03:04:05.678Z`), so text order is time order on every dialect;
 * flags are 0/1 integers for the same reason.
 */
export interface Database {
  accounts: AccountsTable;
  roles: RolesTable;
  agents: AgentsTable;
  login_attempts: LoginAttemptsTable;
  password_history: PasswordHistoryTable;
  password_reset_tokens: PasswordResetTokensTable;
  sessions: SessionsTable;
  session_ends: SessionEndsTable;
  audit_events: AuditEventsTable;
  mail_outbox: MailOutboxTable;
  rate_limit_counters: RateLimitCountersTable;
  agent_search_terms: AgentSearchTermsTable;
  agent_search_grams: AgentSearchGramsTable;
  apps: AppsTable;
  oidc_payloads: OidcPayloadsTable;
  app_sign_ins: AppSignInsTable;
  signing_keys: SigningKeysTable;
  two_factor_totp: TwoFactorTotpTable;
  passkeys: PasskeysTable;
  recovery_codes: RecoveryCodesTable;
  two_factor_challenges: TwoFactorChallengesTable;
  webauthn_challenges: WebauthnChallengesTable;
}

type Flag = number;
type Json = string;

export interface AccountsTable {
  id: string;
  name: string;
  slug: string;
  plan: string;
  /** JSON of AccountSettings */
  settings: Json;
  created_at: string;
}

export interface RolesTable {
  id: string;
  account_id: string;
  name: string;
  /** JSON array of permission names */
  permissions: Json;
  built_in: Flag;
  created_at: string;
}

export interface AgentsTable {
  id: string;
  account_id: string;
  email: string;
  email_normalized: string;
  name: string;
  /** lower-cased name */
  name_normalized: string;
  role_id: string;
  is_account_administrator: Flag;
  status: 'invited' | 'active' | 'deactivated';
  password_hash: string | null;
  password_changed_at: string | null;
  password_change_required: Flag;
  temporary_password_expires_at: string | null;
  /** the administrator who chose the current password, when the agent did not (null: the agent chose it) */
  password_set_by_agent_id: string | null;
  /** a confirmed authenticator app or a passkey (kept with them, in the same transaction) */
  two_factor_enabled: ColumnType<Flag, Flag | undefined, Flag>;
  /** the IANA zone the agent chose; null: the help desk's (migration 008) */
  time_zone: ColumnType<string | null, string | null | undefined, string | null>;
  /** the name and the email folded for search (case, accents, ß = ss: foldForSearch), kept with them */
  name_folded: ColumnType<string, string | undefined, string>;
  email_folded: ColumnType<string, string | undefined, string>;
  /** when a session last started for this agent (admit() in flows/login.ts), null: never */
  last_sign_in_at: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: string;
  updated_at: string;
}

/**
 * The agent search index: one row per place a name search may start (the whole name, and after
 * each space), with the agent's email for the keyset order. Byte order ("C" on PostgreSQL).
 */
export interface AgentSearchTermsTable {
  account_id: string;
  agent_id: string;
  term: string;
  email_normalized: string;
}

/**
 * The substring index of the agent search: one row per distinct 3-character gram of the folded
 * name and of the folded email, with the agent's email for the keyset order. Byte order ("C").
 */
export interface AgentSearchGramsTable {
  account_id: string;
  agent_id: string;
  gram: string;
  email_normalized: string;
}

/** Failed sign-ins per email address, whether or not an agent has it (no enumeration through the lock). */
export interface LoginAttemptsTable {
  account_id: string;
  email_normalized: string;
  /** '' for devices that never signed in to the address; a trusted device's id; `session:<id>` for re-authentication */
  client: string;
  failed_count: number;
  last_failed_at: string | null;
  locked_until: string | null;
}

export interface PasswordHistoryTable {
  id: Generated<number>;
  account_id: string;
  agent_id: string;
  password_hash: string;
  created_at: string;
}

export type ResetTokenPurpose = 'self_service' | 'admin' | 'invitation' | 'operator_recovery';

export interface PasswordResetTokensTable {
  id: string;
  account_id: string;
  agent_id: string;
  /** SHA-256 of the emailed token, hex; the token itself is never stored */
  token_hash: string;
  purpose: ResetTokenPurpose;
  created_by_agent_id: string | null;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  revoked_at: string | null;
}

/**
 * Why a session ended, by a stable code (the sign-in page words it): the agent signed out, ended
 * it from another session, or an app's sign-out did; an administrator signed them out, deactivated
 * them, changed their role, set their password or reset their second factor; their password was
 * changed or reset elsewhere, or a password somebody else chose was retired; it expired.
 */
export type SessionEndReason =
  | 'signed_out'
  | 'signed_out_elsewhere'
  | 'signed_out_from_app'
  | 'revoked_by_admin'
  | 'session_revoked_by_admin'
  | 'deactivated'
  | 'role_changed'
  | 'password_changed'
  | 'password_reset'
  | 'password_set_by_admin'
  | 'password_retired'
  | 'two_factor_reset'
  | 'one_time_password_expired'
  | 'expired_idle'
  | 'expired_absolute';

/** The end of a deleted session, kept 7 days so the browser that held it can be told why. */
export interface SessionEndsTable {
  /** SHA-256 of the ended session's token, hex */
  token_hash: string;
  account_id: string;
  agent_id: string;
  reason: SessionEndReason;
  ended_at: string;
}

export interface SessionsTable {
  id: string;
  account_id: string;
  agent_id: string;
  /** SHA-256 of the session token, hex */
  token_hash: string;
  created_at: string;
  last_seen_at: string;
  /** last time the agent proved their password (sign-in or re-authentication) */
  authenticated_at: string;
  expires_at: string;
  ip: string | null;
  user_agent: string | null;
  /** JSON array of RFC 8176 methods the sign-in used; null: the password alone */
  amr: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface AuditEventsTable {
  id: Generated<number>;
  account_id: string;
  type: string;
  actor_agent_id: string | null;
  target_agent_id: string | null;
  /** the address typed, when no agent has it (e.g. a failed sign-in) */
  target_email: string | null;
  /** how the change came in: api, portal, cli */
  method: string;
  ip: string | null;
  user_agent: string | null;
  /** JSON with non-secret facts (changed fields, reasons) */
  details: Json | null;
  created_at: string;
}

export interface MailOutboxTable {
  id: Generated<number>;
  account_id: string;
  recipient: string;
  template: string;
  /** JSON of the template's data; never a password or a raw token; erased once sent */
  payload: Json | null;
  /** skipped: a mail request that resolved to no email (see MailPreparer); dropped: given up (see OutboxWorkerOptions.giveUp) */
  status: 'pending' | 'sent' | 'skipped' | 'dropped';
  attempts: number;
  next_attempt_at: string;
  /** a worker's claim on the row, so two workers never send it twice */
  locked_until: string | null;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
}

/** One fixed window of one rate limit: `key` names the limit and what it counts (an IP, an address). */
export interface RateLimitCountersTable {
  key: string;
  count: number;
  reset_at: string;
}

/** A help desk that signs agents in through Deskpass: an OpenID Connect client. */
export interface AppsTable {
  id: string;
  account_id: string;
  /** what the help desk is configured with */
  client_id: string;
  name: string;
  type: 'public' | 'confidential';
  /** SHA-256 of a confidential app's secret, hex; null for a public app */
  secret_hash: string | null;
  /** JSON arrays of absolute URIs */
  redirect_uris: Json;
  post_logout_redirect_uris: Json;
  backchannel_logout_uri: string | null;
  /** where Your apps opens the help desk (its sign-in start page); null: the origin of the first redirect URI */
  launch_url: string | null;
  created_at: string;
  updated_at: string;
}

/** What oidc-provider persists, by model (AuthorizationCode, AccessToken, RefreshToken, Grant, Session, Interaction, …). */
export interface OidcPayloadsTable {
  model: string;
  id: string;
  /** the provider's JSON payload */
  payload: Json;
  grant_id: string | null;
  /** a provider Session's uid */
  uid: string | null;
  /** null: does not expire */
  expires_at: string | null;
  consumed_at: string | null;
  /** a provider Session: the Deskpass session it carries (the two end together) */
  deskpass_session_id: string | null;
}

/** An app signed in through a Deskpass session: what ends with the session. */
export interface AppSignInsTable {
  session_id: string;
  app_id: string;
  account_id: string;
  agent_id: string;
  /** the provider grant its codes and tokens hang from */
  grant_id: string;
  created_at: string;
}

/** The provider's signing keys; the private JWK is AES-256-GCM under a key derived from SECRET_KEY. */
export interface SigningKeysTable {
  kid: string;
  alg: string;
  encrypted_jwk: string;
  created_at: string;
  /** set when a newer key took over signing; the key stays published a while after */
  retired_at: string | null;
}

/** An agent's authenticator app (RFC 6238). Pending until the first code confirms it. */
export interface TwoFactorTotpTable {
  id: string;
  account_id: string;
  agent_id: string;
  /** the base32 secret, AES-256-GCM under a key derived from SECRET_KEY */
  sealed_secret: string;
  created_at: string;
  confirmed_at: string | null;
  /** the last 30-second step a code was accepted for: that step and earlier ones are replays */
  last_used_step: ColumnType<number | string | null, number | null | undefined, number | null>;
  /** a pending authenticator: the session that started the set-up, the only one that sees and confirms it */
  session_id: string | null;
}
/** A WebAuthn credential of an agent. */
export interface PasskeysTable {
  id: string;
  account_id: string;
  agent_id: string;
  /** base64url */
  credential_id: string;
  /** COSE public key, base64url */
  public_key: string;
  counter: ColumnType<number | string, number, number>;
  /** JSON array of AuthenticatorTransport */
  transports: Json;
  name: string;
  device_type: string;
  backed_up: Flag;
  created_at: string;
  last_used_at: string | null;
}
export interface RecoveryCodesTable {
  id: string;
  account_id: string;
  agent_id: string;
  /** HMAC under a key derived from SECRET_KEY; the code itself is shown once and never stored */
  code_hash: string;
  created_at: string;
  used_at: string | null;
}
/** The second step of a sign-in: what a right password hands out instead of a session. */
export interface TwoFactorChallengesTable {
  /** keyed hash of the challenge token */
  id_hash: string;
  account_id: string;
  agent_id: string;
  /** the lockout door the password came through (login_attempts.client): wrong codes count there */
  door_client: string;
  /** the trusted device's id the password came from, if any (its device token is renewed after the second step) */
  device_id: string | null;
  /** SHA-256 of the password hash verified: a password change meanwhile kills the challenge */
  credential_fingerprint: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
}
/** A challenge handed to a browser for a passkey ceremony; consumed by the response that signs it. */
export interface WebauthnChallengesTable {
  challenge_hash: string;
  purpose: 'registration' | 'authentication';
  agent_id: string | null;
  session_id: string | null;
  created_at: string;
  expires_at: string;
}
export type AppRow = Selectable<AppsTable>;
export type AccountRow = Selectable<AccountsTable>;
export type RoleRow = Selectable<RolesTable>;
export type AgentRow = Selectable<AgentsTable>;
export type NewAgentRow = Insertable<AgentsTable>;
export type AgentUpdate = Updateable<AgentsTable>;
export type ResetTokenRow = Selectable<PasswordResetTokensTable>;
export type SessionRow = Selectable<SessionsTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type OutboxRow = Selectable<MailOutboxTable>;
export type { ColumnType };
