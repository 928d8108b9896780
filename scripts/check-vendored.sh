#!/usr/bin/env bash
# Check that third_party/libcontainer is the crates.io libcontainer 0.7.0
# sources plus exactly third_party/libcontainer/linuxkit.patch (the patches
# PATCHES.md explains), and nothing else.
#
# The .crate comes from cargo's download cache when it is there, else from
# crates.io's static download URL (kept under target/, so once per clone);
# its sha256 must be the checksum crates.io's index publishes for 0.7.0.
set -euo pipefail
cd "$(dirname "$0")/.."

name=libcontainer
version=0.7.0
# crates.io index (https://index.crates.io/li/bc/libcontainer), "cksum" of 0.7.0
sha256=2c28770cf8fb3acca0d168a10f5d9f8333d304af0b2ff5654029822d222d19f0
vendored=third_party/$name
patch=$vendored/linuxkit.patch
# Files of the vendored directory that are not crate sources.
ours=(PATCHES.md linuxkit.patch .cargo-ok)
# Files of the .crate that are not vendored (cargo writes them on packaging).
dropped=(.cargo_vcs_info.json Cargo.lock)

fail() {
  echo "check-vendored: $*" >&2
  exit 1
}

crate=""
for c in "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"$name-$version.crate"; do
  [ -f "$c" ] && crate=$c && break
done
if [ -z "$crate" ]; then
  crate=target/vendored/$name-$version.crate
  if [ ! -f "$crate" ]; then
    mkdir -p target/vendored
    url=https://static.crates.io/crates/$name/$name-$version.crate
    curl -fsSL --retry 3 -o "$crate.part" "$url" ||
      fail "cannot download $url (needs network once; or put the .crate in $crate)"
    mv "$crate.part" "$crate"
  fi
fi
got=$(sha256sum "$crate" | cut -d' ' -f1)
[ "$got" = "$sha256" ] || fail "$crate has sha256 $got, crates.io publishes $sha256: delete it and run again"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$crate" -C "$work"
src=$work/$name-$version
for f in "${dropped[@]}"; do rm -f "$src/$f"; done
(cd "$src" && git apply --whitespace=nowarn "$OLDPWD/$patch") ||
  fail "$patch does not apply to the crates.io $name $version sources"

excludes=()
for f in "${ours[@]}"; do excludes+=("--exclude=$f"); done
if ! diff -r "${excludes[@]}" "$src" "$vendored" >"$work/diff" 2>&1; then
  cat "$work/diff" >&2
  fail "$vendored differs from crates.io $name $version + $patch (above); change the code with a patch: edit $vendored, regenerate $patch and explain it in PATCHES.md"
fi
echo "check-vendored: $vendored = crates.io $name $version + $(grep -c '^diff ' "$patch") patched files"
