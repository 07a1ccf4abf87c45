//! Stress: many threads, many records, then a check in the database that
//! nothing was lost or duplicated.
//!
//! ```sh
//! cargo run --release --example stress -- --threads 8 --records 1000000 --overflow block
//! cargo run --release --example stress -- --threads 8 --records 100000 --overflow drop
//! ```
//!
//! Each thread logs its sequence numbers as key-values. At exit the example
//! counts, in SQLite, every (thread, seq) pair: under `block` each must be
//! present exactly once; under `drop` the stored and dropped counts must add
//! up. Prints accepted / written / dropped and exits non-zero on a mismatch.

use std::time::Instant;

use log_panel::Overflow;

struct Args {
    threads: u64,
    records: u64,
    overflow: Overflow,
    db: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { threads: 8, records: 100_000, overflow: Overflow::Block, db: "stress.db".into() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--threads" => args.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            "--records" => args.records = value()?.parse().map_err(|e| format!("--records: {e}"))?,
            "--db" => args.db = value()?,
            "--overflow" => {
                args.overflow = match value()?.as_str() {
                    "block" => Overflow::Block,
                    "drop" => Overflow::Drop,
                    other => return Err(format!("--overflow: `{other}`; expected block or drop")),
                }
            }
            other => return Err(format!("unknown argument `{other}`; see the top of examples/stress.rs")),
        }
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", args.db));
    }
    let guard = log_panel::builder().database(&args.db).overflow(args.overflow).panic_hook(false).init()?;
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..args.threads {
            let records = args.records;
            s.spawn(move || {
                for seq in 0..records {
                    log::info!(t = t, seq = seq; "stress record {} of thread {}", seq, t);
                }
            });
        }
    });
    let report = log_panel::shutdown();
    drop(guard);
    let elapsed = started.elapsed();
    let stats = log_panel::stats();
    let logged = args.threads * args.records;
    println!(
        "logged {logged} in {:.2} s ({:.0} records/s): accepted {}, written {}, dropped {}, complete {}",
        elapsed.as_secs_f64(),
        logged as f64 / elapsed.as_secs_f64(),
        stats.accepted,
        stats.written,
        stats.dropped.total(),
        report.complete
    );

    let conn = rusqlite::Connection::open(&args.db)?;
    let (rows, distinct): (i64, i64) = conn.query_row(
        "SELECT count(*), count(DISTINCT json_extract(context, '$.t') * 4294967296 + json_extract(context, '$.seq'))
         FROM log_records WHERE logger != 'log_panel'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (rows, distinct) = (rows as u64, distinct as u64);
    let duplicated = rows - distinct;
    let lost = logged.saturating_sub(distinct + stats.dropped.total());
    println!("in the database: {rows} rows, {distinct} distinct (thread, seq), {duplicated} duplicated, {lost} lost");
    let ok = duplicated == 0
        && lost == 0
        && (args.overflow != Overflow::Block || (distinct == logged && stats.dropped.total() == 0));
    if !ok {
        return Err("stress check failed".into());
    }
    println!("ok: every record logged is stored exactly once or counted as dropped");
    Ok(())
}
