import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { reauthenticate } from '../../flows/login.js';
import { mustEnrollTwoFactor } from '../../flows/session-gate.js';
import { isFresh } from '../../flows/sessions.js';
import {
  addPasskey,
  beginTotpEnrolment,
  confirmTotpEnrolment,
  pendingTotpEnrolment,
  regenerateRecoveryCodes,
  removeOwnPasskey,
  removeTotp,
  twoFactorStatus,
} from '../../flows/two-factor.js';
import type { Failure } from '../../domain/errors.js';
import { requestContext } from '../request-context.js';
import { field, formOf, queryParam, safeNext, trimmedField } from './forms.js';
import { describeFailure } from './messages.js';
import { homeFor } from './nav.js';
import { TWO_FACTOR_SETTINGS_PATH } from './page-auth.js';
import { identityErrors, identityProofOf, jsonField } from './identity-proof.js';
import { fieldError, NO_ERRORS, type FormErrors } from './form-errors.js';
import { redirectWith, renderPage } from './render.js';
import { pageLimits, perIp } from './limits.js';

/** Open while the agent must set up a second factor: these pages are how they do it. */
const ENROLLING = { config: { allowedDuringTwoFactorEnrollment: true } };
const NOT_CONFIRMED = 'It was not confirmed that it is you';
const NOT_ON = 'The authenticator app was not turned on';
const NOT_ADDED = 'The passkey was not added';
const PATH = TWO_FACTOR_SETTINGS_PATH;

/**
 * My Settings › Two-factor authentication: the authenticator app (QR code and key, confirmed by a
 * code), passkeys (named, several), recovery codes (shown once, copied or downloaded), and the
 * "confirm it's you" every change needs when the sign-in is older than 10 minutes. It is also
 * where the gate sends an agent whose help desk requires a factor they do not have yet.
 */
export const twoFactorPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;
  const proofLimit = pageLimits(app, perIp('passwordProofsPerIp'));
  /** The page, keeping `next` (where an enrolling agent was going) on every link and form. */
  const here = (next: string | null, suffix = '') => `${PATH}${suffix}${next ? `?next=${encodeURIComponent(next)}` : ''}`;
  const nextOf = (request: FastifyRequest) => safeNext(field(formOf(request), 'next') || queryParam(request, 'next'));

  /** `extra`: a refused form, the confirmation of identity (`reauth`) or the new passkey's (`passkey`, with the name as typed). */
  async function showOverview(request: FastifyRequest, reply: FastifyReply, next: string | null, extra: { reauth?: FormErrors; passkey?: FormErrors; passkeyName?: string } = {}, status = 200) {
    const auth = request.portalAuth!;
    const state = await twoFactorStatus(deps, auth);
    return renderPage(
      request,
      reply,
      'my-two-factor',
      {
        tab: 'two-factor',
        webauthn: true,
        state,
        enrolling: mustEnrollTwoFactor(auth.account, auth.agent),
        fresh: isFresh(auth.session, deps.clock.now()),
        hasFactor: auth.agent.twoFactorEnabled,
        next,
        reauthErrors: extra.reauth ?? NO_ERRORS,
        passkeyErrors: extra.passkey ?? NO_ERRORS,
        passkeyName: extra.passkeyName ?? '',
      },
      { title: 'Two-factor authentication', status, section: 'my-settings' },
    );
  }

  /** The ten codes, once: this answer is the only place they ever appear. */
  function showCodes(request: FastifyRequest, reply: FastifyReply, codes: string[], next: string | null, why: 'first' | 'new') {
    const auth = request.portalAuth!;
    const text = `Recovery codes for ${auth.agent.email} (${auth.account.name} help desk, Deskpass)\nEach code works once. Keep them somewhere safe, apart from your phone.\n\n${codes.join('\n')}\n`;
    return renderPage(
      request,
      reply,
      'two-factor-codes',
      { tab: 'two-factor', codes, why, download: `data:text/plain;charset=utf-8,${encodeURIComponent(text)}`, continueTo: next ?? (why === 'first' ? homeFor(auth.agent) : PATH) },
      { title: 'Your recovery codes', section: 'my-settings' },
    );
  }

  /** What a refused change says on the overview. */
  function refused(reply: FastifyReply, next: string | null, failure: Failure) {
    if (failure.code === 'reauthentication_required') return redirectWith(reply, here(next), 'info', 'For your security, confirm it is you first, then make the change.');
    return redirectWith(reply, here(next), 'error', describeFailure(failure));
  }

  app.get(PATH, ENROLLING, async (request, reply) => showOverview(request, reply, safeNext(queryParam(request, 'next'))));

  app.post(`${PATH}/reauthenticate`, { ...ENROLLING, preHandler: proofLimit }, async (request, reply) => {
    const next = nextOf(request);
    const given = identityProofOf(formOf(request));
    if (!given) return showOverview(request, reply, next, { reauth: identityErrors(NOT_CONFIRMED, null, 'reauth') }, 400);
    const result = await reauthenticate(deps, request.portalAuth!, given, requestContext(request, 'portal'));
    if (!result.ok) return showOverview(request, reply, next, { reauth: identityErrors(NOT_CONFIRMED, result, 'reauth') }, result.code === 'account_locked' ? 423 : 400);
    return redirectWith(reply, here(next), 'success', 'Thank you. For the next 10 minutes you can change your two-factor settings without confirming again.');
  });

  // ---- authenticator app

  app.post(`${PATH}/totp`, ENROLLING, async (request, reply) => {
    const next = nextOf(request);
    const result = await beginTotpEnrolment(deps, request.portalAuth!);
    if (!result.ok) return refused(reply, next, result);
    return reply.redirect(here(next, '/totp'), 303);
  });

  async function showTotp(request: FastifyRequest, reply: FastifyReply, next: string | null, errors: FormErrors = NO_ERRORS, status = 200) {
    const auth = request.portalAuth!;
    const pending = await pendingTotpEnrolment(deps, auth);
    if (!pending && !isFresh(auth.session, deps.clock.now())) return redirectWith(reply, here(next), 'info', 'For your security, confirm it is you first, then set up the app.');
    if (!pending) return redirectWith(reply, here(next), 'info', 'Start the set-up again: the key shown before has expired.');
    const svg = await QRCode.toString(pending.otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return renderPage(
      request,
      reply,
      'my-two-factor-totp',
      {
        tab: 'two-factor',
        // the SVG is ours (qrcode's output, no text of the agent's in it), labelled for screen readers
        qrSvg: svg.replace('<svg ', '<svg role="img" aria-labelledby="qr-label" class="qr-code" '),
        key: pending.secret.match(/.{1,4}/g)!.join(' '),
        next,
        errors,
      },
      { title: 'Set up an authenticator app', status, section: 'my-settings' },
    );
  }

  app.get(`${PATH}/totp`, ENROLLING, async (request, reply) => showTotp(request, reply, safeNext(queryParam(request, 'next'))));

  app.post(`${PATH}/totp/confirm`, { ...ENROLLING, preHandler: proofLimit }, async (request, reply) => {
    const next = nextOf(request);
    const code = trimmedField(formOf(request), 'code');
    if (!code) return showTotp(request, reply, next, fieldError(NOT_ON, 'code', 'Enter the 6-digit code your authenticator app shows.'), 400);
    const result = await confirmTotpEnrolment(deps, request.portalAuth!, code, requestContext(request, 'portal'));
    if (!result.ok && result.code === 'reauthentication_required') return refused(reply, next, result);
    if (!result.ok) return showTotp(request, reply, next, fieldError(NOT_ON, 'code', 'That code is not correct. Check that the app shows the code for this account, and enter the one it shows now.'), 400);
    if (result.recoveryCodes) return showCodes(request, reply, result.recoveryCodes, next, 'first');
    return redirectWith(reply, here(next), 'success', 'Your new authenticator app is set up. The old one no longer works.');
  });

  app.post(`${PATH}/totp/remove`, ENROLLING, async (request, reply) => {
    const next = nextOf(request);
    const result = await removeTotp(deps, request.portalAuth!, requestContext(request, 'portal'));
    if (!result.ok) return refused(reply, next, result);
    return redirectWith(reply, here(next), 'success', 'Your authenticator app is removed.');
  });

  // ---- passkeys

  app.post(`${PATH}/passkeys`, { ...ENROLLING, preHandler: proofLimit }, async (request, reply) => {
    const form = formOf(request);
    const next = nextOf(request);
    const name = trimmedField(form, 'name').slice(0, 100);
    const response = jsonField(form, 'response');
    if (!name || response === undefined) return showOverview(request, reply, next, { passkey: fieldError(NOT_ADDED, 'passkey-name', name ? 'Follow your browser’s steps to create the passkey.' : 'Name the passkey, then follow your browser’s steps to create it.'), passkeyName: name }, 400);
    const result = await addPasskey(deps, request.portalAuth!, { name, response, context: requestContext(request, 'portal') });
    if (!result.ok) return showOverview(request, reply, next, { passkey: fieldError(NOT_ADDED, null, 'The passkey could not be added. Try again; if your browser asked for your fingerprint, face or PIN, complete that step.'), passkeyName: name }, 400);
    if (result.recoveryCodes) return showCodes(request, reply, result.recoveryCodes, next, 'first');
    return redirectWith(reply, here(next), 'success', `The passkey "${result.passkey.name}" is added. You can sign in with it alone.`);
  });

  app.post<{ Params: { id: string } }>(`${PATH}/passkeys/:id/remove`, ENROLLING, async (request, reply) => {
    const next = nextOf(request);
    const result = await removeOwnPasskey(deps, request.portalAuth!, request.params.id, requestContext(request, 'portal'));
    if (!result.ok) return refused(reply, next, result);
    return redirectWith(reply, here(next), 'success', 'The passkey is removed.');
  });

  // ---- recovery codes

  app.post(`${PATH}/recovery-codes`, ENROLLING, async (request, reply) => {
    const next = nextOf(request);
    const result = await regenerateRecoveryCodes(deps, request.portalAuth!, requestContext(request, 'portal'));
    if (!result.ok) return refused(reply, next, result);
    return showCodes(request, reply, result.recoveryCodes, next, 'new');
  });
};
