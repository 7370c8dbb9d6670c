import { SoftAuthenticator } from './soft-authenticator.js';

/**
 * One passkey on a software authenticator (support/soft-authenticator.ts): the shape the second
 * factor's API tests use (register once, then assert), with real signatures that
 * @simplewebauthn/server verifies. `userVerified = false` acts as a key that only checked presence.
 */
export class SoftPasskey {
  private readonly authenticator: SoftAuthenticator;
  /** flags of the next answers: clear it to act as a key that only checked presence */
  userVerified = true;

  constructor(
    readonly rpId: string,
    readonly origin: string,
  ) {
    this.authenticator = new SoftAuthenticator({ origin });
  }

  /** The credential id (base64url). A passkey never registered with the server gets one of its own: a stranger's key. */
  get id(): string {
    if (this.authenticator.credentials.length === 0) {
      this.authenticator.register({ challenge: 'unregistered', rp: { id: this.rpId, name: 'elsewhere' }, user: { id: '', name: '', displayName: '' }, pubKeyCredParams: [{ alg: -7, type: 'public-key' }] } as never);
    }
    return this.authenticator.credentials[0].id;
  }

  /** The response to creation options (`navigator.credentials.create`), in its JSON form. */
  register(options: { challenge: string; user: { id: string } } & Record<string, unknown>): Record<string, unknown> {
    const creation = { ...options, rp: { id: this.rpId, name: 'Deskpass' } } as never;
    return this.authenticator.register(creation, { noUserVerification: !this.userVerified, rpId: this.rpId }) as never;
  }

  /** The response to request options (`navigator.credentials.get`), signed, its counter one further (or `counter`). */
  assert(options: { challenge: string } & Record<string, unknown>, overrides: { origin?: string; counter?: number } = {}): Record<string, unknown> {
    const request = { ...options, rpId: this.rpId } as never;
    return this.authenticator.assert(request, { noUserVerification: !this.userVerified, rpId: this.rpId, origin: overrides.origin, signCount: overrides.counter }, this.id) as never;
  }
}
