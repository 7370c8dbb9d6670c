import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import nodemailer from 'nodemailer';

export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId?: string;
}

export interface MailTransport {
  send(mail: OutgoingMail): Promise<void>;
  close(): Promise<void>;
}

// A send must end, in success or error, well inside the outbox worker's 60 s claim on the
// row; otherwise a second worker could claim and send it again. A query parameter in
// SMTP_URL (`?socketTimeout=…`) still overrides these, as nodemailer gives the URL precedence.
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

/**
 * SMTP when `smtpUrl` is set (smtp:// upgrades with STARTTLS when the server offers it, smtps://
 * is TLS from the start; `?tls.rejectUnauthorized=false` for a self-signed server, `?pool=true` to
 * keep connections open between messages); otherwise
 * each message becomes an .eml file under `mailDir`, readable only by the server's user.
 */
export function createMailTransport(options: { smtpUrl?: string; mailDir: string }): MailTransport {
  return options.smtpUrl ? smtpTransport(options.smtpUrl) : fileTransport(options.mailDir);
}

function smtpTransport(smtpUrl: string): MailTransport {
  const transporter = nodemailer.createTransport({ ...SMTP_TIMEOUTS, url: smtpUrl });
  return {
    async send(mail) {
      await transporter.sendMail(mail);
    },
    async close() {
      transporter.close();
    },
  };
}

function fileTransport(mailDir: string): MailTransport {
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true });
  const dir = resolve(mailDir);
  return {
    async send(mail) {
      const info = await transporter.sendMail(mail);
      // 0700 / 0600: these files hold working reset links
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // Written under a temporary name, then renamed: whoever watches the folder (an operator, a
      // script that forwards mail) never opens a half-written message.
      const file = join(dir, emlFileName(new Date()));
      await writeFile(`${file}.partial`, info.message as Buffer, { mode: 0o600, flag: 'wx' });
      await rename(`${file}.partial`, file);
    },
    async close() {
      transporter.close();
    },
  };
}

/** `2026-01-15T090000.000Z-1f2e3d4c5b6a.eml`: sorts by time, and colons are not welcome on every file system. */
function emlFileName(at: Date): string {
  return `${at.toISOString().replace(/:/g, '')}-${randomBytes(6).toString('hex')}.eml`;
}
