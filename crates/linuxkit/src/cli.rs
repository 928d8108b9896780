//! The command tree and flags, matching upstream LinuxKit's (reference
//! cli.md): GNU-style long flags; every boolean also accepts `--flag=false`
//! and `--flag=true` (applied to the whole tree by `parse.rs`).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// linuxkit: build minimal, immutable Linux systems from a YAML file whose every part is an OCI image — no Docker daemon, no root, no helper VM.
#[derive(Parser, Debug)]
#[command(
    name = "linuxkit",
    version = crate::version::VERSION,
    long_version = crate::version::LONG,
    max_term_width = 100
)]
pub struct Cli {
    /// Image cache directory (default: $LINUXKIT_CACHE, else ~/.linuxkit/cache)
    #[arg(long, global = true, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Registry mirror, `<registry>=<url>` or `<url>` for all (repeatable; env LINUXKIT_MIRROR is added first)
    #[arg(long, global = true, value_name = "SPEC")]
    pub mirror: Vec<String>,
    /// Extra CA certificate (PEM) trusted for registry TLS (repeatable)
    #[arg(long = "cert-file", global = true, value_name = "PATH")]
    pub cert_file: Vec<PathBuf>,
    /// Registry (host[:port]) spoken to over plain HTTP (repeatable; env LINUXKIT_INSECURE_REGISTRIES; loopback registries fall back to HTTP by themselves)
    #[arg(long = "insecure-registry", global = true, value_name = "HOST")]
    pub insecure_registry: Vec<String>,
    /// Print errors only
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Verbosity: 0 quiet, 1 info (default), 2 debug, 3 trace
    #[arg(short, long, global = true, value_name = "N")]
    pub verbose: Option<u8>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build a bootable OS image from one or more YAML configuration files
    Build(BuildArgs),
    /// Manage the local image cache
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Metadata utilities
    #[command(subcommand)]
    Metadata(MetadataCommand),
    /// Build packages natively (no Docker): images from Debian packages, files and cargo binaries
    Pkg(PkgArgs),
    /// Push an image: `push registry FILE REF` (a tar or docker output as an OCI image); clouds are not implemented yet
    #[command(subcommand)]
    Push(PushCommand),
    /// Run an image (default backend on Linux: qemu)
    Run(RunArgs),
    /// Serve a directory over HTTP (GET/HEAD, byte ranges; nothing outside the directory)
    Serve {
        /// Address to listen on: `:PORT` (every interface), `HOST:PORT` or `PORT`
        #[arg(
            long,
            visible_alias = "listen",
            default_value = ":8080",
            value_name = "ADDR"
        )]
        port: String,
        /// Directory to serve
        #[arg(long, default_value = ".", value_name = "DIR")]
        directory: PathBuf,
    },
    /// Print a shell completion script: `source <(linuxkit completion bash)`
    Completion {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the version and the commit the binary was built from
    Version {
        /// Print only the version number
        #[arg(long)]
        short: bool,
        /// Print only the commit
        #[arg(long)]
        commit: bool,
    },
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name to use for output files (default: the last file's base name)
    #[arg(long)]
    pub name: Option<String>,
    /// Directory for output files (default: the current directory)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Output a single streamable format to FILE, `-` for stdout
    #[arg(long = "o", value_name = "FILE")]
    pub output: Option<String>,
    /// Formats to create (help generated from linuxkit_build::Format)
    #[arg(short, long = "format", value_name = "FORMAT",
        help = format!("Formats to create (repeatable or comma separated): {}", linuxkit_build::Format::names()),
        long_help = linuxkit_build::Format::long_help())]
    pub format: Vec<linuxkit_build::FormatList>,
    /// Size for disk images (qcow2-bios, aws), e.g. 1024M, 4G
    #[arg(long, default_value = "1024M")]
    pub size: linuxkit_build::DiskSize,
    /// Boot loader files for the bootable formats: `@pkg:DIR` (built into the cache) or an image reference (default: the pkg/bootloaders of the checkout holding the YAML file or the current directory)
    #[arg(long, value_name = "REF")]
    pub bootloaders: Option<String>,
    /// Always pull images from their registries, even those already in the cache
    #[arg(long)]
    pub pull: bool,
    /// Use the local Docker engine first (linuxkit-rs talks to no engine: accepted for compatibility, must be false)
    #[arg(long)]
    pub docker: bool,
    /// Decompress the kernel (gzip or x86 bzImage with a gzip payload)
    #[arg(long = "decompress-kernel")]
    pub decompress_kernel: bool,
    /// Target architecture (amd64, arm64, riscv64, ...; default: this machine's)
    #[arg(long)]
    pub arch: Option<String>,
    /// The global `--cache` (one flag for every command; filled in by dispatch)
    #[arg(skip)]
    pub build_cache: Option<PathBuf>,
    /// Reuse unchanged parts of a previous `tar` output
    #[arg(long = "input-tar", value_name = "FILE")]
    pub input_tar: Option<PathBuf>,
    /// Do not add the merged SBOM
    #[arg(long = "no-sbom")]
    pub no_sbom: bool,
    /// Path of the SBOM inside the image
    #[arg(long = "sbom-output", default_value = "sbom.spdx.json")]
    pub sbom_output: String,
    /// Use the current time as the SBOM creation time
    #[arg(long = "sbom-current-time")]
    pub sbom_current_time: bool,
    /// Print the merged, template-resolved configuration and exit
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Configuration files: paths, `-` for stdin, or http(s) URLs
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// List the images in the cache
    Ls,
    /// Remove images from the cache
    Rm {
        /// Only remove images whose registry digest equals the cached one
        #[arg(long = "published-only")]
        published_only: bool,
        /// Image names
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Delete the whole cache
    Clean {
        /// Only remove images whose registry digest equals the cached one
        #[arg(long = "published-only")]
        published_only: bool,
    },
    /// Import an OCI-layout tarball (`-` for stdin)
    Import {
        /// The tarball
        file: String,
    },
    /// Export an image as an OCI layout tarball, a `docker load` archive or its flattened filesystem
    Export {
        /// Platform to export (default: this machine's)
        #[arg(long)]
        platform: Option<String>,
        /// Output file, `-` for stdout
        #[arg(long, required = true)]
        outfile: String,
        /// oci (an OCI layout tar), docker (a `docker load` tar) or filesystem (the image's files as one tar)
        #[arg(long, default_value = "oci")]
        format: String,
        /// Name to write into the archive
        #[arg(long = "name")]
        ref_name: Option<String>,
        /// Image name
        image: String,
    },
    /// Pull images (every platform of an index) from their registries into the cache
    Pull {
        /// Image references (`:latest` when no tag or digest is given)
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Push images from the cache to a registry
    Push {
        /// Remote name to push to (default: the image's own name; only with one image)
        #[arg(long = "remote-name")]
        remote_name: Option<String>,
        /// Also tag each platform of an index as `<tag>-<arch>`
        #[arg(long = "with-arch-tags")]
        with_arch_tags: bool,
        /// Push even if the remote tag exists (without it an existing remote tag is left alone)
        #[arg(long = "override")]
        override_remote: bool,
        /// When overriding a remote index, keep the platforms it has and ours lacks (`=false` replaces it)
        #[arg(long = "merge-index", default_value_t = true)]
        merge_index: bool,
        /// Image names in the cache
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PushCommand {
    /// Push a `tar` or `docker` build output to a registry as a one-layer OCI image
    Registry {
        /// Architecture recorded in the image config (default: this machine's)
        #[arg(long)]
        arch: Option<String>,
        /// The build output (`<name>.tar` or `<name>.docker`)
        file: PathBuf,
        /// Where to push, e.g. registry.example:5000/me/system:v1
        reference: String,
    },
    /// Copy a kernel+initrd build and its iPXE script to a file:// destination (Equinix Metal's script)
    Equinixmetal(PushIpxeArgs),
    /// Copy a kernel+initrd build and an iPXE script booting it to a file:// destination
    Ipxe(PushIpxeArgs),
    /// Clouds (aws, azure, gcp, openstack, ...): not implemented yet
    #[command(external_subcommand)]
    Other(Vec<String>),
}

/// `push equinixmetal` / `push ipxe` (upstream's `push equinixmetal` flags).
#[derive(Args, Debug)]
pub struct PushIpxeArgs {
    /// Base URL the kernel, initrd and iPXE script are served from (equinixmetal: or METAL_BASE_URL)
    #[arg(long = "base-url", value_name = "URL")]
    pub base_url: Option<String>,
    /// Prefix of the kernel and initrd files (default: PREFIX; equinixmetal: or METAL_NAME)
    #[arg(long = "img-name", value_name = "NAME")]
    pub img_name: Option<String>,
    /// Image architecture: x86_64 or aarch64 (default: this machine's)
    #[arg(long)]
    pub arch: Option<String>,
    /// Decompress (gunzip) the kernel and initrd while copying (default: true on arm64)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub decompress: Option<bool>,
    /// Where to write the files: file:///DIR or DIR
    #[arg(long, value_name = "URL")]
    pub destination: Option<String>,
    /// The build prefix (`PREFIX-kernel`, `PREFIX-initrd.img`, `PREFIX-cmdline`)
    #[arg(default_value = "equinixmetal")]
    pub prefix: String,
}

#[derive(Subcommand, Debug)]
pub enum MetadataCommand {
    /// Create an ISO 9660 image holding DATA as the file `config` (for the metadata package)
    Create {
        /// The ISO to write
        file: PathBuf,
        /// The metadata
        #[arg(allow_hyphen_values = true)]
        data: String,
    },
}

/// Flags shared by the `pkg` subcommands (upstream's persistent flags).
#[derive(Args, Debug, Clone)]
pub struct PkgCommon {
    /// Override the org of the image (env LINUXKIT_PKG_ORG)
    #[arg(long, env = "LINUXKIT_PKG_ORG", global = true)]
    pub org: Option<String>,
    /// Name of the build file in the package directory
    #[arg(long = "build-yml", default_value = "build.yml", global = true)]
    pub build_yml: String,
    /// Override the hash (instead of the git tree hash of the directory)
    #[arg(long, global = true)]
    pub hash: Option<String>,
    /// Tag template (`{{.Hash}}` is replaced by the hash)
    #[arg(long, global = true)]
    pub tag: Option<String>,
    /// Commit whose tree hash names the package
    #[arg(long = "hash-commit", default_value = "HEAD", global = true)]
    pub hash_commit: String,
    /// Mark the tag dirty even if the directory is clean
    #[arg(long = "force-dirty", global = true)]
    pub force_dirty: bool,
    /// Development build: org = $USER, hash = dev
    #[arg(long, global = true)]
    pub dev: bool,
    /// Directory git runs in to compute the hash (must be a parent of the package directory)
    #[arg(long = "hash-path", global = true, value_name = "DIR")]
    pub hash_path: Option<PathBuf>,
    /// Registry credentials, REGISTRY=USER:PASSWORD or REGISTRY=TOKEN (repeatable; used before ~/.docker/config.json)
    #[arg(long = "registry-creds", global = true, value_name = "REG=CREDS")]
    pub registry_creds: Vec<String>,
    /// Allow network access during the build (BuildKit only: native builds run no commands)
    #[arg(long, global = true)]
    pub network: bool,
    /// Disallow network access during the build (BuildKit only: native builds run no commands)
    #[arg(long, global = true)]
    pub nonetwork: bool,
    /// Use the build cache (BuildKit only)
    #[arg(long = "enable-cache", global = true)]
    pub enable_cache: bool,
    /// Disable the build cache (BuildKit only)
    #[arg(long = "disable-cache", global = true)]
    pub disable_cache: bool,
}

/// The flags of `pkg build` and `pkg push`. (Booleans that exclude each
/// other are checked by value in cmd/pkg.rs: `--force=false --pull` is fine.)
#[derive(Args, Debug, Clone)]
pub struct PkgBuildFlags {
    /// Build even if the image is already in the cache
    #[arg(long)]
    pub force: bool,
    /// Pull the image if the registry has it and the cache does not, instead of building it
    #[arg(long)]
    pub pull: bool,
    /// With --push: push what the cache holds, never build
    #[arg(long)]
    pub nobuild: bool,
    /// Print what would be built or pushed, and do nothing
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Also tag the image <org>/<image>:VERSION (pushed too with --push)
    #[arg(long, value_name = "VERSION")]
    pub release: Option<String>,
    /// With --push: push the multi-arch index (`=false`: only the <tag>-<arch> images)
    #[arg(long, default_value_t = true)]
    pub manifest: bool,
    /// Platforms to build, e.g. linux/amd64 (default: the package's arches this machine can build)
    #[arg(long, value_delimiter = ',')]
    pub platforms: Option<Vec<String>>,
    /// Platforms not to build, e.g. linux/arm64
    #[arg(long = "skip-platforms", value_delimiter = ',')]
    pub skip_platforms: Vec<String>,
    /// Re-resolve Debian packages and rewrite debian.lock
    #[arg(long = "update-lock")]
    pub update_lock: bool,
    /// Ignore cached intermediate images (BuildKit only: native builds have none)
    #[arg(long = "ignore-cached")]
    pub ignore_cached: bool,
    /// Also load the image into docker (there is no engine: must be false)
    #[arg(long)]
    pub docker: bool,
    /// BuildKit builders per platform, linux/arm64=CONTEXT,... (BuildKit only)
    #[arg(long, env = "LINUXKIT_BUILDERS", value_name = "SPEC")]
    pub builders: Option<String>,
    /// Name of the BuildKit builder container (BuildKit only)
    #[arg(
        long = "builder-name",
        env = "LINUXKIT_BUILDER_NAME",
        value_name = "NAME"
    )]
    pub builder_name: Option<String>,
    /// BuildKit image for the builder (BuildKit only)
    #[arg(
        long = "builder-image",
        env = "LINUXKIT_BUILDER_IMAGE",
        value_name = "REF"
    )]
    pub builder_image: Option<String>,
    /// buildkitd.toml for the builder (BuildKit only)
    #[arg(
        long = "builder-config",
        env = "LINUXKIT_BUILDER_CONFIG",
        value_name = "FILE"
    )]
    pub builder_config: Option<PathBuf>,
    /// Restart the builder container (BuildKit only)
    #[arg(long = "builder-restart")]
    pub builder_restart: bool,
    /// Pre-cache the images of Dockerfile FROM lines (BuildKit only)
    #[arg(long = "precache-images")]
    pub precache_images: bool,
    /// SBOM scanner image, `false` for none (BuildKit only)
    #[arg(long = "sbom-scanner", value_name = "REF")]
    pub sbom_scanner: Option<String>,
    /// Dockerfile to use instead of build.yml's (BuildKit only)
    #[arg(long, value_name = "FILE")]
    pub dockerfile: Option<String>,
    /// File of KEY=VALUE build arguments (repeatable; BuildKit only)
    #[arg(long = "build-arg-file", value_name = "FILE")]
    pub build_arg_file: Vec<PathBuf>,
    /// Progress output: auto, plain or tty (BuildKit only)
    #[arg(long, value_name = "TYPE")]
    pub progress: Option<String>,
    /// SSH agent sockets or keys for the build (repeatable; BuildKit only)
    #[arg(long, value_name = "SPEC")]
    pub ssh: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PkgArgs {
    #[command(flatten)]
    pub common: PkgCommon,
    #[command(subcommand)]
    pub command: PkgCommand,
}

#[derive(Subcommand, Debug)]
pub enum PkgCommand {
    /// Build package images into the cache
    Build {
        #[command(flatten)]
        flags: Box<PkgBuildFlags>,
        /// Push the built images (the index and the `<tag>-<arch>` images) to their registry
        #[arg(long)]
        push: bool,
        /// The global `--cache` (filled in by dispatch)
        #[arg(skip)]
        pkg_cache: Option<PathBuf>,
        /// Package directories
        #[arg(required = true)]
        dirs: Vec<String>,
    },
    /// Print the tag of a package
    #[command(name = "show-tag")]
    ShowTag {
        /// Print the canonical docker.io/... form
        #[arg(long)]
        canonical: bool,
        /// Package directories
        #[arg(required = true)]
        dirs: Vec<String>,
    },
    /// Push the multi-arch index <tag> made of the <tag>-<arch> images the registry has
    #[command(alias = "index")]
    Manifest {
        /// Also push the index as <org>/<image>:VERSION
        #[arg(long, value_name = "VERSION")]
        release: Option<String>,
        /// The global `--cache` (filled in by dispatch)
        #[arg(skip)]
        pkg_cache: Option<PathBuf>,
        /// Package directories
        #[arg(required = true)]
        dirs: Vec<String>,
    },
    /// Build (if needed) and push packages: the same as `pkg build --push`
    Push {
        #[command(flatten)]
        flags: Box<PkgBuildFlags>,
        /// The global `--cache` (filled in by dispatch)
        #[arg(skip)]
        pkg_cache: Option<PathBuf>,
        /// Package directories
        #[arg(required = true)]
        dirs: Vec<String>,
    },
    /// Other upstream subcommands (builder, remote-tag): not implemented
    #[command(external_subcommand)]
    Other(Vec<String>),
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunArgs {
    #[command(subcommand)]
    pub backend: RunBackend,
}

#[derive(Subcommand, Debug)]
pub enum RunBackend {
    /// Boot with QEMU: a kernel+initrd prefix, an ISO or a disk image
    Qemu(Box<QemuArgs>),
    /// Other backends (aws, gcp, azure, hyperkit, ...): not implemented; a bare PATH means qemu
    #[command(external_subcommand)]
    Other(Vec<String>),
}

#[derive(Args, Debug, Clone)]
#[command(no_binary_name = false)]
pub struct QemuArgs {
    /// Number of CPUs
    #[arg(long, default_value_t = 1)]
    pub cpus: u32,
    /// Memory in MiB
    #[arg(long, default_value_t = 1024)]
    pub mem: u64,
    /// Extra disk: [file=]PATH[,size=S][,format=F] (repeatable; size M = MiB, G = GiB)
    #[arg(long)]
    pub disk: Vec<String>,
    /// Accelerator (kvm, tcg, ...); default: probe KVM, fall back to tcg (env LINUXKIT_QEMU_ACCEL)
    #[arg(long)]
    pub accel: Option<String>,
    /// State directory (default: <prefix>-state)
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Networking: user, tap,IFNAME, bridge,BRIDGE, none
    #[arg(long, default_value = "user")]
    pub networking: String,
    /// Forward a host port to the guest: HOST:GUEST[/tcp|udp] (repeatable; user networking)
    #[arg(long)]
    pub publish: Vec<String>,
    /// Show a graphical console
    #[arg(long)]
    pub gui: bool,
    /// Boot with UEFI firmware
    #[arg(long)]
    pub uefi: bool,
    /// UEFI firmware file
    #[arg(long, default_value = "/usr/share/ovmf/OVMF.fd")]
    pub fw: PathBuf,
    /// Boot as ISO (detected from the name otherwise)
    #[arg(long)]
    pub iso: bool,
    /// Boot kernel+squashfs, kernel+erofs or kernel+iso by prefix: root on /dev/vda (detected otherwise)
    #[arg(long)]
    pub squashfs: bool,
    /// Boot kernel+initrd (detected otherwise)
    #[arg(long)]
    pub kernel: bool,
    /// Metadata for the guest: written as `config` to <state>/data.iso, attached as a CD-ROM
    #[arg(long)]
    pub data: Option<String>,
    /// File whose contents are the metadata (as --data; not both)
    #[arg(long = "data-file")]
    pub data_file: Option<PathBuf>,
    /// Write the serial console to this file instead of the terminal
    #[arg(long = "console-file")]
    pub console_file: Option<PathBuf>,
    /// Run in the background; the console goes to --console-file or <state>/console.log
    #[arg(long)]
    pub detached: bool,
    /// QEMU binary
    #[arg(long, default_value = "qemu-system-x86_64")]
    pub qemu: PathBuf,
    /// Guest architecture (only x86_64 for now)
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Add USB support
    #[arg(long)]
    pub usb: bool,
    /// Extra QEMU -device (repeatable)
    #[arg(long)]
    pub device: Vec<String>,
    /// Append to the kernel command line
    #[arg(long)]
    pub append: Option<String>,
    /// What to boot: a kernel+initrd prefix (e.g. `minimal`), an .iso or a disk image
    pub path: PathBuf,
}
