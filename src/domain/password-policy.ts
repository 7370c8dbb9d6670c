import { MAX_PASSWORD_LENGTH, type PasswordPolicySettings } from './account-settings.js';
import { MS_PER_DAY } from './clock.js';
import { commonPasswords, isCommonPassword } from './common-passwords.js';
import { MIN_STRENGTH_SCORE, passwordStrengthScore } from './password-strength.js';

/** The stable codes of `details[].rule` in a `422 password_rejected`, in the order they are reported. */
export type PolicyRule =
  | 'min_length'
  | 'max_length'
  | 'invalid_character'
  | 'missing_uppercase'
  | 'missing_lowercase'
  | 'missing_digit'
  | 'missing_symbol'
  | 'blocklisted'
  | 'contains_personal_info'
  | 'too_weak'
  | 'same_as_current'
  | 'reused';

/** One failed rule, as the API reports it in `details`. */
export interface PolicyViolation {
  rule: PolicyRule;
  message: string;
}

export interface PolicyContext {
  email: string;
  name: string;
  accountName: string;
}

// Load the blocklist when this module loads (about 0.4 s, once per process), so that no request
// ever waits for it. zxcvbn's dictionaries are the strength thread's (security/strength-thread.ts).
commonPasswords();

/** A UTF-16 surrogate without its other half: no character at all, only a broken string. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether a password is text: a JSON string may hold a lone surrogate (`"\ud800"`), which the
 * hashing library turns into U+FFFD, so every lone surrogate (and U+FFFD itself) in one place
 * would be one password (found by issue 13's third outside tester). Such a password is refused
 * when set (`invalid_character`) and never matches at a sign-in (password-hasher.ts).
 */
export function isWellFormedPassword(password: string): boolean {
  return !LONE_SURROGATE.test(password);
}

/** Passwords are compared and hashed after Unicode NFC, so "é" typed two ways is one password. */
export function normalizePassword(password: string): string {
  return password.normalize('NFC');
}

/** Length in code points after NFC, as NIST counts it. */
export function passwordLength(password: string): number {
  return [...normalizePassword(password)].length;
}

/** On the shipped list of common and breached passwords, or as guessable as if it were. */
function isBlocklisted(normalized: string): boolean {
  const lower = normalized.toLowerCase();
  return isCommonPassword(lower) || isRepetition(lower) || isSequence(lower);
}

/** One to four characters repeated over the whole password: "zzzzzzzzzzzz", "abcabcabcabc". */
function isRepetition(lower: string): boolean {
  return /^(.{1,4})\1+$/su.test(lower);
}

/** A run of consecutive characters up or down, digits wrapping round: "abcdefghijkl", "1234567890123". */
function isSequence(lower: string): boolean {
  const points = [...lower].map((c) => c.codePointAt(0)!);
  if (points.length < 3) return false;
  const step = points[1] - points[0];
  if (step !== 1 && step !== -1) return false;
  const ZERO = 0x30;
  const NINE = 0x39;
  for (let i = 1; i < points.length; i += 1) {
    const [previous, current] = [points[i - 1], points[i]];
    const wraps = step === 1 ? previous === NINE && current === ZERO : previous === ZERO && current === NINE;
    if (current - previous !== step && !wraps) return false;
  }
  return true;
}

/** The words of the agent's identity a password must not contain. */
function personalWords(context: PolicyContext): string[] {
  const email = context.email.toLowerCase();
  const local = email.split('@')[0] ?? '';
  const words = [email, local, ...wordsOf(context.name), ...wordsOf(context.accountName)];
  return [...new Set(words.filter((w) => w.length >= 3))];
}

function wordsOf(text: string): string[] {
  return normalizePassword(text).toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => /\p{L}{3,}/u.test(w));
}

/** What zxcvbn should treat as easy to guess for this agent: the same words, and the parts of the local part. */
export function strengthUserInputs(context: PolicyContext): string[] {
  const local = context.email.toLowerCase().split('@')[0] ?? '';
  return [...new Set([...personalWords(context), ...local.split(/[^\p{L}\p{N}]+/u).filter((w) => w.length >= 3)])];
}

const CLASS_RULES = [
  { setting: 'requireUppercase', rule: 'missing_uppercase', pattern: /[\p{Lu}\p{Lt}]/u, message: 'Use at least one uppercase letter.' },
  { setting: 'requireLowercase', rule: 'missing_lowercase', pattern: /\p{Ll}/u, message: 'Use at least one lowercase letter.' },
  { setting: 'requireDigit', rule: 'missing_digit', pattern: /\p{Nd}/u, message: 'Use at least one digit.' },
  { setting: 'requireSymbol', rule: 'missing_symbol', pattern: /[^\p{L}\p{M}\p{N}]/u, message: 'Use at least one symbol, such as ! # - or a space.' },
] as const satisfies readonly { setting: keyof PasswordPolicySettings; rule: PolicyRule; pattern: RegExp; message: string }[];

/**
 * The rules that need no stored hash: length (code points after NFC), the account's character
 * classes, the blocklist, personal information and zxcvbn's strength score. Reuse (current and
 * history) is checked by the flow, which holds the hashes. Every failed rule is listed.
 * `strengthScore`: zxcvbn's score of the NFC password with `strengthUserInputs(context)`, which the
 * flows have worked out off the event loop (flows/password-rules.ts); left out, it is worked out
 * here, on the calling thread.
 */
export function checkPasswordRules(password: string, policy: PasswordPolicySettings, context: PolicyContext, strengthScore?: number): PolicyViolation[] {
  const normalized = normalizePassword(password);
  const length = [...normalized].length;
  const violations: PolicyViolation[] = [];
  if (length < policy.minLength) {
    violations.push({ rule: 'min_length', message: `Use at least ${policy.minLength} characters.` });
  }
  if (length > MAX_PASSWORD_LENGTH) {
    violations.push({ rule: 'max_length', message: `Use at most ${MAX_PASSWORD_LENGTH} characters.` });
  }
  if (!isWellFormedPassword(password)) {
    violations.push({ rule: 'invalid_character', message: 'This password holds a broken character (half of an emoji or another character outside the basic range). Type it again.' });
  }
  for (const { setting, rule, pattern, message } of CLASS_RULES) {
    if (policy[setting] && !pattern.test(normalized)) violations.push({ rule, message });
  }
  if (isBlocklisted(normalized)) {
    violations.push({ rule: 'blocklisted', message: 'This password is too common or too predictable. Choose one that is hard to guess.' });
  }
  const lower = normalized.toLowerCase();
  if (personalWords(context).some((word) => lower.includes(word))) {
    violations.push({ rule: 'contains_personal_info', message: 'Do not use your name, your email address or the help desk name in your password.' });
  }
  if ((strengthScore ?? passwordStrengthScore(normalized, strengthUserInputs(context))) < MIN_STRENGTH_SCORE) {
    violations.push({ rule: 'too_weak', message: 'This password is too easy to guess. Use a longer passphrase of unrelated words.' });
  }
  return violations;
}

/**
 * For the login flow, after the password was verified: the rules of the account's current
 * policy (those that need no stored hash, as `checkPasswordRules`) that the typed password
 * fails, when the policy was changed with "existing passwords that fail it must be changed at
 * next sign-in" (`policy.enforceOnNextSignIn`); always `[]` otherwise. Passwords are stored
 * hashed, so this is the only moment compliance can be checked: when it returns violations,
 * the login flow sets the agent's `password_change_required` and the agent picks a new password
 * (which the full policy checks) before doing anything else. Costs one zxcvbn run (≤ ~70 ms),
 * `strengthScore` as for `checkPasswordRules`.
 */
export function checkPasswordAtSignIn(password: string, policy: PasswordPolicySettings, context: PolicyContext, strengthScore?: number): PolicyViolation[] {
  if (!policy.enforceOnNextSignIn) return [];
  return checkPasswordRules(password, policy, context, strengthScore);
}

/**
 * True when a password set at `passwordChangedAt` is older than the account's `expiryDays`
 * at `now` (expired from exactly `expiryDays` × 24 h on): the login flow then requires a change.
 * Never with `expiryDays` 0 (the default) or for an agent who has no password yet.
 */
export function passwordExpired(passwordChangedAt: Date | null, expiryDays: number, now: Date): boolean {
  if (expiryDays <= 0 || passwordChangedAt === null) return false;
  return now.getTime() >= passwordChangedAt.getTime() + expiryDays * MS_PER_DAY;
}

export const SAME_AS_CURRENT: PolicyViolation = { rule: 'same_as_current', message: 'The new password must be different from the current one.' };
export const REUSED = (depth: number): PolicyViolation => ({
  rule: 'reused',
  message: `Do not reuse one of your last ${depth} passwords.`,
});
