import type { Failure } from '../../domain/errors.js';
import type { IdentityFailure } from '../../flows/login.js';
import type { FactorProof } from '../../flows/two-factor.js';
import { describeWait } from './messages.js';
import { field, type FormBody } from './forms.js';
import { fieldError, PASSWORD_CLEARED, type FormErrors } from './form-errors.js';

const MAX_JSON_FIELD = 20_000;

/** A form field holding JSON (a passkey's response, put there by assets/passkeys.js); undefined when absent or not JSON. */
export function jsonField(form: FormBody, name: string): unknown {
  // a passkey's response (attestation, client data, keys in base64url) is longer than a typed field
  const text = field(form, name, MAX_JSON_FIELD + 1);
  if (!text || text.length > MAX_JSON_FIELD) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The second step's form: a passkey, a recovery code, or an authenticator code (whichever was sent). */
export function factorProofOf(form: FormBody): FactorProof | null {
  const passkey = jsonField(form, 'passkey');
  if (passkey !== undefined) return { passkey };
  const recoveryCode = field(form, 'recoveryCode').trim();
  if (recoveryCode) return { recoveryCode };
  const code = field(form, 'code').trim();
  return code ? { code } : null;
}

/** A "confirm it's you" form: a passkey alone, or the password with a code (for an agent with a factor). Null: nothing to check. */
export function identityProofOf(form: FormBody): { password: string; code?: string } | { passkey: unknown } | null {
  const passkey = jsonField(form, 'passkey');
  if (passkey !== undefined) return { passkey };
  const password = field(form, 'password');
  if (!password) return null;
  const code = field(form, 'code').trim();
  return code ? { password, code } : { password };
}

/** What a person reads when their proof was refused. */
export function describeIdentityFailure(failure: IdentityFailure | Failure<'account_locked'>): string {
  switch (failure.code) {
    case 'account_locked':
      return `Too many wrong attempts. Try again in ${describeWait(failure.retryAfterSeconds ?? 3600)}.`;
    case 'two_factor_code_required':
      return 'Enter the 6-digit code from your authenticator app (or one of your recovery codes) as well as your password.';
    case 'two_factor_code_incorrect':
      return 'That code is not correct. Enter the code your authenticator app shows now, or a recovery code you have not used.';
    case 'passkey_invalid':
      return 'The passkey could not be verified. Try again, or use your password and a code.';
    default:
      return 'That password is not correct: it is not your current password. Try again.';
  }
}

/**
 * A refused "confirm it's you" form (partials/confirm-identity.eta, ids `idPrefix-password` and
 * `idPrefix-code`) as the form's errors; `failure` null: nothing was typed.
 */
export function identityErrors(heading: string, failure: IdentityFailure | Failure<'account_locked'> | null, idPrefix: string): FormErrors {
  if (!failure) return fieldError(heading, `${idPrefix}-password`, 'Enter your password.');
  const onCode = failure.code === 'two_factor_code_required' || failure.code === 'two_factor_code_incorrect';
  const onNothing = failure.code === 'passkey_invalid' || failure.code === 'account_locked';
  const field = onCode ? `${idPrefix}-code` : onNothing ? null : `${idPrefix}-password`;
  return fieldError(heading, field, describeIdentityFailure(failure), { cleared: failure.code === 'passkey_invalid' ? null : PASSWORD_CLEARED });
}
