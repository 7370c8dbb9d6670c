import { createHash, createSign, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

/**
 * A passkey without a device: a P-256 key pair that answers WebAuthn ceremonies the way a
 * platform authenticator does (attestation "none", user present and verified, a signature
 * counter that moves forward), so the passkey routes are tested with real signatures that
 * @simplewebauthn/server verifies, not with stubs.
 */
export class SoftPasskey {
  readonly credentialId = randomBytes(16);
  private readonly keys: { publicKey: KeyObject; privateKey: KeyObject } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  /** the WebAuthn user handle from the registration options (base64url), sent back with assertions */
  userHandle: string | null = null;
  counter = 0;
  /** flags of the next answers: clear `userVerified` to act as a key that only checked presence */
  userVerified = true;

  constructor(
    readonly rpId: string,
    readonly origin: string,
  ) {}

  get id(): string {
    return this.credentialId.toString('base64url');
  }

  /** The response to creation options (`navigator.credentials.create`), in its JSON form. */
  register(options: { challenge: string; user: { id: string } }): Record<string, unknown> {
    this.userHandle = options.user.id;
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin: this.origin, crossOrigin: false }));
    const length = Buffer.alloc(2);
    length.writeUInt16BE(this.credentialId.length);
    const attested = Buffer.concat([Buffer.alloc(16), length, this.credentialId, this.cosePublicKey()]);
    const authData = Buffer.concat([this.rpIdHash(), Buffer.from([this.flags() | 0x40]), this.counterBytes(), attested]);
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', new Uint8Array(authData)]]) as never);
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: { clientDataJSON: clientDataJSON.toString('base64url'), attestationObject: Buffer.from(attestationObject).toString('base64url'), transports: ['internal'] },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** The response to request options (`navigator.credentials.get`), signed, its counter one further. */
  assert(options: { challenge: string }, overrides: { origin?: string; counter?: number } = {}): Record<string, unknown> {
    this.counter = overrides.counter ?? this.counter + 1;
    const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin: overrides.origin ?? this.origin, crossOrigin: false }));
    const authData = Buffer.concat([this.rpIdHash(), Buffer.from([this.flags()]), this.counterBytes()]);
    const signer = createSign('sha256');
    signer.update(Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()]));
    const signature = signer.sign(this.keys.privateKey); // DER, as WebAuthn's ES256 wants
    return {
      id: this.id,
      rawId: this.id,
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
        ...(this.userHandle ? { userHandle: this.userHandle } : {}),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  private flags(): number {
    return 0x01 | (this.userVerified ? 0x04 : 0); // UP, UV
  }

  private rpIdHash(): Buffer {
    return createHash('sha256').update(this.rpId).digest();
  }

  private counterBytes(): Buffer {
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(this.counter);
    return bytes;
  }

  /** The public key as a COSE_Key: EC2 (1), ES256 (-7), P-256 (1), x, y. */
  private cosePublicKey(): Buffer {
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    const cose = new Map<number, unknown>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, new Uint8Array(Buffer.from(jwk.x!, 'base64url'))],
      [-3, new Uint8Array(Buffer.from(jwk.y!, 'base64url'))],
    ]);
    return Buffer.from(isoCBOR.encode(cose as never));
  }
}
