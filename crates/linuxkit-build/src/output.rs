//! Turning the filesystem stream into output files: `tar` and `docker`
//! stream straight to their file; `kernel+initrd` and `tar-kernel-initrd`
//! split out the kernel, command line and microcode and write the rest as a
//! gzip-compressed newc cpio, compressed in parallel. Every file is written
//! under a temporary name in its directory and renamed into place only when
//! the whole build succeeded, so a failed build leaves nothing half-written.

use crate::error::BuildError;
use crate::outfile::OutputFile;
use crate::{SegmentKey, Sink};
use linuxkit_formats::buf::zeroed_shared;
use linuxkit_formats::cpio::{CpioWriter, FIRST_INO};
use linuxkit_formats::gzip::gzip_parallel;
use linuxkit_formats::tar::TarWriter;
use linuxkit_formats::{Entry, Kind};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The formats of [`ALL_FORMATS`] this build cannot write yet.
pub const NOT_IMPLEMENTED: [&str; 1] = ["rpi3"];

/// Formats this build writes natively today: every name of
/// [`ALL_FORMATS`] but those of [`NOT_IMPLEMENTED`].
pub fn implemented() -> Vec<&'static str> {
    ALL_FORMATS
        .into_iter()
        .filter(|f| !NOT_IMPLEMENTED.contains(f))
        .collect()
}

/// Every format name upstream accepts, plus `azure` (a fixed VHD sized as
/// Azure requires) and `uki` (the unified kernel image of the EFI formats).
pub const ALL_FORMATS: [&str; 22] = [
    "aws",
    "azure",
    "docker",
    "dynamic-vhd",
    "gcp",
    "iso-bios",
    "iso-efi",
    "iso-efi-initrd",
    "kernel+erofs",
    "kernel+initrd",
    "kernel+iso",
    "kernel+squashfs",
    "qcow2-bios",
    "qcow2-efi",
    "raw-bios",
    "raw-efi",
    "rpi3",
    "tar",
    "tar-kernel-initrd",
    "uki",
    "vhd",
    "vmdk",
];

/// A file being written under a temporary name.
pub struct PendingFile {
    tmp: tempfile::NamedTempFile<OutputFile>,
    dest: PathBuf,
}

impl PendingFile {
    /// Create a temporary file beside `dest`.
    pub fn create(dest: &Path) -> Result<PendingFile, BuildError> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| {
                BuildError::io(
                    format!("cannot create a file in output directory {}", dir.display()),
                    e,
                )
            })?;
        let (file, path) = tmp.into_parts();
        Ok(PendingFile {
            tmp: tempfile::NamedTempFile::from_parts(OutputFile::new(file), path),
            dest: dest.to_path_buf(),
        })
    }

    /// The open file (it starts writing its data to the disk as it goes).
    pub fn file(&mut self) -> &mut OutputFile {
        self.tmp.as_file_mut()
    }

    /// fsync, set mode 0644 and rename into place.
    pub fn commit(self) -> Result<PathBuf, BuildError> {
        use std::os::unix::fs::PermissionsExt;
        let ctx = format!("cannot write {}", self.dest.display());
        self.tmp
            .as_file()
            .get_ref()
            .sync_all()
            .map_err(|e| BuildError::io(&ctx, e))?;
        std::fs::set_permissions(self.tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| BuildError::io(&ctx, e))?;
        self.tmp
            .persist(&self.dest)
            .map_err(|e| BuildError::io(&ctx, e.error))?;
        Ok(self.dest)
    }
}

/// Write a whole file atomically.
pub fn write_file(dest: &Path, data: &[u8]) -> Result<PathBuf, BuildError> {
    write_pending(dest, data)?.commit()
}

/// Write a whole file under its temporary name, to be committed later.
pub fn write_pending(dest: &Path, data: &[u8]) -> Result<PendingFile, BuildError> {
    let mut f = PendingFile::create(dest)?;
    f.file()
        .write_all(data)
        .map_err(|e| BuildError::io(format!("cannot write {}", dest.display()), e))?;
    Ok(f)
}

/// Where a streamable format goes.
pub enum StreamTarget {
    /// A file, committed on success.
    File(Box<PendingFile>),
    /// Standard output.
    Stdout,
}

/// A writer that can also record what passes through it.
struct Recorder {
    out: BufWriter<Box<dyn Write>>,
    rec: Option<Vec<u8>>,
}

impl Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        if let Some(r) = &mut self.rec {
            r.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Streams the filesystem tar (formats `tar`, `docker`). Like the initrd,
/// keyed runs of entries are stored once written (their tar bytes, PAX
/// records included) and replayed by later builds.
pub struct TarSink {
    w: TarWriter<Recorder>,
    pending: Option<Box<PendingFile>>,
    cache_dir: Option<PathBuf>,
    recording: Option<PathBuf>,
    replaying: bool,
}

impl TarSink {
    /// Stream to `target`, caching keyed segments under `cache_dir`.
    pub fn new(target: StreamTarget, cache_dir: Option<PathBuf>) -> Result<TarSink, BuildError> {
        let (out, pending): (Box<dyn Write>, _) = match target {
            StreamTarget::Stdout => (Box::new(std::io::stdout()), None),
            StreamTarget::File(mut p) => {
                let f = p
                    .file()
                    .try_clone()
                    .map_err(|e| BuildError::io("cannot open the output file", e))?;
                (Box::new(f), Some(p))
            }
        };
        Ok(TarSink {
            w: TarWriter::new(Recorder {
                out: BufWriter::with_capacity(1 << 20, out),
                rec: None,
            }),
            pending,
            cache_dir,
            recording: None,
            replaying: false,
        })
    }

    /// Store the segment being recorded, if any.
    fn close(&mut self) {
        let recorded = self.w.get_mut().rec.take();
        if let (Some(path), Some(bytes)) = (self.recording.take(), recorded)
            && let Err(e) = atomic_write(&path, &bytes)
        {
            tracing::debug!("cannot store a tar segment in the cache: {e}");
        }
        self.replaying = false;
    }

    /// Finish the archive; returns the committed path (None for stdout).
    pub fn finish(mut self) -> Result<Option<PathBuf>, BuildError> {
        self.close();
        let mut w = self
            .w
            .finish()
            .map_err(|e| BuildError::io("cannot write the tar output", e))?;
        w.flush()
            .map_err(|e| BuildError::io("cannot write the tar output", e))?;
        drop(w);
        self.pending.map(|p| p.commit()).transpose()
    }
}

impl Sink for TarSink {
    fn segment(&mut self, key: Option<SegmentKey<'_>>) -> Result<bool, BuildError> {
        self.close();
        let (Some(key), Some(dir)) = (key, &self.cache_dir) else {
            return Ok(false);
        };
        let hex = key_hex(&format!("{}|{}|tar", key.content, key.location));
        let path = dir.join(&hex[..2]).join(format!("{hex}.tar"));
        if let Ok(bytes) = std::fs::read(&path) {
            self.w
                .write_raw(&bytes)
                .map_err(|e| BuildError::io("cannot write the tar output", e))?;
            self.replaying = true;
            return Ok(true);
        }
        self.w.get_mut().rec = Some(Vec::new());
        self.recording = Some(path);
        Ok(false)
    }

    fn put(&mut self, e: Entry) -> Result<(), BuildError> {
        if self.replaying {
            return Ok(());
        }
        self.w
            .write_entry(&e)
            .map_err(|x| BuildError::io(format!("cannot write {} to the tar output", e.path), x))
    }
}

/// The split of a filesystem stream into kernel, command line, microcode and
/// an initrd (the cpio of everything else).
///
/// The initrd is a concatenation of gzip members, one per segment of the
/// stream (see [`Sink::segment`]); each member holds a complete newc archive
/// with its own trailer, which the kernel unpacks in order. Keyed segments
/// are stored under `cache_dir` once compressed, so a rebuild from the same
/// images concatenates them instead of reading layers and recompressing.
/// Segmentation does not depend on what is cached, so cold and warm builds
/// give the same bytes.
pub struct InitrdSink {
    cache_dir: Option<PathBuf>,
    level: u32,
    current: Segment,
    /// The initrd's pieces, in order: compressed here or cached files, read
    /// once into the final buffer by [`InitrdSink::finish`].
    gz: Vec<Piece>,
    /// `boot/kernel`.
    pub kernel: Arc<[u8]>,
    /// `boot/cmdline`.
    pub cmdline: Vec<u8>,
    /// `boot/ucode.cpio`.
    pub ucode: Vec<u8>,
}

/// The segment being collected.
struct Segment {
    key: Option<String>,
    replayed: bool,
    entries: usize,
    cpio: CpioWriter<Vec<u8>>,
    kernel: Option<Vec<u8>>,
    cmdline: Option<Vec<u8>>,
    ucode: Option<Vec<u8>>,
}

impl Segment {
    fn new(key: Option<String>) -> Segment {
        Segment {
            key,
            replayed: false,
            entries: 0,
            cpio: CpioWriter::new(Vec::new(), FIRST_INO),
            kernel: None,
            cmdline: None,
            ucode: None,
        }
    }
}

/// A piece of the initrd: bytes compressed by this build, or a cached
/// segment file, kept open (so a concurrent cache clean-up cannot take it
/// away) and read once into the final buffer.
enum Piece {
    Bytes(Vec<u8>),
    File(std::fs::File, usize),
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Piece::Bytes(b) => b.len(),
            Piece::File(_, n) => *n,
        }
    }
}

/// The parts of a kernel+initrd build.
pub struct InitrdParts {
    /// Kernel binary.
    pub kernel: Arc<[u8]>,
    /// Command line.
    pub cmdline: Vec<u8>,
    /// Microcode cpio (may be empty).
    pub ucode: Vec<u8>,
    /// gzip(cpio), without the microcode.
    pub initrd_gz: Arc<[u8]>,
}

/// Write a file atomically (temporary name, fsync, rename), creating its directory.
pub fn atomic_write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn key_hex(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl InitrdSink {
    /// A sink that caches keyed segments under `cache_dir` (if given),
    /// compressing with gzip `level`.
    pub fn new(cache_dir: Option<PathBuf>, level: u32) -> InitrdSink {
        InitrdSink {
            cache_dir,
            level,
            current: Segment::new(None),
            gz: Vec::new(),
            kernel: Arc::from(&[][..]),
            cmdline: Vec::new(),
            ucode: Vec::new(),
        }
    }

    fn paths(&self, key: &str) -> Option<(PathBuf, PathBuf)> {
        let dir = self.cache_dir.as_ref()?;
        let hex = key_hex(&format!("{key}|gzip-{}", self.level));
        let base = dir.join(&hex[..2]).join(&hex);
        Some((base.with_extension("gz"), base.with_extension("side")))
    }

    /// Close the current segment: compress it, append it, store it if keyed.
    fn close(&mut self) -> Result<(), BuildError> {
        let seg = std::mem::replace(&mut self.current, Segment::new(None));
        if seg.replayed {
            return Ok(());
        }
        let gz = if seg.entries == 0 {
            Vec::new()
        } else {
            let cpio = seg
                .cpio
                .finish()
                .map_err(|e| BuildError::Other(format!("cannot write the initrd: {e}")))?;
            gzip_parallel(&cpio, self.level)
        };
        if let Some(key) = &seg.key
            && let Some((gz_path, side_path)) = self.paths(key)
        {
            // side data first, the .gz last: its presence marks a complete entry.
            let side = encode_side(&seg.kernel, &seg.cmdline, &seg.ucode);
            let stored = atomic_write(&side_path, &side).and_then(|_| atomic_write(&gz_path, &gz));
            if let Err(e) = stored {
                tracing::debug!("cannot store an initrd segment in the cache: {e}");
            }
        }
        if !gz.is_empty() {
            self.gz.push(Piece::Bytes(gz));
        }
        if let Some(k) = seg.kernel {
            self.kernel = k.into();
        }
        if let Some(c) = seg.cmdline {
            self.cmdline = c;
        }
        if let Some(u) = seg.ucode {
            self.ucode = u;
        }
        Ok(())
    }

    /// Close the cpio and compress it.
    pub fn finish(mut self) -> Result<InitrdParts, BuildError> {
        self.close()?;
        // One allocation of the final size, each piece copied in once.
        let total = self.gz.iter().map(Piece::len).sum();
        let mut gz = zeroed_shared(total);
        let dst = Arc::get_mut(&mut gz)
            .ok_or_else(|| BuildError::Other("internal error: initrd buffer shared".into()))?;
        let mut at = 0;
        for piece in self.gz {
            let n = piece.len();
            match piece {
                Piece::Bytes(b) => dst[at..at + n].copy_from_slice(&b),
                Piece::File(mut f, _) => f.read_exact(&mut dst[at..at + n]).map_err(|e| {
                    BuildError::io(
                        "cannot read a cached initrd segment (run `linuxkit cache clean` if this persists)",
                        e,
                    )
                })?,
            }
            at += n;
        }
        Ok(InitrdParts {
            kernel: self.kernel,
            cmdline: self.cmdline,
            ucode: self.ucode,
            initrd_gz: gz,
        })
    }
}

fn encode_side(
    kernel: &Option<Vec<u8>>,
    cmdline: &Option<Vec<u8>>,
    ucode: &Option<Vec<u8>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [kernel, cmdline, ucode] {
        match part {
            None => out.push(0u8),
            Some(p) => {
                out.push(1u8);
                out.extend_from_slice(&(p.len() as u64).to_le_bytes());
                out.extend_from_slice(p);
            }
        }
    }
    out
}

type Side = (Option<Arc<[u8]>>, Option<Vec<u8>>, Option<Vec<u8>>);

/// Read side data written by [`encode_side`] straight from its file, each
/// part into its own buffer (the kernel is 14 MB: no intermediate copy).
fn read_side(path: &Path) -> Option<Side> {
    let file = std::fs::File::open(path).ok()?;
    let total = file.metadata().ok()?.len();
    let mut r = std::io::BufReader::with_capacity(64 * 1024, file);
    let mut parts = Vec::new();
    let mut consumed = 0u64;
    for _ in 0..3 {
        let mut flag = [0u8; 1];
        r.read_exact(&mut flag).ok()?;
        consumed += 1;
        if flag[0] == 0 {
            parts.push(None);
            continue;
        }
        let mut len = [0u8; 8];
        r.read_exact(&mut len).ok()?;
        consumed += 8;
        let len = u64::from_le_bytes(len);
        if len > total.saturating_sub(consumed) {
            return None; // truncated or corrupt: rebuild the segment
        }
        let mut data = zeroed_shared(usize::try_from(len).ok()?);
        r.read_exact(Arc::get_mut(&mut data)?).ok()?;
        consumed += len;
        parts.push(Some(data));
    }
    let mut it = parts.into_iter();
    let (kernel, cmdline, ucode) = (it.next()?, it.next()?, it.next()?);
    Some((
        kernel,
        cmdline.map(|c| c.to_vec()),
        ucode.map(|u| u.to_vec()),
    ))
}

impl Sink for InitrdSink {
    fn segment(&mut self, key: Option<SegmentKey<'_>>) -> Result<bool, BuildError> {
        // The initrd carries no provenance records: the location is irrelevant.
        let key = key.map(|k| k.content);
        if key.is_none() && self.current.key.is_none() && !self.current.replayed {
            return Ok(false); // keep collecting generated entries together
        }
        self.close()?;
        let Some(key) = key else {
            return Ok(false);
        };
        if let Some((gz_path, side_path)) = self.paths(key)
            && let Ok(file) = std::fs::File::open(&gz_path)
            && let Ok(meta) = file.metadata()
            && let Ok(len) = usize::try_from(meta.len())
            && let Some((kernel, cmdline, ucode)) = read_side(&side_path)
        {
            if len > 0 {
                self.gz.push(Piece::File(file, len));
            }
            if let Some(k) = kernel {
                self.kernel = k;
            }
            if let Some(c) = cmdline {
                self.cmdline = c;
            }
            if let Some(u) = ucode {
                self.ucode = u;
            }
            self.current.replayed = true;
            return Ok(true);
        }
        self.current = Segment::new(Some(key.to_string()));
        Ok(false)
    }

    fn put(&mut self, e: Entry) -> Result<(), BuildError> {
        if self.current.replayed {
            return Ok(());
        }
        match e.path.as_str() {
            "boot/kernel" => self.current.kernel = Some(e.data.to_vec()),
            "boot/cmdline" => self.current.cmdline = Some(e.data.to_vec()),
            "boot/ucode.cpio" => self.current.ucode = Some(e.data.to_vec()),
            p if p.starts_with("boot/") => {}
            _ => {
                self.current.entries += 1;
                self.current
                    .cpio
                    .write_entry(&e)
                    .map_err(|x| BuildError::Other(format!("cannot write the initrd: {x}")))?
            }
        }
        Ok(())
    }
}

/// Sends every entry to several sinks.
pub struct Tee<'a> {
    /// The sinks.
    pub sinks: Vec<&'a mut dyn Sink>,
}

impl Sink for Tee<'_> {
    fn segment(&mut self, key: Option<SegmentKey<'_>>) -> Result<bool, BuildError> {
        let mut all = true;
        for s in self.sinks.iter_mut() {
            all &= s.segment(key)?;
        }
        Ok(all && !self.sinks.is_empty())
    }

    fn put(&mut self, e: Entry) -> Result<(), BuildError> {
        if let Some((last, rest)) = self.sinks.split_last_mut() {
            for s in rest {
                s.put(e.clone())?;
            }
            last.put(e)?;
        }
        Ok(())
    }
}

/// The `tar-kernel-initrd` archive: `kernel`, `initrd.img`, `cmdline`,
/// `ucode.cpio`, each only if non-empty.
pub fn kernel_initrd_tar(
    kernel: &Arc<[u8]>,
    initrd_gz: &Arc<[u8]>,
    cmdline: &[u8],
    ucode: &[u8],
    mtime: i64,
) -> Result<Vec<u8>, BuildError> {
    let mut w = TarWriter::without_provenance(Vec::new());
    for (name, data) in [
        ("kernel", kernel.clone()),
        ("initrd.img", initrd_gz.clone()),
        ("cmdline", Arc::from(cmdline)),
        ("ucode.cpio", Arc::from(ucode)),
    ] {
        if !data.is_empty() {
            let mut e = Entry::file(name, 0o644, mtime, data);
            e.kind = Kind::File;
            w.write_entry(&e)
                .map_err(|x| BuildError::io("tar-kernel-initrd", x))?;
        }
    }
    w.finish()
        .map_err(|x| BuildError::io("tar-kernel-initrd", x))
}
