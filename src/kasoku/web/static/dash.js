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

  /* Text and attribute values into SVG markup. */
  function esc(v) {
    return String(v).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
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

  /* One SVG built as markup and parsed once (far cheaper than a DOM call per bar or cell). */
  function svgInto(box, width, height, body) {
    box.innerHTML = '<svg xmlns="' + SVG + '" viewBox="0 0 ' + width + " " + height + '" role="img" aria-label="' +
      esc(box.getAttribute("aria-label")) + '">' + body + "</svg>";
  }

  function drawBars(box, rows, tableId, boxWidth) {
    var links = tableLinks(tableId);
    var rowH = 26, width = Math.max(360, boxWidth || 640), labelW = Math.round(width * 0.45);
    var max = Math.max.apply(null, rows.map(function (r) { return r.play_count; }).concat([1]));
    var room = Math.floor(labelW / 7.2), out = [];
    rows.forEach(function (r, i) {
      var y = i * rowH;
      var label = (i + 1) + ". " + labelOf(r);
      if (label.length > room) { label = label.slice(0, room - 1) + "…"; }
      var text = '<text x="0" y="' + (y + 17) + '">' + esc(label) + "</text>";
      out.push(links[i] ? '<a href="' + esc(links[i]) + '">' + text + "</a>" : text);
      var w = Math.max(2, (width - labelW - 130) * r.play_count / max);
      out.push('<rect x="' + labelW + '" y="' + (y + 5) + '" width="' + w.toFixed(1) + '" height="' + (rowH - 10) +
               '" rx="3" class="bar"><title>' + esc(labelOf(r) + ": " + fmt(r.play_count) + " plays, " +
               fmt(r.total_minutes) + " min") + "</title></rect>");
      out.push('<text x="' + (labelW + w + 6).toFixed(1) + '" y="' + (y + 17) + '" class="bar-label">' +
               esc(fmt(r.play_count) + " · " + fmt(r.total_minutes) + " min") + "</text>");
    });
    svgInto(box, width, Math.max(rowH, rows.length * rowH), out.join(""));
  }

  function drawHeatmap(box, rows) {
    var cell = 22, left = 40, top = 18, out = [];
    var grid = {}, max = 1;
    rows.forEach(function (r) { grid[r.weekday + ":" + r.hour] = r; max = Math.max(max, r.play_count); });
    for (var h = 0; h < 24; h += 3) { out.push('<text x="' + (left + h * cell + 3) + '" y="12">' + h + "</text>"); }
    for (var d = 1; d <= 7; d++) {
      out.push('<text x="0" y="' + (top + (d - 1) * cell + 15) + '">' + DAYS[d - 1] + "</text>");
      for (h = 0; h < 24; h++) {
        var r = grid[d + ":" + h];
        var count = r ? r.play_count : 0;
        out.push('<rect x="' + (left + h * cell) + '" y="' + (top + (d - 1) * cell) + '" width="' + (cell - 2) +
                 '" height="' + (cell - 2) + '" rx="3" class="' + (count ? "bar" : "cell-empty") + '" fill-opacity="' +
                 (count ? (0.12 + 0.88 * count / max).toFixed(3) : 1) + '"><title>' + DAYS[d - 1] + " " + h + ":00 — " +
                 fmt(count) + " plays</title></rect>");
      }
    }
    svgInto(box, left + 24 * cell + 4, top + 7 * cell + 4, out.join(""));
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

  /* The Table button: the card shows its chart or its table (class show-table; CSS does the rest). */
  function setupToggle(id, box) {
    var button = document.querySelector('button.toggle[data-for="' + id + '"]');
    var card = box.closest(".fig");
    if (!button || !card) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var showTable = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-pressed", String(showTable));
      card.classList.toggle("show-table", showTable);
    });
  }

  /* Time zone suggestions: the browser's own list, filled in when the field is first used
   * (the server accepts any IANA name; without the script the field is plain text). */
  function zoneSuggestions() {
    var input = document.querySelector("input[list='zones']");
    if (!input || !Intl.supportedValuesOf) { return; }
    input.addEventListener("focus", function () {
      var list = document.getElementById("zones");
      if (!list || list.options.length) { return; }
      list.innerHTML = Intl.supportedValuesOf("timeZone").map(function (z) {
        return '<option value="' + esc(z) + '">';
      }).join("");
    }, { once: true });
  }

  /* Fetch every chart's data at once, then draw them in one pass: all widths are read
   * after all boxes are shown (one layout), all drawing writes come after, so the page is
   * laid out twice in all instead of twice per chart. */
  function drawAll() {
    var boxes = Array.prototype.slice.call(document.querySelectorAll(".chart[data-src]"));
    var jobs = boxes.map(function (box) {
      return api(box.dataset.src).then(function (body) { return body.data || []; }, function (err) {
        box.dataset.error = String(err && err.message || err);  // the table stays: the page is still complete
        var card = box.closest(".fig");
        if (card) { card.classList.add("no-chart"); }
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
      ready.forEach(function (box) { setupToggle(box.id.replace(/^chart-/, ""), box); });
      window.kasokuReadyAt = performance.now();  // benchmarks: page fully loaded, every chart's data in
      document.documentElement.dataset.ready = "1";  // tests and benchmarks wait for this
      window.dispatchEvent(new Event("kasoku:ready"));
    });
  }

  function start() { drawAll(); zoneSuggestions(); }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
