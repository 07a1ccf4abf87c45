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
  var rows = tail.querySelector("tbody") || tail;
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
  // The records page's dense row (html::records_table), built from the
  // pieces the server computed (tail_row.rs): text and hrefs only.
  function line(r) {
    var row = el("tr", "row-" + r.class);
    row.dataset.id = r.id;
    var when = el("td", "t");
    var open = el("a");
    open.href = r.href;
    open.title = "Open the record";
    var t = el("time", null, local(r.ts) || r.ts);
    t.setAttribute("datetime", r.ts);
    t.title = r.ts;
    open.appendChild(t);
    when.appendChild(open);
    row.appendChild(when);
    var lvl = el("td", "level");
    lvl.appendChild(el("span", "lvl lvl-" + r.class, r.level));
    row.appendChild(lvl);
    var logger = el("td", "logger", r.logger);
    logger.title = r.logger_title;
    row.appendChild(logger);
    var msg = el("td", "msg");
    var det = el("details", "rec");
    var sum = el("summary");
    var m = el("span", "m");
    (r.message || []).forEach(function (run) {
      m.appendChild(run[1] ? el("mark", null, run[0]) : document.createTextNode(run[0]));
    });
    sum.appendChild(m);
    var chips = el("span", "chips");
    (r.chips || []).forEach(function (c) {
      var chip = el(c[2] ? "a" : "span", c[3] ? "chip hit" : "chip");
      if (c[2]) { chip.href = c[2]; }
      chip.appendChild(el("span", "ck", c[0]));
      chip.appendChild(document.createTextNode("="));
      chip.appendChild(el("span", "cv", c[1]));
      chips.appendChild(chip);
    });
    if (r.more_chips > 0) { chips.appendChild(el("span", "more", "+" + r.more_chips)); }
    sum.appendChild(chips);
    det.appendChild(sum);
    det.appendChild(details(r));
    msg.appendChild(det);
    row.appendChild(msg);
    return row;
  }
  function details(r) {
    var full = el("div", "full");
    function muted(before, link, after) {
      var p = el("p", "muted", before);
      if (link) {
        var a = el("a", null, link);
        a.href = r.href;
        p.appendChild(a);
        p.appendChild(document.createTextNode(after));
      }
      full.appendChild(p);
    }
    if (r.whole !== null && r.whole !== undefined) { full.appendChild(el("pre", "message", r.whole)); }
    if (r.message_cut) { muted("The message is cut here; ", "the record", " shows all of it."); }
    if (r.original_size) { muted("Cut when logged: the original message was " + r.original_size + " bytes."); }
    if (r.kv && r.kv.length) {
      var dl = el("dl", "kv");
      r.kv.forEach(function (e) { dl.appendChild(el("dt", null, e[0])); dl.appendChild(el("dd", null, e[1])); });
      full.appendChild(dl);
      if (r.more_keys > 0) { muted(r.more_keys + " more keys: ", "the record", " shows them all."); }
    }
    var o = r.origin || {};
    var origin = el("p", "origin muted");
    var t = el("time", null, local(r.ts) || r.ts);
    t.setAttribute("datetime", r.ts);
    origin.appendChild(t);
    origin.appendChild(document.createTextNode(" · " + o.logger));
    if (o.file) {
      origin.appendChild(document.createTextNode(" · "));
      origin.appendChild(el("code", null, o.file));
    }
    origin.appendChild(document.createTextNode(" · thread " + o.thread + " · " + o.host + " · " + o.app + " · pid " + o.pid + " · "));
    var a = el("a", null, "Open the record →");
    a.href = r.href;
    origin.appendChild(a);
    full.appendChild(origin);
    return full;
  }
  function gap(text) {
    var row = el("tr", "gap");
    var cell = el("td", null, "… " + text);
    cell.colSpan = 4;
    row.appendChild(cell);
    return row;
  }
  function show(r) {
    var stick = tail.scrollTop + tail.clientHeight >= tail.scrollHeight - 4;
    rows.appendChild(r.nodeType ? r : line(r));
    while (rows.children.length > max) { rows.removeChild(rows.firstElementChild); }
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
  // How far an index the filter reads is behind (a JSON string), replaced in
  // place when it changes; an empty note hides it (the indexes caught up).
  var lagNote = document.getElementById("tail-lag");
  source.addEventListener("lag", function (ev) {
    var text;
    try { text = JSON.parse(ev.data); } catch (e) { return; }
    if (!lagNote || typeof text !== "string") { return; }
    lagNote.textContent = text;
    lagNote.hidden = !text;
  });
  // The server starts a stream at most one page back; it says when it skipped lines.
  source.addEventListener("gap", function (ev) {
    var row = gap(ev.data);
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
