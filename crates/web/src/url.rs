//! The URL as the whole state of a view: the query string in, links out.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use log_panel_core::Timestamp;
use log_panel_query::{Cursor, PageAt};
use time::format_description::well_known::Rfc3339;

use time::OffsetDateTime;

/// The query string as ordered pairs, so repeated keys (`level`, `context`) keep every value.
///
/// It notes the keys a page asks for, so the page can say which of the
/// URL's parameters it ignored ([`Params::ignored`]): a misspelt `ctx=`
/// would otherwise give an unfiltered page without a word. Clones share the
/// notes, so the frame drawn after the body sees what the body read.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
    asked: Arc<Mutex<BTreeSet<String>>>,
}

impl Params {
    pub(crate) fn parse(query: Option<&str>) -> Params {
        let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect();
        Params { pairs, asked: Arc::default() }
    }

    /// The first value of `key`, trimmed, when not empty.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.ask(key);
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
    }

    /// Every value of `key`.
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.ask(key);
        self.pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The URL's keys no one asked for so far, once each, in the URL's order.
    pub(crate) fn ignored(&self) -> Vec<String> {
        let asked = self.asked.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<String> = Vec::new();
        for (k, _) in &self.pairs {
            if !asked.contains(k) && !out.contains(k) {
                out.push(k.clone());
            }
        }
        out
    }

    /// Counts every key of the URL as asked for, for a page that stopped
    /// before reading them all (an error page).
    pub(crate) fn ask_all(&self) {
        for (k, _) in &self.pairs {
            self.ask(k);
        }
    }

    fn ask(&self, key: &str) {
        let mut asked = self.asked.lock().unwrap_or_else(PoisonError::into_inner);
        if !asked.contains(key) {
            asked.insert(key.to_owned());
        }
    }
}

/// The earliest and the latest time a URL can name (four-digit years):
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
pub(crate) const EARLIEST: i64 = -62_167_219_200_000_000;
pub(crate) const LATEST: i64 = 253_402_300_800_000_000 - 1;

/// RFC 3339 in UTC to the second when that is exact (`2026-12-01T10:00:00Z`), for URLs.
pub(crate) fn url_time(ts: Timestamp) -> String {
    if ts.0 % 1_000_000 == 0 {
        if let Some(s) = to_datetime(ts).and_then(|t| t.format(&Rfc3339).ok()) {
            return s;
        }
    }
    ts.to_rfc3339()
}

/// A query string from pairs (`a=1&b=x%20y`), empty when there are none.
pub(crate) fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k.as_ref(), v.as_ref());
    }
    s.finish()
}

/// `path?query`, or `path` alone.
pub(crate) fn href(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// Which page a records listing shows: `older=` / `newer=` cursors.
pub(crate) fn page_at(p: &Params) -> Result<PageAt, String> {
    if let Some(c) = p.get("older") {
        return c.parse::<Cursor>().map(PageAt::Older).map_err(|e| e.to_string());
    }
    if let Some(c) = p.get("newer") {
        return c.parse::<Cursor>().map(PageAt::Newer).map_err(|e| e.to_string());
    }
    Ok(PageAt::Newest)
}

/// A bounded positive number from `key`, else `default`.
pub(crate) fn number(p: &Params, key: &str, default: usize, max: usize) -> Result<usize, String> {
    match p.get(key) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!("{key} `{v}`: expected a number from 1 to {max}")),
        },
    }
}

pub(crate) fn to_datetime(ts: Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts.0) * 1_000).ok()
}
