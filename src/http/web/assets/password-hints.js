// Live hints for new-password fields: length in code points (as the server counts, after NFC),
// a simple strength meter and whether the confirmation matches. The server has the last word:
// it also rejects common and breached passwords and says why.
(function () {
  'use strict';
  var LABELS = ['', 'Too weak', 'Fair', 'Good', 'Strong'];

  function codePoints(value) {
    return Array.from(value.normalize('NFC')).length;
  }

  function strength(value, minLength) {
    var length = codePoints(value);
    if (length === 0) return 0;
    if (length < minLength) return 1;
    var lower = value.toLowerCase();
    var distinct = new Set(Array.from(lower)).size;
    if (distinct <= 3) return 1;
    var classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter(function (re) { return re.test(value); }).length;
    var level = 2;
    if (length >= minLength + 4 || (classes >= 3 && length >= minLength)) level = 3;
    if (length >= 20 || (length >= 16 && classes >= 3)) level = 4;
    if (distinct < length / 3) level = Math.min(level, 2);
    return level;
  }

  // The same character classes as the server's policy (src/domain/password-policy.ts).
  var CLASSES = {
    upper: { pattern: /[\p{Lu}\p{Lt}]/u, text: 'an uppercase letter' },
    lower: { pattern: /\p{Ll}/u, text: 'a lowercase letter' },
    digit: { pattern: /\p{Nd}/u, text: 'a digit' },
    symbol: { pattern: /[^\p{L}\p{M}\p{N}]/u, text: 'a symbol' },
  };

  function setHint(element, text, state) {
    if (!element) return;
    element.textContent = text;
    element.classList.toggle('ok', state === 'ok');
    element.classList.toggle('bad', state === 'bad');
  }

  function wire(input) {
    var minLength = Number(input.getAttribute('data-min-length')) || 12;
    var lengthHint = document.getElementById(input.id + '-length');
    var meter = document.getElementById(input.id + '-strength');
    var meterText = meter ? meter.querySelector('.strength-text') : null;
    var required = (input.getAttribute('data-require') || '').split(',').filter(function (key) { return CLASSES[key]; });
    var classesHint = document.getElementById(input.id + '-classes');
    var confirm = document.querySelector('[data-confirm-for="' + input.id + '"]');
    var matchHint = confirm ? document.getElementById(confirm.id + '-match') : null;

    function update() {
      var length = codePoints(input.value);
      if (length === 0) setHint(lengthHint, 'Use at least ' + minLength + ' characters.', null);
      else if (length < minLength) setHint(lengthHint, length + ' of at least ' + minLength + ' characters. Keep going.', 'bad');
      else setHint(lengthHint, length + ' characters: long enough.', 'ok');
      if (meter) {
        var level = strength(input.value, minLength);
        meter.hidden = length === 0;
        meter.setAttribute('data-level', String(level));
        if (meterText) meterText.textContent = 'Strength: ' + LABELS[level] + (level > 0 && level < 3 ? '. Longer is stronger: try a few unrelated words.' : '');
      }
      if (classesHint && required.length > 0) {
        var missing = required.filter(function (key) { return !CLASSES[key].pattern.test(input.value); });
        if (length === 0) setHint(classesHint, classesHint.getAttribute('data-require-text'), null);
        else if (missing.length === 0) setHint(classesHint, 'Has every kind of character the policy asks for.', 'ok');
        else setHint(classesHint, 'Still needed: ' + missing.map(function (key) { return CLASSES[key].text; }).join(', ') + '.', 'bad');
      }
      updateMatch();
    }

    function updateMatch() {
      if (!confirm || !matchHint) return;
      if (confirm.value === '') setHint(matchHint, '', null);
      else if (confirm.value === input.value) setHint(matchHint, 'The passwords match.', 'ok');
      else setHint(matchHint, 'The passwords do not match yet.', 'bad');
    }

    input.addEventListener('input', update);
    if (confirm) confirm.addEventListener('input', updateMatch);
    update();
  }

  document.querySelectorAll('input[data-password-input]').forEach(wire);
})();
