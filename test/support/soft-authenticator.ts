import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

/**
 * A software WebAuthn authenticator (and the browser around it) for tests: it makes real
 * ES256 credentials with node:crypto and answers ceremonies with the JSON a browser's
 * navigator.credentials.create/get would give, which the real @simplewebauthn/server verifies.
 * Nothing on the server side is mocked. Each ceremony can be told to misbehave the way a
 * broken, cloned or hostile authenticator (or a phishing page) would.
 */

// ---- a minimal CBOR encoder (RFC 8949): exactly what attestation objects and COSE keys need

export type CborValue = number | string | Uint8Array | CborValue[] | Map<number | string, CborValue>;

function head(major: number, length: number): Buffer {
  if (!Number.isInteger(length) || length < 0) throw new Error(`CBOR: bad length ${length}`);
  if (length < 24) return Buffer.from([(major << 5) | length]);
  if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
  if (length < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(length, 1);
    return b;
  }
  if (length < 0x100000000) {
    const b = Buffer.alloc(5);
    b[0] = (major << 5) | 26;
    b.writeUInt32BE(length, 1);
    return b;
  }
  throw new Error('CBOR: 64-bit lengths are not needed here');
}

/** Shortest-form CBOR of ints (negative too), byte strings, text, arrays and maps with int or text keys, keys in insertion order. */
export function cborEncode(value: CborValue): Buffer {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`CBOR: only integers, not ${value}`);
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cborEncode)]);
  const parts: Buffer[] = [head(5, value.size)];
  for (const [key, inner] of value) parts.push(cborEncode(key), cborEncode(inner));
  return Buffer.concat(parts);
}

// ---- WebAuthn pieces

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;
const COSE_ALG_ES256 = -7;

const b64url = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();

/** One credential the authenticator holds: its key, its id, the user it was made for, and its signature counter. */
export interface SoftCredential {
  id: string;
  rawId: Buffer;
  privateKey: KeyObject;
  publicKey: KeyObject;
  rpId: string;
  /** user.id of the creation options (base64url): the userHandle of its assertions */
  userHandle: string;
  /** the last signature counter used (0 before any assertion) */
  signCount: number;
}

/** Ways one ceremony can go wrong. Each is what a real attacker or a broken device could send. */
export interface Misbehaviour {
  /** the UV flag cleared: the user was present but not verified (no PIN, no biometric) */
  noUserVerification?: boolean;
  /** the UP flag cleared too */
  noUserPresence?: boolean;
  /** clientDataJSON.origin: what a phishing page's origin would be */
  origin?: string;
  /** the RP ID whose hash goes into authenticatorData (a credential made for another site) */
  rpId?: string;
  /** clientDataJSON.challenge instead of the options' (an old, used or foreign challenge) */
  challenge?: string;
  /** clientDataJSON.type instead of webauthn.create / webauthn.get */
  type?: string;
  /** the signature counter sent (a counter that does not move forward, or goes back) */
  signCount?: number;
  /** the signature signs other bytes: well-formed DER, but not over this assertion */
  tamperSignature?: boolean;
  /** the userHandle sent (base64url), instead of the credential's; null: none */
  userHandle?: string | null;
}

export interface SoftAuthenticatorOptions {
  /** the origin the "browser" reports in clientDataJSON (normally PUBLIC_URL's origin) */
  origin: string;
  /** 'increasing': the counter moves by one per assertion; 'zero': it always stays 0, as synced passkeys do */
  counter?: 'increasing' | 'zero';
  /** sets BE and BS (a multi-device, backed-up passkey) */
  backedUp?: boolean;
}

/** The DOMException a browser raises when the authenticator already holds an excluded credential. */
export class InvalidStateError extends Error {
  override name = 'InvalidStateError';
}

/** The DOMException a browser raises when no credential answers the request. */
export class NotAllowedError extends Error {
  override name = 'NotAllowedError';
}

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = [];
  private readonly counterMode: 'increasing' | 'zero';

  constructor(readonly options: SoftAuthenticatorOptions) {
    this.counterMode = options.counter ?? 'increasing';
  }

  /** An authenticator of a site at `publicUrl` (origin and RP ID follow it). */
  static forSite(publicUrl: string, options: Omit<SoftAuthenticatorOptions, 'origin'> = {}): SoftAuthenticator {
    return new SoftAuthenticator({ origin: new URL(publicUrl).origin, ...options });
  }

  /**
   * A second authenticator holding a copy of one credential (same key, same counter now): a
   * cloned security key. Its counter moves on its own from here.
   */
  clone(credentialId: string): SoftAuthenticator {
    const original = this.credential(credentialId);
    const copy = new SoftAuthenticator({ ...this.options, counter: this.counterMode });
    copy.credentials.push({ ...original, rawId: Buffer.from(original.rawId) });
    return copy;
  }

  credential(id: string): SoftCredential {
    const found = this.credentials.find((c) => c.id === id);
    if (!found) throw new Error(`no credential ${id} on this authenticator`);
    return found;
  }

  private flags(base: number, misbehave: Misbehaviour): number {
    let flags = base | FLAG_UP | FLAG_UV;
    if (this.options.backedUp) flags |= FLAG_BE | FLAG_BS;
    if (misbehave.noUserVerification) flags &= ~FLAG_UV;
    if (misbehave.noUserPresence) flags &= ~FLAG_UP;
    return flags;
  }

  private clientData(type: string, challenge: string, misbehave: Misbehaviour): Buffer {
    return Buffer.from(JSON.stringify({ type: misbehave.type ?? type, challenge: misbehave.challenge ?? challenge, origin: misbehave.origin ?? this.options.origin, crossOrigin: false }), 'utf8');
  }

  /** navigator.credentials.create(): a new ES256 credential for the options' RP and user. */
  register(options: PublicKeyCredentialCreationOptionsJSON, misbehave: Misbehaviour = {}): RegistrationResponseJSON {
    const rpId = options.rp.id ?? new URL(this.options.origin).hostname;
    const excluded = new Set((options.excludeCredentials ?? []).map((c) => c.id));
    if (this.credentials.some((c) => c.rpId === rpId && excluded.has(c.id))) throw new InvalidStateError('this authenticator already holds an excluded credential');
    if (!options.pubKeyCredParams.some((p) => p.alg === COSE_ALG_ES256)) throw new NotAllowedError('ES256 is not among pubKeyCredParams');

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const coseKey = cborEncode(
      new Map<number, CborValue>([
        [1, 2], // kty: EC2
        [3, COSE_ALG_ES256], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
    const rawId = randomBytes(32);
    const credentialIdLength = Buffer.alloc(2);
    credentialIdLength.writeUInt16BE(rawId.length);
    const signCount = misbehave.signCount ?? 0;
    const authData = Buffer.concat([
      sha256(misbehave.rpId ?? rpId),
      Buffer.from([this.flags(FLAG_AT, misbehave)]),
      uint32(signCount),
      Buffer.alloc(16), // AAGUID: zeros ("none" attestation)
      credentialIdLength,
      rawId,
      coseKey,
    ]);
    const attestationObject = cborEncode(new Map<string, CborValue>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    const clientDataJSON = this.clientData('webauthn.create', options.challenge, misbehave);

    const id = b64url(rawId);
    this.credentials.push({ id, rawId, privateKey, publicKey, rpId, userHandle: options.user.id, signCount });
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        attestationObject: b64url(attestationObject),
        authenticatorData: b64url(authData),
        publicKeyAlgorithm: COSE_ALG_ES256,
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /**
   * navigator.credentials.get(): an assertion by the credential the options allow, or, with no
   * allowCredentials (the discoverable flow), by `pick` or the first one this authenticator holds for the RP.
   */
  assert(options: PublicKeyCredentialRequestOptionsJSON, misbehave: Misbehaviour = {}, pick?: string): AuthenticationResponseJSON {
    const rpId = options.rpId ?? new URL(this.options.origin).hostname;
    const allowed = new Set((options.allowCredentials ?? []).map((c) => c.id));
    const candidates = this.credentials.filter((c) => c.rpId === rpId && (allowed.size === 0 || allowed.has(c.id)) && (!pick || c.id === pick));
    const credential = candidates[0];
    if (!credential) throw new NotAllowedError('no credential of this authenticator answers the request');
    if (misbehave.signCount === undefined && this.counterMode === 'increasing') credential.signCount += 1;
    const signCount = misbehave.signCount ?? (this.counterMode === 'increasing' ? credential.signCount : 0);

    const authData = Buffer.concat([sha256(misbehave.rpId ?? rpId), Buffer.from([this.flags(0, misbehave)]), uint32(signCount)]);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, misbehave);
    const signed = Buffer.concat([authData, sha256(clientDataJSON)]);
    if (misbehave.tamperSignature) signed[0] ^= 0xff;
    const signature = sign('sha256', signed, credential.privateKey); // DER-encoded ECDSA, as authenticators send it
    const userHandle = misbehave.userHandle === undefined ? credential.userHandle : misbehave.userHandle;

    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(userHandle === null ? {} : { userHandle }),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}

function uint32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

/** The challenge a response answers (from its clientDataJSON), as the server reads it. */
export function challengeOf(response: { response: { clientDataJSON: string } }): string {
  return (JSON.parse(Buffer.from(response.response.clientDataJSON, 'base64url').toString('utf8')) as { challenge: string }).challenge;
}
