//! Run backends for linuxkit images. Today: QEMU (`linuxkit run qemu`), which
//! boots a kernel+initrd build by its prefix, an ISO, a disk image (raw,
//! qcow2, VHD, VMDK) or a unified kernel image, chooses the accelerator by
//! probing KVM for real (a short, bounded boot of the kernel under KVM), and
//! falls back to TCG with a one-line notice where KVM exists but does not work.

pub mod accel;
pub mod metadata;
pub mod qemu;

pub use qemu::{BootKind, Disk, QemuConfig, RunError};
