//! The configuration schema (yaml.md §2) and its validator.
//!
//! The schema ([`Ty`], [`Obj`]) of upstream's JSON schema is generated from
//! the model's declarations (`config_struct!` in `decode.rs`): every object rejects unknown keys except the two map-of-string
//! types (`sysctl`, `annotations`). The validator walks a [`Node`] tree and
//! reports *every* problem in document order, each with the node's position
//! and, where one helps, a hint (closest valid key by edit distance, how to
//! quote a value, ...). It neither decodes nor changes the tree.

use crate::yaml::{Node, Value};

/// A schema type.
#[derive(Debug)]
#[allow(missing_docs)]
pub enum Ty {
    Str,
    Bool,
    Int,
    /// A uid/gid: a name, or a number that fits 32 bits.
    StrOrInt,
    /// A string from a fixed set.
    Enum(&'static [&'static str]),
    /// A mapping whose values must be strings.
    MapStr,
    /// A list; the element type is computed on demand (types are derived from
    /// Rust types in `decode.rs`, and generic statics are not possible).
    List(fn() -> Ty),
    /// An object with a fixed set of keys.
    Obj(&'static Obj),
    /// A type with its own check (e.g. `build.yml`'s octal modes).
    Custom(&'static Custom),
}

/// A type checked by a function of its own.
#[derive(Debug)]
pub struct Custom {
    /// What a value must be, for messages ("an octal mode such as \"0644\"").
    pub expected: &'static str,
    /// Check `node` at `path`, pushing every problem (see [`mismatch`]).
    pub check: fn(node: &Node, path: &str, out: &mut Vec<Issue>),
}

/// One key of an object, declared through `config_struct!` (`decode.rs`).
#[derive(Debug)]
pub struct Field {
    /// The YAML key.
    pub key: &'static str,
    /// Its type.
    pub ty: fn() -> Ty,
    /// If not empty, the only values allowed (the type is then a string).
    pub one_of: &'static [&'static str],
}

impl Field {
    fn ty(&self) -> Ty {
        if self.one_of.is_empty() {
            (self.ty)()
        } else {
            Ty::Enum(self.one_of)
        }
    }
}

/// An object type with a fixed set of keys.
#[derive(Debug)]
pub struct Obj {
    /// Human name used in messages, e.g. "image entry".
    pub name: &'static str,
    /// Its keys, in declaration order.
    pub fields: &'static [Field],
    /// Keys that must be present.
    pub required: &'static [&'static str],
    /// `Some(place)`: unknown keys are reported as "unknown field `k` {place}"
    /// (`build.yml`'s wording, e.g. "in contents") instead of naming the path.
    pub place: Option<&'static str>,
}

/// An `org.mobyproject.config` label: an image entry's keys, none required
/// (name/image are checked separately).
pub(crate) static LABEL: Obj = Obj {
    name: "org.mobyproject.config label",
    fields: crate::model::Image::FIELDS,
    required: &[],
    place: None,
};

/// A schema violation at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// Validate `node` against object type `obj`; `path` prefixes key names in messages.
pub fn validate(node: &Node, obj: &'static Obj, path: &str) -> Vec<Issue> {
    let mut out = Vec::new();
    check(node, &Ty::Obj(obj), path, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn ty_name(ty: &Ty) -> &'static str {
    match ty {
        Ty::Custom(c) => c.expected,
        Ty::Str | Ty::Enum(_) => "a string",
        Ty::Bool => "a boolean (true or false)",
        Ty::Int => "an integer",
        Ty::StrOrInt => "a string or an integer",
        Ty::MapStr => "a mapping of strings to strings",
        Ty::List(inner) => match inner() {
            Ty::Str => "a list of strings",
            Ty::StrOrInt => "a list of strings or integers",
            _ => "a list",
        },
        Ty::Obj(_) => "a mapping",
    }
}

fn found(node: &Node) -> String {
    match &node.value {
        Value::Null => "nothing (null)".to_string(),
        Value::Bool(_) | Value::Int(_) | Value::Float(_) => {
            format!("{} `{}`", node.kind(), node.raw)
        }
        Value::Str(s) => format!("the string {}", crate::error::go_quote(s)),
        _ => node.kind().to_string(),
    }
}

fn leaf(path: &str) -> &str {
    path.rsplit(['.']).next().unwrap_or(path)
}

fn type_hint(node: &Node, ty: &Ty, path: &str) -> Option<String> {
    let key = leaf(path);
    let key = key.split('[').next().unwrap_or(key);
    match (&node.value, ty) {
        (Value::Bool(_) | Value::Int(_) | Value::Float(_), Ty::Str | Ty::Enum(_))
        | (Value::Bool(_) | Value::Float(_), Ty::StrOrInt) => Some(format!(
            "quote it: \"{}\"",
            node.raw.replace('\\', "\\\\").replace('"', "\\\"")
        )),
        (Value::Null, Ty::List(_)) => Some(format!(
            "`{key}:` with nothing after it is null; write `{key}: []` for an empty list, or remove the key"
        )),
        (Value::Null, Ty::Obj(_) | Ty::MapStr) => Some(format!(
            "`{key}:` with nothing after it is null; write `{key}: {{}}` or remove the key"
        )),
        (Value::Null, _) => Some(format!("give `{key}` a value or remove the key")),
        (Value::Str(s), Ty::Int) if s.trim().parse::<i64>().is_ok() => {
            Some(format!("remove the quotes: {}", s.trim()))
        }
        (Value::Str(s), Ty::Bool) => {
            let l = s.to_ascii_lowercase();
            if matches!(l.as_str(), "yes" | "no" | "on" | "off" | "y" | "n") {
                Some("only `true` and `false` are booleans (YAML 1.2)".into())
            } else if l == "true" || l == "false" {
                Some(format!("remove the quotes: {l}"))
            } else {
                None
            }
        }
        (Value::Str(_) | Value::Int(_) | Value::Bool(_) | Value::Float(_), Ty::List(_)) => {
            Some(format!("write a list, e.g. `{key}: [{}]`", node.raw))
        }
        (Value::Seq(_), Ty::Str) => Some("write a single string, not a list".into()),
        _ => None,
    }
}

/// Report that `node` at `path` is not of type `ty`.
pub fn mismatch(node: &Node, ty: &Ty, path: &str, out: &mut Vec<Issue>) {
    out.push(Issue {
        line: node.line,
        column: node.column,
        message: format!(
            "invalid type for `{path}`: expected {}, found {}",
            ty_name(ty),
            found(node)
        ),
        hint: type_hint(node, ty, path),
    });
}

fn int_in_range(node: &Node, path: &str, out: &mut Vec<Issue>) {
    if let Value::Int(i) = node.value
        && (i < i128::from(i64::MIN) || i > i128::from(i64::MAX))
    {
        out.push(Issue {
            line: node.line,
            column: node.column,
            message: format!("integer `{}` for `{path}` is out of range", node.raw),
            hint: None,
        });
    }
}

/// A numeric uid/gid must fit 32 bits: upstream wraps `4294967296` to 0
/// (root) and `-1` to 4294967295; we refuse both (a deviation).
fn id_in_range(node: &Node, path: &str, out: &mut Vec<Issue>) {
    if let Value::Int(i) = node.value
        && u32::try_from(i).is_err()
    {
        out.push(Issue {
            line: node.line,
            column: node.column,
            message: format!(
                "id `{}` for `{path}` is out of range: uids and gids are 0 to {}",
                node.raw,
                u32::MAX
            ),
            hint: Some(
                "upstream wraps such a number (4294967296 becomes 0, root); write the id you mean"
                    .into(),
            ),
        });
    }
}

fn check(node: &Node, ty: &Ty, path: &str, out: &mut Vec<Issue>) {
    match (ty, &node.value) {
        (Ty::Str, Value::Str(_)) | (Ty::Bool, Value::Bool(_)) => {}
        (Ty::Int, Value::Int(_)) => int_in_range(node, path, out),
        (Ty::StrOrInt, Value::Int(_)) => id_in_range(node, path, out),
        (Ty::StrOrInt, Value::Str(_)) => {}
        (Ty::Enum(allowed), Value::Str(s)) => {
            if !allowed.contains(&s.as_str()) {
                let list: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
                out.push(Issue {
                    line: node.line,
                    column: node.column,
                    message: format!(
                        "invalid value {} for `{path}`: expected one of {}",
                        crate::error::go_quote(s),
                        list.join(", ")
                    ),
                    hint: closest(s, allowed).map(|c| format!("did you mean `{c}`?")),
                });
            }
        }
        (Ty::MapStr, Value::Map(pairs)) => {
            for (k, v) in pairs {
                let Some(ks) = k.as_str() else {
                    key_not_string(k, path, out);
                    continue;
                };
                let p = join(path, ks);
                if !matches!(v.value, Value::Str(_)) {
                    mismatch(v, &Ty::Str, &p, out);
                }
            }
        }
        (Ty::List(inner), Value::Seq(items)) => {
            let inner = inner();
            for (i, item) in items.iter().enumerate() {
                check(item, &inner, &format!("{path}[{i}]"), out);
            }
        }
        (Ty::Obj(obj), Value::Map(pairs)) => check_obj(node, obj, pairs, path, out),
        (Ty::Custom(c), _) => (c.check)(node, path, out),
        _ => mismatch(node, ty, path, out),
    }
}

fn key_not_string(k: &Node, path: &str, out: &mut Vec<Issue>) {
    out.push(Issue {
        line: k.line,
        column: k.column,
        message: format!(
            "invalid key {} in `{path}`: keys must be strings",
            if k.raw.is_empty() {
                k.kind().to_string()
            } else {
                format!("`{}`", k.raw)
            }
        ),
        hint: Some(format!("quote it: \"{}\"", k.raw)),
    });
}

fn check_obj(
    node: &Node,
    obj: &'static Obj,
    pairs: &[(Node, Node)],
    path: &str,
    out: &mut Vec<Issue>,
) {
    let names: Vec<&str> = obj.fields.iter().map(|f| f.key).collect();
    for (k, v) in pairs {
        let Some(ks) = k.as_str() else {
            key_not_string(k, if path.is_empty() { "top level" } else { path }, out);
            continue;
        };
        match obj.fields.iter().find(|f| f.key == ks) {
            Some(f) => check(v, &f.ty(), &join(path, ks), out),
            None => {
                let hint = match closest(ks, &names) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("valid keys are: {}", names.join(", ")),
                };
                let place = if let Some(p) = obj.place {
                    p.to_string()
                } else if path.is_empty() {
                    "at the top level".to_string()
                } else if path == obj.name {
                    format!("in `{path}`")
                } else {
                    format!("in {} `{path}`", obj.name)
                };
                out.push(Issue {
                    line: k.line,
                    column: k.column,
                    message: format!("unknown field `{ks}` {place}"),
                    hint: Some(hint),
                });
            }
        }
    }
    for req in obj.required {
        if !pairs.iter().any(|(k, _)| k.as_str() == Some(req)) {
            out.push(Issue {
                line: node.line,
                column: node.column,
                message: format!("{} `{path}` is missing required field `{req}`", obj.name),
                hint: Some(format!("add `{req}: ...` to this entry")),
            });
        }
    }
}

/// The candidate closest to `word` by edit distance, if close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lw = word.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = levenshtein(&lw, &c.to_ascii_lowercase());
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    let (d, c) = best?;
    let limit = (word.chars().count().max(c.chars().count()) / 3).max(2);
    (d <= limit).then_some(c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len() > 256 || b.len() > 256 {
        return usize::MAX;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_keys() {
        let names: Vec<&str> = crate::model::IMAGE.fields.iter().map(|f| f.key).collect();
        assert_eq!(closest("capabilites", &names), Some("capabilities"));
        assert_eq!(closest("bind", &names), Some("binds"));
        assert_eq!(closest("colour", &names), None);
        assert_eq!(closest("Env", &names), Some("env"));
    }
}
