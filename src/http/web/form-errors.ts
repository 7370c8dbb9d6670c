import type { Failure } from '../../domain/errors.js';

/**
 * One mechanism for every refused portal form (issue 12, item 1): an error summary at the top
 * of the form (views/partials/error-summary.eta) that takes focus when the page loads, so it is
 * scrolled into view and read out, with a link to each failing field; each failing field
 * `aria-invalid` and described by its own message, placed next to it
 * (views/partials/field-error.eta). Handlers build a `FormErrors`; views only ask it.
 */

/** One reason a form was refused: `field` is the id of the input it is about, or null for the whole form. */
export interface FormProblem {
  field: string | null;
  message: string;
}

export interface FormErrors {
  /** The summary's heading: what did not happen ("The password was not changed"). */
  heading: string;
  problems: FormProblem[];
  /** "For your security, passwords were cleared: type them again", or null. */
  clearedNote: string | null;
  /** true when there is anything to show */
  readonly any: boolean;
  has(field: string): boolean;
  /** The field's messages, one per line, or ''. */
  messages(field: string): string[];
  /**
   * The attributes of a field: ` aria-invalid="true" aria-describedby="ID-error HINTS"` when it
   * failed, else ` aria-describedby="HINTS"` (or '' without hints). Ids only: safe to print raw.
   */
  attrs(field: string, hints?: string): string;
}

/** What a password form says when it comes back: its password fields are always empty. */
export const PASSWORDS_CLEARED = 'For your security, passwords were cleared: type them again.';
export const PASSWORD_CLEARED = 'For your security, the password was cleared: type it again.';

const ID = /^[A-Za-z][\w-]*$/;

function idList(text: string): string {
  return text.split(/\s+/).filter((id) => ID.test(id)).join(' ');
}

/** The errors of a refused form. */
export function formErrors(heading: string, problems: FormProblem[], options: { cleared?: string | null } = {}): FormErrors {
  const listed = problems.filter((p) => p.message);
  const messages = (field: string) => listed.filter((p) => p.field === field).map((p) => p.message);
  return {
    heading,
    problems: listed,
    clearedNote: options.cleared ?? null,
    any: listed.length > 0,
    has: (field) => messages(field).length > 0,
    messages,
    attrs(field, hints = '') {
      const described = idList(`${messages(field).length > 0 ? `${field}-error` : ''} ${hints}`);
      const invalid = messages(field).length > 0 ? ' aria-invalid="true"' : '';
      return `${invalid}${described ? ` aria-describedby="${described}"` : ''}`;
    },
  };
}

/** A form that was not refused: the views ask it the same questions and get nothing. */
export const NO_ERRORS: FormErrors = formErrors('', []);

/** One problem about one field, the commonest refusal. */
export function fieldError(heading: string, field: string | null, message: string, options: { cleared?: string | null } = {}): FormErrors {
  return formErrors(heading, [{ field, message }], options);
}

/**
 * A `password_rejected` refusal: each failed rule (`details[].rule` + `message`, the words the
 * API gives) becomes a message on the new-password field.
 */
export function passwordRejected(heading: string, failure: Failure, field: string, options: { cleared?: string | null } = { cleared: PASSWORDS_CLEARED }): FormErrors {
  const details = (failure.details ?? []) as { message?: unknown }[];
  const problems = details.map((d) => ({ field, message: typeof d.message === 'string' ? d.message : 'This password is not allowed.' }));
  return formErrors(heading, problems.length > 0 ? problems : [{ field, message: 'Choose a different password.' }], options);
}

/** Maps a flow's `invalid_request` details (`{ field, message }`) onto the form's inputs and labels. */
export function invalidRequest(heading: string, failure: Failure, fields: Record<string, { id: string; label: string }>, fallback: string): FormErrors {
  const details = (failure.details ?? []) as { field?: unknown; message?: unknown }[];
  const problems = details.map((d) => {
    const known = typeof d.field === 'string' ? fields[d.field] : undefined;
    const message = typeof d.message === 'string' ? d.message : '';
    return known ? { field: known.id, message: `${known.label} ${message}.` } : { field: null, message: message || fallback };
  });
  return formErrors(heading, problems.length > 0 ? problems : [{ field: null, message: fallback }]);
}
