import type { FastifyPluginAsync } from 'fastify';
import { listLaunchableApps } from '../../flows/apps.js';
import { renderPage } from './render.js';
import { APP_PRESETS } from './app-presets.js';

const TONES = 5;

/** A stable colour for an app's tile: its preset's when its name is one, else one of five from the name. */
function toneOf(name: string): string {
  const preset = APP_PRESETS.find((p) => p.key !== 'other' && name.toLowerCase().startsWith(p.label.toLowerCase()));
  if (preset) return preset.key;
  let sum = 0;
  for (const ch of name) sum = (sum * 31 + ch.codePointAt(0)!) % 9973;
  return String(1 + (sum % TONES));
}

function hostOf(url: string | null): string {
  if (!url) return 'No address yet';
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** Your apps: the portal's home, a launcher of the help desk's apps; each tile opens the app, which signs the agent in through this session. */
export const yourAppsPages: FastifyPluginAsync = async (app) => {
  const { deps } = app.deskpass;

  app.get('/apps', async (request, reply) => {
    const agent = request.portalAuth!.agent;
    const apps = (await listLaunchableApps(deps, agent)).map((a) => ({ ...a, initial: a.name.charAt(0).toUpperCase(), tone: toneOf(a.name), host: hostOf(a.launchUrl) }));
    return renderPage(request, reply, 'your-apps', { apps, canManage: agent.role.permissions.includes('manage_apps') }, { title: 'Your apps', section: 'your-apps' });
  });
};
