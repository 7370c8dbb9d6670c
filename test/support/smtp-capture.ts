import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface CapturedMail {
  to: string[];
  from: string;
  subject: string;
  text: string;
  html: string;
  raw: string;
}

type Waiter = { check: () => boolean };

/** A real SMTP server on 127.0.0.1 that keeps what it receives, so tests read mail as a person would. */
export class SmtpCapture {
  readonly messages: CapturedMail[] = [];
  private failuresLeft = 0;
  private waiters = new Set<Waiter>();

  private constructor(
    private readonly server: SMTPServer,
    readonly url: string,
  ) {}

  static async start(): Promise<SmtpCapture> {
    let capture: SmtpCapture | undefined;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      // no DNS on connect: a reverse lookup of 127.0.0.1 costs each test message ~100 ms
      disableReverseLookup: true,
      closeTimeout: 1000,
      onData(stream, session, callback) {
        capture!.receive(stream, session).then(
          () => callback(),
          (err: Error) => callback(err),
        );
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    // A client that dies mid-conversation (a server process killed by a crash test) resets its
    // connection: that is the client's failure, not the capture's, and must not crash the test run.
    server.on('error', (error: Error & { code?: string }) => {
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') throw error;
    });
    const { port } = server.server.address() as AddressInfo;
    capture = new SmtpCapture(server, `smtp://127.0.0.1:${port}`);
    return capture;
  }

  /** Rejects the next `n` messages with a 451 (temporary) error, as a busy mail server does. */
  failNext(n: number): void {
    this.failuresLeft = n;
  }

  clear(): void {
    this.messages.length = 0;
  }

  waitFor(predicate: (m: CapturedMail) => boolean, timeoutMs = 5000): Promise<CapturedMail> {
    return this.waitUntil(() => this.messages.find(predicate), timeoutMs, 'a matching message');
  }

  waitForCount(n: number, timeoutMs = 5000): Promise<CapturedMail[]> {
    return this.waitUntil(() => (this.messages.length >= n ? [...this.messages] : undefined), timeoutMs, `${n} messages`);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      throw Object.assign(new Error('Temporary failure, try again later'), { responseCode: 451 });
    }
    const raw = Buffer.concat(chunks).toString('utf8');
    const parsed = await simpleParser(raw);
    this.messages.push({
      to: session.envelope.rcptTo.map((r) => r.address),
      from: parsed.from?.text ?? '',
      subject: parsed.subject ?? '',
      text: parsed.text ?? '',
      html: typeof parsed.html === 'string' ? parsed.html : '',
      raw,
    });
    for (const waiter of this.waiters) waiter.check();
  }

  private waitUntil<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        check: () => {
          const value = find();
          if (value === undefined) return false;
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(value);
          return true;
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`SMTP capture: no ${what} within ${timeoutMs} ms (have ${this.messages.length})`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }
}
