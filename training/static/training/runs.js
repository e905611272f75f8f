// Training pages.
// - Charts: each metric of one or two runs as a line in an inline SVG (no chart library). The
//   data comes from a JSON <script>; while a run is active its metrics URL is polled every 2 s
//   with ?after=<last step> and the new points are appended, without a reload.
// - The new-run form: the DPO and LoRA settings show only where they apply, and the learning
//   rate follows the kind while it still holds the other kind's default.
// - The log keeps its scroll position (or stays at the end) when htmx refreshes it.
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var W = 440, H = 210, LEFT = 58, RIGHT = 12, TOP = 10, BOTTOM = 28;
  var POLL_MS = 2000, RETRY_MS = 5000, MAX_POINTS = 1500;

  function node(name, attrs, text) {
    var el = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { el.setAttribute(key, attrs[key]); });
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // A value for a sentence: four significant digits.
  function fmt(v) {
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) return v.toExponential(3);
    return String(+v.toPrecision(4));
  }

  // An axis label: enough digits to tell ticks ``gap`` apart.
  function tick(v, gap) {
    if (v === 0 || !(gap > 0)) return v === 0 ? "0" : fmt(v);
    var a = Math.abs(v);
    if (a >= 1e5 || (a < 1e-3 && gap < 1e-3)) {
      var digits = Math.max(1, Math.min(6, Math.ceil(Math.log10(a / gap)) + 1));
      return v.toExponential(digits);
    }
    return v.toFixed(Math.max(0, Math.min(8, Math.ceil(-Math.log10(gap)) + 1)));
  }

  function interpolate(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_m, key) { return values[key]; });
  }

  // One run's columns, grown as new steps arrive.
  function Series(run) {
    this.run = run;
    this.steps = [];
    this.values = {};
    this.add(run.data);
  }
  Series.prototype.lastStep = function () {
    return this.steps.length ? this.steps[this.steps.length - 1] : 0;
  };
  Series.prototype.add = function (data) {
    if (!data || !data.steps) return 0;
    var self = this, added = 0, last = this.lastStep();
    data.steps.forEach(function (step, i) {
      if (step <= last) return;  // already here (a late answer to an earlier poll)
      var row = self.steps.length;
      self.steps.push(step);
      Object.keys(data.series || {}).forEach(function (name) {
        if (!self.values[name]) self.values[name] = [];
        var column = self.values[name];
        while (column.length < row) column.push(null);
        column.push(data.series[name][i]);
      });
      added += 1;
    });
    return added;
  };
  Series.prototype.points = function (metric) {
    var column = this.values[metric] || [], out = [];
    for (var i = 0; i < this.steps.length; i++) {
      var v = column[i];
      if (typeof v === "number" && isFinite(v)) out.push([this.steps[i], v]);
    }
    if (out.length > MAX_POINTS) {  // thin out long runs (keep the last point)
      var every = Math.ceil(out.length / MAX_POINTS), thin = [];
      for (var k = 0; k < out.length; k += every) thin.push(out[k]);
      if (thin[thin.length - 1] !== out[out.length - 1]) thin.push(out[out.length - 1]);
      out = thin;
    }
    return out;
  };

  function draw(figure, chart, all, text) {
    var box = figure.querySelector(".chart-box");
    var lastLine = figure.querySelector(".chart-last");
    var lines = all.map(function (s) { return { series: s, points: s.points(chart.metric) }; });
    var pts = [];
    lines.forEach(function (l) { pts = pts.concat(l.points); });
    var titleId = chart.id + "-title";
    var svg = node("svg", {
      viewBox: "0 0 " + W + " " + H, role: "img", "aria-labelledby": titleId,
      preserveAspectRatio: "xMidYMid meet",
    });
    svg.appendChild(node("title", { id: titleId }, chart.label));
    var x0 = LEFT, x1 = W - RIGHT, y0 = H - BOTTOM, y1 = TOP;
    svg.appendChild(node("line", { class: "axis", x1: x0, y1: y0, x2: x1, y2: y0 }));
    svg.appendChild(node("line", { class: "axis", x1: x0, y1: y0, x2: x0, y2: y1 }));
    if (!pts.length) {
      svg.appendChild(node("text", { class: "empty", x: (x0 + x1) / 2, y: (y0 + y1) / 2, "text-anchor": "middle" }, text.empty));
      box.replaceChildren(svg);
      lastLine.textContent = "";
      return;
    }
    var sMin = Infinity, sMax = -Infinity, vMin = Infinity, vMax = -Infinity;
    pts.forEach(function (p) {
      sMin = Math.min(sMin, p[0]); sMax = Math.max(sMax, p[0]);
      vMin = Math.min(vMin, p[1]); vMax = Math.max(vMax, p[1]);
    });
    if (sMax === sMin) { sMin -= 1; sMax += 1; }
    if (vMax === vMin) {
      var pad = Math.abs(vMin) * 0.1 || 1;
      vMin -= pad; vMax += pad;
    } else {
      var margin = (vMax - vMin) * 0.05;
      // Values that are never negative (learning rate, accuracy) get no axis below 0.
      vMin = vMin >= 0 ? Math.max(0, vMin - margin) : vMin - margin;
      vMax += margin;
    }
    function sx(s) { return x0 + (s - sMin) / (sMax - sMin) * (x1 - x0); }
    function sy(v) { return y0 - (v - vMin) / (vMax - vMin) * (y0 - y1); }
    [0, 0.5, 1].forEach(function (f) {
      var v = vMin + f * (vMax - vMin), y = sy(v);
      if (f > 0) svg.appendChild(node("line", { class: "grid", x1: x0, y1: y, x2: x1, y2: y }));
      svg.appendChild(node("text", { class: "tick", x: x0 - 4, y: y + 3, "text-anchor": "end" }, tick(v, (vMax - vMin) / 2)));
      var s = sMin + f * (sMax - sMin);
      var anchor = f === 0 ? "start" : (f === 1 ? "end" : "middle");
      svg.appendChild(node("text", { class: "tick", x: sx(s), y: y0 + 14, "text-anchor": anchor }, String(Math.round(s))));
    });
    svg.appendChild(node("text", { class: "tick", x: (x0 + x1) / 2, y: H - 2, "text-anchor": "middle" }, text.step));
    var words = [];
    lines.forEach(function (l) {
      var colour = "series-" + l.series.run.colour;
      if (!l.points.length) return;
      if (l.points.length === 1) {
        svg.appendChild(node("circle", { class: "dot " + colour, cx: sx(l.points[0][0]), cy: sy(l.points[0][1]), r: 3 }));
      } else {
        var d = l.points.map(function (p) { return sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1); }).join(" ");
        svg.appendChild(node("polyline", { class: "line " + colour, points: d }));
      }
      var last = l.points[l.points.length - 1];
      var sentence = interpolate(text.last, { value: fmt(last[1]), step: last[0] });
      words.push(all.length > 1 ? l.series.run.label + ": " + sentence : sentence);
    });
    box.replaceChildren(svg);
    lastLine.textContent = words.join(" ");
  }

  function initCharts(container) {
    var source = document.getElementById(container.dataset.runCharts);
    if (!source) return;
    var config = JSON.parse(source.textContent);
    var all = config.runs.map(function (run) { return new Series(run); });
    function redraw() {
      config.charts.forEach(function (chart) {
        var figure = document.getElementById(chart.id);
        if (figure) draw(figure, chart, all, config.text);
      });
    }
    function poll(series) {
      var url = series.run.url + "?after=" + encodeURIComponent(series.lastStep());
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (data) {
          if (series.add(data)) redraw();
          series.run.active = data.active;
          if (data.active) window.setTimeout(function () { poll(series); }, POLL_MS);
        })
        .catch(function () { window.setTimeout(function () { poll(series); }, RETRY_MS); });
    }
    redraw();
    all.forEach(function (series) {
      if (series.run.active && series.run.url) window.setTimeout(function () { poll(series); }, POLL_MS);
    });
  }

  // --- The new-run form ---------------------------------------------------------------------

  function initForm(form) {
    var rates = {};
    var source = document.getElementById("run-learning-rates");
    if (source) rates = JSON.parse(source.textContent);
    var rate = form.querySelector("input[name=learning_rate]");
    var method = form.querySelector("select[name=method]");
    var kind = null;
    function checkedKind() {
      var checked = form.querySelector("input[name=kind]:checked");
      return checked ? checked.value : null;
    }
    function sync() {
      var now = checkedKind();
      var dpo = form.querySelector("fieldset[data-group=dpo]");
      if (dpo) dpo.hidden = now === "sft";
      var lora = form.querySelector("fieldset[data-group=lora]");
      if (lora && method) lora.hidden = method.value === "full";
      if (rate && kind && now && kind !== now && rates[kind] !== undefined && rates[now] !== undefined) {
        if (rate.value !== "" && parseFloat(rate.value) === rates[kind]) rate.value = String(rates[now]);
      }
      kind = now;
    }
    kind = checkedKind();
    sync();
    form.addEventListener("change", function (event) {
      if (event.target && (event.target.name === "kind" || event.target.name === "method")) sync();
    });
  }

  // --- The log keeps its place across htmx refreshes ---------------------------------------

  var logState = null;
  document.addEventListener("htmx:beforeSwap", function () {
    var log = document.getElementById("run-log");
    logState = log ? {
      top: log.scrollTop,
      pinned: log.scrollTop + log.clientHeight >= log.scrollHeight - 4,
    } : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    var log = document.getElementById("run-log");
    if (!log) return;
    if (!logState || logState.pinned) log.scrollTop = log.scrollHeight;
    else log.scrollTop = logState.top;
  });

  function init() {
    document.querySelectorAll("[data-run-charts]").forEach(initCharts);
    var form = document.getElementById("run-form");
    if (form) initForm(form);
    var log = document.getElementById("run-log");
    if (log) log.scrollTop = log.scrollHeight;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
