//! The external programs the tests run, and the Debian package of each.
//!
//! The table is `scripts/debian-packages.txt`, the list `scripts/setup.sh`
//! installs from (included here at compile time: one list). Spawning a
//! program through [`Run`] turns "No such file or directory" into a message
//! that names the program, its package and the set-up command.

use std::ffi::OsStr;
use std::process::{Child, Command, ExitStatus, Output};

/// `scripts/debian-packages.txt`: `scope program-or-file package` lines.
const TABLE: &str = include_str!("../../../scripts/debian-packages.txt");

/// One line of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// `build` or `test`.
    pub scope: &'static str,
    /// A program on `PATH`, or an absolute file path.
    pub name: &'static str,
    /// The Debian package that provides it.
    pub package: &'static str,
}

/// Every entry of the table.
pub fn all() -> impl Iterator<Item = Tool> {
    TABLE.lines().filter_map(|l| {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            return None;
        }
        let mut f = l.split_whitespace();
        Some(Tool {
            scope: f.next()?,
            name: f.next()?,
            package: f.next()?,
        })
    })
}

/// The Debian package of `program` (a name such as `qemu-img`, or a path
/// whose file name is in the table), if the table lists it.
pub fn package_of(program: &str) -> Option<&'static str> {
    let base = std::path::Path::new(program)
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or(program);
    all()
        .find(|t| t.name == program || t.name == base)
        .map(|t| t.package)
}

/// What to say when `program` cannot be started.
pub fn spawn_failure(program: &OsStr, err: &std::io::Error) -> String {
    let name = program.to_string_lossy();
    let hint = match package_of(&name) {
        Some(pkg) => format!(
            "install the Debian package `{pkg}` (`bash scripts/setup.sh` installs every tool the tests use)"
        ),
        None => "it is not in scripts/debian-packages.txt: add it there with its Debian package"
            .to_string(),
    };
    if err.kind() == std::io::ErrorKind::NotFound {
        format!("cannot run `{name}`: not found on PATH; {hint}")
    } else {
        format!("cannot run `{name}`: {err}; {hint}")
    }
}

/// Start a [`Command`] of an external program, panicking with
/// [`spawn_failure`]'s message when it cannot be started.
pub trait Run {
    /// [`Command::output`].
    fn run_output(&mut self) -> Output;
    /// [`Command::status`].
    fn run_status(&mut self) -> ExitStatus;
    /// [`Command::spawn`].
    fn run_spawn(&mut self) -> Child;
}

impl Run for Command {
    fn run_output(&mut self) -> Output {
        self.output()
            .unwrap_or_else(|e| panic!("{}", spawn_failure(self.get_program(), &e)))
    }
    fn run_status(&mut self) -> ExitStatus {
        self.status()
            .unwrap_or_else(|e| panic!("{}", spawn_failure(self.get_program(), &e)))
    }
    fn run_spawn(&mut self) -> Child {
        self.spawn()
            .unwrap_or_else(|e| panic!("{}", spawn_failure(self.get_program(), &e)))
    }
}

/// Run `program args...` and return its output (see [`Run`]).
pub fn tool(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).run_output()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_the_packages_of_the_tools_the_tests_run() {
        assert_eq!(package_of("qemu-img"), Some("qemu-utils"));
        assert_eq!(
            package_of("/usr/bin/docker-registry"),
            Some("docker-registry")
        );
        assert_eq!(package_of("fsck.erofs"), Some("erofs-utils"));
        assert_eq!(package_of("no-such-tool"), None);
        for t in all() {
            assert!(matches!(t.scope, "build" | "test"), "{t:?}");
            assert!(!t.package.is_empty(), "{t:?}");
        }
    }

    #[test]
    fn a_missing_program_is_named_with_its_package() {
        let e = Command::new("fsck.erofs-that-does-not-exist")
            .output()
            .unwrap_err();
        let m = spawn_failure(OsStr::new("sgdisk"), &e);
        assert!(m.contains("cannot run `sgdisk`: not found on PATH"), "{m}");
        assert!(m.contains("Debian package `gdisk`"), "{m}");
        let r = std::panic::catch_unwind(|| tool("linuxkit-test-no-such-program", &[]));
        let msg = r.unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(msg.contains("linuxkit-test-no-such-program"), "{msg}");
        assert!(msg.contains("scripts/debian-packages.txt"), "{msg}");
    }
}
