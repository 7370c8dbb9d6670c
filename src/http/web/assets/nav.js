// On a phone the header's entries sit behind a "Menu" button (a disclosure: aria-expanded, the
// list opens below the bar, Escape closes it and gives focus back). Without this script, or on a
// wider screen, every entry is shown; the button only exists while the script runs.
(function () {
  'use strict';
  var header = document.querySelector('.site-header');
  var toggle = document.querySelector('[data-menu-toggle]');
  var nav = document.getElementById('site-nav');
  if (!header || !toggle || !nav) return;
  function setOpen(open) {
    toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    header.setAttribute('data-menu', open ? 'open' : 'closed');
  }
  header.classList.add('has-menu');
  setOpen(false);
  toggle.addEventListener('click', function () {
    setOpen(toggle.getAttribute('aria-expanded') !== 'true');
  });
  document.addEventListener('keydown', function (event) {
    if (event.key !== 'Escape' || toggle.getAttribute('aria-expanded') !== 'true') return;
    if (getComputedStyle(toggle).display === 'none') return;
    setOpen(false);
    toggle.focus();
  });
})();
