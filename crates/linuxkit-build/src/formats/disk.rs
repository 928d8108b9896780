//! Writing disks into output files: raw (sparse), qcow2, VHD (fixed,
//! Azure, dynamic), stream-optimized VMDK, and GCE's `disk.raw` in a
//! gzipped tar. Sizes follow upstream: `qcow2-bios` and `aws` take
//! `--size`, `vhd`, `azure`, `vmdk` and `gcp` are 1 GiB, `dynamic-vhd`
//! 25 GiB; a disk smaller than its content is an error that names the
//! format and both sizes. Runs of zeros are never written to raw files
//! (they become holes), so a 1 GiB fixed VHD of 50 MB costs 50 MB.

use super::too_small;
use crate::error::BuildError;
use crate::outfile::OutputFile;
use crate::pending::PendingFile;
use linuxkit_formats::disk::{DiskSource, SparseImage};
use linuxkit_formats::{qcow2, vhd, vmdk};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The buffer of the qcow2 and dynamic VHD writers, for their small
/// tables and headers: the data goes out in runs of clusters written
/// straight from the kernel and initrd buffers, which a larger buffer
/// would copy first.
const TABLE_BUF: usize = 64 * 1024;

fn ctx(dest: &Path) -> String {
    format!("cannot write {}", dest.display())
}

/// A file holding `data`.
pub fn bytes(dest: &Path, data: &[u8]) -> Result<PendingFile, BuildError> {
    crate::pending::write_pending(dest, data)
}

/// A file written by `write` through a 1 MiB buffer (larger writes, such
/// as a kernel or an initrd, go straight to the file).
pub fn streamed(
    dest: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<(), BuildError>,
) -> Result<PendingFile, BuildError> {
    let mut f = PendingFile::create(dest)?;
    let mut w = BufWriter::with_capacity(1 << 20, f.file());
    write(&mut w)?;
    w.flush().map_err(|e| BuildError::io(ctx(dest), e))?;
    drop(w);
    Ok(f)
}

/// `image` at the start of a disk of `size` bytes, or the error of
/// `format` when it does not fit (`what` names the size: `--size`, ...).
pub fn padded(
    format: &str,
    image: &SparseImage,
    size: u64,
    what: &str,
) -> Result<SparseImage, BuildError> {
    let need = image.len();
    if need > size {
        return Err(too_small(format, need, size, what));
    }
    SparseImage::new(size, image.segments().to_vec())
        .map_err(|e| BuildError::Other(format!("internal error: {e}")))
}

/// A writer that turns whole buffers of zeros into holes: it skips over
/// them (one seek per run of zeros, when data follows) and sets the file
/// length at the end.
struct HoleWriter<'a> {
    f: &'a mut OutputFile,
    pos: u64,
    /// Zero bytes accepted since the last data written.
    skipped: u64,
}

impl Write for HoleWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if linuxkit_formats::buf::is_zero(buf) {
            self.skipped += buf.len() as u64;
        } else {
            if self.skipped > 0 {
                self.f.seek(SeekFrom::Start(self.pos))?;
                self.skipped = 0;
            }
            self.f.write_all(buf)?;
        }
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.f.flush()
    }
}

impl HoleWriter<'_> {
    fn finish(self) -> std::io::Result<()> {
        self.f.set_len(self.pos)
    }
}

/// Write through a [`HoleWriter`] into a new pending file.
fn sparse_file(
    dest: &Path,
    write: impl FnOnce(&mut HoleWriter<'_>) -> Result<(), String>,
) -> Result<PendingFile, BuildError> {
    let mut f = PendingFile::create(dest)?;
    let mut w = HoleWriter {
        f: f.file(),
        pos: 0,
        skipped: 0,
    };
    write(&mut w).map_err(|e| BuildError::Other(format!("{}: {e}", ctx(dest))))?;
    w.finish().map_err(|e| BuildError::io(ctx(dest), e))?;
    Ok(f)
}

/// A raw disk image, with holes for the unwritten parts.
pub fn raw_sparse(dest: &Path, src: &SparseImage) -> Result<PendingFile, BuildError> {
    let mut f = PendingFile::create(dest)?;
    let file = f.file();
    for (off, data) in src.segments() {
        file.seek(SeekFrom::Start(*off))
            .and_then(|_| file.write_all(data))
            .map_err(|e| BuildError::io(ctx(dest), e))?;
    }
    file.set_len(src.len())
        .map_err(|e| BuildError::io(ctx(dest), e))?;
    Ok(f)
}

/// A qcow2 image of the disk.
pub fn qcow2(dest: &Path, src: &SparseImage) -> Result<PendingFile, BuildError> {
    let mut f = PendingFile::create(dest)?;
    let mut w = BufWriter::with_capacity(TABLE_BUF, f.file());
    qcow2::write_qcow2(src, &mut w)
        .map_err(|e| BuildError::Other(format!("{}: {e}", ctx(dest))))?;
    w.flush().map_err(|e| BuildError::io(ctx(dest), e))?;
    drop(w);
    Ok(f)
}

fn vhd_opts(mtime: i64) -> vhd::VhdOptions {
    vhd::VhdOptions { timestamp: mtime }
}

/// A fixed VHD of the disk (the raw disk plus a footer).
pub fn vhd_fixed(dest: &Path, src: &SparseImage, mtime: i64) -> Result<PendingFile, BuildError> {
    sparse_file(dest, |w| {
        vhd::write_vhd_fixed(src, w, &vhd_opts(mtime))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// A fixed VHD with the size Azure requires (a whole number of MiB).
pub fn vhd_azure(dest: &Path, src: &SparseImage, mtime: i64) -> Result<PendingFile, BuildError> {
    sparse_file(dest, |w| {
        vhd::write_vhd_azure(src, w, &vhd_opts(mtime))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// A dynamic (sparse) VHD of the disk.
pub fn vhd_dynamic(dest: &Path, src: &SparseImage, mtime: i64) -> Result<PendingFile, BuildError> {
    let mut f = PendingFile::create(dest)?;
    let mut w = BufWriter::with_capacity(TABLE_BUF, f.file());
    vhd::write_vhd_dynamic(src, &mut w, &vhd_opts(mtime))
        .map_err(|e| BuildError::Other(format!("{}: {e}", ctx(dest))))?;
    w.flush().map_err(|e| BuildError::io(ctx(dest), e))?;
    drop(w);
    Ok(f)
}

/// A stream-optimized VMDK of the disk, as upstream's
/// `qemu-img convert -O vmdk -o adapter_type=lsilogic,subformat=streamOptimized`.
pub fn vmdk(dest: &Path, src: &SparseImage, file_name: &str) -> Result<PendingFile, BuildError> {
    let opts = vmdk::VmdkOptions {
        extent_name: file_name.to_string(),
        ..vmdk::VmdkOptions::default()
    };
    let mut f = PendingFile::create(dest)?;
    let mut w = BufWriter::with_capacity(1 << 20, f.file());
    vmdk::write_vmdk_stream_optimized_with(src, &mut w, &opts)
        .map_err(|e| BuildError::Other(format!("{}: {e}", ctx(dest))))?;
    w.flush().map_err(|e| BuildError::io(ctx(dest), e))?;
    drop(w);
    Ok(f)
}

/// Reads a disk from start to end.
struct DiskReader<'a> {
    src: &'a dyn DiskSource,
    pos: u64,
}

impl Read for DiskReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.src.len() - self.pos).min(buf.len() as u64) as usize;
        self.src.read_at(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// GCE's image import format: a gzipped GNU tar holding the raw disk as
/// `disk.raw` (mode 0644, owner 0:0, time `mtime`; the gzip header has no
/// name and no time). Compressed in parallel, 1 MiB blocks (pigz `-i`
/// style), a block of zeros compressed once, at level 6: upstream's
/// `gzip -9` made the file 2% smaller here for 7 times the time (the disk
/// holds the already compressed kernel and initrd).
pub fn gcp(dest: &Path, src: &SparseImage, mtime: i64) -> Result<PendingFile, BuildError> {
    let mut f = PendingFile::create(dest)?;
    let result = (|| -> std::io::Result<()> {
        let out = BufWriter::with_capacity(1 << 20, f.file());
        let gz = linuxkit_formats::gzip::GzipParallelWriter::new(out, 6);
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Deterministic);
        let mut h = tar::Header::new_gnu();
        h.set_path("disk.raw")?;
        h.set_size(src.len());
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(mtime.max(0) as u64);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, DiskReader { src, pos: 0 })?;
        let gz = tar.into_inner()?;
        let mut out = gz.finish()?;
        out.flush()
    })();
    result.map_err(|e| BuildError::io(ctx(dest), e))?;
    Ok(f)
}
