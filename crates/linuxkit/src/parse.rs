//! How the command line becomes a [`Cli`]: the clap tree of `cli.rs` with
//! upstream's (cobra/pflag) conventions applied in one place:
//!
//! * every boolean flag takes an optional `=VALUE` (`--gui`, `--gui=true`,
//!   `--gui=false`; the values Go's `strconv.ParseBool` accepts), never a
//!   separate word, so `--gui false` stays a flag and a positional;
//! * `linuxkit run [flags] [backend] PATH`: flags given before the backend
//!   are moved after it, and a missing backend means qemu;
//! * single-dash long flags after `run` (`-mem 2048`, as upstream's docs and
//!   tests write them) are read as `--mem 2048`.

use crate::cli::Cli;
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};

/// Upstream's `run` backends other than qemu (not implemented here).
pub const CLOUDS: [&str; 12] = [
    "aws",
    "azure",
    "gcp",
    "hyperkit",
    "virtualization",
    "hyperv",
    "openstack",
    "equinixmetal",
    "scaleway",
    "vmware",
    "vbox",
    "vcenter",
];

/// Go's `strconv.ParseBool`, which cobra uses for boolean flags.
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("{s:?} is not a boolean: use true or false")),
    }
}

/// A boolean flag the cobra way: bare means true, `=VALUE` sets it.
fn cobra_bool(a: Arg) -> Arg {
    if !matches!(a.get_action(), ArgAction::SetTrue) {
        return a;
    }
    let default = match a.get_default_values().first() {
        Some(v) if v == "true" => "true",
        _ => "false",
    };
    a.action(ArgAction::Set)
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .default_value(default)
        .value_parser(parse_go_bool)
        .value_name("BOOL")
        .hide_possible_values(true)
}

/// Apply [`cobra_bool`] to every argument of `cmd` and its subcommands;
/// list global flags after a command's own in help (in declaration order),
/// and keep environment values out of help texts.
pub fn cobra_bools(cmd: Command) -> Command {
    let mut global = 1000;
    cmd.mut_args(|a| {
        let a = cobra_bool(a).hide_env_values(true);
        if a.is_global_set() {
            global += 1;
            a.display_order(global)
        } else {
            a
        }
    })
    .mut_subcommands(cobra_bools)
}

/// The whole command tree, as parsed.
pub fn command() -> Command {
    cobra_bools(Cli::command())
}

/// Parse `args` (program name first) into a [`Cli`], or the clap error.
pub fn try_parse(args: Vec<String>) -> Result<Cli, clap::Error> {
    let mut cmd = command();
    let matches = cmd.try_get_matches_from_mut(normalize_args(args, &cmd))?;
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
}

/// Does the long flag `name` of `cmd` take its value as the next word?
fn takes_separate_value(cmd: &Command, name: &str) -> bool {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(name))
        .is_some_and(|a| a.get_action().takes_values() && !a.is_require_equals_set())
}

/// Index of the subcommand word in `args`, skipping global flags.
fn subcommand_at(args: &[String], cmd: &Command) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            return None;
        }
        if let Some(long) = a.strip_prefix("--") {
            if !long.contains('=') && takes_separate_value(cmd, long) {
                i += 1;
            }
        } else if a == "-v" {
            i += 1;
        } else if !a.starts_with('-') {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Rewrite `linuxkit ... run ...` into the form the clap tree parses (see
/// the module doc). Other commands are returned unchanged.
pub fn normalize_args(args: Vec<String>, root: &Command) -> Vec<String> {
    let Some(run_at) = subcommand_at(&args, root).filter(|&i| args[i] == "run") else {
        return args;
    };
    let Some(qemu) = root
        .find_subcommand("run")
        .and_then(|r| r.find_subcommand("qemu"))
    else {
        return args;
    };
    let is_long = |name: &str| qemu.get_arguments().any(|a| a.get_long() == Some(name));
    // Single-dash long flags become double-dash ones.
    let mut args: Vec<String> = args
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            if i > run_at && a.len() > 2 && a.starts_with('-') && !a.starts_with("--") {
                let name = a[1..].split('=').next().unwrap_or("");
                if is_long(name) || name == "help" {
                    return format!("-{a}");
                }
            }
            a
        })
        .collect();
    // Find the backend word (or the PATH) after the flags that precede it.
    let mut i = run_at + 1;
    while i < args.len() {
        let a = &args[i];
        if a == "--" || !a.starts_with('-') || a == "-" {
            break;
        }
        if let Some(long) = a.strip_prefix("--")
            && !long.contains('=')
            && takes_separate_value(qemu, long)
        {
            i += 1;
        }
        i += 1;
    }
    let word = args.get(i).cloned().unwrap_or_default();
    let word = word.as_str();
    let flags: Vec<String> = args.drain(run_at + 1..i.min(args.len())).collect();
    let mut at = run_at + 1;
    let is_backend = word == "qemu" || word == "help" || CLOUDS.contains(&word);
    if is_backend {
        at += 1;
    } else if !word.is_empty() || !flags.iter().any(|f| f == "--help" || f == "-h") {
        if word.is_empty() && flags.is_empty() {
            return args;
        }
        // `linuxkit run [flags] PATH`: the default backend on Linux is qemu.
        args.insert(at, "qemu".to_string());
        at += 1;
    }
    for (k, f) in flags.into_iter().enumerate() {
        args.insert(at + k, f);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Is `a` a boolean flag (after [`cobra_bools`])?
    fn is_bool_flag(a: &Arg) -> bool {
        a.get_long().is_some()
            && matches!(a.get_action(), ArgAction::Set)
            && a.is_require_equals_set()
            && a.get_num_args() == Some((0..=1).into())
    }

    fn v(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    fn n(s: &str) -> Vec<String> {
        normalize_args(v(s), &command())
    }

    #[test]
    fn run_forms() {
        assert_eq!(
            n("linuxkit run qemu -mem 2048 -v x"),
            v("linuxkit run qemu --mem 2048 -v x")
        );
        assert_eq!(n("linuxkit build -mem x"), v("linuxkit build -mem x"));
        assert_eq!(n("linuxkit build run"), v("linuxkit build run"));
        assert_eq!(
            n("linuxkit run -publish=8080:80 m"),
            v("linuxkit run qemu --publish=8080:80 m")
        );
        assert_eq!(n("linuxkit run m"), v("linuxkit run qemu m"));
        assert_eq!(n("linuxkit run aws m"), v("linuxkit run aws m"));
        assert_eq!(
            n("linuxkit run --cpus 2 qemu m"),
            v("linuxkit run qemu --cpus 2 m")
        );
        assert_eq!(
            n("linuxkit --cache c run -cpus 2 --gui --mem=512 qemu --uefi m"),
            v("linuxkit --cache c run qemu --cpus 2 --gui --mem=512 --uefi m")
        );
        assert_eq!(
            n("linuxkit run --cpus 2 m"),
            v("linuxkit run qemu --cpus 2 m")
        );
        assert_eq!(n("linuxkit run --help"), v("linuxkit run --help"));
        assert_eq!(n("linuxkit run"), v("linuxkit run"));
    }

    #[test]
    fn go_bools() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Ok(true));
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Ok(false));
        }
        assert!(parse_go_bool("yes").is_err());
    }

    /// Every flag that is a boolean, with the subcommand path that has it.
    fn bool_flags(cmd: &Command, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Arg)>) {
        for a in cmd.get_arguments() {
            assert!(
                !matches!(a.get_action(), ArgAction::SetTrue | ArgAction::SetFalse),
                "{path:?} --{:?} is a boolean that refuses =false",
                a.get_long()
            );
            // (Globals appear only where they are defined: the tree is not built.)
            if is_bool_flag(a) {
                out.push((path.clone(), a.clone()));
            }
        }
        for s in cmd.get_subcommands() {
            path.push(s.get_name().to_string());
            bool_flags(s, path, out);
            path.pop();
        }
    }

    /// Words that satisfy the required arguments of the command at `path`.
    fn required(cmd: &Command, path: &[String]) -> Vec<String> {
        let mut c = cmd;
        let mut words = Vec::new();
        for p in path {
            c = c.find_subcommand(p).unwrap();
            words.push(p.clone());
        }
        let mut tail = Vec::new();
        for a in c.get_arguments().filter(|a| a.is_required_set()) {
            match a.get_long() {
                Some(l) => words.push(format!("--{l}=x")),
                None => tail.push("x".to_string()),
            }
        }
        if let Some(first) = c.get_subcommands().next() {
            let sub = vec![first.get_name().to_string()];
            tail.extend(sub.clone());
            tail.extend(required(c, &sub).into_iter().skip(1));
        }
        words.extend(tail);
        words
    }

    /// The value of the flag `id` once `args` are parsed.
    fn value(args: &[String], path: &[String], id: &str) -> bool {
        let m = command()
            .try_get_matches_from(args)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let mut m = &m;
        for p in path {
            m = m.subcommand_matches(p).unwrap();
        }
        *m.get_one::<bool>(id).unwrap()
    }

    #[test]
    fn every_boolean_takes_false_true_and_bare() {
        let root = command();
        let mut flags = Vec::new();
        bool_flags(&root, &mut Vec::new(), &mut flags);
        eprintln!("{} boolean flags", flags.len());
        // The list holds the ones upstream users write.
        let names: Vec<String> = flags
            .iter()
            .map(|(p, a)| format!("{} --{}", p.join(" "), a.get_long().unwrap()))
            .collect();
        for expect in [
            " --quiet",
            "build --pull",
            "cache rm --published-only",
            "cache push --override",
            "pkg --dev",
            "run qemu --gui",
            "run qemu --uefi",
            "run qemu --detached",
        ] {
            assert!(
                names.iter().any(|n| n == expect),
                "{expect} missing from {names:?}"
            );
        }
        for (path, a) in &flags {
            let long = a.get_long().unwrap();
            let id = a.get_id().as_str();
            let base = required(&root, path);
            let with = |flag: Option<String>| {
                let mut args = vec!["linuxkit".to_string()];
                let mut base = base.clone();
                if let Some(f) = flag {
                    // after the subcommand path, before positionals
                    base.insert(path.len(), f);
                }
                args.extend(base);
                args
            };
            for (given, want) in [
                (Some(format!("--{long}=false")), false),
                (Some(format!("--{long}=true")), true),
                (Some(format!("--{long}")), true),
            ] {
                let args = with(given);
                assert_eq!(value(&args, path, id), want, "{args:?}");
            }
            // Absent: the declared default.
            let default = a
                .get_default_values()
                .first()
                .map(|v| v == "true")
                .unwrap_or(false);
            assert_eq!(value(&with(None), path, id), default, "{path:?} {long}");
            let args = with(Some(format!("--{long}=maybe")));
            assert!(command().try_get_matches_from(&args).is_err(), "{args:?}");
        }
    }

    /// `--help` of every command and subcommand, as users see it.
    #[test]
    fn help_snapshots() {
        fn walk(cmd: &mut Command, path: &mut Vec<String>) {
            let text = cmd.render_long_help().to_string();
            let name = if path.is_empty() {
                "help".to_string()
            } else {
                format!("help-{}", path.join("-"))
            };
            insta::assert_snapshot!(name, text);
            let names: Vec<String> = cmd
                .get_subcommands()
                .filter(|s| s.get_name() != "help")
                .map(|s| s.get_name().to_string())
                .collect();
            for n in names {
                let sub = cmd.find_subcommand_mut(&n).unwrap();
                path.push(n);
                walk(sub, path);
                path.pop();
            }
        }
        let mut root = command().term_width(100);
        root.build();
        walk(&mut root, &mut Vec::new());
    }
}
