//! Surrounding records (Kibana's "view surrounding documents", Grafana's
//! "show context"): from one record, the `n` records just before and after
//! it — in the same thread of the same process (host, pid and thread), in
//! the same process, or among all records — the record itself highlighted.
//!
//! Storage-neutral: two keyset pages from the record's own cursor
//! ([`PageAt::Older`] and [`PageAt::Newer`]), so a deep record costs what a
//! recent one does. Each page is looked for within an hour of the record,
//! then within a day (Kibana's context view widens its time range the same
//! way): without a bound, the newest record of a thread that has since
//! ended would walk every record logged after it (at 10 M, seconds).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use log_panel_core::Timestamp;
use log_panel_query::{Cursor, Page, PageAt, RecordFilter, Store, StoreError, StoredRecord, DAY, HOUR};
use maud::html;

use crate::error::PageError;
use crate::extract::{blocking, Ctx};
use crate::html::{page, respond, Nav, Shown};
use crate::rows::records_table;
use crate::url::number;
use crate::AppState;

/// `/records/{id}/around`.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/records/{id}/around", get(around))
}

/// Records each side by default.
const AROUND: usize = 10;
/// Records each side at most.
const MAX_AROUND: usize = 200;

/// How far from the record each side is looked for, nearest first; the
/// last is the page's bound, said on the page when a side ends there.
const WINDOWS: [i64; 2] = [HOUR, DAY];

/// The `n` records on one side (`at`: the record's cursor, newer or older)
/// of the record at `ts` that `filter` keeps, within the first of
/// [`WINDOWS`] that fills the page.
fn side(s: &dyn Store, filter: &RecordFilter, at: PageAt, ts: Timestamp, n: usize) -> Result<Page, StoreError> {
    let mut page = Page::default();
    for width in WINDOWS {
        let mut f = filter.clone();
        match at {
            PageAt::Newer(_) => f.until = Some(Timestamp(ts.0.saturating_add(width))),
            _ => f.since = Some(Timestamp(ts.0.saturating_sub(width))),
        }
        page = s.records(&f, at, n)?;
        if page.records.len() >= n {
            break;
        }
    }
    Ok(page)
}

/// Which records count as "around".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// The same host, pid and thread.
    Thread,
    /// The same host and pid.
    Process,
    /// Every record.
    All,
}

impl Scope {
    fn parse(s: Option<&str>) -> Result<Scope, String> {
        match s {
            None | Some("thread") => Ok(Scope::Thread),
            Some("process") => Ok(Scope::Process),
            Some("all") => Ok(Scope::All),
            Some(other) => Err(format!("scope `{other}`: expected thread, process or all")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scope::Thread => "thread",
            Scope::Process => "process",
            Scope::All => "all",
        }
    }

    /// The filter of the records around `r` in this scope.
    fn filter(self, r: &StoredRecord) -> RecordFilter {
        let mut f = RecordFilter::default();
        if self != Scope::All {
            f.host = Some(r.host.clone());
            f.pid = Some(r.pid);
        }
        if self == Scope::Thread {
            f.thread = Some(r.thread.clone());
        }
        f
    }
}

/// The link to the records around record `id` (`n` each side, in `scope`),
/// scrolled to the record.
fn around_link(ctx: &Ctx, id: i64, n: usize, scope: Scope) -> String {
    let mut pairs = vec![("scope", scope.name().to_owned())];
    if n != AROUND {
        pairs.push(("n", n.to_string()));
    }
    format!("{}#r{id}", ctx.link(&format!("/records/{id}/around"), pairs))
}

/// The link from a record's page: its thread's records around it.
pub(crate) fn link_from_record(ctx: &Ctx, id: i64) -> String {
    around_link(ctx, id, AROUND, Scope::Thread)
}

/// `GET /records/{id}/around?n=&scope=`.
pub(crate) async fn around(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let title = "Surrounding records";
    let Ok(id) = id.parse::<i64>() else {
        return Err(PageError::not_found(ctx.frame(title, Nav::None), "No such record", "Record ids are numbers."));
    };
    let args = number(&ctx.params, "n", AROUND, MAX_AROUND)
        .and_then(|n| Ok((n, Scope::parse(ctx.params.get("scope"))?)))
        .and_then(|x| ctx.viewer.clone().map(|_| x));
    let (n, scope) = match args {
        Ok(x) => x,
        Err(e) => {
            return Err(PageError::bad_parameters(ctx.frame(title, Nav::None), e));
        }
    };
    let read = blocking(&state, move |s| {
        let Some(r) = s.record(id)? else { return Ok(None) };
        let filter = scope.filter(&r);
        let at = Cursor::of(&r);
        let newer = side(s, &filter, PageAt::Newer(at), r.ts, n)?;
        let older = side(s, &filter, PageAt::Older(at), r.ts, n)?;
        Ok(Some((r, newer, older)))
    })
    .await;
    let (r, newer, older) = match read {
        Ok(Some(x)) => x,
        Ok(None) => {
            let msg = format!("There is no record {id}: it may have been pruned.");
            return Err(PageError::not_found(ctx.frame(title, Nav::None), "No such record", msg));
        }
        Err(e) => return Err(PageError::store(ctx.frame(title, Nav::None), e)),
    };
    let (more_newer, more_older) = (newer.newer.is_some(), older.older.is_some());
    let (n_newer, n_older) = (newer.records.len(), older.records.len());
    let mut rows = newer.records;
    rows.push(r.clone());
    rows.extend(older.records);
    let viewer = ctx.viewer();
    let record_link = ctx.link(&format!("/records/{id}"), Vec::new());
    let scope_link = |s: Scope, label: &'static str| {
        html! { @if s == scope { strong { (label) } } @else { a href=(around_link(&ctx, id, n, s)) { (label) } } }
    };
    let body = html! {
        section.around data-record=(id) data-scope=(scope.name()) {
            h1 { "Around " a href=(record_link) { "record " (id) } }
            p.muted {
                @match scope {
                    Scope::Thread => { "Records of thread " code { (Shown(&r.thread)) } " of process " (r.pid) " on " code { (Shown(&r.host)) } }
                    Scope::Process => { "Records of process " (r.pid) " on " code { (Shown(&r.host)) } ", every thread" }
                    Scope::All => { "Every record" }
                }
                ": " (n_newer) " after it, " (n_older) " before it, newest first; the record is highlighted."
            }
            nav.scopes {
                "Show: " (scope_link(Scope::Thread, "same thread")) " · " (scope_link(Scope::Process, "same process")) " · " (scope_link(Scope::All, "all records"))
                @if (more_newer || more_older) && n < MAX_AROUND {
                    " · " a href=(around_link(&ctx, id, (n * 2).min(MAX_AROUND), scope)) { "Widen to " ((n * 2).min(MAX_AROUND)) " each side" }
                }
            }
            @if !more_newer { p.muted.edge { "Nothing newer in this scope within a day of it." } }
            (records_table(&ctx.base, viewer, &rows, scope != Scope::Thread, None, &[]))
            @if !more_older { p.muted.edge { "Nothing older in this scope within a day of it." } }
        }
    };
    Ok(respond(StatusCode::OK, page(&ctx.frame(title, Nav::None), body)))
}
