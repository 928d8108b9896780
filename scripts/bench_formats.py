#!/usr/bin/env python3
"""Image format benchmark for linuxkit-rs (docs/benchmarks.md, "Image formats").

Builds every bootable / filesystem format of `linuxkit build` from the same
warm cache and, for each, prints beside the median build time:

  baseline   the median of a `--format kernel+initrd` build of the same
             configuration (every build assembles the kernel and initrd from
             the cache first; "own" = ours - baseline is the format's cost);
  floor      the time to write the same number of bytes (the outputs'
             allocated bytes, st_blocks * 512) to a file in the same
             directory, from Python, without fsync (and, for context, with
             fsync, and with fsync after writeback started every 4 MiB as
             linuxkit's outputs do: "floor+wb", the fastest way to get the
             bytes on disk);
  compr      the time of the compression the format needs, single-threaded,
             with the format's settings (gzip -6 of the 1 GiB disk for gcp,
             zlib -9 on 128 KiB blocks for squashfs, zlib -6 on the 64 KiB
             grains for vmdk, gzip -6 of the root initrd for kernel+*);
  pipeline   the standard Debian tools doing the same job on the same
             content (xorriso, mkfs.vfat + mtools + sfdisk, mksquashfs,
             mkfs.erofs, qemu-img convert, tar | gzip, cpio | gzip, objcopy
             with systemd's EFI stub for uki), the sum
             of the tools' times; preparing their inputs (extracting the
             root filesystem, copying the kernel into a tree) is not timed;
             "pipeline+fsync" adds `sync FILE...` of its outputs, the
             durability every linuxkit build output has (fsync, rename).

Each build and each pipeline gets one untimed warm-up run, then `--runs`
timed runs (medians).  The verdicts are given for the whole build ("ours")
and for the format's own cost ("own"): the pipelines start from the kernel,
initrd and root filesystem already made, as "own" does.

Targets (the issue): ours faster than the pipeline, and within 1.5x of the
floor plus compression.  Both are judged twice: against the tools as they
leave their outputs (in the page cache) and with the outputs fsynced (the
pipeline with `sync`, the floor at the disk's speed), as ours are.  This is a benchmark, not a test: it reports missed
targets and exits 0.

The configuration (default examples/minimal.yml) may use `@pkg:` packages:
the warm-up build builds them into the cache (a few minutes the first time),
then the script "freezes" the configuration (`build --dry-run` prints it with
every `@pkg:` resolved to its image tag) and times builds of the frozen copy
with `--bootloaders` pinned to the built tag, so edits to the source tree
while the benchmark runs cannot trigger package rebuilds.

Missing tools are installed with apt-get (`--no-install` to skip); an install
that would remove a package is not done.  Must run as root (extracting the
root filesystem creates device nodes).

Usage:
  nice -n 10 python3 scripts/bench_formats.py [--runs 3] [--formats a,b]
      [--json FILE] [--markdown] [--config examples/minimal.yml]

Python 3 standard library only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

FORMATS = [
    "iso-bios", "iso-efi", "iso-efi-initrd", "raw-bios", "raw-efi",
    "qcow2-bios", "qcow2-efi", "kernel+squashfs", "kernel+erofs", "kernel+iso",
    "vhd", "dynamic-vhd", "vmdk", "gcp", "aws", "azure", "uki",
]

MIB = 1 << 20
GIB = 1 << 30
NAME = "m"

# tool -> Debian package
TOOLS = {
    "xorriso": "xorriso",
    "mksquashfs": "squashfs-tools",
    "mkfs.erofs": "erofs-utils",
    "mkfs.vfat": "dosfstools",
    "mmd": "mtools",
    "mcopy": "mtools",
    "sfdisk": "fdisk",
    "qemu-img": "qemu-utils",
    "cpio": "cpio",
    "gzip": "gzip",
    "tar": "tar",
    "truncate": "coreutils",
    "dd": "coreutils",
    "cp": "coreutils",
    "objcopy": "binutils",
    "dpkg-deb": "dpkg",
}
# boot loader files for the BIOS pipeline -> Debian package
BOOT_FILES = {
    "isolinux.bin": ("/usr/lib/ISOLINUX/isolinux.bin", "isolinux"),
    "isohdpfx.bin": ("/usr/lib/ISOLINUX/isohdpfx.bin", "isolinux"),
    "ldlinux.c32": ("/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common"),
}
# the tools each format's pipeline runs
PIPE_TOOLS = {
    "iso-bios": ["xorriso"],
    "raw-bios": ["xorriso"],
    "aws": ["xorriso", "truncate"],
    "qcow2-bios": ["xorriso", "truncate", "qemu-img"],
    "vhd": ["xorriso", "truncate", "qemu-img"],
    "azure": ["xorriso", "truncate", "qemu-img"],
    "dynamic-vhd": ["xorriso", "truncate", "qemu-img"],
    "vmdk": ["xorriso", "truncate", "qemu-img"],
    "gcp": ["xorriso", "truncate", "tar", "gzip"],
    "raw-efi": ["mkfs.vfat", "mmd", "mcopy", "truncate", "sfdisk", "dd"],
    "qcow2-efi": ["mkfs.vfat", "mmd", "mcopy", "truncate", "sfdisk", "dd", "qemu-img"],
    "iso-efi": ["mkfs.vfat", "mmd", "mcopy", "xorriso"],
    "iso-efi-initrd": ["mkfs.vfat", "mmd", "mcopy", "xorriso"],
    "kernel+squashfs": ["cp", "cpio", "gzip", "mksquashfs"],
    "kernel+erofs": ["cp", "cpio", "gzip", "mkfs.erofs"],
    "kernel+iso": ["cp", "cpio", "gzip", "xorriso"],
    "uki": ["objcopy"],
}
BIOS_FORMATS = {"iso-bios", "raw-bios", "aws", "qcow2-bios", "vhd", "azure", "dynamic-vhd", "vmdk", "gcp"}

# xorriso polls its writer thread at the pacifier interval (1 s by default),
# which adds up to a second to a run at random; 0.1 s removes that.
XORRISO = ["xorriso", "-pacifier", "interval=0.1", "-as", "mkisofs", "-quiet",
           "-l", "-J", "-R", "-joliet-long", "-input-charset", "utf8", "-V", "LinuxKit"]
# gzip level of our gcp writer (crates/linuxkit-build/src/formats/disk.rs);
# the compression term and the main gcp pipeline use the same level.
GCP_LEVEL = 6
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"


class BenchError(Exception):
    """A failure with a message that tells the user what to do."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def human(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    if n >= 1e3:
        return f"{n / 1e3:.1f} kB"
    return f"{int(n)} B"


def secs(t: float | None) -> str:
    if t is None:
        return "—"
    return f"{t:.3f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b <= 0:
        return "—"
    return f"{a / b:.2f}"


def parse_size(s: str) -> int:
    m = re.fullmatch(r"(\d+)([KMGkmg]?)", s.strip())
    if not m:
        raise BenchError(f"--size {s}: expected a number with K, M or G")
    mult = {"": MIB, "k": 1 << 10, "m": MIB, "g": GIB}[m.group(2).lower()]
    return int(m.group(1)) * mult


def which(tool: str) -> str | None:
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
    return shutil.which(tool, path=path)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


# ---------------------------------------------------------------- tools


def missing_tools() -> dict[str, str]:
    """Missing tool or boot file -> Debian package."""
    out = {t: p for t, p in TOOLS.items() if which(t) is None}
    for name, (path, pkg) in BOOT_FILES.items():
        if not os.path.exists(path):
            out[name] = pkg
    return out


def apt_install(pkgs: list[str]) -> None:
    """Install `pkgs` with apt-get, unless that would remove anything."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")

    def simulate() -> subprocess.CompletedProcess:
        return subprocess.run(["apt-get", "install", "-s", "--no-install-recommends", *pkgs],
                              capture_output=True, text=True, env=env)

    sim = simulate()
    if sim.returncode != 0:
        log("  apt-get cannot resolve them yet; running apt-get update")
        subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env)
        sim = simulate()
    if sim.returncode != 0:
        log(f"  apt-get install -s failed:\n{sim.stdout[-800:]}{sim.stderr[-800:]}")
        return
    removals = [ln for ln in sim.stdout.splitlines() if ln.startswith("Remv ")]
    if removals:
        log("  not installing: apt-get would remove packages:\n    " + "\n    ".join(removals))
        return
    r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *pkgs],
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        log(f"  apt-get install failed:\n{r.stdout[-800:]}{r.stderr[-800:]}")


def ensure_tools(install: bool) -> dict[str, str]:
    miss = missing_tools()
    if miss and install:
        pkgs = sorted(set(miss.values()))
        log(f"Installing for the benchmark: {' '.join(pkgs)} (missing: {', '.join(sorted(miss))})")
        apt_install(pkgs)
        miss = missing_tools()
    if miss:
        log(f"Missing (their pipelines are skipped): {', '.join(sorted(miss))}")
    return miss


def tool_versions() -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        for ln in (r.stdout + r.stderr).splitlines():
            if ln.strip():
                return ln.strip()
        return "?"

    def pkg_version(pkg: str) -> str:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else "?"

    return {p: pkg_version(p) for p in sorted(set(TOOLS.values()) | {"isolinux", "syslinux-common", "pigz"})
            if pkg_version(p) != "?"}


# ---------------------------------------------------------------- machine


def machine() -> str:
    cpu = "?"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Linux {platform.release()}"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def fs_type(p: Path) -> str:
    r = subprocess.run(["stat", "-f", "-c", "%T", str(p)], capture_output=True, text=True)
    return r.stdout.strip() or "?"


# ---------------------------------------------------------------- files


def clear_dir(d: Path) -> None:
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)


def files_of(d: Path) -> list[dict]:
    out = []
    for p in sorted(d.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            st = p.stat()
            out.append({"name": p.name, "apparent": st.st_size, "allocated": st.st_blocks * 512})
    return out


def sizes(files: list[dict]) -> tuple[int, int]:
    return sum(f["apparent"] for f in files), sum(f["allocated"] for f in files)


def run(cmd, cwd: Path | None = None, stdin: bytes | None = None) -> None:
    """Run a command (a list, or a bash string run with pipefail); raise on failure."""
    if isinstance(cmd, str):
        argv = ["bash", "-c", "set -o pipefail; " + cmd]
    else:
        argv = [str(c) for c in cmd]
    r = subprocess.run(argv, cwd=cwd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        shown = cmd if isinstance(cmd, str) else " ".join(argv)
        raise BenchError(f"`{shown}` failed ({r.returncode}): "
                         f"{(r.stderr or r.stdout).decode(errors='replace').strip()[-600:]}")


def timed(cmd, cwd: Path | None = None, stdin: bytes | None = None) -> float:
    t0 = time.perf_counter()
    run(cmd, cwd, stdin)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- linuxkit


class Linuxkit:
    def __init__(self, binary: Path, cache: Path, size: str):
        self.binary = binary
        self.cache = cache
        self.size = size
        self.config: Path | None = None
        self.bootloaders: str | None = None

    def cmd(self, config: Path, fmts: str, out: Path, quiet: bool = True) -> list[str]:
        c = [str(self.binary), "build"]
        if quiet:
            c.append("-q")
        c += ["--no-sbom", "--cache", str(self.cache), "--dir", str(out), "--name", NAME,
              "--size", self.size, "--format", fmts]
        if self.bootloaders:
            c += ["--bootloaders", self.bootloaders]
        return c + [str(config)]

    def build(self, fmts: str, out: Path) -> float:
        """One timed build of the frozen configuration into a fresh `out`."""
        assert self.config is not None
        clear_dir(out)
        cmd = self.cmd(self.config, fmts, out)
        os.sync()  # see settle()
        t0 = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            raise BenchError(f"linuxkit build --format {fmts} failed: "
                             f"{r.stderr.decode(errors='replace').strip()[-800:]}")
        return dt

    def cache_refs(self) -> set[str]:
        try:
            idx = json.loads((self.cache / "index.json").read_text())
        except (OSError, ValueError):
            return set()
        return {m.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
                for m in idx.get("manifests", [])}

    def warm_and_freeze(self, config: Path, work: Path) -> None:
        """Warm the cache with `config` (building its @pkg: packages and the
        bootloaders package), then write the resolved configuration to
        work/frozen.yml and pin the bootloaders tag."""
        out = work / "warm"
        for attempt in range(1, 4):
            clear_dir(out)
            cmd = self.cmd(config, "kernel+initrd,iso-bios,uki", out, quiet=False)
            log(f"Warm-up build (attempt {attempt}): {' '.join(cmd)}")
            t0 = time.perf_counter()
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            log(f"  {time.perf_counter() - t0:.1f} s, exit {r.returncode}")
            if r.returncode != 0:
                log("  " + "\n  ".join(r.stdout.strip().splitlines()[-12:]))
                if attempt < 3:
                    log("  retrying in 30 s (a package's sources may be being edited)")
                    time.sleep(30)
                continue
            m = re.findall(r"linuxkit/bootloaders:([0-9A-Za-z._-]+)", r.stdout)
            dry = subprocess.run([str(self.binary), "build", "--dry-run", "--cache", str(self.cache), str(config)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if dry.returncode != 0:
                raise BenchError(f"linuxkit build --dry-run failed: {dry.stderr.strip()[-600:]}")
            refs = set(re.findall(r"\b((?:[a-z0-9.-]+\.[a-z]{2,}|localhost(?::\d+)?)/[^\s\"']+:[^\s\"']+)", dry.stdout))
            have = self.cache_refs()
            missing = sorted(r_ for r_ in refs if r_ not in have)
            if missing:
                log(f"  the configuration changed after the warm-up ({', '.join(missing)} not in the cache); again")
                continue
            frozen = work / "frozen.yml"
            frozen.write_text(dry.stdout)
            self.config = frozen
            if m:
                self.bootloaders = f"docker.io/linuxkit/bootloaders:{m[-1]}"
            else:
                cands = [r_ for r_ in have if "/bootloaders:" in r_ and not r_.endswith("-amd64")]
                if len(cands) == 1:
                    self.bootloaders = cands[0]
            log(f"  frozen configuration: {frozen}")
            log(f"  bootloaders: {self.bootloaders or '(default @pkg:)'}")
            return
        raise BenchError("the warm-up build did not succeed; see the output above")


# ---------------------------------------------------------------- floor & compression


_BUF = os.urandom(MIB)

# settle(): every timed run starts with `os.sync()` (untimed). The tools
# leave their outputs dirty in the page cache, and on ext4 (data=ordered) the
# next fsync's journal commit writes other files' dirty data too: without the
# sync, a build timed after a pipeline paid for the pipeline's writeback
# (0.1-0.2 s at random in a run of this script).


def _sync_file_range():
    """libc's sync_file_range, or None (not Linux / not found)."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        f = libc.sync_file_range
        f.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
        return f
    except (OSError, AttributeError):
        return None


_SFR = _sync_file_range()
SYNC_FILE_RANGE_WRITE = 2


def write_floor(d: Path, nbytes: int, fsync: bool, writeback: bool = False) -> float:
    """Write `nbytes` of non-zero data to a new file in `d`; seconds.
    `writeback`: start the disk writes every 4 MiB (sync_file_range), as
    linuxkit's outputs do, so the final fsync only waits for the rest."""
    p = d / ".floor.tmp"
    if p.exists():
        p.unlink()
    os.sync()  # see settle()
    t0 = time.perf_counter()
    with open(p, "wb", buffering=0) as f:
        left = nbytes
        done = kicked = 0
        while left > 0:
            n = min(left, MIB)
            f.write(_BUF[:n] if n < MIB else _BUF)
            left -= n
            done += n
            if writeback and _SFR is not None and done - kicked >= 4 * MIB:
                _SFR(f.fileno(), kicked, done - kicked, SYNC_FILE_RANGE_WRITE)
                kicked = done
        if fsync:
            os.fsync(f.fileno())
    dt = time.perf_counter() - t0
    p.unlink()
    return dt


def zlib_blocks(blocks: list[bytes], level: int) -> float:
    t0 = time.perf_counter()
    for b in blocks:
        zlib.compress(b, level)
    return time.perf_counter() - t0


def squashfs_blocks(rootfs: Path, block: int = 128 << 10) -> list[bytes]:
    """The data blocks mksquashfs compresses with its defaults: 128 KiB
    blocks of each file (the last one short), files smaller than a block
    packed together into 128 KiB fragment blocks; hard links once."""
    seen: set[tuple[int, int]] = set()
    blocks: list[bytes] = []
    frag = bytearray()
    for dirpath, dirnames, filenames in os.walk(rootfs):
        dirnames.sort()
        for fn in sorted(filenames):
            p = os.path.join(dirpath, fn)
            st = os.lstat(p)
            if not os.path.isfile(p) or os.path.islink(p) or (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            data = Path(p).read_bytes()
            if len(data) < block:
                frag += data
                while len(frag) >= block:
                    blocks.append(bytes(frag[:block]))
                    del frag[:block]
            else:
                blocks.extend(data[i:i + block] for i in range(0, len(data), block))
    if frag:
        blocks.append(bytes(frag))
    return blocks


def grains(path: Path, grain: int = 64 << 10) -> list[bytes]:
    data = path.read_bytes()
    out = []
    for i in range(0, len(data), grain):
        g = data[i:i + grain]
        if g.count(0) != len(g):
            out.append(g)
    return out


def gzip_level(data: bytes, level: int) -> float:
    t0 = time.perf_counter()
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    c.compress(data)
    c.flush()
    return time.perf_counter() - t0


# ---------------------------------------------------------------- pipelines


class Inputs:
    """The pipelines' inputs, taken from our own outputs of the same build
    (so they hold the same content), prepared once, untimed."""

    def __init__(self, lk: Linuxkit, work: Path, size_bytes: int):
        self.lk = lk
        self.dir = work / "inputs"
        self.size_bytes = size_bytes
        self.ref = work / "ref"
        self._ready: set[str] = set()

    def prepare_ref(self) -> None:
        if "ref" in self._ready:
            return
        log("Reference build for the pipelines' inputs (untimed): kernel+initrd,uki,raw-efi,iso-bios,kernel+erofs")
        self.lk.build("kernel+initrd,uki,raw-efi,iso-bios,kernel+erofs", self.ref)
        clear_dir(self.dir)
        self._ready.add("ref")

    def f(self, name: str) -> Path:
        return self.ref / f"{NAME}{name}"

    @property
    def kernel(self) -> Path:
        return self.f("-kernel")

    @property
    def initrd(self) -> Path:
        return self.f("-initrd.img")

    @property
    def cmdline(self) -> Path:
        return self.f("-cmdline")

    @property
    def uki(self) -> Path:
        return self.f(".efi")

    def hybrid_iso(self) -> Path:
        return self.f(".iso")

    def boot_file(self, name: str) -> Path:
        """isolinux.bin, ldlinux.c32, isohdpfx.bin: Debian's files, else
        taken from our ISO (the same files, from the bootloaders package)."""
        path = Path(BOOT_FILES[name][0])
        if path.exists():
            return path
        d = self.dir / "bootfiles"
        if not d.exists():
            d.mkdir(parents=True)
            x = self.dir / "iso-x"
            run(["xorriso", "-osirrox", "on", "-indev", self.hybrid_iso(), "-extract", "/isolinux", x])
            for n in ("isolinux.bin", "ldlinux.c32"):
                shutil.copy(x / n, d / n)
            (d / "isohdpfx.bin").write_bytes(self.hybrid_iso().read_bytes()[:432])
        return d / name

    def cmdline_text(self) -> str:
        return self.cmdline.read_text().strip() if self.cmdline.exists() else ""

    def bios_tree(self, dest: Path) -> Path:
        """The ISOLINUX tree of our hybrid ISO: isolinux/{isolinux.bin,
        ldlinux.c32,isolinux.cfg}, boot/{kernel,initrd.img}."""
        t = dest / "tree"
        (t / "isolinux").mkdir(parents=True)
        (t / "boot").mkdir()
        shutil.copy(self.boot_file("isolinux.bin"), t / "isolinux/isolinux.bin")
        shutil.copy(self.boot_file("ldlinux.c32"), t / "isolinux/ldlinux.c32")
        (t / "isolinux/isolinux.cfg").write_text(
            "DEFAULT linux\nLABEL linux\n  KERNEL /boot/kernel\n  INITRD /boot/initrd.img\n"
            f"  APPEND {self.cmdline_text()}\n")
        os.link(self.kernel, t / "boot/kernel")
        os.link(self.initrd, t / "boot/initrd.img")
        return t

    def rootfs(self) -> Path:
        """The root filesystem (the `tar` output minus boot/), extracted."""
        d = self.dir / "rootfs"
        if "rootfs" not in self._ready:
            tar_out = self.dir / "tar-out"
            log("  building --format tar and extracting it (untimed)")
            self.lk.build("tar", tar_out)
            clear_dir(d)
            run(["tar", "--warning=no-unknown-keyword", "--numeric-owner", "-xpf",
                 tar_out / f"{NAME}.tar", "-C", d])
            shutil.rmtree(d / "boot", ignore_errors=True)
            shutil.rmtree(tar_out)
            self._ready.add("rootfs")
        return d

    def root_initrd(self) -> Path:
        """Our root initrd, unpacked (the pipeline packs it again)."""
        d = self.dir / "root-initrd"
        if "root-initrd" not in self._ready:
            clear_dir(d)
            run(f"gzip -dc '{self.f('-root-initrd.img')}' | cpio -idm --quiet --no-absolute-filenames", cwd=d)
            self._ready.add("root-initrd")
        return d

    def efi_stub(self) -> Path:
        """systemd's EFI stub, from the systemd-boot-efi package the
        bootloaders package was built from (in the cache), else installed,
        else downloaded with apt-get download."""
        installed = Path("/usr/lib/systemd/boot/efi/linuxx64.efi.stub")
        d = self.dir / "systemd-boot-efi"
        stub = d / "usr/lib/systemd/boot/efi/linuxx64.efi.stub"
        if stub.exists():
            return stub
        debs = sorted((self.lk.cache / "linuxkit-rs" / "debs").glob("systemd-boot-efi_*.deb"))
        if not debs:
            if installed.exists():
                return installed
            dl = self.dir / "deb"
            dl.mkdir(parents=True, exist_ok=True)
            run(["apt-get", "download", "systemd-boot-efi"], cwd=dl)
            debs = sorted(dl.glob("systemd-boot-efi_*.deb"))
        run(["dpkg-deb", "-x", debs[-1], d])
        if not stub.exists():
            raise BenchError(f"{debs[-1]} has no linuxx64.efi.stub")
        return stub

    def disk_1g(self) -> Path:
        """Our hybrid ISO padded to 1 GiB (the gcp disk), sparse."""
        p = self.dir / "disk-1g.raw"
        if not p.exists():
            run(["cp", "--sparse=always", self.hybrid_iso(), p])
            os.truncate(p, GIB)
        return p

    def esp_geometry(self) -> tuple[int, int, int]:
        """(disk bytes, ESP first LBA, ESP sectors) of our raw-efi disk."""
        img = self.f("-efi.img")
        with open(img, "rb") as f:
            f.seek(512)
            hdr = f.read(92)
            if hdr[:8] != b"EFI PART":
                raise BenchError(f"{img}: no GPT header")
            entries_lba = struct.unpack_from("<Q", hdr, 72)[0]
            f.seek(entries_lba * 512)
            e = f.read(128)
        first, last = struct.unpack_from("<QQ", e, 32)
        return img.stat().st_size, first, last - first + 1


def xorriso_bios(tree: Path, out: Path, isohdpfx: Path) -> list[str]:
    return [*XORRISO, "-o", str(out),
            "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
            "-boot-load-size", "4", "-boot-info-table", "-isohybrid-mbr", str(isohdpfx), str(tree)]


def pipeline(fmt: str, inp: Inputs, p: Path) -> tuple[list[tuple[str, object]], Path]:
    """Prepare the untimed inputs of `fmt`'s pipeline in the empty dir `p`;
    return its timed steps (label, command) and the dir of its outputs."""
    out = p / "out"
    out.mkdir()
    steps: list[tuple[str, object]] = []
    disk_size = {"aws": inp.size_bytes, "qcow2-bios": inp.size_bytes, "dynamic-vhd": 25 * GIB}.get(fmt, GIB)

    if fmt in BIOS_FORMATS:
        tree = inp.bios_tree(p)
        iso_out = {"iso-bios": out / f"{NAME}.iso", "raw-bios": out / f"{NAME}-bios.img",
                   "aws": out / f"{NAME}.raw"}.get(fmt, p / "disk.raw")
        steps.append(("xorriso", xorriso_bios(tree, iso_out, inp.boot_file("isohdpfx.bin"))))
        if fmt not in ("iso-bios", "raw-bios"):
            steps.append(("truncate", ["truncate", "-s", str(disk_size), iso_out]))
        conv = {
            "qcow2-bios": ["-O", "qcow2", out / f"{NAME}.qcow2"],
            "vhd": ["-O", "vpc", "-o", "subformat=fixed,force_size", out / f"{NAME}.vhd"],
            "azure": ["-O", "vpc", "-o", "subformat=fixed,force_size", out / f"{NAME}.vhd"],
            "dynamic-vhd": ["-O", "vpc", "-o", "subformat=dynamic,force_size", out / f"{NAME}.vhd"],
            "vmdk": ["-O", "vmdk", "-o", "adapter_type=lsilogic,subformat=streamOptimized", out / f"{NAME}.vmdk"],
        }.get(fmt)
        if conv:
            steps.append(("qemu-img convert", ["qemu-img", "convert", "-f", "raw", iso_out, *conv]))
        if fmt == "gcp":
            steps.append((f"tar --sparse | gzip -{GCP_LEVEL}",
                          f"tar --sparse -cf - -C '{p}' disk.raw | gzip -{GCP_LEVEL} > '{out}/{NAME}.img.tar.gz'"))
        return steps, out

    if fmt in ("raw-efi", "qcow2-efi"):
        disk_bytes, first, sectors = inp.esp_geometry()
        esp = p / "esp.img"
        raw = out / f"{NAME}-efi.img" if fmt == "raw-efi" else p / "disk.raw"
        steps += [
            ("mkfs.vfat", ["mkfs.vfat", "-F", "32", "-S", "512", "-s", "1", "-h", str(first), "-n", "LINUXKIT",
                           "-C", esp, str(sectors * 512 // 1024)]),
            ("mmd", ["mmd", "-i", esp, "::EFI", "::EFI/BOOT"]),
            ("mcopy", ["mcopy", "-i", esp, inp.uki, "::EFI/BOOT/BOOTX64.EFI"]),
            ("truncate", ["truncate", "-s", str(disk_bytes), raw]),
            ("sfdisk", f"printf 'label: gpt\\nstart={first}, size={sectors}, type={ESP_TYPE}, "
                       f"name=\"EFI System\", attrs=\"LegacyBIOSBootable\"\\n' | sfdisk --quiet --no-reread --no-tell-kernel '{raw}'"),
            ("dd", ["dd", f"if={esp}", f"of={raw}", "bs=1M", f"seek={first * 512}", "oflag=seek_bytes",
                    "conv=notrunc,sparse", "status=none"]),
        ]
        if fmt == "qcow2-efi":
            steps.append(("qemu-img convert", ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw,
                                               out / f"{NAME}-efi.qcow2"]))
        return steps, out

    if fmt in ("iso-efi", "iso-efi-initrd"):
        tree = p / "tree"
        tree.mkdir()
        if fmt == "iso-efi-initrd":
            os.link(inp.kernel, tree / "kernel")
            os.link(inp.initrd, tree / "initrd.img")
            if inp.cmdline.exists():
                os.link(inp.cmdline, tree / "cmdline")
        esp = tree / "efi.img"
        kib = max(34 * 1024, (inp.uki.stat().st_size + 2 * MIB) // 1024)
        iso = out / (f"{NAME}-efi.iso" if fmt == "iso-efi" else f"{NAME}-efi-initrd.iso")
        steps += [
            ("mkfs.vfat", ["mkfs.vfat", "-F", "32", "-S", "512", "-s", "1", "-n", "LINUXKIT", "-C", esp, str(kib)]),
            ("mmd", ["mmd", "-i", esp, "::EFI", "::EFI/BOOT"]),
            ("mcopy", ["mcopy", "-i", esp, inp.uki, "::EFI/BOOT/BOOTX64.EFI"]),
            ("xorriso", [*XORRISO, "-o", iso,
                         "-e", "efi.img", "-no-emul-boot", "-hide", "efi.img", "-hide-joliet", "efi.img", tree]),
        ]
        return steps, out

    if fmt in ("kernel+squashfs", "kernel+erofs", "kernel+iso"):
        rootfs = inp.rootfs()
        rinitrd = inp.root_initrd()
        steps.append(("cp kernel, cmdline", ["cp", inp.kernel, inp.cmdline, out]))
        steps.append(("cpio | gzip -6 (root initrd)",
                      f"cd '{rinitrd}' && find . -mindepth 1 | LC_ALL=C sort | "
                      f"cpio -o -H newc -R 0:0 --quiet | gzip -6 > '{out}/{NAME}-root-initrd.img'"))
        if fmt == "kernel+squashfs":
            steps.append(("mksquashfs", ["mksquashfs", rootfs, out / f"{NAME}-squashfs.img", "-noappend",
                                         "-no-progress", "-quiet"]))
        elif fmt == "kernel+erofs":
            steps.append(("mkfs.erofs", ["mkfs.erofs", out / f"{NAME}-erofs.img", rootfs]))
        else:
            steps.append(("xorriso", [*XORRISO,
                                      "-o", out / f"{NAME}.iso", rootfs]))
        return steps, out

    if fmt == "uki":
        # ukify is not in Debian 12: systemd's earlier documented recipe,
        # objcopy adding the sections to the same stub.
        osrel = p / "os-release"
        osrel.write_text('NAME="LinuxKit"\n')
        cmd = ["objcopy", "--add-section", f".osrel={osrel}", "--change-section-vma", ".osrel=0x20000"]
        if inp.cmdline.exists():
            cmd += ["--add-section", f".cmdline={inp.cmdline}", "--change-section-vma", ".cmdline=0x30000"]
        cmd += ["--add-section", f".linux={inp.kernel}", "--change-section-vma", ".linux=0x2000000",
                "--add-section", f".initrd={inp.initrd}", "--change-section-vma", ".initrd=0x3000000",
                inp.efi_stub(), out / f"{NAME}.efi"]
        steps.append(("objcopy", cmd))
        return steps, out

    raise BenchError(f"no pipeline for {fmt}")


def pipeline_env() -> None:
    os.environ["MTOOLS_SKIP_CHECK"] = "1"


# ---------------------------------------------------------------- main


def compression_term(fmt: str, inp: Inputs, cache: dict, runs: int) -> tuple[float, str]:
    """Seconds of the compression `fmt` needs (single-threaded), and what."""
    def once(key: str, fn) -> float:
        # median of `runs`, or a single run when it takes more than 2 s
        if key not in cache:
            ts = [fn()]
            while len(ts) < runs and ts[0] < 2.0:
                ts.append(fn())
            cache[key] = median(ts)
        return cache[key]

    def root_initrd() -> float:
        data = gzip.decompress(inp.f("-root-initrd.img").read_bytes())
        return once("root-initrd", lambda: gzip_level(data, 6))

    if fmt == "gcp":
        disk = inp.disk_1g()
        t = once("gcp", lambda: timed(f"gzip -{GCP_LEVEL} -c '{disk}' > /dev/null"))
        return t, f"gzip -{GCP_LEVEL} of the 1 GiB disk (GNU gzip, one thread)"
    if fmt == "vmdk":
        g = grains(inp.hybrid_iso())  # the rest of the disk is zeros
        return once("vmdk", lambda: zlib_blocks(g, 6)), f"zlib -6 of {len(g)} non-zero 64 KiB grains"
    if fmt == "kernel+squashfs":
        if "sq-blocks" not in cache:
            cache["sq-blocks"] = squashfs_blocks(inp.rootfs())
        b = cache["sq-blocks"]
        t = once("squashfs", lambda: zlib_blocks(b, 9))
        return t + root_initrd(), f"zlib -9 of {len(b)} 128 KiB blocks + gzip -6 of the root initrd"
    if fmt in ("kernel+erofs", "kernel+iso"):
        return root_initrd(), "gzip -6 of the root initrd"
    return 0.0, "none (the initrd comes compressed from the cache)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each build and pipeline (default 3)")
    ap.add_argument("--formats", help="comma-separated subset of: " + ",".join(FORMATS))
    ap.add_argument("--json", type=Path, help="also write the results to this file")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--binary", type=Path, default=REPO / "target/release/linuxkit")
    ap.add_argument("--config", type=Path, default=REPO / "examples/minimal.yml")
    ap.add_argument("--cache", type=Path, default=REPO / "target/bench-formats-cache")
    ap.add_argument("--work", type=Path, default=REPO / "target/bench-formats")
    ap.add_argument("--size", default="1024M", help="--size for qcow2-bios and aws (default 1024M)")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get install missing tools")
    args = ap.parse_args()

    fmts = FORMATS if not args.formats else [f.strip() for f in args.formats.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad:
        ap.error(f"unknown format(s): {', '.join(bad)}")
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if not args.binary.exists():
        raise BenchError(f"{args.binary} is missing: run `cargo build --release -p linuxkit` first")
    if os.geteuid() != 0:
        raise BenchError("run as root: extracting the root filesystem creates device nodes")
    size_bytes = parse_size(args.size)
    t_start = time.perf_counter()
    pipeline_env()

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    load0 = loadavg()
    log(f"Machine: {machine()}; load average {load0}; work dir {work} ({fs_type(work)})")

    missing = ensure_tools(not args.no_install)
    # A private copy, so a rebuild of target/release while the benchmark
    # runs does not change the binary under test.
    binary = work / "linuxkit"
    shutil.copy2(args.binary, binary)
    bin_info = (f"{args.binary} (modified {time.strftime('%Y-%m-%d %H:%M', time.localtime(args.binary.stat().st_mtime))}, "
                f"sha256 {hashlib.sha256(binary.read_bytes()).hexdigest()[:12]})")
    log(f"Binary: {bin_info}, copied to {binary}")
    lk = Linuxkit(binary, args.cache.resolve(), args.size)
    lk.warm_and_freeze(args.config.resolve(), work)
    inp = Inputs(lk, work, size_bytes)
    inp.prepare_ref()

    # Baseline: kernel + initrd from the cache.
    base_dir = work / "ours" / "kernel+initrd"
    base_times = [lk.build("kernel+initrd", base_dir) for _ in range(args.runs)]
    baseline = median(base_times)
    log(f"Baseline kernel+initrd: median {baseline:.3f} s of {', '.join(f'{t:.3f}' for t in base_times)}")

    results = []
    comp_cache: dict = {}
    for fmt in fmts:
        r: dict = {"format": fmt}
        results.append(r)
        out = work / "ours" / fmt
        try:
            lk.build(fmt, out)  # untimed: warms the page cache for this format
            times = [lk.build(fmt, out) for _ in range(args.runs)]
        except BenchError as e:
            r["error"] = str(e)
            log(f"{fmt}: {e}")
            continue
        r["times"] = times
        r["ours"] = median(times)
        r["own"] = r["ours"] - baseline
        r["files"] = files_of(out)
        r["apparent"], r["allocated"] = sizes(r["files"])
        r["floor"] = median([write_floor(out, r["allocated"], False) for _ in range(args.runs)])
        r["floor_fsync"] = median([write_floor(out, r["allocated"], True) for _ in range(args.runs)])
        r["floor_wb"] = median([write_floor(out, r["allocated"], True, True) for _ in range(args.runs)])
        r["compression"], r["compression_what"] = compression_term(fmt, inp, comp_cache, args.runs)

        # (missing boot files are taken from our own ISO: see Inputs.boot_file)
        need = [t for t in PIPE_TOOLS[fmt] if t in missing]
        if need:
            r["pipeline_note"] = f"missing: {', '.join(need)}"
        else:
            totals, totals_sync, per_step = [], [], {}
            p = work / "pipe" / fmt
            try:
                # One untimed warm-up run (tools and inputs into the page
                # cache), like the builds; a warm-up over 10 s counts as a run.
                warm = True
                while len(totals) < args.runs:
                    clear_dir(p)
                    steps, pout = pipeline(fmt, inp, p)
                    os.sync()  # see settle()
                    ts = [(label, timed(cmd)) for label, cmd in steps]
                    total = sum(dt for _, dt in ts)
                    # The same durability as ours (every output is fsynced
                    # before its rename): `sync FILE...` fsyncs each output.
                    outs = sorted(str(f) for f in pout.rglob("*") if f.is_file())
                    dt_sync = timed(["sync", *outs]) if outs else 0.0
                    if warm and total < 10.0:
                        warm = False
                        continue
                    warm = False
                    for label, dt in ts:
                        per_step.setdefault(label, []).append(dt)
                    per_step.setdefault("(fsync of the outputs)", []).append(dt_sync)
                    totals.append(total)
                    totals_sync.append(total + dt_sync)
                r["pipeline"] = median(totals)
                r["pipeline_fsync"] = median(totals_sync)
                r["pipeline_steps"] = {k: median(v) for k, v in per_step.items()}
                r["pipeline_files"] = files_of(pout)
                r["pipeline_apparent"], r["pipeline_allocated"] = sizes(r["pipeline_files"])
                if fmt == "gcp":
                    r["pipeline_extra"] = gcp_variants(p, pout)
            except BenchError as e:
                r["pipeline_note"] = f"failed: {e}"
            shutil.rmtree(p, ignore_errors=True)  # intermediate disks: up to 1 GiB each
        bound = r["floor"] + r["compression"]
        disk_bound = r["floor_fsync"] + r["compression"]
        r["target_pipeline"] = None if r.get("pipeline") is None else r["ours"] < r["pipeline"]
        r["target_pipeline_fsync"] = None if r.get("pipeline") is None else r["ours"] < r["pipeline_fsync"]
        r["own_target_pipeline"] = None if r.get("pipeline") is None else r["own"] < r["pipeline"]
        r["target_floor"] = r["ours"] <= 1.5 * bound
        r["target_floor_fsync"] = r["ours"] <= 1.5 * disk_bound
        r["target_floor_wb"] = r["ours"] <= 1.5 * (r["floor_wb"] + r["compression"])
        r["own_target_floor"] = r["own"] <= 1.5 * bound
        log(f"{fmt}: ours {r['ours']:.3f} s (own {r['own']:.3f}), floor {r['floor']:.3f}, "
            f"compr {r['compression']:.3f}, pipeline {secs(r.get('pipeline'))} {r.get('pipeline_note', '')}")

    elapsed = time.perf_counter() - t_start
    report(results, baseline, base_times, args, load0, elapsed, bin_info)
    if args.json:
        doc = {
            "machine": machine(), "load_start": load0, "load_end": loadavg(),
            "binary": bin_info, "config": str(args.config), "frozen_config": str(lk.config),
            "bootloaders": lk.bootloaders, "runs": args.runs, "size": args.size,
            "tools": tool_versions(), "baseline": baseline, "baseline_times": base_times,
            "elapsed": elapsed, "results": results,
        }
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
        log(f"Results written to {args.json}")
    return 0


def gcp_variants(p: Path, pout: Path) -> dict:
    """Other ways to make the gcp tarball, timed once, for context."""
    out = {}
    tgz = pout / "variant.tar.gz"
    variants = {
        f"tar | gzip -{GCP_LEVEL} (not sparse: the same tar as ours)":
            f"tar -cf - -C '{p}' disk.raw | gzip -{GCP_LEVEL} > '{tgz}'",
        "tar --sparse | gzip -9 (upstream's level)": f"tar --sparse -cf - -C '{p}' disk.raw | gzip -9 > '{tgz}'",
    }
    if which("pigz"):
        variants[f"tar --sparse | pigz -{GCP_LEVEL}"] = \
            f"tar --sparse -cf - -C '{p}' disk.raw | pigz -{GCP_LEVEL} > '{tgz}'"
    for k, cmd in variants.items():
        if tgz.exists():
            tgz.unlink()
        out[k] = {"seconds": timed(cmd)}
        out[k]["bytes"] = tgz.stat().st_size
    tgz.unlink()
    return out


def report(results: list[dict], baseline: float, base_times: list[float], args, load0: str,
           elapsed: float, bin_info: str) -> None:
    head = ["format", "output (apparent / allocated)", "ours s", "own s", "floor s", "floor+fsync s",
            "floor+wb s", "compr s", "pipeline s", "pipeline+fsync s", "ours/pipeline",
            "ours/(pipeline+fsync)", "ours/(floor+compr)", "ours/(floor+fsync+compr)",
            "ours/(floor+wb+compr)",
            "faster than pipeline (as is / +fsync)", "≤ 1.5× floor+compr (page cache / disk / disk+wb)"]
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["format"], "build failed"] + [""] * (len(head) - 2))
            continue
        bound = r["floor"] + r["compression"]
        mark = lambda b: "—" if b is None else ("✓" if b else "✗")
        rows.append([
            r["format"],
            f"{human(r['apparent'])} / {human(r['allocated'])}",
            secs(r["ours"]), secs(r["own"]), secs(r["floor"]), secs(r["floor_fsync"]),
            secs(r["floor_wb"]),
            secs(r["compression"]) if r["compression"] else "—",
            secs(r.get("pipeline")),
            secs(r.get("pipeline_fsync")),
            ratio(r["ours"], r.get("pipeline")),
            ratio(r["ours"], r.get("pipeline_fsync")),
            ratio(r["ours"], bound),
            ratio(r["ours"], r["floor_fsync"] + r["compression"]),
            ratio(r["ours"], r["floor_wb"] + r["compression"]),
            f"{mark(r['target_pipeline'])} / {mark(r['target_pipeline_fsync'])}",
            f"{mark(r['target_floor'])} / {mark(r['target_floor_fsync'])} / {mark(r['target_floor_wb'])}",
        ])

    print()
    print(f"Machine: {machine()}; load average {load0} at the start, {loadavg()} at the end")
    print(f"Binary: {bin_info}")
    print(f"Runs: {args.runs} per build and pipeline (medians); baseline kernel+initrd "
          f"{baseline:.3f} s (runs {', '.join(f'{t:.3f}' for t in base_times)}); total {elapsed:.0f} s")
    print()
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    print()
    for r in results:
        if "error" in r:
            print(f"{r['format']}: build failed: {r['error']}")
            continue
        tp = r["target_pipeline"]
        v1 = ("no pipeline" if tp is None else
              f"{'faster' if tp else 'SLOWER'} than the pipeline ({r['ours']:.3f} vs {r['pipeline']:.3f} s; "
              f"own cost {r['own']:.3f} s {'faster' if r['own_target_pipeline'] else 'slower'})")
        bound = r["floor"] + r["compression"]
        if tp is not None:
            v1 += (f"; {'faster' if r['target_pipeline_fsync'] else 'SLOWER'} than the pipeline with its "
                   f"outputs fsynced as ours are ({r['pipeline_fsync']:.3f} s)")
        disk_bound = r["floor_fsync"] + r["compression"]
        v2 = (f"{'within' if r['target_floor'] else 'NOT within'} 1.5× of floor+compression "
              f"({r['ours']:.3f} vs 1.5 × {bound:.3f} = {1.5 * bound:.3f} s), "
              f"{'within' if r['target_floor_fsync'] else 'NOT within'} 1.5× with the floor at the disk's speed "
              f"(fsynced: 1.5 × {disk_bound:.3f} = {1.5 * disk_bound:.3f} s), "
              f"{'within' if r['target_floor_wb'] else 'NOT within'} 1.5× of the fastest fsynced write "
              f"(early writeback: 1.5 × {r['floor_wb'] + r['compression']:.3f} s)")
        print(f"{r['format']}: {v1}; {v2}")
    print()
    print("Details:")
    for r in results:
        if "error" in r:
            continue
        files = ", ".join(f"{f['name']} {human(f['apparent'])}/{human(f['allocated'])}" for f in r["files"])
        print(f"  {r['format']}: ours {files}; runs {', '.join(f'{t:.3f}' for t in r['times'])}")
        print(f"    compression: {r['compression_what']}")
        if r.get("pipeline") is not None:
            steps = ", ".join(f"{k} {v:.3f}" for k, v in r["pipeline_steps"].items())
            pf = ", ".join(f"{f['name']} {human(f['apparent'])}/{human(f['allocated'])}" for f in r["pipeline_files"])
            print(f"    pipeline: {steps}; output {pf}")
            for k, v in r.get("pipeline_extra", {}).items():
                print(f"    also: {k}: {v['seconds']:.3f} s, {human(v['bytes'])}")
        else:
            print(f"    pipeline: {r.get('pipeline_note', '—')}")

    if args.markdown:
        print()
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---", "---:"] + ["---:"] * (len(head) - 4) + [":---:", ":---:"]) + "|")
        for row in rows:
            print("| " + " | ".join(f"`{c}`" if i == 0 else str(c) for i, c in enumerate(row)) + " |")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log(f"error: {e}")
        sys.exit(1)
