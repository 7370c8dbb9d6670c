import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';

const CLI = join(resolve(import.meta.dirname, '..', '..'), 'src', 'cli', 'run.ts');
const TSX = import.meta.resolve('tsx');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `deskpass …` as an operator runs it, from the CLI's sources through tsx (no build needed), in
 * `cwd`, with cheap argon2id and nothing from the test runner's own environment that would
 * point it elsewhere (Redis, SMTP, the runner's NODE_OPTIONS).
 */
export function runCliSource(args: string[], options: { cwd: string; env: Record<string, string>; timeoutMs?: number }): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, ARGON2ID: 'm=256,t=1,p=1', ...options.env };
  for (const name of ['NODE_OPTIONS', 'NODE_TEST_CONTEXT', 'REDIS_URL', 'SMTP_URL']) delete env[name];
  return new Promise((resolvePromise) => {
    execFile(process.execPath, ['--import', TSX, CLI, ...args], { cwd: options.cwd, env, timeout: options.timeoutMs ?? 60_000 }, (error, stdout, stderr) => {
      resolvePromise({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}
