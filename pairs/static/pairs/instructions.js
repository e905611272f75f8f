// Instruction pair pages. Keyboard on a pair's page: g = good, b = bad, n = next, p = previous
// (in the browser's filter order). The source span scrolls into view inside its box.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat || typing(event.target)) return;
    const key = event.key;
    if (!/^[gbnp]$/.test(key)) return;
    const button = document.querySelector('#pair-mark button[data-key="' + key + '"]');
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
      return;
    }
    const link = document.querySelector('a[data-key="' + key + '"]');
    if (link) {
      event.preventDefault();
      window.location.assign(link.href);
    }
  });

  function showSpan() {
    const span = document.getElementById("source-span");
    const box = document.getElementById("source-text");
    if (!span || !box) return;
    box.scrollTop = Math.max(0, span.offsetTop - box.clientHeight / 3);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", showSpan);
  } else {
    showSpan();
  }
})();
