/* backupplan fleet page: who is silent, judged with the reader's clock (Date.now()) against each
   host's data-silent-after, so a page that nobody rebuilt still says so; and a banner when the page
   itself is older than twice its rebuild interval. Text only ever becomes textContent. */
"use strict";
(function () {
  var body = document.body;
  var GRACE = 60000;  /* as the server's SILENT_GRACE: a host is silent one minute past its deadline */
  function moment(text) {
    var value = Date.parse(text || "");
    return isFinite(value) ? value : null;
  }
  function ago(milliseconds) {
    var minutes = Math.round(milliseconds / 60000);
    if (minutes < 90) { return minutes + " min"; }
    var hours = Math.round(minutes / 60);
    return hours < 48 ? hours + " h" : Math.round(hours / 24) + " days";
  }
  function update() {
    var now = Date.now();
    var silent = [];
    Array.prototype.forEach.call(document.querySelectorAll("tr[data-host]"), function (row) {
      var deadline = moment(row.getAttribute("data-silent-after"));
      var badge = row.querySelector("[data-state]");
      if (deadline !== null && now > deadline + GRACE) {
        silent.push(row.getAttribute("data-host"));
        row.classList.add("row-bad");
        if (badge && badge.textContent !== "damaged") {
          badge.textContent = "silent";
          badge.className = "badge state-critical";
        }
      }
    });
    var banner = document.getElementById("silent-banner");
    if (banner && silent.length) {
      banner.hidden = false;
      document.getElementById("silent-title").textContent =
        silent.length + " silent host" + (silent.length === 1 ? "" : "s");
      document.getElementById("silent-names").textContent = silent.join(", ");
      document.getElementById("silent-count").textContent = String(silent.length);
      document.getElementById("silent-card").classList.add("card-bad");
    }
    var built = moment(body.getAttribute("data-built"));
    var every = Number(body.getAttribute("data-rebuilt-every")) * 1000;
    var stale = document.getElementById("stale-banner");
    if (stale && built !== null && isFinite(every) && every > 0 && now - built > 2 * every) {
      stale.hidden = false;
      stale.textContent = "This page was built " + ago(now - built) +
        " ago and should be rebuilt every " + ago(every) + ": is the timer running `backupplan fleet build` still working?";
    }
  }
  update();
  window.setInterval(update, 15000);
  window.setTimeout(function () { window.location.reload(); }, 60000);
}());
