//! The query language against the reference: listed and generated queries
//! ([`parse_query`]), each store's answer equal to [`RecordFilter::keeps`]
//! over the same records, and the algebra of OR and NOT on the store's own
//! counts.

use super::*;

/// Queries every store runs, chosen for the ways OR and NOT meet each
/// condition's SQL: a word and a phrase through the search index, context
/// keys present and missing (NULL under NOT), typed values, ranges, loggers,
/// levels, call sites, and the built-in fields.
pub const QUERIES: &[&str] = &[
    "payment",
    "payment failed",
    "\"payment failed\"",
    "\"payment failed\" OR signed",
    "payment OR tick OR MISS",
    "-payment",
    "NOT tick -payment",
    "ms OR #1234",
    "-ms",
    "request_id:r-377 OR request_id:r-12",
    "-user_id:4",
    "-nope:1",
    "NOT file:src/billing.rs",
    "-retry:true",
    "retry:true OR retry:false",
    "code:2 OR user_id:2",
    "latency>=800 OR latency<3",
    "-latency>100",
    "latency>100 latency<=200.25 OR level:error",
    "\"load avg\">=1.5 OR -latency<50",
    "logger:billing:: -logger:billing::db",
    "logger:billing OR logger:web::api",
    "logger:billing:: OR level>=warn",
    "level:warn OR level:error",
    "level<info -level:trace",
    "level>info app:worker",
    "app:shop -host:web-1",
    "pid:101 OR pid:303",
    "file:src/billing.rs:12 OR file:src/web/api.rs",
    "(payment OR signed) (level:error OR level:warn) -app:worker",
    "-(payment OR tick) -(user_id:0 OR user_id:4)",
    "order (logger:billing:: OR -latency>=0)",
    "\"\\\"; DROP TABLE log_records; --'\" OR tick",
    "\"%_\" OR -\"%\"",
    "message:cache OR msg:plan",
    "ctx.app:x OR -\"we'ird key\\\"\":x",
];

/// Terms the generator combines.
const TERMS: &[&str] = &[
    "payment",
    "failed",
    "signed",
    "tick",
    "MISS",
    "#12",
    "ms",
    "\"plan pro\"",
    "request_id:r-37",
    "user_id:4",
    "code:2",
    "retry:true",
    "retry:false",
    "nope:1",
    "latency>=450",
    "latency<100.5",
    "logger:billing::",
    "logger:billing",
    "logger:web::api",
    "level:warn",
    "level>=warn",
    "level<info",
    "app:worker",
    "host:web-1",
    "pid:101",
    "file:src/billing.rs:12",
];

/// `n` random queries of up to three levels of AND, OR and NOT.
pub fn generated(n: usize) -> Vec<String> {
    fn expr(rng: &mut Rng, depth: u32) -> String {
        let pick = if depth == 0 { 0 } else { rng.below(5) };
        match pick {
            0 | 1 => TERMS[rng.below(TERMS.len() as u64) as usize].to_owned(),
            2 => format!("-{}", wrap(expr(rng, depth - 1))),
            3 => format!("{} {}", wrap(expr(rng, depth - 1)), wrap(expr(rng, depth - 1))),
            _ => format!("{} OR {}", expr(rng, depth - 1), expr(rng, depth - 1)),
        }
    }
    fn wrap(e: String) -> String {
        if e.contains(' ') {
            format!("({e})")
        } else {
            e
        }
    }
    let mut rng = Rng(0x0005_eed0_f9e7);
    (0..n).map(|_| expr(&mut rng, 3)).collect()
}

/// Every listed and `generated` query: the store's records (one page of
/// all, and pages of 7 for a few), its tail, and its histogram equal the
/// reference's; `-q` keeps exactly what `q` does not, and `a OR b` counts
/// `a + b - (a b)`.
pub(super) fn check_queries(store: &dyn Store, reference: &MemoryStore, when: &str) {
    let total = reference.all(&RecordFilter::default()).len();
    let count = |q: &str| -> usize {
        let f = parse_query(q).unwrap_or_else(|e| panic!("`{q}`: {e}"));
        store.records(&f, PageAt::Newest, RECORDS + 1).unwrap().records.len()
    };
    let queries: Vec<String> = QUERIES.iter().map(|q| (*q).to_owned()).chain(generated(200)).collect();
    let histogram = Slots::ending_at(Timestamp(BASE.0 + SPAN), HOUR, 72).unwrap();
    for (i, q) in queries.iter().enumerate() {
        let what = format!("query `{q}` ({when})");
        let filter = parse_query(q).unwrap_or_else(|e| panic!("{what}: {e}"));
        let expected = strip(&reference.all(&filter));
        let got = store.records(&filter, PageAt::Newest, RECORDS + 1).unwrap();
        assert_eq!(strip(&got.records), expected, "{what}");
        let tail = store.tail(&filter, None, 10).unwrap();
        assert_eq!(strip(&tail), strip(&reference.tail(&filter, None, 10).unwrap()), "tail, {what}");
        if i < QUERIES.len() {
            check_pages(store, reference, &filter, 7, &what);
            assert_eq!(
                store.histogram(&filter, &histogram).unwrap(),
                reference.histogram(&filter, &histogram).unwrap(),
                "histogram, {what}"
            );
            let negated = format!("-({q})");
            assert_eq!(count(&negated), total - expected.len(), "{negated} ({when})");
        }
    }
    for pair in queries[..QUERIES.len()].windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(
            count(&format!("({a}) OR ({b})")),
            count(a) + count(b) - count(&format!("({a}) ({b})")),
            "`{a}` OR `{b}` ({when})"
        );
    }
}
