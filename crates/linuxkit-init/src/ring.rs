//! The log: a bounded in-memory ring of lines from every container's stdout
//! and stderr and the kernel log (like upstream's memlogd: 5000 lines of at
//! most 1024 bytes), line assembly for partial reads, and optional files in
//! `/var/log` rotated by size (like upstream's logwrite).

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;

/// Most lines kept.
pub const MAX_LINES: usize = 5000;
/// Longest line kept (longer lines are cut, at a character boundary).
pub const MAX_LINE: usize = 1024;

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Sequence number (increasing from 1), for followers.
    pub seq: u64,
    /// Wall-clock time, RFC 3339 with nanoseconds, UTC.
    pub time: String,
    /// Source: `<service>.out` (stdout), `<service>` (stderr),
    /// `onboot.<name>[.out]`, `shutdown.<name>[.out]`, `kmsg`, `init`.
    pub source: String,
    /// The text, without the newline.
    pub msg: String,
}

impl Line {
    /// Rendered like memlogd: `<time>;<source>;<msg>`.
    pub fn render(&self) -> String {
        format!("{};{};{}", self.time, self.source, self.msg)
    }
}

/// Files in a directory, one per source, rotated at `max_size` keeping `keep` old ones.
#[derive(Debug)]
pub struct Files {
    dir: PathBuf,
    max_size: u64,
    keep: usize,
    open: HashMap<String, (std::fs::File, u64)>,
}

impl Files {
    /// Files under `dir` (created when missing).
    pub fn new(dir: PathBuf, max_size: u64, keep: usize) -> Self {
        Files {
            dir,
            max_size,
            keep,
            open: HashMap::new(),
        }
    }

    fn path(&self, source: &str, n: usize) -> PathBuf {
        let base = format!("{source}.log");
        if n == 0 {
            self.dir.join(base)
        } else {
            self.dir.join(format!("{base}.{n}"))
        }
    }

    /// Append a line to the source's file, rotating first when it is full.
    pub fn write(&mut self, line: &Line) {
        let text = format!("{};{}\n", line.time, line.msg);
        if let Some((_, size)) = self.open.get(&line.source)
            && *size + text.len() as u64 > self.max_size
        {
            self.open.remove(&line.source);
            for n in (1..=self.keep).rev() {
                let from = self.path(&line.source, n - 1);
                let _ = std::fs::rename(&from, self.path(&line.source, n));
            }
            if self.keep == 0 {
                let _ = std::fs::remove_file(self.path(&line.source, 0));
            }
        }
        if !self.open.contains_key(&line.source) {
            let _ = std::fs::create_dir_all(&self.dir);
            let path = self.path(&line.source, 0);
            let Ok(f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            else {
                return;
            };
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            self.open.insert(line.source.clone(), (f, size));
        }
        if let Some((f, size)) = self.open.get_mut(&line.source)
            && f.write_all(text.as_bytes()).is_ok()
        {
            *size += text.len() as u64;
        }
    }
}

/// The ring.
#[derive(Debug, Default)]
pub struct Ring {
    lines: VecDeque<Line>,
    next: u64,
    partial: HashMap<String, Vec<u8>>,
    /// Files to copy each line to, if enabled.
    pub files: Option<Files>,
}

fn cut(s: &str) -> String {
    if s.len() <= MAX_LINE {
        return s.to_string();
    }
    let mut end = MAX_LINE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

impl Ring {
    /// Add one complete line; returns it (for followers).
    pub fn push(&mut self, source: &str, msg: &str) -> Line {
        self.next += 1;
        let line = Line {
            seq: self.next,
            time: now_rfc3339(),
            source: source.to_string(),
            msg: cut(msg.trim_end_matches(['\r', '\n'])),
        };
        if self.lines.len() == MAX_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line.clone());
        if let Some(files) = &mut self.files {
            files.write(&line);
        }
        line
    }

    /// Add bytes read from a stream; complete lines are pushed and returned,
    /// a trailing partial line waits for more (or for [`Ring::flush`]).
    pub fn feed(&mut self, source: &str, data: &[u8]) -> Vec<Line> {
        let mut buf = self.partial.remove(source).unwrap_or_default();
        buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let text = String::from_utf8_lossy(&buf[start..start + nl]).to_string();
            out.push(self.push(source, &text));
            start += nl + 1;
        }
        let mut rest = buf.split_off(start);
        if rest.len() > MAX_LINE {
            let text = String::from_utf8_lossy(&rest).to_string();
            out.push(self.push(source, &text));
            rest.clear();
        }
        if !rest.is_empty() {
            self.partial.insert(source.to_string(), rest);
        }
        out
    }

    /// Push what is left of a stream that ended without a newline.
    pub fn flush(&mut self, source: &str) -> Option<Line> {
        let rest = self.partial.remove(source)?;
        let text = String::from_utf8_lossy(&rest).to_string();
        Some(self.push(source, &text))
    }

    /// Lines kept, oldest first, whose source passes `filter`.
    pub fn lines<'a>(&'a self, filter: &'a dyn Fn(&str) -> bool) -> impl Iterator<Item = &'a Line> {
        self.lines.iter().filter(move |l| filter(&l.source))
    }
}

/// Whether `source` belongs to the container `name` (any phase, either stream).
pub fn source_of(source: &str, name: &str) -> bool {
    let base = source.strip_suffix(".out").unwrap_or(source);
    let base = base
        .strip_prefix("onboot.")
        .or_else(|| base.strip_prefix("shutdown."))
        .unwrap_or(base);
    base == name
}

/// The current UTC time as RFC 3339 with nanoseconds.
pub fn now_rfc3339() -> String {
    let (secs, nanos) = match nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME) {
        Ok(t) => (t.tv_sec(), t.tv_nsec()),
        Err(_) => (0, 0),
    };
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_assembled_cut_and_bounded() {
        let mut r = Ring::default();
        assert!(r.feed("a.out", b"hel").is_empty());
        let got = r.feed("a.out", b"lo\nwor");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].msg, "hello");
        assert_eq!(r.flush("a.out").map(|l| l.msg), Some("wor".into()));
        let long = "x".repeat(3000);
        r.push("b", &long);
        assert_eq!(
            r.lines(&|_| true).last().map(|l| l.msg.len()),
            Some(MAX_LINE)
        );
        for i in 0..MAX_LINES + 10 {
            r.push("c", &i.to_string());
        }
        assert_eq!(r.lines(&|_| true).count(), MAX_LINES);
        assert_eq!(
            r.lines(&|s| s == "c").last().map(|l| l.msg.clone()),
            Some((MAX_LINES + 9).to_string())
        );
    }

    #[test]
    fn sources_match_their_container() {
        assert!(source_of("getty.out", "getty"));
        assert!(source_of("getty", "getty"));
        assert!(source_of("onboot.dhcpcd.out", "dhcpcd"));
        assert!(!source_of("gettyx", "getty"));
    }

    #[test]
    fn files_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Files::new(dir.path().to_path_buf(), 100, 2);
        let mut r = Ring::default();
        for i in 0..20 {
            let l = r.push("svc", &format!("line {i} {}", "y".repeat(20)));
            f.write(&l);
        }
        assert!(dir.path().join("svc.log").exists());
        assert!(dir.path().join("svc.log.1").exists());
        assert!(dir.path().join("svc.log.2").exists());
        assert!(!dir.path().join("svc.log.3").exists());
        for n in ["svc.log", "svc.log.1", "svc.log.2"] {
            assert!(std::fs::metadata(dir.path().join(n)).unwrap().len() <= 100);
        }
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19723), (2024, 1, 1));
        assert_eq!(civil_from_days(11016), (2000, 2, 29));
    }
}
