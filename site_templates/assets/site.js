/* backupplan status site: the page's age, live updates and the logs page tools. One file, no
   framework, no external request. Data from status.json or from the page's data island only ever
   becomes text (textContent), never markup. Every judgement of time (the age of the data, whether
   it is stale, whether a job is overdue, "3 min ago") uses the reader's clock, Date.now(). */
"use strict";
(function () {
  var body = document.body;
  var root = body.getAttribute("data-root") || "";
  var refresh = Math.max(1, Number(body.getAttribute("data-refresh")) || 5) * 1000;
  var page = body.getAttribute("data-page") || "";
  var TICK = 5000;  /* ages, relative times, the stale banner and overdue badges are redone this often */
  var SAFE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
  /* controls and bidirectional overrides, which would garble the words around them */
  var UNSHOWN = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g;
  var LABELS = {
    never_run: ["never run", "\u25cb"], running: ["running", "\u25b6"], paused: ["paused", "\u2016"],
    succeeded: ["succeeded", "\u2713"], warning: ["warning", "!"], failed: ["failed", "\u2717"],
    timed_out: ["timed out", "\u2717"], held: ["held", "\u26a0"], interrupted: ["interrupted", "\u21af"],
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
  /* Time, from the reader's clock. Times are shown in UTC, as the pages show them without script. */
  function parseTime(value) {
    if (typeof value !== "string") { return null; }
    var moment = Date.parse(value);
    return isFinite(moment) ? moment : null;
  }
  function absoluteTime(moment) {
    var iso = new Date(moment).toISOString();
    return iso.slice(0, 10) + " " + iso.slice(11, 16) + " UTC";
  }
  function relativeTime(moment, now) {
    var seconds = (moment - now) / 1000, span = Math.abs(seconds), amount;
    if (span < 1) { return "just now"; }
    if (span < 60) { amount = Math.round(span) + " s"; }
    else if (span < 3600) { amount = Math.floor(span / 60) + " min"; }
    else if (span < 172800) { amount = Math.floor(span / 3600) + " h"; }
    else { amount = Math.floor(span / 86400) + " days"; }
    return seconds > 0 ? "in " + amount : amount + " ago";
  }

  /* The data the page judges: its data island first (what the page was built from: all there is on
     file://, and the start over HTTP), then status.json and live.json as polled. */
  function readEmbedded() {
    var island = document.getElementById("status-data");
    try {
      var data = island ? JSON.parse(island.textContent) : null;
      return data && typeof data === "object" ? data : {};
    } catch (error) {
      return {};
    }
  }
  var embedded = readEmbedded();
  var current = embedded;
  var polled = false;

  function jobList(status) {
    return Array.isArray(status.jobs) ? status.jobs.filter(function (job) {
      return job && typeof job === "object" && typeof job.id === "string";
    }) : [];
  }
  function isOverdue(job, now) {
    if (job.overdue === true) { return true; }
    var deadline = parseTime(job.deadline);
    return deadline !== null && deadline < now && job.enabled !== false && job.status !== "removed";
  }
  function badgeKeys(job, now) {
    var main = job.enabled === false ? "disabled" : (LABELS[job.status] ? job.status : "unknown");
    return isOverdue(job, now) ? [main, "overdue"] : [main];
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
      var key = element.getAttribute("data-stat");
      var value = summary[key];
      if (value === undefined || key === "overdue") { return; }  /* overdue: counted from the jobs */
      setText(element, element.getAttribute("data-format") === "bytes" ? formatBytes(value)
        : isNumber(value) ? value.toLocaleString("en-US") : String(value));
      var card = element.hasAttribute("data-alarm") ? element.closest(".card") : null;
      if (card) { card.classList.toggle("card-bad", isNumber(value) && value > 0); }
    });
  }
  /* The dashboard's Overdue card, recounted by the reader's clock: from status.json's jobs once one
     was read, else from the data island's outlook (how many jobs were overdue, how many fall due at
     each deadline: counts, which a 1,000-job dashboard carries in a few bytes). */
  function overdueCount(jobs, now) {
    var outlook = polled ? null : embedded.overdue;
    if (!outlook || typeof outlook !== "object") {
      return jobs.filter(function (job) { return isOverdue(job, now); }).length;
    }
    var count = isNumber(outlook.already) ? outlook.already : 0;
    var deadlines = outlook.deadlines && typeof outlook.deadlines === "object" ? outlook.deadlines : {};
    Object.keys(deadlines).forEach(function (deadline) {
      var moment = parseTime(deadline);
      if (moment !== null && moment < now && isNumber(deadlines[deadline])) { count += deadlines[deadline]; }
    });
    return count;
  }
  function updateOverdueCard(jobs, now) {
    var element = document.querySelector('[data-stat="overdue"]');
    if (!element) { return; }
    var count = overdueCount(jobs, now);
    setText(element, count.toLocaleString("en-US"));
    var card = element.closest(".card");
    if (card) { card.classList.toggle("card-bad", count > 0); }
  }
  function updateBadges(jobs, now) {
    each("[data-job-badges]", function (element) {
      var job = jobs[element.getAttribute("data-job-badges")];
      if (!job) { return; }
      var keys = badgeKeys(job, now);
      if (element.getAttribute("data-shown") === keys.join(" ")) { return; }
      while (element.firstChild) { element.removeChild(element.firstChild); }
      keys.forEach(function (key) { element.appendChild(makeBadge(key)); });
      element.setAttribute("data-shown", keys.join(" "));
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

  /* Strips of last runs: a run newer than the strip's newest mark (one that started while the page
     is open) gets a mark at the right end, linking to the job's page; when that run ends, its mark
     shows how. The strip keeps its 30 newest marks. */
  var STRIP_RUNS = 30;
  function markTitle(run, key) {
    var started = parseTime(run.started_at);
    var when = started === null ? "\u2014" : absoluteTime(started);
    if (key === "running") { return "running since " + when; }
    var parts = [(LABELS[key] || LABELS.unknown)[0], when];
    if (isNumber(run.duration)) { parts.push(formatSeconds(run.duration)); }
    if (isNumber(run.bytes)) { parts.push(formatBytes(run.bytes)); }
    return parts.join(", ");
  }
  function updateStrips(jobs) {
    each("[data-run-strip]", function (strip) {
      var job = jobs[strip.getAttribute("data-run-strip")];
      var run = job && job.last_run && typeof job.last_run === "object" ? job.last_run : null;
      var started = run ? parseTime(run.started_at) : null;
      if (started === null) { return; }
      var newest = parseTime(strip.getAttribute("data-last"));
      var key = LABELS[run.status] ? run.status : "unknown";
      var mark;
      if (newest !== null && started < newest) { return; }
      if (newest !== null && started === newest) {
        mark = strip.lastElementChild;
        if (!mark || !mark.hasAttribute("data-status") || mark.getAttribute("data-status") === key) { return; }
      } else {
        mark = document.createElement("a");
        mark.href = jobHref(job.id);
        var none = strip.querySelector(".strip-none");
        if (none) { strip.removeChild(none); }
        strip.appendChild(mark);
        strip.setAttribute("data-last", new Date(started).toISOString().slice(0, 19) + "Z");
        while (strip.querySelectorAll("[data-status]").length > STRIP_RUNS) { strip.removeChild(strip.firstElementChild); }
      }
      mark.setAttribute("data-status", key);
      mark.title = markTitle(run, key);
    });
  }

  /* The age of the data, in the header: "Status written 3 h ago". */
  function showAge(now) {
    var age = document.getElementById("age");
    var written = parseTime(current.generated_at);
    if (!age || written === null) { return; }
    var stamp = new Date(written).toISOString().slice(0, 19) + "Z";
    if (age.getAttribute("datetime") !== stamp) { age.setAttribute("datetime", stamp); }
    if (age.title !== absoluteTime(written)) { age.title = absoluteTime(written); }
    setText(age, relativeTime(written, now));
  }
  /* Stale: the moment by which the data should have been rewritten has passed. Until a status.json
     has been read, that is the page's own promise (`page_expected_by`: pages are rewritten only when
     something happens, status.json also on a daemon's heartbeat); then the document's. Nothing is
     promised when nothing keeps the site (kept_by: manual) or the data does not say. */
  var staleShown = "";
  function staleText(now) {
    var freshness = current.freshness && typeof current.freshness === "object" ? current.freshness : null;
    if (!freshness || freshness.kept_by === "manual") { return ""; }
    var expected = parseTime(polled ? freshness.expected_by : embedded.page_expected_by);
    if (expected === null || now <= expected) { return ""; }
    var written = parseTime(current.generated_at);
    var since = "No recent update";
    if (written !== null) {
      var sameDay = new Date(written).toISOString().slice(0, 10) === new Date(now).toISOString().slice(0, 10);
      since = "No update since " + (sameDay ? absoluteTime(written).slice(11) : absoluteTime(written));
    }
    var who = freshness.kept_by === "daemon" ? "the daemon"
      : freshness.kept_by === "timer" ? "the timer (backupplan apply)" : "backupplan";
    var host = typeof current.host === "string" && current.host
      ? " on " + current.host.slice(0, 200).replace(UNSHOWN, "\ufffd") : "";
    return since + " \u2014 is " + who + " still running" + host + "?";
  }
  function showStale(now) {
    var text = staleText(now);
    var live = document.getElementById("live");
    if (live) { live.classList.toggle("stale", text !== ""); }
    var banner = document.getElementById("stale-banner");
    if (!banner || text === staleShown) { return; }
    staleShown = text;  /* redrawn only when the words change: an alert is announced when it does */
    while (banner.firstChild) { banner.removeChild(banner.firstChild); }
    if (text) {
      var line = document.createElement("p");
      var icon = document.createElement("span");
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = "\u25f7 ";
      line.appendChild(icon);
      line.appendChild(document.createTextNode(text));
      banner.appendChild(line);
    }
    banner.hidden = text === "";
  }
  /* Every <time datetime> gets "(3 min ago)" or "(in 2 h)" after its absolute time. */
  function showTimes(now) {
    each("time[datetime]", function (element) {
      var moment = element.id === "age" ? null : parseTime(element.getAttribute("datetime"));
      if (moment === null) { return; }
      var relative = element.querySelector(".relative");
      if (!relative) {
        relative = document.createElement("span");
        relative.className = "relative";
        element.appendChild(relative);
      }
      setText(relative, " (" + relativeTime(moment, now) + ")");
    });
  }
  function tick() {
    var now = Date.now();
    var jobs = jobList(current);
    var byId = Object.create(null);  /* no prototype: a job may be called "constructor" or "__proto__" */
    jobs.forEach(function (job) { byId[job.id] = job; });
    showAge(now);
    showStale(now);
    updateBadges(byId, now);
    updateOverdueCard(jobs, now);
    showTimes(now);
  }

  function update(status) {
    if (!status || typeof status !== "object") { throw new Error("not a status document"); }
    current = status;
    polled = true;
    var jobs = Object.create(null);
    var running = [];
    jobList(status).forEach(function (job) {
      jobs[job.id] = job;
      if (job.status === "running") { running.push(job); }
    });
    updateStats(status.summary && typeof status.summary === "object" ? status.summary : {});
    updateActive(running);
    updateProgress(jobs);
    updateStrips(jobs);
    var problem = document.getElementById("live-problem");
    if (problem) { problem.classList.remove("stale"); setText(problem, ""); }
    tick();
  }
  function failed(error) {
    var problem = document.getElementById("live-problem");
    if (problem) {
      problem.classList.add("stale");
      setText(problem, " \u00b7 updates paused: status.json could not be read (" + error.message + "); retrying");
    }
  }
  /* Polling: live.json, a few hundred bytes (status.json's version, when it was written, the
     running runs' progress), with a conditional request that any static server answers 304, with
     no body, while it has not changed; status.json itself only when its version is not the one
     held (docs/site.md). A site written before live.json existed is polled for status.json. */
  function fetchJson(name, mode) {
    return fetch(root + name, { cache: mode }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    });
  }
  function applyLive(live) {
    current.generated_at = live.generated_at;
    current.freshness = live.freshness;
    current.host = live.host;
    var jobs = Object.create(null);
    jobList(current).forEach(function (job) { jobs[job.id] = job; });
    (Array.isArray(live.running) ? live.running : []).forEach(function (entry) {
      var job = entry && typeof entry.id === "string" ? jobs[entry.id] : null;
      if (job && job.status === "running") { job.progress = entry.progress; }
    });
    updateProgress(jobs);
    var problem = document.getElementById("live-problem");
    if (problem) { problem.classList.remove("stale"); setText(problem, ""); }
    tick();
  }
  function readStatus() { return fetchJson("status.json", "no-store").then(update); }
  function poll() {
    fetchJson("live.json", "no-cache")
      .then(function (live) {
        if (!live || typeof live !== "object") { throw new Error("live.json is not a live document"); }
        if (polled && typeof live.version === "string" && live.version === current.version) {
          applyLive(live);
          return null;
        }
        return readStatus();
      }, readStatus)
      .catch(failed)
      .then(function () { window.setTimeout(poll, refresh); });
  }
  function startLive() {
    tick();  /* at once, from the data island: right before any poll, and all there is on file:// */
    window.setInterval(tick, TICK);
    if (location.protocol === "file:") {
      // Browsers refuse fetch() of local files: say so, and reload instead where that loses nothing.
      // Each load judges the page's age from its data island again, so reloading keeps the banner.
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

  /* A job page's changed paths: filter by kind and by text, matches highlighted. The paths wrap
     after "/", "-" and "_" as the page drew them (<wbr>), filtered or not. */
  function appendBreakable(element, text) {
    var parts = text.split(/([\/_-]+)/);
    for (var index = 0; index < parts.length; index += 1) {
      if (parts[index]) { element.appendChild(document.createTextNode(parts[index])); }
      if (index % 2 === 1 && index < parts.length - 1) { element.appendChild(document.createElement("wbr")); }
    }
  }
  function startChanges() {
    var list = document.getElementById("changes-list");
    var controls = document.getElementById("changes-controls");
    if (!list || !controls) { return; }
    controls.hidden = false;
    controls.addEventListener("submit", function (event) { event.preventDefault(); });
    var items = Array.prototype.map.call(list.children, function (item) {
      var path = item.querySelector(".path");
      return { element: item, kind: item.getAttribute("data-kind"), path: path, text: path ? path.textContent : "" };
    });
    var kind = document.getElementById("changes-kind");
    var search = document.getElementById("changes-search");
    var count = document.getElementById("changes-count");
    var timer = null;
    function show(item, query) {
      var element = item.path;
      if (!element) { return; }
      while (element.firstChild) { element.removeChild(element.firstChild); }
      var lower = item.text.toLowerCase(), start = 0, found = query ? lower.indexOf(query) : -1;
      while (found >= 0) {
        appendBreakable(element, item.text.slice(start, found));
        var mark = document.createElement("mark");
        mark.textContent = item.text.slice(found, found + query.length);
        element.appendChild(mark);
        start = found + query.length;
        found = lower.indexOf(query, start);
      }
      appendBreakable(element, item.text.slice(start));
    }
    function apply() {
      var wanted = kind.value, query = search.value.trim().toLowerCase(), shown = 0;
      items.forEach(function (item) {
        var visible = (!wanted || item.kind === wanted) && (!query || item.text.toLowerCase().indexOf(query) >= 0);
        var marked = visible && query !== "";
        if (marked || item.marked) { show(item, marked ? query : ""); }
        item.marked = marked;
        item.element.hidden = !visible;
        if (visible) { shown += 1; }
      });
      setText(count, "Showing " + shown + " of " + items.length + " paths.");
    }
    kind.addEventListener("change", apply);
    search.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(apply, 300);
    });
    apply();
  }

  startLive();
  startLogs();
  startChanges();
}());
