import { sql } from 'kysely';
import type { Db } from './db.js';
import { dialectOf } from './dialect.js';
import { parse as parsePostgresUrl } from 'pg-connection-string';

/**
 * The store named by DATABASE_URL cannot be used as configured: the message is one line for
 * the operator, saying what is wrong and how to fix it (no stack trace, no password).
 */
export class StoreConfigError extends Error {}

/** DATABASE_URL as it may be printed: the password, and any query parameter that may be one (pg reads `?password=`), replaced by ***. */
export function printableDatabaseUrl(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    for (const key of [...url.searchParams.keys()]) if (/pass|pwd/i.test(key)) url.searchParams.set(key, '***');
    return url.toString();
  } catch {
    return databaseUrl.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
  }
}

interface PgFailure {
  code?: string;
  message?: string;
}

/** A one-line reason for a failure to reach or open the store, from the driver's error code. */
export function describeStoreFailure(databaseUrl: string, error: unknown): string {
  const failure = (error ?? {}) as PgFailure;
  const where = `DATABASE_URL (${printableDatabaseUrl(databaseUrl)})`;
  if (databaseUrl.startsWith('sqlite:')) {
    const path = databaseUrl.slice('sqlite:'.length);
    switch (failure.code) {
      case 'EACCES':
      case 'EPERM':
        return `${where}: this process may not create or open ${path}: give its user write access to the folder, or point DATABASE_URL elsewhere`;
      case 'ENOENT':
      case 'ENOTDIR':
      case 'EEXIST': // recursive mkdir met a file where a folder should be
        return `${where}: the folder of ${path} cannot be created: fix the path (a part of it is missing or is a file)`;
      case 'EROFS':
      case 'SQLITE_READONLY':
        return `${where}: ${path} is on a read-only file system: put it on a writable volume`;
      case 'ENOSPC':
      case 'SQLITE_FULL':
        return `${where}: the disk holding ${path} is full: free some space and start again`;
      case 'SQLITE_NOTADB':
      case 'SQLITE_CORRUPT':
        return `${where}: ${path} is not a Deskpass SQLite database (or is damaged): point DATABASE_URL at the right file, or restore a backup`;
      case 'SQLITE_CANTOPEN':
        return `${where}: SQLite cannot open ${path}: check that it is a file this process may write, on a local disk`;
      default:
        return `${where}: the SQLite database cannot be opened (${oneLine(failure.message)})`;
    }
  }
  const url = safeUrl(databaseUrl);
  const user = url ? decoded(url.username) || 'the default user' : 'the user';
  const host = url ? `${url.hostname}:${url.port || '5432'}` : 'the host';
  const database = url ? decoded(url.pathname.replace(/^\//, '')) || user : 'the database';
  switch (failure.code) {
    case '3D000':
      return `${where}: the database "${database}" does not exist on ${host}: create it (createdb -h ${url?.hostname ?? 'HOST'} ${database}) or fix its name`;
    case '28P01':
      return `${where}: PostgreSQL refused the password of the user "${user}": fix the password in DATABASE_URL`;
    case '28000':
      return `${where}: PostgreSQL does not let the user "${user}" in (${oneLine(failure.message)}): check the user name and pg_hba.conf`;
    case '42501':
      return `${where}: the user "${user}" may not create tables here (${oneLine(failure.message)}): grant it CREATE on the schema, or use the database owner`;
    case 'ECONNREFUSED':
      return `${where}: nothing answers at ${host}: is PostgreSQL running there, and are the host and port right?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${where}: the host "${url?.hostname ?? ''}" cannot be found: fix the host name`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `${where}: ${host} cannot be reached (${failure.code}): check the host, port and firewall`;
    default:
      return `${where}: PostgreSQL cannot be used (${failure.code ? `${failure.code}: ` : ''}${oneLine(failure.message)})`;
  }
}

/**
 * Before migrating: can the store be reached, and does the schema named by `?schema=` exist?
 * PostgreSQL answers a search_path naming a missing schema with "no schema has been selected
 * to create in" only once a migration tries to create a table; this says so at once. The
 * schema is not created here: a typo in DATABASE_URL would otherwise start an empty help desk.
 */
export async function assertStoreUsable(db: Db, databaseUrl: string): Promise<void> {
  try {
    if (dialectOf(db) === 'sqlite') {
      await sql`select count(*) from sqlite_master`.execute(db);
      return;
    }
    const { rows } = await sql<{ schema: string | null; database: string }>`select current_schema() as schema, current_database() as database`.execute(db);
    const named = safeUrl(databaseUrl)?.searchParams.get('schema');
    if (named && rows[0]?.schema !== named) {
      throw new StoreConfigError(
        `DATABASE_URL (${printableDatabaseUrl(databaseUrl)}): the schema "${named}" named by ?schema= does not exist in the database "${rows[0]?.database}": ` +
          `create it (psql -c 'CREATE SCHEMA ${named}') or remove ?schema= to use "public"`,
      );
    }
  } catch (error) {
    if (error instanceof StoreConfigError) throw error;
    throw new StoreConfigError(describeStoreFailure(databaseUrl, error));
  }
}

function safeUrl(databaseUrl: string): URL | null {
  try {
    return new URL(databaseUrl);
  } catch {
    return null;
  }
}

/** A part of the URL as typed where its escapes are malformed (`%zz`): the message must not throw. */
function decoded(part: string): string {
  return decodedOrNull(part) ?? part;
}

/** The part decoded, or null where its escapes cannot be (`%zz`, `%80`). */
function decodedOrNull(part: string, decode: (part: string) => string = decodeURIComponent): string | null {
  try {
    return decode(part);
  } catch {
    return null;
  }
}

function oneLine(text: string | undefined): string {
  return (text ?? 'unknown error').replace(/\s+/g, ' ').trim().slice(0, 200);
}

const UNAVAILABLE_CODES = new Set([
  // PostgreSQL: shutting down, crashed, restarting (out of connections: class 53, below)
  '57P01', '57P02', '57P03',
  // PostgreSQL: the statement was cancelled (pg_cancel_backend, statement_timeout), waited past
  // lock_timeout, lost a deadlock or a serialization conflict, or met a read-only standby (a
  // failover under way): it did nothing, and the request can be sent again
  '57014', '55P03', '40P01', '40001', '25006',
  // PostgreSQL ended the session (idle_session_timeout, idle_in_transaction_session_timeout) or
  // could not read or write its files (58030 io_error)
  '57P05', '25P03', '58030',
  // the connection itself
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  // SQLite: another process held the write lock past busy_timeout
  'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR',
]);
const FULL_CODES = new Set(['SQLITE_FULL', 'ENOSPC', '53100']);
// node-postgres's own words when a connection dies or cannot be had in time
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended unexpectedly|the database system is (starting up|shutting down)/i;

/**
 * Is this error the store being away (a PostgreSQL restart, terminated connections, a lock
 * held too long) or full (a disk with no space), rather than a bug? Those are 503s with a code,
 * never 500s: the request did nothing (its transaction rolled back with the connection) and
 * can be sent again.
 */
export function storeTrouble(error: unknown): 'store_unavailable' | 'storage_full' | null {
  const failure = (error ?? {}) as PgFailure;
  const code = String(failure.code ?? '');
  if (FULL_CODES.has(code) || code.startsWith('SQLITE_FULL')) return 'storage_full';
  // class 53, insufficient resources (out of memory, too many connections, a configured limit),
  // past its disk-full 53100 above
  if (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('53') || code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_IOERR')) return 'store_unavailable';
  if (UNAVAILABLE_MESSAGES.test(failure.message ?? '')) return 'store_unavailable';
  return null;
}

/**
 * pg decodes the host, user, password and database of the URL it is given; one whose %-escape is
 * not UTF-8 (`/%E0%A4%A`, `%80`) would fail at the first connection with a bare "URI malformed".
 * `connectionString` is exactly what pg is given. Other refusals of pg's parser (a missing
 * sslrootcert file) are pg's to report when it connects, as before.
 */
export function assertPostgresCanDecode(databaseUrl: string, connectionString: string): void {
  const probe = new URL(connectionString);
  // the ssl options are files pg reads and modes it warns about: not what is checked here
  for (const key of [...probe.searchParams.keys()]) if (/^ssl|^uselibpqcompat$/i.test(key)) probe.searchParams.delete(key);
  try {
    parsePostgresUrl(probe.toString());
  } catch (error) {
    if (!(error instanceof URIError)) return;
    throw new StoreConfigError(
      `DATABASE_URL (${printableDatabaseUrl(databaseUrl)}): ${undecodablePart(probe)} has a %-escape that is not UTF-8 text: write a literal % as %25, and escape only whole UTF-8 characters`,
    );
  }
}

/** Which part of a postgres:// URL pg cannot decode (the database with decodeURI, the rest with decodeURIComponent). */
function undecodablePart(url: URL): string {
  if (decodedOrNull(url.pathname.slice(1), decodeURI) === null) return 'the database name';
  if (decodedOrNull(url.username) === null) return 'the user name';
  if (decodedOrNull(url.password) === null) return 'the password';
  if (decodedOrNull(url.hostname) === null) return 'the host name';
  return 'a part of it';
}
