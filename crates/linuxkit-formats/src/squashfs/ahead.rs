//! Compression ahead of the writer, on both cores. The squashfs writer
//! places data and fragment blocks one after the other, each where the
//! previous compressed block ended, so it cannot start a block before the
//! one before it is compressed. [`Ahead`] knows the blocks it will ask for
//! (a dry run of the writer's placement: identical files stored once, small
//! files packed into fragment blocks in inode order) and compresses them a
//! batch at a time on two threads; the writer takes the results in order.
//! Every result is checked against the bytes the writer actually has, and
//! compressed on the spot if they differ, so a plan that went wrong costs
//! time, never correctness.

use super::meta::zlib;
use crate::Shared;
use std::collections::{HashSet, VecDeque};
use std::io;

/// Blocks compressed per batch (with 128 KiB blocks: 8 MiB in, at most
/// that much held).
const BATCH: usize = 64;

/// One block the writer will compress: a slice of a file, or a fragment
/// block made of whole small files.
enum Job {
    Block(Shared),
    Fragment(Vec<Shared>),
}

impl Job {
    fn len(&self) -> usize {
        match self {
            Job::Block(b) => b.len(),
            Job::Fragment(parts) => parts.iter().map(|p| p.len()).sum(),
        }
    }

    /// Whether the job's bytes are `data`.
    fn is(&self, data: &[u8]) -> bool {
        if self.len() != data.len() {
            return false;
        }
        match self {
            Job::Block(b) => std::ptr::eq(b.as_ptr(), data.as_ptr()) || b[..] == *data,
            Job::Fragment(parts) => {
                let mut at = 0;
                parts.iter().all(|p| {
                    let same = data[at..at + p.len()] == p[..];
                    at += p.len();
                    same
                })
            }
        }
    }

    fn compress(&self) -> io::Result<Vec<u8>> {
        match self {
            Job::Block(b) => zlib(b),
            Job::Fragment(parts) => zlib(&parts.concat()),
        }
    }
}

/// The blocks of `files` (regular files' contents, in inode order) as the
/// writer stores them with `block_size`.
fn plan(files: impl Iterator<Item = Shared>, block_size: usize) -> VecDeque<Job> {
    let mut jobs = VecDeque::new();
    let mut seen: HashSet<Shared> = HashSet::new();
    let mut fragment: Vec<Shared> = Vec::new();
    let mut fragment_len = 0;
    for data in files {
        if data.is_empty() || seen.contains(&data) {
            continue;
        }
        if data.len() < block_size {
            if fragment_len + data.len() > block_size {
                jobs.push_back(Job::Fragment(std::mem::take(&mut fragment)));
                fragment_len = 0;
            }
            fragment_len += data.len();
            fragment.push(data.clone());
        } else {
            let mut at = 0;
            while at < data.len() {
                let end = (at + block_size).min(data.len());
                jobs.push_back(Job::Block(data.slice(at..end)));
                at = end;
            }
        }
        seen.insert(data);
    }
    if !fragment.is_empty() {
        jobs.push_back(Job::Fragment(fragment));
    }
    jobs
}

/// The look-ahead compressor.
pub(super) struct Ahead {
    jobs: VecDeque<Job>,
    ready: VecDeque<(Job, Vec<u8>)>,
}

impl Ahead {
    /// Plan the blocks of `files` (see [`plan`]).
    pub(super) fn new(files: impl Iterator<Item = Shared>, block_size: usize) -> Ahead {
        Ahead {
            jobs: plan(files, block_size),
            ready: VecDeque::new(),
        }
    }

    /// The zlib stream of `data`, the writer's next block.
    pub(super) fn zlib(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        if self.ready.is_empty() {
            self.fill()?;
        }
        match self.ready.pop_front() {
            Some((job, c)) if job.is(data) => Ok(c),
            // Off plan: compress here, and stop guessing.
            _ => {
                self.jobs.clear();
                self.ready.clear();
                zlib(data)
            }
        }
    }

    /// Compress the next batch, half on another thread.
    fn fill(&mut self) -> io::Result<()> {
        let n = self.jobs.len().min(BATCH);
        let batch: Vec<Job> = self.jobs.drain(..n).collect();
        let (a, b) = batch.split_at(batch.len() / 2);
        let run = |jobs: &[Job]| {
            jobs.iter()
                .map(Job::compress)
                .collect::<io::Result<Vec<_>>>()
        };
        let (ra, rb) = std::thread::scope(|s| {
            let other = s.spawn(|| run(b));
            let first = run(a);
            let second = other
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a compression thread panicked")));
            (first, second)
        });
        let results = ra?.into_iter().chain(rb?);
        self.ready.extend(batch.into_iter().zip(results));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_matches_the_writers_calls_and_a_miss_still_compresses() {
        let big = Shared::from(vec![7u8; 300]);
        let small = Shared::from(vec![1u8; 40]);
        let files = vec![
            big.clone(),
            small.clone(),
            Shared::new(),
            small.clone(),
            Shared::from(vec![2u8; 70]),
        ];
        let mut a = Ahead::new(files.into_iter(), 128);
        // big: blocks of 128, 128, 44; the small files: one fragment of
        // 40 + 70 = 110 bytes (the repeated one is stored once).
        assert_eq!(a.zlib(&big[..128]).unwrap(), zlib(&big[..128]).unwrap());
        assert_eq!(
            a.zlib(&big[128..256]).unwrap(),
            zlib(&big[128..256]).unwrap()
        );
        assert_eq!(a.zlib(&big[256..]).unwrap(), zlib(&big[256..]).unwrap());
        let frag = [vec![1u8; 40], vec![2u8; 70]].concat();
        assert_eq!(a.zlib(&frag).unwrap(), zlib(&frag).unwrap());
        // Beyond the plan (or off it): still the right stream.
        assert_eq!(a.zlib(b"other").unwrap(), zlib(b"other").unwrap());
    }
}
