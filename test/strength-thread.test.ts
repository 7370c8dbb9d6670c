import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SETTINGS } from '../src/domain/account-settings.js';
import { normalizePassword, strengthUserInputs, type PolicyContext } from '../src/domain/password-policy.js';
import { passwordStrengthScore, strengthDictionariesLoadedHere } from '../src/domain/password-strength.js';
import { policyViolations } from '../src/flows/password-rules.js';
import { MAX_THREAD_DEATHS, StrengthThread } from '../src/security/strength-thread.js';

// zxcvbn's score is worked out on a thread of its own (security/strength-thread.ts): its
// dictionaries stay out of the event loop's heap and its up to 70 ms out of the event loop.
const context: PolicyContext = { email: 'ana.lima@acme.test', name: 'Ana Lima', accountName: 'Acme Support' };
const inputs = strengthUserInputs(context);
const PASSWORDS = ['password', 'Tundra-Mosaic-Falcon-42', 'ana.lima2024!', 'Acme-Support-1', 'qwertyuiop', 'correct horse battery staple', 'x'.repeat(300), '🦊'.repeat(70) + 'Zq9!', 'p@ssw0rd!', 'Summer2024!!', ''];

describe('the strength thread', () => {
  // first in this file: nothing here has asked zxcvbn on this thread yet
  test('the flows score on the thread: a weak password is too_weak, a strong one passes, and the dictionaries never load on this thread', async () => {
    assert.deepEqual((await policyViolations('qwertyuiop123', DEFAULT_SETTINGS.passwordPolicy, context)).map((v) => v.rule), ['blocklisted', 'too_weak']);
    assert.deepEqual((await policyViolations('Tundra-Mosaic-Falcon-42', DEFAULT_SETTINGS.passwordPolicy, context)).map((v) => v.rule), []);
    assert.deepEqual((await policyViolations('Ana.Lima2024!', DEFAULT_SETTINGS.passwordPolicy, context)).map((v) => v.rule), ['contains_personal_info', 'too_weak']);
    const thread = new StrengthThread();
    try {
      const scores = await Promise.all(PASSWORDS.map((password) => thread.score(normalizePassword(password), inputs)));
      assert.ok(scores.every((score) => Number.isInteger(score) && score >= 0 && score <= 4), String(scores));
    } finally {
      await thread.close();
    }
    assert.equal(strengthDictionariesLoadedHere(), false, 'zxcvbn was never built on the calling thread');
  });

  test("answers exactly what zxcvbn answers on the calling thread, the agent's own words included, 64 code points of a long password", async () => {
    const thread = new StrengthThread();
    try {
      for (const password of PASSWORDS) {
        const normalized = normalizePassword(password);
        assert.equal(await thread.score(normalized, inputs), passwordStrengthScore(normalized, inputs), JSON.stringify(password));
      }
      // the agent's own words make a password weaker (4 → 0 and 3 → 1 on the calling thread)
      assert.equal(await thread.score('ana.lima@acme.test', inputs), 0);
      assert.equal(await thread.score('ana.lima@acme.test', []), 4);
      assert.equal(await thread.score('ana.lima2024', inputs), 1);
      assert.equal(await thread.score('ana.lima2024', []), 3);
    } finally {
      await thread.close();
    }
  });

  test('a thread that dies owes nothing: the scores it held are worked out here, the next score starts a new thread, and after three deaths scores stay here', async () => {
    // a heap too small for the dictionaries: the thread runs out of memory with every score owed
    const thread = new StrengthThread({ maxOldGenerationSizeMb: 12 });
    try {
      const scores = await Promise.all(PASSWORDS.map((password) => thread.score(normalizePassword(password), inputs)));
      assert.deepEqual(scores, PASSWORDS.map((password) => passwordStrengthScore(normalizePassword(password), inputs)));
      assert.equal(thread.threadsStarted, 1);
      assert.equal(await thread.score(normalizePassword('Tundra-Mosaic-Falcon-42'), inputs), 4);
      assert.equal(thread.threadsStarted, 2, 'a new thread for the next score');
      for (let i = 2; i < MAX_THREAD_DEATHS + 3; i += 1) assert.equal(await thread.score('password', []), 0);
      assert.equal(thread.threadsStarted, MAX_THREAD_DEATHS, 'no restart per score once three threads died');
    } finally {
      await thread.close();
    }
  });

  test('after close, scores are worked out on the calling thread', async () => {
    const thread = new StrengthThread();
    await thread.close();
    assert.equal(await thread.score('password', []), passwordStrengthScore('password', []));
  });
});
