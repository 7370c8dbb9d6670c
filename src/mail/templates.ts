import { accountLocked } from './templates/account-locked.js';
import type { CompiledMail, RenderContext, RenderedMail } from './templates/engine.js';
import { invitation } from './templates/invitation.js';
import { passwordChangeRequired } from './templates/password-change-required.js';
import { passwordChanged } from './templates/password-changed.js';
import { passwordSetByAdmin } from './templates/password-set-by-admin.js';
import { MailRenderError } from './templates/payload.js';
import { resetLink } from './templates/reset-link.js';
import { twoFactorChanged } from './templates/two-factor-changed.js';

export type { RenderContext, RenderedMail } from './templates/engine.js';
export { MailRenderError } from './templates/payload.js';
export { formatTime } from './templates/format.js';

export type MailTemplate = 'invitation' | 'reset_link' | 'password_changed' | 'password_set_by_admin' | 'password_change_required' | 'account_locked' | 'two_factor_changed';

const TEMPLATES: Record<MailTemplate, CompiledMail> = {
  invitation,
  reset_link: resetLink,
  password_changed: passwordChanged,
  password_set_by_admin: passwordSetByAdmin,
  password_change_required: passwordChangeRequired,
  account_locked: accountLocked,
  two_factor_changed: twoFactorChanged,
};

export const MAIL_TEMPLATES = Object.keys(TEMPLATES) as MailTemplate[];

export function isMailTemplate(name: string): name is MailTemplate {
  return Object.hasOwn(TEMPLATES, name);
}

/**
 * Turns an outbox row into an email with a text and an HTML part; every value is escaped in HTML.
 * Throws MailRenderError on an unknown template, a missing field, or a field that looks like a secret.
 */
export function renderMail(template: string, payload: Record<string, unknown>, ctx: RenderContext): RenderedMail {
  if (!isMailTemplate(template)) throw new MailRenderError(`unknown mail template "${template.slice(0, 64)}"`);
  return TEMPLATES[template].render(template, payload, ctx);
}
