//! The test harness shared by linuxkit-rs's tests (a dev-dependency only),
//! as cloud-hypervisor's `test_infra`:
//!
//! - [`qemu`]: bounded boots with `linuxkit run qemu` and the console reader;
//! - [`registry`] and [`fault_proxy`]: a real OCI registry (Debian's
//!   `docker-registry`) with basic, token or TLS auth, skopeo helpers, a
//!   synthetic multi-arch image layout, and a fault-injecting proxy;
//! - [`fixtures`]: the repository and `../shared` (no absolute paths), the
//!   conformance image cache, tar and cpio readers, git, free ports;
//! - [`tools`]: the external programs with their Debian packages (the list
//!   `scripts/setup.sh` installs), and [`tools::Run`], which names the
//!   package when a program cannot be started.

pub mod fault_proxy;
pub mod fixtures;
pub mod qemu;
pub mod registry;
pub mod tools;

pub use fixtures::*;
pub use qemu::{Background, Boot, Outcome, tail};
pub use tools::{Run, tool};
