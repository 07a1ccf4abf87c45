#!/usr/bin/env python3
"""Where the index bench's steps spend their time, from a perf profile.

docs/performance.md, "Where an index step's time goes" (session 38):

    LOG_PANEL_BENCH_KEEP=1 LOG_PANEL_BENCH_ONLY="idle (now)" ... \
      perf record --call-graph dwarf,32768 -F 400 -o steps.data target/release/deps/index-HASH
    perf script -i steps.data -F comm,tid,ip,sym > steps.txt
    python3 crates/sqlite/benches/perf_steps.py steps.txt [BUCKET]

Puts each sample in one bucket by its stack: the statement it is in (the
search index's or the side table's step, which the bench profile's debug
info keeps as inlined frames) and the SQLite function within it. Prints each
thread's buckets as shares of the samples in index steps; with BUCKET, also
that bucket's most common stacks (innermost 7 frames).
"""
import collections
import sys


def samples(path):
    """(thread name, frames innermost first) of each sample."""
    comm, frames = None, []
    for line in open(path, errors="replace"):
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
        elif not line[0].isspace():
            comm = line.split()[0]
        else:
            parts = line.split(None, 1)
            frames.append(parts[1].strip() if len(parts) > 1 else "")
    if comm is not None:
        yield comm, frames


def has(frames, *names):
    return any(any(n in f for n in names) for f in frames)


# Outside the steps: the bench's copy of its base file and opening the sink.
SETUP = ("std::fs::copy", "idle_base", "SqliteSink::open", "index::checkpoint", "index::fresh")
STEPS = ("index_both", "SqliteSink::index_step", "SqliteSink::index_some", "index::run", "index::count_entries")


def bucket(frames):
    if has(frames, *SETUP):
        return "setup"
    if not has(frames, *STEPS):
        return "other"
    if has(frames, "CommitPhase", "sqlite3VdbeHalt", "pagerWalFrames", "sqlite3WalFrames"):
        return "commit (pages to the WAL)"
    if has(frames, "fts5IndexMerge", "fts5IndexAutomerge", "fts5IndexCrisismerge"):
        return "fts: merge segments"
    if has(frames, "fts5FlushOneHash", "fts5IndexFlush", "sqlite3Fts5IndexSync"):
        return "fts: write segment"
    if has(frames, "fts5TriTokenize", "fts5StorageInsertCallback", "sqlite3Fts5HashWrite", "sqlite3Fts5Tokenize"):
        return "fts: tokenize + hash"
    if has(frames, "jsonValidFunc"):
        return "ctx: json_valid"
    if has(frames, "jsonTypeFunc"):
        return "ctx: json_type"
    if has(frames, "jsonEach"):
        return "ctx: json_each"
    if has(frames, "upkeep::context_index::index_step", "index::ctx"):
        if has(frames, "sqlite3BtreeInsert", "insertCell", "balance"):
            return "ctx: btree insert"
        if has(frames, "sqlite3BtreeIndexMoveto", "sqlite3VdbeFindCompare"):
            return "ctx: btree seek"
        return "ctx: other (vdbe, read records)"
    if has(frames, "upkeep::search::index_step", "index::fts"):
        return "fts: other (vdbe, read records, vtab)"
    if has(frames, "step_end", "count_above", "exists_above", "unindexed_up_to"):
        return "marks and counts"
    return "step: other"


def main():
    counts = collections.Counter()
    for comm, frames in samples(sys.argv[1]):
        counts[(comm, bucket(frames))] += 1
    for comm in sorted({c for c, _ in counts}):
        mine = {b: n for (c, b), n in counts.items() if c == comm}
        steps = sum(n for b, n in mine.items() if b not in ("setup", "other"))
        print(f"== {comm}: {sum(mine.values())} samples, {steps} in index steps")
        for b, n in sorted(mine.items(), key=lambda x: -x[1]):
            share = f"{100 * n / steps:5.1f} % of steps" if steps and b not in ("setup", "other") else ""
            print(f"  {b:42s} {n:6d}  {share}")
    if len(sys.argv) > 2:
        stacks = collections.Counter()
        for _, frames in samples(sys.argv[1]):
            if bucket(frames) == sys.argv[2]:
                stacks[" <- ".join(f.split("(")[0].strip()[:40] for f in frames[:7])] += 1
        for stack, n in stacks.most_common(15):
            print(n, stack)


if __name__ == "__main__":
    main()
