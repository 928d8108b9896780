//! Hostile layers: `linuxkit build` must never write outside its output and
//! must fail with a clear error (naming the image, the layer and what is
//! wrong) on layers holding `../` paths, absolute paths, writes through a
//! symlink, hard links out of the tree, whiteouts of parent directories,
//! truncated gzip, a wrong `diff_id` or a blob whose bytes do not match its
//! digest. Device nodes, duplicate entries, valid hard links and opaque
//! whiteouts are legitimate and must come out right.
//!
//! Every test builds its own OCI-layout cache in a temporary directory and
//! adds an image `docker.io/hostile/<case>:1` whose layers are crafted byte
//! by byte (raw tar headers, so names like `../../evil` survive), then runs
//! the real binary and inspects its exit status, stderr, the output
//! directory and the whole temporary tree.

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use linuxkit_oci::{
    Cache, ContainerConfig, Descriptor, ImageConfigFile, Index, MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_MANIFEST,
    Manifest, PlatformSpec, RootFs,
};
use linuxkit_test_support::conformance_cache;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tar::EntryType;

// ---------------------------------------------------------------------------
// Crafting layers
// ---------------------------------------------------------------------------

const MTIME: u64 = 1_700_000_000;

/// A tar stream assembled from raw headers: names and link targets are
/// copied into the header fields verbatim, so `..` and `/` survive.
struct RawTar {
    b: tar::Builder<Vec<u8>>,
}

impl RawTar {
    fn new() -> RawTar {
        RawTar {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(name: &str, kind: EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        let bytes = name.as_bytes();
        assert!(bytes.len() < 100, "test names must fit the old name field");
        h.as_old_mut().name = [0; 100];
        h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(size);
        h
    }

    fn set_link(h: &mut tar::Header, target: &str) {
        let bytes = target.as_bytes();
        assert!(
            bytes.len() < 100,
            "test link targets must fit the old field"
        );
        h.as_old_mut().linkname = [0; 100];
        h.as_old_mut().linkname[..bytes.len()].copy_from_slice(bytes);
    }

    fn push(mut self, mut h: tar::Header, data: &[u8]) -> RawTar {
        h.set_cksum();
        self.b.append(&h, data).expect("append to an in-memory tar");
        self
    }

    fn dir(self, name: &str) -> RawTar {
        let h = RawTar::header(name, EntryType::Directory, 0o755, 0);
        self.push(h, &[])
    }

    fn file(self, name: &str, data: &[u8]) -> RawTar {
        let h = RawTar::header(name, EntryType::Regular, 0o644, data.len() as u64);
        self.push(h, data)
    }

    fn symlink(self, name: &str, target: &str) -> RawTar {
        let mut h = RawTar::header(name, EntryType::Symlink, 0o777, 0);
        RawTar::set_link(&mut h, target);
        self.push(h, &[])
    }

    fn hardlink(self, name: &str, target: &str) -> RawTar {
        let mut h = RawTar::header(name, EntryType::Link, 0o644, 0);
        RawTar::set_link(&mut h, target);
        self.push(h, &[])
    }

    fn node(self, name: &str, kind: EntryType, major: u32, minor: u32) -> RawTar {
        let mut h = RawTar::header(name, kind, 0o666, 0);
        h.set_device_major(major).expect("ustar device major");
        h.set_device_minor(minor).expect("ustar device minor");
        self.push(h, &[])
    }

    /// A PAX extended header (`x`) for the next entry.
    fn pax(self, records: &[(&str, &str)]) -> RawTar {
        let mut data = Vec::new();
        for (k, v) in records {
            let body = format!(" {k}={v}\n");
            // The length prefix counts itself.
            let mut n = body.len() + 1;
            while format!("{n}{body}").len() != n {
                n = format!("{n}{body}").len();
            }
            data.extend_from_slice(format!("{n}{body}").as_bytes());
        }
        let h = RawTar::header(
            "PaxHeaders/entry",
            EntryType::XHeader,
            0o644,
            data.len() as u64,
        );
        self.push(h, &data)
    }

    /// A GNU long-name (`L`) or long-link (`K`) record for the next entry.
    fn gnu_long(self, kind: EntryType, value: &str) -> RawTar {
        let mut data = value.as_bytes().to_vec();
        data.push(0);
        let h = RawTar::header("././@LongLink", kind, 0o644, data.len() as u64);
        self.push(h, &data)
    }

    /// The finished, uncompressed tar (with its end-of-archive blocks).
    fn finish(self) -> Vec<u8> {
        self.b.into_inner().expect("finish an in-memory tar")
    }
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("gzip into memory");
    enc.finish().expect("gzip into memory")
}

/// A layer blob as the manifest will describe it.
#[derive(Clone)]
struct Layer {
    blob: Vec<u8>,
    media_type: &'static str,
    /// What the config's `rootfs.diff_ids` says for this layer.
    diff_id: String,
}

impl Layer {
    /// A gzip-compressed layer with the correct diff_id.
    fn gz(tar: RawTar) -> Layer {
        let raw = tar.finish();
        Layer {
            blob: gzip(&raw),
            media_type: MEDIA_TYPE_OCI_LAYER_GZIP,
            diff_id: sha256(&raw),
        }
    }

    /// An uncompressed layer with the correct diff_id.
    fn plain(tar: RawTar) -> Layer {
        let raw = tar.finish();
        Layer {
            diff_id: sha256(&raw),
            blob: raw,
            media_type: MEDIA_TYPE_OCI_LAYER,
        }
    }

    fn digest(&self) -> String {
        sha256(&self.blob)
    }
}

// ---------------------------------------------------------------------------
// The test cache and the build
// ---------------------------------------------------------------------------

/// A temporary tree: `<tmp>/x/y/z/{cwd,out,cache}` plus `<tmp>/home`. The
/// nesting keeps everything a `../../` or `../../..` could reach from the
/// working, output or cache directory inside `<tmp>`, where we look for it.
struct Fixture {
    tmp: tempfile::TempDir,
    cwd: PathBuf,
    out: PathBuf,
    cache: PathBuf,
    home: PathBuf,
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            fs::copy(entry.path(), &dest).unwrap();
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

impl Fixture {
    /// An empty cache.
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("x/y/z");
        let fx = Fixture {
            cwd: base.join("cwd"),
            out: base.join("out"),
            cache: base.join("cache"),
            home: tmp.path().join("home"),
            tmp,
        };
        for d in [&fx.cwd, &fx.cache, &fx.home] {
            fs::create_dir_all(d).unwrap();
        }
        Cache::open(&fx.cache).unwrap();
        fx
    }

    /// A cache starting as a copy of the conformance cache, or `None` when
    /// that cache is not available on this machine.
    fn with_conformance_images() -> Option<Fixture> {
        let src = conformance_cache();
        if !src.join("index.json").is_file() {
            eprintln!("skipping: no conformance cache at {}", src.display());
            return None;
        }
        let fx = Fixture::new();
        fs::remove_dir_all(&fx.cache).unwrap();
        copy_tree(&src, &fx.cache);
        Cache::open(&fx.cache).unwrap();
        Some(fx)
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// Add `docker.io/hostile/<case>:1` (an index for linux/amd64 →
    /// manifest → config) made of `layers`; returns the layer digests.
    fn add_image(&self, case: &str, layers: &[Layer]) -> Vec<String> {
        let cache = Cache::open(&self.cache).unwrap();
        let mut descs = Vec::new();
        for l in layers {
            let d = cache.write_blob(&l.blob).unwrap();
            assert_eq!(d, l.digest());
            descs.push(Descriptor::new(l.media_type, d, l.blob.len() as u64));
        }
        let config = ImageConfigFile {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
            config: Some(ContainerConfig {
                cmd: Some(vec!["/bin/sh".into()]),
                ..ContainerConfig::default()
            }),
            rootfs: Some(RootFs {
                r#type: "layers".into(),
                diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
            }),
            extra: BTreeMap::new(),
        };
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let config_digest = cache.write_blob(&config_bytes).unwrap();
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_MANIFEST.into()),
            config: Descriptor::new(
                MEDIA_TYPE_OCI_CONFIG,
                config_digest,
                config_bytes.len() as u64,
            ),
            layers: descs.clone(),
            annotations: None,
            extra: BTreeMap::new(),
        };
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
        let manifest_digest = cache.write_blob(&manifest_bytes).unwrap();
        let mut mdesc = Descriptor::new(
            MEDIA_TYPE_OCI_MANIFEST,
            manifest_digest,
            manifest_bytes.len() as u64,
        );
        mdesc.platform = Some(PlatformSpec {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
            extra: BTreeMap::new(),
        });
        let mut index = Index::empty();
        index.manifests.push(mdesc);
        let index_bytes = serde_json::to_vec(&index).unwrap();
        let index_digest = cache.write_blob(&index_bytes).unwrap();
        cache
            .set_name(
                &image_name(case),
                Descriptor::new(MEDIA_TYPE_OCI_INDEX, index_digest, index_bytes.len() as u64),
            )
            .unwrap();
        descs.into_iter().map(|d| d.digest).collect()
    }

    /// Path of a blob file in the test cache.
    fn blob_path(&self, digest: &str) -> PathBuf {
        self.cache
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }

    /// Run `linuxkit build` on `yaml` from the working directory.
    fn build(&self, yaml: &str, format: &str) -> Output {
        fs::write(self.cwd.join("cfg.yml"), yaml).unwrap();
        Command::new(env!("CARGO_BIN_EXE_linuxkit"))
            .current_dir(&self.cwd)
            .env("HOME", &self.home)
            .env_remove("LINUXKIT_CACHE")
            .env_remove("RUST_LOG")
            .args(["build", "--no-sbom", "--arch", "amd64", "--format", format])
            .arg("--dir")
            .arg(&self.out)
            .args(["--name", "t", "--cache"])
            .arg(&self.cache)
            .arg("cfg.yml")
            .output()
            .expect("run linuxkit")
    }

    /// Names of the files in the output directory (none if it is missing).
    fn outputs(&self) -> Vec<String> {
        match fs::read_dir(&self.out) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("cannot list {}: {e}", self.out.display()),
        }
    }
}

fn image_name(case: &str) -> String {
    format!("docker.io/hostile/{case}:1")
}

/// How the hostile image is used in the YAML.
#[derive(Debug, Clone, Copy)]
enum Role {
    Onboot,
    Init,
}

fn yaml(case: &str, role: Role) -> String {
    match role {
        Role::Onboot => format!("onboot:\n  - name: h\n    image: hostile/{case}:1\n"),
        Role::Init => format!("init:\n  - hostile/{case}:1\n"),
    }
}

/// Where the root filesystem of an onboot container named `h` lands in the
/// output (`lower/`: containers are not read-only by default).
const ONBOOT_PREFIX: &str = "containers/onboot/000-h/lower/";

// ---------------------------------------------------------------------------
// Checking that nothing escaped
// ---------------------------------------------------------------------------

/// Names a hostile layer in these tests writes; none may appear on disk.
const FORBIDDEN_NAMES: [&str; 2] = ["evil", "shadow"];

/// Absolute paths the hostile names would reach if a layer were unpacked
/// naively at `/` (or through a symlink to `/`).
const HOST_PATHS: [&str; 5] = ["/evil", "/etc/evil", "/lib/evil", "/bin/evil", "/tmp/evil"];

/// Inode, size and mtime of a path, if it exists.
type Stat = Option<(u64, u64, i64)>;

/// What existed on the host before the build, to compare with afterwards.
struct HostSnapshot {
    existing: Vec<(PathBuf, Stat)>,
    shadow: Option<(u64, u64)>,
}

fn stat(p: &Path) -> Stat {
    fs::symlink_metadata(p)
        .ok()
        .map(|m| (m.ino(), m.len(), m.mtime()))
}

impl HostSnapshot {
    fn take(fx: &Fixture) -> HostSnapshot {
        let mut paths: Vec<PathBuf> = HOST_PATHS.iter().map(PathBuf::from).collect();
        paths.push(PathBuf::from("/etc/shadow"));
        // One level above the temporary root: `../../..` from `<tmp>/x/y/z`.
        if let Some(parent) = fx.root().parent() {
            paths.push(parent.join("evil"));
            paths.push(parent.join("etc/evil"));
        }
        let shadow = fs::metadata("/etc/shadow").ok().map(|m| (m.dev(), m.ino()));
        HostSnapshot {
            existing: paths.into_iter().map(|p| (p.clone(), stat(&p))).collect(),
            shadow,
        }
    }

    /// Nothing outside the temporary tree changed, and inside it there is no
    /// file with a forbidden name, no device node or fifo, and no hard link
    /// to `/etc/shadow`.
    fn assert_untouched(&self, fx: &Fixture) {
        for (p, before) in &self.existing {
            assert_eq!(
                &stat(p),
                before,
                "{} was created or changed by the build",
                p.display()
            );
        }
        let mut stack = vec![fx.root().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let entry = entry.unwrap();
                let path = entry.path();
                let meta = fs::symlink_metadata(&path).unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                assert!(
                    !FORBIDDEN_NAMES.contains(&name.as_str()),
                    "the build created {}",
                    path.display()
                );
                let ft = meta.file_type();
                assert!(
                    !(ft.is_char_device()
                        || ft.is_block_device()
                        || ft.is_fifo()
                        || ft.is_socket()),
                    "the build created the special file {}",
                    path.display()
                );
                if let Some((dev, ino)) = self.shadow {
                    assert!(
                        !(meta.dev() == dev && meta.ino() == ino),
                        "{} is a hard link to /etc/shadow",
                        path.display()
                    );
                }
                if ft.is_dir() {
                    stack.push(path);
                }
            }
        }
    }
}

/// Build `case` with the hostile image in `role`; assert the build failed
/// cleanly: non-zero status, stderr naming the image (and `layer` when
/// given) and holding every keyword, an empty output directory and nothing
/// written outside. Returns stderr.
fn expect_rejected_as(
    case: &str,
    layers: &[Layer],
    role: Role,
    damage: &dyn Fn(&Fixture, &[String]),
    layer: Option<usize>,
    keywords: &[&str],
) -> String {
    let fx = Fixture::new();
    let digests = fx.add_image(case, layers);
    damage(&fx, &digests);
    let snapshot = HostSnapshot::take(&fx);
    let out = fx.build(&yaml(case, role), "tar");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!("{case} ({role:?}) stderr:\n{stderr}");
    assert!(
        !out.status.success(),
        "{case} ({role:?}): the build should fail\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("hostile/{case}")),
        "{case} ({role:?}): stderr does not name the image\n{stderr}"
    );
    if let Some(i) = layer {
        assert!(
            stderr.contains(&digests[i]),
            "{case} ({role:?}): stderr does not name layer {}\n{stderr}",
            digests[i]
        );
    }
    let lower = stderr.to_lowercase();
    for k in keywords {
        assert!(
            lower.contains(&k.to_lowercase()),
            "{case} ({role:?}): stderr does not say {k:?}\n{stderr}"
        );
    }
    assert!(
        !stderr.contains("panicked"),
        "{case} ({role:?}): the build panicked\n{stderr}"
    );
    assert_eq!(
        fx.outputs(),
        Vec::<String>::new(),
        "{case} ({role:?}): a failed build left files in the output directory"
    );
    snapshot.assert_untouched(&fx);
    stderr
}

fn no_damage(_: &Fixture, _: &[String]) {}

/// [`expect_rejected_as`] with the image used both as an onboot container
/// and as an init image.
fn expect_rejected(case: &str, layers: &[Layer], layer: Option<usize>, keywords: &[&str]) {
    for role in [Role::Onboot, Role::Init] {
        expect_rejected_as(case, layers, role, &no_damage, layer, keywords);
    }
}

// ---------------------------------------------------------------------------
// Reading outputs
// ---------------------------------------------------------------------------

/// One entry of an output archive.
#[derive(Debug, Clone)]
struct OutEntry {
    path: String,
    kind: EntryType,
    link: String,
    major: u32,
    minor: u32,
    data: Vec<u8>,
}

fn read_tar(path: &Path) -> Vec<OutEntry> {
    let f = fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(f);
    let mut out = Vec::new();
    for item in archive.entries().unwrap() {
        let mut item = item.unwrap();
        let h = item.header().clone();
        let mut data = Vec::new();
        item.read_to_end(&mut data).unwrap();
        out.push(OutEntry {
            path: String::from_utf8(item.path_bytes().into_owned()).unwrap(),
            kind: h.entry_type(),
            link: item
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap())
                .unwrap_or_default(),
            major: h.device_major().ok().flatten().unwrap_or(0),
            minor: h.device_minor().ok().flatten().unwrap_or(0),
            data,
        });
    }
    out
}

/// One entry of a newc cpio archive.
#[derive(Debug, Clone)]
struct CpioEntry {
    name: String,
    mode: u32,
    data: Vec<u8>,
}

fn hex_field(h: &[u8], i: usize) -> u32 {
    let s = std::str::from_utf8(&h[6 + 8 * i..6 + 8 * (i + 1)]).unwrap();
    u32::from_str_radix(s, 16).unwrap()
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Parse a (possibly concatenated) newc cpio stream.
fn parse_cpio(buf: &[u8]) -> Vec<CpioEntry> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        if buf[at] == 0 {
            at += 1; // padding between concatenated archives
            continue;
        }
        let h = &buf[at..at + 110];
        assert_eq!(&h[..6], b"070701", "bad cpio magic at offset {at}");
        let mode = hex_field(h, 1);
        let size = hex_field(h, 6) as usize;
        let namesize = hex_field(h, 11) as usize;
        let name_start = at + 110;
        let name = String::from_utf8(buf[name_start..name_start + namesize - 1].to_vec()).unwrap();
        let data_start = at + align4(110 + namesize);
        let data = buf[data_start..data_start + size].to_vec();
        at = data_start + align4(size);
        if name == "TRAILER!!!" {
            continue;
        }
        out.push(CpioEntry { name, mode, data });
    }
    out
}

fn read_initrd(path: &Path) -> Vec<CpioEntry> {
    let gz = fs::read(path).unwrap();
    let mut raw = Vec::new();
    MultiGzDecoder::new(&gz[..]).read_to_end(&mut raw).unwrap();
    parse_cpio(&raw)
}

fn assert_built(out: &Output) {
    assert!(
        out.status.success(),
        "the build should succeed\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// Paths escaping the root
// ---------------------------------------------------------------------------

#[test]
fn dotdot_path_is_rejected() {
    let layer = Layer::gz(RawTar::new().dir("etc").file("../../evil", b"pwned"));
    expect_rejected("dotdot", &[layer], Some(0), &["outside", "../../evil"]);
}

#[test]
fn dotdot_inside_a_path_is_rejected() {
    let layer = Layer::gz(RawTar::new().dir("a").file("a/../../../evil", b"pwned"));
    expect_rejected("dotdot-inner", &[layer], Some(0), &["outside"]);
}

#[test]
fn absolute_path_is_rejected() {
    let layer = Layer::gz(RawTar::new().dir("etc").file("/etc/evil", b"pwned"));
    expect_rejected("absolute", &[layer], Some(0), &["absolute", "/etc/evil"]);
}

#[test]
fn absolute_path_in_upper_layer_names_that_layer() {
    let lower = Layer::gz(RawTar::new().dir("etc").file("etc/ok", b"fine"));
    let upper = Layer::gz(RawTar::new().file("/evil", b"pwned"));
    expect_rejected("absolute-upper", &[lower, upper], Some(1), &["absolute"]);
}

#[test]
fn pax_path_with_dotdot_is_rejected() {
    // The ustar name is harmless; the PAX `path` record that overrides it is not.
    let layer = Layer::gz(
        RawTar::new()
            .pax(&[("path", "../../evil")])
            .file("harmless", b"pwned"),
    );
    expect_rejected("pax-path", &[layer], Some(0), &["outside", "../../evil"]);
}

#[test]
fn gnu_long_name_absolute_is_rejected() {
    let layer = Layer::gz(
        RawTar::new()
            .gnu_long(EntryType::GNULongName, "/etc/evil")
            .file("harmless", b"pwned"),
    );
    expect_rejected(
        "gnu-longname",
        &[layer],
        Some(0),
        &["absolute", "/etc/evil"],
    );
}

// ---------------------------------------------------------------------------
// Writes through symlinks
// ---------------------------------------------------------------------------

/// A layer with a symlink to outside, then a file written through it.
fn symlink_then_write(target: &str) -> Layer {
    Layer::gz(
        RawTar::new()
            .symlink("lib", target)
            .file("lib/evil", b"pwned"),
    )
}

#[test]
fn write_through_absolute_symlink_in_same_layer_is_rejected() {
    expect_rejected(
        "symlink-root",
        &[symlink_then_write("/")],
        Some(0),
        &["symlink", "lib/evil"],
    );
}

#[test]
fn write_through_relative_symlink_in_same_layer_is_rejected() {
    expect_rejected(
        "symlink-dotdot",
        &[symlink_then_write("../../..")],
        Some(0),
        &["symlink", "lib/evil"],
    );
}

/// Whatever the verdict on a write through a same-layer symlink, nothing
/// may land outside and the output may not hold the write.
#[test]
fn write_through_symlink_in_same_layer_never_escapes() {
    for target in ["/", "../../.."] {
        for role in [Role::Onboot, Role::Init] {
            let fx = Fixture::new();
            fx.add_image("symlink-same", &[symlink_then_write(target)]);
            let snapshot = HostSnapshot::take(&fx);
            let out = fx.build(&yaml("symlink-same", role), "tar");
            snapshot.assert_untouched(&fx);
            if !out.status.success() {
                assert_eq!(fx.outputs(), Vec::<String>::new());
                continue;
            }
            let entries = read_tar(&fx.out.join("t.tar"));
            assert!(
                !entries.iter().any(|e| e.path.ends_with("lib/evil")),
                "{target} ({role:?}): the output writes through the symlink"
            );
        }
    }
}

#[test]
fn write_through_symlink_across_layers_is_rejected() {
    let lower = Layer::gz(RawTar::new().symlink("lib", "/etc"));
    let upper = Layer::gz(RawTar::new().file("lib/evil", b"pwned"));
    // The message names every layer of the image (the link and the write
    // come from different ones); check both are there.
    expect_rejected(
        "symlink-across",
        &[lower, upper],
        Some(0),
        &["symlink", "lib/evil"],
    );
    expect_rejected(
        "symlink-across",
        &[
            Layer::gz(RawTar::new().symlink("lib", "../../..")),
            Layer::gz(RawTar::new().dir("lib/sub").file("lib/sub/evil", b"x")),
        ],
        Some(1),
        &["symlink"],
    );
}

// ---------------------------------------------------------------------------
// Hard links out of the tree
// ---------------------------------------------------------------------------

#[test]
fn hardlink_with_dotdot_target_is_rejected() {
    let layer = Layer::gz(RawTar::new().hardlink("evil", "../../etc/shadow"));
    expect_rejected(
        "hardlink-dotdot",
        &[layer],
        Some(0),
        &["hard link", "outside", "../../etc/shadow"],
    );
}

#[test]
fn hardlink_with_absolute_target_is_rejected() {
    let layer = Layer::gz(RawTar::new().hardlink("evil", "/etc/shadow"));
    expect_rejected(
        "hardlink-absolute",
        &[layer],
        Some(0),
        &["hard link", "absolute", "/etc/shadow"],
    );
}

#[test]
fn pax_linkpath_outside_is_rejected() {
    let layer = Layer::gz(
        RawTar::new()
            .file("ok", b"ok")
            .pax(&[("linkpath", "../../etc/shadow")])
            .hardlink("evil", "ok"),
    );
    expect_rejected("pax-linkpath", &[layer], Some(0), &["hard link", "outside"]);
}

#[test]
fn gnu_long_link_absolute_is_rejected() {
    let layer = Layer::gz(
        RawTar::new()
            .file("ok", b"ok")
            .gnu_long(EntryType::GNULongLink, "/etc/shadow")
            .hardlink("evil", "ok"),
    );
    expect_rejected(
        "gnu-longlink",
        &[layer],
        Some(0),
        &["hard link", "absolute"],
    );
}

#[test]
fn hardlink_through_symlink_to_outside_is_rejected() {
    // `lib -> /etc`, then `evil` hard-linked to `lib/shadow`: unpacked, the
    // link would be made to the host's /etc/shadow.
    let layer = Layer::gz(
        RawTar::new()
            .symlink("lib", "/etc")
            .hardlink("evil", "lib/shadow"),
    );
    expect_rejected(
        "hardlink-via-symlink",
        &[layer],
        Some(0),
        &["hard link", "symlink"],
    );
}

// ---------------------------------------------------------------------------
// Whiteouts of parent directories
// ---------------------------------------------------------------------------

#[test]
fn whiteout_of_parent_at_root_is_rejected() {
    let lower = Layer::gz(RawTar::new().dir("etc").file("etc/passwd", b"root"));
    let upper = Layer::gz(RawTar::new().file(".wh..", b""));
    expect_rejected("wh-root", &[lower, upper], Some(1), &["whiteout", "parent"]);
}

#[test]
fn whiteout_of_parent_in_subdirectory_is_rejected() {
    let lower = Layer::gz(RawTar::new().dir("a").file("a/x", b"x"));
    let upper = Layer::gz(RawTar::new().dir("a").file("a/.wh..", b""));
    expect_rejected("wh-sub", &[lower, upper], Some(1), &["whiteout", "a/.wh.."]);
}

#[test]
fn whiteout_of_dotdot_is_rejected() {
    let lower = Layer::gz(RawTar::new().dir("a").file("a/x", b"x"));
    let upper = Layer::gz(RawTar::new().dir("a").file("a/.wh...", b""));
    expect_rejected("wh-dotdot", &[lower, upper], Some(1), &["whiteout"]);
}

// ---------------------------------------------------------------------------
// Damaged blobs
// ---------------------------------------------------------------------------

fn some_layer() -> RawTar {
    // Enough incompressible-ish content that a cut lands in the deflate data.
    let data: Vec<u8> = (0u32..20_000)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    RawTar::new()
        .dir("bin")
        .file("bin/tool", &data)
        .file("bin/other", b"hello")
}

#[test]
fn truncated_gzip_is_rejected() {
    let mut layer = Layer::gz(some_layer());
    // Registered with the digest and size of the cut bytes: only the
    // decompressor can notice.
    layer.blob.truncate(layer.blob.len() / 2);
    expect_rejected("gzip-cut", &[layer], Some(0), &["truncated"]);
}

#[test]
fn gzip_missing_its_trailer_is_rejected() {
    let mut layer = Layer::gz(some_layer());
    // All the deflate data is there; only the CRC and size are gone.
    layer.blob.truncate(layer.blob.len() - 8);
    expect_rejected("gzip-trailer", &[layer], Some(0), &["truncated"]);
}

#[test]
fn wrong_diff_id_is_rejected() {
    let mut layer = Layer::gz(some_layer());
    layer.diff_id = sha256(b"something else");
    expect_rejected(
        "diff-id",
        &[layer.clone()],
        Some(0),
        &["diff_id", &layer.diff_id],
    );
}

#[test]
fn wrong_diff_id_of_uncompressed_layer_is_rejected() {
    let ok = Layer::gz(RawTar::new().file("ok", b"ok"));
    let mut layer = Layer::plain(some_layer());
    layer.diff_id = sha256(b"something else");
    expect_rejected("diff-id-plain", &[ok, layer], Some(1), &["diff_id"]);
}

/// Replace a stored blob's bytes, keeping its name (digest).
fn overwrite_blob(fx: &Fixture, digest: &str, bytes: &[u8]) {
    let path = fx.blob_path(digest);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&path, bytes).unwrap();
}

#[test]
fn blob_not_matching_its_digest_is_rejected() {
    // The stored bytes are a valid layer of the same size, but not the one
    // the digest names: the digest check alone must catch it.
    let raw = RawTar::new().file("etc/motd", b"hello").finish();
    let mut swapped = raw.clone();
    let at = swapped
        .windows(5)
        .position(|w| w == b"hello")
        .expect("file data in the tar");
    swapped[at..at + 5].copy_from_slice(b"HELLO");
    let layer = Layer {
        diff_id: sha256(&raw),
        blob: raw,
        media_type: MEDIA_TYPE_OCI_LAYER,
    };
    for role in [Role::Onboot, Role::Init] {
        expect_rejected_as(
            "digest",
            std::slice::from_ref(&layer),
            role,
            &|fx, digests| overwrite_blob(fx, &digests[0], &swapped),
            Some(0),
            &["corrupt", "hashes to", &sha256(&swapped)],
        );
    }
}

#[test]
fn gzip_blob_not_matching_its_digest_is_rejected() {
    let layer = Layer::gz(some_layer());
    let other = Layer::gz(RawTar::new().file("etc/evil", b"pwned"));
    for role in [Role::Onboot, Role::Init] {
        expect_rejected_as(
            "digest-gz",
            std::slice::from_ref(&layer),
            role,
            &|fx, digests| overwrite_blob(fx, &digests[0], &other.blob),
            Some(0),
            &["corrupt"],
        );
    }
}

// ---------------------------------------------------------------------------
// Legitimate but special entries
// ---------------------------------------------------------------------------

#[test]
fn device_nodes_are_kept_and_never_created() {
    let layer = Layer::gz(
        RawTar::new()
            .dir("dev")
            .node("dev/null", EntryType::Char, 1, 3)
            .node("dev/sda", EntryType::Block, 8, 0)
            .node("dev/fifo", EntryType::Fifo, 0, 0),
    );
    for role in [Role::Onboot, Role::Init] {
        let fx = Fixture::new();
        fx.add_image("devices", std::slice::from_ref(&layer));
        let snapshot = HostSnapshot::take(&fx);
        let out = fx.build(&yaml("devices", role), "tar");
        assert_built(&out);
        assert_eq!(fx.outputs(), ["t.tar"]);
        let prefix = match role {
            Role::Onboot => ONBOOT_PREFIX,
            Role::Init => "",
        };
        let entries = read_tar(&fx.out.join("t.tar"));
        for (name, kind, major, minor) in [
            ("dev/null", EntryType::Char, 1, 3),
            ("dev/sda", EntryType::Block, 8, 0),
            ("dev/fifo", EntryType::Fifo, 0, 0),
        ] {
            let full = format!("{prefix}{name}");
            let found: Vec<&OutEntry> = entries.iter().filter(|e| e.path == full).collect();
            assert_eq!(found.len(), 1, "{role:?}: {full} in the output");
            assert_eq!(found[0].kind, kind, "{role:?}: type of {full}");
            if kind != EntryType::Fifo {
                assert_eq!(
                    (found[0].major, found[0].minor),
                    (major, minor),
                    "{role:?}: device numbers of {full}"
                );
            }
        }
        // The tree walk refuses any device node or fifo on disk.
        snapshot.assert_untouched(&fx);
    }
}

#[test]
fn duplicate_entries_first_wins_deterministically() {
    let layer = Layer::gz(
        RawTar::new()
            .dir("etc")
            .file("etc/dup", b"first")
            .file("etc/dup", b"second")
            .file("./etc/dup", b"third"),
    );
    let mut tars = Vec::new();
    for _ in 0..2 {
        let fx = Fixture::new();
        fx.add_image("dup", std::slice::from_ref(&layer));
        let out = fx.build(&yaml("dup", Role::Onboot), "tar");
        assert_built(&out);
        let path = fx.out.join("t.tar");
        let entries = read_tar(&path);
        let full = format!("{ONBOOT_PREFIX}etc/dup");
        let found: Vec<&OutEntry> = entries.iter().filter(|e| e.path == full).collect();
        assert_eq!(found.len(), 1, "exactly one {full}: {found:?}");
        assert_eq!(found[0].kind, EntryType::Regular);
        assert_eq!(found[0].data, b"first", "the first occurrence wins");
        tars.push(fs::read(&path).unwrap());
    }
    assert!(tars[0] == tars[1], "two builds of the same input differ");
}

#[test]
fn duplicate_across_layers_upper_wins() {
    let lower = Layer::gz(RawTar::new().dir("etc").file("etc/dup", b"lower"));
    let upper = Layer::gz(RawTar::new().file("etc/dup", b"upper"));
    let fx = Fixture::new();
    fx.add_image("dup-layers", &[lower, upper]);
    assert_built(&fx.build(&yaml("dup-layers", Role::Onboot), "tar"));
    let entries = read_tar(&fx.out.join("t.tar"));
    let full = format!("{ONBOOT_PREFIX}etc/dup");
    let found: Vec<&OutEntry> = entries.iter().filter(|e| e.path == full).collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].data, b"upper");
}

fn hardlink_layer() -> Layer {
    Layer::gz(
        RawTar::new()
            .dir("bin")
            .file("bin/busybox", b"#!busybox")
            .hardlink("bin/sh", "bin/busybox")
            .dir("usr")
            .dir("usr/bin")
            .hardlink("usr/bin/env", "./bin/busybox"),
    )
}

#[test]
fn valid_hardlink_is_kept_in_tar() {
    let fx = Fixture::new();
    fx.add_image("hardlink", &[hardlink_layer()]);
    assert_built(&fx.build(&yaml("hardlink", Role::Onboot), "tar"));
    let entries = read_tar(&fx.out.join("t.tar"));
    let get = |p: &str| {
        entries
            .iter()
            .find(|e| e.path == format!("{ONBOOT_PREFIX}{p}"))
            .unwrap_or_else(|| panic!("{p} missing"))
    };
    assert_eq!(get("bin/sh").kind, EntryType::Link);
    assert_eq!(get("bin/sh").link, format!("{ONBOOT_PREFIX}bin/busybox"));
    assert_eq!(get("usr/bin/env").kind, EntryType::Link);
    assert_eq!(
        get("usr/bin/env").link,
        format!("{ONBOOT_PREFIX}bin/busybox")
    );
}

#[test]
fn valid_hardlink_becomes_relative_symlink_in_initrd() {
    let Some(fx) = Fixture::with_conformance_images() else {
        return;
    };
    fx.add_image("hardlink", &[hardlink_layer()]);
    let yaml = "kernel:\n  image: linuxkit/kernel:6.12.59\n  cmdline: \"console=ttyS0\"\n\
                init:\n  - hostile/hardlink:1\n\
                onboot:\n  - name: h\n    image: hostile/hardlink:1\n";
    let snapshot = HostSnapshot::take(&fx);
    assert_built(&fx.build(yaml, "kernel+initrd"));
    let mut outputs = fx.outputs();
    outputs.sort();
    assert_eq!(outputs, ["t-cmdline", "t-initrd.img", "t-kernel"]);
    let entries = read_initrd(&fx.out.join("t-initrd.img"));
    let get = |p: &str| {
        let found: Vec<&CpioEntry> = entries.iter().filter(|e| e.name == p).collect();
        assert_eq!(found.len(), 1, "{p} once in the initrd");
        found[0]
    };
    for (name, target) in [
        ("bin/sh".to_string(), "busybox"),
        ("usr/bin/env".to_string(), "../../bin/busybox"),
        (format!("{ONBOOT_PREFIX}bin/sh"), "busybox"),
        (format!("{ONBOOT_PREFIX}usr/bin/env"), "../../bin/busybox"),
    ] {
        let e = get(&name);
        assert_eq!(e.mode & 0o170_000, 0o120_000, "{name} is a symlink");
        assert_eq!(
            String::from_utf8_lossy(&e.data),
            target,
            "{name} points at its target relatively"
        );
    }
    assert_eq!(get("bin/busybox").data, b"#!busybox");
    snapshot.assert_untouched(&fx);
}

#[test]
fn opaque_whiteout_hides_lower_directory_contents() {
    let lower = Layer::gz(
        RawTar::new()
            .dir("a")
            .file("a/x", b"x")
            .dir("a/sub")
            .file("a/sub/y", b"y")
            .file("keep", b"keep"),
    );
    let upper = Layer::gz(
        RawTar::new()
            .dir("a")
            .file("a/.wh..wh..opq", b"")
            .file("a/new", b"new"),
    );
    let fx = Fixture::new();
    fx.add_image("opaque", &[lower, upper]);
    assert_built(&fx.build(&yaml("opaque", Role::Onboot), "tar"));
    let names: Vec<String> = read_tar(&fx.out.join("t.tar"))
        .into_iter()
        .filter_map(|e| e.path.strip_prefix(ONBOOT_PREFIX).map(str::to_string))
        .collect();
    for present in ["a", "a/new", "keep"] {
        assert!(
            names.iter().any(|n| n.trim_end_matches('/') == present),
            "{present} missing: {names:?}"
        );
    }
    for hidden in ["a/x", "a/sub", "a/sub/y", "a/.wh..wh..opq"] {
        assert!(
            !names.iter().any(|n| n.trim_end_matches('/') == hidden),
            "{hidden} should be hidden: {names:?}"
        );
    }
}

#[test]
fn plain_whiteout_hides_lower_file() {
    let lower = Layer::gz(RawTar::new().dir("a").file("a/x", b"x").file("a/y", b"y"));
    let upper = Layer::gz(RawTar::new().file("a/.wh.x", b""));
    let fx = Fixture::new();
    fx.add_image("whiteout", &[lower, upper]);
    assert_built(&fx.build(&yaml("whiteout", Role::Onboot), "tar"));
    let names: Vec<String> = read_tar(&fx.out.join("t.tar"))
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert!(names.contains(&format!("{ONBOOT_PREFIX}a/y")), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with("a/x")), "{names:?}");
    assert!(!names.iter().any(|n| n.contains(".wh.")), "{names:?}");
}
