import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { setOwnTimeZone } from '../../flows/preferences.js';
import { timeZoneGroups } from '../../domain/time-zones.js';
import { field, formOf } from './forms.js';
import { fieldError, NO_ERRORS, type FormErrors } from './form-errors.js';
import { redirectWith, renderPage } from './render.js';

/** My Settings › Preferences: the agent's own time zone, or the help desk's (the default). */
export const myPreferencesPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  function show(request: FastifyRequest, reply: FastifyReply, typed: string | null = null, errors: FormErrors = NO_ERRORS, status = 200) {
    const { agent, account } = request.portalAuth!;
    return renderPage(
      request,
      reply,
      'my-preferences',
      {
        tab: 'preferences',
        timeZone: typed ?? agent.timeZone ?? '',
        deskDefaultLabel: `Use the help desk's time zone (${account.settings.timeZone})`,
        groups: timeZoneGroups(deps.clock.now()),
        now: deps.clock.now(),
        errors,
      },
      { title: 'My Settings', status, section: 'my-settings' },
    );
  }

  app.get('/my-settings/preferences', async (request, reply) => show(request, reply));

  app.post('/my-settings/preferences', async (request, reply) => {
    const chosen = field(formOf(request), 'timeZone').trim();
    const result = await setOwnTimeZone(deps, request.portalAuth!, chosen === '' ? null : chosen);
    if (!result.ok) return show(request, reply, chosen, fieldError('Your preferences were not saved', 'time-zone', 'Choose a time zone from the list.'), 422);
    const zone = result.agent.timeZone ? result.agent.timeZone : `the help desk's time zone (${request.portalAuth!.account.settings.timeZone})`;
    return redirectWith(reply, '/my-settings/preferences', 'success', `Your preferences are saved: times are now shown in ${zone}.`);
  });
};
