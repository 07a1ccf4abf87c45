#!/bin/bash
# fulldisk.sh BIN_DIR: the database and its spool on a 440 MiB tmpfs holding the 379 MiB base;
# the writer at full rate for 40 s, the panel answering a client every 0.5 s; after 20 s the tmpfs grows to 1.5 GiB.
set -u
BIN=$1; D=${ATTACK_DIR:?a directory holding base.db, the load bench 1 M base (log-panel-bench --load-fill base.db 1000000)}; M=$D/fd
mkdir -p $M; mount -t tmpfs -o size=440m tmpfs $M || exit 1
cp $D/base.db $M/run.db
BASE=$(sqlite3 -readonly $M/run.db 'select count(*) from log_records')
uptime; df -m $M | tail -1
$BIN/log-panel-bench --load-writer $M/run.db 40 0 > $D/writer-fd.json 2> $D/writer-fd.err &
W=$!
PORT=18940 ATTACK_DIR=$D python3 - "$BIN/log-panel" "$M/run.db" <<'PY' &
import subprocess, sys, time, socket, os
panel = subprocess.Popen([sys.argv[1], "--db", sys.argv[2], "serve", "--bind", "127.0.0.1:18940"], stdout=subprocess.DEVNULL, stderr=open(os.environ["ATTACK_DIR"] + "/panel-fd.err", "w"))
time.sleep(1.5)
res = {}
t0 = time.monotonic()
while time.monotonic() - t0 < 44:
    for path in ("/", "/records", "/records?q=quasar", "/tail?text=quasar"):
        t = time.monotonic()
        try:
            s = socket.create_connection(("127.0.0.1", 18940), 15); s.settimeout(15)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()); d = b""
            while True:
                c = s.recv(65536)
                if not c: break
                d += c
            code = d.split(b"\r\n",1)[0].split()[1].decode()
        except Exception as e:
            code = type(e).__name__
        res.setdefault(code, []).append(time.monotonic() - t)
    time.sleep(0.5)
print("panel during the full disk:", {k: (len(v), f"max {max(v)*1000:.0f} ms") for k, v in res.items()}, flush=True)
panel.terminate(); panel.wait(10)
PY
P=$!
for i in $(seq 1 20); do sleep 1; echo "t=$i s: $(df -m $M | tail -1 | awk '{print $3" MiB used of "$2}'), spool $(du -sm $M/run.db.spool 2>/dev/null | cut -f1) MiB"; done
mount -o remount,size=1536m $M && echo "grown to 1.5 GiB"
wait $W; echo "writer exit $?: $(cat $D/writer-fd.json)"; echo "writer stderr:"; head -5 $D/writer-fd.err
wait $P
ROWS=$(sqlite3 -readonly $M/run.db 'select count(*) from log_records')
echo "rows $ROWS = base $BASE + $((ROWS-BASE)); spool left: $(ls $M/run.db.spool 2>/dev/null | wc -l) files"
sqlite3 -readonly $M/run.db 'pragma quick_check' | head -2
uptime
umount $M
