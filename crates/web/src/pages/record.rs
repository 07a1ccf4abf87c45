//! One record in full (`/records/{id}`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use maud::{html, Markup};

use crate::error::PageError;
use crate::extract::{blocking, Ctx};
use crate::html::{count, level_badge, page, respond, time, Nav, Shown};
use crate::rows::field_text;
use crate::url::encode;
use crate::AppState;

/// `/records/{id}`.
pub(crate) fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/records/{id}", get(record))
}

fn related_link(ctx: &Ctx, key: &str, value: &str) -> String {
    let mut pairs = vec![("key", key.to_owned()), ("value", value.to_owned())];
    pairs.extend(ctx.tz_pairs());
    ctx.base.link("/related", &encode(pairs))
}

/// The context as indented JSON, each scalar value a link to the records sharing it.
fn context_json(ctx: &Ctx, context: &serde_json::Map<String, serde_json::Value>) -> Markup {
    let n = context.len();
    html! {
        pre.json {
            "{\n"
            @for (i, (k, v)) in context.iter().enumerate() {
                "  " span.k { (Shown(&serde_json::Value::String(k.clone()).to_string())) } ": "
                @match field_text(v) {
                    Some(text) => { a.v href=(related_link(ctx, k, &text)) title={ "Every record with " (Shown(k)) " = " (Shown(&text)) } { (Shown(&v.to_string())) } }
                    None => { span.v { (Shown(&indent(&serde_json::to_string_pretty(v).unwrap_or_default()))) } }
                }
                @if i + 1 < n { "," }
                "\n"
            }
            "}"
        }
    }
}

fn indent(s: &str) -> String {
    s.replace('\n', "\n  ")
}

pub(crate) async fn record(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let viewer = ctx.viewer();
    let Ok(id) = id.parse::<i64>() else {
        return Err(PageError::not_found(ctx.frame("Record", Nav::None), "No such record", "Record ids are numbers."));
    };
    let r = match blocking(&state, move |s| s.record(id)).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            let msg = format!("There is no record {id}: it may have been pruned.");
            return Err(PageError::not_found(ctx.frame("Record", Nav::None), "No such record", msg));
        }
        Err(e) => return Err(PageError::store(ctx.frame("Record", Nav::None), e)),
    };
    let title = format!("Record {id}");
    let filter_link = |key: &'static str, value: String| {
        let mut pairs = vec![(key, value)];
        pairs.extend(ctx.tz_pairs());
        ctx.base.link("/records", &encode(pairs))
    };
    let request = r.context.get("request_id").and_then(field_text);
    let body = html! {
        article.record {
            h1 { (level_badge(r.level)) " " (Shown(&r.logger)) }
            @if let Some(req) = &request {
                p { a.button href=(related_link(&ctx, "request_id", req)) { "Every record of request " code { (Shown(req)) } } }
            }
            (crate::trace::record_block(&ctx, &r, state.options.trace_url.as_ref()))
            pre.message { (Shown(&r.message)) }
            p { a.button.secondary href=(super::surrounding::link_from_record(&ctx, r.id)) { "Surrounding records" } " " span.muted { "the records just before and after it in its thread" } }
            @if let Some(size) = r.original_size { p.muted { "Cut: the original message was " (count(size)) " bytes." } }
            dl.fields {
                dt { "Time (UTC)" } dd { code { (r.ts.to_rfc3339()) } }
                dt { "Time (local)" } dd { (time(viewer, r.ts)) " " span.muted.tzlabel { (viewer.label()) } }
                dt { "Level" } dd { (r.level.as_str()) }
                dt { "Logger" } dd { a href=(filter_link("logger", r.logger.clone())) { (Shown(&r.logger)) } }
                dt { "Module" } dd { (Shown(r.module.as_deref().unwrap_or("—"))) }
                dt { "Location" } dd { code { (Shown(r.file.as_deref().unwrap_or("?"))) @if let Some(l) = r.line { ":" (l) } } }
                dt { "Thread" } dd { (Shown(&r.thread)) }
                dt { "App" } dd { a href=(filter_link("app", r.app.clone())) { (Shown(&r.app)) } }
                dt { "Host" } dd { a href=(filter_link("host", r.host.clone())) { (Shown(&r.host)) } }
                dt { "Pid" } dd { a href=(filter_link("pid", r.pid.to_string())) { (r.pid) } }
                dt { "Id" } dd { (r.id) }
            }
            h2 { "Context" }
            @if r.context.is_empty() { p.muted { "No context or key-values." } } @else {
                p.muted { "Click a value for every record sharing it." }
                (context_json(&ctx, &r.context))
            }
        }
    };
    Ok(respond(StatusCode::OK, page(&ctx.frame(&title, Nav::None), body)))
}
