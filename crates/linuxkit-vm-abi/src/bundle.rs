//! The bundle layout of an image (image-layout.md §5): one directory per
//! container under `containers/<phase>/`, holding `config.json` (the OCI
//! runtime spec), `runtime.json` (LinuxKit's set-up actions, [`crate::runtime`])
//! and the root filesystem. Paths here are relative to the image root
//! (what the build writes into its archives); [`Phase::dir`] is the absolute
//! path `/init` reads in the VM.

/// The directory of every bundle and volume, relative to the image root.
pub const CONTAINERS: &str = "containers";
/// A bundle's OCI runtime spec.
pub const CONFIG_JSON: &str = "config.json";
/// A bundle's LinuxKit set-up actions.
pub const RUNTIME_JSON: &str = "runtime.json";
/// A bundle's root filesystem (the mount point, or the files of a read-only root).
pub const ROOTFS: &str = "rootfs";
/// The image's files under a writable bundle or a volume (the overlay's lower layer).
pub const LOWER: &str = "lower";
/// The tmpfs of a writable bundle (the overlay's upper and work directories).
pub const TMP: &str = "tmp";

/// The three container sections of the YAML, each a directory of bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `onboot`: run in order, each to completion.
    Onboot,
    /// `services`: started together, supervised.
    Service,
    /// `onshutdown`: run in order at poweroff.
    Shutdown,
}

impl Phase {
    /// Every phase, in the order the build writes them.
    pub const ALL: [Phase; 3] = [Phase::Onboot, Phase::Shutdown, Phase::Service];

    /// The YAML key, which is also the directory name under `containers/`.
    pub fn section(self) -> &'static str {
        match self {
            Phase::Onboot => "onboot",
            Phase::Service => "services",
            Phase::Shutdown => "onshutdown",
        }
    }

    /// The phase of a YAML key (`onboot`, `onshutdown`, `services`).
    pub fn from_section(section: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.section() == section)
    }

    /// Absolute directory of the phase's bundles in the running VM.
    pub fn dir(self) -> &'static str {
        match self {
            Phase::Onboot => "/containers/onboot",
            Phase::Service => "/containers/services",
            Phase::Shutdown => "/containers/onshutdown",
        }
    }

    /// Whether bundle names carry the `NNN-` position prefix: the ordered
    /// phases do (name order is run order); services are named by name alone.
    pub fn is_ordered(self) -> bool {
        self != Phase::Service
    }

    /// A bundle's directory relative to the image root:
    /// `containers/onboot/000-name`, `containers/services/name`.
    pub fn bundle_dir(self, index: usize, name: &str) -> String {
        if self.is_ordered() {
            format!("{CONTAINERS}/{}/{index:03}-{name}", self.section())
        } else {
            format!("{CONTAINERS}/{}/{name}", self.section())
        }
    }
}

/// A bundle's directory from the YAML section's key; an unknown key is
/// treated as an ordered phase. Prefer [`Phase::bundle_dir`].
pub fn bundle_dir(section: &str, index: usize, name: &str) -> String {
    match Phase::from_section(section) {
        Some(p) => p.bundle_dir(index, name),
        None => format!("{CONTAINERS}/{section}/{index:03}-{name}"),
    }
}

/// A volume's directory relative to the image root: `containers/volumes/name`.
pub fn volume_dir(name: &str) -> String {
    format!("{CONTAINERS}/volumes/{name}")
}

/// Absolute path in the VM where binds of a volume point:
/// `/containers/volumes/name/merged`.
pub fn volume_merged(name: &str) -> String {
    format!("/{}/merged", volume_dir(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundle_names() {
        assert_eq!(
            Phase::Onboot.bundle_dir(0, "sysctl"),
            "containers/onboot/000-sysctl"
        );
        assert_eq!(
            Phase::Shutdown.bundle_dir(12, "x"),
            "containers/onshutdown/012-x"
        );
        assert_eq!(
            Phase::Service.bundle_dir(3, "getty"),
            "containers/services/getty"
        );
        // More than 999 keeps every digit (name order then breaks, as upstream's).
        assert_eq!(
            Phase::Onboot.bundle_dir(1000, "a"),
            "containers/onboot/1000-a"
        );
        assert_eq!(
            bundle_dir("services", 1, "sshd"),
            "containers/services/sshd"
        );
        assert_eq!(
            bundle_dir("onboot", 1, "dhcpcd"),
            "containers/onboot/001-dhcpcd"
        );
    }

    #[test]
    fn sections_round_trip_and_match_the_vm_paths() {
        for p in Phase::ALL {
            assert_eq!(Phase::from_section(p.section()), Some(p));
            assert_eq!(p.dir(), format!("/{CONTAINERS}/{}", p.section()));
            assert!(
                format!("/{}", p.bundle_dir(7, "n")).starts_with(&format!("{}/", p.dir())),
                "{p:?}"
            );
        }
        assert_eq!(Phase::from_section("service"), None);
    }

    #[test]
    fn volumes() {
        assert_eq!(volume_dir("v"), "containers/volumes/v");
        assert_eq!(volume_merged("v"), "/containers/volumes/v/merged");
    }
}
