//! Numeric comparisons on a context key (`status >= 500`, `latency_ms > 250`).

use std::fmt;

use super::{FieldMatch, StoreError};

/// How a stored number compares with a [`FieldRange`]'s bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RangeOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl RangeOp {
    /// Whether `stored op bound` holds.
    pub fn holds(self, stored: f64, bound: f64) -> bool {
        match self {
            RangeOp::Lt => stored < bound,
            RangeOp::Le => stored <= bound,
            RangeOp::Gt => stored > bound,
            RangeOp::Ge => stored >= bound,
        }
    }

    /// The operator as written in a query and in SQL.
    pub fn symbol(self) -> &'static str {
        match self {
            RangeOp::Lt => "<",
            RangeOp::Le => "<=",
            RangeOp::Gt => ">",
            RangeOp::Ge => ">=",
        }
    }
}

/// One `key op number` condition on a record's stored fields: it keeps a
/// record whose top-level `key` holds a JSON **number** (integer or float)
/// that compares so with `bound`. A string that reads as a number, a
/// boolean or a missing key never matches: a comparison asks about numbers,
/// and `"500"` logged as text is not one.
///
/// ```
/// use log_panel_query::{FieldRange, RangeOp};
/// let r = FieldRange::new("status", RangeOp::Ge, 500.0)?;
/// assert!(r.matches(&serde_json::json!(503)) && !r.matches(&serde_json::json!("503")));
/// # Ok::<(), log_panel_query::StoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRange {
    /// The top-level key.
    pub key: String,
    /// The comparison.
    pub op: RangeOp,
    /// The number compared with (finite).
    pub bound: f64,
}

impl FieldRange {
    /// A condition `key op bound`: the key as [`FieldMatch::new`] wants it,
    /// the bound finite.
    pub fn new(key: impl Into<String>, op: RangeOp, bound: f64) -> Result<FieldRange, StoreError> {
        let key = key.into();
        FieldMatch::check_key(&key)?;
        if !bound.is_finite() {
            return Err(StoreError::bad_filter(format!(
                "`{key} {} {bound}`: the bound must be a finite number",
                op.symbol()
            )));
        }
        Ok(FieldRange { key, op, bound })
    }

    /// Whether a stored JSON value satisfies the comparison.
    pub fn matches(&self, stored: &serde_json::Value) -> bool {
        stored.as_f64().is_some_and(|n| self.op.holds(n, self.bound))
    }
}

impl fmt::Display for FieldRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.key, self.op.symbol(), self.bound)
    }
}
