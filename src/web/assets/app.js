// Progressive enhancement only: every page works without it.
(function () {
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("lw-theme"); } catch (e) {}
  if (saved) root.setAttribute("data-theme", saved);

  document.addEventListener("DOMContentLoaded", function () {
    // Times in the viewer's time zone; UTC stays in the title on hover.
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (!isNaN(at)) el.textContent = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
    });

    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      var dark = function () {
        var t = root.getAttribute("data-theme");
        return t ? t === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
      };
      toggle.setAttribute("aria-pressed", String(dark()));
      toggle.textContent = "Dark theme";
      toggle.addEventListener("click", function () {
        var next = dark() ? "light" : "dark";
        root.setAttribute("data-theme", next);
        try { localStorage.setItem("lw-theme", next); } catch (e) {}
        toggle.setAttribute("aria-pressed", String(next === "dark"));

      });
    }

    // Sortable tables: each heading becomes a button; sorting keeps to the page shown.
    document.querySelectorAll("table.sortable").forEach(function (table) {
      var heads = table.querySelectorAll("thead th");
      heads.forEach(function (th, index) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = th.textContent;
        th.textContent = "";
        th.appendChild(button);
        button.addEventListener("click", function () {
          var ascending = th.getAttribute("aria-sort") !== "ascending";
          heads.forEach(function (other) { other.removeAttribute("aria-sort"); });
          th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          var key = function (row) {
            var cell = row.cells[index];
            return (cell.getAttribute("data-sort") || cell.textContent).trim().toLowerCase();
          };
          rows.sort(function (a, b) {
            var x = key(a), y = key(b);
            var nx = parseFloat(x), ny = parseFloat(y);
            var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
            return ascending ? c : -c;
          });
          rows.forEach(function (row) { body.appendChild(row); });
        });
      });
    });
  });
})();
