import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { MS_PER_DAY } from '../domain/clock.js';

/**
 * Device tokens (OWASP "Slow brute force / device cookies"): after a successful sign-in the
 * browser or API client keeps a token signed with SECRET_KEY that names the address it signed
 * in to. Failures from a client holding one count on that device's own lockout door, so a
 * stranger's guesses can lock out unknown devices but never the owner's own browser.
 *
 * Shape: `d1.<device id>.<issued at, seconds>.<HMAC-SHA256>`; nothing secret inside but the MAC.
 * The MAC also covers the agent's current password hash (salted: new at every change): a token
 * dies with the password it was earned with, so whoever once knew an old (or one-time)
 * password cannot keep minting doors against the new one.
 */
export const DEVICE_TOKEN_LIFETIME_DAYS = 180;
/** the device cookie keeps the tokens of this many addresses (a shared front-desk browser) */
export const MAX_DEVICE_TOKENS = 5;

const SHAPE = /^d1\.([A-Za-z0-9_-]{22})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

/** What a device token is bound to: the address, and the password it was earned with. */
export interface DeviceBinding {
  accountId: string;
  emailNormalized: string;
  /** the agent's current password hash (never leaves the server); null without one: no token is valid */
  passwordHash: string | null;
}

function mac(secretKey: Buffer, binding: DeviceBinding, deviceId: string, issuedAtSeconds: number): Buffer {
  return createHmac('sha256', secretKey).update(`deskpass/device/v1:${binding.accountId}:${binding.emailNormalized}:${binding.passwordHash ?? 'none'}:${deviceId}:${issuedAtSeconds}`).digest();
}

export function newDeviceId(): string {
  return randomBytes(16).toString('base64url');
}

export function issueDeviceToken(secretKey: Buffer, binding: DeviceBinding, deviceId: string, now: Date): string {
  const issuedAt = Math.floor(now.getTime() / 1000);
  return `d1.${deviceId}.${issuedAt}.${mac(secretKey, binding, deviceId, issuedAt).toString('base64url')}`;
}

/** The device id of the first token that is signed for this address and password and not older than its lifetime, else null. */
export function trustedDeviceId(secretKey: Buffer, binding: DeviceBinding, tokens: readonly string[], now: Date): string | null {
  if (binding.passwordHash === null) return null;
  for (const token of tokens.slice(0, MAX_DEVICE_TOKENS)) {
    const match = SHAPE.exec(token);
    if (!match) continue;
    const [, deviceId, issuedRaw, macRaw] = match;
    const issuedAt = Number(issuedRaw);
    const ageMs = now.getTime() - issuedAt * 1000;
    if (ageMs < -60_000 || ageMs > DEVICE_TOKEN_LIFETIME_DAYS * MS_PER_DAY) continue;
    const expected = mac(secretKey, binding, deviceId, issuedAt);
    const given = Buffer.from(macRaw, 'base64url');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return deviceId;
  }
  return null;
}

/** The device cookie's value: the tokens it holds, newest first (`~` does not occur in a token). */
export function parseDeviceCookie(value: string | undefined): string[] {
  if (!value || value.length > 1024) return [];
  return value.split('~').filter((t) => SHAPE.test(t)).slice(0, MAX_DEVICE_TOKENS);
}

/**
 * Puts a fresh token first, in place of the older token of its device id (one id per address
 * on one browser), and drops the oldest past the maximum.
 */
export function withDeviceToken(tokens: readonly string[], token: string): string {
  const deviceId = SHAPE.exec(token)?.[1];
  const others = tokens.filter((t) => SHAPE.exec(t)?.[1] !== deviceId);
  return [token, ...others].slice(0, MAX_DEVICE_TOKENS).join('~');
}
