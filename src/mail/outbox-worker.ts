import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import { deriveLinkToken } from '../security/tokens.js';
import type { Db, Executor } from '../store/db.js';
import { claimDueMail, markMailDropped, markMailFailed, markMailSent, markMailSkipped, type OutboxMessage } from '../store/outbox.repo.js';
import { renderMail, type RenderContext } from './templates.js';
import { normalizeTimeZone } from '../domain/time-zones.js';
import { timeZoneForRecipient } from '../store/time-zones.repo.js';
import type { MailTransport } from './transport.js';

export interface OutboxWorkerOptions {
  db: Db;
  transport: MailTransport;
  clock: Clock;
  secretKey: Buffer;
  publicUrl: string;
  mailFrom: string;
  logger: Logger;
  /** how often to look for mail queued by another instance or due for a retry; default 500 */
  pollIntervalMs?: number;
  batchSize?: number;
  /** how long a claim keeps other workers off a message; default 60000 */
  leaseMs?: number;
  /** turn a queued request into a concrete email at send time (see MailPreparer), by template */
  preparers?: Record<string, MailPreparer>;
  /** rows that are not emails (a back-channel logout to an app), delivered by their own code, by template */
  deliverers?: Record<string, Deliverer>;
  /** hears how each row went (for /metrics) */
  onDelivery?: (template: string, result: 'sent' | 'skipped' | 'failed' | 'dropped') => void;
  /**
   * Rows of these templates stop being retried once they are `afterMs` old: the row is kept as
   * 'dropped' with its last error, and `record` says so (an audit event). Email is never given up.
   */
  giveUp?: Record<string, { afterMs: number; record(trx: Executor, message: OutboxMessage, lastError: string, attempts: number): Promise<void> }>;
}

/**
 * Delivers a row that is not an email, with the outbox's guarantees (at least once, retried with
 * backoff, in order per recipient): resolves 'sent' or 'skipped' (nothing left to deliver to),
 * throws to be retried.
 */
export type Deliverer = (message: OutboxMessage) => Promise<'sent' | 'skipped'>;

/**
 * Some rows are requests rather than emails ("email this address a reset link if it belongs to
 * an active agent"). Resolving them here, off the request path, lets the request do the same
 * work whatever the address. A preparer must be idempotent: a failed send runs it again.
 */
export type MailPreparer = (
  message: OutboxMessage,
) => Promise<{ send: true; recipient: string; template: string; payload: Record<string, unknown> } | { send: false }>;

const MAX_RETRY_DELAY_MS = 15 * 60_000;

/** Wait before the next attempt after `attempts` failures: 2 s, 4 s, 8 s, … up to 15 minutes. */
export function retryDelayMs(attempts: number): number {
  return Math.min(2 ** attempts * 1000, MAX_RETRY_DELAY_MS);
}

/**
 * Sends what the outbox holds: at least once, never lost, in order per recipient. Claims come
 * from the database, so several workers (or instances) may run on one store; retries wait on
 * deadlines from the injected clock, while polling uses real (unref'd) timers.
 */
export class OutboxWorker {
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly renderContext: RenderContext;
  private readonly messageIdDomain: string;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private stopping = false;
  private inFlight: Promise<number> | null = null;
  private kickedWhileRunning = false;

  constructor(private readonly o: OutboxWorkerOptions) {
    this.pollIntervalMs = o.pollIntervalMs ?? 500;
    this.batchSize = o.batchSize ?? 20;
    this.leaseMs = o.leaseMs ?? 60_000;
    const publicUrl = o.publicUrl.replace(/\/+$/, '');
    this.renderContext = {
      publicUrl,
      // the outbox holds only the token row id; the link token is derived here, at the last moment
      resetLinkFor: (tokenId) => `${publicUrl}/reset-password/${deriveLinkToken(o.secretKey, tokenId)}`,
    };
    this.messageIdDomain = /@([^>\s]+)>?\s*$/.exec(o.mailFrom)?.[1] ?? 'deskpass.invalid';
  }

  start(): void {
    if (this.polling) return;
    this.polling = true;
    this.stopping = false;
    this.schedule(0);
  }

  /** Wake up now (called after a commit that queued mail). */
  kick(): void {
    if (!this.polling) return;
    if (this.inFlight) {
      // the run in progress may have looked before the commit: look again right after it
      // (drain() clears the flag when a queued run starts, as that one looks after the commit)
      this.kickedWhileRunning = true;
      return;
    }
    this.schedule(0);
  }

  /** Processes due mail until none is due; returns the number sent. Calls never overlap: a second waits for the first. */
  runOnce(): Promise<number> {
    const previous = this.inFlight ?? Promise.resolve(0);
    const run = previous.then(
      () => this.drain(),
      () => this.drain(),
    );
    this.inFlight = run;
    const settle = () => {
      if (this.inFlight !== run) return;
      this.inFlight = null;
      // a kick that came while this run was looking: look again now, not at the next poll
      if (this.kickedWhileRunning && this.polling) this.schedule(0);
      this.kickedWhileRunning = false;
    };
    run.then(settle, settle);
    return run;
  }

  /** Stops polling, lets the batch in flight finish, then resolves. */
  async stop(): Promise<void> {
    this.polling = false;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.inFlight?.catch(() => undefined);
    // stopped for good unless started again; a later explicit runOnce drains fully
    if (!this.polling) this.stopping = false;
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = null;
    if (!this.polling) return;
    try {
      await this.runOnce();
    } catch (err) {
      // the store is unreachable or busy: say so and try again at the next poll
      this.o.logger.error({ err: errorMessage(err) }, 'mail outbox: could not claim due mail');
    }
    if (this.polling && !this.timer) this.schedule(this.pollIntervalMs);
  }

  private async drain(): Promise<number> {
    this.kickedWhileRunning = false;
    let sent = 0;
    for (;;) {
      const batch = await claimDueMail(this.o.db, this.o.clock.now(), this.batchSize, this.leaseMs);
      if (batch.length === 0) return sent;
      // one at a time: the claim gives each recipient's oldest message only, and sequential
      // sends keep a retry from overtaking what the recipient already has in flight
      for (const message of batch) {
        if (await this.deliver(message)) sent += 1;
      }
      if (this.stopping) return sent;
    }
  }

  private async deliver(message: OutboxMessage): Promise<boolean> {
    const attempt = message.attempts + 1;
    const context = { outboxId: message.id, template: message.template, attempt };
    try {
      const deliverer = this.o.deliverers?.[message.template];
      if (deliverer) {
        if ((await deliverer(message)) === 'skipped') {
          await markMailSkipped(this.o.db, message.id, this.o.clock.now());
          this.o.logger.info(context, 'outbox delivery resolved to nothing to send');
          this.o.onDelivery?.(message.template, 'skipped');
          return false;
        }
        return await this.recordSent(message, context);
      }
      let { recipient, template, payload } = message;
      const prepare = this.o.preparers?.[message.template];
      if (prepare) {
        const prepared = await prepare(message);
        if (!prepared.send) {
          await markMailSkipped(this.o.db, message.id, this.o.clock.now());
          this.o.logger.info(context, 'mail request resolved to no mail');
          this.o.onDelivery?.(message.template, 'skipped');
          return false;
        }
        ({ recipient, template, payload } = prepared);
      }
      // in the recipient's zone as it is now (mail queued before a choice follows it too)
      const timeZone = normalizeTimeZone(await timeZoneForRecipient(this.o.db, message.accountId, recipient)) ?? 'UTC';
      const mail = renderMail(template, payload, { ...this.renderContext, timeZone });
      await this.o.transport.send({
        from: this.o.mailFrom,
        to: recipient,
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
        // stable across retries, so a receiver can drop the duplicate of an at-least-once resend
        messageId: `<outbox.${message.id}.${message.accountId}@${this.messageIdDomain}>`,
      });
    } catch (err) {
      const giveUp = this.o.giveUp?.[message.template];
      if (giveUp && this.o.clock.now().getTime() - message.createdAt.getTime() >= giveUp.afterMs) {
        await this.drop(message, attempt, errorMessage(err), giveUp, context);
        return false;
      }
      const nextAttemptAt = new Date(this.o.clock.now().getTime() + retryDelayMs(attempt));
      this.o.logger.warn({ ...context, err: errorMessage(err), nextAttemptAt: nextAttemptAt.toISOString() }, 'mail delivery failed; will retry');
      await this.recordFailure(message, attempt, nextAttemptAt, err);
      this.o.onDelivery?.(message.template, 'failed');
      return false;
    }
    return this.recordSent(message, context);
  }

  private async recordSent(message: OutboxMessage, context: Record<string, unknown>): Promise<boolean> {
    this.o.onDelivery?.(message.template, 'sent');
    try {
      await markMailSent(this.o.db, message.id, this.o.clock.now());
    } catch (err) {
      // sent but not recorded: the claim runs out and the message goes again (at least once)
      this.o.logger.error({ ...context, err: errorMessage(err) }, 'mail sent but not marked sent; it will be sent again');
      return true;
    }
    this.o.logger.info(context, 'mail sent');
    return true;
  }

  private async drop(message: OutboxMessage, attempts: number, lastError: string, giveUp: NonNullable<OutboxWorkerOptions['giveUp']>[string], context: Record<string, unknown>): Promise<void> {
    try {
      // the row and its record together: given up exactly when it says so
      await this.o.db.transaction().execute(async (trx) => {
        await markMailDropped(trx, message.id, attempts, lastError);
        await giveUp.record(trx, message, lastError, attempts);
      });
    } catch (dbErr) {
      // the claim runs out and the row is tried (and given up) again: recorded at least once
      this.o.logger.error({ ...context, err: errorMessage(dbErr) }, 'could not record a delivery given up');
      return;
    }
    this.o.logger.warn({ ...context, err: lastError }, 'delivery given up after its retry time');
    this.o.onDelivery?.(message.template, 'dropped');
  }

  private async recordFailure(message: OutboxMessage, attempt: number, nextAttemptAt: Date, err: unknown): Promise<void> {
    try {
      await markMailFailed(this.o.db, message.id, attempt, nextAttemptAt, errorMessage(err));
    } catch (dbErr) {
      // the claim runs out and the message is retried then: still never lost
      this.o.logger.error({ outboxId: message.id, err: errorMessage(dbErr) }, 'could not record a mail failure');
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
