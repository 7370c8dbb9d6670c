// "Generate" on an administrator's set-password form: asks the server for a readable passphrase
// (four random words from EFF's list, drawn with crypto.getRandomValues and checked against the
// account's policy for this agent: src/flows/password-check.ts), fills the password and its
// confirmation, and shows it until the form is sent, so it can be read out on a call. The
// server keeps nothing, and no email ever contains it.
(function () {
  'use strict';

  document.querySelectorAll('button[data-generate-for]').forEach(function (button) {
    var input = document.getElementById(button.getAttribute('data-generate-for'));
    var url = button.getAttribute('data-generate-url');
    if (!input || !url || !window.fetch) return;
    var form = input.form;
    var csrf = form ? form.querySelector('input[name="_csrf"]') : null;
    var confirm = document.querySelector('[data-confirm-for="' + input.id + '"]');
    var shown = document.getElementById(input.id + '-generated');
    var code = shown ? shown.querySelector('code') : null;
    var copy = shown ? shown.querySelector('button[data-copy]') : null;
    var status = document.getElementById(input.id + '-generated-status');
    if (!csrf) return;
    button.hidden = false;

    function announce(text) {
      if (!status) return;
      // a new text each time, so the same announcement is read again after a second Generate
      status.textContent = '';
      setTimeout(function () { status.textContent = text; }, 50);
    }

    // Not `disabled` while waiting: disabling the focused button drops keyboard focus to the
    // page, and a keyboard or screen-reader user loses their place. aria-busy and a flag instead.
    var busy = false;
    button.addEventListener('click', function () {
      if (busy) return;
      var body = new URLSearchParams();
      body.set('_csrf', csrf.value);
      busy = true;
      button.setAttribute('aria-busy', 'true');
      fetch(url, { method: 'POST', body: body, credentials: 'same-origin', headers: { accept: 'application/json' } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (answer) {
          busy = false;
          button.removeAttribute('aria-busy');
          if (!answer || typeof answer.password !== 'string') return announce('No password could be generated. Type one, or try again.');
          input.value = answer.password;
          if (confirm) confirm.value = answer.password;
          input.dispatchEvent(new Event('input', { bubbles: true }));
          if (confirm) confirm.dispatchEvent(new Event('input', { bubbles: true }));
          if (shown && code) {
            code.textContent = answer.password;
            shown.hidden = false;
            if (copy) copy.textContent = 'Copy';
          }
          announce('Password generated: shown below.');
        }, function () {
          busy = false;
          button.removeAttribute('aria-busy');
          announce('No password could be generated. Type one, or try again.');
        });
    });

    // Typed over: the shown value is no longer the password.
    input.addEventListener('input', function () {
      if (shown && code && code.textContent && input.value !== code.textContent) { code.textContent = ''; shown.hidden = true; }
    });

    if (copy && code) {
      copy.addEventListener('click', function () {
        var text = code.textContent || '';
        var done = function () { copy.textContent = 'Copied'; };
        if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, function () {});
      });
    }

    // Shown until sent: the page that comes back never has it.
    if (form) form.addEventListener('submit', function () { if (code) code.textContent = ''; });
  });
})();
