//! The file an output is written into: a [`std::fs::File`] that asks the
//! kernel to start writing its data to the disk while the build is still
//! producing the rest of it (Linux `sync_file_range` with
//! `SYNC_FILE_RANGE_WRITE`, every [`WRITEBACK_CHUNK`] bytes written).
//!
//! Every output is fsynced before it is renamed into place, so that a
//! crash never leaves a half-written file under the output's name. Without
//! early writeback that fsync starts the whole disk write only once the
//! file is complete: writing 48 MB took 10 ms into the page cache and then
//! 25–30 ms more in `fsync`. Started early, the disk writes overlap with
//! producing the data and the final fsync waits only for the last chunk
//! (a build of `raw-bios` went from 0.069 s to 0.058 s; numbers in
//! docs/benchmarks.md). The kernel call only queues writeback: it neither
//! waits for the disk nor makes anything durable, so correctness still
//! rests on the fsync in [`crate::pending::PendingFile::commit`].

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// How many bytes are written between two writeback requests. Larger
/// single writes are cut to this size, so that a 33 MB initrd written in
/// one call is on its way to the disk before its last byte is copied.
pub const WRITEBACK_CHUNK: u64 = 4 << 20;

/// An output file that starts the writeback of its data early.
#[derive(Debug)]
pub struct OutputFile {
    file: File,
    /// The file offset, as moved by this value's writes and seeks.
    pos: u64,
    /// The range written since the last writeback request.
    dirty: Option<(u64, u64)>,
}

impl OutputFile {
    /// Wrap a file whose offset is 0.
    pub fn new(file: File) -> OutputFile {
        OutputFile {
            file,
            pos: 0,
            dirty: None,
        }
    }

    /// The file itself (reads, metadata, fsync).
    pub fn get_ref(&self) -> &File {
        &self.file
    }

    /// Truncate or extend the file to `len` bytes (holes read as zeros).
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    /// A second handle on the same open file (same offset), for a writer
    /// that takes ownership; this one should not be written meanwhile.
    pub fn try_clone(&self) -> io::Result<OutputFile> {
        Ok(OutputFile {
            file: self.file.try_clone()?,
            pos: self.pos,
            dirty: None,
        })
    }

    fn note_written(&mut self, start: u64, n: u64) {
        let end = start + n;
        let (lo, hi) = match self.dirty {
            Some((lo, hi)) => (lo.min(start), hi.max(end)),
            None => (start, end),
        };
        if hi - lo >= WRITEBACK_CHUNK {
            start_writeback(&self.file, lo, hi - lo);
            self.dirty = None;
        } else {
            self.dirty = Some((lo, hi));
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = buf.len().min(WRITEBACK_CHUNK as usize);
        let n = self.file.write(&buf[..take])?;
        let start = self.pos;
        self.pos += n as u64;
        self.note_written(start, n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for OutputFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.pos = self.file.seek(pos)?;
        Ok(self.pos)
    }
}

impl Read for OutputFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Queue the writeback of `len` bytes at `offset` (Linux; elsewhere
/// nothing). Failures are ignored: this is only a hint, and the fsync
/// before the rename reports any real write error.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(off), Ok(n)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: sync_file_range only reads its integer arguments; the
    // descriptor is valid for the call because `file` is borrowed.
    let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), off, n, libc::SYNC_FILE_RANGE_WRITE) };
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_seeks_and_large_writes_land_where_a_plain_file_puts_them() {
        let tmp = tempfile::tempfile().expect("tempfile");
        let mut f = OutputFile::new(tmp);
        let big: Vec<u8> = (0..(WRITEBACK_CHUNK as usize * 2 + 12345))
            .map(|i| (i % 251) as u8)
            .collect();
        f.write_all(b"head").expect("write");
        f.seek(SeekFrom::Start(1 << 20)).expect("seek");
        f.write_all(&big).expect("write");
        let end = f.stream_position().expect("pos");
        assert_eq!(end, (1 << 20) + big.len() as u64);
        f.set_len(end + 100).expect("set_len");
        f.seek(SeekFrom::Start(0)).expect("seek");
        let mut back = Vec::new();
        f.read_to_end(&mut back).expect("read");
        assert_eq!(back.len() as u64, end + 100);
        assert_eq!(&back[..4], b"head");
        assert!(back[4..1 << 20].iter().all(|&b| b == 0));
        assert_eq!(&back[1 << 20..end as usize], &big[..]);
        assert!(back[end as usize..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_write_is_cut_to_the_writeback_chunk() {
        let mut f = OutputFile::new(tempfile::tempfile().expect("tempfile"));
        let big = vec![1u8; WRITEBACK_CHUNK as usize + 1];
        assert_eq!(f.write(&big).expect("write"), WRITEBACK_CHUNK as usize);
        assert_eq!(f.stream_position().expect("pos"), WRITEBACK_CHUNK);
    }
}
