// tsc compiles only .ts: copy the portal's templates and static files beside the compiled modules.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
for (const folder of ['views', 'assets']) {
  const from = `${root}src/http/web/${folder}`;
  const to = `${root}dist/http/web/${folder}`;
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}
