/* eventcart console: the little the server-rendered pages need in the browser.
 * - the search box's autocomplete, a WAI-ARIA combobox with a listbox popup
 *   (arrow keys move, Enter picks or searches, Escape closes);
 * - the price chart (Chart.js), drawn from the JSON the server put on the canvas,
 *   its planned part (points flagged "planned") set apart: dotted, lighter, hollow,
 *   on a grey area right of a "now" line labelled "planned";
 * - the search round-trip as the page sees it (data-search-ms on <body>), for the
 *   latency benchmark and the browser test;
 * - starting the live pages (live.js: the change stream and the pushed operations panel).
 * No inline script anywhere: the pages' Content-Security-Policy forbids it. */
(function () {
  "use strict";

  function combobox() {
    var input = document.getElementById("q");
    var list = document.getElementById("suggestions");
    if (!input || !list) return;
    var active = -1;
    var activeValue = null;

    function options() { return Array.prototype.slice.call(list.querySelectorAll('[role="option"]')); }
    function setActive(index) {
      var opts = options();
      activeValue = index >= 0 && opts[index] ? opts[index].getAttribute("data-value") : null;
      opts.forEach(function (o, k) { o.setAttribute("aria-selected", String(k === index)); });
      active = index;
      if (index >= 0 && opts[index]) {
        input.setAttribute("aria-activedescendant", opts[index].id);
        opts[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }
    function show(open) {
      list.hidden = !open;
      input.setAttribute("aria-expanded", String(open));
      if (!open) setActive(-1);
    }
    function choose(option) {
      input.value = option.getAttribute("data-value");
      show(false);
      input.form.requestSubmit();
    }

    input.addEventListener("keydown", function (e) {
      var opts = options();
      if (e.key === "ArrowDown" && opts.length) {
        e.preventDefault();
        show(true);
        setActive((active + 1) % opts.length);
      } else if (e.key === "ArrowUp" && opts.length) {
        e.preventDefault();
        show(true);
        setActive(active <= 0 ? opts.length - 1 : active - 1);
      } else if (e.key === "Enter") {
        if (!list.hidden && active >= 0 && opts[active]) {
          e.preventDefault();
          choose(opts[active]);
        } else {
          show(false);
        }
      } else if (e.key === "Escape" && !list.hidden) {
        e.preventDefault();
        show(false);
      }
    });
    list.addEventListener("mousedown", function (e) {
      var option = e.target.closest('[role="option"]');
      if (option) { e.preventDefault(); choose(option); }
    });
    input.addEventListener("blur", function () { show(false); });
    // Searching ends the suggesting: a suggestion request still pending for the text
    // just searched would only compete with the search for the server.
    var searched = null;
    input.form.addEventListener("submit", function () {
      searched = input.value;
      show(false);
      htmx.trigger(input, "htmx:abort");
    });
    document.body.addEventListener("htmx:beforeRequest", function (e) {
      if (e.detail.target === list && input.value === searched) e.preventDefault();
    });
    input.addEventListener("input", function () { searched = null; });
    document.body.addEventListener("htmx:afterSwap", function (e) {
      if (e.detail.target !== list) return;
      // a later answer for the same text keeps the option the keyboard was on
      var kept = activeValue === null ? -1 : options().findIndex(function (o) {
        return o.getAttribute("data-value") === activeValue;
      });
      show(options().length > 0 && document.activeElement === input);
      setActive(list.hidden ? -1 : kept);
    });
  }

  var chart = null;
  var palette = ["#1f5fa8", "#a3261b", "#2e6b30", "#6a1b9a", "#7a4f00"];

  function day(ms) { return new Date(ms).toISOString().slice(0, 10); }

  // What is planned must never pass for history: the future is shaded and labelled.
  var nowLine = {
    id: "nowLine",
    beforeDatasetsDraw: function (c) {
      var area = c.chartArea, ctx = c.ctx, x = c.scales.x.getPixelForValue(Number(c.canvas.dataset.now));
      if (c.canvas.dataset.plannedPoints === "0" || !(x >= area.left && x < area.right)) return;
      var room = area.right - x > 80, top = area.top, bottom = area.bottom;
      ctx.save(); ctx.fillStyle = "rgba(79, 86, 97, 0.08)"; ctx.fillRect(x, top, area.right - x, bottom - top);
      ctx.strokeStyle = ctx.fillStyle = "#4f5661"; ctx.setLineDash([4, 4]);
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
      ctx.font = "12px system-ui, sans-serif"; ctx.textAlign = room ? "left" : "right";
      ctx.fillText(room ? "now | planned \u2192" : "now", room ? x + 4 : x - 4, top + 12);
      ctx.restore();
    }
  };

  // The canvas carries its series (a data attribute: htmx drops <script> elements from
  // what it swaps in) and no id, on purpose: htmx "settles" an element that replaces
  // one of the same id by lending it the old one's attributes for a moment, which
  // would make a fresh canvas look drawn already.
  function drawChart() {
    var canvas = document.querySelector("canvas[data-price-chart]");
    if (!canvas || typeof Chart === "undefined" || Chart.getChart(canvas)) return;
    if (chart) { chart.destroy(); chart = null; }
    var series = JSON.parse(canvas.dataset.series);
    var datasets = series.map(function (s, i) {
      var colour = palette[i % palette.length];
      return {
        label: s.currency,
        data: s.data,
        parsing: { xAxisKey: "x", yAxisKey: "y" },
        stepped: "before",  // the line holds a price until the next point, then steps
        borderColor: colour,
        backgroundColor: function (ctx) { return ctx.raw && ctx.raw.planned ? "#ffffff" : colour; },
        borderWidth: 2,
        pointRadius: function (ctx) { return ctx.raw && ctx.raw.end ? 0 : 4; },
        pointStyle: function (ctx) { return ctx.raw && ctx.raw.sale ? "triangle" : "circle"; },
        segment: {  // a segment ending at a planned point is the plan, from now on
          borderDash: function (ctx) { return ctx.p1.raw.planned ? [2, 3] : ctx.p0.raw.sale ? [6, 4] : undefined; },
          borderColor: function (ctx) { return ctx.p1.raw.planned ? colour + "b3" : undefined; }
        }
      };
    });
    chart = new Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      plugins: [nowLine],
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: { type: "linear", ticks: { callback: function (v) { return day(v); }, maxTicksLimit: 8 } },
          y: { title: { display: true, text: "price" } }
        },
        plugins: {
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? day(items[0].raw.x) : ""; },
              label: function (ctx) {
                var p = ctx.raw;
                var kind = p.end ? "still in force" : p.sale ? "sale" : "regular";
                return ctx.dataset.label + " " + p.y + " (" + (p.planned ? "planned, " : "") + kind + ")";
              }
            }
          }
        }
      }
    });
    canvas.dataset.drawn = "true";
    [["drawnPoints", false], ["drawnPlanned", true]].forEach(function (k) {
      canvas.dataset[k[0]] = String(series.reduce(function (n, s) {
        return n + s.data.filter(function (p) { return !p.end && !!p.planned === k[1]; }).length;
      }, 0));
    });
  }

  var live = window.eventcartLive;
  var isResults = live.isResults, isLive = live.isLive;
  var searchStarted = 0;

  document.addEventListener("DOMContentLoaded", function () {
    combobox();
    drawChart();
    document.body.addEventListener("htmx:beforeRequest", function (e) {
      if (!isResults(e) || isLive(e)) return;
      searchStarted = performance.now();
      e.detail.target.setAttribute("aria-busy", "true");
    });
    document.body.addEventListener("htmx:afterSettle", function (e) {
      if (isResults(e) && !isLive(e)) {
        e.detail.target.setAttribute("aria-busy", "false");
        document.body.dataset.searchMs = (performance.now() - searchStarted).toFixed(2);
        document.body.dataset.searches = String(Number(document.body.dataset.searches || 0) + 1);
      }
    });
    // htmx:load fires on every element htmx adds, out-of-band and outerHTML swaps too
    // (whose afterSettle goes to the element they replaced, no longer in the page).
    document.body.addEventListener("htmx:load", drawChart);
    document.body.addEventListener("htmx:beforeSwap", function (e) {
      if (live.olderThanShown(e)) e.detail.shouldSwap = false;
    });
    var product = document.querySelector("article.product[data-changes]");
    if (product) live.product(product);
    var results = document.getElementById("results");
    if (results) live.catalog(results);
    var panel = document.getElementById("operations");
    if (panel) live.operations(panel);
  });
})();
