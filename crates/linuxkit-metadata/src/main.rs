//! linuxkit-metadata (`/usr/bin/metadata` in `pkg/metadata`): the onboot
//! program that finds the machine's user data and writes it under
//! `/run/config`, as upstream's `pkg/metadata` does: `provider` (which
//! provider answered), `userdata` (the raw bytes), the JSON tree expanded
//! (see [`userdata`]), and the hostname set from `/run/config/hostname`.
//!
//! Arguments: provider names tried in order (default: upstream's list);
//! `-v` is accepted (upstream's verbose flag). Implemented: `cdrom`
//! ([`cdrom`]) and `file=PATH`. The network providers (aws, gcp, hetzner,
//! openstack, scaleway, vultr, digitalocean, packet/equinixmetal,
//! metaldata) and vmware are not implemented yet: each is logged as
//! skipped. A system where no provider answers boots on (exit 0).

mod cdrom;
mod userdata;

use std::path::PathBuf;

/// Upstream's default provider order.
const DEFAULT_PROVIDERS: [&str; 11] = [
    "aws",
    "gcp",
    "hetzner",
    "openstack",
    "scaleway",
    "vultr",
    "digitalocean",
    "packet",
    "metaldata",
    "vmware",
    "cdrom",
];

/// Where things are (the real system's paths, or a test's).
struct Paths {
    config: PathBuf,
    dev: PathBuf,
    sys_block: PathBuf,
    mnt: PathBuf,
}

/// What a run found: the provider's name and its user data.
type Answer = (String, Vec<u8>);

/// Try the providers named in `args` in upstream's order (network, then
/// CD-ROMs, then files); write the outputs; return the hostname to set.
fn run(p: &Paths, args: &[String], log: &mut dyn FnMut(String)) -> Result<Option<String>, String> {
    let names: Vec<&str> = {
        let given: Vec<&str> = args
            .iter()
            .map(String::as_str)
            .filter(|a| !a.starts_with('-'))
            .collect();
        if given.is_empty() {
            DEFAULT_PROVIDERS.to_vec()
        } else {
            given
        }
    };
    let (mut cdrom, mut files) = (false, Vec::new());
    for n in &names {
        match *n {
            "cdrom" => cdrom = true,
            f if f.starts_with("file=") => files.push(PathBuf::from(&f[5..])),
            "aws" | "gcp" | "hetzner" | "openstack" | "packet" | "equinixmetal" | "scaleway"
            | "vultr" | "digitalocean" | "metaldata" | "vmware" => log(format!(
                "{n}: provider not implemented in linuxkit-rs yet, skipped"
            )),
            other => return Err(format!("Unrecognised metadata provider: {other}")),
        }
    }
    std::fs::create_dir_all(&p.config)
        .map_err(|e| format!("Could not create {}: {e}", p.config.display()))?;
    let mut answer: Option<Answer> = None;
    if cdrom {
        let c = cdrom::candidates(&p.dev, &p.sys_block);
        if let Some(f) = cdrom::probe(&c, &p.mnt, log) {
            log(format!("CDROM {}: Probe succeeded", f.device.display()));
            answer = Some((format!("CDROM {}", f.device.display()), f.userdata));
        }
    }
    if answer.is_none() {
        for f in &files {
            log(format!("Trying file {}", f.display()));
            if let Ok(data) = std::fs::read(f) {
                log(format!("{}: Probe succeeded", f.display()));
                answer = Some((f.display().to_string(), data));
                break;
            }
        }
    }
    let Some((provider, data)) = answer else {
        log("No metadata/userdata found. Bye".into());
        return Ok(None);
    };
    if let Err(e) = std::fs::write(p.config.join("provider"), provider.as_bytes()) {
        log(format!("Error writing metadata provider: {e}"));
    }
    if let Err(e) = userdata::process(&p.config, &data, log) {
        log(format!("Could not extract user data: {e}"));
    }
    Ok(std::fs::read_to_string(p.config.join("hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty()))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let paths = Paths {
        config: PathBuf::from("/run/config"),
        dev: PathBuf::from("/dev"),
        sys_block: PathBuf::from("/sys/class/block"),
        mnt: PathBuf::from("/tmp/linuxkit-metadata-cd"),
    };
    let mut log = |l: String| eprintln!("metadata: {l}");
    match run(&paths, &args, &mut log) {
        Ok(Some(h)) => match nix::unistd::sethostname(&h) {
            Ok(()) => log(format!("Set hostname to: {h}")),
            Err(e) => log(format!("Failed to set hostname: {e}")),
        },
        Ok(None) => {}
        Err(e) => {
            log(e);
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn paths(t: &Path) -> Paths {
        let p = Paths {
            config: t.join("run/config"),
            dev: t.join("dev"),
            sys_block: t.join("sys"),
            mnt: t.join("mnt"),
        };
        std::fs::create_dir_all(&p.dev).unwrap();
        std::fs::create_dir_all(&p.sys_block).unwrap();
        p
    }

    #[test]
    fn a_file_provider_writes_provider_userdata_and_the_tree() {
        let t = tempfile::tempdir().unwrap();
        let p = paths(t.path());
        let f = t.path().join("ud.json");
        std::fs::write(
            &f,
            br#"{"hostname":{"content":"web1\n"},"srv":{"entries":{"index.html":{"perm":"0640","content":"hi"}}}}"#,
        )
        .unwrap();
        let mut logs = Vec::new();
        let args = vec![
            "-v".to_string(),
            "cdrom".into(),
            "file=/nonexistent".into(),
            format!("file={}", f.display()),
        ];
        let host = run(&p, &args, &mut |l| logs.push(l)).unwrap();
        assert_eq!(host.as_deref(), Some("web1"));
        assert_eq!(
            std::fs::read_to_string(p.config.join("provider")).unwrap(),
            f.display().to_string()
        );
        assert_eq!(
            std::fs::read_to_string(p.config.join("srv/index.html")).unwrap(),
            "hi"
        );
        assert!(
            logs.iter().any(|l| l.contains("Trying file /nonexistent")),
            "{logs:?}"
        );
    }

    #[test]
    fn nothing_found_is_not_an_error_and_unknown_providers_are() {
        let t = tempfile::tempdir().unwrap();
        let p = paths(t.path());
        let mut logs = Vec::new();
        assert_eq!(run(&p, &[], &mut |l| logs.push(l)).unwrap(), None);
        assert!(
            logs.iter()
                .any(|l| l.contains("aws: provider not implemented"))
        );
        assert!(logs.last().unwrap().contains("No metadata/userdata found"));
        assert!(!p.config.join("provider").exists());
        let e = run(&p, &["nimbus".into()], &mut |_| {}).unwrap_err();
        assert_eq!(e, "Unrecognised metadata provider: nimbus");
    }
}
