//! Call sites (`/sites`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use log_panel_core::Timestamp;
use log_panel_query::{CallSite, FilterParams, SiteMatch};
use maud::html;

use crate::error::PageError;
use crate::extract::{blocking, Ctx};
use crate::filter_form::{filter_form, form_pairs, parse_filter, read_form, refused, store_failed, At};
use crate::html::{count, page, preview, respond, time, Nav, NAME_CHARS};
use crate::url::number;
use crate::AppState;

/// Call sites a page shows at most (each row links the filter twice).
const SITES_LIMIT: usize = 100;

/// `/sites`.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/sites", get(sites))
}

/// The call sites page: path, title, navigation entry.
const AT: At = ("/sites", "Call sites", Nav::Sites);

pub(crate) async fn sites(State(state): State<AppState>, ctx: Ctx) -> Result<Response, PageError> {
    let mut form = read_form(&ctx.params);
    if form.since.is_empty() {
        form.since = "1h".to_owned();
    }
    let viewer = ctx.viewer();
    let parsed = parse_filter(&ctx, &form, Timestamp::now())
        .and_then(|f| Ok((f, number(&ctx.params, "limit", 50, SITES_LIMIT)?)));
    let (filter, limit) = match parsed {
        Ok(x) => x,
        Err(e) => return Err(refused(&ctx, &form, AT, &e)),
    };
    // Without a text or context filter the sites are summed from the site
    // aggregates and read no lookup index (no note); with one, the rows are
    // counted through the index, as on the records page, which lags alike.
    let read = blocking(&state, move |s| Ok((log_panel_query::index_note(s, &filter), s.call_sites(&filter, limit)?)));
    let (lag, sites) = match read.await {
        Ok(s) => s,
        Err(e) => return Err(store_failed(&ctx, &form, AT, e)),
    };
    let body = html! {
        (filter_form(&ctx.base, "/sites", &form, viewer, None))
        (crate::pages::records::lag_note(lag.line()))
        @if sites.is_empty() { p.empty { "No record in this window." } } @else {
            table.sites {
                thead { tr {
                    th { "Logger" } th { "Location" } th.n { "Error" } th.n { "Warn" } th.n { "Info" }
                    th.n { "Debug" } th.n { "Trace" } th.n { "Total" } th { "Last seen" } th { "Latest message" }
                } }
                tbody {
                    @for site in &sites {
                        @let by_logger = by_logger(&form, site);
                        tr {
                            td.logger { a href=(ctx.link("/records", form_pairs(&by_logger))) { (preview(&site.logger, NAME_CHARS)) } }
                            td { @match site_form(&by_logger, site) {
                                Some(one) => { a href=(ctx.link("/records", form_pairs(&one))) title="The records of this call site" {
                                    code { (preview(site.file.as_deref().unwrap_or("?"), NAME_CHARS)) @if let Some(l) = site.line { ":" (l) } } } }
                                None => { code { "?" } }
                            } }
                            td.n.n-error { (nonzero(site.counts.error)) }
                            td.n.n-warn { (nonzero(site.counts.warn)) }
                            td.n { (nonzero(site.counts.info)) }
                            td.n { (nonzero(site.counts.debug)) }
                            td.n { (nonzero(site.counts.trace)) }
                            td.n { strong { (count(site.counts.total())) } }
                            td { (time(viewer, site.last_seen)) }
                            td.msg { (preview(&site.example, 160)) }
                        }
                    }
                }
            }
            p.muted { "A call site is a logger and a source line: the location links to that line's records, the logger to all of its records, in this window." }
        }
    };
    Ok(respond(StatusCode::OK, page(&ctx.frame(AT.1, AT.2), body)))
}

/// The records form narrowed to one call site (its logger exactly, its file
/// and line); `None` for records logged without a file.
fn site_form(by_logger: &FilterParams, site: &CallSite) -> Option<FilterParams> {
    let file = site.file.as_ref()?;
    let at = SiteMatch { file: file.clone(), line: site.line };
    let mut one = by_logger.clone();
    one.site = at.to_string();
    Some(one)
}

/// The form narrowed to the call site's logger, exactly.
fn by_logger(form: &FilterParams, site: &CallSite) -> FilterParams {
    let mut narrowed = form.clone();
    narrowed.logger.clone_from(&site.logger);
    narrowed
}

fn nonzero(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        count(n)
    }
}
