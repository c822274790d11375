#!/usr/bin/env bash
# Builds the `oxcd:latest` image from scratch: release binaries at
# /usr/local/bin/{etcd,etcdctl} and the shared libraries they need (no base
# image, so nothing is pulled from a registry).
set -euo pipefail
cd "$(dirname "$0")/.."
# OXCD_IMAGE_PROFILE=debug takes the debug binaries instead: CI's compose
# tests check behaviour, not speed, and its test run has built them already
# (a release build from a cold cache is minutes of CI).
profile=${OXCD_IMAGE_PROFILE:-release}
case "$profile" in
    release) cargo build --release --bin etcd --bin etcdctl ;;
    debug) cargo build --bin etcd --bin etcdctl ;;
    *) echo "OXCD_IMAGE_PROFILE must be release or debug" >&2; exit 2 ;;
esac
bin=target/$profile
ctx=target/docker
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/etc"
cp "$bin/etcd" "$bin/etcdctl" "$ctx/rootfs/usr/local/bin/"
# Every library the binaries load, at the path the dynamic linker expects.
libs=$(ldd "$bin/etcd" "$bin/etcdctl" |
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
for lib in $libs; do
    mkdir -p "$ctx/rootfs$(dirname "$lib")"
    cp -L "$lib" "$ctx/rootfs$lib"
done
echo "hosts: files dns" > "$ctx/rootfs/etc/nsswitch.conf"
cp docker/Dockerfile "$ctx/Dockerfile"
docker build -q -t oxcd:latest "$ctx"
