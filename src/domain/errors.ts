/**
 * The one catalogue of expected outcomes: a stable code, its HTTP status and the
 * sentence a person reads. Flows return codes; the HTTP layer looks them up here.
 */
export const ERRORS = {
  invalid_request: { status: 400, message: 'The request is not valid.' },
  request_timeout: { status: 408, message: 'The request took too long to arrive: send it again.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  current_password_incorrect: { status: 400, message: 'The current password is not correct.' },
  two_factor_code_incorrect: { status: 401, message: 'The code is not correct.' },
  two_factor_code_required: { status: 400, message: 'Enter a code from your authenticator app or a recovery code.' },
  passkey_invalid: { status: 400, message: 'The passkey could not be verified. Try again.' },
  two_factor_challenge_invalid: { status: 401, message: 'This sign-in has expired. Enter your email and password again.' },
  unauthenticated: { status: 401, message: 'Sign in to continue.' },
  invalid_credentials: { status: 401, message: 'The email or password is not correct.' },
  temporary_password_expired: { status: 401, message: 'The one-time password has expired. Ask an administrator for a new one or use Forgot password.' },
  forbidden: { status: 403, message: 'You are not allowed to do this.' },
  password_change_required: { status: 403, message: 'Set a new password before doing anything else.' },
  reauthentication_required: { status: 403, message: 'Enter your password again to continue.' },
  two_factor_enrollment_required: { status: 403, message: 'Your help desk requires a second factor. Set one up before doing anything else.' },
  not_found: { status: 404, message: 'Not found.' },
  method_not_allowed: { status: 405, message: 'This method is not allowed here.' },
  email_taken: { status: 409, message: 'An agent with this email already exists.' },
  invitation_not_pending: { status: 409, message: 'This agent has already set a password.' },
  agent_deactivated: { status: 409, message: 'This agent is deactivated.' },
  agent_invited: { status: 409, message: 'This agent has not accepted their invitation yet: resend it instead.' },
  role_name_taken: { status: 409, message: 'A role with this name already exists.' },
  role_in_use: { status: 409, message: 'This role is still given to agents: give them another role first.' },
  two_factor_required: { status: 409, message: 'Your help desk requires a second factor: add another one before removing this one.' },
  two_factor_not_enabled: { status: 409, message: 'No second factor is set up for this: add one first.' },
  app_is_public: { status: 409, message: 'A public app has no client secret to rotate.' },
  setup_already_done: { status: 410, message: 'This help desk is already set up.' },
  setup_link_invalid: { status: 410, message: 'This setup link is no longer valid.' },
  reset_link_invalid: { status: 410, message: 'This password reset link is no longer valid.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'Send JSON with Content-Type: application/json.' },
  time_zone_unknown: { status: 422, message: 'This is not a time zone we know. Choose one from the list, or send an IANA name such as "Europe/Berlin".' },
  password_rejected: { status: 422, message: 'The password does not meet the password policy.' },
  account_locked: { status: 423, message: 'Too many failed sign-ins. Try again later or reset your password.' },
  rate_limited: { status: 429, message: 'Too many requests. Try again later.' },
  internal_error: { status: 500, message: 'Something went wrong on our side.' },
  not_ready: { status: 503, message: 'The service is not ready.' },
  passphrase_unavailable: { status: 422, message: 'No passphrase could be made that passes the password policy for this agent: type a password instead.' },
  store_unavailable: { status: 503, message: 'The service is briefly unavailable: nothing was changed. Try again in a moment.' },
  storage_full: { status: 503, message: 'The server has run out of storage space: nothing was changed. Tell the administrator of this server.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An expected failure of a flow, as a value. */
export interface Failure<C extends ErrorCode = ErrorCode> {
  ok: false;
  code: C;
  details?: unknown[];
  /** seconds, for 423/429 */
  retryAfterSeconds?: number;
}

export type Result<T = object, C extends ErrorCode = ErrorCode> = ({ ok: true } & T) | Failure<C>;

export function fail<C extends ErrorCode>(code: C, details?: unknown[], retryAfterSeconds?: number): Failure<C> {
  return { ok: false, code, ...(details ? { details } : {}), ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) };
}

export function forbidden(reason: string): Failure<'forbidden'> {
  return fail('forbidden', [{ reason }]);
}
