#!/usr/bin/env bash
# Set up a Debian 12 machine that has rustup for building and testing
# linuxkit-rs; idempotent, quick when nothing is missing.
#
#   bash scripts/setup.sh build   what `cargo build` and the README's build+boot need
#   bash scripts/setup.sh         all of that and what `bash scripts/test.sh` needs
#   bash scripts/setup.sh --check [build]   only check; install nothing
#
# 1. The programs and files of scripts/debian-packages.txt (the one list):
#    as root with apt-get, `apt-get update` once and install the missing
#    packages; otherwise print one message naming what is missing and the
#    command that installs it, and fail.
# 2. The Rust side: the toolchain of rust-toolchain.toml with its musl target
#    (static binaries for packages' `contents.cargo`), and, for the tests,
#    cargo-nextest and cargo-fuzz (`cargo install --locked` when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

check_only=0
scope=test
for a in "$@"; do
  case "$a" in
    --check) check_only=1 ;;
    build | test) scope=$a ;;
    *) echo "usage: bash scripts/setup.sh [--check] [build|test]" >&2; exit 2 ;;
  esac
done

# --- Debian packages ---------------------------------------------------------

# Print "name package" for each entry of the list that this scope needs and
# that is missing on this machine.
missing_entries() {
  local s name pkg
  while read -r s name pkg; do
    case "$s" in '' | '#'*) continue ;; esac
    [ "$scope" = build ] && [ "$s" != build ] && continue
    if [[ "$name" == /* ]]; then
      [ -e "$name" ] && continue
    else
      command -v "$name" >/dev/null 2>&1 && continue
    fi
    echo "$name $pkg"
  done <scripts/debian-packages.txt
}

missing_packages() {
  missing_entries | awk '{print $2}' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

pkgs=$(missing_packages)
if [ -n "$pkgs" ]; then
  if [ "$check_only" = 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    echo "setup: installing $pkgs"
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $pkgs
    # Installing one package can remove another that was there (a newer
    # qemu-utils from backports conflicts with Debian's qemu-system-x86):
    # install what is missing now, with versions that fit together.
    again=$(missing_packages)
    if [ -n "$again" ]; then
      # shellcheck disable=SC2086
      apt-get install -y -qq --no-install-recommends $again
    fi
    pkgs=$(missing_packages)
  fi
  if [ -n "$pkgs" ]; then
    {
      echo "setup: these programs or files are missing:"
      missing_entries | while read -r name pkg; do
        printf '  %-46s (Debian package %s)\n' "$name" "$pkg"
      done
      echo "install them with:"
      echo "  sudo apt-get install --no-install-recommends $pkgs"
      echo "then run this again."
    } >&2
    exit 1
  fi
fi

# --- Rust --------------------------------------------------------------------

musl=x86_64-unknown-linux-musl
if ! command -v rustup >/dev/null 2>&1; then
  echo "setup: rustup is missing: install it from https://rustup.rs" >&2
  exit 1
fi
# `rustup toolchain install` with no argument installs the toolchain that
# rust-toolchain.toml names, with its components and targets.
if ! rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
  if [ "$check_only" = 1 ]; then
    echo "setup: the Rust target $musl is missing: rustup target add $musl" >&2
    exit 1
  fi
  rustup toolchain install >/dev/null
  rustup target list --installed | grep -qx "$musl" || rustup target add "$musl"
fi

if [ "$scope" = test ]; then
  for tool in cargo-nextest cargo-fuzz; do
    command -v "$tool" >/dev/null 2>&1 && continue
    if [ "$check_only" = 1 ]; then
      echo "setup: $tool is missing: cargo install --locked $tool" >&2
      exit 1
    fi
    echo "setup: cargo install --locked $tool"
    cargo install --locked --quiet "$tool"
  done
fi
echo "setup: ready ($scope)"
