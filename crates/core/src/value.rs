//! Typed values for structured key-values and bound context.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use smol_str::SmolStr;

/// A structured value that keeps its type all the way into the stored JSON.
///
/// `log`'s key-values and values bound into the [context](crate::context) both
/// become `Value`s, so `user_id = 7` is stored as the JSON number `7`, not the
/// string `"7"`.
///
/// ```
/// use log_panel_core::Value;
///
/// assert_eq!(Value::from(7), Value::I64(7));
/// assert_eq!(Value::from("bob"), Value::Str("bob".into()));
/// assert_eq!(Value::from(None::<i32>), Value::Null);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// JSON `true` / `false`.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer too large for `i64`, or given as unsigned.
    U64(u64),
    /// A float. Non-finite floats are stored as JSON `null`, as JSON has no NaN.
    F64(f64),
    /// A string: short ones inline, long ones shared (see [`Str`]).
    Str(Str),
}

impl Value {
    /// Converts one of `log`'s key-value values, keeping its type where `log`
    /// exposes it; anything else (a `Display` or `Debug` capture) becomes a string.
    pub fn from_log(value: &log::kv::Value<'_>) -> Value {
        Value::from_log_limited(value, usize::MAX).0
    }

    /// Like [`Value::from_log`], but a string longer than `limit` bytes is
    /// cut at a character boundary and marked with its original size
    /// (`…[cut] (104857600 bytes)`) without ever being copied whole. The flag
    /// says whether it was cut.
    ///
    /// ```
    /// use log_panel_core::Value;
    /// let long = "x".repeat(100);
    /// let (v, cut) = Value::from_log_limited(&log::kv::Value::from(long.as_str()), 8);
    /// assert!(cut);
    /// assert_eq!(v, Value::from("xxxxxxxx…[cut] (100 bytes)"));
    /// ```
    pub fn from_log_limited(value: &log::kv::Value<'_>, limit: usize) -> (Value, bool) {
        // One visit: with the visitor holding a plain `Value`, it costs less
        // than trying casts (`to_i64`, `to_borrowed_str`) first.
        let mut visitor = FromLog { value: Value::Null, seen: false, limit, cut: false };
        if value.visit(&mut visitor).is_err() || !visitor.seen {
            // The visitor never fails; a value `log` refuses to visit is rendered.
            visitor.render(value);
        }
        (visitor.value, visitor.cut)
    }

    /// Approximate heap and inline size, for memory bounds.
    pub fn approx_size(&self) -> usize {
        match self {
            Value::Str(s) => s.len() + 16,
            _ => 16,
        }
    }
}

struct FromLog {
    /// Set once by the visit (`seen`). A plain field rather than an
    /// `Option<Value>`: moving the option through its niche cost ~20 ns per value.
    value: Value,
    seen: bool,
    /// Strings longer than this are cut.
    limit: usize,
    cut: bool,
}

impl FromLog {
    fn set(&mut self, v: Value) {
        self.value = v;
        self.seen = true;
    }

    fn string(&mut self, s: &str) {
        match crate::record::cut(s, self.limit) {
            None => self.set(Value::Str(s.into())),
            Some(c) => {
                self.cut = true;
                self.set(Value::Str(format!("{c} ({} bytes)", s.len()).into()));
            }
        }
    }

    /// Renders a `Display` capture into a bounded buffer, so a huge value is
    /// never formatted whole.
    fn render(&mut self, value: &dyn std::fmt::Display) {
        use std::fmt::Write as _;
        let mut text = crate::record::BoundedText::new(self.limit);
        let _ = write!(text, "{value}");
        match text.finish() {
            (s, None) => self.set(Value::Str(s.into())),
            (s, Some(original)) => {
                self.cut = true;
                self.set(Value::Str(format!("{s} ({original} bytes)").into()));
            }
        }
    }
}

impl<'v> log::kv::VisitValue<'v> for FromLog {
    fn visit_any(&mut self, value: log::kv::Value<'_>) -> Result<(), log::kv::Error> {
        self.render(&value);
        Ok(())
    }
    fn visit_null(&mut self) -> Result<(), log::kv::Error> {
        self.set(Value::Null);
        Ok(())
    }
    fn visit_u64(&mut self, value: u64) -> Result<(), log::kv::Error> {
        self.set(match i64::try_from(value) {
            Ok(v) => Value::I64(v),
            Err(_) => Value::U64(value),
        });
        Ok(())
    }
    fn visit_i64(&mut self, value: i64) -> Result<(), log::kv::Error> {
        self.set(Value::I64(value));
        Ok(())
    }
    fn visit_u128(&mut self, value: u128) -> Result<(), log::kv::Error> {
        self.set(match u64::try_from(value) {
            Ok(v) => FromLog::unsigned(v),
            Err(_) => Value::Str(value.to_string().into()),
        });
        Ok(())
    }
    fn visit_i128(&mut self, value: i128) -> Result<(), log::kv::Error> {
        self.set(match i64::try_from(value) {
            Ok(v) => Value::I64(v),
            Err(_) => Value::Str(value.to_string().into()),
        });
        Ok(())
    }
    fn visit_f64(&mut self, value: f64) -> Result<(), log::kv::Error> {
        self.set(Value::F64(value));
        Ok(())
    }
    fn visit_bool(&mut self, value: bool) -> Result<(), log::kv::Error> {
        self.set(Value::Bool(value));
        Ok(())
    }
    fn visit_str(&mut self, value: &str) -> Result<(), log::kv::Error> {
        self.string(value);
        Ok(())
    }
    fn visit_char(&mut self, value: char) -> Result<(), log::kv::Error> {
        let mut buf = [0u8; 4];
        self.set(Value::Str((&*value.encode_utf8(&mut buf)).into()));
        Ok(())
    }
}

impl FromLog {
    fn unsigned(v: u64) -> Value {
        match i64::try_from(v) {
            Ok(i) => Value::I64(i),
            Err(_) => Value::U64(v),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(i) => write!(f, "{i}"),
            Value::U64(u) => write!(f, "{u}"),
            Value::F64(x) => write!(f, "{x}"),
            Value::Str(s) => f.write_str(s),
        }
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::I64(i) => s.serialize_i64(*i),
            Value::U64(u) => s.serialize_u64(*u),
            Value::F64(x) if x.is_finite() => s.serialize_f64(*x),
            Value::F64(_) => s.serialize_unit(),
            Value::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = serde_json::Value::deserialize(d)?;
        Ok(Value::from_json(json))
    }
}

impl Value {
    /// Converts a JSON value; arrays and objects are kept as their JSON text.
    pub fn from_json(json: serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::I64(i)
                } else if let Some(u) = n.as_u64() {
                    Value::U64(u)
                } else {
                    Value::F64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Value::Str(s.into()),
            other => Value::Str(other.to_string().into()),
        }
    }
}

macro_rules! from_int {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::$variant(v as $as) }
        }
    )*};
}
from_int!(i8 => I64 as i64, i16 => I64 as i64, i32 => I64 as i64, i64 => I64 as i64,
          u8 => I64 as i64, u16 => I64 as i64, u32 => I64 as i64, f32 => F64 as f64, f64 => F64 as f64);

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        FromLog::unsigned(v)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        FromLog::unsigned(v as u64)
    }
}
impl From<isize> for Value {
    fn from(v: isize) -> Value {
        Value::I64(v as i64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.into())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v.into())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Str(v.as_str().into())
    }
}
impl From<Arc<str>> for Value {
    fn from(v: Arc<str>) -> Value {
        Value::Str(v.into())
    }
}
impl From<Str> for Value {
    fn from(v: Str) -> Value {
        Value::Str(v)
    }
}
impl From<char> for Value {
    fn from(v: char) -> Value {
        Value::Str(v.to_string().into())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// The text of a [`Value::Str`].
///
/// Strings up to 23 bytes (most values: methods, ids, names) are kept inline,
/// so capturing one allocates nothing; longer ones are shared behind a
/// reference count. Either way a clone is cheap, so a bound context value is
/// never copied per record. It reads as a `&str` through `Deref`.
///
/// ```
/// use log_panel_core::Str;
/// let s = Str::from("GET");
/// assert_eq!(&*s, "GET");
/// assert_eq!(s.len(), 3);
/// assert_eq!(s, "GET");
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Str(SmolStr);

impl Str {
    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

macro_rules! str_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Str {
            fn from(v: $t) -> Str { Str(SmolStr::from(v)) }
        }
    )*};
}
str_from!(&str, &String, String, Box<str>, Arc<str>, Cow<'_, str>, char);

#[cfg(test)]
mod tests {
    use super::*;

    fn via_log<'a>(v: log::kv::Value<'a>) -> Value {
        Value::from_log(&v)
    }

    #[test]
    fn log_values_keep_their_types() {
        assert_eq!(via_log(log::kv::Value::from(7i32)), Value::I64(7));
        assert_eq!(via_log(log::kv::Value::from(u64::MAX)), Value::U64(u64::MAX));
        assert_eq!(via_log(log::kv::Value::from(1.5f64)), Value::F64(1.5));
        assert_eq!(via_log(log::kv::Value::from(true)), Value::Bool(true));
        assert_eq!(via_log(log::kv::Value::from("x")), Value::Str("x".into()));
        assert_eq!(
            via_log(log::kv::Value::from_display(&std::net::Ipv4Addr::LOCALHOST)),
            Value::Str("127.0.0.1".into())
        );
    }

    #[test]
    fn short_strings_are_inline_long_ones_shared() {
        let short = Str::from("7f3a9c2e-51d0-4c1e-9a"); // 21 bytes
        assert!(!short.0.is_heap_allocated());
        assert_eq!(short, "7f3a9c2e-51d0-4c1e-9a");
        let long = Str::from("x".repeat(100));
        assert!(long.0.is_heap_allocated());
        let copy = long.clone();
        assert!(std::ptr::eq(copy.as_ptr(), long.as_ptr()), "a clone shares the text");
        // A value is no bigger than the `Arc<str>` variant it replaced.
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(format!("{short:?} {long}").len(), 23 + 1 + 100);
    }

    #[test]
    fn json_keeps_types_and_maps_nan_to_null() {
        let vals = vec![
            Value::Null,
            Value::Bool(false),
            Value::I64(-3),
            Value::U64(u64::MAX),
            Value::F64(2.5),
            Value::F64(f64::NAN),
            Value::Str("s".into()),
        ];
        let json = serde_json::to_string(&vals).unwrap_or_default();
        assert_eq!(json, r#"[null,false,-3,18446744073709551615,2.5,null,"s"]"#);
    }
}
