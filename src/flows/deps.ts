import type { Db } from '../store/db.js';
import type { Clock } from '../domain/clock.js';
import type { PasswordHasher } from '../security/password-hasher.js';
import type { SessionHolderLookup } from '../store/sessions.repo.js';
import type { Account } from '../domain/models.js';

/** What every flow receives: no HTTP, no globals. */
export interface FlowDeps {
  db: Db;
  clock: Clock;
  hasher: PasswordHasher;
  /** base of links in emails */
  publicUrl: string;
  /** derives emailed link tokens from their row ids */
  secretKey: Buffer;
  /** tells the outbox worker that a commit queued mail, so it is sent within seconds */
  notifyMailQueued: () => void;
  /** the server's cache of session holders (the CLI has none: it reads the store each time) */
  sessionHolders?: SessionHolderLookup;
  /** the server's cached read of the help desk's account (see currentAccount); the CLI reads the store */
  onlyAccount?: () => Promise<Account | undefined>;
}
