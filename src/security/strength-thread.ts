import { Worker, type ResourceLimits } from 'node:worker_threads';
import { passwordStrengthScore, strengthAnalysed, ZXCVBN_MODULES, ZXCVBN_OPTIONS } from '../domain/password-strength.js';

/**
 * zxcvbn's strength score, worked out on a thread of its own. On the event loop it cost twice:
 * up to ~70 ms of the loop for a long password (every request waited), and its ranked
 * dictionaries were half of the heap that every full garbage collection of the event loop marks
 * (BENCHMARKS.md, issue 13's seventh round). Here they live in the thread's own heap, collected
 * on its own; the event loop never loads them.
 *
 * One thread: scores are rare (a password set, a meter check, a sign-in under "comply at next
 * sign-in") and each takes milliseconds; they wait in order. Should the thread fail, the scores
 * it owed are worked out on the calling thread (the answer never changes, only where it is
 * computed; the dictionaries then load there too), and the next score starts a new thread. After
 * MAX_THREAD_DEATHS threads died (or when the system refuses a thread), scores stay on the calling
 * thread: a restart per score would cost each one the dictionaries' 0.6 s again. An idle thread
 * does not keep a process alive.
 */
export class StrengthThread {
  readonly #limits: ResourceLimits;
  #worker: Worker | undefined;
  #started = 0;
  #deaths = 0;
  #nextId = 0;
  readonly #pending = new Map<number, { normalizedPassword: string; userInputs: string[]; resolve: (score: number) => void; reject: (error: Error) => void }>();
  #closed = false;

  /** `limits`: the thread's own heap (its dictionaries take about 30 MB); past it, the thread dies and its scores are worked out here. */
  constructor(limits: ResourceLimits = { maxOldGenerationSizeMb: 256 }) {
    this.#limits = limits;
  }

  /** How many threads were started (a new one after each that died). */
  get threadsStarted(): number {
    return this.#started;
  }

  /** Starts the thread and its dictionaries now (about 0.6 s on it), so the first score does not wait. */
  warmUp(): void {
    this.#thread();
  }

  /** zxcvbn's score (0–4) of an NFC password, as `passwordStrengthScore` would answer it here. */
  score(normalizedPassword: string, userInputs: string[]): Promise<number> {
    const worker = this.#thread();
    if (!worker) return Promise.resolve().then(() => passwordStrengthScore(normalizedPassword, userInputs));
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { normalizedPassword, userInputs, resolve, reject });
      worker.ref(); // a score is owed: the process waits for it
      worker.postMessage({ id, password: strengthAnalysed(normalizedPassword), userInputs });
    });
  }

  /** Ends the thread; scores asked for afterwards are worked out on the calling thread. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    this.#answerHere();
    await worker?.terminate();
  }

  /** The running thread, a new one, or none: closed, too many deaths, or a thread the system refuses. */
  #thread(): Worker | undefined {
    if (this.#worker || this.#closed || this.#deaths >= MAX_THREAD_DEATHS) return this.#worker;
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: this.#limits, workerData: { modules: ZXCVBN_MODULES, options: ZXCVBN_OPTIONS } });
    } catch {
      this.#deaths = MAX_THREAD_DEATHS; // ERR_WORKER_INIT_FAILED: scores stay on the calling thread
      return undefined;
    }
    this.#started += 1;
    worker.on('message', ({ id, score, error }: { id: number; score?: number; error?: string }) => {
      const job = this.#pending.get(id);
      if (!job) return;
      this.#pending.delete(id);
      if (this.#pending.size === 0) worker.unref();
      if (error !== undefined) job.reject(new Error(error));
      else job.resolve(score!);
    });
    const lost = () => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#deaths += 1;
      this.#answerHere();
    };
    worker.on('error', lost);
    worker.on('exit', lost);
    worker.unref();
    this.#worker = worker;
    return worker;
  }

  /** The scores still owed, worked out on this thread (the thread is gone). */
  #answerHere(): void {
    const owed = [...this.#pending.values()];
    this.#pending.clear();
    for (const job of owed) {
      try {
        job.resolve(passwordStrengthScore(job.normalizedPassword, job.userInputs));
      } catch (error) {
        job.reject(error as Error);
      }
    }
  }
}

/** Threads that may die (out of memory, killed) before scores stay on the calling thread for good. */
export const MAX_THREAD_DEATHS = 3;

// The thread's code, inline (no second file to find from both src/ under tsx and dist/): the
// same factory, built from the same options, as domain/password-strength.ts builds on a thread
// that asks it directly.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { ZxcvbnFactory } = require(workerData.modules.core);
const common = require(workerData.modules.common);
const english = require(workerData.modules.english);
const factory = new ZxcvbnFactory({ ...workerData.options, dictionary: { ...common.dictionary, ...english.dictionary }, graphs: common.adjacencyGraphs });
parentPort.on('message', ({ id, password, userInputs }) => {
  try {
    parentPort.postMessage({ id, score: factory.check(password, userInputs).score });
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message ? error.message : error) });
  }
});
`;

/** The process's one strength thread (the flows' scores; the server warms it up at start). */
export const strengthThread = new StrengthThread();
