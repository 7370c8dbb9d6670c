// "Generate": fills the new password and its confirmation with a strong random password made
// in the browser (crypto.getRandomValues) and shows it once, so the acting agent can pass it on
// through a secure channel. The server never sends it back, and no email ever contains it.
(function () {
  'use strict';
  var ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.!?@#%+=';
  var LENGTH = 20;

  function randomPassword() {
    var out = '';
    var limit = 256 - (256 % ALPHABET.length); // rejection sampling: no bias toward the first characters
    var bytes = new Uint8Array(64);
    while (out.length < LENGTH) {
      crypto.getRandomValues(bytes);
      for (var i = 0; i < bytes.length && out.length < LENGTH; i++) {
        if (bytes[i] < limit) out += ALPHABET[bytes[i] % ALPHABET.length];
      }
    }
    return out;
  }

  document.querySelectorAll('button[data-generate-for]').forEach(function (button) {
    var input = document.getElementById(button.getAttribute('data-generate-for'));
    if (!input || !window.crypto || !crypto.getRandomValues) return;
    var confirm = document.querySelector('[data-confirm-for="' + input.id + '"]');
    var shown = document.getElementById(input.id + '-generated');
    var code = shown ? shown.querySelector('code') : null;
    var copy = shown ? shown.querySelector('button[data-copy]') : null;
    button.hidden = false;

    button.addEventListener('click', function () {
      var password = randomPassword();
      input.value = password;
      if (confirm) confirm.value = password;
      input.dispatchEvent(new Event('input', { bubbles: true }));
      if (confirm) confirm.dispatchEvent(new Event('input', { bubbles: true }));
      if (shown && code) {
        code.textContent = password;
        shown.hidden = false;
      }
    });

    if (copy && code) {
      copy.addEventListener('click', function () {
        var text = code.textContent || '';
        var done = function () { copy.textContent = 'Copied'; };
        if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, function () {});
      });
    }

    // Shown once: once the form is sent, the page that comes back never has it.
    if (input.form) input.form.addEventListener('submit', function () { if (code) code.textContent = ''; });
  });
})();
