import { chmodSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import SQLite from 'better-sqlite3';

export interface BackupResult {
  file: string;
  bytes: number;
  pages: number;
  agents: number;
}

/**
 * A consistent copy of a live SQLite store, taken with SQLite's online backup while the server
 * keeps serving: in WAL mode the copy reads one snapshot and writers are not blocked. After the
 * first step the rest is copied in one step, so a write by the server between steps (which makes
 * SQLite restart the copy) cannot keep it restarting. The copy is written beside FILE, checked
 * with `PRAGMA integrity_check`, made 0600 (it holds password hashes) and only then renamed to
 * FILE: a failed backup never leaves a file that looks like one.
 */
export async function backupSqlite(sourcePath: string, file: string): Promise<BackupResult> {
  if (existsSync(file)) throw new BackupRefused(`${file} exists: choose a new file name (a backup never overwrites)`);
  if (!existsSync(sourcePath)) throw new BackupRefused(`there is no database at ${sourcePath}: check DATABASE_URL`);
  const partial = `${file}.partial`;
  rmSync(partial, { force: true });
  const source = new SQLite(sourcePath, { readonly: true, fileMustExist: true });
  try {
    source.pragma('busy_timeout = 5000');
    const { totalPages } = await source.backup(partial, { progress: ({ totalPages: total }) => Math.max(total, 100) });
    chmodSync(partial, 0o600);
    const copy = new SQLite(partial, { readonly: true, fileMustExist: true });
    let agents: number;
    try {
      const integrity = copy.pragma('integrity_check', { simple: true });
      if (integrity !== 'ok') throw new Error(`the copy failed SQLite's integrity check: ${String(integrity)}`);
      agents = (copy.prepare('select count(*) as n from agents').get() as { n: number }).n;
    } finally {
      copy.close();
    }
    renameSync(partial, file);
    return { file, bytes: statSync(file).size, pages: totalPages, agents };
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    source.close();
  }
}

/** The backup was not attempted: the reason is a sentence for the operator. */
export class BackupRefused extends Error {}
