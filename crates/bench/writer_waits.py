#!/usr/bin/env python3
"""Where the log-panel writer thread's time goes during `log-panel-bench --only load`.

Run beside the bench (as root or the same user), e.g.

    python3 crates/bench/writer_waits.py waits.txt & S=$!
    log-panel-bench --only load --load-rounds 4 ...
    kill $S

It finds every `--load-writer` child (the application), and samples its
`log-panel-writer` thread every ~2 ms: the scheduler state, the system call it
is in (`/proc/PID/task/TID/syscall`: `clock_nanosleep` while SQLite's busy
handler waits for readers in a `RESTART`, `fsync` in a checkpoint, `futex` on
the queue), its CPU and run-queue time (`schedstat`) and the size of the
`-wal` file. When the child ends it appends to the file named by its argument
the shares of the samples by WAL size (under the threshold, up to twice it,
past it) and one line per second. Each child's account names the build it
measured: the side's label of the bench that started it (its `--load-side
LABEL=BENCH,CLI` whose BENCH is the child's binary) and that binary's path.
It costs a few % of one core (session 42, docs/performance.md: "Reads beside
a writer at half rate (issue 24, session 42)").
"""
import os, sys, time, collections

NAMES = {35: 'nanosleep', 230: 'clock_nanosleep', 74: 'fsync', 75: 'fdatasync', 202: 'futex',
         18: 'pwrite', 17: 'pread', 0: 'read', 1: 'write', 7: 'poll'}
MIB = 1 << 20
out = open(sys.argv[1], 'a')
tracked = {}  # pid -> dict


def find_children():
    for p in os.listdir('/proc'):
        if not p.isdigit() or int(p) in tracked:
            continue
        try:
            cmd = open(f'/proc/{p}/cmdline', 'rb').read().split(b'\0')
        except OSError:
            continue
        if b'--load-writer' in cmd:
            db = cmd[cmd.index(b'--load-writer') + 1].decode()
            tracked[int(p)] = {'db': db, 'tid': None, 'start': time.time(), 'n': 0,
                               'zones': collections.defaultdict(collections.Counter),
                               'sched0': None, 'sched': None, 'secs': collections.defaultdict(collections.Counter),
                               'rate': int(cmd[cmd.index(b'--load-writer') + 3]), 'side': side_of(p)}


def side_of(pid):
    """The build a `--load-writer` child belongs to: `LABEL (BINARY)`, the
    label of the parent bench's `--load-side` naming the child's binary, or
    `side ? (BINARY)` when no side names it (a child started by hand)."""
    try:
        exe = os.readlink(f'/proc/{pid}/exe')
    except OSError:
        return 'side ? (binary unknown)'
    exe = exe.removesuffix(' (deleted)')
    try:
        ppid = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1]
        cwd = os.readlink(f'/proc/{ppid}/cwd')
        cmd = [a.decode() for a in open(f'/proc/{ppid}/cmdline', 'rb').read().split(b'\0')]
    except (OSError, IndexError, UnicodeDecodeError):
        return f'side ? ({exe})'
    for flag, value in zip(cmd, cmd[1:]):
        if flag != '--load-side' or '=' not in value:
            continue
        label, bins = value.split('=', 1)
        bench = bins.split(',', 1)[0]
        if os.path.realpath(os.path.join(cwd, bench)) == os.path.realpath(exe):
            return f'{label} ({exe})'
    return f'side ? ({exe})'


def zone(wal):
    return '<32' if wal <= 32 * MIB else ('32-64' if wal <= 64 * MIB else '>64')


def finish(pid, t):
    wall = time.time() - t['start']
    s0, s1 = t['sched0'], t['sched']
    print(f"== {t['side']}: pid {pid} rate {t['rate']} at {time.strftime('%H:%M:%S', time.localtime(t['start']))} "
          f"wall {wall:.1f} s samples {t['n']}", file=out)
    if s0 and s1:
        print(f"   writer thread: cpu {(s1[0]-s0[0])/1e9:.2f} s, runnable waiting for a cpu {(s1[1]-s0[1])/1e9:.2f} s", file=out)
    tot = sum(sum(c.values()) for c in t['zones'].values()) or 1
    for z in ['<32', '32-64', '>64']:
        c = t['zones'].get(z)
        if not c:
            continue
        parts = ', '.join(f"{k} {100*v/tot:.1f}%" for k, v in c.most_common())
        print(f"   WAL {z} MiB ({100*sum(c.values())/tot:.1f}% of samples): {parts}", file=out)
    for sec in sorted(t['secs']):
        c = t['secs'][sec]
        meta = ('walmax', 'cpu', 'rq')
        n = sum(v for k, v in c.items() if k not in meta) or 1
        print(f"   s{sec:02d} cpu={c['cpu']//1000000}ms rq={c['rq']//1000000}ms walmax={c['walmax']} | " +
              ' '.join(f"{k}={100*v/n:.0f}%" for k, v in sorted(c.items()) if k not in meta), file=out)
    out.flush()


last_scan = 0
while True:
    now = time.time()
    if now - last_scan > 0.1:
        find_children()
        last_scan = now
    for pid, t in list(tracked.items()):
        if not os.path.exists(f'/proc/{pid}'):
            finish(pid, t)
            del tracked[pid]
            continue
        try:
            if t['tid'] is None:
                for tid in os.listdir(f'/proc/{pid}/task'):
                    if open(f'/proc/{pid}/task/{tid}/comm').read().strip() == 'log-panel-write':
                        t['tid'] = tid
                        t['start'] = time.time()
                if t['tid'] is None:
                    continue
            base = f'/proc/{pid}/task/{t["tid"]}'
            st = open(base + '/stat').read()
            state = st[st.rindex(')') + 2]
            sc = open(base + '/syscall').read().split()[0]
            sched = tuple(int(x) for x in open(base + '/schedstat').read().split()[:2])
        except (OSError, ValueError, IndexError):
            continue
        try:
            wal = os.stat(t['db'] + '-wal').st_size
        except OSError:
            wal = 0
        if t['sched0'] is None:
            t['sched0'] = sched
        sec = int(time.time() - t['start'])
        if t['sched']:
            t['secs'][sec]['cpu'] += (sched[0] - t['sched'][0])
            t['secs'][sec]['rq'] += (sched[1] - t['sched'][1])
        t['sched'] = sched
        if state == 'R':
            what = 'on-cpu-or-runnable'
        elif sc == 'running':
            what = 'running?'
        else:
            what = NAMES.get(int(sc), f'sys{sc}') if sc.lstrip('-').isdigit() else sc
            what = f'{state}:{what}'
        t['zones'][zone(wal)][what] += 1
        t['secs'][sec][what.split(':')[-1]] += 1
        t['secs'][sec]['walmax'] = max(t['secs'][sec]['walmax'], wal // MIB)
        t['n'] += 1
    time.sleep(0.002)
