//! A 100 MiB message is cut to the limit without ever being copied whole.
//! Alone in its binary so its memory figures see no other test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn hundred_mib_message_is_cut_and_memory_stays_at_one_copy() {
    const MIB: usize = 1024 * 1024;
    let db = common::TempDb::new();
    let panel = log_panel::builder().database(&db.path).build().unwrap();
    let big = "é".repeat(50 * MIB); // 100 MiB of two-byte characters: cuts must respect boundaries
    let before = vm_hwm_kib();
    log::info!(logger: panel, "big: {}", big);
    log::info!(logger: panel, blob = big.as_str(); "big value");
    panel.flush().unwrap();
    let grown_mib = (vm_hwm_kib() - before) / 1024;
    drop(big);
    // The application's own copy is already counted in `before`; log-panel
    // adds a few MiB on top: the cut copies, never another whole copy.
    assert!(grown_mib < 32, "peak memory grew by {grown_mib} MiB for a 100 MiB message and value");

    let (len, original, message): (i64, i64, String) = db
        .conn()
        .query_row(
            "SELECT length(CAST(message AS BLOB)), original_size, message FROM log_records WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(original, (100 * MIB + 5) as i64, "original size includes the `big: ` prefix");
    assert!(len <= (MIB + 16) as i64, "stored {len} bytes");
    assert!(message.starts_with("big: éé") && message.ends_with("…[cut]"));
    let blob: String = db
        .conn()
        .query_row("SELECT json_extract(context, '$.blob') FROM log_records WHERE id = 2", [], |r| r.get(0))
        .unwrap();
    assert!(blob.len() <= MIB + 32, "{}", blob.len());
    assert!(blob.ends_with(&format!("…[cut] ({} bytes)", 100 * MIB)), "{}", &blob[blob.len() - 40..]);
    let stats = panel.stats();
    assert_eq!(stats.truncated, 2);
}
