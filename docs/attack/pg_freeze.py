#!/usr/bin/env python3
"""Session 41: the panel and `log-panel query` against a frozen PostgreSQL, no writer running (cheap).
usage: ATTACK_DIR=DIR pg_freeze.py BENCH PANEL_BIN [PANEL_BIN...]   (root; loopback; ports 15434, 18942+)
Fills a throwaway server for 2 s with `BENCH --attack-writer`, then per panel build: serve, warm the pool,
SIGSTOP the postmaster (then the whole server) for 20 s while 6 concurrent page requests and one
`query --read-timeout 5s` run; reports statuses, seconds and connections."""
import os, shutil, signal, socket, subprocess, sys, threading, time, re
BENCH, PANELS = os.path.abspath(sys.argv[1]), [os.path.abspath(p) for p in sys.argv[2:]]
D = os.environ["ATTACK_DIR"]; PG = "/usr/lib/postgresql/15/bin"; PGPORT = 15434
W = os.path.join(D, "pgf"); DATA = os.path.join(W, "data"); URL = f"postgres://postgres@127.0.0.1:{PGPORT}/attack"
def as_pg(*a): return subprocess.run(["runuser", "-u", "postgres", "--", *a], capture_output=True, text=True)
def pids():
    pm = int(open(os.path.join(DATA, "postmaster.pid")).readline())
    return [pm] + [int(k) for k in subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True).stdout.split()]
def get(port, path, out, timeout=30):
    t = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout); s.settimeout(timeout)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()); data = b""
        while True:
            c = s.recv(65536)
            if not c: break
            data += c
        out.append((path, int(data.split()[1]) if len(data.split()) > 1 else 0, round(time.monotonic() - t, 2)))
    except Exception as e:
        out.append((path, repr(e)[:40], round(time.monotonic() - t, 2)))
def conns():
    o = subprocess.run(["ss", "-tnpH", "state", "established", f"( dport = :{PGPORT} )"], capture_output=True, text=True).stdout
    return len(o.splitlines())
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); import throwaway_pg
throwaway_pg.fresh(W, PGPORT)
subprocess.run([BENCH, "--attack-writer", URL, "2"], cwd=W, capture_output=True)
try:
    for k, panel in enumerate(PANELS):
        port = 18942 + k
        p = subprocess.Popen([panel, "--db", URL, "serve", "--bind", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1); warm = []
        for path in ("/", "/records", "/records?q=quasar"): get(port, path, warm)
        print(f"{panel}: warm {warm}, connections {conns()}", flush=True)
        for what in ("postmaster", "all"):
            frozen = pids() if what == "all" else pids()[:1]
            for x in frozen: os.kill(x, signal.SIGSTOP)
            t0 = time.monotonic(); out = []
            ths = [threading.Thread(target=get, args=(port, path, out)) for path in
                   ("/", "/records", "/records?q=quasar", "/records?level=error", "/sites", "/records?q=timeout")]
            for th in ths: th.start()
            try:
                r = subprocess.run([panel, "--db", URL, "--read-timeout", "5s", "query", "--limit", "3"], capture_output=True, text=True, timeout=25)
                q = f"exit {r.returncode} in {time.monotonic()-t0:.2f} s: {r.stderr.strip()[:200]}"
            except subprocess.TimeoutExpired:
                q = "NO ANSWER within 25 s"
            time.sleep(max(0, 20 - (time.monotonic() - t0)))
            c_frozen = conns()
            for x in frozen: os.kill(x, signal.SIGCONT)
            for th in ths: th.join(timeout=40)
            after = []; time.sleep(1)
            for path in ("/", "/records"): get(port, path, after)
            print(f"  frozen {what} 20 s: query {q}; pages {sorted(out, key=lambda x: x[2])}; connections while frozen {c_frozen}; "
                  f"after SIGCONT {after}, connections {conns()}", flush=True)
            time.sleep(2)
        p.terminate(); p.wait(timeout=10)
finally:
    for x in pids():
        try: os.kill(x, signal.SIGCONT)
        except OSError: pass
    as_pg(f"{PG}/pg_ctl", "-D", DATA, "-m", "immediate", "-w", "stop"); shutil.rmtree(W, ignore_errors=True)
