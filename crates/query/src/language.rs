//! The query language of the CLI and the web panel: one text, parsed once
//! into a [`RecordFilter`].
//!
//! ```text
//! tenant:acme status>=500 -logger:api::health
//! "connection reset" OR timeout
//! level>=warn (app:shop OR app:billing) -"health check"
//! ```
//!
//! Grammar (docs/query.md has the long form):
//!
//! ```text
//! query  := or?                     -- empty: no condition
//! or     := and ("OR" and)*
//! and    := unary (["AND"] unary)*  -- juxtaposition is AND
//! unary  := ("NOT" | "-") unary | "(" or ")" | term
//! term   := text | key (":" | "=") text | key ("<" | "<=" | ">" | ">=") text
//! text   := word | "quoted phrase"  -- `\` escapes the next character
//! ```
//!
//! Precedence: NOT binds tightest, then AND, then OR (`a b OR c` is
//! `(a AND b) OR c`). `OR`, `AND` and `NOT` are keywords only in capitals.
//!
//! A query that is an AND of conditions folds into the plain fields of the
//! filter (so the stores' index plans apply unchanged); only what needs OR or
//! NOT — or a second condition on a field that holds one — goes to
//! [`RecordFilter::query`], an [`Expr`] ANDed with the rest, whose leaves are
//! one-condition filters.

use std::fmt;

use super::{
    FieldMatch, FieldRange, FieldValue, LoggerMatch, RangeOp, RecordFilter, SiteMatch, StoreError, StoredRecord,
};
use log_panel_core::{parse_level, Level, LEVELS};

/// The longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = RecordFilter::MAX_VALUE_BYTES;
/// The deepest nesting of parentheses and negations in a query.
pub const MAX_DEPTH: usize = 16;
/// The most terms (words, phrases, `field:value` conditions) in a query.
pub const MAX_TERMS: usize = 64;

/// A condition that needs OR or NOT: the part of a query that does not fold
/// into the plain fields of a [`RecordFilter`].
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A filter holding exactly one condition.
    Leaf(Box<RecordFilter>),
    /// Every one holds.
    And(Vec<Expr>),
    /// At least one holds.
    Or(Vec<Expr>),
    /// It does not hold.
    Not(Box<Expr>),
}

impl Expr {
    /// Whether `r` satisfies the expression (the reference semantics).
    pub fn keeps(&self, r: &StoredRecord) -> bool {
        match self {
            Expr::Leaf(f) => f.keeps(r),
            Expr::And(v) => v.iter().all(|e| e.keeps(r)),
            Expr::Or(v) => v.iter().any(|e| e.keeps(r)),
            Expr::Not(e) => !e.keeps(r),
        }
    }

    /// The nesting depth (a leaf is 1) and the number of leaves, counted
    /// without recursion so a deep expression built by hand cannot overflow the stack.
    pub fn size(&self) -> (usize, usize) {
        let (mut depth, mut leaves) = (0, 0);
        let mut stack = vec![(self, 1)];
        while let Some((e, d)) = stack.pop() {
            depth = depth.max(d);
            match e {
                Expr::Leaf(_) => leaves += 1,
                Expr::And(v) | Expr::Or(v) => stack.extend(v.iter().map(|c| (c, d + 1))),
                Expr::Not(c) => stack.push((c, d + 1)),
            }
        }
        (depth, leaves)
    }

    /// Every leaf, in order.
    pub fn leaves(&self) -> Vec<&RecordFilter> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::Leaf(f) => out.push(&**f),
                Expr::And(v) | Expr::Or(v) => stack.extend(v.iter().rev()),
                Expr::Not(c) => stack.push(c),
            }
        }
        out
    }

    /// The parts of the expression that no index of any store narrows, as
    /// query text: each negation (`-logger:api::health`: the records the rest
    /// selects are each checked), and each OR with an arm no index serves
    /// (an index can answer an OR only when it answers every arm).
    pub fn unindexed(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_unindexed(&mut out);
        out
    }

    fn collect_unindexed(&self, out: &mut Vec<String>) {
        match self {
            Expr::Leaf(_) => {}
            Expr::Not(_) => out.push(self.to_string()),
            Expr::And(v) => v.iter().for_each(|e| e.collect_unindexed(out)),
            Expr::Or(v) => {
                if v.iter().all(Expr::is_indexed) {
                    v.iter().for_each(|e| e.collect_unindexed(out));
                } else {
                    out.push(self.to_string());
                }
            }
        }
    }

    /// Whether an index narrows the records this expression keeps: a leaf
    /// on the logger, the message, a context value or the time; an AND with
    /// such a part; an OR whose every arm is one.
    fn is_indexed(&self) -> bool {
        match self {
            Expr::Leaf(f) => {
                f.logger.is_some() || f.text.is_some() || !f.fields.is_empty() || f.since.is_some() || f.until.is_some()
            }
            Expr::And(v) => v.iter().any(Expr::is_indexed),
            Expr::Or(v) => v.iter().all(Expr::is_indexed),
            Expr::Not(_) => false,
        }
    }

    /// The expression as one SQL condition, for storage crates: `leaf` writes
    /// the condition of a one-condition filter (binding its values), `false_sql`
    /// is the dialect's false. A leaf that cannot match (a NUL in its text,
    /// see [`RecordFilter::check`]) is `false_sql` without asking `leaf`; NOT
    /// treats a NULL (a condition on a missing key or file) as false, as
    /// [`Expr::keeps`] does.
    pub fn to_sql(&self, leaf: &mut dyn FnMut(&RecordFilter) -> String, false_sql: &str) -> String {
        let join = |v: &[Expr], op: &str, leaf: &mut dyn FnMut(&RecordFilter) -> String| {
            let parts: Vec<String> = v.iter().map(|e| e.to_sql(leaf, false_sql)).collect();
            format!("({})", parts.join(op))
        };
        match self {
            Expr::Leaf(f) if matches!(f.check(), Ok(true)) => format!("({})", leaf(f)),
            Expr::Leaf(_) => false_sql.to_owned(),
            Expr::And(v) => join(v, " AND ", leaf),
            Expr::Or(v) => join(v, " OR ", leaf),
            Expr::Not(e) => format!("NOT coalesce({}, {false_sql})", e.to_sql(leaf, false_sql)),
        }
    }

    fn fmt_in(&self, f: &mut fmt::Formatter<'_>, parent_binds: u8) -> fmt::Result {
        // 1 = OR, 2 = AND, 3 = NOT: a child binding looser than its parent is parenthesised.
        let (binds, sep) = match self {
            Expr::Leaf(l) => return f.write_str(&leaf_text(l)),
            Expr::Not(e) => {
                f.write_str("-")?;
                return e.fmt_in(f, 3);
            }
            Expr::Or(_) => (1, " OR "),
            Expr::And(_) => (2, " "),
        };
        let (Expr::Or(v) | Expr::And(v)) = self else { return Ok(()) };
        let paren = binds <= parent_binds;
        if paren {
            f.write_str("(")?;
        }
        for (i, e) in v.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            e.fmt_in(f, binds)?;
        }
        if paren {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// The expression as query text that parses back to it.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_in(f, 0)
    }
}

/// `text` quoted when the language needs it.
fn quoted(text: &str) -> String {
    let plain = !text.is_empty()
        && !text.starts_with('-')
        && !matches!(text, "OR" | "AND" | "NOT")
        && !text.chars().any(|c| c.is_whitespace() || "()\"\\:=<>".contains(c));
    if plain {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A value after `key:`: like [`quoted`], but `:` may stay bare (`api::http`).
fn quoted_value(text: &str) -> String {
    let plain =
        !text.is_empty() && !text.starts_with('"') && !text.chars().any(|c| c.is_whitespace() || "()\"\\".contains(c));
    if plain {
        text.to_owned()
    } else {
        quoted(text)
    }
}

/// The query text of a one-condition filter (the conditions ANDed when it holds more).
fn leaf_text(f: &RecordFilter) -> String {
    let mut parts = Vec::new();
    if let Some(l) = &f.logger {
        let name = match l {
            LoggerMatch::Exact(n) => n.clone(),
            LoggerMatch::Tree(n) => format!("{n}::"),
        };
        parts.push(format!("logger:{}", quoted_value(&name)));
    }
    if let Some(l) = f.min_level {
        parts.push(format!("level>={}", log_panel_core::level_name(l)));
    }
    if !f.levels.is_empty() {
        let names: Vec<String> = f.levels.iter().map(|l| format!("level:{}", log_panel_core::level_name(*l))).collect();
        parts.push(if names.len() == 1 { names.concat() } else { format!("({})", names.join(" OR ")) });
    }
    if let Some(t) = f.since {
        parts.push(format!("since:{}", t.to_rfc3339()));
    }
    if let Some(t) = f.until {
        parts.push(format!("until:{}", t.to_rfc3339()));
    }
    for (k, v) in [("app", &f.app), ("host", &f.host)] {
        if let Some(v) = v {
            parts.push(format!("{k}:{}", quoted_value(v)));
        }
    }
    if let Some(p) = f.pid {
        parts.push(format!("pid:{p}"));
    }
    if let Some(t) = &f.text {
        parts.push(quoted(t));
    }
    for m in &f.fields {
        parts.push(format!("{}:{}", context_key_text(&m.key), quoted_value(&m.value.to_string())));
    }
    for r in &f.ranges {
        parts.push(format!("{}{}{}", context_key_text(&r.key), r.op.symbol(), r.bound));
    }
    if let Some(s) = &f.site {
        parts.push(format!("file:{}", quoted_value(&s.to_string())));
    }
    parts.join(" ")
}

/// A context key as written in a query: `ctx.` before a built-in name.
fn context_key_text(key: &str) -> String {
    if BUILT_IN.contains(&key.to_ascii_lowercase().as_str()) || key.starts_with("ctx.") {
        format!("ctx.{}", quoted(key))
    } else {
        quoted(key)
    }
}

/// The field names the language reserves; a context key of the same name is `ctx.<name>`.
const BUILT_IN: [&str; 8] = ["level", "logger", "app", "host", "pid", "file", "message", "msg"];

/// A query that does not parse: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct QueryError {
    /// The column of the mistake, counted in characters from 1.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

impl From<QueryError> for StoreError {
    fn from(e: QueryError) -> StoreError {
        StoreError::bad_filter(format!("query: {e}"))
    }
}

/// Parses `text` into a filter (an empty query keeps everything).
///
/// ```
/// use log_panel_query::{parse_query, LoggerMatch};
/// let f = parse_query("logger:api:: status>=500 -timeout")?;
/// assert_eq!(f.logger, Some(LoggerMatch::Tree("api".into())));
/// assert_eq!(f.ranges.len(), 1);
/// assert_eq!(f.query.as_ref().map(ToString::to_string).as_deref(), Some("-timeout"));
/// let e = parse_query("a (b OR c").unwrap_err();
/// assert_eq!(e.column, 10);
/// # Ok::<(), log_panel_query::QueryError>(())
/// ```
pub fn parse_query(text: &str) -> Result<RecordFilter, QueryError> {
    let mut f = RecordFilter::default();
    f.and_query(text)?;
    Ok(f)
}

impl RecordFilter {
    /// Parses `text` and ANDs it with this filter: conditions whose field is
    /// still free fold into it, the rest joins [`query`](RecordFilter::query).
    pub fn and_query(&mut self, text: &str) -> Result<(), QueryError> {
        if let Some(e) = Parser::parse(text)? {
            self.and_expr(e);
        }
        Ok(())
    }

    /// ANDs `e` with this filter, folding its top-level conditions in where
    /// their field is free.
    pub fn and_expr(&mut self, e: Expr) {
        let mut rest: Vec<Expr> = match self.query.take() {
            Some(Expr::And(v)) => v,
            Some(e) => vec![e],
            None => Vec::new(),
        };
        let conjuncts = match e {
            Expr::And(v) => v,
            e => vec![e],
        };
        for c in conjuncts {
            match c {
                Expr::Leaf(l) if self.absorb(&l) => {}
                c => rest.push(c),
            }
        }
        self.query = match rest.len() {
            0 => None,
            1 => rest.pop(),
            _ => Some(Expr::And(rest)),
        };
    }

    /// Moves the one condition of `leaf` into this filter when its field is
    /// free (context conditions always are): `false` leaves both unchanged.
    fn absorb(&mut self, leaf: &RecordFilter) -> bool {
        let busy = (leaf.logger.is_some() && self.logger.is_some())
            || (leaf.min_level.is_some() && self.min_level.is_some())
            || (!leaf.levels.is_empty() && !self.levels.is_empty())
            || (leaf.since.is_some() && self.since.is_some())
            || (leaf.until.is_some() && self.until.is_some())
            || (leaf.app.is_some() && self.app.is_some())
            || (leaf.host.is_some() && self.host.is_some())
            || (leaf.pid.is_some() && self.pid.is_some())
            || (leaf.text.is_some() && self.text.is_some())
            || (leaf.site.is_some() && self.site.is_some())
            || leaf.query.is_some();
        if busy {
            return false;
        }
        let l = leaf.clone();
        self.logger = self.logger.take().or(l.logger);
        self.min_level = self.min_level.or(l.min_level);
        self.levels.extend(l.levels);
        self.since = self.since.or(l.since);
        self.until = self.until.or(l.until);
        self.app = self.app.take().or(l.app);
        self.host = self.host.take().or(l.host);
        self.pid = self.pid.or(l.pid);
        self.text = self.text.take().or(l.text);
        self.fields.extend(l.fields);
        self.ranges.extend(l.ranges);
        self.site = self.site.take().or(l.site);
        true
    }

    /// The parts of the filter no index narrows, as query text; empty when
    /// every part is indexed. The CLI prints them on stderr, the web panel
    /// above the rows. They are the [`query`](RecordFilter::query)'s (see
    /// [`Expr::unindexed`]) and, when nothing else in the filter is served
    /// by an index, its app, host, pid, thread and call-site conditions:
    /// `--app shop` alone is a walk of the newest records until a page
    /// fills, which the user is told rather than left to wait on.
    pub fn unindexed(&self) -> Vec<String> {
        let mut parts = self.query.as_ref().map(Expr::unindexed).unwrap_or_default();
        if !self.is_narrowed_by_an_index() {
            let alone = RecordFilter {
                app: self.app.clone(),
                host: self.host.clone(),
                pid: self.pid,
                site: self.site.clone(),
                ..RecordFilter::default()
            };
            let text = leaf_text(&alone);
            if !text.is_empty() {
                parts.push(text);
            }
            if let Some(thread) = &self.thread {
                parts.push(format!("thread {}", quoted(thread)));
            }
        }
        parts
    }

    /// Whether an index narrows the records this filter keeps: its logger,
    /// message text, a context value or range, its time, a level of WARN and
    /// above (the partial indexes), or an indexed query.
    fn is_narrowed_by_an_index(&self) -> bool {
        let warn_and_above = |l: &Level| *l <= Level::Warn;
        self.logger.is_some()
            || self.text.is_some()
            || !self.fields.is_empty()
            || !self.ranges.is_empty()
            || self.since.is_some()
            || self.until.is_some()
            || self.min_level.as_ref().is_some_and(warn_and_above)
            || (!self.levels.is_empty() && self.levels.iter().all(warn_and_above))
            || self.query.as_ref().is_some_and(Expr::is_indexed)
    }

    /// The query's caps ([`MAX_DEPTH`], [`MAX_TERMS`]) and each leaf's own
    /// check; `Ok(n)` is the number of context conditions the leaves hold.
    pub(crate) fn check_query(&self) -> Result<usize, StoreError> {
        let Some(q) = &self.query else { return Ok(0) };
        let (depth, leaves) = q.size();
        if depth > 4 * MAX_DEPTH || leaves > MAX_TERMS {
            return Err(StoreError::bad_filter(format!(
                "query: {leaves} terms nested {depth} deep; a query holds at most {MAX_TERMS} terms and {} levels",
                4 * MAX_DEPTH
            )));
        }
        let mut fields = 0;
        for leaf in q.leaves() {
            leaf.check()?;
            fields += leaf.fields.len() + leaf.ranges.len();
        }
        Ok(fields)
    }
}

/// One token of a query, with the column it starts at.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Not,
    And,
    Or,
    Term(Box<RecordFilter>),
    End,
}

/// A query's characters, with their columns.
struct Lexer {
    chars: Vec<char>,
    at: usize,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek2(&self) -> Option<char> {
        self.chars.get(self.at + 1).copied()
    }

    fn error<T>(column: usize, message: impl Into<String>) -> Result<T, QueryError> {
        Err(QueryError { column, message: message.into() })
    }

    /// Whether `c` ends a bare word.
    fn ends_word(c: char) -> bool {
        c.is_whitespace() || c == '(' || c == ')'
    }

    /// A `"…"` string from the opening quote (at `self.at`).
    fn quoted(&mut self) -> Result<String, QueryError> {
        let open = self.at + 1;
        self.at += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Self::error(open, "this quote is never closed (add a `\"`)"),
                Some('"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some('\\') => match self.peek2() {
                    Some(c) => {
                        out.push(c);
                        self.at += 2;
                    }
                    None => return Self::error(self.at + 1, "`\\` at the end of the query escapes nothing"),
                },
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
    }

    /// A bare run of characters up to one `stop` says ends it; `\` escapes the next one.
    fn bare(&mut self, stop: impl Fn(char) -> bool) -> Result<String, QueryError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                match self.peek2() {
                    Some(n) => {
                        out.push(n);
                        self.at += 2;
                        continue;
                    }
                    None => return Self::error(self.at + 1, "`\\` at the end of the query escapes nothing"),
                }
            }
            if stop(c) {
                break;
            }
            out.push(c);
            self.at += 1;
        }
        Ok(out)
    }

    /// The next token and its column.
    fn next(&mut self) -> Result<(Token, usize), QueryError> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
        let column = self.at + 1;
        let Some(c) = self.peek() else { return Ok((Token::End, column)) };
        match c {
            '(' => {
                self.at += 1;
                return Ok((Token::Open, column));
            }
            ')' => {
                self.at += 1;
                return Ok((Token::Close, column));
            }
            '-' => {
                self.at += 1;
                return match self.peek() {
                    Some(n) if !n.is_whitespace() && n != ')' => Ok((Token::Not, column)),
                    _ => {
                        Self::error(column, "`-` must stand right before the term it negates (write `\\-` for a dash)")
                    }
                };
            }
            _ => {}
        }
        let quoted_first = c == '"';
        let first = if quoted_first {
            self.quoted()?
        } else {
            self.bare(|c| Self::ends_word(c) || matches!(c, ':' | '=' | '<' | '>'))?
        };
        let raw = &self.chars[column - 1..self.at];
        if !quoted_first && !raw.contains(&'\\') && self.peek().is_none_or(Self::ends_word) {
            match first.as_str() {
                "OR" => return Ok((Token::Or, column)),
                "AND" => return Ok((Token::And, column)),
                "NOT" => return Ok((Token::Not, column)),
                _ => {}
            }
        }
        let op = match (self.peek(), self.peek2()) {
            (Some(':' | '='), _) => Some((None, 1)),
            (Some('>'), Some('=')) => Some((Some(RangeOp::Ge), 2)),
            (Some('<'), Some('=')) => Some((Some(RangeOp::Le), 2)),
            (Some('>'), _) => Some((Some(RangeOp::Gt), 1)),
            (Some('<'), _) => Some((Some(RangeOp::Lt), 1)),
            _ => None,
        };
        let term = match op {
            None => {
                if first.is_empty() {
                    return Self::error(column, "an empty phrase matches everything; remove it");
                }
                RecordFilter { text: Some(first), ..RecordFilter::default() }
            }
            Some((op, len)) => {
                let sign: String = self.chars[self.at..self.at + len].iter().collect();
                self.at += len;
                let value_column = self.at + 1;
                let quoted_value = self.peek() == Some('"');
                let value = if quoted_value { self.quoted()? } else { self.bare(Self::ends_word)? };
                let mut f = RecordFilter::default();
                if first.is_empty() || (value.is_empty() && !quoted_value) {
                    // Nothing on one side: not a condition but text (`<br>`, `error:`).
                    f.text = Some(format!("{first}{sign}{value}"));
                } else {
                    f = field_term(&first, op, value)
                        .map_err(|message| QueryError { column: value_column, message })?;
                }
                f
            }
        };
        if let Some(c) = self.peek().filter(|c| !Self::ends_word(*c)) {
            return Self::error(self.at + 1, format!("expected a space before `{c}`"));
        }
        Ok((Token::Term(Box::new(term)), column))
    }
}

/// The one-condition filter of `key op value`.
fn field_term(key: &str, op: Option<RangeOp>, value: String) -> Result<RecordFilter, String> {
    let mut f = RecordFilter::default();
    let lower = key.to_ascii_lowercase();
    let err = |e: StoreError| e.to_string();
    let only_equal = |name: &str| -> Result<(), String> {
        match op {
            None => Ok(()),
            Some(op) => Err(format!("`{name}` takes `:` only, not `{}`", op.symbol())),
        }
    };
    match lower.as_str() {
        "level" => {
            let level = parse_level(&value)?;
            match op {
                None => f.levels = vec![level],
                Some(RangeOp::Ge) => f.min_level = Some(level),
                Some(op) => {
                    // Severity rises from trace to error; `Level` orders the other way.
                    f.levels = LEVELS.into_iter().filter(|l| op.holds(rank(*l), rank(level))).collect();
                    if f.levels.is_empty() {
                        return Err(format!("`level{}{}` keeps no level", op.symbol(), value));
                    }
                }
            }
        }
        "logger" => {
            only_equal("logger")?;
            f.logger = Some(value.parse::<LoggerMatch>().map_err(err)?);
        }
        "app" | "host" => {
            only_equal(&lower)?;
            if lower == "app" {
                f.app = Some(value);
            } else {
                f.host = Some(value);
            }
        }
        "pid" => {
            only_equal("pid")?;
            f.pid = Some(value.parse().map_err(|_| format!("pid `{value}`: expected a process id"))?);
        }
        "file" => {
            only_equal("file")?;
            f.site = Some(value.parse::<SiteMatch>().map_err(err)?);
        }
        "message" | "msg" => {
            only_equal(&lower)?;
            if value.is_empty() {
                return Err("an empty phrase matches everything; remove it".to_owned());
            }
            f.text = Some(value);
        }
        _ => {
            let key = key.strip_prefix("ctx.").unwrap_or(key);
            match op {
                None => f.fields.push(FieldMatch::new(key, FieldValue::Text(value)).map_err(err)?),
                Some(op) => {
                    let bound = value
                        .parse::<f64>()
                        .ok()
                        .filter(|b| b.is_finite())
                        .ok_or_else(|| format!("`{key}{}` compares numbers; `{value}` is not one", op.symbol()))?;
                    f.ranges.push(FieldRange::new(key, op, bound).map_err(err)?);
                }
            }
        }
    }
    Ok(f)
}

/// A level's severity as a number that rises with it.
fn rank(level: Level) -> f64 {
    f64::from(log_panel_core::severity(level))
}

/// A recursive-descent parser over the tokens, bounded in depth and terms.
struct Parser {
    lexer: Lexer,
    token: (Token, usize),
    terms: usize,
}

impl Parser {
    fn parse(text: &str) -> Result<Option<Expr>, QueryError> {
        if text.len() > MAX_QUERY_BYTES {
            let column = text.char_indices().take_while(|(i, _)| *i < MAX_QUERY_BYTES).count() + 1;
            return Lexer::error(
                column,
                format!("the query is {} bytes long; at most {MAX_QUERY_BYTES} are accepted", text.len()),
            );
        }
        let mut lexer = Lexer { chars: text.chars().collect(), at: 0 };
        let token = lexer.next()?;
        let mut p = Parser { lexer, token, terms: 0 };
        if p.token.0 == Token::End {
            return Ok(None);
        }
        let e = p.or(0)?;
        match p.token {
            (Token::End, _) => Ok(Some(e)),
            (Token::Close, c) => Lexer::error(c, "this `)` closes no `(`"),
            (_, c) => Lexer::error(c, "expected the end of the query"),
        }
    }

    fn advance(&mut self) -> Result<(), QueryError> {
        self.token = self.lexer.next()?;
        Ok(())
    }

    fn or(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut arms = vec![self.and(depth)?];
        while self.token.0 == Token::Or {
            self.advance()?;
            arms.push(self.and(depth)?);
        }
        Ok(if arms.len() == 1 { arms.remove(0) } else { Expr::Or(flatten(arms, true)) })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let mut items = vec![self.unary(depth)?];
        loop {
            match self.token.0 {
                Token::And => {
                    self.advance()?;
                    items.push(self.unary(depth)?);
                }
                Token::Or | Token::Close | Token::End => break,
                _ => items.push(self.unary(depth)?),
            }
        }
        Ok(if items.len() == 1 { items.remove(0) } else { Expr::And(flatten(items, false)) })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, QueryError> {
        let column = self.token.1;
        if depth >= MAX_DEPTH && matches!(self.token.0, Token::Not | Token::Open) {
            return Lexer::error(column, format!("nested more than {MAX_DEPTH} deep (parentheses and negations)"));
        }
        match std::mem::replace(&mut self.token.0, Token::End) {
            Token::Not => {
                self.advance()?;
                Ok(match self.unary(depth + 1)? {
                    Expr::Not(inner) => *inner,
                    e => Expr::Not(Box::new(e)),
                })
            }
            Token::Open => {
                self.advance()?;
                if self.token.0 == Token::Close {
                    return Lexer::error(self.token.1, "empty parentheses");
                }
                let e = self.or(depth + 1)?;
                if self.token.0 != Token::Close {
                    return Lexer::error(self.token.1, format!("expected `)` to close the `(` of column {column}"));
                }
                self.advance()?;
                Ok(e)
            }
            Token::Term(f) => {
                self.terms += 1;
                if self.terms > MAX_TERMS {
                    return Lexer::error(column, format!("more than {MAX_TERMS} terms"));
                }
                self.advance()?;
                Ok(Expr::Leaf(f))
            }
            Token::Close => Lexer::error(column, "expected a term before `)`"),
            Token::And => Lexer::error(column, "expected a term before AND"),
            Token::Or => Lexer::error(column, "expected a term before OR"),
            Token::End => Lexer::error(column, "the query ends where a term was expected"),
        }
    }
}

/// `items` with nested ORs (`or`) or ANDs lifted into it.
fn flatten(items: Vec<Expr>, or: bool) -> Vec<Expr> {
    let mut out = Vec::with_capacity(items.len());
    for e in items {
        match e {
            Expr::Or(v) if or => out.extend(v),
            Expr::And(v) if !or => out.extend(v),
            e => out.push(e),
        }
    }
    out
}

#[cfg(test)]
mod tests;
