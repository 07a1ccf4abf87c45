"""A throwaway PostgreSQL 15 for the attack scripts (root; loopback): `fresh(dir, port)` makes it anew
in `dir`/data, listening on 127.0.0.1:`port` (socket in `dir`), with an empty database `attack`."""
import os, shutil, subprocess
PG = "/usr/lib/postgresql/15/bin"
def as_pg(*a): return subprocess.run(["runuser", "-u", "postgres", "--", *a], capture_output=True, text=True)
def fresh(w, port):
    data = os.path.join(w, "data")
    shutil.rmtree(w, ignore_errors=True); os.makedirs(w); shutil.chown(w, "postgres")
    as_pg(f"{PG}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C")
    as_pg(f"{PG}/pg_ctl", "-D", data, "-l", os.path.join(w, "log"), "-w", "-o", f"-p {port} -k {w} -c listen_addresses=127.0.0.1", "start")
    as_pg(f"{PG}/psql", "-h", "127.0.0.1", "-p", str(port), "-d", "postgres", "-c", "CREATE DATABASE attack")
    return data
