//! The YAML front end: the only module that talks to a YAML library.
//!
//! It turns text into a position-annotated tree ([`Node`]) with go-yaml v3
//! semantics for what the build needs: YAML 1.2 core schema resolution of plain
//! scalars (only `true`/`false` spellings are booleans, `0666` is an integer,
//! `~`/`null`/empty are null, timestamps stay strings), only the first document
//! is read, anchors/aliases and `<<` merge keys are expanded, duplicate mapping
//! keys are errors. Every node carries its 1-based line and column.
//!
//! It must not know anything about LinuxKit: schema checks live in `schema.rs`.
//! It must never panic: nesting depth is bounded, and so is what alias
//! expansion may build: both the number of nodes and the bytes of scalar
//! text in the tree are limited in proportion to the input ([`Budget`]), and
//! an alias is refused *before* its copy is made, so an alias bomb (nested
//! node lists, or one long string aliased many times) fails in a few
//! kilobytes of work instead of allocating gigabytes.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// Maximum nesting of collections.
const MAX_DEPTH: usize = 200;
/// Absolute maximum number of nodes, counting alias expansions.
const MAX_NODES: usize = 2_000_000;
/// Absolute maximum bytes of scalar text in the tree, counting alias expansions.
const MAX_BYTES: usize = 64 << 20;
/// Nodes and scalar bytes a document may expand to beyond its own size.
const BASE_ALLOWANCE: usize = 256 << 10;
/// How many times its own size a document may grow through aliases.
const EXPANSION_FACTOR: usize = 16;

/// What alias expansion may build for one document: `BASE_ALLOWANCE +
/// EXPANSION_FACTOR × input length` nodes and bytes of scalar text, capped
/// at [`MAX_NODES`] and [`MAX_BYTES`]. Without aliases a document can never
/// reach it (a node takes at least one byte of input, a scalar's text is
/// part of the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    nodes: usize,
    bytes: usize,
}

impl Budget {
    fn for_input(len: usize) -> Budget {
        let allowance = BASE_ALLOWANCE.saturating_add(len.saturating_mul(EXPANSION_FACTOR));
        Budget {
            nodes: allowance.min(MAX_NODES),
            bytes: allowance.min(MAX_BYTES),
        }
    }
}

/// What a subtree costs: its nodes and the bytes of its scalar text (the
/// source text and the resolved string are both kept, so both count).
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    nodes: usize,
    bytes: usize,
}

impl Cost {
    fn add(self, other: Cost) -> Cost {
        Cost {
            nodes: self.nodes.saturating_add(other.nodes),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }

    fn within(self, budget: Budget) -> bool {
        self.nodes <= budget.nodes && self.bytes <= budget.bytes
    }
}

/// A node of the YAML tree with its position (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The resolved value.
    pub value: Value,
    /// 1-based line of the node's first character.
    pub line: usize,
    /// 1-based column of the node's first character.
    pub column: usize,
    /// Source text of a scalar (before resolution); empty for collections.
    pub raw: String,
    /// Whether the scalar was written plain (unquoted, not a block scalar).
    pub plain: bool,
}

/// A resolved YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing at all.
    Null,
    /// `true` / `false` (and their capitalised spellings).
    Bool(bool),
    /// An integer (decimal, `0x`, `0o`, `0b` or a leading-zero octal).
    Int(i128),
    /// A floating point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The string value, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Look a key up in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short description of the node's type, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// This node's own cost (its children not included).
    fn own_cost(&self) -> Cost {
        let text = match &self.value {
            Value::Str(s) => s.len(),
            _ => 0,
        };
        Cost {
            nodes: 1,
            bytes: self.raw.len().saturating_add(text),
        }
    }
}

/// A problem found while reading YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// A collection being read, with the cost of what it holds so far.
enum Frame {
    Seq {
        items: Vec<Node>,
        line: usize,
        column: usize,
        anchor: usize,
        cost: Cost,
    },
    Map {
        pairs: Vec<(Node, Node)>,
        key: Option<Node>,
        line: usize,
        column: usize,
        anchor: usize,
        cost: Cost,
    },
}

/// The cost of one collection node itself.
const COLLECTION: Cost = Cost { nodes: 1, bytes: 0 };

fn pos(span: &Span) -> (usize, usize) {
    (span.start.line(), span.start.col() + 1)
}

/// Parse the first document of `text` into a tree.
///
/// Errors: a syntax error (fatal, reported alone), an empty stream (`EOF`),
/// or one error per duplicate mapping key.
pub fn parse(text: &str) -> Result<Node, Vec<YamlError>> {
    match parse_lenient(text) {
        Ok((root, errors)) if errors.is_empty() => Ok(root),
        Ok((_, errors)) => Err(errors),
        Err(e) => Err(e),
    }
}

/// Like [`parse`], but duplicate mapping keys do not prevent building the tree
/// (the first occurrence is kept): they are returned next to it, so callers
/// can report them together with later checks.
pub fn parse_lenient(text: &str) -> Result<(Node, Vec<YamlError>), Vec<YamlError>> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    // Each anchored node with its cost, computed once when it is defined.
    let mut anchors: HashMap<usize, (Node, Cost)> = HashMap::new();
    let mut errors: Vec<YamlError> = Vec::new();
    let budget = Budget::for_input(text.len());
    // What the tree built so far holds (aliases counted at their full size).
    let mut spent = Cost::default();
    let mut root: Option<Node> = None;

    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(ev) => ev,
            Err(e) => {
                let m = e.marker();
                return Err(vec![YamlError {
                    line: m.line(),
                    column: m.col() + 1,
                    message: format!("invalid YAML: {}", e.info()),
                    hint: syntax_hint(e.info()),
                }]);
            }
        };
        let (line, column) = pos(&span);
        let (node, cost) = match event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => continue,
            Event::StreamEnd | Event::DocumentEnd => break,
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(vec![too_deep(line, column)]);
                }
                spent = spent.add(COLLECTION);
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    line,
                    column,
                    anchor,
                    cost: COLLECTION,
                });
                continue;
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(vec![too_deep(line, column)]);
                }
                spent = spent.add(COLLECTION);
                stack.push(Frame::Map {
                    pairs: Vec::new(),
                    key: None,
                    line,
                    column,
                    anchor,
                    cost: COLLECTION,
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    line,
                    column,
                    anchor,
                    cost,
                }) => {
                    let n = Node {
                        value: Value::Seq(items),
                        line,
                        column,
                        raw: String::new(),
                        plain: false,
                    };
                    if anchor != 0 {
                        anchors.insert(anchor, (n.clone(), cost));
                    }
                    (n, cost)
                }
                _ => return Err(vec![internal(line, column)]),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    pairs,
                    line,
                    column,
                    anchor,
                    cost,
                    ..
                }) => {
                    let pairs = finish_mapping(pairs, &mut errors);
                    let n = Node {
                        value: Value::Map(pairs),
                        line,
                        column,
                        raw: String::new(),
                        plain: false,
                    };
                    if anchor != 0 {
                        anchors.insert(anchor, (n.clone(), cost));
                    }
                    (n, cost)
                }
                _ => return Err(vec![internal(line, column)]),
            },
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain;
                let tag = tag.and_then(|t| {
                    if t.is_yaml_core_schema() {
                        Some(t.suffix.clone())
                    } else {
                        None
                    }
                });
                let value = resolve(&text, plain, tag.as_deref());
                let n = Node {
                    value,
                    line,
                    column,
                    raw: text.to_string(),
                    plain,
                };
                let cost = n.own_cost();
                spent = spent.add(cost);
                if !spent.within(budget) {
                    return Err(vec![too_large(line, column, budget)]);
                }
                if anchor != 0 {
                    anchors.insert(anchor, (n.clone(), cost));
                }
                (n, cost)
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((n, cost)) => {
                    // Check before copying: the copy is what would allocate.
                    spent = spent.add(*cost);
                    if !spent.within(budget) {
                        return Err(vec![too_large(line, column, budget)]);
                    }
                    let mut n = n.clone();
                    n.line = line;
                    n.column = column;
                    (n, *cost)
                }
                None => {
                    return Err(vec![YamlError {
                        line,
                        column,
                        message: "invalid YAML: unknown anchor".to_string(),
                        hint: None,
                    }]);
                }
            },
        };
        // Attach the completed node to its parent.
        match stack.last_mut() {
            None => {
                root = Some(node);
                break;
            }
            Some(Frame::Seq { items, cost: c, .. }) => {
                *c = c.add(cost);
                items.push(node);
            }
            Some(Frame::Map {
                pairs,
                key,
                cost: c,
                ..
            }) => {
                *c = c.add(cost);
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => pairs.push((k, node)),
                }
            }
        }
    }

    match root {
        None => Err(vec![YamlError {
            line: 0,
            column: 0,
            message: "EOF".to_string(),
            hint: Some("the file holds no YAML document (it is empty or only comments)".into()),
        }]),
        Some(r) => Ok((r, errors)),
    }
}

fn too_deep(line: usize, column: usize) -> YamlError {
    YamlError {
        line,
        column,
        message: format!("invalid YAML: nesting deeper than {MAX_DEPTH} levels"),
        hint: None,
    }
}

fn too_large(line: usize, column: usize, budget: Budget) -> YamlError {
    YamlError {
        line,
        column,
        message: format!(
            "document too large after expanding aliases (more than {} nodes or {} bytes of text)",
            budget.nodes, budget.bytes
        ),
        hint: Some(
            "an alias copies its anchor; this file expands to far more than its own size \
             (an alias bomb?): write the values out or use fewer aliases"
                .into(),
        ),
    }
}

fn internal(line: usize, column: usize) -> YamlError {
    YamlError {
        line,
        column,
        message: "invalid YAML: unbalanced collection events".into(),
        hint: None,
    }
}

fn syntax_hint(info: &str) -> Option<String> {
    if info.contains("could not find expected ':'")
        || info.contains("mapping values")
        || info.contains("did not find expected key")
    {
        Some(
            "check the indentation around this line; in a block scalar (`|`) every line, \
             including `#` lines, must be indented at least as much as the first one"
                .into(),
        )
    } else if info.contains("tab") {
        Some("YAML indentation must use spaces, not tabs".into())
    } else {
        None
    }
}

/// Apply `<<` merge keys and report duplicate keys.
fn finish_mapping(pairs: Vec<(Node, Node)>, errors: &mut Vec<YamlError>) -> Vec<(Node, Node)> {
    let mut explicit: Vec<(Node, Node)> = Vec::with_capacity(pairs.len());
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (k, v) in pairs {
        if k.plain && k.raw == "<<" {
            let sources: Vec<Node> = match v.value {
                Value::Map(_) => vec![v],
                Value::Seq(items) => items,
                _ => {
                    errors.push(YamlError {
                        line: v.line,
                        column: v.column,
                        message: "map merge requires map or sequence of maps as the value".into(),
                        hint: None,
                    });
                    continue;
                }
            };
            for src in sources {
                match src.value {
                    Value::Map(p) => {
                        for (mk, mv) in p {
                            if !merged.iter().any(|(k2, _)| same_key(k2, &mk)) {
                                merged.push((mk, mv));
                            }
                        }
                    }
                    _ => errors.push(YamlError {
                        line: src.line,
                        column: src.column,
                        message: "map merge requires map or sequence of maps as the value".into(),
                        hint: None,
                    }),
                }
            }
            continue;
        }
        if let Some((prev, _)) = explicit.iter().find(|(k2, _)| same_key(k2, &k)) {
            errors.push(YamlError {
                line: k.line,
                column: k.column,
                message: format!(
                    "mapping key {} already defined at line {}",
                    describe_key(&k),
                    prev.line
                ),
                hint: Some("remove one of the two entries".into()),
            });
            continue;
        }
        explicit.push((k, v));
    }
    for (mk, mv) in merged {
        if !explicit.iter().any(|(k2, _)| same_key(k2, &mk)) {
            explicit.push((mk, mv));
        }
    }
    explicit
}

fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Null, Value::Null) => true,
        (Value::Float(x), Value::Float(y)) => x == y,
        _ => false,
    }
}

fn describe_key(k: &Node) -> String {
    match &k.value {
        Value::Str(s) => format!("\"{s}\""),
        Value::Seq(_) | Value::Map(_) => k.kind().to_string(),
        _ => k.raw.clone(),
    }
}

/// Resolve a scalar the way go-yaml v3 does when decoding into `interface{}`.
fn resolve(text: &str, plain: bool, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::Str(text.to_string()),
        Some("null") => return Value::Null,
        Some("bool") => {
            if let Some(b) = resolve_bool(text) {
                return Value::Bool(b);
            }
        }
        Some("int") => {
            if let Some(i) = resolve_int(text) {
                return Value::Int(i);
            }
        }
        Some("float") => {
            if let Some(i) = resolve_int(text) {
                return Value::Float(i as f64);
            }
            if let Some(f) = resolve_float(text) {
                return Value::Float(f);
            }
        }
        _ => {}
    }
    if !plain {
        return Value::Str(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Some(b) = resolve_bool(text) {
        return Value::Bool(b);
    }
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first = text.as_bytes().first().copied().unwrap_or(b' ');
    if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.') {
        if looks_like_timestamp(text) {
            return Value::Str(text.to_string());
        }
        if let Some(i) = resolve_int(text) {
            return Value::Int(i);
        }
        if let Some(f) = resolve_float(text) {
            return Value::Float(f);
        }
    }
    Value::Str(text.to_string())
}

fn resolve_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint` after removing `_`.
fn resolve_int(text: &str) -> Option<i128> {
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, rest) = match plain.as_bytes().first() {
        Some(b'-') => (true, &plain[1..]),
        Some(b'+') => (false, &plain[1..]),
        _ => (false, plain.as_str()),
    };
    if rest.is_empty() {
        return None;
    }
    let (radix, digits) =
        if let Some(d) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = rest.strip_prefix("0o").or_else(|| rest.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = rest.strip_prefix("0b").or_else(|| rest.strip_prefix("0B")) {
            (2, d)
        } else if rest.len() > 1 && rest.starts_with('0') {
            (8, &rest[1..])
        } else {
            (10, rest)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u128::from_str_radix(digits, radix).ok()?;
    if neg {
        if v > (i64::MAX as u128) + 1 {
            return None;
        }
        Some(-(v as i128))
    } else {
        if v > u64::MAX as u128 {
            return None;
        }
        Some(v as i128)
    }
}

fn resolve_float(text: &str) -> Option<f64> {
    // ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    let b = plain.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let start_digits = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - start_digits;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return None;
        }
    } else if int_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    plain.parse::<f64>().ok()
}

/// `YYYY-MM-DD` optionally followed by a time: go-yaml keeps these as strings
/// when decoding into `interface{}`.
fn looks_like_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5].is_ascii_digit()
        && text[5..].contains('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        match parse(text) {
            Ok(n) => n,
            Err(e) => panic!("parse failed: {e:?}"),
        }
    }

    #[test]
    fn core_schema() {
        let n = root(
            "a: 0666\nb: yes\nc: True\nd: ~\ne:\nf: '1'\ng: 0x1F\nh: 1.5\ni: 0999\nj: 2001-12-14\nk: -3\n",
        );
        assert_eq!(n.get("a").map(|n| &n.value), Some(&Value::Int(438)));
        assert_eq!(
            n.get("b").map(|n| &n.value),
            Some(&Value::Str("yes".into()))
        );
        assert_eq!(n.get("c").map(|n| &n.value), Some(&Value::Bool(true)));
        assert_eq!(n.get("d").map(|n| &n.value), Some(&Value::Null));
        assert_eq!(n.get("e").map(|n| &n.value), Some(&Value::Null));
        assert_eq!(n.get("f").map(|n| &n.value), Some(&Value::Str("1".into())));
        assert_eq!(n.get("g").map(|n| &n.value), Some(&Value::Int(31)));
        assert_eq!(n.get("h").map(|n| &n.value), Some(&Value::Float(1.5)));
        assert_eq!(n.get("i").map(|n| &n.value), Some(&Value::Float(999.0)));
        assert_eq!(
            n.get("j").map(|n| &n.value),
            Some(&Value::Str("2001-12-14".into()))
        );
        assert_eq!(n.get("k").map(|n| &n.value), Some(&Value::Int(-3)));
    }

    #[test]
    fn positions_are_one_based() {
        let n = root("a:\n  - x\n  - y: 1\n");
        let a = n.get("a").unwrap_or_else(|| panic!("no a"));
        match &a.value {
            Value::Seq(items) => {
                assert_eq!((items[0].line, items[0].column), (2, 5));
                assert_eq!((items[1].line, items[1].column), (3, 5));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn first_document_only_and_empty() {
        let n = root("a: 1\n---\nb: [\n");
        assert!(n.get("a").is_some());
        let e = parse("# only a comment\n").unwrap_err();
        assert_eq!(e[0].message, "EOF");
        assert!(parse("").is_err());
    }

    #[test]
    fn aliases_and_merge_keys() {
        let n = root("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n");
        let o = n.get("other").unwrap_or_else(|| panic!("no other"));
        assert_eq!(o.get("x").map(|n| &n.value), Some(&Value::Int(1)));
        assert_eq!(o.get("y").map(|n| &n.value), Some(&Value::Int(3)));
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].line, e[0].column), (3, 1));
        assert!(e[0].message.contains("already defined at line 1"));
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(parse(&s).is_err());
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let s = "[".repeat(10_000);
        assert!(parse(&s).is_err());
    }
}
