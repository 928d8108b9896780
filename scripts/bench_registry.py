#!/usr/bin/env python3
"""Registry pull benchmark: starts Debian's docker-registry on 127.0.0.1 with
temporary storage, pushes a ~100 MB multi-layer image into it (skopeo copy
from a generated OCI layout: 6 layers of incompressible data, gzip), then N
times pulls it into an empty cache with `linuxkit cache pull` and, in the
same run, copies it with `skopeo copy docker://... oci:...` into an empty
directory. Prints each run, both medians and the ratio (ours / skopeo).
Usage: python3 scripts/bench_registry.py [N] (default 5). Needs
target/release/linuxkit, docker-registry and skopeo.
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LK = os.path.join(ROOT, "target", "release", "linuxkit")
LAYERS = 6
LAYER_BYTES = 17 * 1024 * 1024


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def write_blob(layout, data):
    d = sha(data)
    with open(os.path.join(layout, "blobs", "sha256", d[7:]), "wb") as f:
        f.write(data)
    return d


def make_layout(layout):
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    layers, diff_ids = [], []
    for i in range(LAYERS):
        content = os.urandom(LAYER_BYTES)  # incompressible: gzip cannot shrink it
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
            info = tarfile.TarInfo(f"data/layer{i}.bin")
            info.size = len(content)
            info.mtime = 0
            t.addfile(info, io.BytesIO(content))
        raw = raw.getvalue()
        gz = gzip.compress(raw, compresslevel=1, mtime=0)
        diff_ids.append(sha(raw))
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                       "digest": write_blob(layout, gz), "size": len(gz)})
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": write_blob(layout, config), "size": len(config)},
        "layers": layers}).encode()
    md = write_blob(layout, manifest)
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
            "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    return sum(l["size"] for l in layers)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    work = tempfile.mkdtemp(prefix="lk-bench-registry-")
    port = free_port()
    cfg = os.path.join(work, "config.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {work}/storage\n"
                f"http:\n  addr: 127.0.0.1:{port}\n")
    reg = subprocess.Popen(["docker-registry", "serve", cfg],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        size = make_layout(os.path.join(work, "layout"))
        ref = f"127.0.0.1:{port}/bench/img:v1"
        subprocess.run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                        f"oci:{work}/layout:v1", f"docker://{ref}"],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"image: {LAYERS} layers, {size / 1e6:.1f} MB compressed, registry 127.0.0.1:{port}")
        ours, theirs = [], []
        for i in range(n):
            cache = os.path.join(work, f"cache{i}")
            t0 = time.monotonic()
            subprocess.run([LK, "-q", "--cache", cache, "cache", "pull", ref], check=True,
                           env=dict(os.environ, HOME=work))
            ours.append(time.monotonic() - t0)
            shutil.rmtree(cache)
            dest = os.path.join(work, f"oci{i}")
            t0 = time.monotonic()
            subprocess.run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
                            f"docker://{ref}", f"oci:{dest}:v1"], check=True,
                           stdout=subprocess.DEVNULL)
            theirs.append(time.monotonic() - t0)
            shutil.rmtree(dest)
            print(f"run {i + 1}: linuxkit cache pull {ours[-1]:.2f} s, skopeo copy {theirs[-1]:.2f} s")
        mo, mt = statistics.median(ours), statistics.median(theirs)
        print(f"median: linuxkit {mo:.2f} s ({size / 1e6 / mo:.0f} MB/s), "
              f"skopeo {mt:.2f} s ({size / 1e6 / mt:.0f} MB/s), ratio ours/skopeo {mo / mt:.2f}")
    finally:
        reg.terminate()
        reg.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
