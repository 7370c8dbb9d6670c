import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { App, AppType } from '../../domain/apps.js';
import { forbidden, type Failure } from '../../domain/errors.js';
import { createApp, deleteApp, getApp, listApps, rotateAppSecret, updateApp } from '../../flows/apps.js';
import { providerEndpoints } from '../../oidc/endpoints.js';
import { requestContext } from '../request-context.js';
import { APP_PRESETS, normalizeBaseUrl, presetForApp, presetForm, presetOf, type AppPreset } from './app-presets.js';
import { field, formOf, queryParam, trimmedField, type FormBody } from './forms.js';
import { pageGuard } from './limits.js';
import { describeFailure } from './messages.js';
import { redirectWith, renderMessage, renderPage } from './render.js';
import { fieldError, formErrors, NO_ERRORS, type FormErrors } from './form-errors.js';

type IdParams = { Params: { id: string } };

function hostOf(uri: string | undefined): string {
  try {
    return uri ? new URL(uri).host : '';
  } catch {
    return '';
  }
}

/** The registration and edit form as typed: URI lists one per line. */
interface AppForm {
  preset: string;
  name: string;
  type: AppType;
  redirectUris: string;
  postLogoutRedirectUris: string;
  backchannelLogoutUri: string;
  launchUrl: string;
}

const FIELD_LABELS: Record<string, string> = {
  name: 'Name',
  type: 'Type',
  redirectUris: 'Redirect URI',
  postLogoutRedirectUris: 'Post-logout redirect URI',
  backchannelLogoutUri: 'Back-channel logout URI',
  launchUrl: 'Launch URL',
};

function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
}

function appFormOf(body: FormBody): AppForm {
  return {
    preset: trimmedField(body, 'preset'),
    name: trimmedField(body, 'name'),
    type: field(body, 'type') === 'public' ? 'public' : 'confidential',
    redirectUris: field(body, 'redirectUris'),
    postLogoutRedirectUris: field(body, 'postLogoutRedirectUris'),
    backchannelLogoutUri: trimmedField(body, 'backchannelLogoutUri'),
    launchUrl: trimmedField(body, 'launchUrl'),
  };
}

function formOfApp(app: App): AppForm {
  return {
    preset: presetForApp(app).key,
    name: app.name,
    type: app.type,
    redirectUris: app.redirectUris.join('\n'),
    postLogoutRedirectUris: app.postLogoutRedirectUris.join('\n'),
    backchannelLogoutUri: app.backchannelLogoutUri ?? '',
    launchUrl: app.launchUrl ?? '',
  };
}

/** The id suffix of each field in partials/app-fields.eta. */
const FIELD_IDS: Record<string, string> = {
  name: 'name',
  type: 'type-public',
  redirectUris: 'redirect',
  postLogoutRedirectUris: 'post-logout',
  backchannelLogoutUri: 'backchannel',
  launchUrl: 'launch',
};

/** "Redirect URI 2 (http://…): must use https://…", one problem per detail the flow listed, on its field (ids `prefix-…`). */
function errorsOf(heading: string, failure: Failure, form: AppForm, prefix: string): FormErrors {
  if (failure.code !== 'invalid_request') return fieldError(heading, null, describeFailure(failure));
  const problems = (failure.details ?? []).map((d) => {
    const { field: name = '', message = 'is not valid' } = d as { field?: string; message?: string };
    const [key, index] = name.split('.');
    const label = FIELD_LABELS[key] ?? key;
    const field = FIELD_IDS[key] ? `${prefix}-${FIELD_IDS[key]}` : null;
    if (index === undefined) return { field, message: `${label} ${message}.` };
    const value = lines(String(form[key as keyof AppForm] ?? ''))[Number(index)];
    return { field, message: `${label} ${Number(index) + 1}${value ? ` (${value})` : ''} ${message}.` };
  });
  return formErrors(heading, problems.length > 0 ? problems : [{ field: null, message: describeFailure(failure) }]);
}

/** Manage › Apps: the apps that sign agents in through Deskpass, registered from presets; their values, edit, rotate, remove. */
export const appsPages: FastifyPluginAsync = async (app) => {
  const { deps, config } = app.deskpass;
  const endpoints = providerEndpoints(config.publicUrl);
  const back = (id: string) => `/manage/apps/${encodeURIComponent(id)}`;

  // Every page and action here needs manage_apps: refused before the handler runs (the flows check again).
  const requireManageApps = pageGuard(async (request: FastifyRequest) =>
    request.portalAuth!.agent.role.permissions.includes('manage_apps') ? null : { status: 403, title: 'Manage › Apps', message: describeFailure(forbidden('missing_permission')) },
  );
  const guarded = { preHandler: requireManageApps };

  app.get('/manage/apps', guarded, async (request, reply) => {
    const listed = await listApps(deps, request.portalAuth!.agent);
    if (!listed.ok) return renderMessage(request, reply, 403, 'Manage › Apps', describeFailure(listed));
    const apps = listed.apps.map((a) => ({ id: a.id, name: a.name, type: a.type, clientId: a.clientId, redirectUris: a.redirectUris, backchannel: Boolean(a.backchannelLogoutUri), host: hostOf(a.redirectUris[0]) }));
    return renderPage(request, reply, 'apps', { apps }, { title: 'Apps', section: 'apps' });
  });

  function showNew(request: FastifyRequest, reply: FastifyReply, input: { preset: AppPreset | undefined; base: string; baseErrors: FormErrors; form: AppForm; errors: FormErrors }, status = 200) {
    return renderPage(request, reply, 'app-new', { presets: APP_PRESETS, ...input, presetKey: input.preset?.key ?? '' }, { title: 'Register an app', status, section: 'apps' });
  }

  app.get('/manage/apps/new', guarded, async (request, reply) => {
    const preset = presetOf(queryParam(request, 'preset'));
    const rawBase = queryParam(request, 'base', 2000)?.trim() ?? '';
    const base = rawBase ? normalizeBaseUrl(rawBase) : null;
    const baseError = base && !base.ok ? base.message : null;
    const baseErrors = baseError ? fieldError('The form was not filled in', 'base', baseError) : NO_ERRORS;
    const chosen = preset ?? presetOf('other')!;
    const form: AppForm = { preset: chosen.key, ...presetForm(chosen, base?.ok ? base.base : null) };
    return showNew(request, reply, { preset, base: rawBase, baseErrors, form, errors: NO_ERRORS }, baseError ? 400 : 200);
  });

  app.post('/manage/apps/new', guarded, async (request, reply) => {
    const form = appFormOf(formOf(request));
    const preset = presetOf(form.preset);
    const input = {
      name: form.name,
      type: form.type,
      redirectUris: lines(form.redirectUris),
      postLogoutRedirectUris: lines(form.postLogoutRedirectUris),
      backchannelLogoutUri: form.backchannelLogoutUri || null,
      launchUrl: form.launchUrl || null,
    };
    const result = await createApp(deps, request.portalAuth!.agent, { ...input, context: requestContext(request, 'portal') });
    if (!result.ok) {
      const status = result.code === 'forbidden' ? 403 : 400;
      return showNew(request, reply, { preset, base: '', baseErrors: NO_ERRORS, form, errors: errorsOf('The app was not registered', result, form, 'new-app') }, status);
    }
    // The values page, answered to this POST: the secret is in this answer only, never in a URL, a flash cookie or the store.
    return showApp(request, reply, result.app, { secret: result.clientSecret, notice: `"${result.app.name}" is registered. Copy these values into ${presetForApp(result.app).key === 'other' ? 'the app' : presetForApp(result.app).label} now.`, status: 201 });
  });

  function showApp(request: FastifyRequest, reply: FastifyReply, registered: App, options: { secret?: string | null; notice?: string; form?: AppForm; errors?: FormErrors; status?: number } = {}) {
    const preset = presetForApp(registered);
    const hasSecret = registered.type === 'confidential';
    const values = [
      { id: 'issuer', label: 'Issuer', value: endpoints.issuer },
      { id: 'discovery', label: 'Discovery URL', value: endpoints.discovery },
      { id: 'client-id', label: 'Client ID', value: registered.clientId },
      { id: 'authorization', label: 'Authorization endpoint', value: endpoints.authorization },
      { id: 'token', label: 'Token endpoint', value: endpoints.token },
      { id: 'userinfo', label: 'Userinfo endpoint', value: endpoints.userinfo },
      { id: 'jwks', label: 'JWKS URI', value: endpoints.jwks },
      { id: 'end-session', label: 'End session endpoint', value: endpoints.endSession },
    ];
    return renderPage(
      request,
      reply,
      'app',
      {
        app: { ...registered, createdAt: registered.createdAt },
        preset: { label: preset.label, key: preset.key, pkce: registered.type === 'public' ? 'S256, required' : preset.key === 'osticket' ? preset.pkce : 'accepted (S256), not required' },
        values,
        hasSecret,
        secret: options.secret ?? null,
        notice: options.notice ?? null,
        steps: preset.steps({ endpoints, clientId: registered.clientId, appName: registered.name, hasSecret }),
        form: options.form ?? formOfApp(registered),
        errors: options.errors ?? NO_ERRORS,
      },
      { title: registered.name, section: 'apps', status: options.status ?? 200 },
    );
  }

  app.get<IdParams>('/manage/apps/:id', guarded, async (request, reply) => {
    const found = await getApp(deps, request.portalAuth!.agent, request.params.id);
    if (!found.ok) return found.code === 'not_found' ? redirectWith(reply, '/manage/apps', 'error', 'That app no longer exists.') : renderMessage(request, reply, 403, 'Manage › Apps', describeFailure(found));
    return showApp(request, reply, found.app);
  });

  app.post<IdParams>('/manage/apps/:id', guarded, async (request, reply) => {
    const actor = request.portalAuth!.agent;
    const form = appFormOf(formOf(request));
    const result = await updateApp(deps, actor, request.params.id, {
      name: form.name,
      redirectUris: lines(form.redirectUris),
      postLogoutRedirectUris: lines(form.postLogoutRedirectUris),
      backchannelLogoutUri: form.backchannelLogoutUri || null,
      launchUrl: form.launchUrl || null,
      context: requestContext(request, 'portal'),
    });
    if (result.ok) return redirectWith(reply, back(result.app.id), 'success', `"${result.app.name}" was saved.`);
    if (result.code !== 'invalid_request') return redirectWith(reply, result.code === 'not_found' ? '/manage/apps' : back(request.params.id), 'error', describeFailure(result));
    const current = await getApp(deps, actor, request.params.id);
    if (!current.ok) return redirectWith(reply, '/manage/apps', 'error', describeFailure(current));
    return showApp(request, reply, current.app, { form: { ...form, type: current.app.type }, errors: errorsOf('The changes were not saved', result, form, 'edit-app'), status: 400 });
  });

  app.post<IdParams>('/manage/apps/:id/secret', guarded, async (request, reply) => {
    const result = await rotateAppSecret(deps, request.portalAuth!.agent, request.params.id, requestContext(request, 'portal'));
    if (!result.ok) return redirectWith(reply, result.code === 'not_found' ? '/manage/apps' : back(request.params.id), 'error', describeFailure(result));
    return showApp(request, reply, result.app, { secret: result.clientSecret, notice: `A new client secret was made for "${result.app.name}". The old one no longer works: paste the new one into the app now.` });
  });

  app.post<IdParams>('/manage/apps/:id/delete', guarded, async (request, reply) => {
    const result = await deleteApp(deps, request.portalAuth!.agent, request.params.id, requestContext(request, 'portal'));
    if (!result.ok) return redirectWith(reply, result.code === 'not_found' ? '/manage/apps' : back(request.params.id), 'error', describeFailure(result));
    return redirectWith(reply, '/manage/apps', 'success', `"${result.app.name}" was removed. Agents can no longer sign in to it through Deskpass, and every token it held stopped working.`);
  });
};
