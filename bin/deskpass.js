#!/usr/bin/env node
// The deskpass command: runs the compiled CLI (npm install builds it; `npm run build` rebuilds it)
// on the project's own Node.js 24, which npm install puts at node_modules/.bin/node. npm scripts
// and `npx deskpass` already run on it; started by an older node (`/usr/bin/node bin/deskpass.js`),
// this file runs itself again under that runtime. Keep this file plain JavaScript that Node 20 parses.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REQUIRED_MAJOR = 24;

if (Number(process.versions.node.split('.')[0]) < REQUIRED_MAJOR) {
  const runtime = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
  if (process.env.DESKPASS_REEXEC || !existsSync(runtime)) {
    process.stderr.write(
      `deskpass: needs Node.js ${REQUIRED_MAJOR} or newer, and this is ${process.version}` +
        (existsSync(runtime) ? ` (${runtime} is not Node.js ${REQUIRED_MAJOR} either).\n` : '; `npm install` brings it.\n'),
    );
    process.exit(1);
  }
  const child = spawn(runtime, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, DESKPASS_REEXEC: '1' },
  });
  child.on('error', (error) => {
    process.stderr.write(`deskpass: could not start ${runtime}: ${error.message}\n`);
    process.exit(1);
  });
  // A terminal's Ctrl-C already reaches the child (same process group): forwarding SIGINT too
  // would deliver it twice and cut the server's graceful shutdown short. SIGTERM and SIGHUP are
  // usually sent to this process alone, so they are passed on.
  const ignore = () => {};
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 1);
    }
  });
} else {
  delete process.env.DESKPASS_REEXEC; // for the processes this one starts
  const entry = new URL('../dist/cli/run.js', import.meta.url);
  if (!existsSync(fileURLToPath(entry))) {
    process.stderr.write('deskpass: not built yet; run `npm run build` (npm install does it) first.\n');
    process.exit(1);
  }
  await import(entry.href);
}
