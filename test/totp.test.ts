// The authenticator app's codes (src/domain/totp.ts) against RFC 6238 itself: the SHA-1 rows of
// Appendix B, the drift window of one step either way, replay refusal, and what people type.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Secret, TOTP } from 'otpauth';
import { acceptTotpCode, newTotpSecret, normalizeTotpCode, totpCodeAt, totpStep, totpUri, TOTP_PERIOD_SECONDS } from '../src/domain/totp.js';

/** RFC 4648 base32 (no padding), written here so the vectors do not lean on the library under test. */
function base32(bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const byte of bytes) bits += byte.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  return out;
}

/** RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890". */
const RFC_SECRET = base32(Buffer.from('12345678901234567890', 'ascii'));

/** Appendix B, mode SHA1: time in seconds → the RFC's 8-digit TOTP. Ours are its last 6 digits. */
const RFC_SHA1_VECTORS: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

const at = (seconds: number) => new Date(seconds * 1000);
const STEP_S = TOTP_PERIOD_SECONDS;
/** a time well inside a step (not at either edge), so ±n steps are ±n·30 s away */
const NOW_S = 1_800_000_015;
const NOW_STEP = Math.floor(NOW_S / STEP_S);

describe('RFC 6238 Appendix B (SHA-1)', () => {
  test('the seed "12345678901234567890" is GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ in base32', () => {
    assert.equal(RFC_SECRET, 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    assert.equal(RFC_SECRET, Secret.fromLatin1('12345678901234567890').base32);
  });

  for (const [seconds, eightDigits] of RFC_SHA1_VECTORS) {
    test(`T = ${seconds} s: the code is ${eightDigits.slice(-6)} (the last 6 digits of ${eightDigits}), and it is accepted then`, () => {
      assert.equal(totpCodeAt(RFC_SECRET, at(seconds)), eightDigits.slice(-6));
      // the RFC's steps: T = floor(seconds / 30)
      assert.equal(totpStep(at(seconds)), Math.floor(seconds / 30));
      assert.equal(acceptTotpCode(RFC_SECRET, eightDigits.slice(-6), at(seconds), null), Math.floor(seconds / 30));
      // and the 8-digit value itself is not a 6-digit code
      assert.equal(acceptTotpCode(RFC_SECRET, eightDigits, at(seconds), null), null);
    });
  }

  test("otpauth's own TOTP (SHA1, 6 digits, 30 s) agrees with ours at many times", () => {
    const secret = newTotpSecret();
    const reference = new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) });
    for (let i = 0; i < 50; i += 1) {
      const when = new Date(1_700_000_000_000 + i * 7_777_777);
      assert.equal(totpCodeAt(secret, when), reference.generate({ timestamp: when.getTime() }));
    }
  });
});

describe('secrets and the otpauth:// URI', () => {
  test('a new secret is 160 bits of base32 (32 characters), a different one each time', () => {
    const secrets = new Set(Array.from({ length: 20 }, newTotpSecret));
    assert.equal(secrets.size, 20);
    for (const secret of secrets) assert.match(secret, /^[A-Z2-7]{32}$/);
  });

  test('the URI is what authenticator apps read: otpauth://totp/issuer:label with secret, issuer, SHA1, 6 digits, 30 s', () => {
    const uri = new URL(totpUri(RFC_SECRET, 'Acme Support (Deskpass)', 'sam@acme.test'));
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.host, 'totp');
    assert.equal(decodeURIComponent(uri.pathname), '/Acme Support (Deskpass):sam@acme.test');
    assert.equal(uri.searchParams.get('secret'), RFC_SECRET);
    assert.equal(uri.searchParams.get('issuer'), 'Acme Support (Deskpass)');
    assert.equal(uri.searchParams.get('algorithm'), 'SHA1');
    assert.equal(uri.searchParams.get('digits'), '6');
    assert.equal(uri.searchParams.get('period'), '30');
  });
});

describe('clock drift: one step either way', () => {
  const codeOfStep = (offset: number) => totpCodeAt(RFC_SECRET, at(NOW_S + offset * STEP_S));

  for (const offset of [-1, 0, 1]) {
    test(`the code of step ${offset >= 0 ? '+' : ''}${offset} is accepted, for that step`, () => {
      assert.equal(acceptTotpCode(RFC_SECRET, codeOfStep(offset), at(NOW_S), null), NOW_STEP + offset);
    });
  }

  for (const offset of [-2, 2, -3, 3]) {
    test(`the code of step ${offset > 0 ? '+' : ''}${offset} is refused`, () => {
      // (a code of another step can collide with one in the window by chance: 1 in 10^6; not these)
      assert.ok(![-1, 0, 1].some((near) => codeOfStep(near) === codeOfStep(offset)));
      assert.equal(acceptTotpCode(RFC_SECRET, codeOfStep(offset), at(NOW_S), null), null);
    });
  }

  test('at the exact edges of a step: the first millisecond of step n takes its code as step n, the whole of step n-1 as n (drift +1), step n-2 not', () => {
    const stepStartMs = (NOW_STEP + 1) * STEP_S * 1000;
    const code = totpCodeAt(RFC_SECRET, new Date(stepStartMs));
    assert.equal(acceptTotpCode(RFC_SECRET, code, new Date(stepStartMs), null), NOW_STEP + 1);
    assert.equal(acceptTotpCode(RFC_SECRET, code, new Date(stepStartMs - 1), null), NOW_STEP + 1);
    // the last millisecond of step n-2 is two steps away: out of the window
    assert.equal(acceptTotpCode(RFC_SECRET, code, new Date(stepStartMs - STEP_S * 1000 - 1), null), null);
    assert.equal(acceptTotpCode(RFC_SECRET, code, new Date(stepStartMs - STEP_S * 1000), null), NOW_STEP + 1);
  });
});

describe('replays: a code is worth nothing once its step (or a later one) was used', () => {
  test('the step just used is refused: the same code again, inside its window', () => {
    const code = totpCodeAt(RFC_SECRET, at(NOW_S));
    const used = acceptTotpCode(RFC_SECRET, code, at(NOW_S), null);
    assert.equal(used, NOW_STEP);
    assert.equal(acceptTotpCode(RFC_SECRET, code, at(NOW_S), used), null);
    assert.equal(acceptTotpCode(RFC_SECRET, code, at(NOW_S + STEP_S), used), null, 'still in the window one step later');
  });

  test('an earlier step than the last used one is refused, a later one accepted', () => {
    const previous = totpCodeAt(RFC_SECRET, at(NOW_S - STEP_S));
    const next = totpCodeAt(RFC_SECRET, at(NOW_S + STEP_S));
    assert.equal(acceptTotpCode(RFC_SECRET, previous, at(NOW_S), NOW_STEP), null);
    assert.equal(acceptTotpCode(RFC_SECRET, previous, at(NOW_S), NOW_STEP - 1), null, 'equal to the last used step');
    assert.equal(acceptTotpCode(RFC_SECRET, previous, at(NOW_S), NOW_STEP - 2), NOW_STEP - 1);
    assert.equal(acceptTotpCode(RFC_SECRET, next, at(NOW_S), NOW_STEP), NOW_STEP + 1, 'a later step after a used one');
  });
});

describe('what people type', () => {
  const code = totpCodeAt(RFC_SECRET, at(NOW_S));
  const spaced = `${code.slice(0, 3)} ${code.slice(3)}`;

  test('spaces and dashes between groups are tolerated, and the code is accepted as typed', () => {
    for (const typed of [spaced, `${code.slice(0, 3)}-${code.slice(3)}`, ` ${code} `, `${code.slice(0, 2)} ${code.slice(2, 4)} ${code.slice(4)}`, `\t${code}\n`]) {
      assert.equal(normalizeTotpCode(typed), code, JSON.stringify(typed));
      assert.equal(acceptTotpCode(RFC_SECRET, typed, at(NOW_S), null), NOW_STEP, JSON.stringify(typed));
    }
  });

  test('anything but exactly six ASCII digits is no code: letters, other lengths, other punctuation, other scripts', () => {
    const notCodes = [
      '',
      '   ',
      '12345',
      '1234567',
      `${code}0`,
      `${code.slice(0, 5)}a`,
      'abcdef',
      `${code.slice(0, 3)}.${code.slice(3)}`,
      `${code.slice(0, 3)}_${code.slice(3)}`,
      `+${code.slice(1)}`,
      '١٢٣٤٥٦', // Arabic-Indic digits
      '１２３４５６', // full-width digits
      `${code}\u0000`,
    ];
    for (const typed of notCodes) {
      assert.equal(normalizeTotpCode(typed), null, JSON.stringify(typed));
      assert.equal(acceptTotpCode(RFC_SECRET, typed, at(NOW_S), null), null, JSON.stringify(typed));
    }
  });

  test('a code of another secret is refused', () => {
    const other = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    assert.ok([-1, 0, 1].every((near) => totpCodeAt(other, at(NOW_S + near * STEP_S)) !== code));
    assert.equal(acceptTotpCode(other, code, at(NOW_S), null), null);
  });
});
