//! The filter form of the records, call sites and live tail pages: the
//! parameters as typed, the form that shows them back, and the caret under
//! a query's mistake.

use log_panel_core::{level_name, Level, Timestamp};
use log_panel_query::{parse_query, FilterParams, LevelSpec, RecordFilter, StoreErrorKind};
use maud::{html, Markup};

use crate::error::PageError;
use crate::extract::{CallError, Ctx};
use crate::html::{Base, Nav, Shown};
use crate::url::Params;
use crate::viewer::Viewer;

/// The page at `action` refused for `reason`: its form shown back with what
/// was typed, the reason and the caret under a query's mistake (400).
pub(crate) fn refused(ctx: &Ctx, form: &FilterParams, (action, title, nav): At, reason: &str) -> PageError {
    PageError::form(ctx.frame(title, nav), filter_form(&ctx.base, action, form, ctx.viewer(), Some(reason)))
}

/// A store failure on a page with the filter form: a refused filter is
/// [`refused`] with the store's reason, anything else the store's error page.
pub(crate) fn store_failed(ctx: &Ctx, form: &FilterParams, at: At, e: CallError) -> PageError {
    match e {
        CallError::Store(e) if e.kind() == StoreErrorKind::BadFilter => refused(ctx, form, at, &e.to_string()),
        e => PageError::store(ctx.frame(at.1, at.2), e),
    }
}

/// A page with the filter form: its path, title and navigation entry.
pub(crate) type At = (&'static str, &'static str, Nav);

/// The filter's problems: the viewer's offset, the filter, the page position, the limit.
pub(crate) fn parse_filter(ctx: &Ctx, form: &FilterParams, now: Timestamp) -> Result<RecordFilter, String> {
    let mut problems = Vec::new();
    if let Err(e) = &ctx.viewer {
        problems.push(e.clone());
    }
    let filter = to_filter(form, now, ctx.viewer()).map_err(|e| problems.push(e)).ok();
    match filter {
        Some(f) if problems.is_empty() => Ok(f),
        _ => Err(problems.join("; ")),
    }
}

/// The longest filter accepted, in bytes of its parameters' values: a page
/// repeats it in each of its links (60 histogram bars, two links a call site),
/// so this bounds a page's size whatever the URL.
pub(crate) const MAX_FILTER_BYTES: usize = 2048;

/// One condition of a [`FilterParams`] as typed.
type Condition = fn(&FilterParams) -> &String;

/// The URL's name of each condition of a [`FilterParams`], in the order of
/// a link: the command's flag names (`--level`, `--context`, …), but `q`
/// for the query (the command's positional argument).
const NAMES: [(&str, Condition); 10] = [
    ("logger", |f| &f.logger),
    ("level", |f| &f.level),
    ("q", |f| &f.query),
    ("text", |f| &f.text),
    ("since", |f| &f.since),
    ("until", |f| &f.until),
    ("app", |f| &f.app),
    ("host", |f| &f.host),
    ("pid", |f| &f.pid),
    ("site", |f| &f.site),
];

/// The filter's conditions as typed in the URL, so a form that failed to
/// parse shows back what the viewer wrote.
pub(crate) fn read_form(p: &Params) -> FilterParams {
    let text = |k: &str| p.get(k).unwrap_or("").to_owned();
    let mut form = FilterParams::default();
    form.logger = text("logger");
    // The minimum's select and the level boxes all send `level`: their
    // values are one comma list, as `--level error,info` (one level alone a
    // minimum, several exactly those).
    form.level = p.all("level").map(str::trim).filter(|v| !v.is_empty()).collect::<Vec<_>>().join(",");
    // The query and the text are kept as typed: a leading space may be meant.
    form.query = p.all("q").next().unwrap_or("").to_owned();
    form.text = p.all("text").next().unwrap_or("").to_owned();
    form.since = text("since");
    form.until = text("until");
    form.app = text("app");
    form.host = text("host");
    form.pid = text("pid");
    form.site = text("site");
    // A textarea sends several conditions, one per line; links send one per `context`.
    form.context =
        p.all("context").flat_map(str::lines).map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    form
}

/// The filter's parameters, for a link.
pub(crate) fn form_pairs(form: &FilterParams) -> Vec<(&'static str, String)> {
    let set = |(k, v): &(&'static str, Condition)| {
        let v = v(form);
        (!v.is_empty()).then(|| (*k, v.clone()))
    };
    let mut out: Vec<(&'static str, String)> = NAMES.iter().filter_map(set).collect();
    out.extend(form.context.iter().map(|c| ("context", c.clone())));
    out
}

/// The filter, its times placed at the viewer's offset, or every problem found in it, joined.
fn to_filter(form: &FilterParams, now: Timestamp, viewer: Viewer) -> Result<RecordFilter, String> {
    let len = form.len();
    if len > MAX_FILTER_BYTES {
        return Err(format!(
            "the filter is {len} bytes long; at most {MAX_FILTER_BYTES} are accepted (each link of a page repeats it)"
        ));
    }
    form.to_filter(|w| w.at_offset(now, viewer.offset_secs)).map_err(|e| e.to_string())
}

/// The form with every filter of the query layer, showing what was typed:
/// the common fields on one line, the others behind "More filters", which
/// is open when one of them is set (or the filter was refused), so whatever
/// filters the page is in view.
pub(crate) fn filter_form(
    base: &Base,
    action: &str,
    form: &FilterParams,
    viewer: Viewer,
    error: Option<&str>,
) -> Markup {
    filter_form_keeping(base, action, form, viewer, error, &[])
}

/// [`filter_form`] whose "Apply" also carries `keep`, the page's own
/// parameters beside the filter (the records page's `split` and `limit`),
/// as hidden fields: applying a filter does not drop the chart or the page size.
pub(crate) fn filter_form_keeping(
    base: &Base,
    action: &str,
    form: &FilterParams,
    viewer: Viewer,
    error: Option<&str>,
    keep: &[(&'static str, String)],
) -> Markup {
    let levels = [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace];
    // A minimum shows in the select, a set in the boxes. Each box sends its
    // level as a list of one (`warn,`), so one box alone is exactly that
    // level, and several join to exactly those.
    let (minimum, exactly) = match form.level.parse::<LevelSpec>() {
        Ok(LevelSpec::AtLeast(l)) => (Some(l), Vec::new()),
        Ok(LevelSpec::Exactly(ls)) => (None, ls),
        Err(_) => (None, Vec::new()),
    };
    let has = |l: Level| exactly.contains(&l);
    let advanced = [&form.app, &form.host, &form.pid, &form.site, &form.text].iter().any(|v| !v.is_empty())
        || !form.context.is_empty()
        || !exactly.is_empty();
    html! {
        form.filters method="get" action=(base.at(action)) {
            @if let Some(e) = error { p.error role="alert" { strong { "Filter not applied: " } (Shown(e)) } (caret(&form.query)) }
            div.main {
                label.q { "Search" input name="q" value=(Shown(&form.query)) placeholder="words, \"a phrase\", key:value, status>=500, -term, OR"; }
                label { "Logger" input name="logger" value=(Shown(&form.logger)) placeholder="app::db, or app:: with children"; }
                label.minlvl { "Min level" select name="level" {
                    option value="" { "any" }
                    @for l in levels {
                        option value=(level_name(l)) selected[minimum == Some(l)] { (l.as_str()) }
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
                        label { "Message contains" input name="text" value=(Shown(&form.text)) placeholder="any text, case-insensitive"; }
                        label { "App" input name="app" value=(Shown(&form.app)); }
                        label { "Host" input name="host" value=(Shown(&form.host)); }
                        label { "Pid" input name="pid" value=(Shown(&form.pid)) inputmode="numeric"; }
                        label { "Call site" input name="site" value=(Shown(&form.site)) placeholder="src/db.rs:42"; }
                        label.wide { "Context key=value (one per line)"
                            textarea name="context" rows="2" placeholder="request_id=r-42" { (Shown(&form.context.join("\n"))) }
                        }
                    }
                    fieldset.levels {
                        legend { "Only levels (with the minimum: one list)" }
                        @for l in levels {
                            label.check { input type="checkbox" name="level" value=(format!("{},", level_name(l))) checked[has(l)]; (l.as_str()) }
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
    use log_panel_query::SiteMatch;

    const NOW: Timestamp = Timestamp(1_764_583_200_000_000); // 2025-12-01T10:00:00Z

    #[test]
    fn a_filter_reports_every_problem() {
        let p = Params::parse(Some("level=loud&pid=x&since=soon&context=nokey&logger=::&site=:3"));
        let err = to_filter(&read_form(&p), NOW, Viewer::utc()).unwrap_err();
        for part in ["unknown level `loud`", "pid `x`", "time `soon`", "context filter", "logger", "call site `:3`"] {
            assert!(err.contains(part), "{err}");
        }
    }

    #[test]
    fn links_carry_the_filter_back() {
        let p =
            Params::parse(Some("logger=a%26b&level=error&level=warn&context=k%3Dv%0Aj%3D2&q=%20x&site=src%2Fa.rs%3A7"));
        let form = read_form(&p);
        assert_eq!(form.context, ["k=v", "j=2"]);
        let again = read_form(&Params::parse(Some(&encode(form_pairs(&form)))));
        assert_eq!(form_pairs(&again), form_pairs(&form));
        let f = to_filter(&form, NOW, Viewer::utc()).unwrap();
        assert_eq!(f.levels, [Level::Error, Level::Warn]);
        assert_eq!(f.fields.len(), 2);
        assert_eq!(f.site, Some(SiteMatch { file: "src/a.rs".into(), line: Some(7) }));
    }

    /// The minimum's select and the level boxes send one `level` list: the
    /// select a level (a minimum), each box a list of one (`warn,`), so one
    /// box alone is exactly its level and several exactly those; applying
    /// the form again keeps what it shows.
    #[test]
    fn the_level_controls_are_one_list() {
        let read = |q: &str| to_filter(&read_form(&Params::parse(Some(q))), NOW, Viewer::utc()).unwrap();
        assert_eq!((read("level=warn").min_level, read("level=warn").levels), (Some(Level::Warn), vec![]));
        assert_eq!(
            (read("level=&level=warn,").min_level, read("level=&level=warn,").levels),
            (None, vec![Level::Warn])
        );
        assert_eq!(read("level=&level=error,&level=info,").levels, [Level::Error, Level::Info]);
        let one = read_form(&Params::parse(Some("level=&level=warn,")));
        assert_eq!(form_pairs(&one), [("level", "warn,".to_owned())]);
        let html = filter_form(&Base(String::new()), "/records", &one, Viewer::utc(), None).into_string();
        assert!(!html.contains("selected>"), "no minimum: {html}");
        assert!(html.contains("name=\"level\" value=\"warn,\" checked"), "{html}");
        assert!(!html.contains("name=\"level\" value=\"error,\" checked"), "{html}");
        // What the boxes show, sent again, is the same filter.
        let again = read("level=&level=warn,");
        assert_eq!((again.min_level, again.levels), (None, vec![Level::Warn]));
    }

    /// The form reads the same level words, time forms and text filter as the command line.
    #[test]
    fn the_grammar_is_the_command_lines() {
        let p = Params::parse(Some("level=warning&text=Payment&since=90d"));
        let form = read_form(&p);
        let f = to_filter(&form, NOW, Viewer::utc()).unwrap();
        assert_eq!(f.min_level, Some(Level::Warn));
        let only = to_filter(&read_form(&Params::parse(Some("level=warning&level=WARNING"))), NOW, Viewer::utc());
        assert_eq!(only.unwrap().levels, [Level::Warn]);
        assert_eq!(f.text.as_deref(), Some("Payment"));
        assert_eq!(f.since, Some(Timestamp(NOW.0 - 90 * log_panel_query::DAY)));
        assert!(form_pairs(&form).contains(&("text", "Payment".to_owned())));
        let list = to_filter(&read_form(&Params::parse(Some("level=error,info"))), NOW, Viewer::utc()).unwrap();
        assert_eq!((list.min_level, list.levels), (None, vec![Level::Error, Level::Info]));
    }
}
