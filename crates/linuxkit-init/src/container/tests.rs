//! Bundles on disk, without the kernel: listing, runtime.json, the adjusted
//! config.json (absolute rootfs, default cgroup) and the mount points made
//! in read-only root filesystems.

use super::*;
use std::os::unix::fs::symlink;

fn bundle(dir: &Path, name: &str, phase: Phase) -> Bundle {
    let d = dir.join(name);
    std::fs::create_dir_all(d.join("rootfs")).unwrap();
    Bundle {
        name: name.to_string(),
        dir: d,
        phase,
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn bundles_are_listed_in_name_order_and_files_are_not_bundles() {
    let t = tempfile::tempdir().unwrap();
    for n in ["010-b", "000-a", "002-c"] {
        std::fs::create_dir(t.path().join(n)).unwrap();
    }
    std::fs::write(t.path().join("001-file"), "").unwrap();
    let names: Vec<String> = Bundle::list_in(t.path(), Phase::Onboot)
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["000-a", "002-c", "010-b"]);
    assert!(Bundle::list_in(&t.path().join("missing"), Phase::Onboot).is_empty());
}

#[test]
fn runtime_json_missing_means_nothing_to_do_and_invalid_names_the_file() {
    let t = tempfile::tempdir().unwrap();
    let b = bundle(t.path(), "svc", Phase::Service);
    let rt = b.runtime().unwrap();
    assert!(rt.mounts.is_empty() && rt.mkdir.is_empty() && rt.namespace.is_empty());
    write(
        &b.dir.join("runtime.json"),
        r#"{"mounts":[{"destination":"/x","type":"tmpfs","source":"tmpfs","options":["ro"]}],
            "mkdir":["var/x"],"bindNS":{"net":"/run/netns/svc"},"namespace":"ns"}"#,
    );
    let rt = b.runtime().unwrap();
    assert_eq!(rt.mounts[0].r#type, "tmpfs");
    assert_eq!(rt.mounts[0].options, ["ro"]);
    assert_eq!(rt.bind_ns.net, "/run/netns/svc");
    assert_eq!(rt.namespace, "ns");
    write(&b.dir.join("runtime.json"), "{\"mounts\": 3}");
    let e = b.runtime().unwrap_err().to_string();
    assert!(
        e.contains(&b.dir.join("runtime.json").display().to_string()) && e.contains("invalid"),
        "{e}"
    );
}

#[test]
fn relative_paths_are_under_the_rootfs() {
    let b = Bundle {
        name: "x".into(),
        dir: PathBuf::from("/containers/onboot/x"),
        phase: Phase::Onboot,
    };
    assert_eq!(
        b.abs("var/lib"),
        Path::new("/containers/onboot/x/rootfs/var/lib")
    );
    assert_eq!(b.abs("/var/lib"), Path::new("/var/lib"));
}

#[test]
fn default_cgroups_follow_runc_and_containerd() {
    let t = tempfile::tempdir().unwrap();
    let s = bundle(t.path(), "getty", Phase::Service);
    assert_eq!(s.default_cgroup(""), "/services.linuxkit/getty");
    assert_eq!(s.default_cgroup("mine"), "/mine/getty");
    let o = bundle(t.path(), "001-dhcpcd", Phase::Onboot);
    assert_eq!(o.default_cgroup("mine"), "/001-dhcpcd");
}

fn spec_of(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap()
}

#[test]
fn the_written_spec_has_an_absolute_rootfs_and_a_cgroup() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let b = bundle(t.path(), "web", Phase::Service);
    let config = b.dir.join("config.json");

    write(
        &config,
        r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"}}"#,
    );
    let (dir, cgroup) = b.write_spec("", &out).unwrap();
    assert_eq!(dir, out.join("web"));
    assert_eq!(cgroup, "/services.linuxkit/web");
    let spec = spec_of(&dir);
    assert_eq!(
        spec["root"]["path"],
        b.dir.join("rootfs").display().to_string()
    );
    assert_eq!(spec["linux"]["cgroupsPath"], "/services.linuxkit/web");

    write(
        &config,
        r#"{"ociVersion":"1.0.2","root":{"path":"/elsewhere"},"linux":{"cgroupsPath":"mine/web"}}"#,
    );
    let (dir, cgroup) = b.write_spec("", &out).unwrap();
    assert_eq!(
        cgroup, "/mine/web",
        "a relative cgroupsPath is made absolute"
    );
    assert_eq!(spec_of(&dir)["root"]["path"], "/elsewhere");

    for (bad, why) in [
        ("[1]", "not a JSON object"),
        (
            r#"{"ociVersion":"1.0.2","linux":3}"#,
            "`linux` is not an object",
        ),
        ("{", "EOF"),
    ] {
        write(&config, bad);
        let e = b.write_spec("", &out).unwrap_err().to_string();
        assert!(
            e.contains(&config.display().to_string()) && e.contains(why),
            "{bad}: {e}"
        );
    }
}

#[test]
fn mount_points_are_made_in_the_rootfs_without_leaving_it() {
    let t = tempfile::tempdir().unwrap();
    let host_file = t.path().join("hostfile");
    std::fs::write(&host_file, "x").unwrap();
    let b = bundle(t.path(), "svc", Phase::Service);
    let rootfs = b.dir.join("rootfs");
    // Links to / and to an absolute path lead into the rootfs, never to the
    // host's / (the name is unique so a wrong mkdir is seen, not hidden).
    let probe = format!("linuxkit-init-test-{}", std::process::id());
    symlink("/", rootfs.join("escape")).unwrap();
    std::fs::create_dir(rootfs.join("run")).unwrap();
    std::fs::create_dir(rootfs.join("var")).unwrap();
    symlink("/run", rootfs.join("var/run")).unwrap();
    symlink("loop", rootfs.join("loop")).unwrap();
    let config = format!(
        r#"{{"mounts":[
            {{"destination":"/etc/resolv.conf","type":"bind","source":"{}","options":["rbind"]}},
            {{"destination":"/var/lib/x","type":"tmpfs","source":"tmpfs"}},
            {{"destination":"/escape/{probe}/sub","type":"tmpfs","source":"tmpfs"}},
            {{"destination":"/var/run/y","type":"tmpfs","source":"tmpfs"}},
            {{"destination":"/loop/z","type":"tmpfs","source":"tmpfs"}},
            {{"destination":"/a/../b","type":"tmpfs","source":"tmpfs"}}
        ]}}"#,
        host_file.display()
    );
    write(&b.dir.join("config.json"), &config);
    assert_eq!(precreate_for(std::slice::from_ref(&b)), 4);
    assert!(
        rootfs.join("etc/resolv.conf").is_file(),
        "a bound file gets a file"
    );
    assert!(rootfs.join("var/lib/x").is_dir());
    assert!(rootfs.join(&probe).join("sub").is_dir());
    assert!(
        !Path::new("/").join(&probe).exists(),
        "nothing is made outside the rootfs"
    );
    assert!(
        rootfs.join("run/y").is_dir(),
        "/var/run -> /run inside the rootfs"
    );
    assert!(!rootfs.join("b").exists() && !rootfs.join("a").exists());
    assert_eq!(
        precreate_for(std::slice::from_ref(&b)),
        0,
        "existing ones are kept"
    );
}

#[test]
fn mount_points_go_into_a_bound_root_and_never_onto_an_overlay_root() {
    let t = tempfile::tempdir().unwrap();
    let shared = t.path().join("shared-rootfs");
    std::fs::create_dir(&shared).unwrap();
    let config = r#"{"mounts":[{"destination":"/data","type":"tmpfs","source":"tmpfs"}]}"#;
    let bound = bundle(t.path(), "bound", Phase::Onboot);
    write(&bound.dir.join("config.json"), config);
    write(
        &bound.dir.join("runtime.json"),
        &format!(
            r#"{{"mounts":[{{"destination":"{}","type":"","source":"{}","options":["bind"]}}]}}"#,
            bound.dir.join("rootfs").display(),
            shared.display()
        ),
    );
    let over = bundle(t.path(), "over", Phase::Onboot);
    write(&over.dir.join("config.json"), config);
    write(
        &over.dir.join("runtime.json"),
        &format!(
            r#"{{"mounts":[{{"destination":"{}","type":"overlay","source":"overlay","options":["lowerdir=/lower"]}}]}}"#,
            over.dir.join("rootfs").display()
        ),
    );
    assert_eq!(precreate_for(&[bound.clone(), over.clone()]), 1);
    assert!(shared.join("data").is_dir());
    assert!(!bound.dir.join("rootfs/data").exists());
    assert!(!over.dir.join("rootfs/data").exists());
}
