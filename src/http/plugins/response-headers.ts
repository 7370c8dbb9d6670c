import fp from 'fastify-plugin';

/**
 * Headers on every answer, the API's included (the portal adds its own on top): nothing is
 * cached unless a route says otherwise (answers carry agents, sessions and audit events), and
 * no browser guesses a content type from the body.
 */
export const responseHeadersPlugin = fp(async (app) => {
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    done(null, payload);
  });
});
