//! The receiving end of the assembler's stream: the [`Sink`] trait, the
//! [`SegmentKey`] that lets a sink replay a run of entries from a cache
//! of its own, and [`Tee`], which feeds several sinks at once. The sinks
//! themselves live in [`crate::tar_sink`], [`crate::initrd_sink`] and
//! [`crate::formats::rootfs`].

use crate::error::BuildError;
use linuxkit_formats::Entry;

/// Receives the filesystem stream.
pub trait Sink {
    /// Accept the next entry.
    fn put(&mut self, e: Entry) -> Result<(), BuildError>;

    /// A new run of entries starts. `key`, when given, fully determines the
    /// entries of the run (image content under a prefix, the kernel
    /// section): a sink that can replay that run from a cache of its own
    /// returns `true`, and the assembler then skips producing it. Entries
    /// sent anyway are ignored by such a sink until the next call.
    fn segment(&mut self, key: Option<SegmentKey<'_>>) -> Result<bool, BuildError> {
        let _ = key;
        Ok(false)
    }
}

/// Identifies a run of entries for [`Sink::segment`].
#[derive(Debug, Clone, Copy)]
pub struct SegmentKey<'a> {
    /// Everything the entries' contents and metadata depend on (format
    /// version, image manifest digest, prefix, options, mtime).
    pub content: &'a str,
    /// The `LINUXKIT.location` the entries carry (only tar outputs store it).
    pub location: &'a str,
}

impl Sink for Vec<Entry> {
    fn put(&mut self, e: Entry) -> Result<(), BuildError> {
        self.push(e);
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
