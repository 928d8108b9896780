#!/usr/bin/env python3
"""Boot benchmark: builds examples/minimal.yml, boots it N times under QEMU
(`linuxkit run qemu`, the accelerator it chooses: TCG where KVM does not
work) and prints, per boot and as medians:

  guest  the guest's own clock from /init start to "all services started"
         (printed by init on the console)
  wall   host wall time from starting `linuxkit run qemu` to that line
  kernel the guest's clock from kernel start to /init (printed by init)

and the size of the in-VM programs from this project (/init, which is also
service and logread). Usage: python3 scripts/bench_boot.py [N] (default 5).
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LK = os.path.join(ROOT, "target", "release", "linuxkit")


def boot_once(workdir):
    start = time.monotonic()
    p = subprocess.Popen(
        [LK, "run", "qemu", "minimal"],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, HOME=workdir),
    )
    guest = kernel = wall = None
    buf = b""
    deadline = start + 120
    os.set_blocking(p.stdout.fileno(), False)
    while time.monotonic() < deadline:
        try:
            chunk = p.stdout.read()
        except BlockingIOError:
            chunk = None
        if chunk:
            buf += chunk
            text = buf.decode("utf-8", "replace")
            m = re.search(r"kernel start to /init: (\d+) ms", text)
            if m:
                kernel = float(m.group(1))
            m = re.search(r"all services started \(\d+\) in ([0-9.]+) ms", text)
            if m:
                guest = float(m.group(1))
                wall = time.monotonic() - start
                break
        elif p.poll() is not None:
            break
        else:
            time.sleep(0.02)
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
    pidfile = os.path.join(workdir, "minimal-state", "qemu.pid")
    if os.path.exists(pidfile):
        try:
            os.kill(int(open(pidfile).read().strip()), 15)
        except (OSError, ValueError):
            pass
    return guest, wall, kernel


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    if not os.path.exists(LK):
        subprocess.check_call(["cargo", "build", "--release"], cwd=ROOT)
    with tempfile.TemporaryDirectory() as work:
        subprocess.check_call(
            [LK, "build", "-q", "--dir", work, os.path.join(ROOT, "examples", "minimal.yml")],
            cwd=ROOT,
        )
        init = os.path.join(ROOT, "target", "pkg", "x86_64-unknown-linux-musl", "in-vm", "linuxkit-init")
        results = []
        for i in range(n):
            g, w, k = boot_once(work)
            if g is None:
                print(f"boot {i + 1}: no 'all services started' line within 120 s")
                continue
            print(f"boot {i + 1}: guest {g:.1f} ms (/init to all services started), "
                  f"wall {w:.2f} s (run qemu to that line), kernel to /init {k:.0f} ms")
            results.append((g, w, k))
        if results:
            print(f"median of {len(results)}: guest {statistics.median(r[0] for r in results):.1f} ms "
                  f"(target < 100 ms), wall {statistics.median(r[1] for r in results):.2f} s, "
                  f"kernel to /init {statistics.median(r[2] for r in results):.0f} ms")
        size = os.path.getsize(init) if os.path.exists(init) else 0
        print(f"in-VM programs: /init (also service, logread) {size / 1e6:.2f} MB (target <= 8 MB)")
        initrd = os.path.join(work, "minimal-initrd.img")
        print(f"minimal initrd: {os.path.getsize(initrd) / 1e6:.1f} MB compressed")


if __name__ == "__main__":
    main()
