//! Just enough JSON writing for the trace-event format: flat objects of numbers,
//! strings, booleans, nulls and nested objects.
//!
//! Why not `serde_json`: the kernel depends on this crate, and `cargo test --workspace`
//! unifies features, so every dependency of the host side lands in the kernel's host
//! test build too. `serde_json` implements `PartialEq<Value>` for the integer types,
//! which makes ordinary test code such as `assert_eq!(sum, (1..=32).sum())` ambiguous
//! and stops the kernel's tests compiling. The tests still parse every output with
//! `serde_json` (a dev-dependency, which the kernel never sees).

use std::fmt::Write as _;

/// One JSON object, written as it is built.
#[derive(Debug)]
pub(crate) struct Object {
    text: String,
    empty: bool,
}

impl Object {
    pub(crate) fn new() -> Self {
        Object {
            text: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.text.push(',');
        }
        self.empty = false;
        push_string(&mut self.text, key);
        self.text.push(':');
    }

    pub(crate) fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_string(&mut self.text, value);
        self
    }

    pub(crate) fn num(mut self, key: &str, value: impl Into<Number>) -> Self {
        self.key(key);
        push_number(&mut self.text, value.into());
        self
    }

    pub(crate) fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.text.push_str(if value { "true" } else { "false" });
        self
    }

    /// A string, or `null` for `None`.
    pub(crate) fn opt_str(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.str(key, value),
            None => self.null(key),
        }
    }

    /// A number, or `null` for `None`.
    pub(crate) fn opt_num(self, key: &str, value: Option<impl Into<Number>>) -> Self {
        match value {
            Some(value) => self.num(key, value),
            None => self.null(key),
        }
    }

    pub(crate) fn null(mut self, key: &str) -> Self {
        self.key(key);
        self.text.push_str("null");
        self
    }

    pub(crate) fn obj(mut self, key: &str, value: Object) -> Self {
        self.key(key);
        self.text.push_str(&value.finish());
        self
    }

    pub(crate) fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

/// A JSON number: integers exactly, floats as Rust prints them (never an exponent).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Number {
    Int(i128),
    Float(f64),
}

macro_rules! integer_numbers {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(value: $t) -> Self {
                Number::Int(i128::from(value))
            }
        }
    )*};
}

integer_numbers!(u8, u16, u32, u64, i32, i64);

impl From<usize> for Number {
    fn from(value: usize) -> Self {
        Number::Int(value as i128)
    }
}

impl From<f64> for Number {
    fn from(value: f64) -> Self {
        Number::Float(value)
    }
}

/// JSON has no NaN or infinity: they are written as `null`.
fn push_number(text: &mut String, number: Number) {
    let _ = match number {
        Number::Int(value) => write!(text, "{value}"),
        Number::Float(value) if value.is_finite() => write!(text, "{value}"),
        Number::Float(_) => write!(text, "null"),
    };
}

/// A JSON string literal: quotes, backslashes and control characters escaped.
fn push_string(text: &mut String, value: &str) {
    text.push('"');
    for c in value.chars() {
        match c {
            '"' => text.push_str("\\\""),
            '\\' => text.push_str("\\\\"),
            '\n' => text.push_str("\\n"),
            '\r' => text.push_str("\\r"),
            '\t' => text.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(text, "\\u{:04x}", c as u32);
            }
            c => text.push(c),
        }
    }
    text.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_written_with_escapes() {
        let inner = Object::new().num("n", 3u32);
        let text = Object::new()
            .str("name", "a \"quoted\"\\\n\u{1}é")
            .num("ts", 1.5)
            .num("big", u64::MAX)
            .bool("yes", true)
            .null("none")
            .opt_num("nan", Some(f64::NAN))
            .obj("args", inner)
            .finish();
        assert_eq!(
            text,
            r#"{"name":"a \"quoted\"\\\n\u0001é","ts":1.5,"big":18446744073709551615,"yes":true,"none":null,"nan":null,"args":{"n":3}}"#
        );
        assert_eq!(Object::new().finish(), "{}");
        assert_eq!(
            Object::new().num("tiny", 1e-7).finish(),
            r#"{"tiny":0.0000001}"#
        );
    }
}
