//! `--trace ID` and `--context trace_id=ID` on the built binary, and `serve`
//! linking a record's trace to a viewer from `--trace-url` or the
//! configuration's `panel.trace_url`.

use std::path::{Path, PathBuf};

use log_panel_core::{Batch, Context, Level, Origin, Record, Sink, Timestamp};
use log_panel_sqlite::SqliteSink;

use super::{cmd, serve_get};

const T1: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const T2: &str = "0af7651916cd43dd8448eb211c80319c";

/// Five records of T1 (two apps), two of T2, three without a trace.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("logs.db");
    let mut sink = SqliteSink::open(&path).unwrap();
    let now = Timestamp::now().0;
    let rec = |i: i64, trace: Option<&str>| {
        let mut r = Record::new(Level::Info, "svc", format!("m{i}"));
        r.timestamp = Timestamp(now - 1_000_000 * (20 - i));
        if let Some(t) = trace {
            r.context = Context::from_pairs([("trace_id", t), ("span_id", "00f067aa0ba902b7")]);
        }
        r
    };
    let a: Vec<Record> = (0..5).map(|i| rec(i, Some(if i < 3 { T1 } else { T2 }))).collect();
    let b: Vec<Record> = (5..10).map(|i| rec(i, if i < 7 { Some(T1) } else { None })).collect();
    sink.write(&Batch::new(&Origin::new("api", "h1", 1), &a)).unwrap();
    sink.write(&Batch::new(&Origin::new("web", "h2", 2), &b)).unwrap();
    path
}

/// Messages of `query … --format ndjson`, in output order.
fn query(db: &Path, args: &[&str]) -> Vec<String> {
    let out = cmd(db).arg("query").args(args).args(["--format", "ndjson"]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let mut messages: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["message"].as_str().unwrap().to_owned())
        .collect();
    messages.sort();
    messages
}

#[test]
fn query_by_trace_shorthand_and_context_agree() {
    let dir = tempfile::tempdir().unwrap();
    let db = fill(dir.path());
    let t1 = ["m0", "m1", "m2", "m5", "m6"];
    assert_eq!(query(&db, &["--trace", T1]), t1);
    assert_eq!(query(&db, &["--trace", &T1.to_uppercase()]), t1, "upper case is the same id");
    assert_eq!(query(&db, &["--context", &format!("trace_id={T1}")]), t1);
    assert_eq!(query(&db, &["--trace", T2]), ["m3", "m4"]);
    assert_eq!(query(&db, &["--trace", T1, "--app", "web"]), ["m5", "m6"]);
    for bad in ["xyz", "00000000000000000000000000000000", "<script>"] {
        let out = cmd(&db).args(["query", "--trace", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("a trace id is 32 hex digits"), "{bad}");
    }
}

#[test]
fn serve_links_traces_to_the_configured_viewer() {
    let dir = tempfile::tempdir().unwrap();
    let db = fill(dir.path());
    let jaeger = format!("href=\"http://localhost:16686/trace/{T1}\"");
    let flag = serve_get(&db, None, &["--trace-url", "http://localhost:16686/trace/{trace_id}"], "/records/1");
    assert!(flag.contains(&jaeger), "{flag}");
    assert!(flag.contains(&format!("href=\"/related?key=trace_id&amp;value={T1}\"")), "{flag}");
    let none = serve_get(&db, None, &[], "/records/1");
    assert!(!none.contains("localhost:16686") && none.contains("Every record of trace"), "{none}");

    let config = dir.path().join("log_panel.toml");
    std::fs::write(&config, "[panel]\ntrace_url = \"https://tempo.example/t/{trace_id}/{span_id}\"\n").unwrap();
    let file = serve_get(&db, Some(&config), &[], "/records/1");
    assert!(file.contains(&format!("href=\"https://tempo.example/t/{T1}/00f067aa0ba902b7\"")), "{file}");
    // The flag wins over the file.
    let both = serve_get(&db, Some(&config), &["--trace-url", "http://localhost:16686/trace/{trace_id}"], "/records/1");
    assert!(both.contains(&jaeger) && !both.contains("tempo.example"), "{both}");

    // Refused templates: a usage error naming the problem, nothing served.
    let out = cmd(&db).args(["serve", "--trace-url", "javascript:alert(1)//{trace_id}"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only http:// and https://"));
    std::fs::write(&config, "[panel]\ntrace_url = \"http://jaeger/trace/\"\n").unwrap();
    let out = cmd(&db).env("LOG_PANEL_CONFIG", &config).args(["serve"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("panel.trace_url") && e.contains("no {trace_id} placeholder"), "{e}");
}
