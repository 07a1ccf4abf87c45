//! The pieces every page is made of. maud escapes every interpolated string,
//! in text and in attributes; nothing here writes raw HTML. Stored strings
//! are shown through [`Shown`], which also turns control characters into
//! visible escapes.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use log_panel_core::{escape_controls, level_name, Level, Timestamp};
use maud::{html, Markup, Render, DOCTYPE};

use crate::assets::{SCRIPT, STYLESHEET};
use crate::url::{encode, href, Params};
use crate::viewer::Viewer;

/// A stored string (or anything else the viewer did not write into the page
/// themselves) as text: control characters other than newline and tab become
/// visible escapes, as the command line shows them (`\e[31m`, `\x07`), then
/// maud escapes the HTML. Used for form fields too, so no page ever holds a
/// raw control character (one printed by `curl` cannot drive a terminal);
/// links carry the exact value, so following one still matches it.
pub(crate) struct Shown<'a>(pub(crate) &'a str);

impl Render for Shown<'_> {
    fn render_to(&self, buffer: &mut String) {
        escape_controls(self.0, true).as_ref().render_to(buffer);
    }
}

/// Where the panel is mounted (`""` at the root, `/admin/logs` nested), for links.
#[derive(Debug, Clone)]
pub(crate) struct Base(pub(crate) String);

impl Base {
    /// `base + path`.
    pub(crate) fn at(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// `base + path ? query`.
    pub(crate) fn link(&self, path: &str, query: &str) -> String {
        href(&self.at(path), query)
    }
}

/// Which entry of the navigation is lit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Home,
    Records,
    Sites,
    Tail,
    Alerts,
    None,
}

/// Everything a page's frame needs.
pub(crate) struct Frame {
    pub(crate) base: Base,
    pub(crate) viewer: Viewer,
    pub(crate) title: String,
    pub(crate) nav: Nav,
    /// The request's parameters, to name those the page ignored.
    pub(crate) params: Params,
}

/// The page around `body`, which must be built first: the frame names the
/// URL's parameters that building it did not read.
pub(crate) fn page(frame: &Frame, body: Markup) -> Markup {
    let Frame { base, viewer, title, nav, params } = frame;
    let ignored = params.ignored();
    let tz = if viewer.in_url { encode([("tz", (viewer.offset_secs / 60).to_string())]) } else { String::new() };
    let item = |target: Nav, path: &str, label: &str| {
        html! { a class=@if *nav == target { "on" } href=(base.link(path, &tz)) { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · log-panel" }
                link rel="stylesheet" href=(base.link("/static/panel.css", &format!("v={}", STYLESHEET.version())));
                script src=(base.link("/static/panel.js", &format!("v={}", SCRIPT.version()))) defer {}
            }
            body data-tz=(viewer.offset_secs / 60) data-tz-in-url=(viewer.in_url) {
                header.top {
                    a.brand href=(base.link("/", &tz)) { "log-panel" }
                    nav {
                        (item(Nav::Home, "/", "Loggers"))
                        (item(Nav::Records, "/records", "Records"))
                        (item(Nav::Sites, "/sites", "Call sites"))
                        (item(Nav::Tail, "/tail", "Live tail"))
                        (item(Nav::Alerts, "/alerts", "Alerts"))
                    }
                    span.tz title="Times are shown in this offset" { (viewer.label()) }
                }
                main {
                    @if !ignored.is_empty() {
                        p.warn-note.ignored {
                            "This page does not read the URL's "
                            @if ignored.len() == 1 { "parameter " } @else { "parameters " }
                            @for (i, k) in ignored.iter().enumerate() {
                                @if i > 0 { ", " }
                                code { (Shown(k)) }
                            }
                            ": the page is shown without "
                            @if ignored.len() == 1 { "it." } @else { "them." }
                        }
                    }
                    (body)
                }
            }
        }
    }
}

/// `markup` as an HTML response with `status`.
pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

pub(crate) fn level_badge(level: Level) -> Markup {
    html! { span class={ "lvl lvl-" (level_name(level)) } { (level.as_str()) } }
}

/// A time in the viewer's offset; the page script rewrites it in the browser's zone.
pub(crate) fn time(viewer: Viewer, ts: Timestamp) -> Markup {
    html! { time datetime=(ts.to_rfc3339()) title=(ts.to_rfc3339()) { (viewer.format(ts)) } }
}

/// The first line of `text`, at most `max` characters, with an ellipsis when
/// cut, control characters shown as escapes (see [`Shown`]).
pub(crate) fn preview(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    let cut: String = line.chars().take(max).collect();
    let shown = escape_controls(&cut, false).into_owned();
    if cut.len() < text.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

/// Characters of a name (logger, thread, app, host) shown in a table row;
/// the record's page shows it whole.
pub(crate) const NAME_CHARS: usize = 120;

/// `n` and `noun`, plural unless `n` is 1: "1 error", "3 errors".
pub(crate) fn counted(n: u64, noun: &str) -> String {
    format!("{} {noun}{}", count(n), if n == 1 { "" } else { "s" })
}

/// Thousands separated by thin spaces, so large totals read at a glance.
pub(crate) fn count(n: u64) -> String {
    log_panel_query::grouped(n)
}
