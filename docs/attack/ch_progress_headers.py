#!/usr/bin/env python3
"""Session 47: does a ClickHouse server send `X-ClickHouse-Progress` header lines while a statement computes?
usage: [ATTACK_DIR=DIR] [CH_PORT=PORT] ch_progress_headers.py   (loopback only; bounded: each statement < 30 s)
Without CH_PORT: a throwaway /usr/sbin/clickhouse-server (memory capped) on ports 18491/18492 in ATTACK_DIR/chprog,
stopped at the end. With CH_PORT: that server's HTTP port (e.g. a current release), whose database `default` gets a
table `lp_progress`. Each statement is sent over a raw socket with and without `send_progress_in_http_headers=1&
http_headers_progress_interval_ms=200`; printed: the status line, the time of the first byte and of the end of the
headers, the progress lines and their times, whether X-ClickHouse-Exception-Code came, and whether the body (the
answer, or the error) is the same with the settings as without."""
import os, re, signal, socket, subprocess, sys, time, urllib.parse, urllib.request

W = os.path.join(os.environ.get("ATTACK_DIR", "/tmp"), "chprog")
PROGRESS = "send_progress_in_http_headers=1&http_headers_progress_interval_ms=200"
STATEMENTS = [
    ("SELECT computing ~3-8 s", "SELECT count() FROM numbers(300000000) WHERE sipHash64(number) % 7 = 0", ""),
    ("SELECT sleepEachRow 3 s", "SELECT sleepEachRow(0.5) FROM numbers(6) SETTINGS max_block_size = 1", ""),
    ("INSERT … SELECT", "INSERT INTO lp_progress SELECT number FROM numbers(100000000) WHERE sipHash64(number) % 7 = 0", ""),
    ("INSERT … FORMAT RowBinary, 40 MB", "INSERT INTO lp_progress FORMAT RowBinary", "rowbinary"),
    ("DDL: CREATE … AS SELECT", "CREATE TABLE lp_progress_{n} ENGINE = MergeTree ORDER BY n AS "
     "SELECT number AS n FROM numbers(100000000) WHERE sipHash64(number) % 7 = 0", ""),
    ("error after 2-3 s of computing", "SELECT throwIf(number = 90000000) FROM numbers(100000000) "
     "WHERE sipHash64(number) > 0 FORMAT Null", ""),
]

def start():
    for d in ("data", "tmp", "format_schemas"): os.makedirs(os.path.join(W, d), exist_ok=True)
    open(os.path.join(W, "users.xml"), "w").write(
        "<?xml version='1.0'?><yandex><profiles><default><max_memory_usage>2000000000</max_memory_usage>"
        "<max_memory_usage_for_all_queries>4000000000</max_memory_usage_for_all_queries></default></profiles>"
        "<users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile>"
        "<quota>default</quota></default></users><quotas><default></default></quotas></yandex>")
    open(os.path.join(W, "config.xml"), "w").write(
        f"<?xml version='1.0'?><yandex><logger><level>warning</level><log>{W}/server.log</log>"
        f"<errorlog>{W}/err.log</errorlog><console>0</console></logger><display_name>chprog</display_name>"
        f"<listen_host>127.0.0.1</listen_host><http_port>18491</http_port><tcp_port>18492</tcp_port>"
        f"<path>{W}/data/</path><tmp_path>{W}/tmp/</tmp_path><format_schema_path>{W}/format_schemas/</format_schema_path>"
        f"<users_config>{W}/users.xml</users_config><default_profile>default</default_profile>"
        f"<default_database>default</default_database><mark_cache_size>268435456</mark_cache_size></yandex>")
    p = subprocess.Popen(["/usr/sbin/clickhouse-server", f"--config-file={W}/config.xml"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with urllib.request.urlopen("http://127.0.0.1:18491/?query=SELECT%201", timeout=1) as r:
                if r.headers.get("X-ClickHouse-Server-Display-Name") == "chprog": return p, 18491
        except OSError: pass
        time.sleep(0.1)
    p.kill(); sys.exit("the throwaway server did not answer (port taken?)")

def send(port, params, sql, body):
    """One request; returns (status line, [(t, header line)], headers end t, first byte t, body bytes, end t)."""
    if body: params = "&".join(filter(None, [params, "query=" + urllib.parse.quote(sql)]))
    else: body = sql.encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    t0 = time.monotonic()
    s.sendall(f"POST /?{params} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
              .encode() + body)
    data, arrivals = b"", []
    while True:
        d = s.recv(1 << 16)
        if not d: break
        data += d
        arrivals.append((time.monotonic() - t0, len(data)))
    end = time.monotonic() - t0
    head, _, rest = data.partition(b"\r\n\r\n")
    lines, offset = [], 0
    for line in head.split(b"\r\n"):
        offset += len(line) + 2
        lines.append((next(t for t, n in arrivals if n >= offset), line.decode(errors="replace")))
    first = arrivals[0][0] if arrivals else end
    return lines[0][1] if lines else "", lines[1:], first, unchunk(rest), end

def unchunk(b):
    out = b""
    while b:
        size, _, b = b.partition(b"\r\n")
        n = int(size, 16)
        if n == 0: break
        out, b = out + b[:n], b[n + 2:]
    return out

def main():
    server, port = (None, int(os.environ["CH_PORT"])) if os.environ.get("CH_PORT") else start()
    try:
        q = lambda sql: send(port, "", sql, b"")
        print("server:", q("SELECT version()")[3].decode().strip())
        q("DROP TABLE IF EXISTS lp_progress"); q("CREATE TABLE lp_progress (n UInt64) ENGINE = MergeTree ORDER BY n")
        rows = b"".join(i.to_bytes(8, "little") for i in range(5_000_000))
        for n, (name, sql, body) in enumerate(STATEMENTS):
            answers = []
            for params in ("", PROGRESS):
                status, lines, first, got, end = send(port, params, sql.format(n=f"{n}{len(answers)}"),
                                                      rows if body else b"")
                prog = [(round(t, 2), l) for t, l in lines if l.lower().startswith("x-clickhouse-progress")]
                code = [l for _, l in lines if l.lower().startswith("x-clickhouse-exception-code")]
                answers.append(re.sub(rb'"elapsed": [0-9.]+', b"", got))
                print(f"{name} | {'progress' if params else 'plain'} | {status} | first byte {first:.2f} s, end "
                      f"{end:.2f} s | {len(prog)} progress lines {prog[:3]}{' …' if len(prog) > 3 else ''} | "
                      f"exception-code header {code} | body {got[:90]!r}")
            print(f"  same body with and without: {answers[0] == answers[1]}")
    finally:
        if server:
            server.send_signal(signal.SIGTERM)
            try: server.wait(10)
            except subprocess.TimeoutExpired: server.kill()

main()
