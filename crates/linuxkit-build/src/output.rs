//! Turning the filesystem stream into output files: `tar` and `docker`
//! stream straight to their file; `kernel+initrd` and `tar-kernel-initrd`
//! split out the kernel, command line and microcode and write the rest as a
//! gzip-compressed newc cpio, compressed in parallel. Every file is written
//! under a temporary name in its directory and renamed into place only when
//! the whole build succeeded, so a failed build leaves nothing half-written.

use crate::error::BuildError;
use crate::outfile::OutputFile;
use crate::{SegmentKey, Sink};
use linuxkit_formats::cpio::{CpioWriter, FIRST_INO};
use linuxkit_formats::gzip::GzipParallelWriter;
use linuxkit_formats::tar::TarWriter;
use linuxkit_formats::{Entry, Kind, Shared};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
        // Mapped, so the segment goes from the page cache to the output
        // without a copy in between.
        let mapped = std::fs::File::open(&path).and_then(|f| Shared::map_whole(&f));
        if let Ok(bytes) = mapped {
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
    /// Whether the initrd is made at all (see [`InitrdSink::kernel_only`]).
    initrd: bool,
    current: Segment,
    /// The initrd's pieces, in order: compressed here or cached files, read
    /// once into the final buffer by [`InitrdSink::finish`].
    gz: Vec<Piece>,
    /// `boot/kernel`.
    pub kernel: Shared,
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
    /// The segment's cpio, compressed as it is written (parallel gzip,
    /// the same bytes as compressing the whole cpio at once).
    cpio: CpioWriter<GzipParallelWriter<Vec<u8>>>,
    kernel: Option<Shared>,
    cmdline: Option<Vec<u8>>,
    ucode: Option<Vec<u8>>,
}

impl Segment {
    fn new(key: Option<String>, level: u32) -> Segment {
        Segment {
            key,
            replayed: false,
            entries: 0,
            cpio: CpioWriter::new(GzipParallelWriter::new(Vec::new(), level), FIRST_INO),
            kernel: None,
            cmdline: None,
            ucode: None,
        }
    }
}

/// A piece of the initrd: bytes compressed by this build, or a cached
/// segment file, kept open (so a concurrent cache clean-up cannot take it
/// away). `id` names the piece's content: the cache name of a keyed
/// segment, else a digest of its bytes (see [`InitrdSink::whole_path`]).
enum Piece {
    Bytes {
        gz: Vec<u8>,
        id: String,
    },
    File {
        file: std::fs::File,
        len: usize,
        id: String,
    },
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Piece::Bytes { gz, .. } => gz.len(),
            Piece::File { len, .. } => *len,
        }
    }

    fn id(&self) -> &str {
        match self {
            Piece::Bytes { id, .. } | Piece::File { id, .. } => id,
        }
    }
}

/// Side parts from this size on are mapped rather than read (the kernel).
const MAP_MIN: usize = 1 << 20;

/// The parts of a kernel+initrd build.
pub struct InitrdParts {
    /// Kernel binary.
    pub kernel: Shared,
    /// Command line.
    pub cmdline: Vec<u8>,
    /// Microcode cpio (may be empty).
    pub ucode: Vec<u8>,
    /// gzip(cpio), without the microcode.
    pub initrd_gz: Shared,
}

/// Write a file atomically (temporary name, fsync, rename), creating its directory.
pub fn atomic_write(path: &Path, data: &[u8]) -> std::io::Result<()> {
    temp_beside(path, |w| w.write_all(data))?
        .persist(path)
        .map_err(|e| e.error)?;
    Ok(())
}

/// A temporary file in `path`'s directory (created if need be) holding
/// what `write` wrote through a 1 MiB buffer, synced: renamed onto `path`
/// by the caller once its contents are known to be good.
pub fn temp_beside(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        write(&mut w)?;
        w.flush()?;
    }
    tmp.as_file().sync_all()?;
    Ok(tmp)
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
            initrd: true,
            current: Segment::new(None, level),
            gz: Vec::new(),
            kernel: Shared::new(),
            cmdline: Vec::new(),
            ucode: Vec::new(),
        }
    }

    /// A sink that only collects the kernel, command line and microcode:
    /// for builds whose formats carry the root file system on its own
    /// (`kernel+squashfs|erofs|iso`) and never use the initrd. Cached
    /// segments still give their side data; nothing is compressed or stored.
    pub fn kernel_only(cache_dir: Option<PathBuf>, level: u32) -> InitrdSink {
        InitrdSink {
            initrd: false,
            ..InitrdSink::new(cache_dir, level)
        }
    }

    /// The cache name of a keyed segment at this sink's gzip level.
    fn segment_hex(&self, key: &str) -> String {
        key_hex(&format!("{key}|gzip-{}", self.level))
    }

    fn paths(&self, key: &str) -> Option<(PathBuf, PathBuf)> {
        let dir = self.cache_dir.as_ref()?;
        let hex = self.segment_hex(key);
        let base = dir.join(&hex[..2]).join(&hex);
        Some((base.with_extension("gz"), base.with_extension("side")))
    }

    /// Where the whole initrd made of `pieces` is cached: named by the
    /// pieces' ids in order (a keyed segment's cache name, or the SHA-256
    /// of bytes compressed by this build), so it names the content.
    fn whole_path(&self, pieces: &[Piece]) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut names = String::from("initrd-whole-v1");
        for p in pieces {
            names.push('|');
            names.push_str(p.id());
            names.push_str(&format!(":{}", p.len()));
        }
        let hex = key_hex(&names);
        Some(dir.join("whole").join(&hex[..2]).join(format!("{hex}.gz")))
    }

    /// The initrd as one buffer. A warm build maps it from the cache
    /// (pages the outputs are then written from directly); otherwise the
    /// pieces are copied into one buffer once, which is stored for the next
    /// build. A single cached piece is mapped as it is.
    fn assemble(&self, pieces: Vec<Piece>) -> Result<Shared, BuildError> {
        let total: usize = pieces.iter().map(Piece::len).sum();
        if let [Piece::File { file, len, .. }] = &pieces[..]
            && let Ok(m) = Shared::map_file(file, 0, *len)
        {
            return Ok(m);
        }
        let whole = if pieces.len() > 1 {
            self.whole_path(&pieces)
        } else {
            None
        };
        if let Some(path) = &whole
            && let Ok(file) = std::fs::File::open(path)
            && file.metadata().is_ok_and(|m| m.len() == total as u64)
            && let Ok(m) = Shared::map_file(&file, 0, total)
        {
            return Ok(m);
        }
        // Written straight into the whole copy, which is then mapped: no
        // second buffer of the initrd's size.
        if let Some(path) = &whole {
            match store_whole(path, &pieces, total) {
                Ok(m) => return Ok(m),
                // Only saves time later: concatenate in memory instead.
                Err(e) => tracing::debug!("cannot store the initrd in the cache: {e}"),
            }
        }
        let mut gz = Vec::with_capacity(total);
        for piece in &pieces {
            append_piece(piece, &mut gz).map_err(|e| {
                BuildError::io(
                    "cannot read a cached initrd segment (run `linuxkit cache clean` if this persists)",
                    e,
                )
            })?;
        }
        Ok(gz.into())
    }

    /// Close the current segment: compress it, append it, store it if keyed.
    fn close(&mut self) -> Result<(), BuildError> {
        let seg = std::mem::replace(&mut self.current, Segment::new(None, self.level));
        if seg.replayed {
            return Ok(());
        }
        if !self.initrd {
            self.take_side(seg.kernel, seg.cmdline, seg.ucode);
            return Ok(());
        }
        let gz = if seg.entries == 0 {
            Vec::new()
        } else {
            seg.cpio
                .finish()
                .map_err(|e| BuildError::Other(format!("cannot write the initrd: {e}")))?
                .finish()
                .map_err(|e| BuildError::io("cannot write the initrd", e))?
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
            let id = match &seg.key {
                Some(key) => self.segment_hex(key),
                // Only names a cached whole initrd: no digest without a cache.
                None if self.cache_dir.is_none() => String::new(),
                None => {
                    use sha2::Digest;
                    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&gz)))
                }
            };
            self.gz.push(Piece::Bytes { gz, id });
        }
        self.take_side(seg.kernel, seg.cmdline, seg.ucode);
        Ok(())
    }

    /// Keep a segment's kernel, command line and microcode, if it has them.
    fn take_side(
        &mut self,
        kernel: Option<Shared>,
        cmdline: Option<Vec<u8>>,
        ucode: Option<Vec<u8>>,
    ) {
        if let Some(k) = kernel {
            self.kernel = k;
        }
        if let Some(c) = cmdline {
            self.cmdline = c;
        }
        if let Some(u) = ucode {
            self.ucode = u;
        }
    }

    /// Close the cpio and compress it.
    pub fn finish(mut self) -> Result<InitrdParts, BuildError> {
        self.close()?;
        let pieces = std::mem::take(&mut self.gz);
        let gz = self.assemble(pieces)?;
        Ok(InitrdParts {
            kernel: self.kernel,
            cmdline: self.cmdline,
            ucode: self.ucode,
            initrd_gz: gz,
        })
    }
}

/// Append a piece's bytes to `out` (a cached segment is read from its
/// start, whatever its file offset).
fn append_piece(piece: &Piece, out: &mut dyn Write) -> std::io::Result<()> {
    match piece {
        Piece::Bytes { gz, .. } => out.write_all(gz),
        Piece::File { file, len, .. } => {
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0u8; (*len).min(1 << 20)];
            let mut at = 0u64;
            while at < *len as u64 {
                let n = buf.len().min(*len - at as usize);
                file.read_exact_at(&mut buf[..n], at)?;
                out.write_all(&buf[..n])?;
                at += n as u64;
            }
            Ok(())
        }
    }
}

/// Write the whole initrd made of `pieces` to `path` (temporary name,
/// fsync, rename) and map it.
fn store_whole(path: &Path, pieces: &[Piece], total: usize) -> std::io::Result<Shared> {
    let tmp = temp_beside(path, |w| pieces.iter().try_for_each(|p| append_piece(p, w)))?;
    let file = tmp.persist(path).map_err(|e| e.error)?;
    Shared::map_file(&file, 0, total)
}

fn encode_side(
    kernel: &Option<Shared>,
    cmdline: &Option<Vec<u8>>,
    ucode: &Option<Vec<u8>>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let parts: [Option<&[u8]>; 3] = [kernel.as_deref(), cmdline.as_deref(), ucode.as_deref()];
    for part in parts {
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

type Side = (Option<Shared>, Option<Vec<u8>>, Option<Vec<u8>>);

/// Read side data written by [`encode_side`] from its file: small parts
/// are read, a large one (the kernel, 14 MB) is mapped.
fn read_side(path: &Path) -> Option<Side> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).ok()?;
    let total = file.metadata().ok()?.len();
    let mut parts: Vec<Option<Shared>> = Vec::new();
    let mut at = 0u64;
    for _ in 0..3 {
        let mut flag = [0u8; 1];
        file.read_exact_at(&mut flag, at).ok()?;
        at += 1;
        if flag[0] == 0 {
            parts.push(None);
            continue;
        }
        let mut len = [0u8; 8];
        file.read_exact_at(&mut len, at).ok()?;
        at += 8;
        let len = u64::from_le_bytes(len);
        if len > total.saturating_sub(at) {
            return None; // truncated or corrupt: rebuild the segment
        }
        let n = usize::try_from(len).ok()?;
        let data = if n >= MAP_MIN {
            Shared::map_file(&file, at, n).ok()?
        } else {
            let mut v = vec![0u8; n];
            file.read_exact_at(&mut v, at).ok()?;
            Shared::from(v)
        };
        at += len;
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
            if len > 0 && self.initrd {
                let id = self.segment_hex(key);
                self.gz.push(Piece::File { file, len, id });
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
        self.current = Segment::new(Some(key.to_string()), self.level);
        Ok(false)
    }

    fn put(&mut self, e: Entry) -> Result<(), BuildError> {
        if self.current.replayed {
            return Ok(());
        }
        match e.path.as_str() {
            // Shared, not copied (a slice of a mapped layer on a warm cache).
            "boot/kernel" => self.current.kernel = Some(e.data.clone()),
            "boot/cmdline" => self.current.cmdline = Some(e.data.to_vec()),
            "boot/ucode.cpio" => self.current.ucode = Some(e.data.to_vec()),
            p if p.starts_with("boot/") => {}
            _ if !self.initrd => {}
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
    kernel: &Shared,
    initrd_gz: &Shared,
    cmdline: &[u8],
    ucode: &[u8],
    mtime: i64,
) -> Result<Vec<u8>, BuildError> {
    let mut w = TarWriter::without_provenance(Vec::new());
    for (name, data) in [
        ("kernel", kernel.clone()),
        ("initrd.img", initrd_gz.clone()),
        ("cmdline", Shared::from(cmdline)),
        ("ucode.cpio", Shared::from(ucode)),
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
