import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { currentAccount } from './flows/account.js';
import { lowerV8PlatformThreads } from './thread-priorities.js';

/**
 * Listens (V8's background threads below the event loop's priority and above the hashing
 * threads': thread-priorities.ts), prints the one-time setup link on an empty database, and shuts down gracefully:
 * on SIGTERM/SIGINT it stops accepting, finishes requests in flight, flushes the outbox
 * worker and closes the database.
 */
export async function startServer(config: Config): Promise<FastifyInstance> {
  lowerV8PlatformThreads();
  const app = await buildApp({ config });
  await app.listen({ port: config.port, host: config.host, listenTextResolver: (address) => `Server listening at ${address} on Node.js ${process.version}` });

  if (!(await currentAccount(app.deskpass.deps))) {
    const token = app.deskpass.setupLink.issue();
    const link = `${config.publicUrl}/setup/${token}`;
    // Printed, not logged: the link is a secret for the operator's eyes, and log lines are kept.
    process.stdout.write(
      `\nDeskpass has no help desk yet. Open this one-time link to create it and its Account Administrator:\n\n  ${link}\n\n` +
        `(API: POST ${config.publicUrl}/api/v1/setup with {"token": "…", "accountName", "adminName", "adminEmail", "password"}.)\n` +
        'The link works once and dies when this process stops. Or run: npx deskpass init --admin-email you@example.com\n\n',
    );
  }

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    app.close().then(
      () => process.exit(0),
      (error) => {
        app.log.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  return app;
}
