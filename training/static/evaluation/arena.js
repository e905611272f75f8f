// The arena's comparison page. Keyboard: for the highlighted criterion (creativity, style,
// relevance, fluency in turn) 1 = Response 1 (left) better, 2 = Response 2 (right) better,
// 3, 0 or t = tie; the next criterion is then highlighted. Backspace, Up or Left go back one
// criterion, Down or Right go on; Enter submits once all four are answered; ? shows or hides
// the list of keys. Without script the page is a plain form of radio buttons.
// The time spent (page visible) goes with the answer.
(function () {
  "use strict";

  const form = document.getElementById("arena-form");
  if (!form) return;
  const stringsNode = document.getElementById("arena-strings");
  const S = stringsNode ? JSON.parse(stringsNode.textContent) : {};
  const groups = Array.prototype.slice.call(form.querySelectorAll("fieldset.arena-criterion"));
  const status = document.getElementById("arena-status");
  const secondsInput = document.getElementById("arena-seconds");
  const help = document.getElementById("shortcut-list");
  const HELP_KEY = "weaver.arena.help";
  const KEYS = { "1": "left", "2": "right", "3": "tie", "0": "tie", t: "tie", T: "tie" };

  let current = 0;
  let submitting = false;
  let seconds = 0;
  let last = Date.now();

  function tick() {
    const now = Date.now();
    if (!document.hidden) seconds += (now - last) / 1000;
    last = now;
  }
  setInterval(tick, 1000);
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) tick();
    else last = Date.now();
  });

  function storage() {
    try {
      return window.localStorage;
    } catch (e) {
      return null;
    }
  }

  (function restoreHelp() {
    const s = storage();
    if (help && s && s.getItem(HELP_KEY) === "hidden") help.hidden = true;
  })();

  function toggleHelp() {
    if (!help) return;
    help.hidden = !help.hidden;
    const s = storage();
    if (s) s.setItem(HELP_KEY, help.hidden ? "hidden" : "shown");
  }

  function chosen(group) {
    return group.querySelector("input[type=radio]:checked");
  }

  function missing() {
    return groups.filter(function (g) { return !chosen(g); });
  }

  function setStatus(text, error) {
    if (!status) return;
    status.textContent = text || "";
    status.className = "arena-status" + (error ? " error" : "");
  }

  function highlight(index, focus) {
    current = Math.max(0, Math.min(groups.length - 1, index));
    groups.forEach(function (g, i) {
      g.classList.toggle("current", i === current);
      g.setAttribute("aria-current", i === current ? "true" : "false");
    });
    if (focus !== false) groups[current].focus({ preventScroll: true });
  }

  function choose(value) {
    const group = groups[current];
    const input = group.querySelector('input[type=radio][value="' + value + '"]');
    if (!input) return;
    input.checked = true;
    group.classList.remove("has-error");
    const open = missing();
    if (!open.length) {
      setStatus(S.answered || "");
      highlight(groups.length - 1);
      return;
    }
    setStatus("");
    // On to the next criterion still open after this one (else the first open one).
    const after = open.filter(function (g) { return groups.indexOf(g) > current; });
    highlight(groups.indexOf(after.length ? after[0] : open[0]));
  }

  function submit() {
    if (submitting) return;
    const open = missing();
    if (open.length) {
      const names = open.map(function (g) {
        const legend = g.querySelector("legend");
        return legend ? legend.textContent.trim() : g.dataset.criterion;
      });
      setStatus((S.missing || "") + " " + names.join(", "), true);
      highlight(groups.indexOf(open[0]));
      return;
    }
    submitting = true;
    tick();
    if (secondsInput) secondsInput.value = String(Math.round(seconds));
    setStatus(S.sending || "");
    form.submit();
  }

  form.addEventListener("submit", function () {
    tick();
    if (secondsInput) secondsInput.value = String(Math.round(seconds));
    submitting = true;
  });

  // A click or Tab into a group makes it the highlighted one.
  groups.forEach(function (g, i) {
    g.addEventListener("focusin", function () { highlight(i, false); });
    g.addEventListener("change", function () {
      g.classList.remove("has-error");
      if (!missing().length) setStatus(S.answered || "");
    });
  });

  function ownTarget(target) {
    if (!target || target === document.body || target === document.documentElement) return true;
    if (form.contains(target)) return target.tagName !== "BUTTON" || target.type !== "submit";
    return /^(response-left-text|response-right-text)$/.test(target.id || "");
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable) return true;
    if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    if (target.tagName === "INPUT") {
      return !/^(checkbox|radio|button|submit|reset|hidden)$/i.test(target.type);
    }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    if (typing(target)) return;
    const key = event.key;
    if (key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (!ownTarget(target)) return; // a link or a button elsewhere keeps its own keys
    const onRadio = target && target.type === "radio";
    if (Object.prototype.hasOwnProperty.call(KEYS, key)) {
      event.preventDefault();
      if (onRadio) highlight(groups.indexOf(target.closest("fieldset")), false);
      choose(KEYS[key]);
    } else if (key === "Enter") {
      event.preventDefault();
      submit();
    } else if (onRadio && /^Arrow/.test(key)) {
      // Arrows on a radio button move within its group, as browsers do.
    } else if (key === "Backspace" || key === "ArrowUp" || key === "ArrowLeft") {
      event.preventDefault();
      highlight(current - 1);
    } else if (key === "ArrowDown" || key === "ArrowRight") {
      event.preventDefault();
      highlight(current + 1);
    }
  });

  // Start on the first criterion not answered yet (all answered: the last one).
  const open = missing();
  highlight(open.length ? groups.indexOf(open[0]) : groups.length - 1);
  document.documentElement.dataset.arenaReady = "1";
})();
