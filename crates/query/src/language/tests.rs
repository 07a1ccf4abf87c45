#![allow(clippy::unwrap_used)]

use super::*;
use log_panel_core::Level;

/// The plain fields of a parsed query and its expression, both as query text.
fn parsed(q: &str) -> (String, String) {
    let mut f = parse_query(q).unwrap_or_else(|e| panic!("{q}: {e}"));
    let expr = f.query.take().map(|e| e.to_string()).unwrap_or_default();
    (leaf_text(&f), expr)
}

#[test]
fn queries_fold_into_the_filter() {
    let cases: &[(&str, &str, &str)] = &[
        ("", "", ""),
        ("   ", "", ""),
        ("timeout", "timeout", ""),
        ("\"connection reset\"", "\"connection reset\"", ""),
        // A second word needs the expression: `text` holds one.
        ("connection reset", "connection", "reset"),
        ("a AND b", "a", "b"),
        ("level:warn", "level:warn", ""),
        ("level:WARNING", "level:warn", ""),
        ("level>=warn", "level>=warn", ""),
        ("level>info", "(level:warn OR level:error)", ""),
        ("level<=debug", "(level:trace OR level:debug)", ""),
        ("level<info", "(level:trace OR level:debug)", ""),
        ("logger:api::", "logger:api::", ""),
        ("logger:api::http", "logger:api::http", ""),
        ("app:shop host:web-1 pid:42", "app:shop host:web-1 pid:42", ""),
        ("file:src/db.rs:42", "file:src/db.rs:42", ""),
        ("file:src/db.rs", "file:src/db.rs", ""),
        ("tenant:acme", "tenant:acme", ""),
        ("tenant=acme", "tenant:acme", ""),
        ("status>=500 latency_ms>250.5 x<-3 y<=0", "status>=500 latency_ms>250.5 x<-3 y<=0", ""),
        ("user_agent:\"Mozilla/5.0 (X11)\"", "user_agent:\"Mozilla/5.0 (X11)\"", ""),
        ("\"odd key\":v", "\"odd key\":v", ""),
        ("ctx.level:7", "ctx.level:7", ""),
        ("message:\"a b\" ", "\"a b\"", ""),
        ("tenant:acme status>=500 -logger:api::health", "tenant:acme status>=500", "-logger:api::health"),
        ("\"connection reset\" OR timeout", "", "\"connection reset\" OR timeout"),
        ("a b OR c", "", "a b OR c"),
        ("a (b c) OR d", "", "a b c OR d"),
        ("a (b OR c) d", "a", "(b OR c) d"),
        ("a (b OR c)", "a", "b OR c"),
        ("a OR b OR (c OR d)", "", "a OR b OR c OR d"),
        ("NOT a", "", "-a"),
        ("--a", "a", ""),
        ("-(a OR b) c", "c", "-(a OR b)"),
        ("NOT NOT NOT a", "", "-a"),
        ("logger:a:: logger:b", "logger:a::", "logger:b"),
        // Escapes, and text that only looks like an operator.
        ("\\-5", "\"-5\"", ""),
        ("a\\:b", "\"a:b\"", ""),
        ("\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\"", ""),
        ("<script>", "\"<script>\"", ""),
        ("error: timeout", "\"error:\"", "timeout"),
        ("t>", "\"t>\"", ""),
        ("or and not", "or", "and not"),
        ("k:\"\"", "k:\"\"", ""),
        ("x-y", "x-y", ""),
        ("(((a)))", "a", ""),
    ];
    for (q, base, expr) in cases {
        assert_eq!(parsed(q), ((*base).to_owned(), (*expr).to_owned()), "{q}");
    }
}

#[test]
fn errors_point_at_the_column() {
    let cases: &[(&str, usize, &str)] = &[
        ("a (b OR c", 10, "expected `)` to close the `(` of column 3"),
        ("a b)", 4, "this `)` closes no `(`"),
        ("OR a", 1, "expected a term before OR"),
        ("a OR", 5, "the query ends where a term was expected"),
        ("a AND OR b", 7, "expected a term before OR"),
        ("()", 2, "empty parentheses"),
        ("a \"b c", 3, "never closed"),
        ("- a", 1, "`-` must stand right before"),
        ("a -", 3, "`-` must stand right before"),
        ("level:loud", 7, "unknown level `loud`"),
        ("level>error", 7, "keeps no level"),
        ("status>=lots", 9, "compares numbers; `lots` is not one"),
        ("x>nan", 3, "is not one"),
        ("pid:x", 5, "expected a process id"),
        ("app>3", 5, "`app` takes `:` only"),
        ("logger:::", 8, "a name is needed before `::`"),
        ("k:\"v\"w", 6, "expected a space before `w`"),
        ("\"\"", 1, "an empty phrase"),
        ("a\\", 2, "escapes nothing"),
        ("\u{e9}\u{e9} (", 5, "the query ends where a term was expected"),
    ];
    for (q, column, message) in cases {
        let e = parse_query(q).unwrap_err();
        assert_eq!(e.column, *column, "{q}: {e}");
        assert!(e.message.contains(message), "{q}: {e}");
    }
    let e: StoreError = parse_query("(").unwrap_err().into();
    assert_eq!(e.kind(), crate::StoreErrorKind::BadFilter);
    assert_eq!(e.to_string(), "query: column 2: the query ends where a term was expected");
}

#[test]
fn hostile_queries_are_refused_not_overflowed() {
    // Far deeper than the cap: an error at the first parenthesis past it, no stack overflow.
    let deep = "(".repeat(100_000);
    let e = parse_query(&deep[..MAX_QUERY_BYTES]).unwrap_err();
    assert_eq!(e.column, MAX_DEPTH + 1, "{e}");
    let e = parse_query(&"-".repeat(MAX_QUERY_BYTES - 1)).unwrap_err();
    assert!(e.message.contains("nested more than"), "{e}");
    assert!(parse_query(&format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH))).is_ok());
    let e = parse_query(&deep).unwrap_err();
    assert!(e.message.contains("at most 4096"), "{e}");
    assert_eq!(e.column, MAX_QUERY_BYTES + 1);
    let many: String = (0..=MAX_TERMS).map(|i| format!("w{i} ")).collect();
    let e = parse_query(&many).unwrap_err();
    assert_eq!(e.column, many.find("w64").unwrap() + 1, "{e}");
    // 16 context conditions in all, however they are spread.
    let fields: String = (0..RecordFilter::MAX_FIELDS).map(|i| format!("k{i}:v OR ")).collect::<String>() + "z";
    assert!(parse_query(&fields).unwrap().check().unwrap());
    let fields = fields + " OR k:v";
    assert!(parse_query(&fields).unwrap().check().unwrap_err().to_string().contains("at most 16"));
    // Each leaf runs the caps of `check`.
    let long = format!("a OR {}", "b".repeat(RecordFilter::MAX_VALUE_BYTES - 5));
    assert!(parse_query(&long).unwrap().check().is_ok());
    let mut f = parse_query("a OR b").unwrap();
    if let Some(Expr::Or(v)) = &mut f.query {
        v[1] = Expr::Leaf(Box::new(RecordFilter { app: Some("x".repeat(5000)), ..RecordFilter::default() }));
    }
    assert!(f.check().is_err());
    // A deep expression built by hand is refused by the check, and measured without recursion.
    let mut e = Expr::Leaf(Box::default());
    for _ in 0..100 {
        e = Expr::And(vec![Expr::Not(Box::new(e))]);
    }
    assert_eq!(e.size(), (201, 1));
    let f = RecordFilter { query: Some(e), ..RecordFilter::default() };
    assert!(f.check().is_err());
}

#[test]
fn and_query_ands_with_the_filter() {
    let mut f = RecordFilter { logger: Some(LoggerMatch::Exact("a".into())), ..RecordFilter::default() };
    f.and_query("logger:b level:error (x OR y)").unwrap();
    assert_eq!(f.levels, [Level::Error]);
    assert_eq!(f.query.as_ref().unwrap().to_string(), "logger:b (x OR y)");
    f.and_query("-z").unwrap();
    assert_eq!(f.query.as_ref().unwrap().to_string(), "logger:b (x OR y) -z");
}

#[test]
fn the_reference_semantics() {
    let mut r = StoredRecord {
        message: "Connection RESET by peer".into(),
        logger: "api::http".into(),
        ..StoredRecord::default()
    };
    r.level = Level::Warn;
    r.context.insert("status".into(), serde_json::json!(503));
    r.context.insert("tenant".into(), serde_json::json!("acme"));
    let keeps = |q: &str| parse_query(q).unwrap().keeps(&r);
    for q in [
        "\"connection reset\"",
        "reset connection",
        "tenant:acme status>=500 -logger:api::health",
        "nothing OR peer",
        "-(nothing OR nowhere)",
        "level>=warn logger:api::",
        "NOT level:error",
        "status:503 status<=503",
    ] {
        assert!(keeps(q), "{q}");
    }
    for q in
        ["\"reset connection\"", "-reset", "tenant:acme -status>500", "logger:api", "nothing OR -peer", "level>warn"]
    {
        assert!(!keeps(q), "{q}");
    }
}

#[test]
fn unindexed_parts_are_named() {
    let u = |q: &str| parse_query(q).unwrap().unindexed();
    assert!(u("tenant:acme status>=500 a b").is_empty());
    assert!(u("a OR logger:x:: OR k:v").is_empty());
    assert_eq!(u("tenant:acme -logger:api::health"), ["-logger:api::health"]);
    assert_eq!(u("a OR app:shop"), ["a OR app:shop"]);
    assert_eq!(u("(a -b) OR c"), ["-b"]);
    assert_eq!(u("x (a OR -b)"), ["a OR -b"]);
    // Conditions no index serves, with nothing indexed beside them: named.
    assert_eq!(u("app:shop"), ["app:shop"]);
    assert_eq!(u("app:shop host:web-1 pid:42 level:info"), ["app:shop host:web-1 pid:42"]);
    assert_eq!(u("file:src/db.rs:42"), ["file:src/db.rs:42"]);
    assert_eq!(u("app:shop -b"), ["-b", "app:shop"]);
    // An indexed part beside them narrows first: nothing to say.
    for q in ["app:shop logger:api::", "app:shop level>=warn", "app:shop level:error", "app:shop timeout", "pid:4 k:v"]
    {
        assert!(u(q).is_empty(), "{q}");
    }
    let mut f = RecordFilter { thread: Some("worker 1".into()), pid: Some(7), ..RecordFilter::default() };
    assert_eq!(f.unindexed(), ["pid:7", "thread \"worker 1\""]);
    f.since = Some(log_panel_core::Timestamp(0));
    assert!(f.unindexed().is_empty(), "the surrounding records' time window");
}

#[test]
fn printed_queries_parse_back() {
    for q in [
        "a OR (b c) OR -(d OR e:\"x y\")",
        "ctx.app:1 \"odd key\">=2 logger:\"a b::\"",
        "\"-x\" OR \"OR\" OR \"a\\\\b\"",
    ] {
        let f = parse_query(q).unwrap();
        let text = format!("{} {}", leaf_text(&f), f.query.as_ref().map(ToString::to_string).unwrap_or_default());
        assert_eq!(parse_query(&text).unwrap(), f, "{q} printed as {text}");
    }
}
