// Asks before actions that are hard to undo (deactivate, sign out everywhere). Without
// JavaScript the forms still work; the question is only a guard against a slip.
(function () {
  'use strict';
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) event.preventDefault();
    });
  });
})();
