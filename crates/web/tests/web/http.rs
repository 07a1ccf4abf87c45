//! Every page and filter over HTTP (in process), against each storage.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use http_body_util::BodyExt;
use log_panel_core::{Batch, Level, Origin, Record, Timestamp, Value, DAY, MINUTE};
use log_panel_query::conformance::{Hooks, Read, Wrapped};
use log_panel_query::{CommitWaiter, Store, StoreError, Wake};
use log_panel_query::{Histogram, LoggerMatch, RecordFilter, Sample, Slots, StoreErrorKind, StoredRecord};
use log_panel_web::{router, PanelOptions, CONTENT_SECURITY_POLICY};
use tower::ServiceExt;

fn count_rows(body: &str) -> usize {
    body.matches("<tr class=\"row-").count()
}

async fn home_cards_timelines_and_slot_links(env: &Env) {
    let app = router(env.store.clone());
    let (status, _, body) = get(&app, "/?sort=name").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_escaped("home", &body);
    // 25 services + billing + billing::db + the hostile logger = 28; 20 on a page.
    assert!(body.contains("Loggers 1–20 of 28"), "{body}");
    assert_eq!(body.matches("<article class=\"card\">").count(), 20);
    assert!(body.contains("evil&lt;b&gt;logger&lt;/b&gt;"));
    assert!(body.contains(">Last hour: healthy<") && body.contains(">Clean<"));
    assert_eq!(body.matches("class=\"slot ").count(), 20 * 24);
    let (_, _, page2) = get(&app, "/?sort=name&page=2").await;
    assert!(page2.contains("Loggers 21–28 of 28"), "{page2}");
    assert!(page2.contains("svc::n24") && !page2.contains(">billing<"));

    // The last hour counts the records just logged; billing erred in it, so is not healthy.
    let (_, _, billing) = get(&app, "/?name=billing&show=errors").await;
    assert!(billing.contains("<span class=\"n-error\">1 error</span>"), "{billing}");
    assert!(billing.contains(">Last hour: errors<") && !billing.contains(">Last hour: healthy<"), "{billing}");
    assert!(!billing.contains(">Clean<"));

    // Only loggers with errors: billing and the hostile one.
    let (_, _, errors) = get(&app, "/?show=errors").await;
    assert_eq!(errors.matches("<article class=\"card\">").count(), 2, "{errors}");
    assert!(errors.contains(">billing<") && !errors.contains("billing::db"));
    let (_, _, warnings) = get(&app, "/?show=warnings&name=BILL").await;
    assert_eq!(warnings.matches("<article class=\"card\">").count(), 2, "{warnings}");

    // Daily timelines in the viewer's days; a slot of billing's 10-day-old error is red.
    for (range, n) in [("30d", 30), ("90d", 90)] {
        let (status, _, body) = get(&app, &format!("/?range={range}&name=billing&tz=60")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body.matches("class=\"slot ").count(), 2 * n, "{range}");
        assert!(body.contains("UTC+01:00"));
    }

    // An error slot leads to the table filtered to that logger and span.
    let (_, _, billing) = get(&app, "/?name=billing&range=30d").await;
    let slot = billing.split("class=\"slot s-error\"").nth(1).expect("an error slot");
    let href = links(slot, "/records?logger=billing&").into_iter().next().unwrap();
    assert!(href.contains("since=") && href.contains("until="), "{href}");
    let (status, _, table) = get(&app, &href).await;
    assert_eq!(status, StatusCode::OK);
    let ids = row_ids(&table);
    assert_eq!(ids.len(), 1, "{table}");
    let r = sync(|| env.store.record(ids[0])).unwrap().unwrap();
    assert_eq!((r.logger.as_str(), r.message.as_str()), ("billing", "old failure"));

    // Slots follow the configured thresholds: with 2 errors needed, billing's
    // current hour (one error, no warning) is an ok slot.
    let strict = log_panel_web::router_with(env.store.clone(), PanelOptions::default().slot_thresholds(2, 1));
    let (_, _, body) = get(&strict, "/?name=billing&show=errors").await;
    let billing_card = body.split("<article class=\"card\">").nth(1).unwrap();
    assert!(billing_card.contains(">billing<"), "{billing_card}");
    assert!(!billing_card.contains("slot s-error") && billing_card.contains("slot s-ok"), "{billing_card}");

    for bad in ["/?range=7y", "/?show=some", "/?sort=up", "/?page=0", "/?tz=7"] {
        let (status, _, body) = get(&app, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body.contains("<form") && body.contains("Filter not applied"), "{bad}: {body}");
    }
}

async fn records_every_filter(env: &Env) {
    let app = router(env.store.clone());
    let total = all(env.store.as_ref(), &RecordFilter::default()).len();
    let r1 = request(env.store.as_ref());
    let pid = r1[0].pid;
    let host = r1[0].host.clone();
    let cases: Vec<(String, usize)> = vec![
        ("limit=500".into(), total),
        ("logger=billing".into(), 8),
        ("logger=billing::".into(), 9),
        ("logger=billing&level=error".into(), 2),
        ("level=warn".into(), 6),
        ("level=warn&level=warn".into(), 3),
        ("level=&level=warn,".into(), 3),
        ("level=warn&level=error".into(), 6),
        ("q=PAYMENT+FAILED".into(), 1),
        ("q=%3Cscript%3E".into(), 2),
        ("since=1d&logger=billing".into(), 5),
        ("until=1d&logger=billing".into(), 3),
        ("since=3d&until=1d".into(), 2),
        ("app=shop&logger=billing".into(), 8),
        (format!("host={}&logger=billing", host), 5),
        ("host=old-host".into(), 3),
        (format!("pid={pid}&logger=billing%3A%3A"), 6),
        ("pid=4242".into(), 1),
        ("context=request_id%3Dr-1".into(), 3),
        ("context=request_id%3Dr-1&context=order_id%3D1234".into(), 1),
        ("context=request_id%3Dr-1%0Aorder_id%3D1234".into(), 1),
        ("context=ms%3D1200".into(), 1),
        ("context=order_id%3D99".into(), 0),
        ("logger=nobody".into(), 0),
    ];
    for (query, want) in cases {
        let (status, _, body) = get(&app, &format!("/records?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(count_rows(&body), want, "{}: {query}", env.name);
        assert_escaped(&query, &body);
        // The form shows the filter back, so the URL is the whole state.
        assert!(body.contains("<form class=\"filters\""));
        assert!(body.contains("<figure class=\"histogram\""));
    }
    let (_, _, body) = get(&app, "/records?level=warn&level=error&logger=billing%3A%3A").await;
    assert!(body.contains("value=\"billing::\""));
    assert!(body.contains("name=\"level\" value=\"warn,\" checked"), "{body}");

    // A parameter the page does not read is named, escaped, above an
    // unfiltered page: `ctx=` for `context=` must not pass for a filter.
    let (status, _, body) =
        get_any(&app, "/records?limit=500&ctx=request_id%3Dr-1&%3Cscript%3Ealert=1&ctx=again&logger=").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count_rows(&body), total, "{}", env.name);
    let note = body.split("<p class=\"warn-note ignored\">").nth(1).expect("the note").split("</p>").next().unwrap();
    assert_eq!(
        note,
        "This page does not read the URL's parameters <code>ctx</code>, <code>&lt;script&gt;alert</code>: \
         the page is shown without them."
    );
    assert_escaped("ignored", &body);
    // The same with `context=` filters, and names nothing.
    let (_, _, body) = get(&app, "/records?limit=500&context=request_id%3Dr-1").await;
    assert_eq!(count_rows(&body), 3);
    // One key alone is named in the singular, on other pages too.
    for page in ["/", "/sites", "/tail", "/alerts"] {
        let (_, _, body) = get_any(&app, &format!("{page}?sice=1h")).await;
        assert!(
            body.contains("does not read the URL's parameter <code>sice</code>: the page is shown without it."),
            "{page}: {body}"
        );
    }
}

/// The search box speaks the query language (docs/query.md): OR, NOT,
/// comparisons and built-in fields give the rows counted by hand, ANDed with
/// the form's own fields; a query that does not parse is a 400 with the form
/// and the query shown back with a caret under the column of the mistake,
/// escaped, never a 500; what no index serves is named above the rows.
async fn search_box_speaks_the_query_language(env: &Env) {
    let app = router(env.store.clone());
    let total = all(env.store.as_ref(), &RecordFilter::default()).len();
    let cases: Vec<(&str, usize)> = vec![
        ("q=payment+OR+slow", 5),
        ("q=%22payment+failed%22+OR+%22old+warning%22", 2),
        ("q=logger%3Abilling%3A%3A+-level%3Ainfo", 4),
        ("q=order_id%3A1234+OR+ms%3E%3D1000", 2),
        ("q=ms%3E1200", 0),
        ("q=logger%3Abilling+(order_id%3A1000+OR+order_id%3A1001)", 2),
        ("q=logger%3Abilling+level%3Aerror+OR+logger%3Abilling%3A%3Adb", 3),
        ("logger=billing&q=level%3Awarn+OR+level%3Aerror", 3),
        ("logger=billing&q=logger%3Abilling%3A%3Adb", 0),
        ("q=host%3Aold-host+NOT+%22old+info%22", 2),
        ("limit=500&q=NOT+logger%3Abilling%3A%3A", total - 9),
    ];
    for (query, want) in cases {
        let (status, _, body) = get(&app, &format!("/records?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(count_rows(&body), want, "{}: {query}", env.name);
        assert_escaped(query, &body);
    }
    // A negation is named above the rows; an indexed query has no note.
    let (_, _, body) = get(&app, "/records?q=payment+-logger%3Abilling%3A%3Adb").await;
    assert!(
        body.contains("<p class=\"scan-note\" role=\"note\">") && body.contains("<code>-logger:billing::db</code>"),
        "{body}"
    );
    let (_, _, body) = get(&app, "/records?q=payment+OR+order_id%3A1234").await;
    assert!(!body.contains("scan-note"), "{body}");
    for page in ["/sites", "/tail"] {
        let (status, _, body) = get(&app, &format!("{page}?q=payment+OR+slow")).await;
        assert_eq!(status, StatusCode::OK, "{page}: {body}");
    }
    // Mistakes: the form, the message with its column, the query with a caret under it.
    let deep = format!("{}a", "(".repeat(40));
    for (q, caret) in [
        ("a (b OR c", "a (b OR c\n         ^ expected `)` to close the `(` of column 3"),
        ("level>=loud", "level&gt;=loud\n       ^ unknown level `loud`"),
        ("<b>logger</b> \"x", "&lt;b&gt;logger&lt;/b&gt; &quot;x\n              ^ this quote is never closed"),
        (deep.as_str(), "^ nested more than 16 deep"),
    ] {
        for page in ["/records", "/sites", "/tail"] {
            let (status, _, body) = get(&app, &format!("{page}?q={}", urlencode(q))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{page} {q}: {body}");
            assert!(body.contains("Filter not applied") && body.contains("query: column"), "{page} {q}: {body}");
            assert!(body.contains("<pre class=\"query-error\""), "{page} {q}: {body}");
            assert!(body.contains(caret), "{page} {q}: no `{caret}` in {body}");
            assert_escaped(q, &body);
        }
    }
}

async fn pagination_walks_every_record_once(env: &Env) {
    let app = router(env.store.clone());
    let want: Vec<i64> = all(env.store.as_ref(), &RecordFilter::default()).iter().map(|r| r.id).collect();
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut next = Some("/records?limit=7".to_owned());
    while let Some(uri) = next.take() {
        let (status, _, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK);
        let ids = row_ids(&body);
        assert!(ids.len() <= 7 && !ids.is_empty());
        seen.extend(ids);
        next = links(&body, "/records?").into_iter().find(|l| l.contains("older="));
        pages.push(body);
    }
    assert_eq!(seen, want, "every record once, newest first");
    // And back up from the last page with the newer links.
    assert_eq!(walk_up(&app, pages.last().unwrap(), "/records?").await, want);
    assert!(links(&pages[1], "/records?").iter().any(|l| l.contains("limit=7") && l.contains("newer=")));
}

/// The row ids from the first page down to `last`, read by following the
/// `newer=` links (starting with `prefix`) up from `last`.
async fn walk_up(app: &axum::Router, last: &str, prefix: &str) -> Vec<i64> {
    let mut back = row_ids(last);
    let mut up = links(last, prefix).into_iter().find(|l| l.contains("newer="));
    while let Some(uri) = up.take() {
        let (_, _, body) = get(app, &uri).await;
        let mut ids = row_ids(&body);
        ids.extend(back);
        back = ids;
        up = links(&body, prefix).into_iter().find(|l| l.contains("newer="));
    }
    back
}

async fn histogram_bars_narrow_the_range(env: &Env) {
    let app = router(env.store.clone());
    let (_, _, body) = get(&app, "/records?logger=billing&since=3d&until=now").await;
    let hist = body.split("<figure class=\"histogram\"").nth(1).unwrap().split("</figure>").next().unwrap();
    let bars = links(hist, "/records?");
    assert!(bars.len() >= 20 && bars.len() <= 61, "{} bars", bars.len());
    assert!(hist.contains("7 records"), "{hist}");
    // The bar with records in it keeps the logger and narrows the range.
    let with_records: Vec<&str> = hist.split("<a href=").filter(|a| a.contains("rect class=\"b-")).collect();
    assert!(with_records.len() >= 2, "{hist}");
    let mut narrowed_total = 0;
    for bar in with_records {
        let href = links(&format!("href={bar}"), "/records?").remove(0);
        assert!(href.contains("logger=billing") && href.contains("since=") && href.contains("until="));
        let (status, _, table) = get(&app, &href).await;
        assert_eq!(status, StatusCode::OK);
        narrowed_total += count_rows(&table);
    }
    assert_eq!(narrowed_total, 7);
}

async fn record_page_shows_everything_escaped(env: &Env) {
    let app = router(env.store.clone());
    let failed = all(env.store.as_ref(), &{
        let mut f = RecordFilter::default();
        f.text = Some("payment failed".into());
        f
    });
    let r = &failed[0];
    let (status, _, body) = get(&app, &format!("/records/{}", r.id)).await;
    assert_eq!(status, StatusCode::OK);
    for part in [
        "payment failed after 3 attempts",
        &r.ts.to_rfc3339(),
        r.module.as_deref().unwrap(),
        &format!("{}:{}", r.file.as_deref().unwrap(), r.line.unwrap()),
        &r.thread,
        ">shop<",
        &r.host,
        &r.pid.to_string(),
        "<span class=\"k\">&quot;order_id&quot;</span>",
    ] {
        assert!(body.contains(part), "`{part}` missing from\n{body}");
    }
    // Each scalar context value links to the request view of its key.
    assert!(links(&body, "/related?").contains(&"/related?key=request_id&value=r-1".to_owned()), "{body}");
    assert!(links(&body, "/related?").contains(&"/related?key=order_id&value=1234".to_owned()));
    assert!(body.contains("Every record of request"));

    // The hostile record: every field escaped.
    let evil = all(env.store.as_ref(), &{
        let mut f = RecordFilter::default();
        f.pid = Some(4242);
        f
    })
    .remove(0);
    let (status, _, body) = get(&app, &format!("/records/{}", evil.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped("hostile record", &body);
    for escaped in [
        "second &lt;script&gt;alert(1)&lt;/script&gt; with &quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
        "thread&quot;&gt;&lt;img",
        "module&lt;script&gt;",
        "file&quot;&gt;&lt;img src=x onerror=alert(1)&gt;.rs:7",
        "app&quot;&gt;&lt;img",
        "host&lt;script&gt;",
        "evil&lt;b&gt;logger&lt;/b&gt;",
    ] {
        assert!(body.contains(escaped), "`{escaped}` missing from\n{body}");
    }
    // A hostile key and value are escaped inside the link's query and text.
    let rel = links(&body, "/related?");
    assert_eq!(rel.len(), 1, "{body}");
    let (status, _, view) = get(&app, &rel[0]).await;
    assert_eq!(status, StatusCode::OK, "{}", rel[0]);
    assert_eq!(row_ids(&view), [evil.id]);
    assert_escaped("hostile related", &view);

    for (uri, want) in [("/records/999999999", StatusCode::NOT_FOUND), ("/records/abc", StatusCode::NOT_FOUND)] {
        assert_eq!(get(&app, uri).await.0, want, "{uri}");
    }
}

async fn request_view_in_time_order_across_threads(env: &Env) {
    let app = router(env.store.clone());
    let (status, _, body) = get(&app, "/related?key=request_id&value=r-1").await;
    assert_eq!(status, StatusCode::OK);
    let want: Vec<i64> = request(env.store.as_ref()).iter().map(|r| r.id).collect();
    assert_eq!(want.len(), 3);
    assert_eq!(row_ids(&body), want, "oldest first");
    assert!(body.contains("worker-2") && body.contains("from 2 threads"), "{body}");
    // A number typed as text matches the stored number.
    let (_, _, body) = get(&app, "/related?key=order_id&value=1234").await;
    assert_eq!(count_rows(&body), 1);
    let (status, _, body) = get(&app, "/related?key=request_id").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("<form") && body.contains("a key and a value are needed"));
    let (_, _, hostile) = get(&app, &format!("/related?key=note&value={}", urlencode(H_ATTR))).await;
    assert_eq!(count_rows(&hostile), 1);
    assert_escaped("related hostile", &hostile);
}

/// 23 records share `tenant = t-9` (four of them at one instant, so the id
/// breaks the tie), more than a page of 5: the pages walk every one once,
/// newest first by default, back up with the newer links, and oldest first
/// when asked; a page never holds more than its limit, at most 500.
async fn sharing_a_value_pages_both_ways(env: &mut Env) {
    let now = Timestamp::now().0;
    let origin = Origin::new("shop", "h1", 9);
    let mut batch = Vec::new();
    for i in 0..23i64 {
        let mut r = Record::new(Level::Info, "tenants", format!("tenant work {i}"));
        r.timestamp = Timestamp(now - 5 * HOUR + (i / 4) * 1_000_000);
        r.kv = vec![("tenant".into(), Value::from("t-9"))];
        batch.push(r);
    }
    sync(|| env.sink.write(&Batch::new(&origin, &batch))).unwrap();
    let mut filter = RecordFilter::default();
    filter.fields.push("tenant=t-9".parse().unwrap());
    let want: Vec<i64> = all(env.store.as_ref(), &filter).iter().map(|r| r.id).collect();
    assert_eq!(want.len(), 23);
    let app = router(env.store.clone());

    // Newest first, down with the older links.
    let (mut seen, mut pages) = (Vec::new(), Vec::new());
    let mut next = Some("/related?key=tenant&value=t-9&limit=5".to_owned());
    while let Some(uri) = next.take() {
        let (status, _, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        let ids = row_ids(&body);
        assert!(!ids.is_empty() && ids.len() <= 5, "{uri}: {ids:?}");
        assert!(count_rows(&body) <= 5);
        seen.extend(ids);
        next = links(&body, "/related?").into_iter().find(|l| l.contains("older="));
        pages.push(body);
    }
    assert_eq!(seen, want, "{}: every record once, newest first", env.name);
    assert_eq!(pages.len(), 5);
    // Back up from the last page.
    assert_eq!(walk_up(&app, pages.last().unwrap(), "/related?").await, want, "back up with the newer links");

    // Oldest first when asked: the same records, reversed, each once.
    let (_, _, first) = get(&app, "/related?key=tenant&value=t-9&limit=5").await;
    let toggle =
        links(&first, "/related?").into_iter().find(|l| l.contains("order=oldest")).expect("an oldest-first link");
    let mut oldest = Vec::new();
    let mut next = Some(toggle);
    while let Some(uri) = next.take() {
        let (status, _, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        let ids = row_ids(&body);
        assert!(!ids.is_empty() && ids.len() <= 5, "{uri}: {ids:?}");
        oldest.extend(ids);
        next = links(&body, "/related?").into_iter().find(|l| l.contains("newer=") && l.contains("order=oldest"));
    }
    let mut reversed = want.clone();
    reversed.reverse();
    assert_eq!(oldest, reversed, "oldest first, each once");

    // The default page is bounded, and so is the largest.
    let (_, _, body) = get(&app, "/related?key=tenant&value=t-9").await;
    assert_eq!(count_rows(&body), 23);
    let (status, _, _) = get(&app, "/related?key=tenant&value=t-9&limit=500").await;
    assert_eq!(status, StatusCode::OK);
    for bad in ["limit=501", "limit=0", "order=sideways", "older=nonsense"] {
        let (status, _, body) = get(&app, &format!("/related?key=tenant&value=t-9&{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body.contains("<form"), "{bad}");
    }
    // The shared key is not repeated in each row's context.
    assert!(!body.contains("&quot;tenant&quot;") && !body.contains("tenant=t-9</"), "{body}");
}

/// A request's records at known offsets from its first: each row shows its
/// offset and a waterfall bar; oldest first by default; a later page still
/// counts from the request's first record; the request id is not repeated
/// in the rows; thread and host stay on one line with their full text in a title.
async fn request_view_shows_offsets_and_a_waterfall(env: &mut Env) {
    let start = Timestamp::now().0 - 3 * HOUR;
    let origin = Origin::new("shop", format!("a-very-long-host-name-{H_MSG}-eu-west-1.example.internal"), 11);
    let at = [0i64, 12_000, 1_200_000, 192_000_000];
    let mut batch = Vec::new();
    for (i, off) in at.iter().enumerate() {
        let mut r = Record::new(Level::Info, "api::http", format!("step {i}"));
        r.timestamp = Timestamp(start + off);
        r.thread = Arc::from("tokio-runtime-worker-with-a-long-name-7");
        r.kv = vec![("request_id".into(), Value::from("r-wf")), ("step".into(), Value::from(i as i64))];
        batch.push(r);
    }
    sync(|| env.sink.write(&Batch::new(&origin, &batch))).unwrap();
    let app = router(env.store.clone());
    let (status, _, body) = get(&app, "/related?key=request_id&value=r-wf").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_escaped("request view", &body);
    let ids = row_ids(&body);
    assert_eq!(ids.len(), 4);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    let shown = offsets(&body);
    assert_eq!(shown, ["+0 ms", "+12 ms", "+1.2 s", "+3 min 12 s"], "{body}");
    assert_eq!(body.matches("<svg class=\"wf\"").count(), 4, "a waterfall bar a row");
    assert!(!body.contains("style="), "no inline style (the CSP forbids it)");
    assert!(!body.contains("&quot;request_id&quot;") && !body.contains("request_id=r-wf</"), "{body}");
    assert!(body.contains("step=0") || body.contains("&quot;step&quot;:0"), "other keys stay: {body}");
    assert!(body.contains("td class=\"one\" title=\"tokio-runtime-worker-with-a-long-name-7\""), "{body}");
    assert!(body.contains("spans 3 min 12 s"), "{body}");
    // The second page of two still counts from the request's first record.
    let (_, _, page1) = get(&app, "/related?key=request_id&value=r-wf&limit=2").await;
    let later = links(&page1, "/related?").into_iter().find(|l| l.contains("newer=")).expect("a later page");
    let (_, _, page2) = get(&app, &later).await;
    let shown = offsets(&page2);
    assert_eq!(shown, ["+1.2 s", "+3 min 12 s"], "{page2}");
    // Newest first when asked, offsets unchanged.
    let (_, _, newest) = get(&app, "/related?key=request_id&value=r-wf&order=newest").await;
    let shown = offsets(&newest);
    assert_eq!(shown, ["+3 min 12 s", "+1.2 s", "+12 ms", "+0 ms"], "{newest}");
}

/// The offsets of a request view's rows, in order.
fn offsets(body: &str) -> Vec<&str> {
    body.split("<td class=\"off\"").skip(1).map(|c| c.split_once('>').unwrap().1.split('<').next().unwrap()).collect()
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

async fn call_sites_count_per_level(env: &Env) {
    let app = router(env.store.clone());
    let (status, _, body) = get(&app, "/sites?logger=billing").await;
    assert_eq!(status, StatusCode::OK);
    // billing logs from two lines of fill(): the payments loop (3 INFO, each one
    // line, plus the r-1 line) and the ERROR; the backdated ones are out of the hour.
    let sites = sync(|| {
        env.store.call_sites(
            &{
                let mut f = RecordFilter::default();
                f.logger = Some(LoggerMatch::Exact("billing".into()));
                f.since = Some(Timestamp(Timestamp::now().0 - HOUR));
                f
            },
            50,
        )
    });
    let sites = sites.unwrap();
    assert_eq!(body.matches("<tr><td class=\"logger\">").count(), sites.len(), "{body}");
    for s in &sites {
        assert!(body.contains(&format!("{}:{}", s.file.as_deref().unwrap(), s.line.unwrap())));
    }
    assert!(body.contains("payment failed after 3 attempts"));
    // Each location links to the records of exactly that call site.
    let site_links: Vec<String> = links(&body, "/records?").into_iter().filter(|l| l.contains("site=")).collect();
    assert_eq!(site_links.len(), sites.len(), "{body}");
    for (s, link) in sites.iter().zip(&site_links) {
        let (status, _, page) = get(&app, link).await;
        assert_eq!(status, StatusCode::OK, "{link}");
        assert_eq!(count_rows(&page) as u64, s.counts.total(), "{link}: {page}");
        assert!(page.contains(&format!("value=\"{}:{}\"", s.file.as_deref().unwrap(), s.line.unwrap())), "{page}");
    }
    let (status, _, bad) = get(&app, "/records?site=%3A12").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("call site"), "{bad}");
    let (_, _, evil) = get(&app, "/sites?since=1d").await;
    assert_escaped("sites", &evil);
    assert!(evil.contains("evil&lt;b&gt;logger"));
}

async fn tail_page_and_events_deliver_new_records(env: &Env) {
    let app = router(env.store.clone());
    let (status, _, body) = get(&app, "/tail?logger=billing").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("payment failed after 3 attempts"));
    let src = body.split("data-src=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    assert!(src.starts_with("/tail/events?logger=billing&after="), "{src}");
    let (_, _, hostile) = get(&app, "/tail").await;
    assert_escaped("tail", &hostile);

    // The stream opens, then a record is logged: it arrives as an event.
    let response =
        app.clone().oneshot(axum::http::Request::get(&src).body(axum::body::Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    tokio::time::sleep(Duration::from_millis(700)).await;
    log::info!(logger: &env.panel, target: "billing", marker = "m1"; "tail line {}", "<i>after open</i>");
    log::info!(logger: &env.panel, target: "other", "not for this filter");
    env.panel.flush().unwrap();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !text.contains("after open") {
        let frame = tokio::time::timeout_at(deadline, body.frame()).await.expect("the record within 10 s");
        if let Some(data) = frame.unwrap().unwrap().data_ref() {
            text.push_str(std::str::from_utf8(data).unwrap());
        }
    }
    assert!(text.contains("event: record"), "{text}");
    assert!(text.contains("\"logger\":\"billing\""), "{text}");
    assert!(text.contains("<i>after open</i>"), "JSON carries text; the page inserts it as text: {text}");
    assert!(!text.contains("not for this filter"));
    let before = text.matches("event: record").count();
    assert_eq!(before, 1, "only the new record, after the page's last id: {text}");
}

async fn bad_filters_are_400_with_the_form(env: &Env) {
    let app = router(env.store.clone());
    for (query, message) in [
        ("level=loud", "level `loud`"),
        ("level=warn&level=x", "level `x`"),
        ("since=soon", "time `soon`"),
        ("since=now&until=1h", "since"),
        ("pid=-1", "pid `-1`"),
        ("context=nokey", "expected key=value"),
        ("logger=%3A%3A", "logger"),
        ("older=garbage", "cursor"),
        ("limit=0", "limit `0`"),
        ("tz=1000", "tz `1000`"),
    ] {
        for page in ["/records", "/sites", "/tail"] {
            let (status, _, body) = get_any(&app, &format!("{page}?{query}")).await;
            if page != "/records" && (query.starts_with("older") || query.starts_with("limit")) {
                // No cursor on these pages: the parameter is named as ignored.
                if query.starts_with("older") {
                    assert!(body.contains("parameter <code>older</code>"), "{page}?{query}: {body}");
                }
                continue;
            }
            assert_eq!(status, StatusCode::BAD_REQUEST, "{page}?{query}: {body}");
            assert!(body.contains("<form class=\"filters\""), "{page}?{query}");
            assert!(body.contains("Filter not applied") && body.contains(message), "{page}?{query}: {body}");
        }
    }
    // What was typed is shown back, escaped.
    let (_, _, body) = get(&app, &format!("/records?level={}", urlencode(H_ATTR))).await;
    assert_escaped("bad filter", &body);
    // The stream refuses a bad filter as the pages do: an error page.
    let (status, headers, body) = get(&app, "/tail/events?level=loud").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"), "{headers:?}");
    assert!(body.contains("<h1>Bad parameters</h1>") && body.contains("loud"), "{body}");
    let (status, _, body) = get(&app, "/tail/events?after=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("<h1>Bad parameters</h1>") && body.contains("after: expected a record id"), "{body}");
}

async fn headers_and_methods(env: &Env) {
    let app = router(env.store.clone());
    for uri in ["/", "/records", "/records/1", "/sites", "/tail", "/static/panel.css", "/static/panel.js", "/nope"] {
        let (status, headers, _) = get(&app, uri).await;
        assert!(status == StatusCode::OK || status == StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY, "{uri}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
    }
    assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'none'; style-src 'self'; script-src 'self';"));
    let (_, headers, js) = get(&app, "/static/panel.js").await;
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(js.contains("textContent") && !js.contains("innerHTML"));
    let (_, _, home) = get(&app, "/").await;
    assert!(!home.contains("<script>") && !home.contains(" style="), "no inline script or style");
    for method in ["POST", "PUT", "DELETE"] {
        let req = axum::http::Request::builder().method(method).uri("/records").body(axum::body::Body::empty());
        let response = app.clone().oneshot(req.unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
}

async fn nested_links_honour_the_prefix(env: &Env) {
    let app = axum::Router::new().nest("/admin/logs", router(env.store.clone()));
    // axum does not route the trailing-slash form of a nest root; the app decides.
    for uri in ["/admin/logs"] {
        let (status, _, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(body.contains("href=\"/admin/logs/static/panel.css?v="));
        assert!(body.contains("src=\"/admin/logs/static/panel.js?v="));
        let all_links = links(&body, "/");
        assert!(all_links.iter().all(|l| l.starts_with("/admin/logs")), "{all_links:?}");
        assert!(all_links.iter().any(|l| l.starts_with("/admin/logs/records?logger=")));
    }
    let (_, _, records) = get(&app, "/admin/logs/records?logger=billing").await;
    let first = row_ids(&records.replace("/admin/logs/records/", "/records/"))[0];
    let (status, _, record) = get(&app, &format!("/admin/logs/records/{first}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(links(&record, "/").iter().all(|l| l.starts_with("/admin/logs/")));
    assert!(record.contains("action=\"/admin/logs/related\"") || record.contains("href=\"/admin/logs/related?"));
}

/// A store that can be switched off, as a database server going down: then
/// every call fails with `kind`. It counts the live tail's reads.
struct Switch {
    down: AtomicBool,
    kind: StoreErrorKind,
    tails: AtomicUsize,
}

impl Switch {
    fn new(inner: Arc<dyn Store>, kind: StoreErrorKind) -> Wrapped<Switch> {
        Wrapped::new(inner, Switch { down: AtomicBool::new(true), kind, tails: AtomicUsize::new(0) })
    }

    /// A working store that counts.
    fn up(inner: Arc<dyn Store>) -> Wrapped<Switch> {
        let s = Switch::new(inner, StoreErrorKind::Unavailable);
        s.hooks.down.store(false, Ordering::SeqCst);
        s
    }
}

impl Hooks for Switch {
    fn before(&self, read: Read) -> Result<(), StoreError> {
        if read == Read::Tail {
            self.tails.fetch_add(1, Ordering::SeqCst);
        }
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::new(self.kind, "cannot reach the database at db.example:5432"))
        } else {
            Ok(())
        }
    }
    fn describe(&self, _: &dyn Store) -> String {
        "switch".into()
    }
}

async fn unavailable_store_is_503_and_recovers(env: &Env) {
    let switch = Arc::new(Switch::new(env.store.clone(), StoreErrorKind::Unavailable));
    let app = router(switch.clone());
    for uri in STORE_PAGES {
        let (status, headers, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert!(body.contains("The log database is unreachable") && body.contains("db.example:5432"), "{uri}");
        assert!(body.contains("http-equiv=\"refresh\""));
        assert_eq!(headers["retry-after"], "10", "{uri}");
    }
    switch.hooks.down.store(false, Ordering::SeqCst);
    for uri in STORE_PAGES {
        assert_eq!(get(&app, uri).await.0, StatusCode::OK, "{uri} after recovery");
    }
}

/// Each kind of store failure has its page on every page that reads the
/// store: a refused filter 400, a refused query 500, the rest 503; never a
/// 500 for a filter.
async fn store_failures_map_to_their_status(env: &Env) {
    for (kind, status, heading) in [
        (StoreErrorKind::BadFilter, StatusCode::BAD_REQUEST, "cannot reach the database"),
        (StoreErrorKind::Storage, StatusCode::INTERNAL_SERVER_ERROR, "The database refused the query"),
        (StoreErrorKind::NewerSchema, StatusCode::INTERNAL_SERVER_ERROR, "written by a newer log-panel"),
        (StoreErrorKind::Unavailable, StatusCode::SERVICE_UNAVAILABLE, "The log database is unreachable"),
    ] {
        let app = router(Arc::new(Switch::new(env.store.clone(), kind)));
        for uri in STORE_PAGES {
            let (got, _, body) = get(&app, uri).await;
            assert_eq!(got, status, "{kind:?} {uri}: {body}");
            assert!(body.contains(heading) && body.contains("db.example:5432"), "{kind:?} {uri}: {body}");
        }
    }
    // A refused filter on a page with the form shows the form with the reason.
    let app = router(Arc::new(Switch::new(env.store.clone(), StoreErrorKind::BadFilter)));
    for uri in ["/records", "/sites", "/tail"] {
        let (_, _, body) = get(&app, uri).await;
        assert!(body.contains("<form class=\"filters\"") && body.contains("Filter not applied"), "{uri}: {body}");
    }
}

/// Whether `text` holds a character a page must never show raw: a control
/// character other than newline and tab, or a bidirectional override.
fn raw_control(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// A live-tail stream opened in process.
pub(crate) struct Events {
    body: axum::body::Body,
    text: String,
}

impl Events {
    pub(crate) async fn open(app: &axum::Router, uri: &str) -> Events {
        let response =
            app.clone().oneshot(axum::http::Request::get(uri).body(axum::body::Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Events { body: response.into_body(), text: String::new() }
    }

    /// Reads until `done` holds for what was read (10 s at most), and returns it all.
    pub(crate) async fn until(&mut self, what: &str, done: impl Fn(&str) -> bool) -> &str {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done(&self.text) {
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .unwrap_or_else(|_| panic!("{what} within 10 s; read:\n{}", self.text));
            if let Some(data) = frame.unwrap().unwrap().data_ref() {
                self.text.push_str(std::str::from_utf8(data).unwrap());
            }
        }
        &self.text
    }

    pub(crate) async fn until_text(&mut self, needle: &str) -> &str {
        self.until(needle, |t| t.contains(needle)).await
    }

    /// Reads whatever comes for `length`, and returns all that was read.
    pub(crate) async fn read_for(&mut self, length: Duration) -> &str {
        let deadline = tokio::time::Instant::now() + length;
        while let Ok(frame) = tokio::time::timeout_at(deadline, self.body.frame()).await {
            match frame.map(|f| f.unwrap()) {
                Some(frame) => {
                    if let Some(data) = frame.data_ref() {
                        self.text.push_str(std::str::from_utf8(data).unwrap());
                    }
                }
                None => break,
            }
        }
        &self.text
    }
}

/// Reads a live-tail stream until `until` shows up (10 s at most).
async fn read_stream_until(uri: &str, app: &axum::Router, until: &str) -> String {
    Events::open(app, uri).await.until_text(until).await.to_owned()
}

/// Control characters in every stored field reach no page raw: they are shown
/// as escapes (`\e`, `\x07`, `\u{9b}`), as the command line shows them;
/// newlines and tabs of a message stay.
async fn control_characters_are_shown_as_escapes(env: &mut Env) {
    let origin = log_panel_core::Origin::new("app\x1b[31m", "host\x07", 5151);
    let mut r = log_panel_core::Record::new(
        log_panel_core::Level::Error,
        "ctl\x1b[31m",
        "esc\x1b[2J bell\x07 cr\r csi\u{9b}6n rtl\u{202e}txt del\x7f\nsecond line\ttab",
    );
    r.thread = Arc::from("thread\x1b]0;title\x07");
    r.module_path = Some("module\x1b".into());
    r.file = Some("file\u{9b}.rs".into());
    r.line = Some(3);
    r.kv = vec![
        ("key\x1b".into(), log_panel_core::Value::from("value\x1b[1m")),
        ("request_id".into(), log_panel_core::Value::from("req\x1b")),
    ];
    sync(|| env.sink.write(&log_panel_core::Batch::new(&origin, &[r]))).unwrap();
    let stored = all(env.store.as_ref(), &{
        let mut f = RecordFilter::default();
        f.pid = Some(5151);
        f
    })
    .remove(0);
    let app = router(env.store.clone());
    for uri in [
        "/".to_owned(),
        "/records".to_owned(),
        "/records?pid=5151".to_owned(),
        format!("/records/{}", stored.id),
        "/related?key=request_id&value=req%1B".to_owned(),
        "/sites?pid=5151".to_owned(),
        "/tail?pid=5151".to_owned(),
        // What was typed into a filter is shown back in the problem line too.
        "/records?since=%1B%5B2J".to_owned(),
    ] {
        let (status, _, body) = get(&app, &uri).await;
        assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{uri}: {status}");
        assert_eq!(raw_control(&body), None, "{}: {uri}: {body}", env.name);
        assert!(body.contains("\\e"), "{uri}: the escape is shown: {body}");
    }
    let (_, _, record) = get(&app, &format!("/records/{}", stored.id)).await;
    for shown in [
        "ctl\\e[31m",
        "esc\\e[2J bell\\x07 cr\\r csi\\u{9b}6n rtl\\u{202e}txt del\\x7f\nsecond line\ttab",
        "thread\\e]0;title\\x07",
        "module\\e",
        "file\\u{9b}.rs:3",
        "app\\e[31m",
        "host\\x07",
    ] {
        assert!(record.contains(shown), "`{shown}` in {record}");
    }
    // The live tail's events carry the same text.
    let text =
        read_stream_until(&format!("/tail/events?pid=5151&after={}", stored.id - 1), &app, "event: record").await;
    assert_eq!(raw_control(&text), None, "{text}");
    assert!(text.contains("ctl\\\\e[31m"), "{text}");
}

/// The newest record id.
fn newest_id(store: &dyn Store) -> i64 {
    sync(|| store.tail(&RecordFilter::default(), None, 1)).unwrap().last().map_or(0, |r| r.id)
}

/// At most `tail_streams` live-tail streams at once; one more gets a 503
/// with Retry-After; a closed stream frees its place at once.
async fn tail_streams_are_capped_and_released(env: &Env) {
    let app = log_panel_web::router_with(env.store.clone(), PanelOptions::default().tail_streams(3));
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(Events::open(&app, "/tail/events?logger=billing").await);
    }
    let (status, headers, body) = get(&app, "/tail/events?logger=billing").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers["retry-after"], "10");
    assert!(body.contains("<h1>Too many live tails</h1>"), "{body}");
    assert!(body.contains("3 live-tail streams are open"), "{body}");
    open.pop();
    open.push(Events::open(&app, "/tail/events").await);
    assert_eq!(get(&app, "/tail/events").await.0, StatusCode::SERVICE_UNAVAILABLE);
    open.clear();
    for _ in 0..3 {
        open.push(Events::open(&app, "/tail/events?level=error").await);
    }
    assert_eq!(PanelOptions::default().tail_streams, PanelOptions::DEFAULT_TAIL_STREAMS);
}

/// Thirty streams with their own filters cost one read of the store a poll,
/// not thirty; each gets what its filter keeps; when they close, the store
/// is read no more.
async fn tail_streams_share_one_poll(env: &Env) {
    const STREAMS: usize = 30;
    let store = Arc::new(Switch::up(env.store.clone()));
    let app = router(store.clone());
    let after = newest_id(env.store.as_ref());
    let mut streams = Vec::new();
    for i in 0..STREAMS {
        let logger = if i % 2 == 0 { "billing" } else { "other" };
        streams.push((logger, Events::open(&app, &format!("/tail/events?logger={logger}&after={after}")).await));
    }
    let opened = store.hooks.tails.load(Ordering::SeqCst);
    log::info!(logger: &env.panel, target: "other", "marker for other");
    log::info!(logger: &env.panel, target: "billing", "marker for billing");
    env.panel.flush().unwrap();
    for (logger, events) in &mut streams {
        let text = events.until_text(&format!("marker for {logger}")).await.to_owned();
        assert_eq!(text.matches("event: record").count(), 1, "{logger}: only its own record: {text}");
    }
    // Three polls more: one read each, where a read per stream would be 90.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reads = store.hooks.tails.load(Ordering::SeqCst) - opened;
    assert!(reads < STREAMS, "{reads} reads of the store for {STREAMS} streams over about three polls");
    drop(streams);
    // The poller stops once no stream is open: the count stands still.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let before = store.hooks.tails.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1200)).await;
        if store.hooks.tails.load(Ordering::SeqCst) == before {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the store is still read with no stream open");
    }
}

/// A stream starts at most one page (200 lines) back, whatever its `after`,
/// and says when it skipped older lines; then it is live.
async fn tail_starts_at_most_a_page_back(env: &mut Env) {
    let origin = log_panel_core::Origin::new("bulk-app", "bulk-host", 77);
    let records: Vec<log_panel_core::Record> = (0..250)
        .map(|i| log_panel_core::Record::new(log_panel_core::Level::Info, "bulk", format!("bulk line {i:03}")))
        .collect();
    sync(|| env.sink.write(&log_panel_core::Batch::new(&origin, &records))).unwrap();
    let ids: Vec<i64> = all(env.store.as_ref(), &{
        let mut f = RecordFilter::default();
        f.pid = Some(77);
        f
    })
    .iter()
    .rev()
    .map(|r| r.id)
    .collect();
    assert_eq!(ids.len(), 250);
    let app = router(env.store.clone());
    for (k, (after, lines, gap)) in [
        ("&after=-1".to_owned(), 200, true),
        (format!("&after={}", ids[9]), 200, true),
        (format!("&after={}", ids[239]), 10 + 2, false),
        (String::new(), 200, false),
    ]
    .into_iter()
    .enumerate()
    {
        let mut events = Events::open(&app, &format!("/tail/events?logger=bulk{after}")).await;
        events.until("the first page", |t| t.matches("event: record").count() >= lines).await;
        let marker = format!("live line of round {k}");
        log::info!(logger: &env.panel, target: "bulk", "{marker}");
        env.panel.flush().unwrap();
        let text = events.until_text(&marker).await;
        assert_eq!(text.matches("event: record").count(), lines + 1, "{after}: {text}");
        assert_eq!(text.contains("event: gap"), gap, "{after}");
        assert!(text.contains("bulk line 249"), "{after}: the newest line");
        if lines == 200 {
            // The newest 200: the markers of the rounds before, then the newest bulk lines.
            let (first, before) = (format!("bulk line {:03}", 50 + k), format!("bulk line {:03}", 49 + k));
            assert!(text.contains(&first) && !text.contains(&before), "{after}: the newest 200: {text}");
        }
    }
}

/// Two writers commit in turn, every 500 ms, each a batch of its records of
/// the last second: by id their times go back. The stream shows every record
/// once, in time order.
async fn tail_shows_two_writers_in_time_order_each_once(env: &mut Env) {
    let app = router(env.store.clone());
    let after = newest_id(env.store.as_ref());
    let mut events = Events::open(&app, &format!("/tail/events?logger=multi&after={after}")).await;
    let (batches, per_batch) = (8, 10);
    for b in 0..batches {
        if b > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let pid = 1 + (b % 2) as u32;
        let origin = log_panel_core::Origin::new("multi-app", format!("h{pid}"), pid);
        let now = log_panel_core::Timestamp::now().0;
        let records: Vec<log_panel_core::Record> = (0..per_batch)
            .rev()
            .map(|j| {
                let ts = now - j * 100_000 + i64::from(pid);
                let mut r = log_panel_core::Record::new(log_panel_core::Level::Info, "multi", format!("w{pid} #{ts}#"));
                r.timestamp = log_panel_core::Timestamp(ts);
                r
            })
            .collect();
        sync(|| env.sink.write(&log_panel_core::Batch::new(&origin, &records))).unwrap();
    }
    let total = (batches * per_batch) as usize;
    let text = events.until("every record", |t| t.matches("event: record").count() >= total).await.to_owned();
    let times: Vec<i64> =
        text.split(" #").skip(1).map(|rest| rest.split('#').next().unwrap().parse().unwrap()).collect();
    assert_eq!(times.len(), total, "{text}");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "in time order, each once: {times:?}");
    // The page's opening lines too.
    let (_, _, page) = get(&app, "/tail?logger=multi").await;
    let times: Vec<i64> =
        page.split(" #").skip(1).map(|rest| rest.split('#').next().unwrap().parse().unwrap()).collect();
    assert_eq!(times.len(), 50, "the page's opening lines");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "the page in time order: {times:?}");
}

/// While the database is unreachable the stream says so; once it is back the
/// stream says so and sends every record committed meanwhile, each once.
async fn tail_reports_an_outage_and_resumes_with_nothing_missed(env: &Env) {
    let store = Arc::new(Switch::up(env.store.clone()));
    let app = router(store.clone());
    let after = newest_id(env.store.as_ref());
    let mut events = Events::open(&app, &format!("/tail/events?logger=billing&after={after}")).await;
    log::info!(logger: &env.panel, target: "billing", "before the outage");
    env.panel.flush().unwrap();
    events.until_text("before the outage").await;
    store.hooks.down.store(true, Ordering::SeqCst);
    events.until_text("db.example:5432").await;
    for i in 0..5 {
        log::info!(logger: &env.panel, target: "billing", "during the outage {i}");
    }
    env.panel.flush().unwrap();
    store.hooks.down.store(false, Ordering::SeqCst);
    log::info!(logger: &env.panel, target: "billing", "after the outage");
    env.panel.flush().unwrap();
    let text = events.until_text("after the outage").await;
    assert!(text.contains("event: status\ndata: ok"), "{text}");
    for i in 0..5 {
        assert_eq!(text.matches(&format!("during the outage {i}")).count(), 1, "{text}");
    }
    assert_eq!(text.matches("event: record").count(), 7, "{text}");
}

/// A store whose commit waiter fails its next wait once `fail` is set, as
/// PostgreSQL's listener does when its server goes silent (frozen).
struct SilentListener(Arc<AtomicBool>);

impl Hooks for SilentListener {
    fn commit_waiter(&self) -> Box<dyn CommitWaiter> {
        Box::new(SilentListener(Arc::clone(&self.0)))
    }
}

impl CommitWaiter for SilentListener {
    fn wait(&mut self, timeout: Duration) -> Result<Wake, StoreError> {
        if self.0.swap(false, Ordering::SeqCst) {
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "the live tail's listener at db.example:5432 got no answer",
            ));
        }
        std::thread::sleep(timeout);
        Ok(Wake::TimedOut)
    }
}

/// A wait that fails (the listener found its server silent) is said on the
/// stream as a failed read is, and the next read that answers says the
/// store is back and goes on: every record once.
async fn tail_reports_a_silent_listener_and_goes_on(env: &Env) {
    let fail = Arc::new(AtomicBool::new(false));
    let app = router(Arc::new(Wrapped::new(env.store.clone(), SilentListener(Arc::clone(&fail)))));
    let after = newest_id(env.store.as_ref());
    let mut events = Events::open(&app, &format!("/tail/events?logger=listening&after={after}")).await;
    log::info!(logger: &env.panel, target: "listening", "before the silence");
    env.panel.flush().unwrap();
    events.until_text("before the silence").await;
    fail.store(true, Ordering::SeqCst);
    events.until_text("got no answer").await;
    assert!(!fail.load(Ordering::SeqCst), "the poller waited on the failing waiter");
    log::info!(logger: &env.panel, target: "listening", "after the silence");
    env.panel.flush().unwrap();
    let text = events.until_text("after the silence").await;
    let (said, back) = (text.find("got no answer").unwrap(), text.rfind("event: status\ndata: ok").unwrap_or(0));
    assert!(back > said, "the stream said the store answers again: {text}");
    assert_eq!(text.matches("event: record").count(), 2, "{text}");
}

/// The bound on any page's size that the tests check, whatever the URL (with
/// the test data: the worst cases, computed in docs/panel.md, need stored
/// strings made to be large).
const PAGE_BYTES: usize = 1 << 20;

/// The widest range a URL can name is drawn in at most 61 bars of whole
/// years, and the page stays small; every bar's link parses.
async fn widest_histogram_is_bounded(env: &Env) {
    let app = router(env.store.clone());
    for uri in [
        "/records?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z",
        "/records?since=0000-01-01T00:00:00Z&until=9999-12-31T23:59:59.999999Z&tz=840",
        "/records?since=9999-12-31T00:00:00Z&tz=-720",
        "/records?until=0000-01-01T00:30:00Z",
    ] {
        let (status, _, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert!(body.len() < 100_000, "{uri}: {} bytes", body.len());
        let hist = body.split("<figure class=\"histogram\"").nth(1).unwrap().split("</figure>").next().unwrap();
        let bars = links(hist, "/records?");
        assert!(!bars.is_empty() && bars.len() <= 61, "{uri}: {} bars", bars.len());
        for bar in [bars.first().unwrap(), bars.last().unwrap()] {
            assert_eq!(get(&app, bar).await.0, StatusCode::OK, "{uri}: bar {bar}");
        }
    }
    let (_, _, body) = get(&app, "/records?since=0001-01-01T00:00:00Z&until=2000-01-01T00:00:00Z").await;
    assert!(body.contains(" bars of 34 years"), "the page says how wide a bar is");
}

/// Every page with the largest parameters it accepts stays under
/// [`PAGE_BYTES`]; larger ones are refused with a 400, never a 500.
async fn every_page_is_bounded_whatever_its_parameters(env: &Env) {
    let app = router(env.store.clone());
    // Text that escapes as much as text can, in a URL and in HTML; 2 004 bytes
    // leave room for a range in the 2 048 a filter may have.
    let hostile = |n: usize| urlencode(&"\"<&".repeat(n / 3));
    // The search box takes a query: the same characters, as one quoted phrase.
    let max_q = urlencode(&format!("\"{}\"", "\\\"<&".repeat(2002 / 4)));
    // As many context conditions as a filter may hold (more are a 400).
    let ctx: String = (0..RecordFilter::MAX_FIELDS).map(|i| format!("&context=k{i:02}%3Dv")).collect();
    for uri in [
        format!("/records?limit=500&q={max_q}"),
        format!("/records?limit=500&since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z&q={max_q}"),
        format!("/records?limit=500&logger={max_q}"),
        format!("/records?limit=500{ctx}"),
        format!("/sites?limit=100&q={max_q}"),
        format!("/sites?limit=100&since=0001-01-01T00:00:00Z{ctx}"),
        format!("/tail?q={max_q}"),
        format!("/tail?since=0001-01-01T00:00:00Z{ctx}"),
        format!("/?range=90d&page=1000000&name={}", hostile(RecordFilter::MAX_VALUE_BYTES)),
        format!("/related?key=request_id&value={}", hostile(RecordFilter::MAX_VALUE_BYTES)),
        "/records/9223372036854775807".to_owned(),
    ] {
        let (status, _, body) = get(&app, &uri).await;
        assert!(
            matches!(status, StatusCode::OK | StatusCode::NOT_FOUND),
            "{}: {status}: {}",
            &uri[..60.min(uri.len())],
            &body[..2000.min(body.len())]
        );
        assert!(body.len() < PAGE_BYTES, "{}: {} bytes", &uri[..60], body.len());
        assert_escaped(&uri, &body);
    }
    let too_long = hostile(2100);
    let too_many: String = (0..2000).map(|i| format!("&context=k{i}%3Dv")).collect();
    for uri in [
        format!("/records?q={too_long}"),
        format!("/records?logger={too_long}"),
        format!("/records?limit=500{too_many}"),
        "/records?limit=501".to_owned(),
        "/records?limit=99999999999999999999999".to_owned(),
        format!("/sites?q={too_long}"),
        "/sites?limit=101".to_owned(),
        format!("/tail?context={too_long}"),
        format!("/tail{}", too_many.replacen('&', "?", 1)),
    ] {
        let (status, _, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{}: {}", &uri[..60.min(uri.len())], &body[..2000.min(body.len())]);
        assert!(body.len() < PAGE_BYTES, "{}: {} bytes", &uri[..60.min(uri.len())], body.len());
        assert!(body.contains("Filter not applied"), "{}", &uri[..60.min(uri.len())]);
    }
    let (status, _, _) = get(&app, &format!("/tail/events?q={too_long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// The status of a GET, without reading the body (a live-tail stream never ends).
async fn status_of(app: &axum::Router, uri: &str) -> StatusCode {
    app.clone().oneshot(axum::http::Request::get(uri).body(axum::body::Body::empty()).unwrap()).await.unwrap().status()
}

/// Hostile filters on every page that takes one: a NUL in any text
/// condition, hundreds or thousands of context conditions, absurd limits,
/// dates that are not dates. Each is a 400 page with the form, or — for a NUL,
/// which stored text never holds — a page that matches nothing, or — for 600
/// conditions, within the bytes a filter may have — an answer; never a 500.
async fn hostile_filters_are_refused_never_500(env: &Env) {
    let app = router(env.store.clone());
    // Every wrong answer, so one run lists them all.
    let mut wrong: Vec<String> = Vec::new();
    let many = |n: usize| "&context=a%3D1".repeat(n);
    let nul = [
        "q=%00",
        "q=pay%00ment",
        "logger=billing%00",
        "logger=billing%3A%3A%00",
        "app=shop%00",
        "host=h%00",
        "context=request_id%3Dr-1%00",
        "context=request_id%3D%00",
        "site=src%2Fa%00.rs%3A1",
    ];
    // Within the 2 048 bytes a filter may have: the store runs it or refuses it.
    let heavy = format!("level=error{}", many(600));
    let refused = [
        "context=request%00_id%3Dr-1".to_owned(),
        heavy.clone(),
        format!("level=error{}", many(2000)),
        "limit=-1".to_owned(),
        "limit=18446744073709551616".to_owned(),
        "limit=%00".to_owned(),
        "since=9999-99-99".to_owned(),
        "since=2026-02-30T00:00:00Z".to_owned(),
        "since=99999999999999999w".to_owned(),
        "until=-5d".to_owned(),
        "since=%00".to_owned(),
        "since=10000-01-01T00:00:00Z".to_owned(),
        "pid=99999999999".to_owned(),
    ];
    let rows = |body: &str| {
        body.matches("<tr class=\"row-").count()
            + body.matches("<tr><td class=\"logger\">").count()
            + body.matches("class=\"line row-").count()
    };
    for page in ["/records", "/sites", "/tail"] {
        for query in nul.iter().map(|q| (*q).to_owned()).chain(refused.iter().cloned()) {
            let uri = format!("{page}?{query}");
            let short = &uri[..uri.len().min(80)];
            let (status, _, body) = get_any(&app, &uri).await;
            let is_nul = nul.contains(&query.as_str());
            let right = match status {
                StatusCode::BAD_REQUEST => body.contains("Filter not applied"),
                StatusCode::OK if is_nul => rows(&body) == 0,
                StatusCode::OK => query == heavy || (page != "/records" && query.starts_with("limit")),
                _ => false,
            };
            if !right {
                let why = body
                    .split("<p class=\"error\" role=\"alert\">")
                    .nth(1)
                    .or(body.split("<section class=\"problem\">").nth(1));
                wrong.push(format!("{short}: {status}: {}", why.unwrap_or("").chars().take(160).collect::<String>()));
            }
            assert_eq!(raw_control(&body), None, "{short}");
            let events = status_of(&app, &format!("/tail/events?{query}")).await;
            // A NUL term may match nothing (a stream that stays empty).
            if !(events == StatusCode::BAD_REQUEST
                || (events == StatusCode::OK && (is_nul || query == heavy || query.starts_with("limit"))))
            {
                wrong.push(format!("/tail/events?{}: {events}", &query[..query.len().min(60)]));
            }
        }
    }
    for query in ["key=request_id&value=r-1%00", "key=request%00_id&value=r-1", "key=k&value=%00"] {
        let (status, _, body) = get(&app, &format!("/related?{query}")).await;
        if !(status == StatusCode::BAD_REQUEST || (status == StatusCode::OK && rows(&body) == 0)) {
            wrong.push(format!("/related?{query}: {status}"));
        }
    }
    let long_key = format!("/related?key={}&value=1", "k".repeat(10_000));
    let status = get(&app, &long_key).await.0;
    if status != StatusCode::BAD_REQUEST {
        wrong.push(format!("/related with a 10 000-byte key: {status}"));
    }
    for id in ["-1", "99999999999999999999", "%00"] {
        assert_eq!(get(&app, &format!("/records/{id}")).await.0, StatusCode::NOT_FOUND, "/records/{id}");
    }
    assert!(wrong.is_empty(), "{}: {} wrong answers:\n{}", env.name, wrong.len(), wrong.join("\n"));
}

/// The card of `logger` on a home page, from its `<article>` to the next.
fn card_of<'a>(body: &'a str, logger: &str) -> &'a str {
    let name = format!(">{logger}<");
    body.split("<article class=\"card\">")
        .skip(1)
        .find(|c| c.contains(&name))
        .unwrap_or_else(|| panic!("no card of {logger}: {body}"))
}

/// The loggers of a home page's cards, in their order.
fn card_order(body: &str) -> Vec<String> {
    body.split("<article class=\"card\">")
        .skip(1)
        .filter_map(|c| {
            let h2 = c.split("<h2>").nth(1)?;
            let name = h2.split("\">").nth(1)?.split('<').next()?;
            Some(name.to_owned())
        })
        .collect()
}

/// `N` of the badge "`what` in N of M hours" on a card, 0 without the badge.
fn slots_in_badge(card: &str, what: &str) -> usize {
    card.split(&format!(">{what} in ")).nth(1).map_or(0, |rest| rest.split(' ').next().unwrap().parse().unwrap())
}

/// The card's badges agree with its slots: the count of red and amber slots
/// is the one its badges say, and the last-hour badge is red when the last
/// hour's errors make a slot red under the same thresholds.
fn assert_badges_agree(card: &str, errors_needed: u64) {
    assert_eq!(card.matches("slot s-error").count(), slots_in_badge(card, "Errors"), "{card}");
    assert_eq!(card.matches("slot s-warn").count(), slots_in_badge(card, "Warnings"), "{card}");
    let last_hour_errors: u64 = card
        .split("<span class=\"n-error\">")
        .nth(1)
        .map_or(0, |rest| rest.split(' ').next().unwrap().replace('\u{202f}', "").parse().unwrap());
    assert_eq!(last_hour_errors >= errors_needed, card.contains(">Last hour: errors<"), "{card}");
    assert!(!card.contains(">Healthy<") && (last_hour_errors == 0 || !card.contains(">Last hour: healthy<")), "{card}");
}

async fn badges_agree_with_the_timeline_on_a_noisy_logger(env: &mut Env) {
    noisy(env);
    let app = router(env.store.clone());
    let (status, _, body) = get(&app, "/?name=api").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = card_of(&body, "api::http::access");
    // Red in 21 of 24 hours: the card says so beside them, and its quiet
    // last hour is not a green verdict on the whole timeline.
    let red = slots_in_badge(access, "Errors");
    assert!((20..=21).contains(&red), "{access}");
    assert_badges_agree(access, 1);
    // Warnings only: never "Clean", the badges count the amber hours.
    let auth = card_of(&body, "api::auth");
    assert!(!auth.contains(">Clean<") && auth.contains(">Last hour: warnings<"), "{auth}");
    assert!(slots_in_badge(auth, "Warnings") >= 23, "{auth}");
    assert_badges_agree(auth, 1);

    // "With errors": no card whose last hour has errors says it is healthy.
    let (_, _, errors) = get(&app, "/?show=errors").await;
    let cards: Vec<&str> = errors.split("<article class=\"card\">").skip(1).collect();
    assert!(cards.len() >= 3, "{errors}");
    for card in cards {
        assert_badges_agree(card, 1);
    }
}

async fn cards_come_in_order_of_trouble_or_by_name(env: &mut Env) {
    noisy(env);
    let app = router(env.store.clone());
    // Trouble first (the default): most errors in the last hour, then warnings, then activity.
    let (_, _, body) = get(&app, "/").await;
    let order = card_order(&body);
    assert_eq!(order.len(), 20, "{body}");
    assert_eq!(order[0], "zz::burning", "{order:?}");
    assert!(
        order[..4].contains(&"billing".to_owned()) && order[..4].contains(&"evil&lt;b&gt;logger&lt;/b&gt;".to_owned()),
        "{order:?}"
    );
    let (_, _, same) = get(&app, "/?sort=trouble").await;
    assert_eq!(card_order(&same), order);
    // By name on request, and the pager keeps the order.
    let (_, _, by_name) = get(&app, "/?sort=name").await;
    let names = card_order(&by_name);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(!names.contains(&"zz::burning".to_owned()));
    assert!(links(&by_name, "/?").iter().any(|l| l.contains("sort=name") && l.contains("page=2")), "{by_name}");
    let (status, _, bad) = get(&app, "/?sort=loudest").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("sort `loudest`"), "{bad}");
}

async fn a_logger_threshold_makes_a_noisy_loggers_normal_ok(env: &mut Env) {
    noisy(env);
    let tuned = log_panel_web::router_with(
        env.store.clone(),
        PanelOptions::default().logger_thresholds("api::http", 10, 1000).logger_thresholds("api::nothing", 1, 1),
    );
    let (_, _, body) = get(&tuned, "/?name=api").await;
    let access = card_of(&body, "api::http::access");
    // 5 errors an hour is this logger's normal; the incident's 20 stays red.
    assert_eq!(slots_in_badge(access, "Errors"), 1, "{access}");
    assert_eq!(access.matches("slot s-error").count(), 1, "{access}");
    assert!(access.matches("slot s-ok").count() >= 22, "{access}");
    assert_badges_agree(access, 10);
    // Others keep the default rule.
    let auth = card_of(&body, "api::auth");
    assert!(slots_in_badge(auth, "Warnings") >= 23, "{auth}");

    // Per hour: a day of the noisy logger (at most 125 errors) is under 24 × 10,
    // where the default rule paints it red.
    let (_, _, daily) = get(&tuned, "/?name=api::http&range=30d").await;
    let access = card_of(&daily, "api::http::access");
    assert_eq!(access.matches("slot s-error").count(), 0, "{access}");
    assert!(access.matches("slot s-ok").count() >= 1, "{access}");
    assert_badges_agree(access, 10);
    let (_, _, daily) = get(&router(env.store.clone()), "/?name=api::http&range=30d").await;
    let access = card_of(&daily, "api::http::access");
    assert!(access.matches("slot s-error").count() >= 1, "{access}");
    assert_badges_agree(access, 1);
}

macro_rules! per_store {
    ($store:ident: $($name:ident),* $(,)?) => {
        mod $store {
            $(
                // The storage is made and dropped outside the runtime: its
                // blocking clients may not run on a runtime thread.
                #[test]
                fn $name() {
                    #[allow(unused_mut)]
                    let Some(mut env) = super::common::$store() else { return };
                    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
                    rt.block_on(super::$name(&mut env));
                    drop(rt);
                    drop(env);
                }
            )*
        }
    };
}

macro_rules! every_store {
    ($($store:ident),*) => { $(
        per_store!($store:
            home_cards_timelines_and_slot_links,
            records_every_filter,
            search_box_speaks_the_query_language,
            pagination_walks_every_record_once,
            histogram_bars_narrow_the_range,
            record_page_shows_everything_escaped,
            request_view_in_time_order_across_threads,
            sharing_a_value_pages_both_ways,
            request_view_shows_offsets_and_a_waterfall,
            call_sites_count_per_level,
            tail_page_and_events_deliver_new_records,
            bad_filters_are_400_with_the_form,
            headers_and_methods,
            nested_links_honour_the_prefix,
            unavailable_store_is_503_and_recovers,
            control_characters_are_shown_as_escapes,
            store_failures_map_to_their_status,
            tail_streams_are_capped_and_released,
            tail_streams_share_one_poll,
            tail_starts_at_most_a_page_back,
            tail_reports_an_outage_and_resumes_with_nothing_missed,
            tail_reports_a_silent_listener_and_goes_on,
            tail_shows_two_writers_in_time_order_each_once,
            widest_histogram_is_bounded,
            every_page_is_bounded_whatever_its_parameters,
            hostile_filters_are_refused_never_500,
            badges_agree_with_the_timeline_on_a_noisy_logger,
            cards_come_in_order_of_trouble_or_by_name,
            a_logger_threshold_makes_a_noisy_loggers_normal_ok,
        );
    )* };
}

every_store!(memory, sqlite, postgres);

/// A real outage: the PostgreSQL server (its `log_records` partitioned by
/// day) stops under the panel, then comes back; the lookups that read a
/// search's or a record's days are 503 meanwhile, like every page.
#[test]
fn postgres_down_is_503_and_the_panel_recovers() {
    let Some(server) = log_panel_testing::postgres::TestServer::start_stoppable("the panel's outage test") else {
        return;
    };
    let url = server.create_database();
    let panel = log_panel::builder().postgres(format!("{url}?partition=day")).without_spool().build().unwrap();
    log::error!(logger: &panel, target: "outage", request_id = "r-1"; "before the outage");
    panel.flush().unwrap();
    let mut db = log_panel_testing::postgres::client(&url);
    assert!(log_panel_postgres::schema::is_partitioned(&mut db).unwrap());
    let store: Arc<dyn Store> = Arc::new(log_panel_postgres::PgStore::connect(&url).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let app = router(store.clone());
        let (status, _, body) = get(&app, "/records").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("before the outage"));
        sync(|| server.stop_server());
        for uri in [
            "/",
            "/records",
            "/records/1",
            "/records/1/around",
            "/records?context=request_id%3Dr-1",
            "/records?q=outage",
            "/sites",
            "/tail",
            "/related?key=request_id&value=r-1",
        ] {
            let (status, _, body) = get(&app, uri).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {body}");
            assert!(body.contains("The log database is unreachable"), "{uri}");
        }
        sync(|| server.start_server());
        let mut status = StatusCode::SERVICE_UNAVAILABLE;
        for _ in 0..100 {
            status = get(&app, "/records").await.0;
            if status == StatusCode::OK {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, StatusCode::OK, "the panel works again once the server is back");
        let (_, _, body) = get(&app, "/").await;
        assert!(body.contains(">outage<"));
    });
    drop(rt);
    drop(store);
    drop(panel);
}

/// The pages that read the store, each with parameters that reach it.
const STORE_PAGES: [&str; 6] = ["/", "/records", "/records/1", "/related?key=request_id&value=r-1", "/sites", "/tail"];

/// A SQLite database deleted, or replaced by a file that is not one, under a
/// running panel: every page is a 503 error page, never a 500.
#[test]
fn sqlite_database_deleted_or_unreadable_is_503() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let panel = log_panel::builder().database(&path).without_spool().build().unwrap();
    log::error!(logger: &panel, target: "gone", request_id = "r-1"; "before the file went");
    panel.flush().unwrap();
    drop(panel);
    let store: Arc<dyn Store> = Arc::new(log_panel_sqlite::SqliteStore::open(&path).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let app = router(store.clone());
        assert_eq!(get(&app, "/records").await.0, StatusCode::OK);
        log_panel_testing::sqlite::delete(&path);
        for uri in STORE_PAGES {
            let (status, _, body) = get(&app, uri).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "deleted: {uri}: {body}");
            assert!(body.contains("<section class=\"problem\">"), "{uri}: {body}");
        }
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        for uri in STORE_PAGES {
            let (status, _, body) = get(&app, uri).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "not a database: {uri}: {body}");
            assert!(body.contains("<section class=\"problem\">"), "{uri}: {body}");
        }
    });
    drop(rt);
}

/// Tests whose subject does not depend on the storage: on the in-memory store only.
macro_rules! memory_only {
    ($($name:ident),* $(,)?) => {
        mod memory_only {
            $(
                #[test]
                fn $name() {
                    let Some(env) = super::common::memory() else { return };
                    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
                    rt.block_on(super::$name(&env));
                    drop(rt);
                    drop(env);
                }
            )*
        }
    };
}

memory_only!(
    pages_are_gzipped_when_accepted_and_decompress_to_the_same_html,
    the_live_tail_is_not_compressed_and_delivers_events_to_a_gzip_client,
    static_files_carry_an_etag_and_answer_304_when_it_matches,
);

/// A GET with extra request headers; the body's raw bytes.
async fn get_with(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = axum::http::Request::get(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let response = app.clone().oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

fn gunzip(bytes: &[u8]) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes), &mut text).unwrap();
    text
}

/// Pages and static files are gzip-compressed for a client that accepts it,
/// keep their security headers, and decompress to the very bytes served plain.
async fn pages_are_gzipped_when_accepted_and_decompress_to_the_same_html(env: &Env) {
    let app = router(env.store.clone());
    let home = "/?range=90d&tz=0";
    for uri in [home, "/records", "/records/1", "/sites", "/tail", "/static/panel.css", "/static/panel.js", "/nope"] {
        let (status, plain_headers, plain) = get_with(&app, uri, &[]).await;
        assert!(status == StatusCode::OK || status == StatusCode::NOT_FOUND, "{uri}: {status}");
        assert!(plain_headers.get("content-encoding").is_none(), "{uri}: no encoding unless asked for");
        let (status2, headers, gz) = get_with(&app, uri, &[("accept-encoding", "gzip, deflate, br")]).await;
        assert_eq!(status2, status, "{uri}");
        assert_eq!(headers.get("content-encoding").map(|v| v.to_str().unwrap()), Some("gzip"), "{uri}");
        assert!(headers["vary"].to_str().unwrap().to_ascii_lowercase().contains("accept-encoding"), "{uri}");
        assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY, "{uri}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{uri}");
        assert_eq!(headers["x-frame-options"], "DENY", "{uri}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{uri}");
        assert_eq!(headers["content-type"], plain_headers["content-type"], "{uri}");
        assert_eq!(gunzip(&gz), String::from_utf8(plain.clone()).unwrap(), "{uri}: the same bytes once inflated");
        if uri == home {
            let percent = gz.len() * 100 / plain.len();
            eprintln!("90-day home page: {} bytes plain, {} gzip ({percent} %)", plain.len(), gz.len());
            assert!(percent < 25, "90-day home page: {} bytes gzip of {} plain", gz.len(), plain.len());
        }
    }
    // Only gzip is offered: a client asking for br alone gets the plain bytes.
    let (_, headers, _) = get_with(&app, "/records", &[("accept-encoding", "br")]).await;
    assert!(headers.get("content-encoding").is_none());
    let (_, headers, _) = get_with(&app, "/records", &[("accept-encoding", "gzip;q=0")]).await;
    assert!(headers.get("content-encoding").is_none(), "q=0 refuses gzip");
}

/// The live tail is never compressed (a compressor would hold events back
/// until its buffer fills): with `Accept-Encoding: gzip` an event still
/// arrives as soon as its record is stored.
async fn the_live_tail_is_not_compressed_and_delivers_events_to_a_gzip_client(env: &Env) {
    let (app, panel) = (router(env.store.clone()), &env.panel);
    let after = newest_id(env.store.as_ref());
    let uri = format!("/tail/events?logger=gzipped&after={after}");
    let req = axum::http::Request::get(&uri).header("accept-encoding", "gzip");
    let response = app.clone().oneshot(req.body(axum::body::Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().get("content-encoding").is_none(), "{:?}", response.headers());
    let mut events = Events { body: response.into_body(), text: String::new() };
    log::info!(logger: panel, target: "gzipped", "first through the tail");
    panel.flush().unwrap();
    let text = events.until_text("first through the tail").await.to_owned();
    assert!(text.contains("event: record"), "{text}");
    log::info!(logger: panel, target: "gzipped", "second through the tail");
    panel.flush().unwrap();
    events.until_text("second through the tail").await;
}

/// The stylesheet and the script carry an ETag from their content and
/// answer a matching `If-None-Match` with 304 and no body.
async fn static_files_carry_an_etag_and_answer_304_when_it_matches(env: &Env) {
    let app = router(env.store.clone());
    for uri in ["/static/panel.css", "/static/panel.js"] {
        let (status, headers, body) = get_with(&app, uri, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.is_empty());
        let etag = headers.get("etag").unwrap_or_else(|| panic!("{uri}: no ETag")).to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 8, "{etag}");
        assert_eq!(headers["cache-control"], "no-cache", "{uri}: kept, revalidated before each use");
        let weak = format!("W/{etag}");
        let listed = format!("\"other\", {etag}");
        for matching in [etag.as_str(), weak.as_str(), listed.as_str(), "*"] {
            let (status, headers, body) = get_with(&app, uri, &[("if-none-match", matching)]).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{uri} If-None-Match: {matching}");
            assert!(body.is_empty(), "{uri}: a 304 has no body");
            assert_eq!(headers["etag"], etag.as_str());
            assert_eq!(headers["cache-control"], "no-cache");
            assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
        }
        let (status, _, again) = get_with(&app, uri, &[("if-none-match", "\"stale\"")]).await;
        assert_eq!(status, StatusCode::OK, "an old ETag gets the file");
        assert_eq!(again, body);
        let (status, _, gz) = get_with(&app, uri, &[("if-none-match", "\"stale\""), ("accept-encoding", "gzip")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(gunzip(&gz).into_bytes(), body);
    }
    // Pages link the files by version: that URL is kept a year without asking,
    // and an old version's URL is revalidated like the bare one.
    let (_, _, home) = get(&app, "/").await;
    for (attr, path) in [("href", "/static/panel.css"), ("src", "/static/panel.js")] {
        let versioned = home
            .split(&format!("{attr}=\"{path}?v="))
            .nth(1)
            .unwrap_or_else(|| panic!("{path} not linked by version"))
            .split('"')
            .next()
            .unwrap();
        let uri = format!("{path}?v={versioned}");
        let (status, headers, body) = get_with(&app, &uri, &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable", "{uri}");
        assert_eq!(headers["etag"].to_str().unwrap(), format!("\"{versioned}\""), "{uri}: the version is the tag");
        assert_eq!(body, get_with(&app, path, &[]).await.2);
        let (_, headers, _) = get_with(&app, &format!("{path}?v=0000"), &[]).await;
        assert_eq!(headers["cache-control"], "no-cache", "an old version is revalidated");
    }
    // The CSS and the script differ, so do their tags.
    let (_, css, _) = get_with(&app, "/static/panel.css", &[]).await;
    let (_, js, _) = get_with(&app, "/static/panel.js", &[]).await;
    assert_ne!(css["etag"], js["etag"]);
}

/// The histogram above the records tells the truth: it covers the filter's
/// range, counts exactly the results, marks the page, and the rows mark the
/// search term.
mod histogram_truth {
    use super::common;
    use super::*;

    /// The histogram's figure as the page draws it.
    struct Figure {
        total: Option<u64>,
        exact: bool,
        start: i64,
        end: i64,
        band: Option<(i64, i64)>,
        html: String,
    }

    fn attr<'a>(html: &'a str, name: &str) -> Option<&'a str> {
        let needle = format!(" {name}=\"");
        let i = html.find(&needle)? + needle.len();
        Some(&html[i..i + html[i..].find('"')?])
    }

    fn figure(body: &str) -> Figure {
        let html = body.split("<figure class=\"histogram\"").nth(1).expect("a histogram").split("</figure>").next();
        let html = html.unwrap().to_owned();
        let head = &html[..html.find('>').unwrap()];
        let band = html
            .split("<rect class=\"page-span\"")
            .nth(1)
            .map(|b| (attr(b, "data-from").unwrap().parse().unwrap(), attr(b, "data-to").unwrap().parse().unwrap()));
        // The total as the SVG's label says it (the figure's attribute holds it too).
        let said = attr(&html, "aria-label").and_then(|l| {
            let n = l.strip_prefix("Records over time: ")?.trim_start_matches("at least ").trim_start_matches("about ");
            n.split(' ').next()?.parse().ok()
        });
        if let Some(total) = attr(head, "data-total") {
            assert_eq!(total.parse().ok(), said, "{html}");
        }
        Figure {
            total: said,
            exact: attr(head, "data-exact") == Some("true"),
            start: attr(head, "data-start").map_or(i64::MAX, |t| t.parse().unwrap()),
            end: attr(head, "data-end").map_or(i64::MIN, |t| t.parse().unwrap()),
            band,
            html,
        }
    }

    /// The times of a page's rows, read back from the store.
    fn row_times(env: &Env, body: &str) -> Vec<i64> {
        row_ids(body).into_iter().map(|id| sync(|| env.store.record(id)).unwrap().unwrap().ts.0).collect()
    }

    /// A rare word, a context filter, a logger with records older than a day,
    /// a 90-day range: the histogram's total is the number of rows the table
    /// holds, its window holds every row, ends no later than now, and the
    /// band under it spans the page's rows.
    pub(super) async fn histogram_total_is_the_result_count(env: &Env) {
        let app = router(env.store.clone());
        for query in [
            "q=payment+failed",
            "q=OLD",
            "context=request_id%3Dr-1",
            "logger=billing",
            "host=old-host",
            "since=90d",
            "since=90d&logger=billing%3A%3A",
            "level=warn",
            "until=1d",
            "since=3d&until=2030-01-01",
        ] {
            let (status, _, body) = get(&app, &format!("/records?{query}&limit=500")).await;
            let now = Timestamp::now().0;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            let rows = count_rows(&body);
            assert!(rows > 0, "{query}: the test data has matches");
            let fig = figure(&body);
            assert_eq!(fig.total, Some(rows as u64), "{}: {query}: histogram total vs rows\n{}", env.name, fig.html);
            assert!(fig.exact, "{query}");
            assert!(fig.html.contains(&format!(">{} record", rows)), "{query}: the total is shown\n{}", fig.html);
            assert!(body.contains(&format!(" of {} record", rows)), "{query}: the table says of how many");
            // The axis ends at most at the next minute after now: no bar starts after now.
            assert!(fig.end <= now + 60_000_000, "{query}: the axis ends at {} after now {now}", fig.end);
            let times = row_times(env, &body);
            for t in &times {
                assert!(fig.start <= *t && *t <= fig.end, "{query}: row at {t} outside [{}, {}]", fig.start, fig.end);
            }
            let (lo, hi) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
            assert_eq!(fig.band, Some((lo, hi)), "{query}: the band spans the page");
        }
    }

    /// The tallest bar's count in the caption ("max N per bar") is the
    /// largest bar's title; a filter nothing matches draws no bar and says
    /// "max 0" (it said "max 1" beside "0 records": the scale's floor).
    pub(super) async fn the_caption_names_the_tallest_bar(env: &Env) {
        let app = router(env.store.clone());
        let number = |s: &str| -> u64 { s.chars().filter(char::is_ascii_digit).collect::<String>().parse().unwrap() };
        for (query, tallest) in [
            ("q=payment+failed", None),
            ("since=90d", None),
            ("q=nothing+matches+this", Some(0)),
            ("since=1m&until=now&level=error&logger=none", Some(0)),
        ] {
            let (status, _, body) = get(&app, &format!("/records?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            let fig = figure(&body);
            // Each bar's title: "<start> – <end>: N records, …".
            let bars: Vec<u64> = fig
                .html
                .split("<title>")
                .skip(1)
                .filter_map(|t| {
                    t.split("</title>").next()?.split(": ").nth(1)?.split_once(" record").map(|(n, _)| number(n))
                })
                .collect();
            assert!(!bars.is_empty(), "{query}");
            let max = bars.iter().copied().max().unwrap();
            if let Some(tallest) = tallest {
                assert_eq!(max, tallest, "{query}");
            }
            let said = fig.html.split(", max ").nth(1).and_then(|c| c.split(" per bar").next()).map(number);
            assert_eq!(said, Some(max), "{}: {query}\n{}", env.name, fig.html);
        }
    }

    /// A deep page (the last of 2-row pages of `billing`): its rows lie in the
    /// histogram's window, the band marks them, and the total is still all
    /// of the results.
    pub(super) async fn deep_page_lies_in_the_histogram(env: &Env) {
        let app = router(env.store.clone());
        let want = count_rows(&get(&app, "/records?logger=billing&limit=500").await.2);
        let mut uri = "/records?logger=billing&limit=2".to_owned();
        let mut pages = 0;
        loop {
            let (status, _, body) = get(&app, &uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            pages += 1;
            let fig = figure(&body);
            assert_eq!(fig.total, Some(want as u64), "{}: page {pages}\n{}", env.name, fig.html);
            let times = row_times(env, &body);
            let (lo, hi) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
            assert!(
                fig.start <= lo && hi <= fig.end,
                "page {pages}: rows [{lo}, {hi}] vs [{}, {}]",
                fig.start,
                fig.end
            );
            assert_eq!(fig.band, Some((lo, hi)), "page {pages}");
            match links(&body, "/records?").into_iter().find(|l| l.contains("older=")) {
                Some(next) => uri = next,
                None => break,
            }
        }
        assert_eq!(pages, want.div_ceil(2));
    }

    /// Axis labels are as precise as the bars, never with milliseconds.
    pub(super) async fn histogram_labels_have_no_milliseconds(env: &Env) {
        let app = router(env.store.clone());
        for query in ["since=90d", "since=1h", "since=2m", "logger=billing", "", "tz=330&since=3h"] {
            let (_, _, body) = get(&app, &format!("/records?{query}")).await;
            let fig = figure(&body);
            let caption = fig.html.split("<figcaption>").nth(1).unwrap();
            // The text people read, without the tags (whose titles hold exact times).
            let mut text = String::new();
            let mut in_tag = false;
            for c in caption.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            let b = text.as_bytes();
            let millis = (0..b.len().saturating_sub(4))
                .any(|i| b[i].is_ascii_digit() && b[i + 1] == b'.' && b[i + 2..i + 5].iter().all(u8::is_ascii_digit));
            assert!(!millis, "{query}: milliseconds in {text}");
        }
        let (_, _, body) = get(&app, "/records?since=90d").await;
        let caption = figure(&body).html;
        let caption = caption.split("<figcaption>").nth(1).unwrap();
        let label = caption.split("class=\"axis\"").nth(1).unwrap().split('>').nth(1).unwrap();
        assert_eq!(
            label.split('<').next().unwrap().len(),
            "2026-09-06".len(),
            "weekly bars are labelled by day: {label}"
        );
    }

    /// The search term is marked in the rows, case-insensitively, and marking
    /// never unescapes anything, whatever the term.
    pub(super) async fn search_term_is_marked_and_escaped(env: &Env) {
        let app = router(env.store.clone());
        for (q, mark) in [
            ("PAYMENT", "<mark>payment</mark> failed"),
            ("SCRIPT", "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;"),
            ("%3Cscript%3E", "<mark>&lt;script&gt;</mark>alert(1)"),
            ("t%3E", "<mark>t&gt;</mark>"),
            ("%22%5C%22%3E%3Cimg%22", "<mark>&quot;&gt;&lt;img</mark>"),
        ] {
            let (status, _, body) = get(&app, &format!("/records?q={q}")).await;
            assert_eq!(status, StatusCode::OK, "{q}");
            assert!(count_rows(&body) > 0, "{q}");
            assert_escaped(q, &body);
            assert!(body.contains(mark), "{q}: no `{mark}` in\n{body}");
        }
        // A term that names an entity matches the text, not its escaping.
        let (_, _, body) = get(&app, "/records?q=amp").await;
        assert!(!body.contains("<mark>amp</mark>") && !body.contains("&<mark>"), "{body}");
    }

    /// A count that stopped at the scan bound says so in each bar (hatched,
    /// titled "at least") and in the total ("≥").
    pub(super) async fn a_bounded_count_is_marked_in_the_bars(env: &Env) {
        let app = router(Arc::new(Watched::new(env.store.clone(), Mode::Bounded)));
        let (status, _, body) = get(&app, "/records?context=request_id%3Dr-1").await;
        assert_eq!(status, StatusCode::OK);
        let fig = figure(&body);
        assert!(!fig.exact, "{}", fig.html);
        assert!(fig.html.contains("≥ 3 records"), "{}", fig.html);
        assert!(fig.html.contains("est\"") && fig.html.contains(": at least "), "{}", fig.html);
        assert!(body.contains(" of ≥ 3 records matching"), "{body}");
    }

    /// What [`Watched`] does to the histograms it passes on.
    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        /// Passes them as they are.
        Plain,
        /// As if each stopped at the scan bound.
        Bounded,
        /// Fails each as past the read time budget.
        TimedOut,
        /// Answers each estimate as one from a sample of 0.6 % of 10 M rows
        /// (the counts exact, so a page can be checked); exact histograms as they are.
        Sampled,
        /// As [`Mode::Sampled`], each bar's margin its own count: every
        /// bar with records ranges from 0 to twice its height, uncertain.
        Uncertain,
    }

    /// A store that notes every histogram it is asked for, and does [`Mode`] to it.
    struct Watched(std::sync::Mutex<Vec<(RecordFilter, Slots)>>, Mode);

    impl Watched {
        fn new(inner: Arc<dyn Store>, mode: Mode) -> Wrapped<Watched> {
            Wrapped::new(inner, Watched(Default::default(), mode))
        }
    }

    impl Hooks for Watched {
        fn histogram(&self, inner: &dyn Store, f: &RecordFilter, s: &Slots) -> Result<Histogram, StoreError> {
            self.0.lock().unwrap().push((f.clone(), s.clone()));
            if self.1 == Mode::TimedOut {
                return Err(StoreError::new(StoreErrorKind::TimedOut, "the read ran past its 10 s budget"));
            }
            let mut h = inner.histogram(f, s)?;
            h.complete &= self.1 != Mode::Bounded;
            Ok(h)
        }
        fn histogram_estimate(&self, inner: &dyn Store, f: &RecordFilter, s: &Slots) -> Result<Histogram, StoreError> {
            let mut h = self.histogram(inner, f, s)?;
            if matches!(self.1, Mode::Sampled | Mode::Uncertain) {
                h.sample = Some(Sample { read: 60_000, of: 10_000_000 });
                h.margins = vec![0; h.slots.len()];
            }
            if self.1 == Mode::Uncertain {
                h.margins = h.slots.iter().map(|c| c.total()).collect();
            }
            Ok(h)
        }
        fn describe(&self, _: &dyn Store) -> String {
            "watched".into()
        }
    }

    /// An estimated histogram says so: "≈" before the totals, bars of their
    /// own style titled "about", the part of the records read, and a link to
    /// this page counted exactly (`exact=1`, the filter kept and escaped),
    /// whose histogram is exact.
    pub(super) async fn an_estimate_is_labelled_with_a_link_that_counts_exactly(env: &Env) {
        let watched = Arc::new(Watched::new(env.store.clone(), Mode::Sampled));
        let app = router(watched.clone());
        let (status, _, body) = get(&app, "/records?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_escaped("a hostile term", &body);
        let fig = figure(&body);
        let link = fig.html.split("<a class=\"count-exactly\" href=\"").nth(1).expect("a count-exactly link");
        let link = &link[..link.find('"').unwrap()];
        assert!(link.starts_with("/records?q=%3Cscript%3Ealert") && link.ends_with("&amp;exact=1"), "{link}");
        let (status, _, body) = get(&app, "/records?q=payment").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let fig = figure(&body);
        assert!(!fig.exact, "{}", fig.html);
        assert!(fig.html.contains("≈ 4 records"), "{}", fig.html);
        assert!(
            fig.html.contains("approx\"") && fig.html.contains(": about ") && !fig.html.contains(" est\""),
            "{}",
            fig.html
        );
        assert!(fig.html.contains("data-sampled=\"60000\""), "{}", fig.html);
        assert!(fig.html.contains("estimated from 0.6 % of the records"), "{}", fig.html);
        assert!(body.contains(" of ≈ 4 records matching"), "{body}");
        let link = fig.html.split("<a class=\"count-exactly\" href=\"").nth(1).expect("a count-exactly link");
        let link = link[..link.find('"').unwrap()].replace("&amp;", "&");
        assert_eq!(link, "/records?q=payment&exact=1", "{}", fig.html);
        let (status, _, body) = get(&app, &link).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let fig = figure(&body);
        assert!(fig.exact && fig.total == Some(4), "{}", fig.html);
        assert!(
            !fig.html.contains('≈') && !fig.html.contains("approx") && !fig.html.contains("count exactly"),
            "{}",
            fig.html
        );
        assert!(body.contains(" of 4 records matching"), "{body}");
    }

    /// An estimated bar whose range is too wide to read its height
    /// (`Histogram::is_uncertain`) is drawn as uncertain: pale, with its
    /// range as a line, "uncertain: likely low–high" in its title, and the
    /// caption counts them; a bar known within its margin is not.
    pub(super) async fn uncertain_bars_are_drawn_as_such(env: &Env) {
        let app = router(Arc::new(Watched::new(env.store.clone(), Mode::Uncertain)));
        let (status, _, body) = get(&app, "/records?q=payment").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let fig = figure(&body);
        let bars: Vec<&str> = fig.html.split("<a href=").skip(1).filter(|b| b.contains("class=\"b-")).collect();
        assert!(!bars.is_empty(), "{}", fig.html);
        let uncertain = attr(&fig.html[..fig.html.find('>').unwrap()], "data-uncertain").unwrap();
        assert_eq!(uncertain.parse::<usize>().unwrap(), bars.len(), "{}", fig.html);
        for bar in &bars {
            assert!(bar.contains("approx uncertain\""), "{bar}");
            let range = bar.split("<rect class=\"range\"").nth(1).expect("the bar's range");
            let high: u64 = attr(range, "data-high").unwrap().parse().unwrap();
            assert_eq!(attr(range, "data-low"), Some("0"), "{bar}");
            assert!(bar.contains(&format!(" — uncertain: likely 0–{high}")), "{bar}");
        }
        let n = bars.len();
        let said = if n == 1 { "1 bar uncertain".to_owned() } else { format!("{n} bars uncertain") };
        assert!(fig.html.contains(&said), "{}", fig.html);
        // The same estimate with margins of 0: bars of the estimate's style, none uncertain.
        let app = router(Arc::new(Watched::new(env.store.clone(), Mode::Sampled)));
        let (_, _, body) = get(&app, "/records?q=payment").await;
        let fig = figure(&body);
        assert!(fig.html.contains("approx\"") && fig.html.contains("data-uncertain=\"0\""), "{}", fig.html);
        assert!(!fig.html.contains("uncertain\"") && !fig.html.contains("class=\"range\""), "{}", fig.html);
        assert!(fig.html.contains(" (likely "), "{}", fig.html);
    }

    /// Counts past the read time budget leave the rows: the page is a 200 with
    /// its table, and the histogram says its count is not available and why.
    pub(super) async fn a_count_past_the_time_budget_leaves_the_rows(env: &Env) {
        let app = router(Arc::new(Watched::new(env.store.clone(), Mode::TimedOut)));
        let (status, _, body) = get(&app, "/records?q=payment").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(count_rows(&body), 4);
        let fig = figure(&body);
        assert!(fig.total.is_none() && !fig.exact, "{}", fig.html);
        assert!(fig.html.contains("Count not available") && fig.html.contains("10 s budget"), "{}", fig.html);
        assert!(body.contains("4 records on this page, newest first"), "{body}");
    }

    /// With a filter on levels, logger and time only, a long range is counted
    /// exactly: the panel asks the store for the filter's own range, and the
    /// store counts its whole quarter hours from the aggregates and only the
    /// partial ones at its ends from the rows
    /// (`HistogramSpan::count_by_edges`; each store's own tests show the
    /// aggregates read), so no long range meets the scan bound of the rows.
    pub(super) async fn long_ranges_are_counted_from_the_aggregates(env: &Env) {
        let watched = Arc::new(Watched::new(env.store.clone(), Mode::Plain));
        let app = router(watched.clone());
        for query in ["since=90d", "since=90d&level=warn", "logger=billing", "since=30d&until=1d", ""] {
            watched.hooks.0.lock().unwrap().clear();
            let (status, _, body) = get(&app, &format!("/records?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}");
            let fig = figure(&body);
            assert!(fig.exact, "{query}");
            let calls = watched.hooks.0.lock().unwrap().clone();
            assert!(!calls.is_empty(), "{query}");
            for (f, slots) in calls {
                let store = env.store.clone();
                let h = tokio::task::spawn_blocking(move || store.histogram(&f, &slots)).await.unwrap().unwrap();
                assert!(h.complete && h.sample.is_none(), "{query}");
                let total: u64 = h.slots.iter().map(log_panel_query::LevelCounts::total).sum();
                assert_eq!(fig.total, Some(total), "{query}");
            }
        }
    }

    macro_rules! histogram_stores {
        ($($store:ident),*) => { $(
            per_store!($store:
                histogram_total_is_the_result_count,
                the_caption_names_the_tallest_bar,
                deep_page_lies_in_the_histogram,
                histogram_labels_have_no_milliseconds,
                search_term_is_marked_and_escaped,
                a_bounded_count_is_marked_in_the_bars,
                an_estimate_is_labelled_with_a_link_that_counts_exactly,
                uncertain_bars_are_drawn_as_such,
                a_count_past_the_time_budget_leaves_the_rows,
                long_ranges_are_counted_from_the_aggregates,
            );
        )* };
    }

    histogram_stores!(memory, sqlite, postgres);
}

/// The records table: one line per record, its context as `key=value` chips
/// (the keys of the `context` filter first), each a link filtering by its value,
/// and the whole message and context in place behind a `<details>`.
mod dense_rows {
    use super::*;

    /// Each row of a records page, as HTML (`<tr class="row-…">` to `</tr>`).
    fn rows(body: &str) -> Vec<&str> {
        body.split("<tr class=\"row-").skip(1).map(|r| r.split("</tr>").next().unwrap()).collect()
    }

    /// The chips of a row, as their text (`key=value`), in order.
    fn chips(row: &str) -> Vec<String> {
        let list =
            row.split("<span class=\"chips\">").nth(1).expect("a chips list").split("</summary>").next().unwrap();
        list.split("class=\"chip")
            .skip(1)
            .map(|c| {
                let text = &c[c.find('>').unwrap() + 1..c.find("</a>").or_else(|| c.find("</span></span>")).unwrap()];
                text.replace("<span class=\"ck\">", "").replace("<span class=\"cv\">", "").replace("</span>", "")
            })
            .collect()
    }

    pub(super) async fn rows_are_one_line_with_chips_filtered_keys_first(env: &Env) {
        let app = router(env.store.clone());
        let (status, _, body) = get(&app, "/records?context=request_id%3Dr-1").await;
        assert_eq!(status, StatusCode::OK);
        let rows = rows(&body);
        assert_eq!(rows.len(), 3, "{body}");
        for row in &rows {
            assert_eq!(row.matches("<details class=\"rec\">").count(), 1, "{row}");
            assert_eq!(row.matches("<span class=\"chips\">").count(), 1, "{row}");
            // The filtered key comes first and is marked.
            assert_eq!(chips(row)[0], "request_id=r-1", "{row}");
            assert!(row.contains("<a class=\"chip hit\""), "{row}");
            // The message is text, not a link: only the time and the details link the record.
            let msg = row.split("<td class=\"msg\">").nth(1).unwrap();
            let summary = msg.split("</summary>").next().unwrap();
            assert!(!summary.contains("href=\"/records/"), "{summary}");
        }
        // `order_id` sorts before `request_id`, yet the filtered key leads.
        let failed = rows.iter().find(|r| r.contains("payment failed")).unwrap();
        assert_eq!(chips(failed), ["request_id=r-1", "order_id=1234"]);
        // Without a filter the keys come in their stored order, none marked.
        let (_, _, plain) = get(&app, "/records?q=payment+failed").await;
        let row = super::dense_rows::rows(&plain)[0];
        assert_eq!(chips(row), ["order_id=1234", "request_id=r-1"]);
        assert!(!row.contains("chip hit"));

        // Each chip filters by its value.
        let chip_links = links(failed, "/records?context=");
        assert_eq!(chip_links, ["/records?context=request_id%3Dr-1", "/records?context=order_id%3D1234"], "{failed}");
        let (status, _, one) = get(&app, &chip_links[1]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(count_rows(&one), 1);
        assert!(one.contains("payment failed after 3 attempts"));
    }

    pub(super) async fn details_hold_the_whole_message_and_context(env: &mut Env) {
        let origin = Origin::new("shop", "web-9", 6161);
        let mut r = Record::new(Level::Error, "api::http", "request failed\ncaused by: <b>timeout</b>\n  at db.rs:42");
        let long = format!("Mozilla/5.0 (X11; Linux x86_64) {}", "x".repeat(300));
        r.kv = vec![
            ("path".into(), Value::from("/api/v1/orders/12345/items")),
            ("user_agent".into(), Value::from(long.as_str())),
            ("status".into(), Value::from(503)),
            ("slow".into(), Value::from(true)),
        ];
        sync(|| env.sink.write(&Batch::new(&origin, &[r]))).unwrap();
        let app = router(env.store.clone());
        let (status, _, body) = get(&app, "/records?pid=6161&context=status%3D503").await;
        assert_eq!(status, StatusCode::OK);
        let rows = rows(&body);
        assert_eq!(rows.len(), 1, "{body}");
        let row = rows[0];
        // The line shows the first line of the message; the details the whole of it.
        let summary = row.split("<summary>").nth(1).unwrap().split("</summary>").next().unwrap();
        assert!(summary.contains("request failed") && !summary.contains("caused by"), "{summary}");
        let details = row.split("</summary>").nth(1).unwrap().split("</details>").next().unwrap();
        assert!(details.contains("request failed\ncaused by: &lt;b&gt;timeout&lt;/b&gt;\n  at db.rs:42"), "{details}");
        // Every key and its whole value, in the details.
        for (k, v) in
            [("path", "/api/v1/orders/12345/items"), ("user_agent", long.as_str()), ("status", "503"), ("slow", "true")]
        {
            assert!(details.contains(&format!(">{k}</dt>")), "{k}: {details}");
            assert!(details.contains(&format!(">{v}</dd>")), "{k}: {details}");
        }
        // The chips: the filtered key first, then the stored order; a long value is cut on its chip.
        let c = chips(row);
        assert_eq!(c[0], "status=503");
        assert_eq!(&c[1..3], ["path=/api/v1/orders/12345/items", "slow=true"]);
        assert!(c[3].starts_with("user_agent=Mozilla/5.0") && c[3].ends_with('…') && c[3].len() < 120, "{}", c[3]);
        assert!(row.contains("href=\"/records/"), "the record's own page is a link away");

        // Bounded in place: 8 chips and a count of the rest; 4 000 characters of the message.
        let mut big = Record::new(Level::Info, "api::http", format!("{}\n{}", "a".repeat(10), "b".repeat(5000)));
        big.kv = (0..20).map(|i| (format!("k{i:02}").into(), Value::from(i))).collect();
        sync(|| env.sink.write(&Batch::new(&Origin::new("shop", "web-9", 6262), &[big]))).unwrap();
        let (_, _, body) = get(&app, "/records?pid=6262").await;
        let row = super::dense_rows::rows(&body)[0];
        assert_eq!(chips(row).len(), 8, "{row}");
        assert!(row.contains("<span class=\"more\">+12</span>"), "{row}");
        assert!(row.contains(&format!("{}…</pre>", "b".repeat(3989))) && !row.contains(&"b".repeat(3990)), "{row}");
        assert!(row.contains("The message is cut here"));
        assert_eq!(row.matches("</dt>").count(), 20, "every key in the details");

        // A page shows 200 000 characters in place at most: of 60 records of
        // 5 000 characters (4 000 shown each), 50 open in full.
        let long: Vec<Record> =
            (0..60).map(|i| Record::new(Level::Info, "api::http", format!("{i}\n{}", "c".repeat(4998)))).collect();
        sync(|| env.sink.write(&Batch::new(&Origin::new("shop", "web-9", 6363), &long))).unwrap();
        let (_, _, body) = get(&app, "/records?pid=6363&limit=100").await;
        let rows = super::dense_rows::rows(&body);
        assert_eq!(rows.len(), 60);
        assert_eq!(rows.iter().filter(|r| r.contains("<pre class=\"message\">")).count(), 50);
        assert!(rows[59].contains("shown its share") && !rows[49].contains("shown its share"));
        assert!(body.len() < 400_000, "{} bytes", body.len());
    }

    pub(super) async fn hostile_keys_and_values_are_escaped_in_chips(env: &Env) {
        let app = router(env.store.clone());
        let (status, _, body) = get(&app, "/records?level=warn&level=error").await;
        assert_eq!(status, StatusCode::OK);
        assert_escaped("chips", &body);
        let evil = rows(&body).into_iter().find(|r| r.contains("second &lt;script&gt;")).expect("the hostile row");
        assert_eq!(
            chips(evil),
            ["key&quot;&gt;&lt;img src=x onerror=alert(1)&gt;=&lt;script&gt;alert(1)&lt;/script&gt;"]
        );
        // A key holding `=` cannot be a `context=key=value` condition: its chip
        // links the records sharing the exact key and value.
        let link = links(evil, "/related?key=").remove(0);
        let (status, _, found) = get(&app, &link).await;
        assert_eq!(status, StatusCode::OK, "{link}");
        assert_eq!(count_rows(&found), 1, "{link}");
        assert_escaped(&link, &found);
    }

    /// The form: the common fields on one line, the others behind "More
    /// filters", open when one of them is set so what filters is in view.
    pub(super) async fn the_form_is_compact(env: &Env) {
        let app = router(env.store.clone());
        let (_, _, body) = get(&app, "/records").await;
        let form = body.split("<form class=\"filters\"").nth(1).unwrap().split("</form>").next().unwrap();
        let more = form.split("<details class=\"more\"").nth(1).expect("advanced fields in a details");
        for name in ["app", "host", "pid", "site", "context", "level"] {
            assert!(more.contains(&format!("name=\"{name}\"")), "{name} behind More filters");
        }
        assert!(!form.contains("<details class=\"more\" open"));
        let (_, _, body) = get(&app, "/records?host=old-host").await;
        assert!(body.contains("<details class=\"more\" open"), "a set advanced field is shown");
    }

    macro_rules! dense_stores {
        ($($store:ident),*) => { $(
            per_store!($store:
                rows_are_one_line_with_chips_filtered_keys_first,
                details_hold_the_whole_message_and_context,
                hostile_keys_and_values_are_escaped_in_chips,
                the_form_is_compact,
            );
        )* };
    }

    dense_stores!(memory, sqlite, postgres);
}

/// The chart split by a context key on the records page (`?split=status`).
mod split_chart {
    use super::common;
    use super::*;
    use log_panel_query::split_label;

    /// Writes `web::access` records over the last hour: each `(status, n)`
    /// `n` times (a minute apart), and one record without a status.
    fn access_log(env: &mut Env, statuses: &[(Value, usize)]) {
        let now = Timestamp::now().0;
        let origin = Origin::new("shop", "web-1", 1);
        let mut records = Vec::new();
        for (status, n) in statuses {
            for k in 0..*n {
                let mut r = Record::new(Level::Info, "web::access", format!("GET / #{k}"));
                r.timestamp = Timestamp(now - (5 + k as i64) * 60_000_000);
                r.kv = vec![("status".into(), status.clone())];
                records.push(r);
            }
        }
        let mut bare = Record::new(Level::Info, "web::access", "no status");
        bare.timestamp = Timestamp(now - 120_000_000);
        records.push(bare);
        sync(|| env.sink.write(&Batch::new(&origin, &records))).unwrap();
    }

    /// Text as maud writes it.
    fn escaped(s: &str) -> String {
        s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
    }

    /// The legend: (label as written in the page, count, link) per entry.
    fn legend(body: &str) -> Vec<(String, u64, Option<String>)> {
        let Some(start) = body.find("<ul class=\"legend\">") else { return Vec::new() };
        let list = &body[start..start + body[start..].find("</ul>").unwrap()];
        list.split("<li>")
            .skip(1)
            .map(|li| {
                let link = li.split("href=\"").nth(1).map(|h| h.split('"').next().unwrap().replace("&amp;", "&"));
                let mut text = String::new();
                let mut in_tag = false;
                for c in li.chars() {
                    match c {
                        '<' => in_tag = true,
                        '>' => in_tag = false,
                        c if !in_tag => text.push(c),
                        _ => {}
                    }
                }
                let (label, n) = text.trim().rsplit_once(' ').unwrap();
                (label.trim().to_owned(), n.replace(['\u{202f}', ' ', ','], "").parse().unwrap(), link)
            })
            .collect()
    }

    /// The legend as counted by hand from the records: the 8 values with the
    /// most records (ties by value), then "other".
    fn by_hand(env: &Env) -> Vec<(String, u64)> {
        let mut f = RecordFilter::default();
        f.logger = Some(LoggerMatch::Exact("web::access".into()));
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for r in all(&*env.store, &f) {
            if let Some(v) = r.context.get("status").and_then(split_label) {
                *counts.entry(v).or_default() += 1;
            }
        }
        let mut sorted: Vec<(String, u64)> = counts.into_iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let other: u64 = sorted.iter().skip(8).map(|(_, n)| n).sum();
        sorted.truncate(8);
        let mut out: Vec<(String, u64)> = sorted.into_iter().map(|(v, n)| (escaped(&v), n)).collect();
        if other > 0 {
            out.push(("other".to_owned(), other));
        }
        out
    }

    /// Split by `status`: the legend is the hand count (top 8 by count, then
    /// other), the chart's total is their sum, and a legend entry's link
    /// shows exactly its records; a hostile value is escaped everywhere.
    async fn split_by_status_equals_hand_counts(env: &mut Env) {
        let mut statuses: Vec<(Value, usize)> = vec![
            (Value::from(200i64), 12),
            (Value::from(500i64), 5),
            (Value::from(404i64), 4),
            (Value::from(H_ATTR), 3),
        ];
        statuses.extend((201..207).map(|s| (Value::from(s as i64), 2)));
        statuses.push((Value::from(true), 1));
        access_log(env, &statuses);
        let app = router(env.store.clone());
        let (status, _, body) = get(&app, "/records?logger=web::access&since=2h&split=status").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_escaped("split by status", &body);
        assert_eq!(raw_control(&body), None);
        let shown = legend(&body);
        let hand = by_hand(env);
        assert_eq!(shown.iter().map(|(l, n, _)| (l.clone(), *n)).collect::<Vec<_>>(), hand, "{}", env.name);
        assert!(body.contains(&format!("data-total=\"{}\"", hand.iter().map(|(_, n)| n).sum::<u64>())));
        assert!(body.contains("data-exact=\"true\"") && body.contains("1 record without it"), "{body}");
        // Classes per series, never a style attribute.
        assert!(body.contains("class=\"sw s0\"") && body.contains("class=\"sw s-other\"") && !body.contains("style="));
        // Each value's link filters by it (and keeps the chart).
        for (label, n, link) in &shown {
            if label == "other" {
                assert!(link.is_none());
                continue;
            }
            let link = link.as_ref().unwrap();
            assert!(link.contains("split=status"), "{link}");
            let (status, _, page) = get(&app, link).await;
            assert_eq!(status, StatusCode::OK, "{link}");
            assert_eq!(count_rows(&page) as u64, *n, "{label}: {link}");
        }
        // Split by a hostile key: its value (markup) is escaped in the legend and the titles.
        let uri = format!("/records?since=2h&split={}", urlencode(&format!("key{H_ATTR}")));
        let (status, _, body) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_escaped("split by a hostile key", &body);
        assert_eq!(legend(&body).iter().map(|(l, n, _)| (l.clone(), *n)).collect::<Vec<_>>(), [(escaped(H_MSG), 1)]);
        // A key no record has: no bar, and the caption says so (not the scale's floor, "max 1").
        let (status, _, body) = get(&app, "/records?since=2h&split=no_record_has_it").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let caption = body.split("<figure class=\"split\"").nth(1).unwrap().split("</figure>").next().unwrap();
        assert!(caption.contains("0 records with the key") && caption.contains("max 0 per bar"), "{caption}");
    }

    /// However many distinct and long values, the chart holds 8 series and
    /// "other", each value cut for display; the page stays small.
    async fn split_chart_is_bounded(env: &mut Env) {
        let statuses: Vec<(Value, usize)> =
            (0..300).map(|i| (Value::from(format!("v{i:03}{}", "x".repeat(4000)).as_str()), 1)).collect();
        access_log(env, &statuses);
        let app = router(env.store.clone());
        let (status, _, body) = get(&app, "/records?logger=web::access&since=2h&split=status&limit=1").await;
        assert_eq!(status, StatusCode::OK);
        let shown = legend(&body);
        assert_eq!(shown.len(), 9, "8 values and other");
        assert_eq!(shown[8].1, 300 - 8);
        assert!(shown[..8].iter().all(|(l, _, link)| l.chars().count() <= 61 && link.is_none()), "{shown:?}");
        assert!(body.len() < 120_000, "{} bytes", body.len());
    }

    /// A key that is not one (control characters, over 128 bytes) is a 400
    /// with the form; an empty one draws no chart.
    async fn a_bad_split_key_is_400(env: &mut Env) {
        let app = router(env.store.clone());
        for key in ["%01", &"k".repeat(129)] {
            let (status, _, body) = get(&app, &format!("/records?split={key}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{key}");
            assert!(body.contains("Filter not applied") && body.contains("split by"), "{body}");
        }
        let (status, _, body) = get(&app, "/records?split=").await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains("<figure class=\"split\"") && body.contains("<form class=\"split-by\""));
    }

    /// The `<input type="hidden">` (name, value) pairs of the filter form.
    fn hidden_fields(body: &str) -> Vec<(String, String)> {
        let form = body.split("<form class=\"filters\"").nth(1).unwrap().split("</form>").next().unwrap();
        form.split("<input type=\"hidden\"")
            .skip(1)
            .map(|i| {
                let attr = |a: &str| i.split(&format!("{a}=\"")).nth(1).unwrap().split('"').next().unwrap().to_owned();
                (attr("name"), attr("value"))
            })
            .collect()
    }

    /// Zooming into a bar of the histogram and applying the filter form keep
    /// the split chart and the page size (and the viewer's offset in the
    /// URL); the zoomed page draws the chart over the bar's records only.
    async fn the_split_survives_zoom_and_apply(env: &mut Env) {
        access_log(env, &[(Value::from(200i64), 6), (Value::from(500i64), 3)]);
        let app = router(env.store.clone());
        let (status, _, body) = get(&app, "/records?logger=web::access&since=2h&split=status&limit=20&tz=60").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let hist = body.split("<figure class=\"histogram\"").nth(1).unwrap().split("</figure>").next().unwrap();
        let bars = links(hist, "/records?");
        assert!(bars.len() >= 20, "{} bars", bars.len());
        for bar in &bars {
            for kept in ["split=status", "limit=20", "tz=60", "logger=web%3A%3Aaccess"] {
                assert!(bar.contains(kept), "a bar's link lost {kept}: {bar}");
            }
        }
        // A bar with records, followed: its rows and the chart of just them.
        let with_records: Vec<&str> = hist.split("<a href=").filter(|a| a.contains("rect class=\"b-")).collect();
        let href = links(&format!("href={}", with_records[0]), "/records?").remove(0);
        let (status, _, zoomed) = get(&app, &href).await;
        assert_eq!(status, StatusCode::OK);
        let rows = count_rows(&zoomed);
        assert!(rows >= 1 && zoomed.contains("<figure class=\"split\""), "{href}");
        assert!(zoomed.contains(&format!("data-total=\"{rows}\"")), "the chart counts the bar's {rows} rows");
        // Apply: the form carries the split and the limit, not the page position.
        let mut hidden = hidden_fields(&body);
        hidden.sort();
        let want: Vec<(String, String)> = [("limit", "20"), ("split", "status"), ("tz", "60")]
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        assert_eq!(hidden, want);
        let (_, _, small) = get(&app, "/records?logger=web::access&since=2h&split=status&limit=2").await;
        let older = links(&small, "/records?").into_iter().find(|l| l.contains("older=")).unwrap();
        let (_, _, deep) = get(&app, &older).await;
        let mut hidden = hidden_fields(&deep);
        hidden.sort();
        assert_eq!(hidden, [("limit".to_owned(), "2".to_owned()), ("split".to_owned(), "status".to_owned())]);
        // Without a split, the form carries nothing more than before.
        let (_, _, plain) = get(&app, "/records?logger=web::access&since=2h").await;
        assert!(hidden_fields(&plain).is_empty());
    }

    macro_rules! split_stores {
        ($($store:ident),*) => { $(
            per_store!($store:
                split_by_status_equals_hand_counts,
                split_chart_is_bounded,
                a_bad_split_key_is_400,
                the_split_survives_zoom_and_apply,
            );
        )* };
    }

    split_stores!(memory, sqlite, postgres);
}

// ------------------------------------------------ field statistics, surrounding records, alerts

/// The value of attribute `name` in each element of `body` that has it, unescaped.
fn attr_values(body: &str, name: &str) -> Vec<String> {
    let needle = format!(" {name}=\"");
    body.split(&needle)
        .skip(1)
        .map(|s| {
            s[..s.find('"').unwrap()]
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        })
        .collect()
}

/// `(value, count)` of each entry `data-{what}=… data-count=…` of a page.
fn counted_entries(body: &str, what: &str) -> Vec<(String, u64)> {
    let needle = format!(" data-{what}=\"");
    body.split(&needle)
        .skip(1)
        .map(|s| {
            let v = s[..s.find('"').unwrap()]
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
            let c = s.split(" data-count=\"").nth(1).unwrap();
            (v, c[..c.find('"').unwrap()].parse().unwrap())
        })
        .collect()
}

async fn field_statistics_count_the_filters_records(env: &mut Env) {
    use std::collections::BTreeMap;
    let app = router(env.store.clone());
    // Nothing is read unless asked; the records page offers it.
    let (status, _, plain) = get(&app, "/records").await;
    assert_eq!(status, StatusCode::OK);
    assert!(plain.contains("Field statistics") && !plain.contains("<section class=\"fields\""), "{plain}");
    assert_eq!(links(&plain, "/records?fields=on").len(), 1, "{plain}");

    // The keys, counted by hand over every record (fewer than the sample).
    let every = all(env.store.as_ref(), &RecordFilter::default());
    let mut keys: BTreeMap<String, u64> = BTreeMap::new();
    for r in &every {
        for k in r.context.keys() {
            *keys.entry(k.clone()).or_default() += 1;
        }
    }
    let (status, _, body) = get(&app, "/records?fields=on").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_escaped("field keys", &body);
    assert_eq!(attr_values(&body, "data-read")[0], every.len().to_string());
    assert_eq!(attr_values(&body, "data-sampled")[0], "false");
    let shown: BTreeMap<String, u64> = counted_entries(&body, "key").into_iter().collect();
    assert_eq!(shown, keys, "every key with its records");
    assert!(body.contains(&format!("key{}", H_ATTR.replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;"))));

    // One key's values, by hand; each links to the filter with it added.
    let mut values: BTreeMap<String, u64> = BTreeMap::new();
    for r in &every {
        if let Some(v) = r.context.get("request_id").and_then(|v| v.as_str()) {
            *values.entry(v.to_owned()).or_default() += 1;
        }
    }
    let (status, _, body) = get(&app, "/records?field=request_id").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_escaped("field values", &body);
    let shown: BTreeMap<String, u64> = counted_entries(&body, "value").into_iter().collect();
    assert_eq!(shown, values, "request_id's values");
    assert_eq!(attr_values(&body, "data-with-key")[0], values.values().sum::<u64>().to_string());
    let value_links = |body: &str, value: &str| -> Vec<String> {
        let wanted = format!("request_id={value}");
        let ctx_of = |l: &str| {
            let query = l.split_once('?').map_or("", |(_, q)| q).to_owned();
            form_urlencoded::parse(query.as_bytes()).into_owned().find(|(k, _)| k == "context").map(|(_, v)| v)
        };
        links(body, "/records?field=request_id")
            .into_iter()
            .filter(|l| ctx_of(l).as_deref() == Some(wanted.as_str()))
            .collect()
    };
    let add = value_links(&body, "r-1");
    assert_eq!(add.len(), 1, "{body}");
    let (_, _, filtered) = get(&app, &add[0]).await;
    assert_eq!(count_rows(&filtered), values["r-1"] as usize, "{filtered}");
    let shown: BTreeMap<String, u64> = counted_entries(&filtered, "value").into_iter().collect();
    assert_eq!(shown, BTreeMap::from([("r-1".to_owned(), values["r-1"])]), "the panel stays open on the filter");
    // The hostile value is shown escaped and filters exactly.
    let hostile = value_links(&body, H_ATTR);
    assert_eq!(hostile.len(), 1, "{body}");
    let (_, _, filtered) = get(&app, &hostile[0]).await;
    assert_eq!(count_rows(&filtered), 1);
    assert_escaped("hostile value", &filtered);

    // With a filter: billing's order ids, numbers as their JSON text.
    let (_, _, body) = get(&app, "/records?logger=billing&field=order_id").await;
    let mut billing = RecordFilter::default();
    billing.logger = Some(LoggerMatch::Exact("billing".into()));
    let mut orders: BTreeMap<String, u64> = BTreeMap::new();
    for r in all(env.store.as_ref(), &billing) {
        if let Some(v) = r.context.get("order_id") {
            *orders.entry(v.to_string()).or_default() += 1;
        }
    }
    assert_eq!(counted_entries(&body, "value").into_iter().collect::<BTreeMap<_, _>>(), orders, "{body}");
    // A hostile key is a key like any other.
    let (status, _, body) = get(&app, &format!("/records?field={}", urlencode(&format!("key{H_ATTR}")))).await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped("hostile key", &body);
    assert_eq!(counted_entries(&body, "value").len(), 1, "{body}");
    // Bad keys are 400 with the form, never 500.
    for bad in ["field=a%01b", &format!("field={}", "k".repeat(200))] {
        let (status, _, body) = get(&app, &format!("/records?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body.contains("field statistics"), "{body}");
    }
    let (status, _, _) = get(&app, "/records?fields=on&q=%00").await;
    assert_eq!(status, StatusCode::OK);
    // A stored key no filter can name (over 128 bytes) is listed, not linked.
    let long = "k".repeat(200);
    let mut r = Record::new(Level::Info, "fields", "a long key");
    r.kv = vec![(long.clone().into(), Value::from(1))];
    sync(|| env.sink.write(&Batch::new(&Origin::new("shop", "h", 1), &[r]))).unwrap();
    let (_, _, body) = get(&app, "/records?fields=on").await;
    assert!(counted_entries(&body, "key").contains(&(long.clone(), 1)), "{body}");
    assert!(links(&body, &format!("/records?field={long}")).is_empty(), "{body}");
    assert!(links(&body, "/records?field=request_id").len() == 1, "{body}");
}

/// The table of a page (the rows after the first `<table`), as record ids.
fn table_ids(body: &str) -> Vec<i64> {
    row_ids(&body[body.find("<table").unwrap()..])
}

async fn surrounding_records_by_thread_process_or_all(env: &mut Env) {
    let app = router(env.store.clone());
    let every = all(env.store.as_ref(), &RecordFilter::default());
    let target = every.iter().find(|r| r.message == "payment failed after 3 attempts").unwrap().clone();
    // The record's page links to its thread's records around it, scrolled to it.
    let (_, _, page) = get(&app, &format!("/records/{}", target.id)).await;
    let around = links(&page, &format!("/records/{}/around", target.id));
    assert_eq!(around, [format!("/records/{0}/around?scope=thread#r{0}", target.id)], "{page}");

    for (scope, n) in [("thread", 2), ("process", 3), ("all", 4), ("all", 200)] {
        let keep = |r: &StoredRecord| match scope {
            "thread" => r.host == target.host && r.pid == target.pid && r.thread == target.thread,
            "process" => r.host == target.host && r.pid == target.pid,
            _ => true,
        };
        // By hand: the scope's records within a day of the target, newest
        // first; n each side of it.
        let near = |r: &StoredRecord| r.ts.0 >= target.ts.0 - DAY && r.ts.0 < target.ts.0 + DAY;
        let kept: Vec<i64> = every.iter().filter(|r| keep(r) && near(r)).map(|r| r.id).collect();
        let at = kept.iter().position(|&id| id == target.id).unwrap();
        let expected = kept[at.saturating_sub(n)..(at + n + 1).min(kept.len())].to_vec();
        let (status, _, body) = get(&app, &format!("/records/{}/around?scope={scope}&n={n}", target.id)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(table_ids(&body), expected, "{scope} n={n}");
        assert!(body.contains(&format!("id=\"r{}\"", target.id)), "the record's row is the target");
        assert_escaped("around", &body);
    }
    // Each side is looked for within an hour, then a day, of the record:
    // a thread's record two days later is not read (nor walked to).
    let base = Timestamp(target.ts.0 - 30 * DAY);
    let far: Vec<Record> = [0, 30 * MINUTE, 5 * HOUR, 2 * DAY]
        .into_iter()
        .map(|after| {
            let mut r = Record::new(Level::Info, "far", format!("far +{after}"));
            r.timestamp = Timestamp(base.0 + after);
            r.thread = "far-thread".into();
            r
        })
        .collect();
    sync(|| env.sink.write(&Batch::new(&Origin::new("far-app", "far-host", 4242), &far))).unwrap();
    let far_ids: Vec<i64> = all(env.store.as_ref(), &RecordFilter::default())
        .iter()
        .filter(|r| r.thread == "far-thread")
        .map(|r| r.id)
        .collect();
    assert_eq!(far_ids.len(), 4, "newest first: +2d, +5h, +30m, +0");
    let (status, _, body) = get(&app, &format!("/records/{}/around?scope=thread", far_ids[1])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(table_ids(&body), far_ids[1..], "the +5h record, then the two within a day before it");
    assert!(body.contains("Nothing newer in this scope within a day of it."), "{body}");
    assert!(body.contains("Nothing older in this scope within a day of it."), "{body}");
    let (_, _, body) = get(&app, &format!("/records/{}/around?scope=thread&n=1", far_ids[2])).await;
    assert_eq!(table_ids(&body), far_ids[1..], "n=1: the +5h record found in the day's window, the +0 in the hour's");

    // The hostile record's own thread and process: escaped.
    let evil = every.iter().find(|r| r.thread.contains("img")).unwrap();
    let (status, _, body) = get(&app, &format!("/records/{}/around", evil.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_escaped("around a hostile record", &body);
    assert_eq!(table_ids(&body), [evil.id], "alone in its thread");
    for (uri, status) in [
        ("/records/abc/around", StatusCode::NOT_FOUND),
        ("/records/99999999/around", StatusCode::NOT_FOUND),
        (&format!("/records/{}/around?n=0", target.id), StatusCode::BAD_REQUEST),
        (&format!("/records/{}/around?n=201", target.id), StatusCode::BAD_REQUEST),
        (&format!("/records/{}/around?n=x", target.id), StatusCode::BAD_REQUEST),
        (&format!("/records/{}/around?scope=%3Cscript%3E", target.id), StatusCode::BAD_REQUEST),
        (&format!("/records/{}/around?tz=7", target.id), StatusCode::BAD_REQUEST),
    ] {
        let (got, _, body) = get(&app, uri).await;
        assert_eq!(got, status, "{uri}");
        assert_escaped(uri, &body);
    }
}

async fn alerts_page_lists_exactly_the_crossings(env: &mut Env) {
    const MIN: i64 = 60_000_000;
    let now = Timestamp::now().0;
    let origin = Origin::new("shop", "alert-host", 9);
    let mut records = Vec::new();
    let mut at = |level, logger: &'static str, ago: i64| {
        let mut r = Record::new(level, logger, format!("{level:?} {ago} min ago"));
        r.timestamp = Timestamp(now - ago * MIN);
        records.push(r);
    };
    // ERROR, threshold 2 in an hour: fires at −22.5 h (2), not at −20 h (alone
    // in its hour), at −19.5 h (2 anew), at −40 min (2), not at −30 min (3).
    for ago in [23 * 60, 22 * 60 + 30, 20 * 60, 19 * 60 + 30, 50, 40, 30] {
        at(Level::Error, "alerty", ago);
    }
    // WARN, threshold 3: the third within the hour fires (−130 min).
    for ago in [180, 150, 140, 130] {
        at(Level::Warn, "alerty", ago);
    }
    // A hostile logger's second error, with the one logged by `fill`.
    at(Level::Error, H_LOGGER, 2);
    let written: Vec<Record> = records.clone();
    sync(|| env.sink.write(&Batch::new(&origin, &written))).unwrap();
    let ids = |logger: &str, level: Level| {
        let mut f = RecordFilter::default();
        f.logger = Some(LoggerMatch::Exact(logger.into()));
        f.levels = vec![level];
        all(env.store.as_ref(), &f)
    };
    let alerty_errors = ids("alerty", Level::Error);
    let by_ago = |rs: &[StoredRecord], ago: i64| rs.iter().find(|r| r.ts.0 == now - ago * MIN).unwrap().clone();
    let hostile_errors = ids(H_LOGGER, Level::Error);
    let mut expected: Vec<(String, String, i64, i64)> = vec![
        ("alerty".into(), "error".into(), by_ago(&alerty_errors, 40).ts.0, by_ago(&alerty_errors, 40).id),
        ("alerty".into(), "warn".into(), now - 140 * MIN, by_ago(&ids("alerty", Level::Warn), 140).id),
        ("alerty".into(), "error".into(), now - (19 * 60 + 30) * MIN, by_ago(&alerty_errors, 19 * 60 + 30).id),
        ("alerty".into(), "error".into(), now - (22 * 60 + 30) * MIN, by_ago(&alerty_errors, 22 * 60 + 30).id),
        (H_LOGGER.into(), "error".into(), hostile_errors[0].ts.0, hostile_errors[0].id),
    ];
    expected.sort_by_key(|e| std::cmp::Reverse((e.2, e.3)));
    let options = PanelOptions::default().alert_threshold(Level::Error, Some(2)).alert_threshold(Level::Warn, Some(3));
    let app = log_panel_web::router_with(env.store.clone(), options.clone());
    let (status, _, body) = get(&app, "/alerts").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_escaped("alerts", &body);
    let got: Vec<(String, String, i64, i64)> = attr_values(&body, "data-logger")
        .into_iter()
        .zip(attr_values(&body, "data-level"))
        .zip(attr_values(&body, "data-at").into_iter().zip(attr_values(&body, "data-id")))
        .map(|((l, v), (t, id))| (l, v, t.parse().unwrap(), id.parse().unwrap()))
        .collect();
    assert_eq!(got, expected, "{body}");
    // The last hour: the crossing at −40 min and the hostile logger's.
    let (_, _, hour) = get(&app, "/alerts?range=1h").await;
    assert_eq!(attr_values(&hour, "data-logger"), [H_LOGGER, "alerty"], "{hour}");
    // The records that crossed: the two errors of the window.
    let link = links(&hour, "/records?logger=alerty");
    assert_eq!(link.len(), 1, "{hour}");
    let (_, _, crossed) = get(&app, &link[0]).await;
    assert_eq!(row_ids(&crossed), [by_ago(&alerty_errors, 40).id, by_ago(&alerty_errors, 50).id], "{crossed}");
    // A window of 5 minutes: alerty's errors, 10 minutes apart, never make 2;
    // the hostile logger's two, 2 minutes apart, still do.
    let narrow = log_panel_web::router_with(env.store.clone(), options.alert_window(Duration::from_secs(300)));
    let (_, _, body) = get(&narrow, "/alerts?range=24h").await;
    assert_eq!(attr_values(&body, "data-logger"), [H_LOGGER], "{body}");
    // No threshold: nothing fires.
    let off = log_panel_web::router_with(
        env.store.clone(),
        PanelOptions::default().alert_threshold(Level::Error, None).alert_threshold(Level::Warn, Some(0)),
    );
    let (_, _, body) = get(&off, "/alerts?range=30d").await;
    assert!(body.contains("No level has a threshold") && attr_values(&body, "data-logger").is_empty(), "{body}");
    for uri in ["/alerts?range=2y", "/alerts?range=%3Cscript%3E", "/alerts?tz=7"] {
        let (status, _, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_escaped(uri, &body);
    }
    assert!(body.contains(">Alerts<"), "the page is in the navigation");
}

mod panels {
    use super::*;
    per_store!(memory: field_statistics_count_the_filters_records, surrounding_records_by_thread_process_or_all, alerts_page_lists_exactly_the_crossings);
    per_store!(sqlite: field_statistics_count_the_filters_records, surrounding_records_by_thread_process_or_all, alerts_page_lists_exactly_the_crossings);
    per_store!(postgres: field_statistics_count_the_filters_records, surrounding_records_by_thread_process_or_all, alerts_page_lists_exactly_the_crossings);
}

/// The live tail draws the records page's dense rows: the page's opening
/// rows are the records page's, byte for byte, and each streamed record
/// carries the same pieces for the script, which inserts them as text.
mod tail_rows {
    use super::*;
    use serde_json::Value as Json;

    /// The JSON of each `record` event read so far.
    fn record_events(text: &str) -> Vec<Json> {
        text.split("event: record\n")
            .skip(1)
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    /// The `<tbody>` of the first records table of a page.
    fn rows_of(page: &str) -> &str {
        let table = page.split("<table class=\"records dense\">").nth(1).unwrap();
        table.split("<tbody>").nth(1).unwrap().split("</tbody>").next().unwrap()
    }

    async fn the_live_tail_shows_the_records_pages_dense_rows(env: &mut Env) {
        let origin = Origin::new("shop", "web-1", 4100);
        let mut r = Record::new(Level::Error, "web::checkout", format!("Payment failed: {H_MSG}\ncaused by: reset"));
        r.kv = vec![
            ("status".into(), Value::from(500i64)),
            ("path".into(), Value::from("/api/v1/cart")),
            ("tenant".into(), Value::from(H_ATTR)),
        ];
        sync(|| env.sink.write(&Batch::new(&origin, &[r]))).unwrap();
        let app = router(env.store.clone());
        let filter = format!("q=payment&context={}", urlencode(&format!("tenant={H_ATTR}")));
        let (status, _, tail) = get(&app, &format!("/tail?{filter}")).await;
        assert_eq!(status, StatusCode::OK, "{tail}");
        assert_escaped("tail", &tail);
        assert!(tail.contains("<div class=\"tail\" id=\"tail\""), "{tail}");
        let (_, _, records) = get(&app, &format!("/records?{filter}")).await;
        assert_eq!(count_rows(&tail), 1);
        assert_eq!(rows_of(&tail), rows_of(&records), "the tail's rows are the records page's");
        assert!(rows_of(&tail).contains("<mark>Payment</mark>") && rows_of(&tail).contains("class=\"chip hit\""));

        // The stream's first page: the same row in pieces.
        let mut events = Events::open(&app, &format!("/tail/events?{filter}")).await;
        let text = events.until("a record", |t| !record_events(t).is_empty()).await.to_owned();
        let e = &record_events(&text)[0];
        let id = e["id"].as_i64().unwrap();
        assert_eq!(e["href"], format!("/records/{id}"));
        assert_eq!((e["level"].as_str(), e["class"].as_str()), (Some("ERROR"), Some("error")));
        assert_eq!(e["logger"], "web::checkout");
        assert_eq!(e["message"], serde_json::json!([["Payment", true], [format!(" failed: {H_MSG}…"), false]]));
        let chips = e["chips"].as_array().unwrap();
        assert_eq!(chips.len(), 3);
        assert_eq!(
            (&chips[0][0], &chips[0][1], &chips[0][3]),
            (&Json::from("tenant"), &Json::from(H_ATTR), &Json::from(true))
        );
        let link = chips[0][2].as_str().unwrap();
        let (status, _, page) = get(&app, link).await;
        assert_eq!((status, count_rows(&page)), (StatusCode::OK, 1), "the filtered key's chip filters by it: {link}");
        // Then the others in stored order, not marked.
        let rest: Vec<(&Json, &Json)> = chips[1..].iter().map(|c| (&c[0], &c[3])).collect();
        assert_eq!(rest, [(&Json::from("path"), &Json::from(false)), (&Json::from("status"), &Json::from(false))]);
        assert_eq!(e["whole"], format!("Payment failed: {H_MSG}\ncaused by: reset"), "opened in place: all of it");
        assert!(e["kv"].as_array().unwrap().contains(&serde_json::json!(["status", "500"])));
        assert_eq!(e["origin"]["host"], "web-1");
    }

    /// The script builds rows with `textContent` and `href`: nothing in it
    /// parses HTML or runs strings.
    async fn the_tail_script_inserts_text_never_html(env: &mut Env) {
        let app = router(env.store.clone());
        let (status, _, js) = get(&app, "/static/panel.js").await;
        assert_eq!(status, StatusCode::OK);
        assert!(js.contains("function line(r)"), "the tail's script");
        for never in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "Function(",
            "setAttribute(\"on",
        ] {
            assert!(!js.contains(never), "panel.js uses {never}");
        }
    }

    macro_rules! tail_row_stores {
        ($($store:ident),*) => { $(
            per_store!($store:
                the_live_tail_shows_the_records_pages_dense_rows,
                the_tail_script_inserts_text_never_html,
            );
        )* };
    }

    tail_row_stores!(memory, sqlite, postgres);
}

/// Cards trouble first, relative to each logger's own thresholds
/// (`[panel.loggers]`): a noisy logger at its normal rate comes after the
/// loggers whose badge says "errors", on every page.
mod trouble_order {
    use super::*;

    /// `noisy::api` logs 6 errors a minute ago (under its 10 an hour),
    /// `quiet::job` 2 (over the default 1).
    fn errors_now(env: &mut Env) {
        let now = Timestamp::now().0;
        let origin = Origin::new("shop", "web-1", 1);
        let mut records = Vec::new();
        for (logger, n) in [("noisy::api", 6), ("quiet::job", 2)] {
            for k in 0..n {
                let mut r = Record::new(Level::Error, logger, format!("failure {k}"));
                r.timestamp = Timestamp(now - 60_000_000 - k);
                records.push(r);
            }
        }
        sync(|| env.sink.write(&Batch::new(&origin, &records))).unwrap();
    }

    async fn own_thresholds_order_cards_by_each_loggers_normal(env: &mut Env) {
        errors_now(env);
        // Raw counts: the noisy logger leads.
        let (_, _, raw) = get(&router(env.store.clone()), "/").await;
        assert_eq!(card_order(&raw)[0], "noisy::api");
        let tuned =
            log_panel_web::router_with(env.store.clone(), PanelOptions::default().logger_thresholds("noisy", 10, 100));
        let (_, _, body) = get(&tuned, "/").await;
        let order = card_order(&body);
        assert_eq!(order[0], "quiet::job", "{order:?}");
        let noisy_at = order.iter().position(|l| l == "noisy::api").unwrap();
        // Every logger before it wears a "Last hour: errors" or "warnings" badge; it wears "normal".
        for l in &order[..noisy_at] {
            let card = card_of(&body, l);
            assert!(card.contains("Last hour: errors") || card.contains("Last hour: warnings"), "{l}: {order:?}");
        }
        assert!(card_of(&body, "noisy::api").contains("Last hour: normal"));
        // The pages hold every logger once, in one order.
        let mut all = order.clone();
        let (_, _, second) = get(&tuned, "/?page=2").await;
        all.extend(card_order(&second));
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        let loggers = sync(|| env.store.loggers()).unwrap().len();
        assert_eq!((all.len(), unique.len()), (unique.len(), loggers));
        // By name stays by name.
        let (_, _, by_name) = get(&tuned, "/?sort=name").await;
        let names = card_order(&by_name);
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    macro_rules! trouble_stores {
        ($($store:ident),*) => { $(
            per_store!($store: own_thresholds_order_cards_by_each_loggers_normal,);
        )* };
    }

    trouble_stores!(memory, sqlite, postgres);
}
