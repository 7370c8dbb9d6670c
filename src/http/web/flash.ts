import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { deriveKey, sign, verifySignature } from './keys.js';

/** A one-line message carried across a Post/Redirect/Get, shown once on the next page. */
export interface Flash {
  kind: 'success' | 'error' | 'info';
  text: string;
  /** the page section the message belongs to (shown there, where the browser scrolls), else the top */
  at?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** the message the previous POST left for this page, read once */
    flash: Flash | null;
  }
  interface FastifyReply {
    /** leaves a message for the page the browser is redirected to */
    setFlash(kind: Flash['kind'], text: string, at?: string): FastifyReply;
  }
}

const KINDS = new Set(['success', 'error', 'info']);
const LIFETIME_SECONDS = 60;

function decode(key: Buffer, cookie: string): Flash | null {
  const dot = cookie.lastIndexOf('.');
  if (dot < 1) return null;
  const payload = cookie.slice(0, dot);
  if (!verifySignature(key, payload, cookie.slice(dot + 1))) return null;
  try {
    const parsed = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Partial<Flash>;
    if (typeof parsed.text !== 'string' || !KINDS.has(String(parsed.kind))) return null;
    return { kind: parsed.kind as Flash['kind'], text: parsed.text, ...(typeof parsed.at === 'string' ? { at: parsed.at } : {}) };
  } catch {
    return null;
  }
}

/**
 * Flash messages in a short-lived cookie signed with a key derived from SECRET_KEY: nothing
 * in the URL, and nobody but the server can make the portal show a message. Messages never
 * carry a secret (they are shown as text, escaped by the template).
 */
export const flashPlugin = fp<{ secretKey: Buffer; secure: boolean }>(async (app, options) => {
  const key = deriveKey(options.secretKey, 'flash');
  const name = options.secure ? '__Host-deskpass_flash' : 'deskpass_flash';
  const cookieOptions = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: options.secure };

  app.decorateRequest('flash', null);
  app.decorateReply('setFlash', function setFlash(this: FastifyReply, kind: Flash['kind'], text: string, at?: string) {
    const payload = Buffer.from(JSON.stringify({ kind, text, ...(at ? { at } : {}) }), 'utf8').toString('base64url');
    return this.setCookie(name, `${payload}.${sign(key, payload)}`, { ...cookieOptions, maxAge: LIFETIME_SECONDS });
  });
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const cookie = request.cookies?.[name];
    if (!cookie || request.method !== 'GET' || request.url.startsWith('/assets/')) return;
    request.flash = decode(key, cookie);
    reply.clearCookie(name, cookieOptions);
  });
});
