//! One declaration per configuration key: the [`config_struct!`] macro and the
//! [`Decode`] trait that turn a validated YAML tree into the typed model.
//!
//! `config_struct!` takes a struct written once, each field preceded by its
//! YAML key, and generates from it
//! - the struct itself (with `#[derive(Serialize)]` and `#[serde(rename = KEY)]`
//!   on each field, so the key is also the serialised name),
//! - its schema object ([`crate::schema::Obj`], a `static` named in the
//!   declaration) with each field's [`crate::schema::Ty`] derived from the Rust
//!   type through [`Decode::ty`],
//! - its [`Decode`] implementation.
//!
//! Adding a key is one line in `model.rs` (plus its meaning in `spec.rs` if
//! it is more than a plain copy).
//!
//! Decoding runs after `schema.rs` accepted the tree, so it never reports
//! errors: a value of an unexpected type (impossible after validation)
//! decodes as absent/default instead of panicking.

use std::collections::BTreeMap;

use crate::model::{Id, Moby, Origin};
use crate::schema::Ty;
use crate::yaml::{Node, Value};

/// A model type that the schema can describe and a validated node can be decoded into.
pub trait Decode: Sized {
    /// The schema type of a value of this Rust type.
    fn ty() -> Ty;
    /// Decode a node that the schema accepted for [`Decode::ty`].
    fn decode(n: &Node, file: &str) -> Self;
    /// The value of an absent key.
    fn absent() -> Self;
    /// Decode the value of key `n` (absent = `None`).
    fn field(n: Option<&Node>, file: &str) -> Self {
        n.map_or_else(Self::absent, |n| Self::decode(n, file))
    }
}

impl Decode for String {
    fn ty() -> Ty {
        Ty::Str
    }
    fn decode(n: &Node, _: &str) -> Self {
        n.as_str().unwrap_or_default().to_string()
    }
    fn absent() -> Self {
        String::new()
    }
}

impl Decode for bool {
    fn ty() -> Ty {
        Ty::Bool
    }
    fn decode(n: &Node, _: &str) -> Self {
        matches!(n.value, Value::Bool(true))
    }
    fn absent() -> Self {
        false
    }
}

impl Decode for i64 {
    fn ty() -> Ty {
        Ty::Int
    }
    fn decode(n: &Node, _: &str) -> Self {
        match n.value {
            Value::Int(v) => i64::try_from(v).unwrap_or(0),
            _ => 0,
        }
    }
    fn absent() -> Self {
        0
    }
}

impl Decode for Id {
    fn ty() -> Ty {
        Ty::StrOrInt
    }
    fn decode(n: &Node, _: &str) -> Self {
        match &n.value {
            Value::Int(v) => Id::Int(i64::try_from(*v).unwrap_or(0)),
            Value::Str(v) => Id::Name(v.clone()),
            _ => Id::Name(String::new()),
        }
    }
    fn absent() -> Self {
        Id::Int(0)
    }
}

impl<T: Decode> Decode for Option<T> {
    fn ty() -> Ty {
        T::ty()
    }
    fn decode(n: &Node, file: &str) -> Self {
        Some(T::decode(n, file))
    }
    fn absent() -> Self {
        None
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn ty() -> Ty {
        Ty::List(T::ty)
    }
    fn decode(n: &Node, file: &str) -> Self {
        match &n.value {
            Value::Seq(items) => items.iter().map(|i| T::decode(i, file)).collect(),
            _ => Vec::new(),
        }
    }
    fn absent() -> Self {
        Vec::new()
    }
}

impl Decode for BTreeMap<String, String> {
    fn ty() -> Ty {
        Ty::MapStr
    }
    fn decode(n: &Node, _: &str) -> Self {
        match &n.value {
            Value::Map(pairs) => pairs
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        }
    }
    fn absent() -> Self {
        BTreeMap::new()
    }
}

/// Where the value of key `key` of mapping `n` was written (`n` itself when
/// the key is absent or `key` is `""`).
pub fn origin(n: &Node, key: &str, file: &str) -> Origin {
    let at = if key.is_empty() {
        n
    } else {
        n.get(key).unwrap_or(n)
    };
    Origin {
        file: file.to_string(),
        line: at.line,
        column: at.column,
    }
}

/// Declare a configuration object once: its struct, its schema and its decoder
/// (see the module documentation).
///
/// ```text
/// config_struct! {
///     /// doc
///     #[derive(Debug, Clone, PartialEq, Default)]
///     pub struct Memory in MEMORY("memory", required ["limit"]) {
///         /// doc of the field
///         "swappiness" => pub swappiness: Option<i64>,
///         "format" one of ["oci", "filesystem"] => pub format: String,
///     }
///     origin at "name"
/// }
/// ```
/// `NAME("what")` names the schema static and the object in messages;
/// `place "in X"` words unknown-key messages as "unknown field `k` in X";
/// `origin at "key"` adds an `origin: Origin` field holding where that key
/// (`""`: the entry itself) was written.
#[macro_export]
macro_rules! config_struct {
    (
        $(#[$attr:meta])*
        pub struct $name:ident in $obj:ident ($what:literal $(, required [$($req:literal),*])? $(, place $place:literal)?) {
            $(
                $(#[$fattr:meta])*
                $key:literal $(one of [$($val:literal),*])? => pub $field:ident : $fty:ty,
            )*
        }
        $(origin at $okey:literal)?
    ) => {
        $(#[$attr])*
        #[derive(serde::Serialize)]
        pub struct $name {
            $(
                $(#[$fattr])*
                #[doc = concat!("\n\nYAML key `", $key, "`.")]
                #[serde(rename = $key)]
                pub $field: $fty,
            )*
            $(
                #[doc = concat!("Where `", $okey, "` (or else the entry) was written (ignored by `==`).")]
                #[serde(skip)]
                pub origin: $crate::Origin,
            )?
        }

        impl $name {
            /// The keys of this object, in declaration order.
            pub const FIELDS: &'static [$crate::schema::Field] = &[
                $(
                    $crate::schema::Field {
                        key: $key,
                        ty: <$fty as $crate::decode::Decode>::ty,
                        one_of: &[$($($val),*)?],
                    },
                )*
            ];
        }

        /// The schema of this object.
        pub(crate) static $obj: $crate::schema::Obj = $crate::schema::Obj {
            name: $what,
            fields: $name::FIELDS,
            required: &[$($($req),*)?],
            place: {
                #[allow(unused_mut)]
                let mut place = None;
                $(place = Some($place);)?
                place
            },
        };

        impl $crate::decode::Decode for $name {
            fn ty() -> $crate::schema::Ty {
                $crate::schema::Ty::Obj(&$obj)
            }
            #[allow(unused_variables)]
            fn decode(n: &$crate::yaml::Node, file: &str) -> Self {
                if !matches!(n.value, $crate::yaml::Value::Map(_)) {
                    return Self::default();
                }
                $name {
                    $( $field: $crate::decode::Decode::field(n.get($key), file), )*
                    $( origin: $crate::decode::origin(n, $okey, file), )?
                }
            }
            fn absent() -> Self {
                Self::default()
            }
        }
    };
}

/// Decode a whole configuration file (the root must be a mapping).
pub(crate) fn moby(root: &Node, file: &str) -> Moby {
    Moby::decode(root, file)
}

/// Decode an image entry (or a label: `name`/`image` then stay empty).
pub(crate) fn image(n: &Node, file: &str) -> crate::model::Image {
    crate::model::Image::decode(n, file)
}
