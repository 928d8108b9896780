//! Booted-from-outside tests on the host side: `metadata create` (read back
//! with xorriso and isoinfo, byte-identical when made twice), `run qemu
//! --data/--data-file` (the ISO in the state directory), `serve` (HTTP
//! answers checked with curl: lengths, HEAD, ranges, refusals) and `push
//! equinixmetal|ipxe` (the files and the iPXE script).

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn extract_config(iso: &Path, dir: &Path) -> Vec<u8> {
    let out = dir.join("x");
    let o = Command::new("xorriso")
        .args(["-indev"])
        .arg(iso)
        .args(["-osirrox", "on", "-extract", "/"])
        .arg(&out)
        .output()
        .expect("xorriso (Debian: xorriso)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, ["config"]);
    std::fs::read(out.join("config")).unwrap()
}

#[test]
fn metadata_create_is_read_back_by_xorriso_and_isoinfo_and_reproducible() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let data = "{\"ssh\":{\"entries\":{\"authorized_keys\":{\"perm\":\"0600\",\"content\":\"ssh-ed25519 AAAA x\\n\"}}}}\n-second line";
    ok(&linuxkit(d, &["metadata", "create", "a.iso", data], &[]));
    ok(&linuxkit(d, &["metadata", "create", "b.iso", data], &[]));
    let a = std::fs::read(d.join("a.iso")).unwrap();
    assert_eq!(a, std::fs::read(d.join("b.iso")).unwrap());
    assert_eq!(extract_config(&d.join("a.iso"), d), data.as_bytes());
    // isoinfo: the volume id upstream uses, and the file under its ISO 9660 name
    let o = Command::new("isoinfo")
        .arg("-d")
        .arg("-i")
        .arg(d.join("a.iso"))
        .output()
        .expect("isoinfo (Debian: genisoimage)");
    assert!(stdout(&o).contains("Volume id: config"), "{}", stdout(&o));
    let o = Command::new("isoinfo")
        .args(["-i"])
        .arg(d.join("a.iso"))
        .args(["-x", "/CONFIG.;1"])
        .output()
        .unwrap();
    assert_eq!(o.stdout, data.as_bytes());
    // data that looks like a flag, and an empty one
    ok(&linuxkit(d, &["metadata", "create", "c.iso", "--x"], &[]));
    assert_eq!(extract_config(&d.join("c.iso"), &d.join("c")), b"--x");
    ok(&linuxkit(d, &["metadata", "create", "e.iso", ""], &[]));
    assert_eq!(extract_config(&d.join("e.iso"), &d.join("e")), b"");
    // an existing, longer file is replaced, not overwritten in place
    std::fs::write(d.join("f.iso"), vec![1u8; 200_000]).unwrap();
    ok(&linuxkit(d, &["metadata", "create", "f.iso", data], &[]));
    assert_eq!(std::fs::read(d.join("f.iso")).unwrap(), a);
    // a directory that does not exist: an error naming the file
    let err = failed(&linuxkit(
        d,
        &["metadata", "create", "no/such/x.iso", "d"],
        &[],
    ));
    assert!(err.contains("no/such/x.iso"));
}

#[test]
fn run_qemu_data_and_data_file_go_to_the_state_directory() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::write(d.join("m-kernel"), b"k").unwrap();
    std::fs::write(d.join("m-initrd.img"), b"i").unwrap();
    std::fs::write(d.join("m-cmdline"), b"console=ttyS0").unwrap();
    let err = failed(&linuxkit(
        d,
        &["run", "qemu", "--data", "a", "--data-file", "f", "m"],
        &[],
    ));
    assert!(err.contains("cannot specify both -data and -data-file"));
    // `--qemu /bin/true` stands in for QEMU: the state directory is prepared first
    let fake_qemu = |args: &[&str]| {
        let mut all = vec!["run", "qemu", "--accel", "tcg", "--qemu", "/bin/true"];
        all.extend(args);
        linuxkit(d, &all, &[])
    };
    ok(&fake_qemu(&["--data", "{\"a\":1}", "m"]));
    assert_eq!(extract_config(&d.join("m-state/data.iso"), d), b"{\"a\":1}");
    let payload: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(d.join("payload"), &payload).unwrap();
    ok(&fake_qemu(&["--state", "s2", "-data-file", "payload", "m"]));
    assert_eq!(
        extract_config(&d.join("s2/data.iso"), &d.join("y")),
        payload
    );
    let err = failed(&fake_qemu(&["--data-file", "nope", "m"]));
    assert!(err.contains("nope"));
}

/// `linuxkit serve` on a free port; killed when dropped.
struct Server {
    child: std::process::Child,
    url: String,
    /// What it logged after its first line (`METHOD PATH` per request).
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .args(["serve", "--port", "127.0.0.1:0", "--directory"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for l in err.lines().map_while(Result::ok) {
            let mut g = sink.lock().unwrap();
            g.push_str(&l);
            g.push('\n');
        }
    });
    Server { child, url, log }
}

/// curl: (status, headers, body).
fn curl(args: &[&str], url: &str) -> (u16, String, Vec<u8>) {
    let o = Command::new("curl")
        .args(["-s", "-S", "--max-time", "20", "-D", "/dev/stderr"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    let headers = String::from_utf8_lossy(&o.stderr).to_string();
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, headers.to_ascii_lowercase(), o.stdout)
}

/// Send `req` as is and read the whole answer.
fn raw_request(url: &str, req: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    c.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).to_string()
}

#[test]
fn serve_answers_lengths_heads_ranges_and_refuses_escapes() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("www");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(root.join("sub/a b.txt"), b"hello").unwrap();
    std::fs::write(t.path().join("secret"), b"secret").unwrap();
    std::os::unix::fs::symlink("../secret", root.join("out")).unwrap();
    std::os::unix::fs::symlink("sub/a b.txt", root.join("in")).unwrap();
    let s = serve(&root);
    let u = |p: &str| format!("{}{p}", s.url);

    let (st, h, body) = curl(&[], &u("/big.bin"));
    assert_eq!(st, 200);
    assert!(h.contains("content-length: 3000000"), "{h}");
    assert!(h.contains("accept-ranges: bytes"), "{h}");
    assert_eq!(body, big);

    // HEAD: the headers of GET and no body (read to the end of the connection)
    let raw = raw_request(&s.url, "HEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let (h, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(h.starts_with("HTTP/1.1 200 "), "{h}");
    assert!(h.contains("Content-Length: 3000000"), "{h}");
    assert_eq!(body, "");

    let (st, h, body) = curl(&["-r", "1000-1999"], &u("/big.bin"));
    assert_eq!(st, 206);
    assert!(h.contains("content-range: bytes 1000-1999/3000000"), "{h}");
    assert!(h.contains("content-length: 1000"), "{h}");
    assert_eq!(body, &big[1000..2000]);
    let (st, h, body) = curl(&["-r", "-10"], &u("/big.bin"));
    assert_eq!(st, 206);
    assert!(
        h.contains("content-range: bytes 2999990-2999999/3000000"),
        "{h}"
    );
    assert_eq!(body, &big[2_999_990..]);
    let (st, h, _) = curl(&["-r", "3000000-"], &u("/big.bin"));
    assert_eq!(st, 416);
    assert!(h.contains("content-range: bytes */3000000"), "{h}");

    let (st, _, body) = curl(&[], &u("/sub/a%20b.txt"));
    assert_eq!((st, body.as_slice()), (200, &b"hello"[..]));
    let (st, _, body) = curl(&[], &u("/in"));
    assert_eq!((st, body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(curl(&[], &u("/missing")).0, 404);
    assert_eq!(curl(&["--path-as-is"], &u("/../secret")).0, 400);
    assert_eq!(
        curl(&["--path-as-is"], &u("/sub/%2e%2e/%2e%2e/secret")).0,
        400
    );
    let (st, _, body) = curl(&[], &u("/out"));
    assert_eq!(st, 403);
    assert!(!String::from_utf8_lossy(&body).contains("secret"));
    let (st, h, _) = curl(&[], &u("/sub"));
    assert_eq!(st, 301);
    assert!(h.contains("location: /sub/"), "{h}");
    let (st, _, body) = curl(&[], &u("/sub/"));
    assert_eq!(st, 200);
    assert!(String::from_utf8_lossy(&body).contains("<a href=\"a%20b.txt\">a b.txt</a>"));
    assert_eq!(curl(&["-X", "POST"], &u("/big.bin")).0, 405);
    // a request head past the limit is refused, and the server goes on
    let long = format!("X-Long: {}", "a".repeat(20_000));
    assert_eq!(curl(&["-H", &long], &u("/big.bin")).0, 431);
    assert_eq!(curl(&["-r", "0-0"], &u("/big.bin")).0, 206);
}

#[test]
fn push_ipxe_and_equinixmetal_write_the_build_and_its_script() {
    use std::io::Write;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let kernel: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&kernel).unwrap();
    let kernel_gz = gz.finish().unwrap();
    std::fs::write(d.join("m-kernel"), &kernel_gz).unwrap();
    std::fs::write(d.join("m-initrd.img"), b"initrd").unwrap();
    std::fs::write(d.join("m-cmdline"), b"console=tty0 console=ttyS0").unwrap();
    ok(&linuxkit(
        d,
        &[
            "push",
            "ipxe",
            "--base-url",
            "http://10.0.2.2:8080/",
            "--destination",
            &format!("file://{}/out", d.display()),
            "m",
        ],
        &[],
    ));
    let out = d.join("out");
    assert_eq!(std::fs::read(out.join("m-kernel")).unwrap(), kernel_gz);
    assert_eq!(std::fs::read(out.join("m-initrd.img")).unwrap(), b"initrd");
    assert_eq!(
        std::fs::read_to_string(out.join("m.ipxe")).unwrap(),
        "#!ipxe\n\ndhcp\nset base-url http://10.0.2.2:8080\nset kernel-params ip=dhcp nomodeset ro serial  console=tty0 console=ttyS0\nkernel ${base-url}/m-kernel ${kernel-params}\ninitrd ${base-url}/m-initrd.img\nboot"
    );
    ok(&linuxkit(
        d,
        &[
            "push",
            "equinixmetal",
            "--base-url",
            "http://h",
            "--decompress",
            "--destination",
            "em",
            "m",
        ],
        &[],
    ));
    assert_eq!(std::fs::read(d.join("em/m-kernel")).unwrap(), kernel);
    let script = std::fs::read_to_string(d.join("em/m-equinixmetal.ipxe")).unwrap();
    assert!(
        script.contains("serial console=ttyS1,115200 console=tty0 console=ttyS0\n"),
        "{script}"
    );
    // upstream's errors
    let stderr = |args: &[&str]| {
        let o = linuxkit(d, &[&["push", "ipxe"], args].concat(), &[]);
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(stderr(&["--destination", "x", "m"]).contains("--base-url"));
    let e = stderr(&["--base-url", "u", "--destination", "s3://b", "m"]);
    assert!(e.contains("unknown destination format: s3"), "{e}");
    let e = stderr(&["--base-url", "u", "--destination", "x", "nope"]);
    assert!(e.contains("kernel file does not exist"), "{e}");
}

/// Network boot: `examples/minimal.yml` built as kernel+initrd, pushed with
/// `push ipxe`, served by `linuxkit serve`; QEMU (TCG) with Debian's iPXE
/// ROM boots from the network (`-boot n`, user networking's `bootfile=`
/// naming the script's URL) until the system's getty starts. One boot,
/// bounded.
#[test]
fn a_build_netboots_through_ipxe_from_linuxkit_serve() {
    use std::time::{Duration, Instant};
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    // the package cache the boot tests share (see tests/boot.rs)
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("boot-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let dir = d.to_str().unwrap();
    ok(&linuxkit(
        &repo_root(),
        &[
            "build",
            "--no-sbom",
            "--name",
            "minimal",
            "--dir",
            dir,
            "--cache",
            cache.to_str().unwrap(),
            "examples/minimal.yml",
        ],
        &[],
    ));
    let www = d.join("www");
    let s = serve(&www_dir(&www));
    let port = s.url.rsplit(':').next().unwrap().to_string();
    let base = format!("http://10.0.2.2:{port}");
    ok(&linuxkit(
        d,
        &[
            "push",
            "ipxe",
            "--base-url",
            &base,
            "--destination",
            www.to_str().unwrap(),
            "minimal",
        ],
        &[],
    ));
    let console = d.join("console.log");
    let mut qemu = Command::new("qemu-system-x86_64")
        .args(["-machine", "q35,accel=tcg", "-m", "1024", "-boot", "n"])
        .args(["-device", "virtio-net-pci,netdev=n0"])
        .arg("-netdev")
        .arg(format!("user,id=n0,bootfile={base}/minimal.ipxe"))
        .args(["-display", "none", "-monitor", "none", "-serial"])
        .arg(format!("file:{}", console.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64 (Debian: qemu-system-x86, ipxe-qemu)");
    let start = Instant::now();
    let read = || String::from_utf8_lossy(&std::fs::read(&console).unwrap_or_default()).to_string();
    let marker = "(ns: getty)";
    let found = loop {
        if read().contains(marker) {
            break true;
        }
        if start.elapsed() > Duration::from_secs(420) || qemu.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let _ = qemu.kill();
    let _ = qemu.wait();
    let out = read();
    let tail = &out[out.len().saturating_sub(3000)..];
    assert!(found, "no {marker:?} on the console:\n{tail}");
    // iPXE fetched the script, the kernel and the initrd from `serve`
    let log = s.log.lock().unwrap().clone();
    for p in ["/minimal.ipxe", "/minimal-kernel", "/minimal-initrd.img"] {
        assert!(
            log.contains(&format!("GET {p}")),
            "{p} not requested:\n{log}"
        );
    }
}

/// Create and return the directory `p`.
fn www_dir(p: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(p).unwrap();
    p.to_path_buf()
}

/// `run qemu --data` to `pkg/metadata` in the guest: the JSON user data is
/// expanded under /run/config with its modes, the provider is the CD-ROM.
/// One boot, bounded.
#[test]
fn data_given_to_run_qemu_is_expanded_under_run_config_by_pkg_metadata() {
    use std::time::{Duration, Instant};
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("boot-cache");
    std::fs::create_dir_all(&cache).unwrap();
    ok(&linuxkit(
        &repo_root(),
        &[
            "build",
            "--no-sbom",
            "--name",
            "meta",
            "--dir",
            d.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
            "crates/linuxkit/tests/yml/metadata.yml",
        ],
        &[],
    ));
    let data = r#"{"ssh":{"perm":"0700","entries":{"authorized_keys":{"perm":"0600","content":"ssh-ed25519 AAAAtest user"}}},"web":{"entries":{"index.html":{"perm":"0444","content":"hi"}}},"..":{"content":"escape"}}"#;
    let console = d.join("console.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_linuxkit"))
        .current_dir(d)
        .env("HOME", d)
        .args(["run", "qemu", "--accel", "tcg", "--console-file"])
        .arg(&console)
        .args(["--data", data, "meta"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let read = || String::from_utf8_lossy(&std::fs::read(&console).unwrap_or_default()).to_string();
    loop {
        if read().contains("META done") || child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(300) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    let _ = child.wait();
    if let Ok(pid) = std::fs::read_to_string(d.join("meta-state/qemu.pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    let c = read();
    let tail = &c[c.len().saturating_sub(4000)..];
    for line in [
        "META 700 ./ssh",
        "META 600 ./ssh/authorized_keys",
        "META 444 ./web/index.html",
        "META 644 ./userdata",
        "META provider CDROM /dev/sr0",
        "META key ssh-ed25519 AAAAtest user",
        "META done",
    ] {
        assert!(c.contains(line), "console lacks {line:?}:\n{tail}");
    }
    assert!(!c.contains("escape"), "{tail}");
}
