import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { currentAccount } from '../../flows/account.js';
import { signIn } from '../../flows/login.js';
import { createHelpDesk } from '../../flows/setup.js';
import { DEFAULT_SETTINGS } from '../../domain/account-settings.js';
import { isValidEmail } from '../../domain/email.js';
import { normalizeTimeZone, timeZoneGroups } from '../../domain/time-zones.js';
import { requestContext } from '../request-context.js';
import { setSessionCookie } from '../session-cookie.js';
import { field, formOf, trimmedField } from './forms.js';
import { describeFailure } from './messages.js';
import { fieldError, formErrors, NO_ERRORS, passwordRejected, PASSWORDS_CLEARED, type FormErrors } from './form-errors.js';
import { answerCheck, PASSWORD_CHECK_RESPONSE } from './password-check-pages.js';
import { checkSetupPassword } from '../../flows/password-check.js';
import { passwordHints } from './policy-hints.js';
import { redirectWith, renderPage } from './render.js';
import { pageGuard, pageLimits, perIp } from './limits.js';

type TokenParams = { Params: { token: string } };

const NOT_CREATED = 'The help desk was not created';

interface SetupForm {
  accountName: string;
  adminName: string;
  adminEmail: string;
  /** as typed; '' on the first view (the browser's zone is then offered by time-zone.js) */
  timeZone: string;
}

/**
 * First run: the one-time link the server prints at start opens this page, where the
 * operator names the help desk and creates the Account Administrator with a password.
 */
export const setupPages: FastifyPluginAsync = async (app) => {
  const { deps, setupLink } = app.deskpass;

  /** Before either handler: the request limit, then why the link cannot be used, if it cannot. */
  const setupLinkGuards = [
    pageLimits(app, perIp('resetLinkPerIp')),
    pageGuard<FastifyRequest<TokenParams>>(async (request) => {
      if (await currentAccount(deps)) {
        return { status: 410, title: 'This help desk is already set up', message: 'The setup link works only once, before the help desk exists. Sign in instead.', link: { href: '/login', label: 'Go to sign in' } };
      }
      if (!setupLink.isValid(request.params.token)) {
        return {
          status: 410,
          title: 'This setup link is no longer valid',
          message: 'A setup link works once and only while the server that printed it is running. Restart the server to print a new link, or run "npx deskpass init" on the server.',
        };
      }
      return null;
    }),
  ];
  function showForm(request: FastifyRequest<TokenParams>, reply: FastifyReply, form: SetupForm, errors: FormErrors = NO_ERRORS, status = 200) {
    return renderPage(
      request,
      reply,
      'setup',
      {
        action: `/setup/${request.params.token}`,
        ...form,
        timeZone: normalizeTimeZone(form.timeZone) ?? DEFAULT_SETTINGS.timeZone,
        timeZoneGroups: timeZoneGroups(deps.clock.now()),
        // only on the first view: a refused form keeps what the operator chose
        detectTimeZone: form.timeZone === '',
        hints: passwordHints(DEFAULT_SETTINGS.passwordPolicy),
        errors,
        checkUrl: `/setup/${request.params.token}/password-check`,
      },
      { title: 'Set up your help desk', status },
    );
  }

  app.get<TokenParams>('/setup/:token', { preHandler: setupLinkGuards }, async (request, reply) => {
    return showForm(request, reply, { accountName: '', adminName: '', adminEmail: '', timeZone: '' });
  });

  // The meter's check (password-check-pages.ts): the default policy, against the names typed on the form.
  app.post<TokenParams>('/setup/:token/password-check', { preHandler: setupLinkGuards, schema: { hide: true, response: PASSWORD_CHECK_RESPONSE } }, async (request, reply) => {
    const body = formOf(request);
    const typed = { accountName: trimmedField(body, 'accountName').slice(0, 200), name: trimmedField(body, 'adminName').slice(0, 200), email: trimmedField(body, 'adminEmail').slice(0, 320) };
    return answerCheck(reply, await checkSetupPassword(DEFAULT_SETTINGS.passwordPolicy, field(body, 'password', 1024), typed));
  });

  app.post<TokenParams>('/setup/:token', { preHandler: setupLinkGuards }, async (request, reply) => {
    const body = formOf(request);
    const form: SetupForm = { accountName: trimmedField(body, 'accountName'), adminName: trimmedField(body, 'adminName'), adminEmail: trimmedField(body, 'adminEmail'), timeZone: trimmedField(body, 'timeZone') || DEFAULT_SETTINGS.timeZone };
    const password = field(body, 'password');
    const cleared = { cleared: password ? PASSWORDS_CLEARED : null };
    const problems = [
      ...(form.accountName ? [] : [{ field: 'account-name', message: 'Enter the help desk name.' }]),
      ...(form.accountName.length > 200 ? [{ field: 'account-name', message: 'The help desk name can be at most 200 characters long.' }] : []),
      ...(form.adminName ? [] : [{ field: 'admin-name', message: 'Enter your name.' }]),
      ...(form.adminName.length > 200 ? [{ field: 'admin-name', message: 'Your name can be at most 200 characters long.' }] : []),
      ...(!form.adminEmail ? [{ field: 'admin-email', message: 'Enter your email address.' }] : isValidEmail(form.adminEmail) ? [] : [{ field: 'admin-email', message: 'Enter a valid email address, like ada@example.com.' }]),
      ...(password ? [] : [{ field: 'password', message: 'Enter a password.' }]),
    ];
    if (problems.length > 0) return showForm(request, reply, form, formErrors(NOT_CREATED, problems, cleared), 400);
    if (password !== field(body, 'confirmPassword')) return showForm(request, reply, form, fieldError(NOT_CREATED, 'password-confirm', 'The two passwords do not match. Type the same password twice.', cleared), 422);

    const context = requestContext(request, 'portal');
    const created = await createHelpDesk(deps, { ...form, password, context });
    if (!created.ok) {
      if (created.code === 'time_zone_unknown') return showForm(request, reply, form, fieldError(NOT_CREATED, 'time-zone', 'Choose the help desk\'s time zone from the list.', cleared), 422);
      if (created.code === 'password_rejected') return showForm(request, reply, form, passwordRejected(NOT_CREATED, created, 'password'), 422);
      return showForm(request, reply, form, fieldError(NOT_CREATED, null, describeFailure(created), cleared), 400);
    }
    setupLink.consume();

    // Signed straight in: the operator has just proved the password.
    const signedIn = await signIn(deps, created.account, { email: form.adminEmail, password, context });
    // (a fresh Account Administrator has no second factor: this is always a session)
    if (!signedIn.ok || signedIn.kind !== 'session') return redirectWith(reply, '/login', 'success', `The ${created.account.name} help desk is ready. Sign in with the email and password you chose.`);
    setSessionCookie(app, reply, signedIn.token, signedIn.session.expiresAt);
    return redirectWith(reply, '/manage/agents', 'success', `The ${created.account.name} help desk is ready, and you are its Account Administrator. Add your agents here.`);
  });
};
