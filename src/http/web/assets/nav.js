// On a phone the header's entries scroll sideways: keep the current one in view (scrolling
// only as far as needed, so the first entries stay visible when they can).
(function () {
  'use strict';
  var current = document.querySelector('.site-nav [aria-current="page"]');
  var nav = document.querySelector('.site-nav');
  if (!current || !nav) return;
  function reveal() {
    if (nav.scrollWidth <= nav.clientWidth) return;
    var left = current.getBoundingClientRect().left - nav.getBoundingClientRect().left + nav.scrollLeft;
    var right = left + current.offsetWidth;
    if (right + 16 > nav.scrollLeft + nav.clientWidth) nav.scrollLeft = right + 16 - nav.clientWidth;
    else if (left - 16 < nav.scrollLeft) nav.scrollLeft = Math.max(0, left - 16);
  }
  reveal();
  window.addEventListener('resize', reveal);
})();
