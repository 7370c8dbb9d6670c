import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { sql } from 'kysely';
import type { Db } from './db.js';

const SQLITE_MODULE = createRequire(import.meta.url).resolve('better-sqlite3');

// A connection of its own on a thread of its own: better-sqlite3 is synchronous, so a checkpoint
// on the server's connection stops the event loop for as long as it copies and fsyncs.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqliteModule);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
}, workerData.everyMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface SqliteCheckpoints {
  stop(): Promise<void>;
}

/**
 * SQLite's WAL is copied back into the database file by a checkpoint, which SQLite runs by
 * itself in the connection that commits once the WAL passes 1,000 pages: on the server's one
 * connection, that is the event loop, stopped for the copy and its fsync — the tail of
 * `GET /me`'s latency under a sign-in storm (BENCHMARKS.md). Here the server's connection does
 * none (`wal_autocheckpoint = 0`) and a thread with its own connection runs a PASSIVE checkpoint
 * every `everyMs` (it never waits for a reader or a writer). Should that thread fail, the
 * connection checkpoints by itself again.
 */
export async function checkpointOffTheEventLoop(db: Db, path: string, onError: (message: string) => void, everyMs = 1000): Promise<SqliteCheckpoints> {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sqliteModule: SQLITE_MODULE, path, everyMs } });
  const fallBack = () => sql`pragma wal_autocheckpoint = 1000`.execute(db).catch(() => undefined);
  let stopping = false;
  worker.on('message', (message: { error?: string }) => message.error && onError(message.error));
  worker.on('error', (error) => {
    onError(error.message);
    void fallBack();
  });
  worker.on('exit', () => {
    if (!stopping) void fallBack();
  });
  await sql`pragma wal_autocheckpoint = 0`.execute(db);
  return {
    async stop() {
      stopping = true;
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage('stop');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      await worker.terminate();
    },
  };
}
