//! Pure output writers for linuxkit-rs. Every writer consumes the same
//! deterministic stream of [`Entry`] values produced by the assembler
//! (`linuxkit-build`) and writes one format; none of them reads layers or
//! touches the cache. Today: PAX tar and newc cpio (the initrd). Disk and
//! ISO formats arrive with the formats issue.

pub mod buf;
pub mod cpio;
pub mod disk;
pub mod entry;
pub mod erofs;
pub mod fat;
pub mod gzip;
pub mod iso9660;
pub mod partition;
pub mod path;
pub mod qcow2;
pub mod shared;
pub mod squashfs;
pub mod tar;
pub mod time;
pub mod uki;
pub mod vhd;
pub mod vmdk;

pub use entry::{Entry, Kind};
pub use shared::Shared;
