#!/usr/bin/env bash
# Makes a CA and the certificates the TLS compose cluster uses, in DIR
# (default target/docker-certs): one per member (etcd1..3, serving both
# the client and the peer port and presenting itself to peers; SANs: its
# name, its static address on the compose network, localhost) and a
# client certificate for etcdctl (CN root). ECDSA P-256, valid 30 days.
#   docker/gen-certs.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-target/docker-certs}
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; }
key ca
openssl req -x509 -new -key ca.key -sha256 -days 30 -subj "/CN=oxcd compose CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt 2>/dev/null
leaf() { # name CN SANs
    key "$1"
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
        -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}
for i in 1 2 3; do
    leaf "etcd$i" "etcd$i" "DNS:etcd$i,DNS:localhost,IP:172.28.0.1$i,IP:127.0.0.1"
done
leaf client root "DNS:client"
# The members run as root in a scratch image; etcdctl reads the keys too.
chmod 644 ./*.key
echo "certificates in $PWD: ca.crt, etcd{1,2,3}.{crt,key}, client.{crt,key}"
