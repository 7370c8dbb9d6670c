/**
 * The one rule for an agent's email address, at every entry point (API schema, portal forms,
 * CLI, flows): the WHATWG "valid email address" (what `<input type=email>` accepts, the shape
 * ajv-formats checks), at most 320 characters. No quoted local parts, commas, angle brackets
 * or spaces: an address the store keeps must be the address the mail goes to.
 */
export const EMAIL_PATTERN = /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+$/;

export const MAX_EMAIL_LENGTH = 320;

export const INVALID_EMAIL = 'Enter a valid email address, like sam@example.com.';

export function isValidEmail(email: string): boolean {
  return email.length <= MAX_EMAIL_LENGTH && EMAIL_PATTERN.test(email);
}
