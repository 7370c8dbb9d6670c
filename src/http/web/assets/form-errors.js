// The error summary of a refused form (src/http/web/form-errors.ts). Its `autofocus` gives it
// focus when the page loads (which scrolls it into view); this covers a browser that did not,
// and makes each of its links move focus to the field, with the field's label in view.
(function () {
  'use strict';
  var summary = document.querySelector('[data-error-summary]');
  if (!summary) return;
  function focusSummary() {
    if (document.activeElement === document.body || document.activeElement === null) summary.focus();
  }
  focusSummary();
  // a summary inside a form another script shows (the passkey form) can take the focus only then
  window.addEventListener('load', focusSummary);

  summary.addEventListener('click', function (event) {
    var link = event.target.closest ? event.target.closest('a[href^="#"]') : null;
    if (!link) return;
    var field = document.getElementById(link.getAttribute('href').slice(1));
    if (!field) return;
    event.preventDefault();
    var label = field.id ? document.querySelector('label[for="' + field.id + '"]') : null;
    (label || field).scrollIntoView({ block: 'start' });
    field.focus({ preventScroll: true });
  });
})();
