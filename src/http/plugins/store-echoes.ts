import fp from 'fastify-plugin';
import { requestEchoes } from '../../store/store-changes.js';

/**
 * A change a request committed is known to the other instances before the request is answered
 * (store/postgres-changes.ts): every request runs with a list of its commits' echoes, and its
 * answer waits for them (at most a quarter of a second; a read has none and waits for nothing).
 * Registered first, so every later hook and handler runs inside the request's list.
 */
export const storeEchoesPlugin = fp(async (app) => {
  app.addHook('onRequest', (_request, _reply, done) => requestEchoes.run([], done));
  app.addHook('onSend', (_request, _reply, payload, done) => {
    const echoes = requestEchoes.getStore();
    if (!echoes || echoes.length === 0) return done(null, payload);
    void Promise.all(echoes).then(() => done(null, payload));
  });
});
