// log-panel's only script: local times, the viewer's offset for the server,
// and the live tail. Every page but the live tail works without it. No
// inline code anywhere (the CSP forbids it), and stored strings only ever go
// into the page as text (textContent), never as HTML.
"use strict";
(function () {
  var offset = -new Date().getTimezoneOffset();

  // The server renders days and times in the offset it was told; tell it ours.
  document.cookie = "log_panel_tz=" + offset + "; path=/; max-age=31536000; SameSite=Strict";
  var body = document.body;
  if (body && body.dataset.tzInUrl !== "true" && Number(body.dataset.tz) !== offset) {
    var key = "log_panel_tz_reloaded";
    if (sessionStorage.getItem(key) !== String(offset)) {
      sessionStorage.setItem(key, String(offset));
      location.reload();
      return;
    }
  }

  function pad(n, w) { n = String(n); while (n.length < (w || 2)) { n = "0" + n; } return n; }
  function local(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return null; }
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }
  function localize(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var text = local(times[i].getAttribute("datetime"));
      if (text) { times[i].textContent = text; }
    }
  }
  localize(document);

  var tail = document.getElementById("tail");
  if (!tail || !window.EventSource) { return; }
  var max = Number(tail.dataset.max) || 500;
  var recordBase = tail.dataset.recordBase || "";
  var toggle = document.getElementById("tail-toggle");
  var status = document.getElementById("tail-status");
  var paused = false;
  var held = [];

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function line(r) {
    var lvl = String(r.level).toLowerCase();
    var row = el("div", "line row-" + lvl);
    row.dataset.id = r.id;
    var t = el("time", null, local(r.ts) || r.ts);
    t.setAttribute("datetime", r.ts);
    row.appendChild(t);
    row.appendChild(document.createTextNode(" "));
    row.appendChild(el("span", "lvl lvl-" + lvl, r.level));
    row.appendChild(document.createTextNode(" "));
    row.appendChild(el("span", "logger", r.logger));
    row.appendChild(document.createTextNode(" "));
    var a = el("a", "msg", r.message);
    a.href = recordBase + encodeURIComponent(r.id);
    row.appendChild(a);
    row.appendChild(document.createTextNode(" "));
    row.appendChild(el("code", "ctx", r.context));
    return row;
  }
  function show(r) {
    var stick = tail.scrollTop + tail.clientHeight >= tail.scrollHeight - 4;
    tail.appendChild(r.nodeType ? r : line(r));
    while (tail.children.length > max) { tail.removeChild(tail.firstElementChild); }
    if (stick) { tail.scrollTop = tail.scrollHeight; }
  }
  function say(text) { status.textContent = text; }

  tail.scrollTop = tail.scrollHeight;
  var source = new EventSource(tail.dataset.src);
  source.addEventListener("open", function () { say(paused ? "Paused" : "Live"); });
  source.addEventListener("record", function (ev) {
    var r;
    try { r = JSON.parse(ev.data); } catch (e) { return; }
    if (paused) {
      held.push(r);
      if (held.length > max) { held.shift(); }
      say("Paused · " + held.length + " new");
    } else {
      show(r);
    }
  });
  source.addEventListener("status", function (ev) {
    say(ev.data === "ok" ? "Live" : "Database unreachable, retrying: " + ev.data);
  });
  // The server starts a stream at most one page back; it says when it skipped lines.
  source.addEventListener("gap", function (ev) {
    var row = el("div", "line gap", "… " + ev.data);
    if (paused) { held.push(row); } else { show(row); }
  });
  source.addEventListener("error", function () {
    // A refused stream (too many open: 503) is not retried by the browser.
    say(source.readyState === EventSource.CLOSED
      ? "Live updates stopped: the server refused the stream (too many live tails open?). Reload to try again."
      : "Disconnected, reconnecting…");
  });

  toggle.disabled = false;
  toggle.addEventListener("click", function () {
    paused = !paused;
    toggle.textContent = paused ? "Resume" : "Pause";
    if (!paused) {
      held.forEach(show);
      held = [];
    }
    say(paused ? "Paused" : "Live");
  });
})();
