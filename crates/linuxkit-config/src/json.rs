//! Go-compatible JSON text: `json.MarshalIndent(v, "", "    ")` bytes.
//!
//! Derived structs serialise in declaration order, which the output types
//! keep equal to Go's struct-field order; maps are `BTreeMap`s (sorted keys, as
//! Go does) or `Value` objects, which keep insertion order (`preserve_order`).
//! Go's HTML-safe escaping (`<`, `>`, `&`, U+2028, U+2029) is applied. No
//! trailing newline.

use serde::Serialize;
use serde_json::Value;
use serde_json::ser::{PrettyFormatter, Serializer};

/// Serialise `v` the way Go's `json.MarshalIndent(v, "", "    ")` does.
pub(crate) fn go_indent(v: &impl Serialize) -> String {
    let mut buf = Vec::new();
    let fmt = PrettyFormatter::with_indent(b"    ");
    let mut ser = Serializer::with_formatter(&mut buf, fmt);
    // Serialising the crate's types into memory cannot fail (all map keys are strings).
    if v.serialize(&mut ser).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    // `<`, `>`, `&`, U+2028 and U+2029 only ever occur inside JSON strings, so a
    // textual replacement is exact.
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON array of strings.
pub(crate) fn strs(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn like_go() {
        let v = json!({"b": "<a&b>", "a": [], "c": {}, "d": [1, 2]});
        assert_eq!(
            go_indent(&v),
            "{\n    \"b\": \"\\u003ca\\u0026b\\u003e\",\n    \"a\": [],\n    \"c\": {},\n    \"d\": [\n        1,\n        2\n    ]\n}"
        );
    }
}
