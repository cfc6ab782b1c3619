/* eventcart console, live pages: the product and catalog pages follow the change
 * stream (GET /changes, Server-Sent Events) and fetch again, with the change's
 * position as min_position, the parts a change touched; the operations page gets its
 * panel pushed (GET /operations/events). No polling. Loaded before console.js, which
 * starts these on the pages that have them (window.eventcartLive). */
(function () {
  "use strict";

  // --- live pages: the change stream ---------------------------------------------------
  // GET /changes sends one message per product change once both read models have
  // applied it; its "position" is a position token, so a part fetched again with it as
  // min_position shows at least that change. Messages received, for the browser test:
  window.eventcartChanges = 0;

  function merge(positions, token) {
    String(token || "").split(",").forEach(function (part) {
      var pair = part.split(":"), p = Number(pair[0]), o = Number(pair[1]);
      if (pair.length === 2 && pair[1] !== "" && o >= 0 && !(positions[p] >= o)) positions[p] = o;
    });
  }
  function tokenOf(positions) {
    return Object.keys(positions).sort(function (a, b) { return a - b; })
      .map(function (p) { return p + ":" + positions[p]; }).join(",");
  }

  // One part of a page kept up to date: one request at a time, started at most once per
  // gapMs; the positions that arrive meanwhile go, merged, into the next request. A
  // request's promise resolving to false (its answer was not swapped in) asks again.
  function refresher(request, gapMs) {
    var wanted = {}, due = false, busy = false, last = -Infinity, timer = null;
    function schedule() {
      if (timer === null && !busy && due) {
        timer = setTimeout(fire, Math.max(0, last + gapMs - Date.now()));
      }
    }
    function fire() {
      timer = null;
      var min = tokenOf(wanted);
      wanted = {}; due = false; busy = true; last = Date.now();
      Promise.resolve().then(function () { return request(min); }).then(function (swapped) {
        if (swapped === false) ask(min);
      }).catch(function () { /* htmx reported it; the next change asks again */ }).then(function () {
        busy = false;
        schedule();
      });
    }
    function ask(token) { merge(wanted, token); due = true; schedule(); }
    return ask;
  }

  // A stream is open only while the page is shown: closed while the tab is hidden and
  // when the page goes, opened again when it shows (or comes back from the back/forward
  // cache).
  function whileShown(open, close) {
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") close(); else open();
    });
    window.addEventListener("pagehide", close);
    window.addEventListener("pageshow", function (e) { if (e.persisted) open(); });
  }

  // The page's subscription. Closed while the tab is hidden (an open stream holds one of
  // the browser's few connections to this host: hidden tabs must not starve the visible
  // one) and when the page goes. Once a new stream is ready, fresh(initial, id) is called
  // (id: where the stream starts, a position token): initial when it follows what the
  // page has just shown; otherwise (opened again when visible, or after the API refused
  // it: 503, starting or full) the changes in between were not sent, the page catches
  // up. EventSource itself reconnects a dropped or cut stream with Last-Event-ID, losing
  // nothing: no fresh() then.
  function follow(onChange, fresh) {
    var url = null, source = null, retry = null, failures = 0, rendered = false;
    function state(s) { document.body.dataset.changesStream = s; }
    function close() {
      clearTimeout(retry);
      retry = null;
      if (source) { source.close(); source = null; state("closed"); }
    }
    function open() {
      if (source || !url || document.visibilityState === "hidden") return;
      var opened = new EventSource(url), initial = rendered, isReady = false;
      source = opened;
      rendered = false;
      state("connecting");
      opened.addEventListener("ready", function (e) {
        failures = 0;
        state("ready");
        if (!isReady) { isReady = true; fresh(initial, e.lastEventId); }
      });
      opened.onmessage = function (e) {
        var change;
        try { change = JSON.parse(e.data); } catch (err) { return; }
        window.eventcartChanges += 1;
        onChange(change);
      };
      opened.onerror = function () {
        if (source !== opened || opened.readyState !== EventSource.CLOSED) return;
        source = null;  // refused: EventSource gives up on anything but a stream
        state("closed");
        failures += 1;
        retry = setTimeout(open, Math.min(60000, 1000 * Math.pow(2, failures)));
      };
    }
    whileShown(open, close);
    // Follow this URL from now on (null: nothing), for what the page has just shown.
    return function (newUrl) {
      if (newUrl === url) return;
      close();
      url = newUrl;
      rendered = true;
      open();
    };
  }

  // Product page: every change of the product fetches the price panel (prices, stock,
  // schedules) and the head (name, details, status; the forms stay as they are) again.
  function liveProduct(article) {
    var sku = encodeURIComponent(article.dataset.sku);
    function shown() {  // the oldest version of the product a part of the page shows
      return Math.min.apply(null, ["product-head", "prices"].map(function (id) {
        var el = document.getElementById(id);
        return el && el.dataset.version ? Number(el.dataset.version) : 0;
      }));
    }
    var refresh = refresher(function (min) {
      var query = min ? "?min_position=" + encodeURIComponent(min) : "";
      return htmx.ajax("GET", "/catalog/" + sku + "/prices" + query,
        { target: "#prices", swap: "outerHTML" }).then(function () {
        return htmx.ajax("GET", "/catalog/" + sku + "/details" + query,
          { target: "#product-head", swap: "outerHTML" });
      });
    }, 250);
    follow(function (change) {
      if (!(change.version <= shown())) refresh(change.position);  // not shown yet
    }, function () {
      // A change applied between this page's render and the stream's start was not
      // sent: the product's version says whether there was one.
      fetch("/products/" + sku, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (doc) { if (doc && doc.version > shown()) refresh(null); },
          function () {});
    })(article.dataset.changes);
  }

  // Catalog page: a change of a product in the results fetches the results again (at
  // most once a second). The subscription follows the SKUs shown; a change applied
  // between a search's answer and the new subscription's start is not sent (it shows
  // with the next search or change): asking again after every search would double them.
  var MAX_FOLLOWED = 50;
  function liveCatalog(results) {
    var searches = 0, pending = null;
    var refresh = refresher(function (min) {
      var here = location.pathname + location.search;
      var url = min ? here + (location.search ? "&" : "?") + "min_position=" + encodeURIComponent(min) : here;
      var asked = pending = { searches: searches, url: location.href, dropped: false };
      return htmx.ajax("GET", url, { target: "#results", swap: "innerHTML" }).then(function () {
        pending = null;
        return !asked.dropped;
      });
    }, 1000);
    var subscribe = follow(function (change) { refresh(change.position); }, function (initial, at) {
      if (!initial && at) refresh(at);  // back from hidden, or retried: catch up
    });
    function followShown() {
      var skus = [];
      results.querySelectorAll(".hit[data-sku]").forEach(function (hit) {
        if (skus.length < MAX_FOLLOWED && skus.indexOf(hit.dataset.sku) < 0) skus.push(hit.dataset.sku);
      });
      skus.sort();
      subscribe(skus.length ? "/changes?sku=" + skus.map(encodeURIComponent).join(",") : null);
    }
    document.body.addEventListener("htmx:beforeRequest", function (e) {
      if (isResults(e) && !isLive(e)) searches += 1;
    });
    // A live answer that a search started after (or whose URL it left) would show the
    // old query's results: it is dropped, and asked for again.
    document.body.addEventListener("htmx:beforeSwap", function (e) {
      if (pending && isResults(e) && isLive(e)
          && (pending.searches !== searches || pending.url !== location.href)) {
        e.detail.shouldSwap = false;
        pending.dropped = true;
      }
    });
    document.body.addEventListener("htmx:afterSettle", function (e) { if (isResults(e)) followShown(); });
    followShown();
  }

  // Operations page: the server pushes the panel (event "operations", the rendered
  // _operations.html, every two seconds: it is sampled from Kafka, and the change stream
  // says nothing when a projection stalls). It is our server's autoescaped HTML, swapped
  // in as it comes. Panels received, for the browser test:
  window.eventcartOperations = 0;
  function liveOperations(panel) {
    var source = null, retry = null, failures = 0;
    function state(s) { document.body.dataset.operationsStream = s; }
    function close() {
      clearTimeout(retry);
      retry = null;
      if (source) { source.close(); source = null; state("closed"); }
    }
    function open() {
      if (source || document.visibilityState === "hidden") return;
      var opened = new EventSource("/operations/events");
      source = opened;
      state("connecting");
      opened.addEventListener("operations", function (e) {
        if (source !== opened) return;
        failures = 0;
        panel.innerHTML = e.data;
        htmx.process(panel);
        window.eventcartOperations += 1;
        state("open");
      });
      opened.onerror = function () {
        if (source !== opened || opened.readyState !== EventSource.CLOSED) return;
        source = null;  // refused: EventSource gives up on anything but a stream
        state("closed");
        failures += 1;
        retry = setTimeout(open, Math.min(60000, 1000 * Math.pow(2, failures)));
      };
    }
    whileShown(open, close);
    open();
  }

  // A part fetched again never goes back to an older version of the product than the
  // page shows (answers to two requests may arrive in either order).
  function olderThanShown(e) {
    var target = e.detail.target, shown = target && target.dataset && target.dataset.version;
    if (!shown || (target.id !== "prices" && target.id !== "product-head")) return false;
    var found = /^\s*<[^>]*\sdata-version="(\d+)"/.exec(e.detail.serverResponse || "");
    return found !== null && Number(found[1]) < Number(shown);
  }

  function isResults(e) { return e.detail.target && e.detail.target.id === "results"; }
  // the live refreshes' requests come from <body> (htmx.ajax without a source): not searches
  function isLive(e) { return !!e.detail.requestConfig && e.detail.requestConfig.elt === document.body; }

  window.eventcartLive = {
    product: liveProduct,
    catalog: liveCatalog,
    operations: liveOperations,
    olderThanShown: olderThanShown,
    isResults: isResults,
    isLive: isLive
  };
})();
