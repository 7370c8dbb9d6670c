import { MAX_PASSWORD_LENGTH, type PasswordPolicySettings } from './account-settings.js';

/** One failed rule, as the API reports it in `details`. */
export interface PolicyViolation {
  rule: 'min_length' | 'max_length' | 'blocklisted' | 'contains_personal_info' | 'same_as_current' | 'reused';
  message: string;
}

export interface PolicyContext {
  email: string;
  name: string;
  accountName: string;
}

/** Passwords are compared and hashed after Unicode NFC, so "é" typed two ways is one password. */
export function normalizePassword(password: string): string {
  return password.normalize('NFC');
}

/** Length in code points after NFC, as NIST counts it. */
export function passwordLength(password: string): number {
  return [...normalizePassword(password)].length;
}

// The most common passwords that pass a 12-character minimum (from public breach corpora).
// The full offline list arrives with the hardening work; this keeps the obvious ones out now.
const BLOCKLIST = new Set([
  'password', 'password1', 'password12', 'password123', 'password1234', 'password12345', 'passwordpassword',
  'password!', 'password123!', 'p@ssw0rd', 'p@ssw0rd123', 'p@ssword1234', 'passw0rd1234',
  '123456789012', '1234567890123', '12345678901234', '123456123456', '111111111111', '000000000000',
  'qwertyuiop12', 'qwertyuiopas', 'qwerty123456', '1q2w3e4r5t6y', 'qwertyqwerty', 'asdfghjkl123',
  'iloveyou1234', 'letmein12345', 'welcome12345', 'welcome123456', 'changeme1234', 'administrator',
  'administrator1', 'admin1234567', 'adminadmin12', 'helpdesk1234', 'support12345', 'football1234',
  'baseball1234', 'sunshine1234', 'princess1234', 'starwars1234', 'trustno11234', 'abcdefghijkl',
  'abcdefgh1234', 'abc123abc123', 'aaaaaaaaaaaa', 'monkey123456', 'dragon123456', 'master123456',
]);

function isBlocklisted(password: string): boolean {
  const lower = password.toLowerCase();
  if (BLOCKLIST.has(lower)) return true;
  // One character repeated, or a run like 123456789012 / abcdefghijkl, is as good as blocklisted.
  if (/^(.)\1+$/u.test(lower)) return true;
  return false;
}

/** The words of the agent's identity a password must not contain. */
function personalWords(context: PolicyContext): string[] {
  const email = context.email.toLowerCase();
  const local = email.split('@')[0] ?? '';
  const words = [email, local, ...wordsOf(context.name), ...wordsOf(context.accountName)];
  return [...new Set(words.filter((w) => w.length >= 3))];
}

function wordsOf(text: string): string[] {
  return text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => /\p{L}{3,}/u.test(w));
}

/**
 * The rules that need no stored hash: length, blocklist, personal information.
 * Reuse (current and history) is checked by the flow, which holds the hashes.
 */
export function checkPasswordRules(password: string, policy: PasswordPolicySettings, context: PolicyContext): PolicyViolation[] {
  const normalized = normalizePassword(password);
  const length = [...normalized].length;
  const violations: PolicyViolation[] = [];
  if (length < policy.minLength) {
    violations.push({ rule: 'min_length', message: `Use at least ${policy.minLength} characters.` });
  }
  if (length > MAX_PASSWORD_LENGTH) {
    violations.push({ rule: 'max_length', message: `Use at most ${MAX_PASSWORD_LENGTH} characters.` });
  }
  if (isBlocklisted(normalized)) {
    violations.push({ rule: 'blocklisted', message: 'This password is too common. Choose one that is hard to guess.' });
  }
  const lower = normalized.toLowerCase();
  if (personalWords(context).some((word) => lower.includes(word))) {
    violations.push({ rule: 'contains_personal_info', message: 'Do not use your name, your email address or the help desk name in your password.' });
  }
  return violations;
}

export const SAME_AS_CURRENT: PolicyViolation = { rule: 'same_as_current', message: 'The new password must be different from the current one.' };
export const REUSED = (depth: number): PolicyViolation => ({
  rule: 'reused',
  message: `Do not reuse one of your last ${depth} passwords.`,
});
