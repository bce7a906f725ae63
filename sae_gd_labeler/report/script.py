"""The page's own JavaScript, inlined once per page.

- Summary tables sort by a clicked column: numbers as numbers, empty cells (undefined metrics) last.
- Lazy parts: plotly's JavaScript, the figures' JSON, the top contexts after the first few and the collapsed
  quantile samples' HTML are stored
  gzip-compressed (base64), a third or less of their size; the browser unpacks them (DecompressionStream),
  draws each figure with Plotly.newPlot and fills the deferred contexts only when their box comes near the
  viewport, and fills a quantile sample when its <details> is opened. Without DecompressionStream the rest
  of the page still works.
  The lazy HTML was escaped by the same Python code as the rest of the page.
"""

SCRIPT = """
(function () {
  "use strict";
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th), num = th.dataset.type === "num";
    var now = th.getAttribute("aria-sort");
    var dir = now ? (now === "ascending" ? -1 : 1) : (num ? -1 : 1);
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      return dir * (num ? parseFloat(x) - parseFloat(y) : x.localeCompare(y));
    });
    rows.forEach(function (r) { body.appendChild(r); });
    th.parentNode.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable thead th").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sortBy(th); } });
  });

  var plots = Array.prototype.slice.call(document.querySelectorAll("div.plot[data-fig]"));
  var folded = Array.prototype.slice.call(document.querySelectorAll("details[data-html]"));
  var deferred = Array.prototype.slice.call(document.querySelectorAll("div.lazy[data-html]"));
  if (!plots.length && !folded.length && !deferred.length) { return; }
  function unpack(id) {
    var bytes = Uint8Array.from(atob(document.getElementById(id).textContent.trim()), function (c) {
      return c.charCodeAt(0);
    });
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }
  var ready = ("DecompressionStream" in window)
    ? Promise.all([unpack("plotly-gz"), unpack("lazy-gz")]).then(function (parts) {
        var script = document.createElement("script");
        script.textContent = parts[0];  // plotly.js, run as if it were inlined
        document.head.appendChild(script);
        return JSON.parse(parts[1]);
      })
    : Promise.reject(new Error("this browser cannot unpack it (any browser from 2023 on can)"));

  function draw(lazy, div) {
    var fig = lazy.figures[div.dataset.fig];
    if (!fig || div.dataset.drawn) { return; }
    div.dataset.drawn = "1";
    Plotly.newPlot(div, fig.data, Object.assign({template: lazy.template}, fig.layout),
                   {responsive: true, displaylogo: false});
  }
  function fill(lazy, holder) {  // a <details> fills its .lazy child, a div.lazy itself
    if (holder.dataset.filled) { return; }
    holder.dataset.filled = "1";
    var target = holder.tagName === "DETAILS" ? holder.querySelector(".lazy") : holder;
    target.innerHTML = lazy.html[holder.dataset.html] || "";
  }
  window.reportReady = ready.then(function (lazy) {
    window.reportDrawAll = function () {
      plots.forEach(function (d) { draw(lazy, d); });
      deferred.forEach(function (d) { fill(lazy, d); });
    };
    folded.forEach(function (d) {
      if (d.open) { fill(lazy, d); }
      d.addEventListener("toggle", function () { if (d.open) { fill(lazy, d); } });
    });
    if (!("IntersectionObserver" in window)) { window.reportDrawAll(); return; }
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (!e.isIntersecting) { return; }
        seen.unobserve(e.target);
        if (e.target.dataset.fig) { draw(lazy, e.target); } else { fill(lazy, e.target); }
      });
    }, {rootMargin: "400px"});
    plots.concat(deferred).forEach(function (d) { seen.observe(d); });
  }, function (err) {
    var why = "(not shown: " + (err && err.message ? err.message : err) + ")";
    plots.concat(deferred, folded.map(function (d) { return d.querySelector(".lazy"); })).forEach(function (el) {
      el.textContent = why;
      el.classList.add("failed");
    });
  });
})();
"""
