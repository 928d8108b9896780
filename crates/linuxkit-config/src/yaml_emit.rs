//! A small YAML emitter in the style of go yaml.v2 (libyaml): block style,
//! two-space indentation, sequences at their parent key's column, and the
//! libyaml choice of scalar style (plain, single-quoted, double-quoted or
//! literal block). Input is a JSON-like value tree; object key order is kept.
//!
//! Strings that another YAML reader (YAML 1.1 or 1.2) could take for a
//! non-string — `yes`, `on`, `1`, `-1`, `1.5`, `2001-12-14`, `~`, `""` — are
//! double-quoted, as yaml.v2 does, so the output reads back as the same data.

use serde_json::{Map, Value};

/// Emit a whole document (no `---`, ends with a newline).
pub(crate) fn emit(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => emit_map(&mut out, m, 0, false),
        Value::Array(a) if !a.is_empty() => emit_seq(&mut out, a, 0),
        other => {
            emit_scalar(&mut out, other, 2);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn emit_map(out: &mut String, m: &Map<String, Value>, ind: usize, inline_first: bool) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !inline_first {
            indent(out, ind);
        }
        out.push_str(&inline_str(k));
        out.push(':');
        match v {
            Value::Object(o) if !o.is_empty() => {
                out.push('\n');
                emit_map(out, o, ind + 2, false);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                emit_seq(out, a, ind);
            }
            other => {
                out.push(' ');
                emit_scalar(out, other, ind + 2);
                out.push('\n');
            }
        }
    }
}

fn emit_seq(out: &mut String, a: &[Value], ind: usize) {
    for item in a {
        indent(out, ind);
        out.push('-');
        match item {
            Value::Object(o) if !o.is_empty() => {
                out.push(' ');
                emit_map(out, o, ind + 2, true);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                emit_seq(out, inner, ind + 2);
            }
            other => {
                out.push(' ');
                emit_scalar(out, other, ind + 2);
                out.push('\n');
            }
        }
    }
}

/// A scalar in value position; `block_indent` is the indentation of literal-block lines.
fn emit_scalar(out: &mut String, v: &Value, block_indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => {
            if s.contains('\n') && !needs_double_by_resolution(s) && block_allowed(s) {
                literal(out, s, block_indent);
            } else {
                out.push_str(&inline_str(s));
            }
        }
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn literal(out: &mut String, s: &str, ind: usize) {
    out.push('|');
    if s.starts_with(' ') || s.starts_with('\n') {
        out.push('2');
    }
    if !s.ends_with('\n') {
        out.push('-');
    } else if s == "\n" || s.ends_with("\n\n") {
        out.push('+');
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, ind);
            out.push_str(line);
        }
    }
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || u == 0x85
        || ((0xA0..=0xD7FF).contains(&u))
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&u)
}

fn block_allowed(s: &str) -> bool {
    s.chars().all(is_printable) && !s.ends_with(' ') && !s.contains(" \n")
}

/// Would a YAML 1.1 or 1.2 reader resolve this plain scalar to a non-string?
fn needs_double_by_resolution(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<", "=",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return false;
    }
    let body = s.trim_start_matches(['+', '-']);
    // numbers of either spec (ints with base prefixes or `_`, floats, base-60)
    let numeric = !body.is_empty()
        && body.bytes().all(|c| {
            c.is_ascii_hexdigit()
                || matches!(
                    c,
                    b'_' | b'.' | b'x' | b'X' | b'o' | b'O' | b':' | b'+' | b'-'
                )
        })
        && body.bytes().any(|c| c.is_ascii_digit());
    let timestamp =
        s.len() >= 8 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit) && s.as_bytes()[4] == b'-';
    numeric || timestamp
}

/// Choose plain, single- or double-quoted for an inline scalar (libyaml's rules).
fn inline_str(s: &str) -> String {
    if needs_double_by_resolution(s) || s.contains('\n') {
        return double_quoted(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let special = chars.iter().any(|c| !is_printable(*c));
    if special {
        return double_quoted(s);
    }
    let blank_after = |i: usize| chars.get(i + 1).is_none_or(|c| *c == ' ');
    let mut plain = !(s.starts_with("---") || s.starts_with("..."));
    if chars.first() == Some(&' ') || chars.last() == Some(&' ') {
        plain = false;
    }
    for (i, &c) in chars.iter().enumerate() {
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                plain = false;
            }
            if (c == '?' || c == ':' || c == '-') && blank_after(0) {
                plain = false;
            }
        } else {
            if c == ':' && blank_after(i) {
                plain = false;
            }
            if c == '#' && chars[i - 1] == ' ' {
                plain = false;
            }
        }
    }
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !is_printable(c) => {
                let u = c as u32;
                if u <= 0xFF {
                    out.push_str(&format!("\\x{u:02X}"));
                } else if u <= 0xFFFF {
                    out.push_str(&format!("\\u{u:04X}"));
                } else {
                    out.push_str(&format!("\\U{u:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v2_style() {
        let v = json!({
            "kernel": {"image": "k", "cmdline": "console=ttyS0"},
            "init": ["a", "b"],
            "onshutdown": [],
            "onboot": [{"name": "x", "command": ["-1", "yes", "a: b", "#c", "it's"], "e": {}}],
            "files": [{"path": "p", "contents": "line1\nline2\n", "c2": "x\n\n", "c3": " lead\nx", "c4": "nonl\nend"}]
        });
        let text = emit(&v);
        assert_eq!(
            text,
            "kernel:\n  image: k\n  cmdline: console=ttyS0\ninit:\n- a\n- b\nonshutdown: []\nonboot:\n- name: x\n  command:\n  - \"-1\"\n  - \"yes\"\n  - 'a: b'\n  - '#c'\n  - it's\n  e: {}\nfiles:\n- path: p\n  contents: |\n    line1\n    line2\n  c2: |+\n    x\n\n  c3: |2-\n     lead\n    x\n  c4: |-\n    nonl\n    end\n"
        );
    }
}
