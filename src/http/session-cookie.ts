import type { FastifyInstance, FastifyReply } from 'fastify';

/** HttpOnly, SameSite=Lax, Path=/; Secure (and the __Host- name) when PUBLIC_URL is https. */
export function setSessionCookie(app: FastifyInstance, reply: FastifyReply, token: string, expiresAt: Date): void {
  reply.setCookie(app.deskpass.cookieName, token, {
    httpOnly: true,
    sameSite: 'lax',
    secure: app.deskpass.config.publicUrl.startsWith('https:'),
    path: '/',
    expires: expiresAt,
  });
}

export function clearSessionCookie(app: FastifyInstance, reply: FastifyReply): void {
  reply.clearCookie(app.deskpass.cookieName, { path: '/', httpOnly: true, sameSite: 'lax', secure: app.deskpass.config.publicUrl.startsWith('https:') });
}
