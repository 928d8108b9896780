//! The configuration schema (yaml.md §2) and its validator.
//!
//! The schema is a static description ([`Ty`], [`Obj`]) of upstream's JSON
//! schema: every object rejects unknown keys except the two map-of-string
//! types (`sysctl`, `annotations`). The validator walks a [`Node`] tree and
//! reports *every* problem in document order, each with the node's position
//! and, where one helps, a hint (closest valid key by edit distance, how to
//! quote a value, ...). It neither decodes nor changes the tree.

use crate::yaml::{Node, Value};

/// A schema type.
#[derive(Debug)]
pub(crate) enum Ty {
    Str,
    Bool,
    Int,
    /// A uid/gid: a name, or a number that fits 32 bits.
    StrOrInt,
    /// A string from a fixed set.
    Enum(&'static [&'static str]),
    /// A mapping whose values must be strings.
    MapStr,
    List(&'static Ty),
    Obj(&'static Obj),
}

/// An object type with a fixed set of keys.
#[derive(Debug)]
pub(crate) struct Obj {
    /// Human name used in messages, e.g. "image entry".
    pub name: &'static str,
    pub fields: &'static [(&'static str, Ty)],
    pub required: &'static [&'static str],
}

pub(crate) static KERNEL: Obj = Obj {
    name: "kernel",
    fields: &[
        ("image", Ty::Str),
        ("cmdline", Ty::Str),
        ("binary", Ty::Str),
        ("tar", Ty::Str),
        ("ucode", Ty::Str),
    ],
    required: &[],
};

pub(crate) static FILE: Obj = Obj {
    name: "file entry",
    fields: &[
        ("path", Ty::Str),
        ("directory", Ty::Bool),
        ("symlink", Ty::Str),
        ("contents", Ty::Str),
        ("source", Ty::Str),
        ("metadata", Ty::Str),
        ("optional", Ty::Bool),
        ("mode", Ty::Str),
        ("uid", Ty::StrOrInt),
        ("gid", Ty::StrOrInt),
    ],
    required: &[],
};

pub(crate) static VOLUME: Obj = Obj {
    name: "volume entry",
    fields: &[
        ("name", Ty::Str),
        ("image", Ty::Str),
        ("readonly", Ty::Bool),
        ("format", Ty::Enum(&["oci", "filesystem"])),
        ("platforms", Ty::List(&Ty::Str)),
    ],
    required: &[],
};

static TRUST: Obj = Obj {
    name: "trust",
    fields: &[("image", Ty::List(&Ty::Str)), ("org", Ty::List(&Ty::Str))],
    required: &[],
};

pub(crate) static IDMAPPING: Obj = Obj {
    name: "id mapping",
    fields: &[
        ("hostID", Ty::Int),
        ("containerID", Ty::Int),
        ("size", Ty::Int),
    ],
    required: &[],
};

pub(crate) static MOUNT: Obj = Obj {
    name: "mount",
    fields: &[
        ("destination", Ty::Str),
        ("type", Ty::Str),
        ("source", Ty::Str),
        ("options", Ty::List(&Ty::Str)),
        ("uidmappings", Ty::List(&Ty::Obj(&IDMAPPING))),
        ("gidmappings", Ty::List(&Ty::Obj(&IDMAPPING))),
    ],
    required: &[],
};

static DEVICE: Obj = Obj {
    name: "device",
    fields: &[
        ("path", Ty::Str),
        ("type", Ty::Str),
        ("major", Ty::Int),
        ("minor", Ty::Int),
        ("mode", Ty::Str),
    ],
    required: &[],
};

static DEVICECGROUP: Obj = Obj {
    name: "device cgroup rule",
    fields: &[
        ("allow", Ty::Bool),
        ("type", Ty::Str),
        ("major", Ty::Int),
        ("minor", Ty::Int),
        ("access", Ty::Str),
    ],
    required: &[],
};

static MEMORY: Obj = Obj {
    name: "memory",
    fields: &[
        ("limit", Ty::Int),
        ("reservation", Ty::Int),
        ("swap", Ty::Int),
        ("kernel", Ty::Int),
        ("kernelTCP", Ty::Int),
        ("swappiness", Ty::Int),
        ("disableOOMKiller", Ty::Bool),
    ],
    required: &[],
};

static CPU: Obj = Obj {
    name: "cpu",
    fields: &[
        ("shares", Ty::Int),
        ("quota", Ty::Int),
        ("period", Ty::Int),
        ("realtimeRuntime", Ty::Int),
        ("realtimePeriod", Ty::Int),
        ("cpus", Ty::Str),
        ("mems", Ty::Str),
    ],
    required: &[],
};

static PIDS: Obj = Obj {
    name: "pids",
    fields: &[("limit", Ty::Int)],
    required: &[],
};

static WEIGHTDEVICE: Obj = Obj {
    name: "weight device",
    fields: &[
        ("major", Ty::Int),
        ("minor", Ty::Int),
        ("weight", Ty::Int),
        ("leafWeight", Ty::Int),
    ],
    required: &[],
};

static THROTTLEDEVICE: Obj = Obj {
    name: "throttle device",
    fields: &[("major", Ty::Int), ("minor", Ty::Int), ("rate", Ty::Int)],
    required: &[],
};

static BLOCKIO: Obj = Obj {
    name: "blockio",
    fields: &[
        ("weight", Ty::Int),
        ("leafWeight", Ty::Int),
        ("weightDevice", Ty::List(&Ty::Obj(&WEIGHTDEVICE))),
        ("throttleReadBpsDevice", Ty::List(&Ty::Obj(&THROTTLEDEVICE))),
        (
            "throttleWriteBpsDevice",
            Ty::List(&Ty::Obj(&THROTTLEDEVICE)),
        ),
        (
            "throttleReadIOPSDevice",
            Ty::List(&Ty::Obj(&THROTTLEDEVICE)),
        ),
        (
            "throttleWriteIOPSDevice",
            Ty::List(&Ty::Obj(&THROTTLEDEVICE)),
        ),
    ],
    required: &[],
};

static HUGEPAGELIMIT: Obj = Obj {
    name: "hugepage limit",
    fields: &[("pageSize", Ty::Int), ("limit", Ty::Int)],
    required: &[],
};

static INTERFACEPRIORITY: Obj = Obj {
    name: "interface priority",
    fields: &[("name", Ty::Str), ("priority", Ty::Int)],
    required: &[],
};

static NETWORK: Obj = Obj {
    name: "network",
    fields: &[
        ("classID", Ty::Int),
        ("priorities", Ty::List(&Ty::Obj(&INTERFACEPRIORITY))),
    ],
    required: &[],
};

static RESOURCES: Obj = Obj {
    name: "resources",
    fields: &[
        ("devices", Ty::List(&Ty::Obj(&DEVICECGROUP))),
        ("memory", Ty::Obj(&MEMORY)),
        ("cpu", Ty::Obj(&CPU)),
        ("pids", Ty::Obj(&PIDS)),
        ("blockio", Ty::Obj(&BLOCKIO)),
        ("hugepageLimits", Ty::List(&Ty::Obj(&HUGEPAGELIMIT))),
        ("network", Ty::Obj(&NETWORK)),
    ],
    required: &[],
};

static INTERFACE: Obj = Obj {
    name: "interface",
    fields: &[
        ("name", Ty::Str),
        ("add", Ty::Str),
        ("peer", Ty::Str),
        ("createInRoot", Ty::Bool),
    ],
    required: &[],
};

static NAMESPACES: Obj = Obj {
    name: "bindNS",
    fields: &[
        ("cgroup", Ty::Str),
        ("ipc", Ty::Str),
        ("mnt", Ty::Str),
        ("net", Ty::Str),
        ("pid", Ty::Str),
        ("user", Ty::Str),
        ("uts", Ty::Str),
    ],
    required: &[],
};

static RUNTIME: Obj = Obj {
    name: "runtime",
    fields: &[
        ("cgroups", Ty::List(&Ty::Str)),
        ("mounts", Ty::List(&Ty::Obj(&MOUNT))),
        ("mkdir", Ty::List(&Ty::Str)),
        ("interfaces", Ty::List(&Ty::Obj(&INTERFACE))),
        ("bindNS", Ty::Obj(&NAMESPACES)),
        ("namespace", Ty::Str),
    ],
    required: &[],
};

/// The fields of an image entry; shared by [`IMAGE`] and [`LABEL`].
static IMAGE_FIELDS: &[(&str, Ty)] = &[
    ("name", Ty::Str),
    ("image", Ty::Str),
    ("capabilities", Ty::List(&Ty::Str)),
    ("capabilities.add", Ty::List(&Ty::Str)),
    ("ambient", Ty::List(&Ty::Str)),
    ("mounts", Ty::List(&Ty::Obj(&MOUNT))),
    ("binds", Ty::List(&Ty::Str)),
    ("binds.add", Ty::List(&Ty::Str)),
    ("devices", Ty::List(&Ty::Obj(&DEVICE))),
    ("tmpfs", Ty::List(&Ty::Str)),
    ("command", Ty::List(&Ty::Str)),
    ("env", Ty::List(&Ty::Str)),
    ("cwd", Ty::Str),
    ("net", Ty::Str),
    ("pid", Ty::Str),
    ("ipc", Ty::Str),
    ("uts", Ty::Str),
    ("userns", Ty::Str),
    ("hostname", Ty::Str),
    ("readonly", Ty::Bool),
    ("maskedPaths", Ty::List(&Ty::Str)),
    ("readonlyPaths", Ty::List(&Ty::Str)),
    ("uid", Ty::StrOrInt),
    ("gid", Ty::StrOrInt),
    ("additionalGids", Ty::List(&Ty::StrOrInt)),
    ("noNewPrivileges", Ty::Bool),
    ("oomScoreAdj", Ty::Int),
    ("rootfsPropagation", Ty::Str),
    ("cgroupsPath", Ty::Str),
    ("resources", Ty::Obj(&RESOURCES)),
    ("sysctl", Ty::MapStr),
    ("rlimits", Ty::List(&Ty::Str)),
    ("uidMappings", Ty::List(&Ty::Obj(&IDMAPPING))),
    ("gidMappings", Ty::List(&Ty::Obj(&IDMAPPING))),
    ("annotations", Ty::MapStr),
    ("runtime", Ty::Obj(&RUNTIME)),
];

/// An `onboot`/`onshutdown`/`services` entry.
pub(crate) static IMAGE: Obj = Obj {
    name: "image entry",
    fields: IMAGE_FIELDS,
    required: &["name", "image"],
};

/// An `org.mobyproject.config` label (name/image are checked separately).
pub(crate) static LABEL: Obj = Obj {
    name: "org.mobyproject.config label",
    fields: IMAGE_FIELDS,
    required: &[],
};

/// The top level of a configuration file.
pub(crate) static TOP: Obj = Obj {
    name: "configuration",
    fields: &[
        ("kernel", Ty::Obj(&KERNEL)),
        ("init", Ty::List(&Ty::Str)),
        ("onboot", Ty::List(&Ty::Obj(&IMAGE))),
        ("onshutdown", Ty::List(&Ty::Obj(&IMAGE))),
        ("services", Ty::List(&Ty::Obj(&IMAGE))),
        ("trust", Ty::Obj(&TRUST)),
        ("files", Ty::List(&Ty::Obj(&FILE))),
        ("volumes", Ty::List(&Ty::Obj(&VOLUME))),
    ],
    required: &[],
};

/// A schema violation at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

/// Validate `node` against object type `obj`; `path` prefixes key names in messages.
pub(crate) fn validate(node: &Node, obj: &'static Obj, path: &str) -> Vec<Issue> {
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
        Ty::Str | Ty::Enum(_) => "a string",
        Ty::Bool => "a boolean (true or false)",
        Ty::Int => "an integer",
        Ty::StrOrInt => "a string or an integer",
        Ty::MapStr => "a mapping of strings to strings",
        Ty::List(inner) => match inner {
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

fn mismatch(node: &Node, ty: &Ty, path: &str, out: &mut Vec<Issue>) {
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
            for (i, item) in items.iter().enumerate() {
                check(item, inner, &format!("{path}[{i}]"), out);
            }
        }
        (Ty::Obj(obj), Value::Map(pairs)) => check_obj(node, obj, pairs, path, out),
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
    let names: Vec<&str> = obj.fields.iter().map(|(n, _)| *n).collect();
    for (k, v) in pairs {
        let Some(ks) = k.as_str() else {
            key_not_string(k, if path.is_empty() { "top level" } else { path }, out);
            continue;
        };
        match obj.fields.iter().find(|(n, _)| *n == ks) {
            Some((_, fty)) => check(v, fty, &join(path, ks), out),
            None => {
                let hint = match closest(ks, &names) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("valid keys are: {}", names.join(", ")),
                };
                let place = if path.is_empty() {
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
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
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
        let names: Vec<&str> = IMAGE.fields.iter().map(|(n, _)| *n).collect();
        assert_eq!(closest("capabilites", &names), Some("capabilities"));
        assert_eq!(closest("bind", &names), Some("binds"));
        assert_eq!(closest("colour", &names), None);
        assert_eq!(closest("Env", &names), Some("env"));
    }
}
