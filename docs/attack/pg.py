#!/usr/bin/env python3
"""Session 41 attack: PostgreSQL 15 stopped, crashed and frozen under a writer at full rate, with the
panel, a live tail, `tail -f` (in a pty) and `query` on it. Loopback only, bounded in time and count.

usage: ATTACK_DIR=DIR pg.py LOG_PANEL_BIN LOG_PANEL_BENCH_BIN
  LOG_PANEL_BENCH_BIN needs `--attack-writer` (crates/bench/src/attack.rs, session 41).
  env: PGBIN (/usr/lib/postgresql/15/bin), PGPORT (15433), PORT (panel, 18941), FAULT_SECS (10),
       FAULTS (fast,immediate,freeze-postmaster,freeze-all), GAP (15: seconds between faults),
       DRAIN_SECS (120: how long the writer may take past its logging, replaying its spool, before the run fails).
Run as root (the server runs as the `postgres` user). Everything goes under DIR/pg and is removed."""
import os, pty, re, select, shutil, signal, socket, subprocess, sys, threading, time, json

PANEL, BENCH = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
D = os.environ["ATTACK_DIR"]
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
PGPORT = int(os.environ.get("PGPORT", "15433"))
PORT = int(os.environ.get("PORT", "18941"))
FAULT = float(os.environ.get("FAULT_SECS", "10"))
GAP = float(os.environ.get("GAP", "15"))
FAULTS = os.environ.get("FAULTS", "fast,immediate,freeze-postmaster,freeze-all").split(",")
W = os.path.join(D, "pg")
DATA = os.path.join(W, "data")
URL = f"postgres://postgres@127.0.0.1:{PGPORT}/attack"
T0 = time.monotonic()
now = lambda: time.monotonic() - T0
events = []  # (t, what)
CHILDREN = []  # the writer and the panel, ended if the run fails

def note(what):
    events.append((round(now(), 2), what)); print(f"[{now():6.1f}] {what}", flush=True)

def as_pg(*args, check=True):
    return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, check=check)

def pg_ctl(*args):
    return as_pg(f"{PGBIN}/pg_ctl", "-D", DATA, *args, check=False)

def start_server():
    r = pg_ctl("-l", os.path.join(W, "server.log"), "-w", "-t", "60", "-o",
               f"-p {PGPORT} -k {W} -c listen_addresses=127.0.0.1 -c max_connections=100", "start")
    note(f"server started: rc {r.returncode}")

def psql(sql, db="attack"):
    r = as_pg(f"{PGBIN}/psql", "-h", "127.0.0.1", "-p", str(PGPORT), "-d", db,
              "-At", "-c", sql, check=False)
    return r.stdout.strip() if r.returncode == 0 else f"ERR {r.stderr.strip()}"

def server_pids():
    pm = int(open(os.path.join(DATA, "postmaster.pid")).readline())
    kids = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True).stdout.split()
    return pm, [int(k) for k in kids]

def get(path, timeout=25.0):
    t = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", PORT), timeout); s.settimeout(timeout)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            c = s.recv(65536)
            if not c: break
            data += c
        s.close()
        line = data.split(b"\r\n", 1)[0].split()
        return (int(line[1]) if len(line) > 1 else 0, time.monotonic() - t)
    except Exception as e:
        return (0, time.monotonic() - t)

def prober(stop, out):
    paths = ("/", "/records", "/records?q=quasar", "/records?q=timeout&since=1h")
    i = 0
    while not stop.is_set():
        p = paths[i % len(paths)]; t = now()
        out.append((round(t, 1), p) + get(p)); i += 1
        time.sleep(0.5)

def sse(path, stop, out):
    """One live-tail stream: counts records, keeps every non-record event with its time; reconnects when it ends."""
    while not stop.is_set():
        t = now()
        try:
            s = socket.create_connection(("127.0.0.1", PORT), 5); s.settimeout(1.0)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            buf, head = b"", None
            while not stop.is_set():
                try: c = s.recv(65536)
                except socket.timeout: continue
                if not c:
                    out["ends"].append(round(now(), 1)); break
                buf += c
                if head is None and b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1); out["opens"].append((round(t, 1), head.split(b"\r\n")[0].decode()))
                while b"\n\n" in buf:
                    ev, buf = buf.split(b"\n\n", 1)
                    kind = re.search(rb"^event: (\w+)", ev, re.M)
                    kind = kind.group(1).decode() if kind else "?"
                    if kind == "record": out["records"] += 1
                    else:
                        data = b" ".join(re.findall(rb"^data: ?(.*)$", ev, re.M)).decode("utf-8", "replace")[:160]
                        out["other"].append((round(now(), 1), kind, data))
            s.close()
        except Exception as e:
            out["ends"].append((round(now(), 1), repr(e)))
        time.sleep(1)

def tail_f(stop, out):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(PANEL, [PANEL, "--db", URL, "--color", "never", "tail", "-f", "-n", "0", "--text", "quasar"])
    buf = b""
    while not stop.is_set():
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r: continue
        try: c = os.read(fd, 65536)
        except OSError: break
        if not c: break
        buf += c
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1); line = line.decode("utf-8", "replace").rstrip("\r")
            m = re.search(r"seq=(\d+)", line)
            if m: out["seqs"].append(int(m.group(1)))
            else: out["notes"].append((round(now(), 1), line[:200]))
    os.kill(pid, signal.SIGINT)
    _, status = os.waitpid(pid, 0)
    out["exit"] = os.waitstatus_to_exitcode(status)

def query_once(label):
    """`log-panel query` with a 5 s read budget, by this run's panel build and by $QUERY_BIN too when set."""
    for exe in [PANEL] + ([os.path.abspath(os.environ["QUERY_BIN"])] if os.environ.get("QUERY_BIN") else []):
        t = time.monotonic()
        try:
            r = subprocess.run([exe, "--db", URL, "--read-timeout", "5s", "query", "--limit", "3", "--format", "ndjson"],
                               capture_output=True, text=True, timeout=30)
            note(f"query ({label}, {exe}): exit {r.returncode} in {time.monotonic()-t:.2f} s, "
                 f"{len(r.stdout.splitlines())} lines out, stderr {r.stderr.strip().splitlines()[:2]}")
        except subprocess.TimeoutExpired:
            note(f"query ({label}, {exe}): NO ANSWER within 30 s (killed)")

def connections():
    """Established TCP connections to the server, by process name."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( dport = :{PGPORT} )"], capture_output=True, text=True).stdout
    counts = {}
    for m in re.finditer(r'users:\(\("([^"]+)"', out):
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts

def main():
    shutil.rmtree(W, ignore_errors=True); os.makedirs(W); shutil.chown(W, "postgres")
    as_pg(f"{PGBIN}/initdb", "-D", DATA, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C")
    start_server()
    print(psql("CREATE DATABASE attack", db="postgres"))
    run = os.path.join(W, "app"); os.makedirs(run)
    total = len(FAULTS) * (FAULT + GAP) + GAP + 10
    writer = subprocess.Popen([BENCH, "--attack-writer", URL, str(int(total))], cwd=run,
                              stdout=open(os.path.join(D, "pg-writer.json"), "w"), stderr=open(os.path.join(D, "pg-writer.err"), "w"))
    note(f"writer started for {int(total)} s")
    for _ in range(100):
        if psql("SELECT count(*) FROM log_records").isdigit(): break
        time.sleep(0.1)
    panel = subprocess.Popen([PANEL, "--db", URL, "serve", "--bind", f"127.0.0.1:{PORT}"], stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(D, "pg-panel.err"), "w"))
    for _ in range(200):
        try: socket.create_connection(("127.0.0.1", PORT), 0.2).close(); break
        except OSError: time.sleep(0.05)
    note("panel up")
    stop = threading.Event()
    samples, live, rare, tail = [], {"records": 0, "other": [], "ends": [], "opens": []}, \
        {"records": 0, "other": [], "ends": [], "opens": []}, {"seqs": [], "notes": []}
    threads = [threading.Thread(target=prober, args=(stop, samples), daemon=True),
               threading.Thread(target=sse, args=("/tail/events?level=info", stop, live), daemon=True),
               threading.Thread(target=sse, args=("/tail/events?text=quasar", stop, rare), daemon=True),
               threading.Thread(target=tail_f, args=(stop, tail), daemon=True)]
    CHILDREN.extend([writer, panel])
    for th in threads: th.start()
    time.sleep(GAP)
    note(f"connections before faults: {connections()}")
    for fault in FAULTS:
        if fault == "fast":
            note("pg_ctl stop -m fast"); note(f"  rc {pg_ctl('-m', 'fast', '-w', 'stop').returncode}")
        elif fault == "immediate":
            note("pg_ctl stop -m immediate"); note(f"  rc {pg_ctl('-m', 'immediate', '-w', 'stop').returncode}")
        elif fault == "freeze-postmaster":
            pm, _ = server_pids(); os.kill(pm, signal.SIGSTOP); note(f"SIGSTOP postmaster {pm}")
        elif fault == "freeze-all":
            pm, kids = server_pids()
            for p in [pm] + kids: os.kill(p, signal.SIGSTOP)
            note(f"SIGSTOP postmaster and its {len(kids)} children")
        # On a thread: a query that waits out its connect timeout (10 s) must not lengthen the fault.
        t_in = now(); time.sleep(2); asking = threading.Thread(target=query_once, args=(f"{fault}, 2 s in",)); asking.start()
        time.sleep(max(0, FAULT - (now() - t_in)))
        if fault in ("fast", "immediate"):
            start_server()
        elif fault == "freeze-postmaster":
            os.kill(pm, signal.SIGCONT); note("SIGCONT postmaster")
        else:
            for p in [pm] + kids:
                # A child that had exited is reaped by the postmaster once it runs again.
                try: os.kill(p, signal.SIGCONT)
                except ProcessLookupError: pass
            note("SIGCONT all")
        asking.join(); time.sleep(3); query_once(f"{fault}, 3 s after")
        note(f"connections 3 s after {fault}: {connections()}")
        time.sleep(max(0, GAP - 3))
    writer.wait(timeout=total + float(os.environ.get("DRAIN_SECS", "120")))
    note(f"writer exit {writer.returncode}")
    time.sleep(8)  # the last records reach the live tails and tail -f (3 s reorder) before they stop
    note(f"connections after the writer exited: {connections()}")
    stop.set()
    for th in threads: th.join(timeout=30)
    note(f"panel resident memory {open(f'/proc/{panel.pid}/status').read().split('VmRSS:')[1].split()[0]} kB, "
         f"fds {len(os.listdir(f'/proc/{panel.pid}/fd'))}")
    print(f"pg_stat_activity by application (panel still up, writer gone): "
          f"{psql('SELECT application_name, state, count(*) FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1, 2')!r}")
    panel.send_signal(signal.SIGTERM); panel.wait(timeout=15)
    rep = json.loads(open(os.path.join(D, "pg-writer.json")).read().strip().splitlines()[-1])
    print(json.dumps(rep, indent=None))
    rows = psql("SELECT count(*), count(DISTINCT (context->>'seq')::bigint), min((context->>'seq')::bigint), "
                "max((context->>'seq')::bigint) FROM log_records WHERE app = 'attack-writer' AND context ? 'seq'")
    print(f"in the database (rows, distinct seq, min, max): {rows}; the writer logged {rep['logged']}")
    other = psql("SELECT logger, level, left(message, 150) FROM log_records WHERE NOT context ? 'seq'")
    print(f"records without seq: {other[:600]!r}")
    rare_db = psql("SELECT (context->>'seq')::bigint FROM log_records WHERE message LIKE 'quasar%' ORDER BY 1").split()
    rare_db = [int(x) for x in rare_db]
    first = tail["seqs"][0] if tail["seqs"] else None
    want = [x for x in rare_db if first is not None and x >= first]
    print(f"tail -f: {len(tail['seqs'])} quasar records printed ({len(set(tail['seqs']))} distinct), the database holds "
          f"{len(want)} from its first; missing {sorted(set(want)-set(tail['seqs']))[:10]}, exit {tail.get('exit')}")
    print("tail -f notes:"); [print("  ", n) for n in tail["notes"]]
    for name, s in (("live tail level=info", live), ("live tail text=quasar", rare)):
        print(f"{name}: {s['records']} record events; opens {s['opens']}; ends {s['ends']}")
        for o in s["other"]: print("   ", o)
    bad = [x for x in samples if x[2] != 200]
    slow = sorted(samples, key=lambda x: -x[3])[:8]
    print(f"prober: {len(samples)} requests, statuses {sorted(set(x[2] for x in samples))}; "
          f"not 200: {[(x[0], x[1], x[2], round(x[3], 2)) for x in bad]}")
    print(f"prober slowest: {[(x[0], x[1], x[2], round(x[3], 2)) for x in slow]}")
    print(open(os.path.join(D, "pg-panel.err")).read()[-3000:])
    pg_ctl("-m", "fast", "-w", "stop")
    shutil.rmtree(W, ignore_errors=True)
    json.dump({"events": events, "samples": samples}, open(os.path.join(D, "pg-events.json"), "w"))

if __name__ == "__main__":
    try:
        main()
    finally:
        for c in CHILDREN:
            if c.poll() is None: c.kill()
        if os.path.exists(os.path.join(DATA, "postmaster.pid")):
            pm, kids = server_pids()
            for p in [pm] + kids:
                try: os.kill(p, signal.SIGCONT)
                except OSError: pass
            pg_ctl("-m", "immediate", "-w", "stop")
