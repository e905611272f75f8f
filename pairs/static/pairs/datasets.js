// New dataset form: show the filters of the chosen kind (SFT or DPO); hide and disable the
// other kind's, so they are neither seen nor sent (the server ignores them anyway).
(function () {
  "use strict";
  function sync(form) {
    const checked = form.querySelector("input[name=kind]:checked");
    if (!checked) return;
    form.querySelectorAll("fieldset[data-kind]").forEach(function (fieldset) {
      const on = fieldset.dataset.kind === checked.value;
      fieldset.hidden = !on;
      fieldset.disabled = !on;
    });
    form.dataset.kind = checked.value;
  }
  function init() {
    const form = document.getElementById("dataset-form");
    if (!form) return;
    sync(form);
    form.addEventListener("change", function (event) {
      if (event.target && event.target.name === "kind") sync(form);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
