//! The SQLite file deleted under a running writer (issue 21): every record
//! logged after the deletion is in the new file at the path, once.

use crate::common::TempDb;

#[test]
fn sqlite_file_deleted_under_the_writer_gets_every_later_record() {
    let db = TempDb::new();
    let panel = log_panel::builder().database(&db.path).batch_size(100).build().unwrap();
    const DELETE_AT: i64 = 3_000;
    const N: i64 = 20_000;
    for seq in 0..N {
        if seq == DELETE_AT {
            // Records before this one may still be queued: they land in
            // either file. Every later one was logged after the deletion.
            std::fs::remove_file(&db.path).unwrap();
        }
        log::info!(logger: panel, seq = seq; "record {seq}");
    }
    panel.flush().unwrap();
    let after = db.count(&format!("json_extract(context, '$.seq') >= {DELETE_AT}"));
    assert_eq!(after, N - DELETE_AT, "every record logged after the deletion is in the file at the path");
    let distinct: i64 = db
        .conn()
        .query_row("SELECT count(DISTINCT json_extract(context, '$.seq')) FROM log_records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(distinct, db.count("1"), "none twice");
    assert_eq!(panel.stats().dropped.total(), 0);
    drop(panel);
    assert_eq!(db.count(&format!("json_extract(context, '$.seq') >= {DELETE_AT}")), N - DELETE_AT);
}
