import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DEVICE_TOKEN_LIFETIME_DAYS, parseDeviceCookie, withDeviceToken } from '../security/device-tokens.js';
import { MS_PER_DAY } from '../domain/clock.js';

function cookieName(app: FastifyInstance): string {
  return app.deskpass.config.publicUrl.startsWith('https:') ? '__Host-deskpass_device' : 'deskpass_device';
}

/**
 * The client's device tokens: those of the device cookie (browsers), and one an API client
 * sends in the body (`deviceToken`, as its sign-in answer gave it). See security/device-tokens.
 */
export function deviceTokensOf(request: FastifyRequest, fromBody?: string): string[] {
  const tokens = parseDeviceCookie(request.cookies?.[cookieName(request.server)]);
  return fromBody ? [fromBody, ...tokens] : tokens;
}

/** Keeps a sign-in's fresh device token in the device cookie, beside those of other addresses. */
export function setDeviceCookie(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, token: string): void {
  const secure = app.deskpass.config.publicUrl.startsWith('https:');
  reply.setCookie(cookieName(app), withDeviceToken(deviceTokensOf(request), token), {
    httpOnly: true,
    sameSite: 'lax',
    secure,
    path: '/',
    expires: new Date(app.deskpass.deps.clock.now().getTime() + DEVICE_TOKEN_LIFETIME_DAYS * MS_PER_DAY),
  });
}
