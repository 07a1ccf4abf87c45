//! The filter form of the records, call sites and live tail pages: the
//! parameters as typed, the form that shows them back, and the caret under
//! a query's mistake.

use axum::http::StatusCode;
use axum::response::Response;
use log_panel_core::{level_name, Level, Timestamp};
use log_panel_query::{parse_query, FieldMatch, RecordFilter, SiteMatch, StoreError, StoreErrorKind, When};
use maud::{html, Markup};

use crate::error::{failure, respond};
use crate::extract::Ctx;
use crate::html::{page, Base, Nav, Shown};
use crate::url::Params;
use crate::viewer::Viewer;

/// A store failure on a page with the filter form: a refused filter shows
/// the form with the store's reason (400), anything else is [`failure`].
pub(crate) fn filter_failure(
    ctx: &Ctx,
    form: &FilterForm,
    action: &str,
    title: &str,
    nav: Nav,
    e: &StoreError,
) -> Response {
    if e.kind() == StoreErrorKind::BadFilter {
        let body = filter_form(&ctx.base, action, form, ctx.viewer(), Some(&e.to_string()));
        return respond(StatusCode::BAD_REQUEST, page(&ctx.frame(title, nav), body));
    }
    failure(ctx, title, nav, e)
}

/// The filter's problems: the viewer's offset, the filter, the page position, the limit.
pub(crate) fn parse_filter(ctx: &Ctx, form: &FilterForm, now: Timestamp) -> Result<RecordFilter, String> {
    let mut problems = Vec::new();
    if let Err(e) = &ctx.viewer {
        problems.push(e.clone());
    }
    let filter = form.to_filter(now, ctx.viewer()).map_err(|e| problems.push(e)).ok();
    match filter {
        Some(f) if problems.is_empty() => Ok(f),
        _ => Err(problems.join("; ")),
    }
}

/// The longest filter accepted, in bytes of its parameters' values: a page
/// repeats it in each of its links (60 histogram bars, two links a call site),
/// so this bounds a page's size whatever the URL.
pub(crate) const MAX_FILTER_BYTES: usize = 2048;

/// The record filter's parameters as typed, so a form that failed to parse
/// shows back what the viewer wrote.
#[derive(Debug, Clone, Default)]
pub(crate) struct FilterForm {
    pub(crate) logger: String,
    pub(crate) level: String,
    pub(crate) levels: Vec<String>,
    pub(crate) q: String,
    pub(crate) since: String,
    pub(crate) until: String,
    pub(crate) app: String,
    pub(crate) host: String,
    pub(crate) pid: String,
    /// The call site, `FILE:LINE` or `FILE`.
    pub(crate) site: String,
    /// `key=value` conditions, one per entry.
    pub(crate) ctx: Vec<String>,
}

impl FilterForm {
    pub(crate) fn from_params(p: &Params) -> FilterForm {
        let text = |k: &str| p.get(k).unwrap_or("").to_owned();
        FilterForm {
            logger: text("logger"),
            level: text("level"),
            levels: p.all("levels").map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect(),
            q: p.all("q").next().unwrap_or("").to_owned(),
            since: text("since"),
            until: text("until"),
            app: text("app"),
            host: text("host"),
            pid: text("pid"),
            site: text("site"),
            // A textarea sends several conditions, one per line; links send one per `ctx`.
            ctx: p
                .all("ctx")
                .flat_map(str::lines)
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The filter's text, in bytes.
    fn len(&self) -> usize {
        let one = [&self.logger, &self.level, &self.q, &self.since, &self.until, &self.app, &self.host, &self.pid];
        one.iter().map(|v| v.len()).sum::<usize>()
            + self.site.len()
            + self.levels.iter().chain(&self.ctx).map(String::len).sum::<usize>()
    }

    /// The filter, or every problem found in it, joined.
    pub(crate) fn to_filter(&self, now: Timestamp, viewer: Viewer) -> Result<RecordFilter, String> {
        let len = self.len();
        if len > MAX_FILTER_BYTES {
            return Err(format!(
                "the filter is {len} bytes long; at most {MAX_FILTER_BYTES} are accepted (each link of a page repeats it)"
            ));
        }
        let mut problems = Vec::new();
        let mut f = RecordFilter::default();
        if !self.logger.is_empty() {
            match self.logger.parse() {
                Ok(l) => f.logger = Some(l),
                Err(e) => problems.push(format!("{e}")),
            }
        }
        if !self.level.is_empty() {
            match self.level.parse::<Level>() {
                Ok(l) => f.min_level = Some(l),
                Err(_) => problems.push(format!("level `{}`: expected error, warn, info, debug or trace", self.level)),
            }
        }
        for l in &self.levels {
            match l.parse::<Level>() {
                Ok(l) if !f.levels.contains(&l) => f.levels.push(l),
                Ok(_) => {}
                Err(_) => problems.push(format!("level `{l}`: expected error, warn, info, debug or trace")),
            }
        }
        for (text, slot) in [(&self.since, &mut f.since), (&self.until, &mut f.until)] {
            if !text.is_empty() {
                match text.parse::<When>().and_then(|w| w.at_offset(now, viewer.offset_secs)) {
                    Ok(t) => *slot = Some(t),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
        if let (Some(s), Some(u)) = (f.since, f.until) {
            if s >= u {
                problems.push("the time range is empty: `since` must be before `until`".to_owned());
            }
        }
        if !self.app.is_empty() {
            f.app = Some(self.app.clone());
        }
        if !self.host.is_empty() {
            f.host = Some(self.host.clone());
        }
        if !self.pid.is_empty() {
            match self.pid.parse() {
                Ok(p) => f.pid = Some(p),
                Err(_) => problems.push(format!("pid `{}`: expected a process id", self.pid)),
            }
        }
        if !self.site.is_empty() {
            match self.site.parse::<SiteMatch>() {
                Ok(s) => f.site = Some(s),
                Err(e) => problems.push(format!("{e}")),
            }
        }
        for c in &self.ctx {
            match c.parse::<FieldMatch>() {
                Ok(m) => f.fields.push(m),
                Err(e) => problems.push(format!("{e}")),
            }
        }
        // Last, so the query ANDs with every field the form set.
        if let Err(e) = f.and_query(&self.q) {
            problems.push(format!("query: {e}"));
        }
        if problems.is_empty() {
            Ok(f)
        } else {
            Err(problems.join("; "))
        }
    }

    /// The filter's parameters, for a link.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (k, v) in [("logger", &self.logger), ("level", &self.level)] {
            if !v.is_empty() {
                out.push((k, v.clone()));
            }
        }
        out.extend(self.levels.iter().map(|l| ("levels", l.clone())));
        for (k, v) in [
            ("q", &self.q),
            ("since", &self.since),
            ("until", &self.until),
            ("app", &self.app),
            ("host", &self.host),
            ("pid", &self.pid),
            ("site", &self.site),
        ] {
            if !v.is_empty() {
                out.push((k, v.clone()));
            }
        }
        out.extend(self.ctx.iter().map(|c| ("ctx", c.clone())));
        out
    }
}

/// The form with every filter of the query layer, showing what was typed:
/// the common fields on one line, the others behind "More filters", which
/// is open when one of them is set (or the filter was refused), so whatever
/// filters the page is in view.
pub(crate) fn filter_form(base: &Base, action: &str, form: &FilterForm, viewer: Viewer, error: Option<&str>) -> Markup {
    filter_form_keeping(base, action, form, viewer, error, &[])
}

/// [`filter_form`] whose "Apply" also carries `keep`, the page's own
/// parameters beside the filter (the records page's `split` and `limit`),
/// as hidden fields: applying a filter does not drop the chart or the page size.
pub(crate) fn filter_form_keeping(
    base: &Base,
    action: &str,
    form: &FilterForm,
    viewer: Viewer,
    error: Option<&str>,
    keep: &[(&'static str, String)],
) -> Markup {
    let levels = [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace];
    let has = |l: Level| form.levels.iter().any(|x| x.eq_ignore_ascii_case(l.as_str()));
    let advanced = [&form.app, &form.host, &form.pid, &form.site].iter().any(|v| !v.is_empty())
        || !form.ctx.is_empty()
        || !form.levels.is_empty();
    html! {
        form.filters method="get" action=(base.at(action)) {
            @if let Some(e) = error { p.error role="alert" { strong { "Filter not applied: " } (Shown(e)) } (caret(&form.q)) }
            div.main {
                label.q { "Search" input name="q" value=(Shown(&form.q)) placeholder="words, \"a phrase\", key:value, status>=500, -term, OR"; }
                label { "Logger" input name="logger" value=(Shown(&form.logger)) placeholder="app::db, or app:: with children"; }
                label.minlvl { "Min level" select name="level" {
                    option value="" { "any" }
                    @for l in levels {
                        option value=(level_name(l)) selected[form.level.eq_ignore_ascii_case(l.as_str())] { (l.as_str()) }
                    }
                } }
                label.when { "Since" input name="since" value=(Shown(&form.since)) placeholder="2h, 7d, 2026-12-01 10:00"; }
                label.when { "Until" input name="until" value=(Shown(&form.until)) placeholder="now"; }
                div.actions {
                    button type="submit" { "Apply" }
                    a.button.secondary href=(base.at(action)) { "Reset" }
                }
                details.more open[advanced || error.is_some()] {
                    summary { "More filters" }
                    div.grid {
                        label { "App" input name="app" value=(Shown(&form.app)); }
                        label { "Host" input name="host" value=(Shown(&form.host)); }
                        label { "Pid" input name="pid" value=(Shown(&form.pid)) inputmode="numeric"; }
                        label { "Call site" input name="site" value=(Shown(&form.site)) placeholder="src/db.rs:42"; }
                        label.wide { "Context key=value (one per line)"
                            textarea name="ctx" rows="2" placeholder="request_id=r-42" { (Shown(&form.ctx.join("\n"))) }
                        }
                    }
                    fieldset.levels {
                        legend { "Only levels" }
                        @for l in levels {
                            label.check { input type="checkbox" name="levels" value=(level_name(l)) checked[has(l)]; (l.as_str()) }
                        }
                    }
                }
            }
            @if viewer.in_url { input type="hidden" name="tz" value=(viewer.offset_secs / 60); }
            @for (name, value) in keep { input type="hidden" name=(name) value=(Shown(value)); }
        }
    }
}

/// The query with a caret under the column of its mistake; nothing when it parses.
pub(crate) fn caret(q: &str) -> Markup {
    let Err(e) = parse_query(q) else { return html! {} };
    // One character a column, so the caret stands under the mistake; a
    // control character (a tab, a newline from a hand-made URL) would move it.
    let shown: String = q.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let pad = " ".repeat(e.column.saturating_sub(1));
    html! {
        pre.query-error aria-label="Where the query went wrong" {
            code { (shown) "\n" (pad) "^ " (e.message) }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::url::encode;

    const NOW: Timestamp = Timestamp(1_764_583_200_000_000); // 2025-12-01T10:00:00Z

    #[test]
    fn a_filter_reports_every_problem() {
        let p = Params::parse(Some("level=loud&pid=x&since=soon&ctx=nokey&logger=::&site=:3"));
        let err = FilterForm::from_params(&p).to_filter(NOW, Viewer::utc()).unwrap_err();
        for part in ["level `loud`", "pid `x`", "time `soon`", "context filter", "logger", "call site `:3`"] {
            assert!(err.contains(part), "{err}");
        }
    }

    #[test]
    fn links_carry_the_filter_back() {
        let p =
            Params::parse(Some("logger=a%26b&levels=error&levels=warn&ctx=k%3Dv%0Aj%3D2&q=%20x&site=src%2Fa.rs%3A7"));
        let form = FilterForm::from_params(&p);
        assert_eq!(form.ctx, ["k=v", "j=2"]);
        let again = FilterForm::from_params(&Params::parse(Some(&encode(form.pairs()))));
        assert_eq!(again.pairs(), form.pairs());
        let f = form.to_filter(NOW, Viewer::utc()).unwrap();
        assert_eq!(f.levels, [Level::Error, Level::Warn]);
        assert_eq!(f.fields.len(), 2);
        assert_eq!(f.site, Some(SiteMatch { file: "src/a.rs".into(), line: Some(7) }));
    }
}
