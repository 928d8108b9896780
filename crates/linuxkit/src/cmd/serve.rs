//! `linuxkit serve [--port ADDR] [--directory DIR]`: a static HTTP file
//! server, as upstream's (Go's `http.FileServer`), for network boots (the
//! kernel, initrd and iPXE script of a build) and for `metadata` tests.
//!
//! What it answers: `GET` and `HEAD`; files with `Content-Length` and
//! `Accept-Ranges: bytes`; one byte range per request (`206` with
//! `Content-Range`, `416` with `Content-Range: bytes */LEN` when it starts
//! past the end; several ranges or a malformed `Range` get the whole file,
//! as RFC 9110 allows); a directory: its `index.html`, else a listing (a
//! path without its trailing `/` is redirected first). What it refuses:
//! `..` in the path (400), anything whose real path (symlinks resolved)
//! is outside the directory (403), devices and FIFOs (403).
//!
//! Memory is bounded: the request head is at most [`MAX_HEAD`] bytes, at
//! most [`MAX_CONNECTIONS`] connections are served at once (more get 503),
//! files are streamed, and idle clients time out. One request per
//! connection (`Connection: close`).

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Longest request head (request line and headers) read.
pub const MAX_HEAD: usize = 16 * 1024;
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may stay silent (reading) or stalled (writing).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Upstream's `--port` value (`:8080`, `HOST:PORT`, or a bare port) as an
/// address to bind: an empty host means every IPv4 interface.
pub fn listen_address(port: &str) -> String {
    if let Some(p) = port.strip_prefix(':') {
        format!("0.0.0.0:{p}")
    } else if port.chars().all(|c| c.is_ascii_digit()) {
        format!("0.0.0.0:{port}")
    } else {
        port.to_string()
    }
}

/// Serve `directory` on `port` until killed.
pub fn run(port: &str, directory: &Path) -> Result<()> {
    let root = directory
        .canonicalize()
        .with_context(|| format!("cannot serve {}", directory.display()))?;
    if !root.is_dir() {
        anyhow::bail!("cannot serve {}: not a directory", directory.display());
    }
    let addr = listen_address(port);
    let listener =
        TcpListener::bind(&addr).with_context(|| format!("cannot listen on {addr} (--port)"))?;
    eprintln!(
        "Serving {} on http://{}/",
        root.display(),
        listener.local_addr().map(|a| a.to_string()).unwrap_or(addr)
    );
    let root = Arc::new(root);
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(TIMEOUT));
        let _ = stream.set_write_timeout(Some(TIMEOUT));
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let mut s = stream;
            let _ = respond_plain(&mut s, 503, "too many connections\n", false);
            continue;
        }
        let (root, active) = (Arc::clone(&root), Arc::clone(&active));
        std::thread::spawn(move || {
            let _ = handle(stream, &root);
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: String,
    /// The path as sent (still percent-encoded), without query.
    path: String,
    range: Option<String>,
}

/// Read and parse the request head; `Err` is the status to answer.
fn read_request<R: BufRead>(r: &mut R) -> Result<Request, u16> {
    let mut limited = r.take(MAX_HEAD as u64);
    let mut line = Vec::new();
    let mut first = true;
    let mut req = Request {
        method: String::new(),
        path: String::new(),
        range: None,
    };
    loop {
        line.clear();
        let n = limited.read_until(b'\n', &mut line).map_err(|_| 400u16)?;
        if n == 0 || line.last() != Some(&b'\n') {
            // end of stream, or the head is longer than MAX_HEAD
            return Err(if limited.limit() == 0 { 431 } else { 400 });
        }
        let text = std::str::from_utf8(&line).map_err(|_| 400u16)?;
        let text = text.trim_end_matches(['\r', '\n']);
        if first {
            first = false;
            let mut parts = text.split(' ');
            let (Some(m), Some(target), Some(version), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(400);
            };
            if !version.starts_with("HTTP/1.") {
                return Err(505);
            }
            // absolute-form (`http://host/path`) to origin-form
            let target = match target.split_once("://") {
                Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
                None => target,
            };
            let path = target.split(['?', '#']).next().unwrap_or("");
            if !path.starts_with('/') {
                return Err(400);
            }
            req.method = m.to_string();
            req.path = path.to_string();
            continue;
        }
        if text.is_empty() {
            return Ok(req);
        }
        if let Some((k, v)) = text.split_once(':')
            && k.trim().eq_ignore_ascii_case("range")
        {
            req.range = Some(v.trim().to_string());
        }
    }
}

/// Percent-decode a URL path; `None` when malformed.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-encode a file name for a link.
fn percent_encode(name: &[u8]) -> String {
    let mut s = String::new();
    for &c in name {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            s.push(char::from(c));
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

/// The file a URL path names under `root` (canonical); `Err` is a status.
fn resolve(root: &Path, url_path: &str) -> Result<PathBuf, u16> {
    use std::os::unix::ffi::OsStrExt;
    let decoded = percent_decode(url_path).ok_or(400u16)?;
    if decoded.contains(&0) {
        return Err(400);
    }
    let mut p = root.to_path_buf();
    for seg in decoded.split(|&c| c == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => return Err(400),
            s => p.push(std::ffi::OsStr::from_bytes(s)),
        }
    }
    let real = p.canonicalize().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => 404u16,
        _ => 403,
    })?;
    if !real.starts_with(root) {
        return Err(403);
    }
    Ok(real)
}

/// A byte range of a file of length `len`.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// Send the whole file (no `Range`, or one we ignore).
    Whole,
    /// Send bytes `start..=end`.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// Interpret a `Range` header value for a file of `len` bytes.
fn parse_range(value: Option<&str>, len: u64) -> Range {
    let Some(spec) = value.and_then(|v| v.trim().strip_prefix("bytes=")) else {
        return Range::Whole;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Whole;
    };
    let num = |s: &str| s.trim().parse::<u64>().ok();
    match (a.trim().is_empty(), b.trim().is_empty()) {
        // suffix: the last N bytes
        (true, false) => match num(b) {
            Some(0) => Range::Unsatisfiable,
            Some(_) if len == 0 => Range::Unsatisfiable,
            Some(n) => Range::Part(len.saturating_sub(n), len - 1),
            None => Range::Whole,
        },
        (false, _) => {
            let Some(start) = num(a) else {
                return Range::Whole;
            };
            let end = if b.trim().is_empty() {
                Some(u64::MAX)
            } else {
                num(b)
            };
            match end {
                None => Range::Whole,
                Some(end) if end < start => Range::Whole,
                Some(_) if start >= len => Range::Unsatisfiable,
                Some(end) => Range::Part(start, end.min(len - 1)),
            }
        }
        (true, true) => Range::Whole,
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt" | "ipxe" | "cmdline" | "yml" | "yaml") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        Some("iso") => "application/x-iso9660-image",
        _ => "application/octet-stream",
    }
}

fn head(w: &mut impl Write, status: u16, headers: &[(&str, String)]) -> io::Result<()> {
    write!(w, "HTTP/1.1 {status} {}\r\n", reason(status))?;
    for (k, v) in headers {
        write!(w, "{k}: {v}\r\n")?;
    }
    write!(w, "Connection: close\r\n\r\n")
}

fn respond_plain(w: &mut impl Write, status: u16, body: &str, is_head: bool) -> io::Result<()> {
    let mut h = vec![
        ("Content-Type", "text/plain; charset=utf-8".to_string()),
        ("Content-Length", body.len().to_string()),
    ];
    if status == 405 {
        h.push(("Allow", "GET, HEAD".into()));
    }
    head(w, status, &h)?;
    if !is_head {
        w.write_all(body.as_bytes())?;
    }
    w.flush()
}

fn error_body(status: u16) -> String {
    format!("{status} {}\n", reason(status))
}

/// Serve one connection (one request).
fn handle(stream: TcpStream, root: &Path) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(4096, stream.try_clone()?);
    let mut w = BufWriter::with_capacity(64 * 1024, stream);
    let req = match read_request(&mut reader) {
        Ok(r) => r,
        Err(status) => return respond_plain(&mut w, status, &error_body(status), false),
    };
    tracing::info!("{} {}", req.method, req.path);
    let is_head = req.method == "HEAD";
    if req.method != "GET" && !is_head {
        return respond_plain(&mut w, 405, &error_body(405), false);
    }
    let path = match resolve(root, &req.path) {
        Ok(p) => p,
        Err(status) => return respond_plain(&mut w, status, &error_body(status), is_head),
    };
    let meta = std::fs::metadata(&path)?;
    if meta.is_dir() {
        if !req.path.ends_with('/') {
            let location = format!("{}/", req.path);
            head(
                &mut w,
                301,
                &[("Location", location), ("Content-Length", "0".into())],
            )?;
            return w.flush();
        }
        let index = path.join("index.html");
        match index.canonicalize() {
            Ok(real) if real.starts_with(root) && real.is_file() => {
                return send_file(&mut w, &real, req.range.as_deref(), is_head);
            }
            _ => {}
        }
        let body = listing(&path)?;
        head(
            &mut w,
            200,
            &[
                ("Content-Type", "text/html; charset=utf-8".into()),
                ("Content-Length", body.len().to_string()),
            ],
        )?;
        if !is_head {
            w.write_all(body.as_bytes())?;
        }
        return w.flush();
    }
    if !meta.is_file() {
        return respond_plain(&mut w, 403, &error_body(403), is_head);
    }
    send_file(&mut w, &path, req.range.as_deref(), is_head)
}

/// Send a regular file, whole or one range of it, streamed.
fn send_file(
    w: &mut impl Write,
    path: &Path,
    range: Option<&str>,
    is_head: bool,
) -> io::Result<()> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let ctype = content_type(path).to_string();
    let (status, start, count, mut headers) = match parse_range(range, len) {
        Range::Whole => (200, 0, len, vec![]),
        Range::Part(a, b) => (
            206,
            a,
            b - a + 1,
            vec![("Content-Range", format!("bytes {a}-{b}/{len}"))],
        ),
        Range::Unsatisfiable => {
            let body = error_body(416);
            head(
                w,
                416,
                &[
                    ("Content-Range", format!("bytes */{len}")),
                    ("Content-Type", "text/plain; charset=utf-8".into()),
                    ("Content-Length", body.len().to_string()),
                ],
            )?;
            if !is_head {
                w.write_all(body.as_bytes())?;
            }
            return w.flush();
        }
    };
    headers.extend([
        ("Content-Type", ctype),
        ("Content-Length", count.to_string()),
        ("Accept-Ranges", "bytes".into()),
    ]);
    head(w, status, &headers)?;
    if !is_head {
        f.seek(SeekFrom::Start(start))?;
        let sent = io::copy(&mut f.take(count), w)?;
        if sent != count {
            // the file shrank while being sent: the client sees a short body
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
        }
    }
    w.flush()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A directory listing like Go's: names sorted, directories with a `/`.
fn listing(dir: &Path) -> io::Result<String> {
    use std::os::unix::ffi::OsStrExt;
    let mut names: Vec<(Vec<u8>, bool)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| {
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            (e.file_name().as_bytes().to_vec(), is_dir)
        })
        .collect();
    names.sort();
    let mut s = String::from(
        "<!doctype html>\n<meta name=\"viewport\" content=\"width=device-width\">\n<pre>\n",
    );
    for (name, is_dir) in names {
        let slash = if is_dir { "/" } else { "" };
        s.push_str(&format!(
            "<a href=\"{}{slash}\">{}{slash}</a>\n",
            percent_encode(&name),
            html_escape(&String::from_utf8_lossy(&name))
        ));
    }
    s.push_str("</pre>\n");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Range::Whole);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Range::Part(0, 3));
        assert_eq!(parse_range(Some("bytes=4-"), 10), Range::Part(4, 9));
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Range::Part(5, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Range::Part(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Range::Part(0, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Range::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=3-1"), 10), Range::Whole);
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Range::Whole);
        assert_eq!(parse_range(Some("items=0-1"), 10), Range::Whole);
        assert_eq!(parse_range(Some("bytes=x-1"), 10), Range::Whole);
    }

    #[test]
    fn request_heads() {
        let mut r = io::Cursor::new(
            b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nrange: bytes=1-2\r\n\r\n".to_vec(),
        );
        assert_eq!(
            read_request(&mut r).unwrap(),
            Request {
                method: "GET".into(),
                path: "/a%20b".into(),
                range: Some("bytes=1-2".into())
            }
        );
        let mut r = io::Cursor::new(b"GET http://h:1/k HTTP/1.0\n\n".to_vec());
        assert_eq!(read_request(&mut r).unwrap().path, "/k");
        let mut r = io::Cursor::new(b"GET /x\r\n\r\n".to_vec());
        assert_eq!(read_request(&mut r), Err(400));
        let mut r = io::Cursor::new(b"GET /x HTTP/2\r\n\r\n".to_vec());
        assert_eq!(read_request(&mut r), Err(505));
        // a head that never ends is cut at MAX_HEAD
        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'a', 2 * MAX_HEAD));
        let mut r = io::Cursor::new(big);
        assert_eq!(read_request(&mut r), Err(431));
        let mut r = io::Cursor::new(b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec());
        assert_eq!(read_request(&mut r), Err(400));
    }

    #[test]
    fn paths_stay_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), b"x").unwrap();
        std::fs::write(t.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink("../secret", root.join("out")).unwrap();
        std::os::unix::fs::symlink("d/f", root.join("in")).unwrap();
        let root = root.canonicalize().unwrap();
        assert_eq!(resolve(&root, "/d/f").unwrap(), root.join("d/f"));
        assert_eq!(resolve(&root, "/%64/./f").unwrap(), root.join("d/f"));
        assert_eq!(resolve(&root, "/in").unwrap(), root.join("d/f"));
        assert_eq!(resolve(&root, "/d/../d/f"), Err(400));
        assert_eq!(resolve(&root, "/%2e%2e/secret"), Err(400));
        assert_eq!(resolve(&root, "/out"), Err(403));
        assert_eq!(resolve(&root, "/nope"), Err(404));
        assert_eq!(resolve(&root, "/d/f/x"), Err(404));
        assert_eq!(resolve(&root, "/a%00"), Err(400));
        assert_eq!(resolve(&root, "/%zz"), Err(400));
    }

    #[test]
    fn addresses() {
        assert_eq!(listen_address(":8080"), "0.0.0.0:8080");
        assert_eq!(listen_address("8080"), "0.0.0.0:8080");
        assert_eq!(listen_address("127.0.0.1:1"), "127.0.0.1:1");
    }
}
