//! The query language (docs/query.md) in the read phase: ORs and a NOT,
//! each compiled to its leaves' indexes, beside the SQL a user would write
//! for the same conditions (the table's own indexes only: no search index,
//! no context side table), same file, same run, alternating.

use log_panel_query::Store;
use log_panel_query::{parse_query, PageAt};
use log_panel_sqlite::SqliteStore;
use rusqlite::Connection;

use super::{count_sql, level, request_id, time, PAGE, RARE_EVERY};
use log_panel_core::Level;

/// p50 / p95 in ms.
type Timing = (f64, f64);

/// A first page of each query: p50 / p95 beside the naive SQL's, each count checked.
pub(super) fn measure(
    store: &SqliteStore,
    raw: &Connection,
    n: u64,
    reps: usize,
    check: &mut dyn FnMut(&str, usize, usize),
    row: &mut dyn FnMut(String, Timing, Option<Timing>),
) {
    let rare = |i: u64| i % RARE_EVERY == 7;
    let (a, b) = (request_id(n / 3), request_id(2 * n / 3));
    let cases: Vec<(String, String, usize)> = vec![
        (
            "quasar OR mismatch".into(),
            "message LIKE '%quasar%' OR message LIKE '%mismatch%'".into(),
            (0..n).filter(|i| rare(*i)).count(),
        ),
        (
            "quasar OR \"reset by peer\"".into(),
            "message LIKE '%quasar%' OR message LIKE '%reset by peer%'".into(),
            (0..n).filter(|i| rare(*i) || i % 6 == 3).count(),
        ),
        (
            format!("request_id:{a} OR request_id:{b}"),
            format!("json_extract(context, '$.request_id') IN ('{a}', '{b}')"),
            6,
        ),
        (
            "logger:billing::payments level>=warn -quasar".into(),
            "logger = 'billing::payments' AND level >= 30 AND message NOT LIKE '%quasar%'".into(),
            (0..n).filter(|i| i % 8 == 2 && level(*i) <= Level::Warn && !rare(*i)).count(),
        ),
    ];
    for (q, naive_where, matching) in cases {
        let filter = parse_query(&q).expect("a query of the bench");
        let want = matching.min(PAGE);
        let naive_sql = format!("SELECT * FROM log_records WHERE {naive_where} ORDER BY ts DESC, id DESC LIMIT {PAGE}");
        // Alternating: one of ours, one naive, so both see the same cache.
        let (mut ours, mut naive) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let (t, _, page) = time(1, || store.records(&filter, PageAt::Newest, PAGE).expect("query"));
            check(&format!("query `{q}`"), page.records.len(), want);
            ours.push(t);
            let (t, _, got) = time(1, || count_sql(raw, &naive_sql, None));
            check(&format!("naive `{q}`"), got, want);
            naive.push(t);
        }
        row(format!("query `{q}`"), p50_p95(ours), Some(p50_p95(naive)));
    }
}

fn p50_p95(mut ms: Vec<f64>) -> Timing {
    ms.sort_by(f64::total_cmp);
    let pick = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    (pick(0.5), pick(0.95))
}
