import type { LimitRefusal } from '../plugins/rate-limits.js';
import { sendError } from '../errors.js';

/** The API's answer over a limit: 429 rate_limited with Retry-After. */
export const refuseWithJson: LimitRefusal = (_request, reply, waitSeconds) => sendError(reply, 'rate_limited', undefined, waitSeconds);
