#!/bin/bash
# fulldisk.sh BIN_DIR [RATE SECONDS SIZE_MB]: the database and its spool on a SIZE_MB (440) MiB tmpfs holding the 379 MiB base;
# the writer at RATE records/s (0: full rate) for SECONDS (40), the panel answering a client every 0.5 s; at half time the
# tmpfs grows to 1.5 GiB. A paced writer (RATE > 0) takes its idle steps (indexing, the idle merge) while the disk fills.
set -u
BIN=$1; RATE=${2:-0}; SECS=${3:-40}; SIZE=${4:-440}; D=${ATTACK_DIR:?a directory holding base.db, the load bench 1 M base (log-panel-bench --load-fill base.db 1000000)}; M=$D/fd
mkdir -p $M; mount -t tmpfs -o size=${SIZE}m tmpfs $M || exit 1
cp $D/base.db $M/run.db
BASE=$(sqlite3 -readonly $M/run.db 'select count(*) from log_records')
uptime; df -m $M | tail -1
$BIN/log-panel-bench --load-writer $M/run.db $SECS $RATE > $D/writer-fd.json 2> $D/writer-fd.err &
W=$!
PORT=18940 ATTACK_DIR=$D python3 - "$BIN/log-panel" "$M/run.db" $SECS <<'PY' &
import subprocess, sys, time, socket, os
panel = subprocess.Popen([sys.argv[1], "--db", sys.argv[2], "serve", "--bind", "127.0.0.1:18940"], stdout=subprocess.DEVNULL, stderr=open(os.environ["ATTACK_DIR"] + "/panel-fd.err", "w"))
time.sleep(1.5)
res = {}
t0 = time.monotonic()
while time.monotonic() - t0 < int(sys.argv[3]) + 4:
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
for i in $(seq 1 $((SECS/2))); do sleep 1; echo "t=$i s: $(df -m $M | tail -1 | awk '{print $3" MiB used of "$2}'), spool $(du -sm $M/run.db.spool 2>/dev/null | cut -f1) MiB"; done
mount -o remount,size=1536m $M && echo "grown to 1.5 GiB"
wait $W; echo "writer exit $?: $(cat $D/writer-fd.json)"; echo "writer stderr:"; head -5 $D/writer-fd.err
wait $P
ROWS=$(sqlite3 -readonly $M/run.db 'select count(*) from log_records')
echo "rows $ROWS = base $BASE + $((ROWS-BASE)); spool left: $(ls $M/run.db.spool 2>/dev/null | wc -l) files"
sqlite3 -readonly $M/run.db 'pragma quick_check' | head -2
# FTS5's integrity-check writes, so it runs on a copy; the index's mark beside the newest id.
cp $M/run.db $D/check.db; cp $M/run.db-wal $D/check.db-wal 2>/dev/null
echo "search index: $(sqlite3 $D/check.db "select indexed_id from log_fts_state; insert into log_records_fts(log_records_fts) values('integrity-check'); select 'integrity ok, max id ' || max(id) from log_records;" | tr '\n' ' ')"; rm -f $D/check.db*
uptime
umount $M
