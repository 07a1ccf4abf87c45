"""Replays a log-panel-clickhouse statement log on a current ClickHouse
engine (chdb-core, in-process) and checks it answers as the packaged 18.16
server did.

Usage: python3 replay_on_current.py LOG DATABASE WORKDIR [CLUSTER]

LOG is what `Options::with_statement_log` wrote while the crate talked to an
18.16 server: one JSON object per request (`sql`, `settings`, `rows_hex` for
an insert's RowBinary body, `ok`, `answer`). Only the requests to DATABASE
are replayed, in order:

- every statement must run on the current engine (DDL, the materialised
  views, `ALTER`s, inserts, reads of system tables);
- an insert's RowBinary bytes are inserted as they were sent (through
  `file(…, 'RowBinary', …)`: chdb has no request body);
- a read answered as `FORMAT JSONCompact` (every read of the store) must give
  the same rows; rows of a read without `ORDER BY` are compared as sets.

With CLUSTER (the log of a sink and store on a cluster's shards, reading
through `Distributed` tables), the engine starts with a configuration whose
`remote_servers` names CLUSTER with one shard, this engine itself: its
`tcp_port` is the shard's port, so the shard is local (`is_local`) and a
`Distributed` read takes the local-replica path, with no server and no
connection. Every shard's statements are replayed on that one engine, so its
local tables hold the rows of all the shards together, which is what a read
through the `Distributed` table answered on 18.16. The replay refuses to run
unless `system.clusters` shows the shard as local.

Prints one JSON summary line; exits 1 when a statement failed or an answer
differed, 2 when chdb cannot be imported.
"""

import json
import os
import re
import sys

try:
    from chdb import session
except ImportError as e:  # the Rust test turns this into a skip or, under CI, a failure
    print(json.dumps({"error": f"chdb is not importable: {e}"}))
    sys.exit(2)

# The tables reads go through: `Distributed` over a cluster, else `Merge`.
READ_TABLE = re.compile(r"\b(log_records|log_logger_quarter|log_logger_hourly|log_logger_stats|log_context|log_site_hourly)\b")
INSERT = re.compile(r"^\s*INSERT INTO (\w+) \(([^)]*)\) FORMAT RowBinary\s*$", re.S)


def normalise(value):
    """18.16 and current releases print some numbers differently (1 vs 1.0)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def rows(answer):
    data = json.loads(answer)["data"]
    return [normalise(r) for r in data]


# The port of the one shard of CLUSTER, and the engine's own `tcp_port`, which
# makes the shard local; nothing listens on it and nothing connects to it.
LOCAL_SHARD_PORT = 9000


def open_engine(workdir, cluster):
    """A chdb session in WORKDIR; with CLUSTER, one whose cluster is itself."""
    path = os.path.join(workdir, "chdb")
    if cluster is None:
        return session.Session(path)
    config = os.path.join(workdir, "chdb-cluster.xml")
    with open(config, "w", encoding="utf-8") as out:
        out.write(
            f"<clickhouse><tcp_port>{LOCAL_SHARD_PORT}</tcp_port><remote_servers><{cluster}><shard><replica>"
            f"<host>127.0.0.1</host><port>{LOCAL_SHARD_PORT}</port></replica></shard></{cluster}></remote_servers>"
            "</clickhouse>"
        )
    s = session.Session(f"file:{path}?config-file={config}")
    shards = s.query(f"SELECT is_local FROM system.clusters WHERE cluster = '{cluster}'", "TSV").bytes().decode()
    if shards.split() != ["1"]:
        print(json.dumps({"error": f"cluster {cluster} is not one local shard: is_local {shards.split()}"}))
        sys.exit(1)
    return s


def main():
    log, database, workdir = sys.argv[1], sys.argv[2], sys.argv[3]
    cluster = sys.argv[4] if len(sys.argv) > 4 else None
    s = open_engine(workdir, cluster)
    s.query(f"CREATE DATABASE IF NOT EXISTS {database}")
    s.query(f"USE {database}")
    # 18.16 applies a mutation in the background and the store waits for it
    # in system.mutations; here the replayed ALTER waits itself.
    s.query("SET mutations_sync = 2")
    summary = {
        "statements": 0,
        "inserts": 0,
        "inserted_rows": 0,
        "compared": 0,
        "skipped_failed_on_18": 0,
        "distributed_ddl": 0,
        "distributed_reads": 0,
    }
    failures = []
    set_before = {}
    with open(log, encoding="utf-8") as f:
        entries = [json.loads(line) for line in f if line.strip()]
    for n, e in enumerate(entries):
        if e["database"] != database:
            continue
        sql = e["sql"]
        if not e["ok"]:
            # A statement 18.16 refused is the crate probing (e.g. a
            # partition that is not there); nothing to compare.
            summary["skipped_failed_on_18"] += 1
            continue
        summary["statements"] += 1
        if re.search(r"ENGINE = Distributed\(", sql):
            summary["distributed_ddl"] += 1
        for key, value in e["settings"].items():
            if set_before.get(key) != value:
                s.query(f"SET {key} = {json.dumps(value) if not value.isdigit() else value}")
                set_before[key] = value
        try:
            m = INSERT.match(sql)
            if m and e["rows_hex"] is not None:
                table, columns = m.group(1), [c.strip() for c in m.group(2).split(",")]
                types = dict(
                    tuple(line.split("\t"))
                    for line in s.query(
                        f"SELECT name, type FROM system.columns WHERE database = '{database}' AND table = '{table}'",
                        "TSV",
                    )
                    .bytes()
                    .decode()
                    .splitlines()
                )
                structure = ", ".join(f"{c} {types[c]}" for c in columns)
                path = os.path.join(workdir, f"insert-{n}.bin")
                with open(path, "wb") as out:
                    out.write(bytes.fromhex(e["rows_hex"]))
                before = int(s.query(f"SELECT count() FROM {table}", "TSV").bytes().decode().strip() or 0)
                s.query(
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"SELECT * FROM file('{path}', 'RowBinary', '{structure}')"
                )
                after = int(s.query(f"SELECT count() FROM {table}", "TSV").bytes().decode().strip() or 0)
                summary["inserts"] += 1
                summary["inserted_rows"] += after - before
                continue
            if re.search(r"FORMAT JSONCompact\s*$", sql):
                got = rows(s.query(re.sub(r"\s*FORMAT JSONCompact\s*$", "", sql), "JSONCompact").bytes().decode())
                want = rows(e["answer"])
                same = got == want
                if not same and not re.search(r"\bORDER BY\b", sql):
                    if re.search(r"\bLIMIT\b", sql):
                        # Any rows will do (an existence check): as many.
                        same = len(got) == len(want)
                    else:
                        key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
                        same = sorted(got, key=key) == sorted(want, key=key)
                summary["compared"] += 1
                if cluster is not None and READ_TABLE.search(sql):
                    summary["distributed_reads"] += 1
                if not same:
                    failures.append({"sql": sql, "on_18": want[:5], "on_current": got[:5]})
                continue
            s.query(sql)
        except Exception as x:  # chdb raises RuntimeError with the server's message
            failures.append({"sql": sql[:500], "error": str(x)[:500]})
    summary["failures"] = failures[:20]
    summary["failed"] = len(failures)
    print(json.dumps(summary))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
