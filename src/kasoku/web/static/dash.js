/* kasoku dashboard: draws the charts of a server-rendered page from kasoku's own JSON routes.
 * Every chart names the API URL it draws (data-src): the page is a client of the API, so a
 * view costs cache hits, and the figures are the API's. The server-rendered table stays the
 * text alternative (a toggle shows it); with JavaScript off, the tables are the page.
 * No build step, no framework: uPlot (vendored) for time series, plain SVG for the rest. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

  /* The one place the page's requests get their credentials (see kasoku/web/auth.py):
   * same-origin cookies, so a cookie sign-in authenticates these reads too. */
  function api(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error(url + " answered " + r.status); }
      return r.json();
    });
  }

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function fmt(n, digits) {
    return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits || 0 });
  }

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#5b4bd6";
  }

  function labelOf(row) {
    if (row.track_name !== undefined) { return row.track_name + " — " + row.artist; }
    if (row.album !== undefined) { return row.album + " — " + row.artist; }
    if (row.genre !== undefined) { return row.genre; }
    return row.artist;
  }

  /* The links of the server-rendered table, row by row: labels link where the table does. */
  function tableLinks(tableId) {
    var table = document.getElementById(tableId);
    if (!table) { return []; }
    return Array.prototype.map.call(table.tBodies[0].rows, function (tr) {
      var a = tr.querySelector("a");
      return a ? a.getAttribute("href") : null;
    });
  }

  function drawBars(box, rows, tableId, boxWidth) {
    var links = tableLinks(tableId);
    var rowH = 26, width = Math.max(360, boxWidth || 640), labelW = Math.round(width * 0.45);
    var svg = el("svg", { viewBox: "0 0 " + width + " " + Math.max(rowH, rows.length * rowH), role: "img",
                          "aria-label": box.getAttribute("aria-label") });
    var max = Math.max.apply(null, rows.map(function (r) { return r.play_count; }).concat([1]));
    rows.forEach(function (r, i) {
      var y = i * rowH;
      var label = (i + 1) + ". " + labelOf(r);
      var room = Math.floor(labelW / 7.2);
      if (label.length > room) { label = label.slice(0, room - 1) + "…"; }
      var parent = svg;
      if (links[i]) { parent = el("a", { href: links[i] }, svg); }
      var text = el("text", { x: 0, y: y + 17 }, parent);
      text.textContent = label;
      var w = Math.max(2, (width - labelW - 130) * r.play_count / max);
      var bar = el("rect", { x: labelW, y: y + 5, width: w, height: rowH - 10, rx: 3, "class": "bar" }, svg);
      el("title", {}, bar).textContent = labelOf(r) + ": " + fmt(r.play_count) + " plays, " + fmt(r.total_minutes) + " min";
      var value = el("text", { x: labelW + w + 6, y: y + 17, "class": "bar-label" }, svg);
      value.textContent = fmt(r.play_count) + " · " + fmt(r.total_minutes) + " min";
    });
    box.appendChild(svg);
  }

  function drawHeatmap(box, rows) {
    var cell = 22, left = 40, top = 18;
    var svg = el("svg", { viewBox: "0 0 " + (left + 24 * cell + 4) + " " + (top + 7 * cell + 4), role: "img",
                          "aria-label": box.getAttribute("aria-label") });
    var grid = {}, max = 1;
    rows.forEach(function (r) { grid[r.weekday + ":" + r.hour] = r; max = Math.max(max, r.play_count); });
    for (var h = 0; h < 24; h += 3) { el("text", { x: left + h * cell + 3, y: 12 }, svg).textContent = h; }
    for (var d = 1; d <= 7; d++) {
      el("text", { x: 0, y: top + (d - 1) * cell + 15 }, svg).textContent = DAYS[d - 1];
      for (h = 0; h < 24; h++) {
        var r = grid[d + ":" + h];
        var count = r ? r.play_count : 0;
        var rect = el("rect", { x: left + h * cell, y: top + (d - 1) * cell, width: cell - 2, height: cell - 2, rx: 3,
                                "class": count ? "bar" : "cell-empty", "fill-opacity": count ? (0.12 + 0.88 * count / max).toFixed(3) : 1 }, svg);
        el("title", {}, rect).textContent = DAYS[d - 1] + " " + h + ":00 — " + fmt(count) + " plays";
      }
    }
    box.appendChild(svg);
  }

  /* "2026-03-04", "2026-W09" (ISO week: its Monday) or "2026-03" → Unix seconds (UTC). */
  function periodStart(p) {
    var week = /^(\d{4})-W(\d{2})$/.exec(p);
    if (week) {
      var jan4 = Date.UTC(+week[1], 0, 4);
      var monday = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * 864e5;
      return (monday + (+week[2] - 1) * 7 * 864e5) / 1000;
    }
    var parts = p.split("-");
    return Date.UTC(+parts[0], +parts[1] - 1, parts[2] ? +parts[2] : 1) / 1000;
  }

  function drawTimeline(box, rows, tableId, boxWidth) {
    var xs = rows.map(function (r) { return periodStart(r.period); });
    var ys = rows.map(function (r) { return Math.round(r.total_ms / 600) / 100; });
    var accent = css("--accent"), fg = css("--fg"), line = css("--line");
    var pad = xs.length > 1 ? (xs[xs.length - 1] - xs[0]) / (xs.length - 1) / 2 : 43200;  // half a bar each side
    var axis = { stroke: fg, grid: { stroke: line, width: 1 }, ticks: { stroke: line } };
    var opts = {
      width: Math.max(280, boxWidth || 600), height: 240,
      scales: { x: { time: true, range: function (u, min, max) { return [min - pad, max + pad]; } }, y: { range: function (u, min, max) { return [0, Math.max(1, max) * 1.05]; } } },
      legend: { show: true },
      axes: [axis, Object.assign({}, axis, { label: "minutes", size: 60 })],
      series: [{ label: "period", value: function (u, v) { return v == null ? "–" : rows[xs.indexOf(v)].period; } },
               { label: "minutes", stroke: accent, fill: accent + "55", width: 1,
                 value: function (u, v) { return v == null ? "–" : fmt(v); },
                 paths: uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 40] }) : undefined,
                 points: { show: false } }]
    };
    var plot = new uPlot(opts, [xs, ys], box);
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { plot.setSize({ width: Math.max(280, box.clientWidth), height: 240 }); }, 150);
    });
  }

  var DRAW = { bars: drawBars, heatmap: drawHeatmap, timeline: drawTimeline };

  function setupToggle(id, box, table) {
    var button = document.querySelector('button.toggle[data-for="' + id + '"]');
    if (!button || !table) { return; }
    var wrap = table.parentElement.classList.contains("scroll") ? table.parentElement : table;
    button.hidden = false;
    wrap.hidden = true;
    button.addEventListener("click", function () {
      var showTable = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", String(showTable));
      wrap.hidden = !showTable;
      box.hidden = showTable;
    });
  }

  /* Fetch every chart's data at once, then draw them in one pass: all widths are read
   * after all boxes are shown (one layout), all drawing writes come after, so the page is
   * laid out twice in all instead of twice per chart. */
  function drawAll() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll(".chart[data-src]"));
    var jobs = boxes.map(function (box) {
      return api(box.dataset.src).then(function (body) { return body.data || []; }, function (err) {
        box.dataset.error = String(err && err.message || err);  // the table stays: the page is still complete
        return null;
      });
    });
    Promise.all(jobs).then(function (results) {
      var ready = boxes.filter(function (box, i) { return results[i] !== null; });
      ready.forEach(function (box) { box.hidden = false; });
      var widths = ready.map(function (box) { return box.clientWidth; });
      ready.forEach(function (box, k) {
        var rows = results[boxes.indexOf(box)];
        var t0 = performance.now();
        DRAW[box.dataset.chart](box, rows, box.dataset.table, widths[k]);
        box.dataset.drawMs = (performance.now() - t0).toFixed(1);
        box.dataset.drawn = String(rows.length);
      });
      ready.forEach(function (box) {
        setupToggle(box.id.replace(/^chart-/, ""), box, document.getElementById(box.dataset.table));
      });
      window.kasokuReadyAt = performance.now();  // benchmarks: page fully loaded, every chart's data in
      document.documentElement.dataset.ready = "1";  // tests and benchmarks wait for this
      window.dispatchEvent(new Event("kasoku:ready"));
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", drawAll); }
  else { drawAll(); }
})();
