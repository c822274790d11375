#!/usr/bin/env bash
# Builds the `oxcd:latest` image from scratch: release binaries at
# /usr/local/bin/{etcd,etcdctl} and the shared libraries they need (no base
# image, so nothing is pulled from a registry).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin etcd --bin etcdctl
ctx=target/docker
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/etc"
cp target/release/etcd target/release/etcdctl "$ctx/rootfs/usr/local/bin/"
# Every library the binaries load, at the path the dynamic linker expects.
libs=$(ldd target/release/etcd target/release/etcdctl |
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)
for lib in $libs; do
    mkdir -p "$ctx/rootfs$(dirname "$lib")"
    cp -L "$lib" "$ctx/rootfs$lib"
done
echo "hosts: files dns" > "$ctx/rootfs/etc/nsswitch.conf"
cp docker/Dockerfile "$ctx/Dockerfile"
docker build -q -t oxcd:latest "$ctx"
