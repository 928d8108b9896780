//! Ports of upstream's `config_test.go` facts (yaml.md §6) and the worked
//! example of yaml.md §6.12, plus targeted `config.json` rules.

use linuxkit_config::*;
use serde_json::{Value, json};

/// `text` parsed as the configuration file `name` (no templates); must parse.
fn moby(name: &str, text: &str) -> Moby {
    let input = Input {
        name,
        text,
        template_dir: None,
    };
    parse(&input, None).unwrap_or_else(|e| panic!("{e}"))
}

fn image(yaml: &str) -> Image {
    let text = format!("onboot:\n  - name: test\n    image: alpine:3.21\n{yaml}");
    let m = moby("t.yml", &text);
    m.onboot[0].clone()
}

fn spec(img: &Image, label: Option<&str>) -> Result<Value, SpecError> {
    let defaults = ImageDefaults {
        env: Some(vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()]),
        label: label.map(str::to_string),
        ..ImageDefaults::default()
    };
    let s = oci_spec(img, &defaults, &IdMap::default())?;
    Ok(serde_json::from_str(&s.config_json).unwrap_or(Value::Null))
}

#[test]
fn test_overrides() {
    let img = image("    capabilities: [CAP_SYS_ADMIN]\n");
    let v = spec(
        &img,
        Some(r#"{"capabilities":["CAP_SYS_CHROOT"],"cwd":"/label/directory"}"#),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        v["process"]["capabilities"]["bounding"],
        json!(["CAP_SYS_ADMIN"])
    );
    assert_eq!(v["process"]["cwd"], json!("/label/directory"));
}

#[test]
fn test_invalid_cap() {
    let img = image("");
    let err = spec(&img, Some(r#"{"capabilities":["NOT_A_CAP"]}"#)).unwrap_err();
    assert_eq!(err.to_string(), "unknown capability: NOT_A_CAP");
    let err = spec(&image("    capabilities: [all, CAP_CHOWN]\n"), None).unwrap_err();
    assert_eq!(err.to_string(), "unknown capability: all");
}

#[test]
fn test_id_map() {
    let img = image("    uid: test\n    gid: 76\n    additionalGids: [test, 1, root]\n");
    let mut idmap = IdMap::default();
    idmap.insert("test", 199);
    let s = oci_spec(&img, &ImageDefaults::default(), &idmap).unwrap_or_else(|e| panic!("{e}"));
    let v: Value = serde_json::from_str(&s.config_json).unwrap_or(Value::Null);
    assert_eq!(
        v["process"]["user"],
        json!({"uid": 199, "gid": 76, "additionalGids": [199, 1, 0]})
    );
    let err = oci_spec(
        &image("    uid: nobody\n"),
        &ImageDefaults::default(),
        &IdMap::default(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "cannot find id: nobody");
}

#[test]
fn id_allocation_order() {
    let text = "onboot:\n  - {name: a, image: x}\n  - {name: b, image: x}\nonshutdown:\n  - {name: c, image: x}\nservices:\n  - {name: a, image: x}\n";
    let m = moby("t", text);
    let ids = IdMap::new(&m);
    assert_eq!(
        (ids.get("a"), ids.get("b"), ids.get("c")),
        (Some(103), Some(101), Some(102))
    );
}

#[test]
fn worked_example_6_12() {
    let text = r#"onboot:
  - name: dhcpcd
    image: linuxkit/dhcpcd:abc
    command: ["/sbin/dhcpcd", "--nobackground", "-f", "/dhcpcd.conf", "-1"]
"#;
    let m = moby("t", text);
    let defaults = ImageDefaults {
        env: Some(vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()]),
        label: Some(r#"{"binds":["/run/resolvconf:/etc"],"capabilities":["CAP_NET_ADMIN","CAP_NET_BIND_SERVICE","CAP_NET_RAW","CAP_SYS_ADMIN"]}"#.into()),
        ..ImageDefaults::default()
    };
    let s = oci_spec(&m.onboot[0], &defaults, &IdMap::new(&m)).unwrap_or_else(|e| panic!("{e}"));
    insta::assert_snapshot!(s.config_json);
    assert!(!s.readonly);
    assert_eq!(
        runtime_json(&[], &s.runtime),
        "{\n    \"cgroups\": [],\n    \"mounts\": [],\n    \"mkdir\": [],\n    \"interfaces\": [],\n    \"bindNS\": {\n        \"cgroup\": \"\",\n        \"ipc\": \"\",\n        \"mnt\": \"\",\n        \"net\": \"\",\n        \"pid\": \"\",\n        \"user\": \"\",\n        \"uts\": \"\"\n    },\n    \"namespace\": \"\"\n}"
    );
}

#[test]
fn all_caps_namespaces_and_readonly() {
    let img = image(
        "    capabilities: [all]\n    net: new\n    ipc: /run/ipc\n    pid: host\n    uts: none\n    readonly: true\n    hostname: box\n",
    );
    let v = spec(&img, None).unwrap_or_else(|e| panic!("{e}"));
    let caps = &v["process"]["capabilities"];
    assert_eq!(caps["effective"].as_array().map(Vec::len), Some(41));
    assert_eq!(caps["effective"][0], "CAP_CHOWN");
    assert_eq!(caps["bounding"][0], "CAP_AUDIT_CONTROL");
    assert_eq!(
        v["linux"]["namespaces"],
        json!([{"type": "network"}, {"type": "ipc", "path": "/run/ipc"}, {"type": "uts", "path": "none"}, {"type": "mount"}])
    );
    assert_eq!(v["root"], json!({"path": "rootfs", "readonly": true}));
    assert_eq!(v["hostname"], "box");
    assert_eq!(
        v["mounts"][0]["options"].as_array().and_then(|o| o.last()),
        Some(&json!("ro"))
    );
}

#[test]
fn binds_tmpfs_mounts_devices_rlimits() {
    let img = image(
        r#"    binds.add: ["/x:/x:ro"]
    tmpfs: ["/run:size=10m,mode=755", /tmp2]
    mounts:
      - type: cgroup
        options: [rw]
      - source: mqueue
    devices:
      - {path: all, type: b}
      - {path: /dev/null, type: c, major: 1, minor: 3, mode: "0666"}
    rlimits: ["nofile, 10, unlimited"]
"#,
    );
    let v = spec(&img, Some(r#"{"binds":["/a:/b"]}"#)).unwrap_or_else(|e| panic!("{e}"));
    let dests: Vec<&str> = v["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["destination"].as_str())
        .collect();
    assert_eq!(
        dests,
        [
            "/b",
            "/dev",
            "/dev/mqueue",
            "/dev/pts",
            "/proc",
            "/run",
            "/sys",
            "/sys/fs/cgroup",
            "/tmp2",
            "/x"
        ]
    );
    assert_eq!(v["mounts"][0]["options"], json!(["rw", "rbind", "rshared"]));
    assert_eq!(v["mounts"][9]["options"], json!(["ro", "rbind"]));
    assert_eq!(
        v["mounts"][7],
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["rw"]})
    );
    assert_eq!(
        v["mounts"][8],
        json!({"destination": "/tmp2", "type": "tmpfs", "source": "tmpfs"})
    );
    assert_eq!(
        v["linux"]["resources"]["devices"],
        json!([{"allow": true, "type": "b", "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}])
    );
    assert_eq!(
        v["linux"]["devices"],
        json!([{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438}])
    );
    assert_eq!(
        v["process"]["rlimits"],
        json!([{"type": "RLIMIT_NOFILE", "hard": 18446744073709551615u64, "soft": 10}])
    );
}

#[test]
fn spec_error_texts() {
    let e = |y: &str| spec(&image(y), None).unwrap_err().to_string();
    assert_eq!(
        e("    binds: [/var]\n"),
        "cannot parse bind, missing ':': /var"
    );
    assert_eq!(
        e("    binds: [/a:/b:ro:x]\n"),
        "cannot parse bind, too many ':': /a:/b:ro:x"
    );
    assert_eq!(
        e("    tmpfs: [/a:b:c]\n"),
        "cannot parse tmpfs, too many ':': /a:b:c"
    );
    assert_eq!(
        e("    mounts: [{type: tmpfs}]\n"),
        "mount type tmpfs is missing destination"
    );
    assert_eq!(
        e("    mounts: [{destination: /x, source: /y}]\n"),
        "mount for destination /x is missing type"
    );
    assert_eq!(
        e("    devices: [{path: /dev/x, type: c, major: 1, minor: 1}]\n"),
        "cannot parse device mode as octal value: strconv.ParseInt: parsing \"\": invalid syntax"
    );
    assert_eq!(
        e("    rlimits: [\"bogus,1,2\"]\n"),
        "unknown limit: RLIMIT_BOGUS"
    );
    assert_eq!(
        e("    rlimits: [\"nofile,1\"]\n"),
        "cannot parse rlimit: [nofile,1]"
    );
    assert_eq!(
        e("    rlimits: [\"nofile,x,1\"]\n"),
        "cannot parse x as uint64: strconv.ParseUint: parsing \"x\": invalid syntax"
    );
    let bad_label = |l: &str| spec(&image(""), Some(l)).unwrap_err().to_string();
    assert_eq!(
        bad_label("[1, 2]"),
        "JSON is an array not an object: [1, 2]"
    );
    assert_eq!(
        bad_label(r#"{"name": "x"}"#),
        "name cannot be set in metadata label"
    );
    assert!(bad_label(r#"{"binds": "x"}"#).starts_with("invalid configuration label"));
}

#[test]
fn honours_keys_upstream_drops() {
    let img = image(
        r#"    uidMappings: [{hostID: 1000, containerID: 0, size: 10}]
    resources:
      memory: {kernelTCP: 5, disableOOMKiller: true}
      blockio: {weight: 10, throttleReadBpsDevice: [{major: 8, minor: 0, rate: 100}]}
"#,
    );
    let v = spec(&img, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        v["linux"]["uidMappings"],
        json!([{"containerID": 0, "hostID": 1000, "size": 10}])
    );
    assert_eq!(
        v["linux"]["resources"]["memory"],
        json!({"kernelTCP": 5, "disableOOMKiller": true})
    );
    assert_eq!(
        v["linux"]["resources"]["blockIO"],
        json!({"weight": 10, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 100}]})
    );
}
