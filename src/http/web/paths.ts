import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Where the portal's views and assets are at run time. `tsc` compiles only .ts, so the build
 * copies them beside the compiled modules (scripts/copy-assets.mjs); tests run the sources
 * with tsx and find them beside this file. A dist built by plain `tsc` falls back to src/.
 */
function resolveBesideModule(folder: 'views' | 'assets'): string {
  const beside = fileURLToPath(new URL(`./${folder}/`, import.meta.url));
  if (existsSync(beside)) return beside;
  const inSources = fileURLToPath(new URL(`../../../src/http/web/${folder}/`, import.meta.url));
  if (existsSync(inSources)) return inSources;
  throw new Error(`Deskpass portal: cannot find its ${folder} folder (looked in ${beside} and ${inSources}); run npm run build`);
}

export const VIEWS_DIR = resolveBesideModule('views');
export const ASSETS_DIR = resolveBesideModule('assets');
