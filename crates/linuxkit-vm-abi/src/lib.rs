//! The contract between the build (which writes an image) and the in-VM
//! `/init` (which reads it): the facts both sides must spell the same way.
//!
//! What it owns:
//! - [`bundle`]: where container bundles live (`containers/onboot/NNN-name`,
//!   `containers/services/name`, `containers/onshutdown/NNN-name`,
//!   `containers/volumes/name`) and the names of the files inside one
//!   (`config.json`, `runtime.json`, `rootfs`, `lower`, `tmp`);
//! - [`runtime`]: the `runtime.json` document (serde types in upstream's
//!   field order), written by `linuxkit-config` and read by `linuxkit-init`;
//! - [`kmod`]: kernel-module naming (`virtio-net.ko` → `virtio_net`), the
//!   `.modinfo` dependencies, and [`rootdisk`]: the modules and marker of
//!   the root initrd of disk-image boots.
//!
//! What it must not do: any I/O, any policy of either side (merging YAML,
//! mounting, loading), or depend on another workspace crate. It is linked
//! into the static in-VM binary, so it stays small: serde and serde_json only.

pub mod bundle;
pub mod kmod;
pub mod rootdisk;
pub mod runtime;
