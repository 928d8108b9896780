//! Snapshot tests of the messages for rejected configurations: file, line,
//! column, the offending key or value, and a hint where one helps.

use linuxkit_config::{Input, parse};

fn errors(text: &str) -> String {
    match parse(
        &Input {
            name: "test.yml",
            text,
            template_dir: None,
        },
        None,
    ) {
        Ok(_) => "accepted".to_string(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn all_problems_in_document_order() {
    insta::assert_snapshot!(errors(
        r#"kernel:
  image: linuxkit/kernel:6.12.59
  cmdlne: "console=ttyS0"
init:
  - linuxkit/init:abc
onboot:
  - name: x
    image: alpine:3.21
    colour: blue
    capabilites: [CAP_SYS_ADMIN]
    readonly: yes
    oomScoreAdj: "5"
  - image: alpine:3.21
    binds: /a:/b
services:
files:
  - path: etc/x
    mode: 0644
    contents: hi
  - path: etc/y
    uid: 1.5
volumes:
  - name: v
    format: raw
unknownField: 1
"#
    ));
}

#[test]
fn file_mode_must_be_quoted() {
    insta::assert_snapshot!(errors(
        "files:\n  - path: etc/x\n    contents: hi\n    mode: 0644\n"
    ));
}

#[test]
fn empty_file() {
    insta::assert_snapshot!(errors("# nothing here\n"));
}

#[test]
fn top_level_list() {
    insta::assert_snapshot!(errors("- kernel\n- init\n"));
}

#[test]
fn invalid_yaml() {
    insta::assert_snapshot!(errors(
        "files:\n  - path: etc/resolv.conf\n    contents: |\n#      domain test.local\n      nameserver 10.10.1.101\n"
    ));
}

#[test]
fn semantic_checks_have_positions() {
    insta::assert_snapshot!(errors(
        r#"init:
  - UPPER/case:v1
services:
  - name: getty
    image: linuxkit/getty:abc
  - name: getty
    image: "linuxkit/getty:bad tag"
volumes:
  - name: Bad.Name
  - name: v
  - name: v
"#
    ));
}

#[test]
fn duplicate_keys_and_nulls() {
    insta::assert_snapshot!(errors(
        "onboot:\n  - name: a\n    image: alpine\n    name: b\n    env:\n    sysctl:\n      a: 1\n"
    ));
}

#[test]
fn pkg_build_yml_is_not_a_config() {
    insta::assert_snapshot!(errors(
        "image: getty\nnetwork: true\nconfig:\n  binds:\n    - /etc/getty:/etc/getty\n"
    ));
}

#[test]
fn ids_that_do_not_fit_32_bits_are_refused_with_position() {
    // Upstream wraps 4294967296 to 0: a file or container would run as root.
    let e = errors(
        "onboot:\n  - name: x\n    image: alpine:3.21\n    uid: 4294967296\n\
         files:\n  - path: etc/x\n    contents: hi\n    gid: -1\n  - path: etc/y\n    contents: hi\n    uid: 4294967295\n",
    );
    assert!(
        e.contains("test.yml:4:10: id `4294967296` for `onboot[0].uid` is out of range"),
        "{e}"
    );
    assert!(
        e.contains("test.yml:8:10: id `-1` for `files[0].gid` is out of range"),
        "{e}"
    );
    assert!(!e.contains("files[1]"), "{e}");
}
