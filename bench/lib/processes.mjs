// Real server processes for the benchmark: Deskpass as `node bin/deskpass.js serve` (the compiled
// CLI, exactly what `npm start` runs) and the bare Fastify yardstick. Each writes its output to a
// log file (a pipe the benchmark forgot to drain would stall the server's synchronous logger).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function spawnLogged(args, { cwd, env, logFile }) {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.exitCodePromise = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return child;
}

/** Polls `url` until it answers 200, or throws after `timeoutMs` (with the log's tail). */
export async function waitUntilReady(url, { timeoutMs = 30_000, child, logFile } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) break;
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const tail = logFile ? readFileSync(logFile, 'utf8').slice(-2000) : '';
  throw new Error(`${url} did not become ready in ${timeoutMs} ms\n${tail}`);
}

/**
 * Starts `deskpass serve` in `dir` (its ./data lives there) with `env` on top of a clean
 * environment: production defaults except what the benchmark sets (RATE_LIMITS=off, ARGON2ID).
 */
export async function startDeskpass({ dir, env }) {
  const port = await freePort();
  const logFile = join(dir, 'server.log');
  const child = spawnLogged([join(REPO_ROOT, 'bin/deskpass.js'), 'serve'], {
    cwd: dir,
    logFile,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', PORT: String(port), HOST: '127.0.0.1', ...env },
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilReady(`${baseUrl}/readyz`, { child, logFile });
  return { child, baseUrl, logFile, port };
}

/** The bare Fastify hello-world, on a free port. */
export async function startHello({ dir }) {
  const port = await freePort();
  const logFile = join(dir, 'hello.log');
  const child = spawnLogged([join(REPO_ROOT, 'bench/hello-server.mjs')], { cwd: REPO_ROOT, logFile, env: { PATH: process.env.PATH, PORT: String(port) } });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitUntilReady(`${baseUrl}/`, { child, logFile });
  return { child, baseUrl };
}

/** SIGTERM (graceful shutdown), then SIGKILL if the process is still there after `graceMs`. */
export async function stopProcess(child, graceMs = 10_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await child.exitCodePromise;
  clearTimeout(timer);
}

/**
 * The argon2 ceiling process (bench/argon2-ceiling.mjs), kept running between its measuring
 * windows: `measure(ms)` resolves to { verifications, seconds }.
 */
export async function startCeiling(env) {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bench/argon2-ceiling.mjs')], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.exitCodePromise = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  // each answer takes its own pair of listeners off again (they piled up on the exit event, one per window)
  const next = () => new Promise((resolve, reject) => {
    const answered = (message) => {
      child.off('exit', died);
      resolve(message);
    };
    const died = () => {
      child.off('message', answered);
      reject(new Error('the argon2 ceiling process died'));
    };
    child.once('message', answered);
    child.once('exit', died);
  });
  await next(); // { ready }
  return {
    pid: child.pid,
    /** `inFlight`: this window's verifications at once (the process's IN_FLIGHT when not given) */
    async measure(durationMs, inFlight) {
      const answer = next();
      child.send({ durationMs, inFlight });
      return answer;
    },
    stop: () => stopProcess(child),
  };
}

const cmdline = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
};

/**
 * The pid of the Deskpass server itself behind `child` (from startDeskpass): the child, unless
 * bin/deskpass.js found itself on a Node.js older than 24 and is only a wrapper that started the
 * server again under node_modules/.bin/node (then its one child running bin/deskpass.js is it).
 * Linux only (/proc).
 */
export function serverPid(child) {
  let children = [];
  try {
    children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // no /proc children file: take the child
  }
  const reexec = children.find((pid) => cmdline(pid).some((arg) => arg.endsWith('bin/deskpass.js')));
  return { pid: reexec ?? child.pid, wrapper: reexec !== undefined };
}

/** Resident memory of process `pid` now (VmRSS) and at its peak so far (VmHWM), in MiB. */
export function residentMemory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field) => Number(new RegExp(`^${field}:\\s*(\\d+)\\s*kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
}
