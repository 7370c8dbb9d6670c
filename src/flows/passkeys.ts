import { randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransport,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { addMs, MS_PER_MINUTE } from '../domain/clock.js';
import type { Account, Agent } from '../domain/models.js';
import { keyedHash } from '../security/sealed.js';
import { consumeWebauthnChallenge, findPasskeyByCredentialId, insertWebauthnChallenge, listPasskeys, recordPasskeyUse, type PasskeyRecord } from '../store/two-factor.repo.js';
import type { FlowDeps } from './deps.js';

/**
 * Passkeys (WebAuthn Level 3) through @simplewebauthn/server. Deskpass owns the edges: the
 * relying party is PUBLIC_URL (its host is the RP ID, its origin the only accepted origin),
 * every credential is discoverable and user-verified (so one passkey is both factors), and each
 * ceremony's challenge is stored only as a keyed hash and consumed by the first response that
 * names it, valid or not.
 */
export const CEREMONY_LIFETIME_MS = 5 * MS_PER_MINUTE;
const CHALLENGE_PURPOSE = 'deskpass/webauthn-challenge/v1';

export interface RelyingParty {
  id: string;
  origin: string;
}

export function relyingPartyOf(publicUrl: string): RelyingParty {
  const url = new URL(publicUrl);
  return { id: url.hostname, origin: url.origin };
}

/** Reads a response's challenge (clientDataJSON), to consume its stored record before verifying. */
function consumer(deps: FlowDeps, purpose: 'registration' | 'authentication', sessionId: string | null): (challenge: string) => Promise<boolean> {
  return (challenge) => consumeWebauthnChallenge(deps.db, keyedHash(deps.secretKey, CHALLENGE_PURPOSE, challenge), purpose, sessionId, deps.clock.now());
}

async function storeChallenge(deps: FlowDeps, challenge: string, purpose: 'registration' | 'authentication', agentId: string | null, sessionId: string | null): Promise<void> {
  const now = deps.clock.now();
  await insertWebauthnChallenge(deps.db, { challengeHash: keyedHash(deps.secretKey, CHALLENGE_PURPOSE, challenge), purpose, agentId, sessionId, now, expiresAt: addMs(now, CEREMONY_LIFETIME_MS) });
}

/** Creation options for a new passkey of the signed-in agent (their existing ones excluded), bound to the session. */
export async function registrationOptions(deps: FlowDeps, account: Account, agent: Agent, sessionId: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const rp = relyingPartyOf(deps.publicUrl);
  const existing = await listPasskeys(deps.db, agent.id);
  const options = await generateRegistrationOptions({
    rpName: `${account.name} (Deskpass)`,
    rpID: rp.id,
    userID: new Uint8Array(Buffer.from(agent.id, 'utf8')),
    userName: agent.email,
    userDisplayName: agent.name,
    attestationType: 'none',
    excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports as AuthenticatorTransport[] })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    timeout: CEREMONY_LIFETIME_MS,
  });
  await storeChallenge(deps, options.challenge, 'registration', agent.id, sessionId);
  return options;
}

/** WebAuthn Level 3's AuthenticatorTransport values: the hints a browser may be given back. */
const KNOWN_TRANSPORTS: readonly string[] = ['ble', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'];

/**
 * The transports a response reports, as far as they are known ones: the client writes that list,
 * the library passes it on unchecked, and it is stored and handed back in excludeCredentials.
 */
function knownTransports(reported: unknown): string[] {
  return Array.isArray(reported) ? [...new Set(reported.filter((t): t is string => typeof t === 'string' && KNOWN_TRANSPORTS.includes(t)))] : [];
}

export interface NewCredential {
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
}

/** The credential a registration response creates, when it answers a challenge of this session and verifies (user verified). */
export async function verifyRegistration(deps: FlowDeps, sessionId: string, response: unknown): Promise<NewCredential | null> {
  const rp = relyingPartyOf(deps.publicUrl);
  try {
    const verification = await verifyRegistrationResponse({
      response: response as RegistrationResponseJSON,
      expectedChallenge: consumer(deps, 'registration', sessionId),
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
    });
    if (!verification.verified) return null;
    const { credential, credentialDeviceType, credentialBackedUp } = verification.registrationInfo;
    return {
      credentialId: credential.id,
      publicKey: Buffer.from(credential.publicKey).toString('base64url'),
      counter: credential.counter,
      transports: knownTransports(credential.transports),
      deviceType: credentialDeviceType,
      backedUp: credentialBackedUp,
    };
  } catch {
    // malformed, wrong origin, wrong RP, no user verification, unknown challenge: one answer
    return null;
  }
}

/** Request options for a discoverable credential: the browser offers whichever passkey the agent picks. */
export async function authenticationOptions(deps: FlowDeps): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const options = await generateAuthenticationOptions({ rpID: relyingPartyOf(deps.publicUrl).id, userVerification: 'required', timeout: CEREMONY_LIFETIME_MS, challenge: randomBytes(32) });
  await storeChallenge(deps, options.challenge, 'authentication', null, null);
  return options;
}

/** The credential id a response names, without verifying anything (to find whose passkey it claims to be). */
export function claimedCredentialId(response: unknown): string | null {
  const id = (response as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id.length > 0 && id.length <= 1024 ? id : null;
}

/**
 * The stored passkey a response signs with, when the response answers a live challenge, comes
 * from our origin and RP, is user-verified, verifies against the stored public key, and its
 * signature counter moved forward (a counter that goes back is a cloned authenticator).
 * `expectedAgentId`: the passkey must be this agent's (second step, re-authentication).
 */
export async function verifyAssertion(deps: FlowDeps, response: unknown, expectedAgentId: string | null): Promise<PasskeyRecord | null> {
  const credentialId = claimedCredentialId(response);
  const passkey = credentialId ? await findPasskeyByCredentialId(deps.db, credentialId) : undefined;
  if (!passkey || (expectedAgentId !== null && passkey.agentId !== expectedAgentId)) {
    // still spend the challenge the response carries, so no response can be tried twice
    await spendChallengeOf(deps, response);
    return null;
  }
  const rp = relyingPartyOf(deps.publicUrl);
  try {
    const verification = await verifyAuthenticationResponse({
      response: response as AuthenticationResponseJSON,
      expectedChallenge: consumer(deps, 'authentication', null),
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: { id: passkey.credentialId, publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')), counter: passkey.counter, transports: passkey.transports as AuthenticatorTransport[] },
      requireUserVerification: true,
    });
    if (!verification.verified) return null;
    const userHandle = (response as AuthenticationResponseJSON).response.userHandle;
    if (userHandle && Buffer.from(userHandle, 'base64url').toString('utf8') !== passkey.agentId) return null;
    const moved = await recordPasskeyUse(deps.db, passkey.id, verification.authenticationInfo.newCounter, deps.clock.now());
    return moved ? passkey : null;
  } catch {
    // malformed, wrong origin, wrong RP, no user verification, bad signature, unknown challenge: one answer
    return null;
  }
}

/** Spends the challenge a response names, verifying nothing (a response that must not succeed must not be tried twice either). */
export async function spendChallengeOf(deps: FlowDeps, response: unknown): Promise<void> {
  try {
    const clientData = (response as { response?: { clientDataJSON?: unknown } }).response?.clientDataJSON;
    if (typeof clientData !== 'string') return;
    const challenge = (JSON.parse(Buffer.from(clientData, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
    if (typeof challenge === 'string') await consumer(deps, 'authentication', null)(challenge);
  } catch {
    // not a response at all: nothing to spend
  }
}
