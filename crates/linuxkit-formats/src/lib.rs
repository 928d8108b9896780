//! Pure output writers for linuxkit-rs. Every writer consumes the same
//! deterministic stream of [`Entry`] values produced by the assembler
//! (`linuxkit-build`) and writes one format; none of them reads layers or
//! touches the cache. Today: PAX tar and newc cpio (the initrd). Disk and
//! ISO formats arrive with the formats issue.

pub mod cpio;
pub mod entry;
pub mod gzip;
pub mod path;
pub mod tar;
pub mod time;

pub use entry::{Entry, Kind};
