import type { FastifyPluginAsync } from 'fastify';
import { authenticatePlugin } from '../plugins/authenticate.js';
import { meRoutes } from './me-routes.js';
import { agentsRoutes } from './agents-routes.js';
import { agentPasswordRoutes } from './agent-password-routes.js';
import { rolesRoutes } from './roles-routes.js';
import { auditRoutes } from './audit-routes.js';
import { accountRoutes } from './account-routes.js';
import { appsRoutes } from './apps-routes.js';
import { twoFactorRoutes } from './two-factor-routes.js';

/** Everything behind the one authenticate hook. */
export const authenticatedRoutes: FastifyPluginAsync = async (app) => {
  await app.register(authenticatePlugin, { cookieName: app.deskpass.cookieName, publicUrl: app.deskpass.config.publicUrl });
  await app.register(meRoutes);
  await app.register(agentsRoutes);
  await app.register(agentPasswordRoutes);
  await app.register(rolesRoutes);
  await app.register(auditRoutes);
  await app.register(accountRoutes);
  await app.register(appsRoutes);
  await app.register(twoFactorRoutes);
};
