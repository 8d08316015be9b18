/* backupplan status site: live updates and the logs page tools. One file, no framework, no
   external request. Data from status.json only ever becomes text (textContent), never markup. */
"use strict";
(function () {
  var body = document.body;
  var root = body.getAttribute("data-root") || "";
  var refresh = Math.max(1, Number(body.getAttribute("data-refresh")) || 5) * 1000;
  var page = body.getAttribute("data-page") || "";
  var SAFE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
  var LABELS = {
    never_run: ["never run", "\u25cb"], running: ["running", "\u25b6"], paused: ["paused", "\u2016"],
    succeeded: ["succeeded", "\u2713"], warning: ["warning", "!"], failed: ["failed", "\u2717"],
    timed_out: ["timed out", "\u2717"], interrupted: ["interrupted", "\u21af"],
    overdue: ["overdue", "\u25f7"], disabled: ["disabled", "\u2298"], removed: ["removed", "\u2013"],
    skipped: ["skipped", "\u21b7"], unknown: ["unknown", "?"]
  };

  function each(selector, callback) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), callback);
  }
  function setText(element, text) {
    if (element && element.textContent !== text) { element.textContent = text; }
  }
  function isNumber(value) { return typeof value === "number" && isFinite(value); }
  function formatBytes(count) {
    if (!isNumber(count)) { return "\u2014"; }
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var index = 0;
    while (Math.abs(count) >= 1024 && index < units.length - 1) { count /= 1024; index += 1; }
    return index === 0 ? count.toFixed(0) + " B" : count.toFixed(1) + " " + units[index];
  }
  function formatSeconds(seconds) {
    if (!isNumber(seconds)) { return "\u2014"; }
    var total = Math.round(seconds);
    if (seconds < 10 && seconds !== total) { return seconds.toFixed(1) + "s"; }
    var days = Math.floor(total / 86400), hours = Math.floor(total % 86400 / 3600);
    var minutes = Math.floor(total % 3600 / 60), rest = total % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    if (days) { return hours ? days + "d" + hours + "h" : days + "d"; }
    if (hours) { return hours + "h" + two(minutes) + "m"; }
    if (minutes) { return minutes + "m" + two(rest) + "s"; }
    return rest + "s";
  }
  function progressText(progress) {
    if (!progress) { return "starting"; }
    var parts = [];
    if (isNumber(progress.percent)) { parts.push(progress.percent.toFixed(0) + "%"); }
    var done = formatBytes(progress.bytes);
    parts.push(isNumber(progress.total_bytes) ? done + " of " + formatBytes(progress.total_bytes) : done);
    if (isNumber(progress.rate)) { parts.push(formatBytes(progress.rate) + "/s"); }
    if (isNumber(progress.eta)) { parts.push(formatSeconds(progress.eta) + " left"); }
    return parts.join(" \u00b7 ");
  }
  function badgeKeys(job) {
    var main = job.enabled === false ? "disabled" : (LABELS[job.status] ? job.status : "unknown");
    return job.overdue === true ? [main, "overdue"] : [main];
  }
  function makeBadge(key) {
    var label = LABELS[key] || LABELS.unknown;
    var badge = document.createElement("span");
    badge.className = "badge status-" + key;
    var icon = document.createElement("span");
    icon.className = "icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = label[1];
    badge.appendChild(icon);
    badge.appendChild(document.createTextNode(" " + label[0]));
    return badge;
  }
  function jobHref(id) {
    return SAFE_ID.test(id) ? root + "jobs/" + id + "/index.html" : root + "jobs/index.html";
  }
  function makeProgress(id) {
    var box = document.createElement("div");
    box.className = "progress";
    box.setAttribute("data-progress", id);
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.setAttribute("aria-label", "Progress of " + id);
    var text = document.createElement("span");
    text.className = "progress-text";
    box.appendChild(bar);
    box.appendChild(document.createTextNode(" "));
    box.appendChild(text);
    return box;
  }
  function fillProgress(box, progress) {
    var bar = box.querySelector("progress");
    if (bar) {
      if (progress && isNumber(progress.percent)) {
        var value = Math.max(0, Math.min(100, progress.percent)).toFixed(1);
        if (bar.getAttribute("value") !== value) { bar.setAttribute("value", value); }
        setText(bar, progress.percent.toFixed(0) + "%");
      } else if (bar.hasAttribute("value")) {
        bar.removeAttribute("value");
      }
    }
    setText(box.querySelector(".progress-text"), progressText(progress));
  }

  function updateStats(summary) {
    each("[data-stat]", function (element) {
      var value = summary[element.getAttribute("data-stat")];
      if (value === undefined) { return; }
      setText(element, element.getAttribute("data-format") === "bytes" ? formatBytes(value)
        : isNumber(value) ? value.toLocaleString("en-US") : String(value));
    });
  }
  function updateBadges(jobs) {
    each("[data-job-badges]", function (element) {
      var job = jobs[element.getAttribute("data-job-badges")];
      if (!job) { return; }
      var keys = badgeKeys(job).join(" ");
      if (element.getAttribute("data-shown") === keys) { return; }
      while (element.firstChild) { element.removeChild(element.firstChild); }
      badgeKeys(job).forEach(function (key) { element.appendChild(makeBadge(key)); });
      element.setAttribute("data-shown", keys);
    });
  }
  function updateActive(list) {
    var container = document.getElementById("active-runs");
    if (!container) { return; }
    var existing = {};
    Array.prototype.forEach.call(container.children, function (item) {
      existing[item.getAttribute("data-job")] = item;
    });
    list.forEach(function (job) {
      var item = existing[job.id];
      if (!item) {
        item = document.createElement("li");
        item.setAttribute("data-job", job.id);
        var link = document.createElement("a");
        link.href = jobHref(job.id);
        link.textContent = job.id;
        item.appendChild(link);
        item.appendChild(document.createTextNode(" "));
        item.appendChild(makeProgress(job.id));
        container.appendChild(item);
      }
      delete existing[job.id];
    });
    Object.keys(existing).forEach(function (id) { container.removeChild(existing[id]); });
    var none = document.getElementById("no-active");
    if (none) { none.hidden = list.length > 0; }
  }
  function updateProgress(jobs) {
    each("[data-progress-box]", function (box) {
      var job = jobs[box.getAttribute("data-progress-box")];
      if (job) { box.hidden = job.status !== "running"; }
    });
    each("[data-progress]", function (box) {
      var job = jobs[box.getAttribute("data-progress")];
      if (job && job.status === "running") { fillProgress(box, job.progress); }
    });
  }
  function update(status) {
    var jobs = {};
    var running = [];
    (status.jobs || []).forEach(function (job) {
      if (job && typeof job.id === "string") {
        jobs[job.id] = job;
        if (job.status === "running") { running.push(job); }
      }
    });
    updateStats(status.summary || {});
    updateBadges(jobs);
    updateActive(running);
    updateProgress(jobs);
    var live = document.getElementById("live");
    if (live) {
      live.classList.remove("stale");
      setText(live, "Live \u00b7 updated " + new Date().toLocaleTimeString("en-GB"));
    }
  }
  function failed(error) {
    var live = document.getElementById("live");
    if (live) {
      live.classList.add("stale");
      setText(live, "Live updates paused: status.json could not be read (" + error.message + "); retrying");
    }
  }
  function poll() {
    fetch(root + "status.json?t=" + Date.now(), { cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(update, failed)
      .then(function () { window.setTimeout(poll, refresh); });
  }
  function startLive() {
    if (location.protocol === "file:") {
      // Browsers refuse fetch() of local files: say so, and reload instead where that loses nothing.
      var note = document.getElementById("live-note");
      var reloads = page !== "logs";
      if (note) {
        note.textContent = "Opened as a file: live updates need a web server (try `backupplan site serve`). " +
          (reloads ? "This page reloads every " + refresh / 1000 + " s instead." : "Reload the page to see new lines.");
        note.hidden = false;
      }
      if (reloads) { window.setTimeout(function () { location.reload(); }, refresh); }
      return;
    }
    poll();
  }

  /* Logs page: filter by job, search with highlighted matches, export what is shown. */
  function startLogs() {
    var list = document.getElementById("log");
    var controls = document.getElementById("log-controls");
    if (!controls) { return; }
    controls.hidden = false;
    controls.addEventListener("submit", function (event) { event.preventDefault(); });
    var items = list ? Array.prototype.map.call(list.children, function (item) {
      var parts = Array.prototype.map.call(item.querySelectorAll(".hl"), function (part) {
        return { element: part, text: part.textContent };
      });
      return {
        element: item, job: item.getAttribute("data-job"), parts: parts,
        line: parts.map(function (part) { return part.text; }).join(" ")
      };
    }) : [];
    var select = document.getElementById("log-job");
    var search = document.getElementById("log-search");
    var count = document.getElementById("log-count");
    var timer = null;

    function highlight(part, query) {
      var element = part.element;
      while (element.firstChild) { element.removeChild(element.firstChild); }
      if (!query) { element.textContent = part.text; return; }
      var lower = part.text.toLowerCase();
      var start = 0, found = lower.indexOf(query);
      while (found >= 0) {
        if (found > start) { element.appendChild(document.createTextNode(part.text.slice(start, found))); }
        var mark = document.createElement("mark");
        mark.textContent = part.text.slice(found, found + query.length);
        element.appendChild(mark);
        start = found + query.length;
        found = lower.indexOf(query, start);
      }
      if (start < part.text.length) { element.appendChild(document.createTextNode(part.text.slice(start))); }
    }
    function visible() { return items.filter(function (item) { return !item.element.hidden; }); }
    function apply() {
      var job = select.value;
      var query = search.value.trim().toLowerCase();
      var shown = 0;
      items.forEach(function (item) {
        var show = (!job || item.job === job) && (!query || item.line.toLowerCase().indexOf(query) >= 0);
        item.element.hidden = !show;
        if (show) { shown += 1; }
        item.parts.forEach(function (part) { highlight(part, show ? query : ""); });
      });
      setText(count, "Showing " + shown + " of " + items.length + " lines.");
    }
    select.addEventListener("change", apply);
    search.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(apply, 400);  /* debounce: typing does not re-filter on every key */
    });
    document.getElementById("log-export").addEventListener("click", function () {
      var text = visible().map(function (item) { return item.line; }).join("\n");
      var blob = new Blob([text ? text + "\n" : ""], { type: "text/plain;charset=utf-8" });
      var link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = "backupplan-logs" + (SAFE_ID.test(select.value) ? "-" + select.value : "") + ".txt";
      document.body.appendChild(link);
      link.click();
      document.body.removeChild(link);
      window.setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
    });
    apply();
  }

  startLive();
  startLogs();
}());
