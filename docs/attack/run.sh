#!/bin/bash
# run.sh BIN_DIR PART WRITER_SECONDS: a copy of the 1 M base, the bench's writer at full rate beside the panel.
set -u
BIN=$1; PART=$2; SECS=$3; D=${ATTACK_DIR:?a directory holding base.db, the load bench 1 M base (log-panel-bench --load-fill base.db 1000000)}
cp $D/base.db $D/run.db
BASE=$(sqlite3 -readonly $D/run.db 'select count(*) from log_records')
uptime
$BIN/log-panel-bench --load-writer $D/run.db $SECS 0 > $D/writer-$PART.json 2> $D/writer-$PART.err &
W=$!
sleep 1
python3 $(dirname $0)/attack.py $BIN/log-panel $D/run.db $PART
wait $W; echo "writer exit $?: $(cat $D/writer-$PART.json)"
ROWS=$(sqlite3 -readonly $D/run.db 'select count(*) from log_records')
echo "rows $ROWS = base $BASE + $((ROWS-BASE)) written"
uptime
rm -rf $D/run.db $D/run.db-wal $D/run.db-shm $D/run.db.spool
