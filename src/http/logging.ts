import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import pino, { type DestinationStream, type Logger } from 'pino';

/** Path segments that carry a secret token: logged as [redacted]. */
const TOKEN_IN_PATH = /\/(reset-password|setup)\/[^/?#]+/g;
// Any query parameter whose name says it may hold a secret, in any case, wherever in the name
// (`?pw=`, `&newPassword=`, `?recoveryCode=`, `?otp=`, `id_token_hint`): a client that misuses the
// API must not put a password into the log (found by the outside tester of issue 13's second round).
const SECRET_IN_QUERY = /([?&][^=&#]*(?:pass|pwd|pw|secret|token|code|otp|key|challenge|recovery)[^=&#]*=)[^&#]*/gi;
// Whatever the path around it (`//reset-password/T`, `/Reset-password/T`, `?next=T`, unrouted
// URLs): anything shaped like a token (40+ base64url characters; ids are 36) is redacted too.
const TOKEN_SHAPED = /[A-Za-z0-9_-]{40,}/g;

// What any of the three needs to be there to match (the decoding needs a `%`): most URLs
// (`/api/v1/me`) have none of it and are logged as they are without the three passes.
const MAY_NEED_REDACTION = /[%?&]|\/(?:reset-password|setup)\/|[A-Za-z0-9_-]{40}/;

export function redactUrl(url: string): string {
  if (!MAY_NEED_REDACTION.test(url)) return url;
  // The router decodes the path before matching (`reset%2Dpassword` is `reset-password`), so the
  // redaction must look at the decoded path too; the line then shows the decoded, redacted URL.
  let decoded = url;
  if (url.includes('%')) {
    try {
      decoded = decodeURI(url);
    } catch {
      /* malformed escapes: the router refuses such a URL; redact what is there */
    }
  }
  return decoded.replace(TOKEN_IN_PATH, '/$1/[redacted]').replace(SECRET_IN_QUERY, '$1[redacted]').replace(TOKEN_SHAPED, '[redacted]');
}

/**
 * The server's logger. Request lines carry method, redacted URL and address only; bodies are
 * never logged, and any header, cookie or password field that reaches a log object is censored.
 */
export function createLogger(level: string, stream?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'res.headers["set-cookie"]',
          'headers.authorization',
          'headers.cookie',
          '*.password',
          '*.newPassword',
          '*.currentPassword',
          '*.token',
          'password',
          'token',
        ],
        censor: '[redacted]',
      },
      serializers: {
        req: (request: { method?: string; url?: string; ip?: string }) => ({
          method: request.method,
          url: request.url ? redactUrl(request.url) : undefined,
          remoteAddress: request.ip,
        }),
        res: (reply: { statusCode?: number }) => ({ statusCode: reply.statusCode }),
      },
    },
    // stdout is written off the event loop in batches of 4 KiB or every 100 ms, whichever comes
    // first (sonic-boom, flushed at exit): a synchronous write(2) per request line cost as much as
    // answering it, and even an asynchronous one per line was a twentieth of a sign-in's event-loop
    // time (BENCHMARKS.md). A process killed with SIGKILL loses at most those 100 ms of lines.
    stream ?? pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 }),
  );
}

/**
 * One log line per request, when it completes, with the request in it: Fastify's default is two
 * ("incoming request" and "request completed"), each through pino's redaction, which cost a
 * measurable share of a cheap read (BENCHMARKS.md). Error lines stay Fastify's.
 */
export class OneLinePerRequest extends LogController {
  /**
   * The completed line is pino's line, written by hand: it holds only the fields the req and res
   * serializers above pick (method, redacted URL, address; status), the request id and a number,
   * so it needs neither pino's redaction walk nor its serializers, which were a tenth of a cached
   * read (BENCHMARKS.md). Error lines stay pino's, redacted; a route's own log level (the health
   * checks' warn) still decides.
   */
  readonly #stream: { write(line: string): unknown };
  readonly #bindings: string;

  constructor(logger: Logger) {
    super();
    this.#stream = (logger as unknown as Record<symbol, { write(line: string): unknown }>)[pino.symbols.streamSym]!;
    this.#bindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? ''; // ',"pid":…,"hostname":"…"'
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored');
    else if ((reply.log as Logger).isLevelEnabled('info')) this.#stream.write(this.completedLine(request, reply));
  }

  /** `{"level":30,"time":…,"pid":…,"hostname":…,"reqId":…,"req":{…},"res":{"statusCode":…},"responseTime":…,"msg":"request completed"}` */
  completedLine(request: FastifyRequest, reply: FastifyReply): string {
    const req = [`"method":${JSON.stringify(request.method)}`, `"url":${JSON.stringify(redactUrl(request.url))}`];
    if (request.ip !== undefined) req.push(`"remoteAddress":${JSON.stringify(request.ip)}`);
    return `{"level":30,"time":${Date.now()}${this.#bindings},"reqId":${JSON.stringify(request.id)},"req":{${req.join(',')}},"res":{"statusCode":${reply.statusCode}},"responseTime":${reply.elapsedTime},"msg":"request completed"}\n`;
  }
}
