import { EMAIL_PATTERN, MAX_EMAIL_LENGTH } from '../domain/email.js';
// The same TypeBox the routes' type provider uses (typebox 1.x): one library, one Optional marker.
import { Type, type Static } from '@fastify/type-provider-typebox';
import { PERMISSION_NAMES } from '../domain/permissions.js';
import type { AgentView } from '../flows/agents.js';
import type { Role, Session } from '../domain/models.js';
import type { AuditEvent } from '../store/audit.repo.js';
import type { Account } from '../domain/models.js';
import type { App } from '../domain/apps.js';
import { PLANS, isPlan } from '../domain/plans.js';
import { MAX_PASSWORD_LENGTH } from '../domain/account-settings.js';

export const TwoFactorPolicyField = Type.Union([Type.Literal('optional'), Type.Literal('required_for_admins'), Type.Literal('required')]);

/**
 * Response schemas are the guard that keeps hashes and tokens off the wire: fast-json-stringify
 * writes only the properties named here, whatever the handler hands it.
 */
export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      details: Type.Optional(Type.Array(Type.Any())),
    }),
  },
  { $id: 'Error' },
);

export const Permission = Type.Union(PERMISSION_NAMES.map((p) => Type.Literal(p)));

export const RoleSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  permissions: Type.Array(Type.String()),
  builtIn: Type.Boolean(),
});

export const AgentSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  name: Type.String(),
  role: Type.Object({ id: Type.String(), name: Type.String(), permissions: Type.Array(Type.String()) }),
  isAccountAdministrator: Type.Boolean(),
  status: Type.Union([Type.Literal('invited'), Type.Literal('active'), Type.Literal('deactivated')]),
  passwordChangeRequired: Type.Boolean(),
  locked: Type.Boolean(),
  /** has an authenticator app or a passkey (API.md "Second factor") */
  twoFactorEnabled: Type.Boolean(),
  /** the zone the agent chose for pages and emails; null: the help desk's (an extension of API.md) */
  timeZone: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  passwordChangedAt: Type.Union([Type.String(), Type.Null()]),
  /** when a session last started for the agent; null: never (issue 12) */
  lastSignInAt: Type.Union([Type.String(), Type.Null()]),
});

export const AccountSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  slug: Type.String(),
  plan: Type.String(),
  planName: Type.String(),
  createdAt: Type.String(),
  settings: Type.Object({
    resetLinkLifetimeHours: Type.Integer(),
    temporaryPasswordLifetimeHours: Type.Integer(),
    passwordPolicy: Type.Object({
      minLength: Type.Integer(),
      maxLength: Type.Integer(),
      historyDepth: Type.Integer(),
      requireUppercase: Type.Boolean(),
      requireLowercase: Type.Boolean(),
      requireDigit: Type.Boolean(),
      requireSymbol: Type.Boolean(),
      expiryDays: Type.Integer(),
      adminSetPasswordDisabled: Type.Boolean(),
      enforceOnNextSignIn: Type.Boolean(),
    }),
    lockoutThreshold: Type.Integer(),
    lockoutMinutes: Type.Integer(),
    sessionIdleHours: Type.Integer(),
    sessionAbsoluteHours: Type.Integer(),
    rateLimits: Type.Object({
      failedSignInsPerIp: Type.Integer(),
      forgotPasswordPerEmail: Type.Integer(),
      forgotPasswordPerIp: Type.Integer(),
      resetLinkPerIp: Type.Integer(),
      passwordProofsPerIp: Type.Integer(),
      tokenRequestsPerClient: Type.Integer(),
    }),
    twoFactorPolicy: TwoFactorPolicyField,
    /** the help desk's IANA time zone (an extension of API.md): how pages and emails show times; the API's stay ISO UTC */
    timeZone: Type.String(),
  }),
});

export const SessionSchema = Type.Object({
  id: Type.String(),
  current: Type.Boolean(),
  createdAt: Type.String(),
  lastSeenAt: Type.String(),
  expiresAt: Type.String(),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  /** the apps (help desks) signed in through this session: they are signed out with it */
  apps: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })),
});

const Person = Type.Union([Type.Object({ id: Type.String(), email: Type.String(), name: Type.String() }), Type.Null()]);

export const AuditEventSchema = Type.Object({
  id: Type.String(),
  type: Type.String(),
  actor: Person,
  target: Person,
  targetEmail: Type.Union([Type.String(), Type.Null()]),
  method: Type.String(),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  details: Type.Union([Type.Record(Type.String(), Type.Any()), Type.Null()]),
  createdAt: Type.String(),
});

export const AppSchema = Type.Object({
  id: Type.String(),
  clientId: Type.String(),
  name: Type.String(),
  type: Type.Union([Type.Literal('public'), Type.Literal('confidential')]),
  redirectUris: Type.Array(Type.String()),
  postLogoutRedirectUris: Type.Array(Type.String()),
  backchannelLogoutUri: Type.Union([Type.String(), Type.Null()]),
  /** an extension of the contract: where the portal's Your apps opens the app (null: the first redirect URI's origin) */
  launchUrl: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});

/** Passwords: a generous cap on the wire; the policy (256 code points after NFC) answers 422 below it. */
export const PasswordField = Type.String({ minLength: 1, maxLength: 1024 });
// The one email rule (domain/email.ts), as a pattern the schema checks.
export const EmailField = Type.String({ minLength: 3, maxLength: MAX_EMAIL_LENGTH, pattern: EMAIL_PATTERN.source });
export const NameField = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
/** The second step's challenge (43 base64url characters; anything else is simply unknown). */
export const ChallengeField = Type.String({ minLength: 1, maxLength: 200 });
/** An authenticator code or a recovery code, as typed (spaces and dashes allowed). */
export const CodeField = Type.String({ minLength: 1, maxLength: 64 });
/** A WebAuthn response in its JSON form (PublicKeyCredential.toJSON()); @simplewebauthn/server checks its inside. */
export const PasskeyResponseField = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 1024 }), rawId: Type.String({ maxLength: 1024 }), type: Type.String({ maxLength: 32 }), response: Type.Record(Type.String(), Type.Any()) },
  { additionalProperties: true },
);
export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
export const LimitQuery = Type.Optional(Type.String({ pattern: '^(?:[1-9][0-9]?|1[0-9]{2}|200)$' }));
export const CursorQuery = Type.Optional(Type.String({ maxLength: 500 }));

export const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  410: ErrorBody,
  413: ErrorBody,
  415: ErrorBody,
  422: ErrorBody,
  423: ErrorBody,
  429: ErrorBody,
  500: ErrorBody,
};

export function agentJson(agent: AgentView): Static<typeof AgentSchema> {
  return {
    id: agent.id,
    email: agent.email,
    name: agent.name,
    role: { id: agent.role.id, name: agent.role.name, permissions: agent.role.permissions },
    isAccountAdministrator: agent.isAccountAdministrator,
    status: agent.status,
    passwordChangeRequired: agent.passwordChangeRequired,
    locked: agent.locked,
    twoFactorEnabled: agent.twoFactorEnabled,
    timeZone: agent.timeZone,
    createdAt: agent.createdAt.toISOString(),
    passwordChangedAt: agent.passwordChangedAt?.toISOString() ?? null,
    lastSignInAt: agent.lastSignInAt?.toISOString() ?? null,
  };
}

export function roleJson(role: Role): Static<typeof RoleSchema> {
  return { id: role.id, name: role.name, permissions: role.permissions, builtIn: role.builtIn };
}

export function sessionJson(session: Session & { current: boolean; apps: { id: string; name: string }[] }): Static<typeof SessionSchema> {
  return {
    id: session.id,
    current: session.current,
    createdAt: session.createdAt.toISOString(),
    lastSeenAt: session.lastSeenAt.toISOString(),
    expiresAt: session.expiresAt.toISOString(),
    ip: session.ip,
    userAgent: session.userAgent,
    apps: session.apps,
  };
}

export function auditEventJson(event: AuditEvent): Static<typeof AuditEventSchema> {
  return { ...event, createdAt: event.createdAt.toISOString() };
}

export function appJson(app: App): Static<typeof AppSchema> {
  return {
    id: app.id,
    clientId: app.clientId,
    name: app.name,
    type: app.type,
    redirectUris: app.redirectUris,
    postLogoutRedirectUris: app.postLogoutRedirectUris,
    backchannelLogoutUri: app.backchannelLogoutUri,
    launchUrl: app.launchUrl,
    createdAt: app.createdAt.toISOString(),
  };
}

export function accountJson(account: Account): Static<typeof AccountSchema> {
  return {
    id: account.id,
    name: account.name,
    slug: account.slug,
    plan: account.plan,
    planName: isPlan(account.plan) ? PLANS[account.plan].label : account.plan,
    createdAt: account.createdAt.toISOString(),
    settings: { ...account.settings, passwordPolicy: { ...account.settings.passwordPolicy, maxLength: MAX_PASSWORD_LENGTH } },
  };
}

/** OpenAPI: authenticated routes take the session as a Bearer token or the cookie. */
export const security: { [scheme: string]: string[] }[] = [{ bearer: [] }, { cookie: [] }];
