import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describeStoreFailure } from '../src/store/store-check.js';
import { runCliSource, type CliRun as Run } from './support/cli-source.js';

// A wrong DATABASE_URL, as an operator types one: `deskpass serve` and `deskpass migrate` (a
// child process running the CLI's sources through tsx, so no build is needed) say in one line what is wrong and how to fix it, exit 1, print no
// stack trace and no password, and create nothing (no schema, no database, no file changed).

const POSTGRES = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SECRET_KEY = 'ab'.repeat(32);
const dir = mkdtempSync(join(tmpdir(), 'deskpass-dburl-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function deskpass(args: string[], databaseUrl: string): Promise<Run> {
  return runCliSource(args, { cwd: dir, env: { DATABASE_URL: databaseUrl, SECRET_KEY, PORT: '0', LOG_LEVEL: 'info' } });
}

/** Exit 1 with exactly one line on stderr that matches `expected`, no stack, no password. */
function assertOneClearLine(run: Run, expected: RegExp): void {
  assert.equal(run.code, 1, `exit code; stderr: ${run.stderr}`);
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${run.stderr}`);
  assert.match(lines[0], /^deskpass: DATABASE_URL/);
  assert.match(lines[0], expected);
  assert.doesNotMatch(run.stderr + run.stdout, /\n\s+at |Error:|stack/i, 'no stack trace');
  assert.doesNotMatch(run.stderr + run.stdout, /hunter2/, 'the password is never printed');
}

async function withPostgres<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

const schemaExists = (name: string) => withPostgres(async (c) => (await c.query('select 1 from pg_namespace where nspname = $1', [name])).rowCount === 1);
const databaseExists = (name: string) => withPostgres(async (c) => (await c.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1);

describe('a wrong DATABASE_URL is one clear line at start, and nothing is created', () => {
  test('a ?schema= that does not exist: named, with how to create it; serve and migrate both; the schema is not created', async () => {
    const schema = `missing_${process.pid}`;
    const url = `${POSTGRES}?schema=${schema}`;
    for (const command of ['serve', 'migrate']) {
      const run = await deskpass([command], url);
      assertOneClearLine(run, new RegExp(`the schema "${schema}" named by \\?schema= does not exist in the database "test": create it \\(psql -c 'CREATE SCHEMA ${schema}'\\)`));
      assert.doesNotMatch(run.stderr, /no schema has been selected|migration/, 'not the migration error of before');
    }
    assert.equal(await schemaExists(schema), false, 'no schema was created');
  });

  test('once the schema exists, the same DATABASE_URL migrates', async () => {
    const schema = `created_${process.pid}`;
    await withPostgres((c) => c.query(`create schema ${schema}`));
    try {
      const run = await deskpass(['migrate'], `${POSTGRES}?schema=${schema}`);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /Database schema is up to date/);
    } finally {
      await withPostgres((c) => c.query(`drop schema ${schema} cascade`));
    }
  });

  test('an unknown database: named, with createdb; it is not created', async () => {
    const name = `nodb_${process.pid}`;
    const run = await deskpass(['migrate'], POSTGRES.replace(/\/test$/, `/${name}`));
    assertOneClearLine(run, new RegExp(`the database "${name}" does not exist on 127\\.0\\.0\\.1:5432: create it \\(createdb -h 127\\.0\\.0\\.1 ${name}\\)`));
    assert.equal(await databaseExists(name), false);
  });

  test('a user PostgreSQL does not let in, and nothing listening: the password is masked', async () => {
    const unknownUser = await deskpass(['serve'], `postgres://nobody_${process.pid}:hunter2@127.0.0.1:5432/test`);
    assertOneClearLine(unknownUser, /PostgreSQL does not let the user "nobody_\d+" in \(role "nobody_\d+" does not exist\)/);
    assert.match(unknownUser.stderr, /:\*\*\*@127\.0\.0\.1/);
    const closedPort = await deskpass(['migrate'], 'postgres://postgres:hunter2@127.0.0.1:1/test');
    assertOneClearLine(closedPort, /nothing answers at 127\.0\.0\.1:1: is PostgreSQL running there/);
  });

  test('a user or database name with a malformed escape (%zz) is named as typed, in one line, not a URIError stack (found by the outside tester)', async () => {
    const user = await deskpass(['migrate'], 'postgres://%zz@127.0.0.1:5432/test?schema=x');
    assertOneClearLine(user, /PostgreSQL does not let the user "%zz" in/);
    const database = await deskpass(['migrate'], 'postgres://postgres@127.0.0.1:5432/%zz');
    assertOneClearLine(database, /the database "%zz" does not exist on 127\.0\.0\.1:5432/);
    assert.equal(await databaseExists('%zz'), false);
  });

  test('a database, user or password whose %-escape is not UTF-8 (%E0%A4%A, %80) is named in one line before any connection, the password still masked (found by the outside tester: a bare "URI malformed")', async () => {
    const database = await deskpass(['migrate'], 'postgres://postgres@127.0.0.1:5432/%E0%A4%A');
    assertOneClearLine(database, /DATABASE_URL \(postgres:\/\/postgres@127\.0\.0\.1:5432\/%E0%A4%A\): the database name has a %-escape that is not UTF-8 text: write a literal % as %25/);
    const user = await deskpass(['serve'], 'postgres://%80@127.0.0.1:5432/test');
    assertOneClearLine(user, /: the user name has a %-escape that is not UTF-8 text/);
    // an @ in the password (the URL splits at the last one)
    const password = await deskpass(['migrate'], 'postgres://postgres:s3cr@t%E0%41t@127.0.0.1:5432/test');
    assertOneClearLine(password, /: the password has a %-escape that is not UTF-8 text/);
    assert.doesNotMatch(password.stderr + password.stdout, /s3cr|t%E0/);
    assert.match(password.stderr, /postgres:\*\*\*@127\.0\.0\.1:5432\/test\)/);
    // a query parameter pg reads as the password (`pass%77ord` is `password`) is masked too
    const queryPassword = await deskpass(['migrate'], 'postgres://postgres@127.0.0.1:5432/%80?pass%77ord=hunter2');
    assertOneClearLine(queryPassword, /5432\/%80\?password=\*\*\*\): the database name has a %-escape/);
    // what pg is given, not the string as typed, is what is checked: a stray % in the query does not hide the database's escape
    const hidden = await deskpass(['migrate'], 'postgres://postgres@127.0.0.1:5432/te%C0st?application_name=a%zz');
    assertOneClearLine(hidden, /: the database name has a %-escape that is not UTF-8 text/);
  });

  test('a well-formed multi-byte escape (€ in the password) beside a space in the query is not refused: it reaches the store (here: the missing schema)', async () => {
    const run = await deskpass(['migrate'], `postgres://postgres:%E2%82%AC@127.0.0.1:5432/test?application_name=my app&schema=missing_${process.pid}`);
    assertOneClearLine(run, new RegExp(`the schema "missing_${process.pid}" named by \\?schema= does not exist`));
    assert.doesNotMatch(run.stderr, /%E2%82%AC|€/);
  });

  test('a refused password reads as such (PostgreSQL here trusts every local user, so the line is built from its error code 28P01)', () => {
    const line = describeStoreFailure('postgres://deskpass:hunter2@db.internal:5432/deskpass', { code: '28P01', message: 'password authentication failed for user "deskpass"' });
    assert.equal(line, 'DATABASE_URL (postgres://deskpass:***@db.internal:5432/deskpass): PostgreSQL refused the password of the user "deskpass": fix the password in DATABASE_URL');
  });

  test('SQLite: a file that is not a database is left untouched; a folder that is a file is named', async () => {
    const notADatabase = join(dir, 'notes.txt');
    writeFileSync(notADatabase, 'these are my notes, not a database\n'.repeat(200));
    const before = createHash('sha256').update(readFileSync(notADatabase)).digest('hex');
    const run = await deskpass(['serve'], `sqlite:${notADatabase}`);
    assertOneClearLine(run, /notes\.txt is not a Deskpass SQLite database \(or is damaged\): point DATABASE_URL at the right file, or restore a backup/);
    assert.equal(createHash('sha256').update(readFileSync(notADatabase)).digest('hex'), before, 'the file is unchanged');

    const underAFile = await deskpass(['migrate'], `sqlite:${notADatabase}/deskpass.sqlite`);
    assertOneClearLine(underAFile, /the folder of .*notes\.txt\/deskpass\.sqlite cannot be created: fix the path/);
  });
});
