// The review screen. Keyboard: a accept; r reject (1-9 tick reasons, c comment, Enter submits);
// e edit the rejected response (Ctrl+Enter saves the edit and accepts, Esc leaves the text box);
// s skip; n next pair (once decided); ? shows or hides the list of keys. No shortcut fires while
// typing in a text box, except Ctrl+Enter and Esc.
// What the reviewer types is saved as a draft on the server (debounced) and on this device, so a
// dropped connection loses nothing: the device's copy is sent again once back online, and
// restored on load when the server never confirmed it. Active seconds (page visible and focused)
// go with every draft and with the decision. Without script the page is plain HTML forms.
(function () {
  "use strict";

  const configNode = document.getElementById("review-config");
  if (!configNode) return;
  const cfg = JSON.parse(configNode.textContent);
  const S = cfg.strings || {};
  const PREFIX = "weaver.review.draft.";
  const STORE_KEY = PREFIX + cfg.reviewId;
  const HELP_KEY = "weaver.review.help";
  const KEEP_MS = 14 * 24 * 3600 * 1000;
  const SAVE_DELAY = 500;
  const DIFF_DELAY = 300;
  const RETRY_MS = 10000;

  const help = document.getElementById("shortcut-list");
  const form = document.getElementById("review-form");

  function typing(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable) return true;
    if (target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
    if (target.tagName === "INPUT") {
      return !/^(checkbox|radio|button|submit|reset|hidden|image|range|color|file)$/i.test(target.type);
    }
    return false;
  }

  function storage() {
    try {
      return window.localStorage;
    } catch (e) {
      return null;
    }
  }

  function readLocal() {
    const s = storage();
    if (!s) return null;
    try {
      return JSON.parse(s.getItem(STORE_KEY) || "null");
    } catch (e) {
      return null;
    }
  }

  function writeLocal(entry) {
    const s = storage();
    if (!s) return;
    try {
      s.setItem(STORE_KEY, JSON.stringify(entry));
    } catch (e) {
      /* full or disabled: the server copy is all there is */
    }
  }

  function dropLocal() {
    const s = storage();
    if (s) s.removeItem(STORE_KEY);
  }

  function pruneLocal() {
    const s = storage();
    if (!s) return;
    const now = Date.now();
    for (let i = s.length - 1; i >= 0; i--) {
      const key = s.key(i);
      if (!key || key.indexOf(PREFIX) !== 0 || key === STORE_KEY) continue;
      try {
        const entry = JSON.parse(s.getItem(key) || "null");
        if (!entry || !entry.at || now - entry.at > KEEP_MS) s.removeItem(key);
      } catch (e) {
        s.removeItem(key);
      }
    }
  }

  function toggleHelp() {
    if (!help) return;
    help.hidden = !help.hidden;
    const s = storage();
    if (s) s.setItem(HELP_KEY, help.hidden ? "hidden" : "shown");
  }

  (function restoreHelp() {
    const s = storage();
    if (help && s && s.getItem(HELP_KEY) === "hidden") help.hidden = true;
  })();

  function goNext() {
    const link = document.getElementById("next-pair");
    if (!link) return false;
    window.location.assign(link.href);
    return true;
  }

  pruneLocal();

  // --- Read-only: a submitted or skipped review ------------------------------------------
  if (!form) {
    dropLocal();
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
      if (typing(event.target)) return;
      if (event.key === "n" && goNext()) event.preventDefault();
      else if (event.key === "?") {
        event.preventDefault();
        toggleHelp();
      }
    });
    document.documentElement.dataset.reviewReady = String(cfg.reviewId);
    return;
  }

  // --- The decision form -----------------------------------------------------------------
  form.classList.add("js");
  const box = document.getElementById("decision");
  const status = document.getElementById("draft-status");
  const textarea = document.getElementById("id_edited_rejected");
  const comment = document.getElementById("id_comment");
  const secondsInput = document.getElementById("active-seconds");
  const editDiff = document.getElementById("edit-diff");
  const skipForm = document.getElementById("skip-form");
  const reasons = Array.prototype.slice.call(form.querySelectorAll('input[name="reasons"]'));
  const panels = {
    reject: document.getElementById("reject-panel"),
    edit: document.getElementById("edit-panel"),
  };
  const toggles = {
    reject: document.getElementById("reject-toggle"),
    edit: document.getElementById("edit-toggle"),
  };
  const csrfInput = form.querySelector('input[name="csrfmiddlewaretoken"]');
  const csrf = csrfInput ? csrfInput.value : "";
  const rejected = typeof cfg.rejected === "string" ? cfg.rejected : textarea.value;
  const noChange = editDiff ? editDiff.querySelector(".muted") : null;
  const noChangeHtml = noChange ? noChange.outerHTML : "";

  let decision = "";
  let seconds = 0;
  let savedSeconds = 0;
  let submitting = false;
  let saveTimer = null;
  let diffTimer = null;
  let inFlight = false;
  let sendAgain = false;
  let pending = false;

  function setStatus(kind, text) {
    if (!status) return;
    status.textContent = text || S[kind] || "";
    status.className = "draft-status " + kind;
  }

  function setDecision(value) {
    decision = value || "";
    form.dataset.decision = decision;
    Object.keys(panels).forEach(function (name) {
      const open = name === decision;
      if (panels[name]) panels[name].classList.toggle("open", open);
      if (toggles[name]) toggles[name].setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  function current() {
    const edited = textarea.value;
    return {
      decision: decision,
      reasons: reasons.filter(function (b) { return b.checked; }).map(function (b) { return b.value; }),
      comment: comment.value,
      edited_rejected: edited === rejected ? "" : edited,
      active_seconds: Math.round(seconds),
    };
  }

  function sameDraft(a, b) {
    function key(d) {
      d = d || {};
      return JSON.stringify([
        d.decision || "",
        (d.reasons || []).slice().sort(),
        d.comment || "",
        d.edited_rejected || "",
      ]);
    }
    return key(a) === key(b);
  }

  function apply(draft) {
    draft = draft || {};
    const ticked = draft.reasons || [];
    reasons.forEach(function (b) { b.checked = ticked.indexOf(b.value) !== -1; });
    comment.value = draft.comment || "";
    textarea.value = draft.edited_rejected || rejected;
    setDecision(draft.decision || "");
    seconds = Math.max(seconds, Number(draft.active_seconds) || 0);
    showEditDiff();
  }

  // --- Saving ----------------------------------------------------------------------------

  function firstError(body) {
    const errors = (body && body.errors) || {};
    for (const field in errors) {
      if (errors[field] && errors[field].length) return errors[field][0];
    }
    return "";
  }

  function send(options) {
    if (saveTimer) {
      clearTimeout(saveTimer);
      saveTimer = null;
    }
    if (!cfg.editable || submitting) return;
    if (inFlight) {
      sendAgain = true;
      return;
    }
    const draft = current();
    inFlight = true;
    setStatus("saving");
    fetch(cfg.draftUrl, {
      method: "POST",
      credentials: "same-origin",
      keepalive: !!(options && options.keepalive),
      headers: {
        "Content-Type": "application/json",
        "X-CSRFToken": csrf,
        "X-Requested-With": "XMLHttpRequest",
      },
      body: JSON.stringify(draft),
    })
      .then(function (resp) {
        return resp.json().then(
          function (body) { return { resp: resp, body: body }; },
          function () { return { resp: resp, body: {} }; }
        );
      })
      .then(function (result) {
        const stillCurrent = sameDraft(draft, current());
        if (result.resp.ok) {
          savedSeconds = draft.active_seconds;
          if (stillCurrent && !sendAgain && !saveTimer) {
            pending = false;
            writeLocal({ draft: current(), pending: false, at: Date.now() });
            setStatus("saved");
          }
        } else if (result.resp.status >= 500) {
          setStatus("offline");
        } else {
          // Refused (invalid, already submitted, gone): sending it again will not help.
          pending = false;
          writeLocal({ draft: draft, pending: false, at: Date.now() });
          const message = firstError(result.body);
          setStatus("error", (S.notSaved || "") + (message ? ": " + message : ""));
        }
      })
      .catch(function () {
        setStatus("offline");
      })
      .then(function () {
        inFlight = false;
        if (sendAgain) {
          sendAgain = false;
          send();
        }
      });
  }

  function changed() {
    if (!cfg.editable || submitting) return;
    pending = true;
    writeLocal({ draft: current(), pending: true, at: Date.now() });
    setStatus("saving");
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = setTimeout(send, SAVE_DELAY);
  }

  window.addEventListener("online", function () {
    if (pending) send();
  });
  setInterval(function () {
    if (pending && !saveTimer && !inFlight && navigator.onLine !== false) send();
  }, RETRY_MS);

  function flush() {
    if (submitting || !cfg.editable) return;
    if (pending || Math.round(seconds) > savedSeconds + 5) send({ keepalive: true });
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush();
  });
  window.addEventListener("pagehide", flush);

  // --- Time spent: seconds while the page is visible and focused ---------------------------
  setInterval(function () {
    if (submitting) return;
    if (document.visibilityState === "visible" && document.hasFocus()) {
      seconds += 1;
      secondsInput.value = String(Math.round(seconds));
    }
  }, 1000);

  // --- The live diff of the edit (the server's word/character diff, escaped there) --------

  function showEditDiff() {
    if (!editDiff) return;
    if (diffTimer) clearTimeout(diffTimer);
    if (textarea.value === rejected) {
      editDiff.innerHTML = noChangeHtml;
      return;
    }
    diffTimer = setTimeout(function () {
      const body = new FormData();
      body.append("following_text", rejected);
      body.append("violating_text", textarea.value);
      fetch(cfg.diffUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrf },
        body: body,
      })
        .then(function (resp) { return resp.ok ? resp.text() : null; })
        .then(function (html) {
          if (html !== null && textarea.value !== rejected) editDiff.innerHTML = html;
        })
        .catch(function () { /* offline: the diff waits for the next keystroke */ });
    }, DIFF_DELAY);
  }

  // --- Submitting ------------------------------------------------------------------------

  function submitAs(value) {
    if (submitting) return;
    const button = form.querySelector('button[name="decision"][value="' + value + '"]');
    if (!button) return;
    if (value !== "accept") setDecision(value);
    if (typeof form.requestSubmit === "function") form.requestSubmit(button);
    else button.click();
  }

  function submitted() {
    submitting = true;
    if (saveTimer) clearTimeout(saveTimer);
    dropLocal();
  }

  form.addEventListener("submit", function () {
    secondsInput.value = String(Math.round(seconds));
    submitted();
  });
  if (skipForm) skipForm.addEventListener("submit", submitted);

  // --- Restore: the server's draft, or this device's copy the server never confirmed -------
  (function restore() {
    const server = cfg.draft || {};
    const local = readLocal();
    if (
      cfg.editable && !cfg.posted && local && local.pending && local.draft &&
      !sameDraft(local.draft, server)
    ) {
      seconds = Number(server.active_seconds) || 0;
      apply(local.draft);
      pending = true;
      setStatus("restored");
      send();
    } else {
      apply(server);
      savedSeconds = Number(server.active_seconds) || 0;
      if (cfg.editable) writeLocal({ draft: current(), pending: false, at: Date.now() });
    }
    secondsInput.value = String(Math.round(seconds));
  })();

  // --- Events ----------------------------------------------------------------------------

  reasons.forEach(function (b) {
    b.addEventListener("change", function () {
      if (b.checked && decision !== "reject") setDecision("reject");
      changed();
    });
  });
  comment.addEventListener("input", changed);
  textarea.addEventListener("input", function () {
    if (decision !== "edit") setDecision("edit");
    changed();
    showEditDiff();
  });
  Object.keys(toggles).forEach(function (name) {
    if (!toggles[name]) return;
    toggles[name].addEventListener("click", function () {
      setDecision(decision === name ? "" : name);
      changed();
      if (decision === "edit") textarea.focus();
    });
  });

  document.addEventListener("keydown", function (event) {
    if (submitting || event.isComposing) return;
    const key = event.key;
    const target = event.target;
    const ctrl = event.ctrlKey || event.metaKey;
    if (typing(target)) {
      if (!form.contains(target)) return;
      if (key === "Enter" && ctrl) {
        event.preventDefault();
        if (target === textarea) submitAs("edit");
        else if (decision === "reject" || decision === "edit") submitAs(decision);
      } else if (key === "Escape") {
        event.preventDefault();
        target.blur();
        box.focus();
      }
      return;
    }
    if (event.altKey) return;
    if (key === "Enter") {
      if (/^(BUTTON|A|SUMMARY)$/.test(target && target.tagName)) return; // they act themselves
      if (decision === "reject" || decision === "edit") {
        event.preventDefault();
        submitAs(decision);
      }
      return;
    }
    if (ctrl || event.repeat) return;
    switch (key) {
      case "a":
        submitAs("accept");
        break;
      case "r":
        setDecision("reject");
        changed();
        if (panels.reject) panels.reject.scrollIntoView({ block: "nearest" });
        break;
      case "e":
        setDecision("edit");
        changed();
        textarea.focus();
        break;
      case "c":
        comment.focus();
        break;
      case "s":
        if (!skipForm) return;
        if (typeof skipForm.requestSubmit === "function") skipForm.requestSubmit();
        else skipForm.submit();
        break;
      case "n":
        if (!goNext()) return;
        break;
      case "?":
        toggleHelp();
        break;
      default: {
        if (!/^[1-9]$/.test(key)) return;
        const reason = reasons.filter(function (b) { return b.dataset.key === key; })[0];
        if (!reason) return;
        if (decision !== "reject") setDecision("reject");
        reason.checked = !reason.checked;
        changed();
      }
    }
    event.preventDefault();
  });

  document.documentElement.dataset.reviewReady = String(cfg.reviewId);
})();
