// Setup page: the help desk's time zone starts as the browser's own when the server knows it
// (the select says UTC without this script, and the operator can always choose another).
(function () {
  'use strict';
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) return;
  document.querySelectorAll('select[data-detect-time-zone]').forEach(function (select) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === zone) {
        select.value = zone;
        var hint = document.getElementById(select.id + '-detected');
        if (hint) hint.textContent = 'Taken from this browser: ' + zone + '.';
        return;
      }
    }
  });
})();
