// Passkeys on the portal, with @simplewebauthn/browser (served from /assets/webauthn/, no CDN).
// Forms marked data-passkey="get" (sign in, the second step, "confirm it's you") run a passkey
// ceremony when submitted and send its response in their hidden "passkey" field; forms marked
// data-passkey="create" (My Settings) add a passkey and send the response in "response".
// Without JavaScript or WebAuthn those forms stay hidden and a note says why.
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;
  var supported = !!(lib && lib.browserSupportsWebAuthn && lib.browserSupportsWebAuthn());
  document.querySelectorAll('[data-passkey]').forEach(function (element) { element.hidden = !supported; });
  document.querySelectorAll('[data-passkey-unsupported]').forEach(function (element) { element.hidden = supported; });
  if (!supported) return;

  function say(form, text, isError) {
    var status = form.querySelector('[data-passkey-status]');
    if (!status) return;
    status.textContent = text;
    status.className = isError ? 'passkey-status error' : 'passkey-status';
  }

  function postJson(url) {
    return fetch(url, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: '{}' }).then(function (answer) {
      if (!answer.ok) throw new Error(answer.status === 403 ? 'reauthenticate' : 'options');
      return answer.json();
    });
  }

  document.querySelectorAll('form[data-passkey="get"]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      var field = form.querySelector('input[name="passkey"]');
      event.preventDefault();
      say(form, 'Use your passkey in the window your browser opens…', false);
      postJson('/api/v1/auth/passkey/options')
        .then(function (options) { return lib.startAuthentication({ optionsJSON: options }); })
        .then(function (response) {
          field.value = JSON.stringify(response);
          say(form, 'Checking your passkey…', false);
          form.submit();
        })
        .catch(function () { say(form, 'The passkey was not used. Try again, or use another way below.', true); });
    });
  });

  document.querySelectorAll('form[data-passkey="create"]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      var name = form.querySelector('input[name="name"]');
      var field = form.querySelector('input[name="response"]');
      event.preventDefault();
      if (!name.value.trim()) {
        say(form, 'Give the passkey a name first, such as "Work laptop".', true);
        name.focus();
        return;
      }
      say(form, 'Follow your browser’s steps to create the passkey…', false);
      postJson('/api/v1/me/passkeys/registration-options')
        .then(function (options) { return lib.startRegistration({ optionsJSON: options }); })
        .then(function (response) {
          field.value = JSON.stringify(response);
          say(form, 'Saving your passkey…', false);
          form.submit();
        })
        .catch(function (error) {
          say(form, error && error.message === 'reauthenticate' ? 'For your security, confirm it is you first (above), then add the passkey.' : 'No passkey was created. Try again, or use another device.', true);
        });
    });
  });
})();
