//! Field statistics on the records page (Kibana's field sidebar, Grafana's
//! label browser): with `?fields=on`, the context keys of the filter's
//! newest records with the share of records having each; with `?field=KEY`,
//! that key's top values with their counts and shares, each one click from
//! being added to the filter.
//!
//! Counted over the newest matches only ([`KEYS_SAMPLE`] for the keys,
//! [`VALUES_SAMPLE`] for the values), and the panel says so when the sample
//! cut the count; nothing is read unless asked for, so the records page
//! costs what it did without it.

use log_panel_query::{
    FieldKeys, FieldMatch, FieldValue, FieldValues, RecordFilter, StoreErrorKind, FIELD_SAMPLE_ROWS,
};
use log_panel_query::{Store, StoreError};
use maud::{html, Markup};

use super::split::{short, value_link, SHOWN_CHARS, TITLE_CHARS};
use crate::html::{count, counted, Base, Shown};
use crate::url::{encode, Params};

/// Records whose keys are listed: the newest this many matches.
pub(crate) const KEYS_SAMPLE: usize = 10_000;
/// Records whose values of one key are counted: the newest this many matches.
pub(crate) const VALUES_SAMPLE: usize = FIELD_SAMPLE_ROWS;
/// Keys listed at most.
const TOP_KEYS: usize = 40;
/// Values listed at most.
const TOP_VALUES: usize = 20;

/// What the URL asks for: nothing, the keys, or the keys and one key's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ask {
    /// No field statistics (the default).
    Nothing,
    /// The keys (`fields=on`).
    Keys,
    /// The keys and this key's values (`field=KEY`).
    Values(String),
}

impl Ask {
    /// From `field=` and `fields=`; a bad key is the message of a 400.
    pub(crate) fn from_params(params: &Params) -> Result<Ask, String> {
        if let Some(k) = params.get("field") {
            return FieldMatch::new(k, FieldValue::Text(String::new()))
                .map(|m| Ask::Values(m.key))
                .map_err(|e| format!("field statistics: {e}"));
        }
        Ok(if params.get("fields").is_some() { Ask::Keys } else { Ask::Nothing })
    }

    /// The parameters that ask for it again, for links.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        match self {
            Ask::Nothing => Vec::new(),
            Ask::Keys => vec![("fields", "on".to_owned())],
            Ask::Values(k) => vec![("field", k.clone())],
        }
    }
}

/// What was read: each part, or the reason it could not be (a read past
/// the time budget leaves the page and says so in the panel).
pub(crate) struct Read {
    keys: Result<FieldKeys, String>,
    values: Option<(String, Result<FieldValues, String>)>,
}

/// A read over its time budget becomes the panel's message; any other
/// failure is the page's.
fn soft<T>(r: Result<T, StoreError>) -> Result<Result<T, String>, StoreError> {
    match r {
        Ok(x) => Ok(Ok(x)),
        Err(e) if e.kind() == StoreErrorKind::TimedOut => Ok(Err(e.to_string())),
        Err(e) => Err(e),
    }
}

/// Reads what `ask` asks for, with `filter`.
pub(crate) fn read(store: &dyn Store, filter: &RecordFilter, ask: &Ask) -> Result<Option<Read>, StoreError> {
    if *ask == Ask::Nothing {
        return Ok(None);
    }
    let keys = soft(store.field_keys(filter, TOP_KEYS, KEYS_SAMPLE))?;
    let values = match ask {
        Ask::Values(k) => Some((k.clone(), soft(store.field_values(filter, k, TOP_VALUES, VALUES_SAMPLE))?)),
        _ => None,
    };
    Ok(Some(Read { keys, values }))
}

/// `n` of `of` as a percentage with one decimal (`0.0` when `of` is 0).
fn share(n: u64, of: u64) -> String {
    if of == 0 {
        return "0.0".to_owned();
    }
    format!("{:.1}", n as f64 * 100.0 / of as f64)
}

/// The width class of a share bar, in steps of 5 % (`w0` … `w20`): the
/// Content-Security-Policy forbids inline styles.
fn bar_class(n: u64, of: u64) -> String {
    let steps = if of == 0 { 0 } else { (n * 20).div_ceil(of).min(20) };
    format!("w{steps}")
}

/// "the newest N matches" or "all N matches".
fn over(read: u64, sampled: bool) -> String {
    if sampled {
        format!("from the newest {} matches", count(read))
    } else {
        format!("from all {} matching", counted(read, "record"))
    }
}

/// The "Field statistics" link when nothing is asked, else the panel:
/// `keep` is the page's filter (and chart) without the field parameters.
pub(crate) fn panel(base: &Base, keep: &[(&'static str, String)], ask: &Ask, read: Option<&Read>) -> Markup {
    let with = |extra: Vec<(&'static str, String)>| {
        let mut pairs = keep.to_vec();
        pairs.extend(extra);
        base.link("/records", &encode(pairs))
    };
    let Some(read) = read else {
        return html! { p.fields-open { a href=(with(Ask::Keys.pairs())) { "Field statistics" } " — the context keys of these records and their top values" } };
    };
    let chosen = match ask {
        Ask::Values(k) => Some(k.as_str()),
        _ => None,
    };
    html! {
        section.fields aria-label="Field statistics" {
            header {
                h2 { "Field statistics" }
                a href=(with(Vec::new())) { "Close" }
            }
            @match &read.keys {
                Err(e) => { p { strong { "Keys not available: " } (Shown(e)) } }
                Ok(keys) if keys.keys.is_empty() => { p.muted { "No context key " (over(keys.read, keys.sampled)) "." } }
                Ok(keys) => {
                    p.muted.over data-read=(keys.read) data-sampled=(keys.sampled) {
                        "Keys " (over(keys.read, keys.sampled))
                        @if keys.distinct > keys.keys.len() { " (the " (keys.keys.len()) " most frequent of " (count(keys.distinct as u64)) ")" }
                        ":"
                    }
                    ul.keys {
                        @for k in &keys.keys {
                            li class=@if chosen == Some(k.value.as_str()) { "on" } data-key=(Shown(&k.value)) data-count=(k.count) {
                                // A key no filter can name (over 128 bytes, control characters) is not a link.
                                @if FieldMatch::new(k.value.as_str(), FieldValue::Text(String::new())).is_ok() {
                                    a href=(with(Ask::Values(k.value.clone()).pairs())) title={ (Shown(&short(&k.value, TITLE_CHARS))) ": in " (count(k.count)) " of " (count(keys.read)) " records" } {
                                        code { (Shown(&short(&k.value, SHOWN_CHARS))) }
                                    }
                                } @else {
                                    code title=(Shown(&short(&k.value, TITLE_CHARS))) { (Shown(&short(&k.value, SHOWN_CHARS))) }
                                }
                                " " span.muted { (share(k.count, keys.read)) " %" }
                            }
                        }
                    }
                }
            }
            @if let Some((key, values)) = &read.values {
                (values_table(keep, base, key, values))
            }
        }
    }
}

/// One key's top values: count, share of the records read, and the link
/// adding `key=value` to the filter.
fn values_table(
    keep: &[(&'static str, String)],
    base: &Base,
    key: &str,
    values: &Result<FieldValues, String>,
) -> Markup {
    let values = match values {
        Ok(v) => v,
        Err(e) => return html! { p { strong { "Values of " code { (Shown(key)) } " not available: " } (Shown(e)) } },
    };
    // The value links keep the panel open on the same key.
    let mut keep_open = keep.to_vec();
    keep_open.push(("field", key.to_owned()));
    html! {
        h3 { "Top values of " code { (Shown(key)) } }
        p.muted.over data-read=(values.read) data-with-key=(values.with_key) data-distinct=(values.distinct) data-sampled=(values.sampled) {
            (over(values.read, values.sampled)) ": "
            (counted(values.with_key, "record")) " with the key (" (share(values.with_key, values.read)) " %), "
            (count(values.distinct as u64)) " distinct values"
        }
        @if values.values.is_empty() {
            p.muted { "No record read has this key." }
        } @else {
            table.field-values {
                thead { tr { th { "Value" } th.n { "Records" } th.n { "Share" } th { "" } } }
                tbody {
                    @for v in &values.values {
                        tr data-value=(Shown(&v.value)) data-count=(v.count) {
                            td.v title=(Shown(&short(&v.value, TITLE_CHARS))) { code { (Shown(&short(&v.value, SHOWN_CHARS))) } }
                            td.n { (count(v.count)) }
                            td.share {
                                span class={ "sharebar " (bar_class(v.count, values.read)) } {}
                                " " (share(v.count, values.read)) " %"
                            }
                            td.act {
                                @match value_link(base, &keep_open, key, &v.value) {
                                    Some(href) => { a href=(href) title={ "Only records with " (Shown(key)) " = " (Shown(&short(&v.value, TITLE_CHARS))) } { "+ filter" } }
                                    None => { span.muted title="Too long, several lines or a key with `=`: filter from a record's page" { "—" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
