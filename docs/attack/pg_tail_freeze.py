#!/usr/bin/env python3
"""Session 45: `log-panel tail -f` against a PostgreSQL frozen whole (SIGSTOP of every server process).
usage: [ATTACK_DIR=DIR] [FREEZE=30] pg_tail_freeze.py BENCH CLI [CLI...]   (root; loopback; port 15455)
Per CLI build: a throwaway server with the schema (BENCH --attack-writer 1 s), `tail -f -n 0 --reorder-ms 0`,
50 rows inserted (with the sink's NOTIFY), every server process SIGSTOPped for FREEZE s, SIGCONT, 50 rows more;
reports stderr lines with their time after the freeze, the tail's threads while frozen, and rows printed vs inserted."""
import os, signal, subprocess, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__))); import throwaway_pg
BENCH, CLIS = os.path.abspath(sys.argv[1]), [os.path.abspath(p) for p in sys.argv[2:]]
FREEZE = float(os.environ.get("FREEZE", "30"))
PG = throwaway_pg.PG; PORT = 15455
W = os.path.join(os.environ.get("ATTACK_DIR", "/tmp"), "pgtail"); DATA = os.path.join(W, "data"); URL = f"postgres://postgres@127.0.0.1:{PORT}/attack"
as_pg = throwaway_pg.as_pg
def psql(sql): return as_pg(f"{PG}/psql", "-h", "127.0.0.1", "-p", str(PORT), "-d", "attack", "-Atc", sql).stdout.strip()
def pids():
    pm = int(open(os.path.join(DATA, "postmaster.pid")).readline())
    return [pm] + [int(k) for k in subprocess.run(["pgrep", "-P", str(pm)], capture_output=True, text=True).stdout.split()]
def insert(tag, n=50):
    psql(f"BEGIN; INSERT INTO log_records (ts, level, logger, message, thread, pid, host, app) "
         f"SELECT now(), 20, 'freeze', '{tag} ' || i, 't', 1, 'h', 'a' FROM generate_series(1, {n}) i; "
         f"SELECT pg_notify('log_panel_commit', '0'); COMMIT")
for cli in CLIS:
    throwaway_pg.fresh(W, PORT)
    subprocess.run([BENCH, "--attack-writer", URL, "1"], cwd=W, capture_output=True)
    try:
        out = open(os.path.join(W, "tail.out"), "w")
        t = subprocess.Popen([cli, "--db", URL, "tail", "-f", "-n", "0", "--reorder-ms", "0", "--color", "never"],
                             stdout=out, stderr=subprocess.PIPE, text=True)
        lines = []; t0 = [None]
        def err():
            for line in t.stderr:
                lines.append((round(time.monotonic() - t0[0], 1) if t0[0] else None, line.strip()[:230]))
        threading.Thread(target=err, daemon=True).start()
        time.sleep(2); insert("before"); time.sleep(3)
        frozen = pids(); t0[0] = time.monotonic()
        for x in frozen: os.kill(x, signal.SIGSTOP)
        most = 0
        while time.monotonic() - t0[0] < FREEZE:
            most = max(most, len(os.listdir(f"/proc/{t.pid}/task"))); time.sleep(0.2)
        for x in frozen: os.kill(x, signal.SIGCONT)
        thaw = time.monotonic() - t0[0]
        time.sleep(1); insert("after"); time.sleep(15)
        t.send_signal(signal.SIGINT); t.wait(timeout=20); out.close()
        printed = open(os.path.join(W, "tail.out")).read().splitlines()
        def count(tag): return sum(1 for l in printed if f"{tag} " in l)
        print(f"{cli}: thawed at {thaw:.1f} s; tail threads at most {most} while frozen; exit {t.returncode}; "
              f"printed {len(printed)} lines: before {count('before')}/50, after {count('after')}/50, "
              f"distinct {len(set(printed))}")
        for when, line in lines: print(f"   {when} s: {line}")
    finally:
        as_pg(f"{PG}/pg_ctl", "-D", DATA, "-m", "immediate", "stop")
