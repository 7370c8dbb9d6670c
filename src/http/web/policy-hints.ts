import type { PasswordPolicySettings } from '../../domain/account-settings.js';

/** What the new-password fields tell the agent before they type: the account's policy in words. */
export interface PasswordHints {
  minLength: number;
  /** the character classes the account requires, for the live check: upper, lower, digit, symbol */
  require: string[];
  /** "Include an uppercase letter and a digit.", or '' */
  requireText: string;
}

const CLASSES = [
  ['requireUppercase', 'upper', 'an uppercase letter'],
  ['requireLowercase', 'lower', 'a lowercase letter'],
  ['requireDigit', 'digit', 'a digit'],
  ['requireSymbol', 'symbol', 'a symbol (neither a letter nor a digit)'],
] as const;

export function passwordHints(policy: PasswordPolicySettings): PasswordHints {
  const required = CLASSES.filter(([field]) => policy[field] === true);
  const words = required.map(([, , text]) => text);
  const requireText = words.length === 0 ? '' : `Include ${words.length === 1 ? words[0] : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`}.`;
  return { minLength: policy.minLength, require: required.map(([, key]) => key), requireText };
}
