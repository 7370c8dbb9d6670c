// A "Show password" button after every visible password field: it switches the field between
// type=password and type=text, says which with aria-pressed and its label, and is a real button
// (Tab, Enter, Space). Fields go back to hidden when their form is sent, so a browser never
// stores a shown password as form history.
(function () {
  'use strict';

  document.querySelectorAll('input[type="password"]').forEach(function (input) {
    if (input.hidden || !input.id) return;
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'btn btn-quiet btn-small password-toggle';
    button.setAttribute('aria-controls', input.id);

    function set(shown) {
      input.type = shown ? 'text' : 'password';
      button.setAttribute('aria-pressed', shown ? 'true' : 'false');
      button.textContent = shown ? 'Hide password' : 'Show password';
    }
    set(false);

    button.addEventListener('click', function () { set(input.type === 'password'); });
    if (input.form) input.form.addEventListener('submit', function () { set(false); });
    // In a row with other controls ("Generate"), after the row; else right after the field.
    var anchor = input.parentElement && input.parentElement.classList.contains('field-row') ? input.parentElement : input;
    anchor.insertAdjacentElement('afterend', button);
  });
})();
