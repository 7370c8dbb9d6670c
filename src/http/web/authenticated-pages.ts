import type { FastifyPluginAsync } from 'fastify';
import { signOut } from '../../flows/sessions.js';
import { clearSessionCookie } from '../session-cookie.js';
import { homeFor } from './nav.js';
import { pageAuthPlugin } from './page-auth.js';
import { redirectWith, renderMessage } from './render.js';
import { requiredChangePages } from './required-change-pages.js';
import { myPreferencesPages } from './my-preferences-pages.js';
import { mySettingsPages } from './my-settings-pages.js';
import { agentsPages } from './agents-pages.js';
import { agentDetailPages } from './agent-detail-pages.js';
import { agentPasswordPages } from './agent-password-pages.js';
import { rolesPages } from './roles-pages.js';
import { auditPages } from './audit-pages.js';
import { accountSettingsPages } from './account-settings-pages.js';
import { interactionPages } from './interaction-pages.js';
import { appsPages } from './apps-pages.js';
import { yourAppsPages } from './your-apps-pages.js';
import { twoFactorPages } from './two-factor-pages.js';
import { passwordCheckPages } from './password-check-pages.js';

/** Every page behind the sign-in gate. */
export const authenticatedPages: FastifyPluginAsync = async (app) => {
  await app.register(pageAuthPlugin);
  const { deps } = app.deskpass;

  app.get('/', async (request, reply) => reply.redirect(homeFor(request.portalAuth!.agent), 303));
  app.get('/manage', async (request, reply) => reply.redirect(homeFor(request.portalAuth!.agent), 303));
  // Unknown pages under the portal's sections answer a page, not the API's JSON 404.
  for (const path of ['/manage/*', '/my-settings/*', '/apps/*']) {
    app.get(path, async (request, reply) => renderMessage(request, reply, 404, 'Page not found', 'There is no such page. Use the menu at the top.'));
  }

  app.post('/logout', { config: { allowedDuringPasswordChange: true, allowedWhenTemporaryPasswordExpired: true, allowedDuringTwoFactorEnrollment: true } }, async (request, reply) => {
    await signOut(deps, request.portalAuth!);
    clearSessionCookie(app, reply);
    return redirectWith(reply, '/login', 'info', 'You are signed out.');
  });

  await app.register(requiredChangePages);
  await app.register(mySettingsPages);
  await app.register(myPreferencesPages);
  await app.register(twoFactorPages);
  await app.register(agentsPages);
  await app.register(agentDetailPages);
  await app.register(agentPasswordPages);
  await app.register(rolesPages);
  await app.register(auditPages);
  await app.register(accountSettingsPages);
  await app.register(interactionPages);
  await app.register(appsPages);
  await app.register(yourAppsPages);
  await app.register(passwordCheckPages);
};
