// "Copy" beside each value an administrator pastes into a help desk (client id, secret,
// endpoints). Without JavaScript the buttons stay hidden and the values are plain text to select.
(function () {
  'use strict';
  document.querySelectorAll('button[data-copy-from]').forEach(function (button) {
    var source = document.getElementById(button.getAttribute('data-copy-from'));
    if (!source) return;
    button.hidden = false;
    var label = button.textContent;
    button.addEventListener('click', function () {
      var text = source.textContent.trim();
      var done = function () {
        button.textContent = 'Copied';
        setTimeout(function () { button.textContent = label; }, 2000);
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () { select(source); });
      } else {
        select(source);
      }
    });
  });
  function select(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
})();
