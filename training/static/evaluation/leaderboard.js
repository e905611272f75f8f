// Evaluation pages. A criterion select with data-autosubmit submits its form when changed;
// on an instruction's page, the left and right arrow keys go to the previous and next one.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    const target = event.target;
    if (target && target.matches && target.matches("select[data-autosubmit]") && target.form) {
      target.form.submit();
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.shiftKey) return;
    const target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(target.tagName))) return;
    const rel = event.key === "ArrowLeft" ? "prev" : event.key === "ArrowRight" ? "next" : null;
    if (!rel) return;
    const link = document.querySelector(".item-nav a[rel=" + rel + "]");
    if (link) { event.preventDefault(); window.location.href = link.href; }
  });
})();
