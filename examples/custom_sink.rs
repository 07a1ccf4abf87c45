//! A sink of your own: `cargo run --example custom_sink`.
//!
//! log-panel stores batches through the `Sink` trait. This one writes JSON
//! lines to a file, one line per record, a batch at a time; a sink for another
//! database would open a transaction in `write` instead.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};

use log_panel::{Batch, Sink, SinkError};

struct JsonLines {
    file: File,
}

impl Sink for JsonLines {
    fn write(&mut self, batch: &Batch<'_>) -> Result<(), SinkError> {
        // Build the whole batch first, then write it with one call, so a
        // failure leaves nothing half-written that a retry would duplicate.
        let mut out = BufWriter::new(Vec::new());
        let mut fields = String::new();
        for r in batch.records {
            fields.clear();
            r.write_fields_json(&mut fields);
            let line = format!(
                "{{\"ts\":\"{}\",\"level\":\"{}\",\"logger\":{:?},\"message\":{:?},\"app\":{:?},\"fields\":{}}}\n",
                r.timestamp.to_rfc3339(),
                r.level,
                r.logger,
                r.message,
                batch.origin.app,
                fields
            );
            out.write_all(line.as_bytes()).map_err(|e| SinkError::unavailable("buffer").with_source(e))?;
        }
        let bytes = out.into_inner().map_err(|e| SinkError::unavailable("buffer").with_source(e.into_error()))?;
        self.file.write_all(&bytes).map_err(|e| SinkError::unavailable("cannot write the file").with_source(e))?;
        self.file.sync_data().map_err(|e| SinkError::unavailable("cannot sync the file").with_source(e))
    }

    fn describe(&self) -> String {
        "json lines file custom_sink.jsonl".into()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = OpenOptions::new().create(true).append(true).open("custom_sink.jsonl")?;
    let _panel = log_panel::builder().sink(JsonLines { file }).init()?;

    log::info!(user = "ann"; "stored by my own sink");
    log::error!("errors flush at once");
    log_panel::flush()?;

    println!("{}", std::fs::read_to_string("custom_sink.jsonl")?.lines().last().unwrap_or(""));
    Ok(())
}
