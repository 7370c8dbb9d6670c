import { Secret, TOTP } from 'otpauth';

/**
 * The authenticator app's codes, RFC 6238 as every authenticator app reads an otpauth:// URI:
 * HMAC-SHA-1, 6 digits, 30-second steps (API.md). A code is accepted for its own step or one
 * step either side (clock drift), and only for a step later than the last one accepted, so a
 * code seen over a shoulder or replayed from a log is worth nothing once used.
 */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** steps of clock drift accepted either way */
export const TOTP_DRIFT_STEPS = 1;
/** 160 bits, the size RFC 4226 recommends for SHA-1 */
const SECRET_BYTES = 20;

export function newTotpSecret(): string {
  return new Secret({ size: SECRET_BYTES }).base32;
}

function totpOf(secretBase32: string, label = 'agent', issuer = 'Deskpass'): TOTP {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS, secret: Secret.fromBase32(secretBase32) });
}

/** What an authenticator app scans: otpauth://totp/{issuer}:{label}?secret=…&issuer=… */
export function totpUri(secretBase32: string, issuer: string, label: string): string {
  return totpOf(secretBase32, label, issuer).toString();
}

/** The step a time falls in. */
export function totpStep(at: Date): number {
  return Math.floor(at.getTime() / 1000 / TOTP_PERIOD_SECONDS);
}

/** The code of a step (tests, and the RFC's vectors). */
export function totpCodeAt(secretBase32: string, at: Date): string {
  return totpOf(secretBase32).generate({ timestamp: at.getTime() });
}

/** A code as people type it: digits, with spaces or a dash between groups tolerated. */
export function normalizeTotpCode(typed: string): string | null {
  const digits = typed.replace(/[\s-]/g, '');
  return new RegExp(`^\\d{${TOTP_DIGITS}}$`).test(digits) ? digits : null;
}

/**
 * The step a code is valid for at `now` (within the drift), when that step is after
 * `lastUsedStep`; null otherwise (wrong, too old, too new, or a replay). The caller stores the
 * returned step as the new last one, atomically (two requests with one code: one wins).
 */
export function acceptTotpCode(secretBase32: string, typed: string, now: Date, lastUsedStep: number | null): number | null {
  const code = normalizeTotpCode(typed);
  if (!code) return null;
  const delta = totpOf(secretBase32).validate({ token: code, timestamp: now.getTime(), window: TOTP_DRIFT_STEPS });
  if (delta === null) return null;
  const step = totpStep(now) + delta;
  return lastUsedStep !== null && step <= lastUsedStep ? null : step;
}
