import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createApp, deleteApp, getApp, listApps, rotateAppSecret, updateApp, MAX_APP_NAME_LENGTH, MAX_APP_URIS, MAX_APP_URI_LENGTH } from '../../flows/apps.js';
import { sendFailure } from '../errors.js';
import { requestContext } from '../request-context.js';
import { AppSchema, IdParam, appJson, errorResponses, security } from '../schemas.js';

// The shapes only; every URI rule (absolute, no fragment, https but on loopback) is the flow's,
// so the CLI and the portal get the same answers, with every problem listed in `details`.
const Uri = Type.String({ minLength: 1, maxLength: MAX_APP_URI_LENGTH });
// Trimmed, the name is 1 to MAX_APP_NAME_LENGTH characters (the flow's rule); the wire allows the spaces around it.
const Name = Type.String({ minLength: 1, maxLength: 2 * MAX_APP_NAME_LENGTH, pattern: '\\S' });
const RedirectUris = Type.Array(Uri, { minItems: 1, maxItems: MAX_APP_URIS });
const PostLogoutRedirectUris = Type.Array(Uri, { maxItems: MAX_APP_URIS });
const OptionalUri = Type.Optional(Type.Union([Uri, Type.Null()]));
const AppType = Type.Union([Type.Literal('public'), Type.Literal('confidential')]);
const tags = ['apps'];
/** The create answer: the app and, for a confidential one, its secret (this once). */
const AppWithSecret = Type.Object({ ...AppSchema.properties, clientSecret: Type.Optional(Type.String()) });

/** The apps that sign agents in through Deskpass (needs manage_apps). A client secret is in the create and rotate answers only. */
export const appsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { deps } = app.deskpass;

  app.get('/apps', { schema: { tags, security, response: { 200: Type.Object({ apps: Type.Array(AppSchema) }), ...errorResponses } } }, async (request, reply) => {
    const result = await listApps(deps, request.auth.agent);
    if (!result.ok) return sendFailure(reply, result);
    return { apps: result.apps.map(appJson) };
  });

  app.post(
    '/apps',
    {
      schema: {
        tags,
        security,
        body: Type.Object({ name: Name, type: AppType, redirectUris: RedirectUris, postLogoutRedirectUris: Type.Optional(PostLogoutRedirectUris), backchannelLogoutUri: OptionalUri, launchUrl: OptionalUri }),
        response: { 201: AppWithSecret, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { name, type, redirectUris, postLogoutRedirectUris, backchannelLogoutUri, launchUrl } = request.body;
      const result = await createApp(deps, request.auth.agent, { name, type, redirectUris, postLogoutRedirectUris, backchannelLogoutUri, launchUrl, context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      return reply.code(201).send({ ...appJson(result.app), ...(result.clientSecret ? { clientSecret: result.clientSecret } : {}) });
    },
  );

  app.get('/apps/:id', { schema: { tags, security, params: IdParam, response: { 200: AppSchema, ...errorResponses } } }, async (request, reply) => {
    const result = await getApp(deps, request.auth.agent, request.params.id);
    if (!result.ok) return sendFailure(reply, result);
    return appJson(result.app);
  });

  app.patch(
    '/apps/:id',
    {
      schema: {
        tags,
        security,
        params: IdParam,
        body: Type.Object({
          name: Type.Optional(Name),
          redirectUris: Type.Optional(RedirectUris),
          postLogoutRedirectUris: Type.Optional(PostLogoutRedirectUris),
          backchannelLogoutUri: OptionalUri,
          launchUrl: OptionalUri,
        }),
        response: { 200: AppSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { name, redirectUris, postLogoutRedirectUris, backchannelLogoutUri, launchUrl } = request.body;
      const result = await updateApp(deps, request.auth.agent, request.params.id, { name, redirectUris, postLogoutRedirectUris, backchannelLogoutUri, launchUrl, context: requestContext(request) });
      if (!result.ok) return sendFailure(reply, result);
      return appJson(result.app);
    },
  );

  app.post('/apps/:id/secret', { schema: { tags, security, params: IdParam, response: { 200: Type.Object({ clientSecret: Type.String() }), ...errorResponses } } }, async (request, reply) => {
    const result = await rotateAppSecret(deps, request.auth.agent, request.params.id, requestContext(request));
    if (!result.ok) return sendFailure(reply, result);
    return { clientSecret: result.clientSecret };
  });

  app.delete('/apps/:id', { schema: { tags, security, params: IdParam, response: { 204: Type.Null(), ...errorResponses } } }, async (request, reply) => {
    const result = await deleteApp(deps, request.auth.agent, request.params.id, requestContext(request));
    if (!result.ok) return sendFailure(reply, result);
    return reply.code(204).send(null);
  });
};
