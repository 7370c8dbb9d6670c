import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { updateSettings, viewAccount, type SettingsChange } from '../../flows/account.js';
import { SETTING_LIMITS, TWO_FACTOR_POLICIES } from '../../domain/account-settings.js';
import { PLANS, isPlan } from '../../domain/plans.js';
import { normalizeTimeZone, timeZoneGroups } from '../../domain/time-zones.js';
import { requestContext } from '../request-context.js';
import { checkbox, field, formOf, integerField, type FormBody } from './forms.js';
import { describeFailure } from './messages.js';
import { fieldError, formErrors, invalidRequest, NO_ERRORS, type FormErrors } from './form-errors.js';
import { redirectWith, renderMessage, renderPage } from './render.js';

const NUMBERS = [
  ['resetLinkLifetimeHours', 'Reset link lifetime', 'reset-link-lifetime'],
  ['temporaryPasswordLifetimeHours', 'One-time password lifetime', 'temporary-lifetime'],
  ['minLength', 'Minimum length', 'min-length'],
  ['historyDepth', 'Password history', 'history-depth'],
  ['expiryDays', 'Password expiry', 'expiry-days'],
] as const;
const NOT_SAVED = 'The settings were not saved';
/** The flow's `invalid_request` fields, as the form's inputs and labels. */
const FLOW_FIELDS: Record<string, { id: string; label: string }> = {
  resetLinkLifetimeHours: { id: 'reset-link-lifetime', label: 'Reset link lifetime' },
  temporaryPasswordLifetimeHours: { id: 'temporary-lifetime', label: 'One-time password lifetime' },
  'passwordPolicy.minLength': { id: 'min-length', label: 'Minimum length' },
  'passwordPolicy.historyDepth': { id: 'history-depth', label: 'Password history' },
  'passwordPolicy.expiryDays': { id: 'expiry-days', label: 'Password expiry' },
};
const SWITCHES = ['requireUppercase', 'requireLowercase', 'requireDigit', 'requireSymbol', 'adminSetPasswordDisabled'] as const;

type NumberName = (typeof NUMBERS)[number][0];
type SwitchName = (typeof SWITCHES)[number];

/** Manage › Account settings: link lifetimes, the password policy, and the plan. */
export const accountSettingsPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  function show(request: FastifyRequest, reply: FastifyReply, typed: FormBody | null = null, errors: FormErrors = NO_ERRORS, status = 200) {
    const auth = request.portalAuth!;
    const viewed = viewAccount(auth.agent, auth.account);
    if (!viewed.ok) return renderMessage(request, reply, 403, 'Manage › Account settings', describeFailure(viewed));
    const { account } = viewed;
    const s = account.settings;
    const policy = s.passwordPolicy;
    const stored: Record<NumberName, number> = {
      resetLinkLifetimeHours: s.resetLinkLifetimeHours,
      temporaryPasswordLifetimeHours: s.temporaryPasswordLifetimeHours,
      minLength: policy.minLength,
      historyDepth: policy.historyDepth,
      expiryDays: policy.expiryDays,
    };
    // A refused form shows what was typed, not what is stored.
    const values = Object.fromEntries(NUMBERS.map(([name]) => [name, typed ? field(typed, name) : String(stored[name])]));
    const switches = Object.fromEntries(SWITCHES.map((name) => [name, typed ? checkbox(typed, name) : policy[name]]));
    const enforce = typed ? field(typed, 'enforce') === 'yes' : policy.enforceOnNextSignIn;
    const twoFactorPolicy = (typed && TWO_FACTOR_POLICIES.find((p) => p === field(typed, 'twoFactorPolicy'))) || s.twoFactorPolicy;
    const typedZone = typed ? field(typed, 'timeZone').trim() : '';
    const timeZone = typedZone && normalizeTimeZone(typedZone) ? normalizeTimeZone(typedZone)! : s.timeZone;
    return renderPage(
      request,
      reply,
      'account-settings',
      {
        accountName: account.name,
        planLabel: isPlan(account.plan) ? PLANS[account.plan].label : account.plan,
        values,
        switches,
        enforce,
        twoFactorPolicy,
        timeZone,
        timeZoneGroups: timeZoneGroups(deps.clock.now()),
        meHasFactor: auth.agent.twoFactorEnabled,
        limits: SETTING_LIMITS,
        lockout: { threshold: s.lockoutThreshold, minutes: s.lockoutMinutes },
        sessions: { idleHours: s.sessionIdleHours, absoluteHours: s.sessionAbsoluteHours },
        errors,
      },
      { title: 'Account settings', status, section: 'account' },
    );
  }

  app.get('/manage/account', async (request, reply) => show(request, reply));

  app.post('/manage/account', async (request, reply) => {
    const form = formOf(request);
    const numbers = Object.fromEntries(NUMBERS.map(([name]) => [name, integerField(form, name)])) as Record<NumberName, number | undefined>;
    const notNumbers = NUMBERS.filter(([name]) => Number.isNaN(numbers[name])).map(([, label, id]) => ({ field: id, message: `${label}: enter a whole number.` }));
    if (notNumbers.length > 0) return show(request, reply, form, formErrors(NOT_SAVED, notNumbers), 400);
    const switches = Object.fromEntries(SWITCHES.map((name) => [name, checkbox(form, name)])) as Record<SwitchName, boolean>;
    const change: SettingsChange = {
      resetLinkLifetimeHours: numbers.resetLinkLifetimeHours,
      temporaryPasswordLifetimeHours: numbers.temporaryPasswordLifetimeHours,
      passwordPolicy: { minLength: numbers.minLength, historyDepth: numbers.historyDepth, expiryDays: numbers.expiryDays, ...switches },
      requireNonCompliantPasswordsToChange: field(form, 'enforce') === 'yes',
      twoFactorPolicy: TWO_FACTOR_POLICIES.find((p) => p === field(form, 'twoFactorPolicy')),
      ...(field(form, 'timeZone').trim() ? { timeZone: field(form, 'timeZone').trim() } : {}),
    };
    const auth = request.portalAuth!;
    const result = await updateSettings(deps, auth.agent, auth.account, change, requestContext(request, 'portal'));
    if (!result.ok && result.code === 'two_factor_not_enabled') {
      return show(request, reply, form, fieldError(NOT_SAVED, `two-factor-${change.twoFactorPolicy}`, 'Set up a second factor of your own first (My Settings › Two-factor authentication): the policy you chose requires one of you too.'), 400);
    }
    if (!result.ok && result.code === 'time_zone_unknown') return show(request, reply, form, fieldError(NOT_SAVED, 'time-zone', 'Choose the help desk\'s time zone from the list.'), 422);
    if (!result.ok && result.code === 'invalid_request') return show(request, reply, form, invalidRequest(NOT_SAVED, result, FLOW_FIELDS, describeFailure(result)), 400);
    if (!result.ok) return show(request, reply, form, fieldError(NOT_SAVED, null, describeFailure(result)), result.code === 'forbidden' ? 403 : 400);
    return redirectWith(reply, '/manage/account', 'success', 'The account settings were saved. New links and passwords follow them from now on.');
  });
};
