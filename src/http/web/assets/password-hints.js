// Live hints for new-password fields: length in code points (as the server counts, after NFC),
// a strength meter and whether the confirmation matches. With data-check-url the meter asks the
// server (debounced, same-origin, with the form's CSRF token) and shows its verdict in the words
// a submit would use: a blocklisted password, or one with the agent's name, is never "Fair".
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

  var CHECK_DELAY_MS = 350;

  // The server's verdict on the value: { ok, problems: [{ rule, message }] }, or null when it
  // cannot say (offline, a limit, the session ended): the local meter stands then.
  function askServer(input, value, done) {
    var url = input.getAttribute('data-check-url');
    var form = input.form;
    var csrf = form ? form.querySelector('input[name="_csrf"]') : null;
    if (!url || !csrf || !window.fetch) return done(null);
    var body = new URLSearchParams();
    body.set('_csrf', csrf.value);
    body.set('password', value);
    (input.getAttribute('data-check-fields') || '').split(',').forEach(function (id) {
      var other = id && document.getElementById(id);
      if (other && other.name) body.set(other.name, other.value);
    });
    fetch(url, { method: 'POST', body: body, credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) { done(answer && Array.isArray(answer.problems) ? answer : null); }, function () { done(null); });
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

    var problemsList = meter ? meter.querySelector('.strength-problems') : null;
    var checkUrl = input.getAttribute('data-check-url');
    var timer = null;
    var verdict = null; // { value, answer } from the server for the value it was asked about

    function showMeter(level, problems) {
      if (!meter) return;
      meter.setAttribute('data-level', String(level));
      var text;
      if (problems && problems.length > 0) text = 'Strength: Too weak. This password would be refused:';
      else if (checkUrl && !problems && input.value) text = 'Checking…';
      else text = 'Strength: ' + LABELS[level] + (level > 0 && level < 3 ? '. Longer is stronger: try a few unrelated words.' : '');
      if (meterText) meterText.textContent = text;
      if (problemsList) {
        problemsList.textContent = '';
        (problems || []).forEach(function (problem) {
          var item = document.createElement('li');
          item.textContent = problem.message;
          problemsList.appendChild(item);
        });
      }
    }

    function scheduleCheck() {
      if (!checkUrl) return;
      if (timer) clearTimeout(timer);
      var value = input.value;
      if (value === '') return;
      timer = setTimeout(function () {
        askServer(input, value, function (answer) {
          if (input.value !== value) return; // typed on meanwhile: a newer check follows
          verdict = { value: value, answer: answer };
          render();
        });
      }, CHECK_DELAY_MS);
    }

    function update() {
      render();
      scheduleCheck();
    }

    function render() {
      var length = codePoints(input.value);
      if (length === 0) setHint(lengthHint, 'Use at least ' + minLength + ' characters.', null);
      else if (length < minLength) setHint(lengthHint, length + ' of at least ' + minLength + ' characters. Keep going.', 'bad');
      else setHint(lengthHint, length + ' characters: long enough.', 'ok');
      if (meter) {
        var level = strength(input.value, minLength);
        meter.hidden = length === 0;
        var answer = verdict && verdict.value === input.value ? verdict.answer : undefined;
        if (!checkUrl || answer === null) showMeter(level, []); // no server verdict: the local meter
        else if (answer === undefined) showMeter(level, null); // asked, not answered yet
        else if (answer.problems.length > 0) showMeter(1, answer.problems);
        else showMeter(Math.max(level, 3), []); // the server accepts it: at least "Good"
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
    render();
  }

  document.querySelectorAll('input[data-password-input]').forEach(wire);
})();
