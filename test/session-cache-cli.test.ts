// Issue 13, "Speed": SQLite's cached session holders see another process's commits on the same
// file (PRAGMA data_version): the CLI, which an operator runs beside the server. SQLite only,
// whatever the pass (scripts/test.mjs runs it once).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestApp } from './support/harness.js';
import { runCliSource } from './support/cli-source.js';

describe('another process writes the same SQLite file (the CLI)', () => {
  let t: TestApp;
  let owner: string;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'deskpass-cache-cli-'));
    t = await TestApp.start({ databaseUrl: `sqlite:${join(dir, 'deskpass.sqlite')}` });
    ({ ownerToken: owner } = await t.setup());
  });
  after(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('`deskpass recover-admin --reset-two-factor` ends the Account Administrator\'s cached session: the next request is 401', async () => {
    assert.equal((await t.get('/api/v1/me', owner)).status, 200);
    const hits = t.app.deskpass.deps.sessionHolders!.stats.hits;
    assert.equal((await t.get('/api/v1/me', owner)).status, 200);
    assert.equal(t.app.deskpass.deps.sessionHolders!.stats.hits, hits + 1, 'served from memory');
    const run = await runCliSource(['recover-admin', '--reset-two-factor'], { cwd: t.dir, env: { DATABASE_URL: t.config.databaseUrl, SECRET_KEY: t.config.secretKey.toString('hex') } });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /sessions/);
    assert.equal((await t.get('/api/v1/me', owner)).status, 401);
  });
});
