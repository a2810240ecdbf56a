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

    // Date-time pickers are in the viewer's zone: the form says which, and sends each
    // picked instant in UTC too (the offset of that date, so summer time counts).
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) {}
    document.querySelectorAll("input[data-utc-of]").forEach(function (hidden) {
      var picker = document.getElementById(hidden.getAttribute("data-utc-of"));
      hidden.form.addEventListener("submit", function () {
        var at = picker.value ? new Date(picker.value) : null;
        hidden.value = at && !isNaN(at) ? at.toISOString() : "";
      });
    });
    document.querySelectorAll(".tz-name").forEach(function (el) {
      if (zone) el.textContent = "(" + zone + ")";
    });

    // Live backfill progress: each unfinished row polls its JSON until it is finished.
    var local = function (text) {
      if (!text) return "never";
      var at = new Date(text);
      return isNaN(at) ? text : at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
    };
    var setTime = function (cell, text) {
      if (!cell) return;
      cell.textContent = local(text);
      if (text) cell.title = new Date(text).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    };
    var live = ["pending", "running", "paused"];
    document.querySelectorAll("tr[data-progress]").forEach(function (row) {
      if (live.indexOf(row.getAttribute("data-status")) < 0) return;
      var poll = function () {
        fetch(row.getAttribute("data-progress"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
          .then(function (b) {
            var percent = Math.round(b.percent * 10) / 10;
            var bar = row.querySelector("[role=progressbar]");
            bar.setAttribute("aria-valuenow", String(percent));
            bar.firstElementChild.style.width = b.percent + "%";
            row.querySelector("[data-field=percent]").textContent = percent + " %";
            row.querySelector("[data-field=batches]").textContent = b.batches_done + "/" + b.batches_total + " batches" + (b.batches_failed ? ", " + b.batches_failed + " failed" : "");
            var status = row.querySelector("[data-field=status]");
            status.textContent = b.status;
            status.className = "badge badge-" + b.status;
            setTime(row.querySelector("[data-field=started_at]"), b.started_at);
            setTime(row.querySelector("[data-field=synced_up_to]"), b.synced_up_to);
            setTime(row.querySelector("[data-field=eta]"), b.eta);
            row.setAttribute("data-status", b.status);
            if (live.indexOf(b.status) >= 0) setTimeout(poll, 1000);
          })
          .catch(function () { setTimeout(poll, 5000); });
      };
      setTimeout(poll, 1000);
    });

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

// Export links carry the viewer's time zone, so exported times read as the page shows them.
document.addEventListener("DOMContentLoaded", function () {
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) {}
  if (!zone) return;
  document.querySelectorAll("a[data-add-tz]").forEach(function (link) {
    link.setAttribute("href", link.getAttribute("href") + "&tz=" + encodeURIComponent(zone));
  });
});
