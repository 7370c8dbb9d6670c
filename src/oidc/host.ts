import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { FlowDeps } from '../flows/deps.js';
import { ensureSigningKey, loadSigningKeys, signingKeysVersion } from './keys.js';
import { createProvider } from './provider.js';
import { installSessionEndOnLogout } from './logout.js';

export interface ProviderHostOptions {
  deps: FlowDeps;
  issuer: string;
  cookieName: string;
  logger: Logger;
}

/**
 * Holds the running provider. Its signing keys come from the store; when `deskpass keys rotate`
 * (on any instance) changes them, refreshKeys builds a new provider with the new set, and
 * requests move to it (those in flight finish on the old one). Every instance polls.
 */
export class ProviderHost {
  private current!: { provider: Provider; handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>; version: string };
  private timer: NodeJS.Timeout | undefined;

  private constructor(private readonly o: ProviderHostOptions) {}

  static async start(o: ProviderHostOptions): Promise<ProviderHost> {
    const host = new ProviderHost(o);
    await ensureSigningKey(o.deps.db, o.deps.secretKey, o.deps.clock.now());
    await host.build();
    return host;
  }

  get provider(): Provider {
    return this.current.provider;
  }

  handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return this.current.handle(req, res);
  }

  /** Picks up rotated keys; true when the provider was rebuilt. */
  async refreshKeys(): Promise<boolean> {
    if ((await signingKeysVersion(this.o.deps.db)) === this.current.version) return false;
    await this.build();
    return true;
  }

  pollKeys(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.refreshKeys().catch((err: unknown) => this.o.logger.error({ err }, 'could not reload the signing keys'));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async build(): Promise<void> {
    const { keys, version } = await loadSigningKeys(this.o.deps.db, this.o.deps.secretKey, this.o.deps.clock.now());
    const provider = createProvider({ ...this.o, keys });
    installSessionEndOnLogout(provider, this.o.deps, this.o.cookieName, this.o.issuer.startsWith('https:'));
    const callback = provider.callback() as unknown as (req: IncomingMessage, res: ServerResponse) => Promise<void>;
    this.current = { provider, handle: callback, version };
  }
}
