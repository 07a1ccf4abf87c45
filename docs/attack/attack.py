#!/usr/bin/env python3
"""Session 39 attack on the release panel, 127.0.0.1 only, bounded in count and time.
usage: attack.py PANEL_BIN DB PART   (PART: idle | hostile | kill | streams); the panel's stderr goes to $ATTACK_DIR
The panel is started and stopped here; a writer, if any, runs beside (started by the caller)."""
import os, socket, subprocess, sys, time, threading, urllib.parse, statistics, signal, json

PANEL, DB, PART = sys.argv[1], sys.argv[2], sys.argv[3]
PORT = int(os.environ.get("PORT", "18939"))

def start_panel():
    p = subprocess.Popen([PANEL, "--db", DB, "serve", "--bind", f"127.0.0.1:{PORT}"],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(os.environ.get("ATTACK_DIR", "."), f"panel-{PART}.err"), "a"))
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", PORT), 0.2).close(); return p
        except OSError: time.sleep(0.05)
    raise SystemExit("panel did not start")

def get(path, timeout=20.0, head_only=False):
    """(status, seconds, bytes) of one GET on a new connection; status 0 = no answer."""
    t = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", PORT), timeout)
        s.settimeout(timeout)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode("latin-1", "replace"))
        data = b""
        while True:
            c = s.recv(65536)
            if not c: break
            data += c
            if head_only and b"\r\n\r\n" in data: break
        s.close()
        line = data.split(b"\r\n", 1)[0].split()
        return (int(line[1]) if len(line) > 1 else 0, time.monotonic() - t, len(data))
    except Exception as e:
        return (0, time.monotonic() - t, repr(e))

def fds(p):
    try: return len(os.listdir(f"/proc/{p.pid}/fd"))
    except OSError: return -1

def prober(stop, out, paths=("/", "/records", "/records?q=quasar")):
    i = 0
    while not stop.is_set():
        out.append((paths[i % len(paths)],) + get(paths[i % len(paths)]))
        i += 1
        time.sleep(0.5)

def summary(samples):
    ok = [s for s in samples if s[1] == 200]
    lat = sorted(s[2] for s in ok)
    bad = [s for s in samples if s[1] != 200]
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
    return f"{len(ok)}/{len(samples)} answered 200, p50 {p(.5)*1000:.0f} ms, p95 {p(.95)*1000:.0f} ms, max {p(1)*1000:.0f} ms; not 200: {bad[:5]}"

if PART == "idle":
    panel = start_panel()
    stop, samples = threading.Event(), []
    th = threading.Thread(target=prober, args=(stop, samples)); th.start()
    socks = []
    # 700 idle connections (cap 512), then 150 slowloris heads (a byte every 2 s), then 100 tail streams never read (cap 64).
    for i in range(700):
        try: socks.append(socket.create_connection(("127.0.0.1", PORT), 2))
        except OSError as e: print("idle connect failed", i, e); break
    print(f"after 700 idle: panel fds {fds(panel)}", flush=True)
    loris = []
    for i in range(150):
        try:
            s = socket.create_connection(("127.0.0.1", PORT), 2); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n"); loris.append(s)
        except OSError as e: print("loris connect failed", i, e); break
    streams, refused = [], {}
    for i in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", PORT), 5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(f"GET /tail/events?text=quasar{'&logger=billing' if i%2 else ''} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            s.settimeout(10)
            head = s.recv(200).split(b"\r\n", 1)[0]
            code = head.split()[1].decode() if len(head.split()) > 1 else "none"
            refused[code] = refused.get(code, 0) + 1
            streams.append(s)
        except OSError as e:
            refused["error " + type(e).__name__] = refused.get("error " + type(e).__name__, 0) + 1
    print(f"100 tail streams asked: {refused}; panel fds {fds(panel)}", flush=True)
    t_end = time.monotonic() + 25
    while time.monotonic() < t_end:
        for s in loris:
            try: s.send(b"X")
            except OSError: pass
        time.sleep(2)
    # which idle/loris sockets were closed by the server
    def closed(s):
        s.setblocking(False)
        try: return s.recv(1) == b""
        except BlockingIOError: return False
        except OSError: return True
    print(f"after 25 s: idle closed by server {sum(map(closed, socks))}/{len(socks)}, loris closed {sum(map(closed, loris))}/{len(loris)}, panel fds {fds(panel)}", flush=True)
    stop.set(); th.join()
    print("normal client during the flood:", summary(samples), flush=True)
    for s in socks + loris + streams: s.close()
    time.sleep(1)
    print("after closing all: GET /", get("/")[:2], "fds", fds(panel), flush=True)
    panel.terminate(); panel.wait(10)

elif PART == "hostile":
    panel = start_panel()
    vals = ["' OR 1=1 --", "\"); DROP TABLE log_records; --", "<script>alert(1)</script>", "%", "\\",
            "a" * 5000, "x" * 70000, "\u202eevil\u202c", "\U0001F4A9" * 500, "\x00", "\x1b[31m", "é\u0301",
            "(((((((((((", "a AND (b OR", "NOT NOT NOT x", "user_id:" + "9" * 40, "user_id>=abc", "level:nope",
            "-1", "99999999999999999999999", "0000-00-00", "9999-12-31T23:59:59Z", "now-1000000000d",
            "a=b=c", " OR ".join(["k:v"] * 300)]
    keys = ["text", "q", "logger", "level", "since", "until", "context", "after", "key", "tz"]
    pages = ["/", "/records", "/related", "/sites", "/alerts", "/tail", "/records/1", "/records/1/around", "/tail/events"]
    counts, bad, slow, n, busy, lats = {}, [], [], 0, [], []
    started = time.monotonic()
    for page in pages:
        for k in keys:
            for v in vals:
                path = page + "?" + k + "=" + urllib.parse.quote(v, safe="")
                st, sec, size = get(path, timeout=20, head_only=page == "/tail/events")
                n += 1
                counts[st] = counts.get(st, 0) + 1
                if st >= 500 and st != 503 or st == 0: bad.append((path[:120], st, size))
                if st == 503: busy.append((path[:100], round(sec, 1)))
                lats.append((round(sec, 2), path[:80]))
                if sec > 11: slow.append((path[:120], st, round(sec, 1)))
        # raw, unencoded and broken paths
    raws = ["/records?text=%", "/records?%%%", "/records?q=%E2%80", "/records/abc", "/records/-1", "/records/99999999999999999999",
            "/records/1/around?tz=" + "9" * 50, "/" + "a" * 60000, "/records?" + "&".join(f"context=k{i}%3Dv" for i in range(2000)),
            "/records?text=a&text=b&text=c", "/tail/events?after=-1", "/tail/events?after=abc", "/records?q=" + "(" * 5000]
    for r in raws:
        st, sec, size = get(r, timeout=20, head_only=r.startswith("/tail/events"))
        n += 1; counts[st] = counts.get(st, 0) + 1
        if st >= 500 and st != 503 or st == 0: bad.append((r[:120], st, size))
        if sec > 11: slow.append((r[:120], st, round(sec, 1)))
    print(f"{n} hostile requests in {time.monotonic()-started:.0f} s: statuses {dict(sorted(counts.items()))}")
    print(f"500-or-no-answer: {len(bad)} {bad[:10]}")
    print(f"slower than 11 s: {len(slow)} {slow[:10]}")
    print(f"503: {busy}")
    print(f"slowest: {sorted(lats)[-5:]}")
    print("after: GET /", get("/")[:2], flush=True)
    panel.terminate(); panel.wait(10)

elif PART == "kill":
    for sig in (signal.SIGTERM, signal.SIGKILL):
        panel = start_panel()
        streams = []
        for i in range(20):
            s = socket.create_connection(("127.0.0.1", PORT), 5)
            s.sendall(b"GET /tail/events?text=quasar HTTP/1.1\r\nHost: x\r\n\r\n"); streams.append(s)
        pages = []
        for i in range(10):
            s = socket.create_connection(("127.0.0.1", PORT), 5)
            s.sendall(b"GET /records?q=quasar%20OR%20user_id%3A7 HTTP/1.1\r\nHost: x\r\n\r\n"); pages.append(s)
        time.sleep(1.0)
        t = time.monotonic(); panel.send_signal(sig); rc = panel.wait(15); dt = time.monotonic() - t
        ended = 0
        for s in streams + pages:
            s.settimeout(5)
            try:
                while s.recv(65536): pass
                ended += 1
            except ConnectionResetError: ended += 1
            except socket.timeout: pass
        print(f"{sig.name}: panel exited {rc} in {dt:.2f} s; {ended}/{len(streams)+len(pages)} client connections ended (EOF or reset) within 5 s", flush=True)
        p2 = start_panel()
        print("  restarted: GET /", get("/")[:2], "GET /tail?text=quasar", get("/tail?text=quasar")[:2], flush=True)
        p2.terminate(); p2.wait(10)

if PART == "streams":
    # 64 live-tail streams (the cap) that never read, half reading an index, beside the writer at full rate:
    # the panel's memory and descriptors stay bounded, and it answers a normal client.
    panel = start_panel()
    def rss():
        for l in open(f"/proc/{panel.pid}/status"):
            if l.startswith("VmRSS"): return int(l.split()[1]) // 1024
    streams = []
    for i in range(int(os.environ.get("NSTREAMS", "64"))):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", PORT))
        # STREAMS=level or STREAMS=search: every stream of one kind (default: half each).
        kind = {"level": "level=info", "search": "text=quasar"}.get(os.environ.get("STREAMS", ""))
        s.sendall(f"GET /tail/events?{kind or ('text=quasar' if i % 2 else 'level=info')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        streams.append(s)
    stop, samples = threading.Event(), []
    th = threading.Thread(target=prober, args=(stop, samples)); th.start()
    if os.environ.get("DRAIN"):
        # DRAIN=1: every stream is read as fast as it comes (a browser that keeps up), for comparison.
        def drain(s):
            s.settimeout(1)
            while not stop.is_set():
                try:
                    if not s.recv(65536): break
                except socket.timeout: pass
                except OSError: break
        for s in streams[1:]: threading.Thread(target=drain, args=(s,), daemon=True).start()
    seen = []
    for t in range(8):
        time.sleep(5); seen.append((rss(), fds(panel)))
    stop.set(); th.join()
    print(f"{len(streams)} streams, every 5 s (RSS MiB, fds): {seen}")
    print("normal client:", summary(samples))
    one = streams[0]; one.settimeout(5)
    got = one.recv(65536)
    print("an unread stream, read at last:", got.split(b"\r\n", 1)[0], len(got), "bytes in the first read", flush=True)
    for s in streams: s.close()
    time.sleep(1); print("after closing: fds", fds(panel), "RSS", rss())
    panel.terminate(); panel.wait(10)
