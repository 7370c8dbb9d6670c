// The raw argon2id ceiling: verifications per second with the server's parameters, measured in a
// process of its own that does nothing else, with a fixed number of verifications in flight (4 by
// default: enough to keep both cores of a 2-core machine busy through libuv's 4-thread pool).
// Uses @node-rs/argon2, as the server does.
//
// Two ways to run it:
// - alone: measures for DURATION_MS and prints one JSON line { verificationsPerSecond, … };
// - as a child with an IPC channel (bench/run.mjs): waits for { durationMs, inFlight? } messages and answers
//   each with { verifications, seconds }, so the benchmark can interleave short ceiling windows
//   with windows of server load and both see the same machine.
import { Algorithm, hash, verify } from '@node-rs/argon2';

const [memoryKiB, iterations, parallelism] = (process.env.ARGON2ID ?? 'm=19456,t=2,p=1').split(',').map((part) => Number(part.split('=')[1]));
const defaultInFlight = Number(process.env.IN_FLIGHT ?? 4);
const password = 'a benchmark passphrase of reasonable length';
const stored = await hash(password, { algorithm: Algorithm.Argon2id, memoryCost: memoryKiB, timeCost: iterations, parallelism });

/** Keeps `inFlight` verifications going for `durationMs`; counts those that finish inside it. */
async function measure(durationMs, inFlight = defaultInFlight) {
  let done = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(durationMs * 1e6));
  const loop = async () => {
    while (process.hrtime.bigint() < deadline) {
      if (!(await verify(stored, password))) throw new Error('argon2 verification failed');
      if (process.hrtime.bigint() <= deadline) done += 1;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  return { verifications: done, seconds: durationMs / 1000 };
}

if (process.send) {
  process.on('message', async ({ durationMs, inFlight }) => process.send(await measure(durationMs, inFlight)));
  process.send({ ready: true });
} else {
  await measure(Number(process.env.WARMUP_MS ?? 1000));
  const { verifications, seconds } = await measure(Number(process.env.DURATION_MS ?? 8000));
  process.stdout.write(JSON.stringify({ verificationsPerSecond: verifications / seconds, verifications, seconds, inFlight: defaultInFlight, argon2: { memoryKiB, iterations, parallelism } }) + '\n');
}
