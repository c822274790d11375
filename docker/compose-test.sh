#!/usr/bin/env bash
# Brings up the three-member compose cluster, checks `etcdctl member list`
# shows three started members, stops one member, checks writes still
# succeed, and tears everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
docker/build-image.sh
project=oxcdtest
compose() { docker-compose -p "$project" -f docker-compose.yml "$@"; }
cleanup() { compose down -v --remove-orphans >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
compose up -d
ctl() { docker exec "$1" /usr/local/bin/etcdctl "${@:2}"; }

echo "== waiting for the cluster (every member publishes itself once it can)"
started=0
for _ in $(seq 1 60); do
    started=$(ctl etcd1 member list 2>/dev/null | grep -c ', started, ' || true)
    if [ "$started" = 3 ]; then break; fi
    sleep 1
done
ctl etcd1 member list
[ "$started" = 3 ] || { echo "FAIL: $started started members"; compose logs; exit 1; }

echo "== one member stopped: writes still succeed"
compose stop etcd2
# If etcd2 led, the others need an election (about 1-2 s) before a write
# can commit: retry like a client would, for a bounded time.
out=""
for _ in $(seq 1 20); do
    out=$(ctl etcd1 put foo bar 2>&1) && break
    sleep 1
done
[ "$out" = OK ] || { echo "FAIL: put answered '$out'"; compose logs; exit 1; }
out=$(ctl etcd3 get foo --print-value-only)
[ "$out" = bar ] || { echo "FAIL: get answered '$out'"; exit 1; }
echo "compose cluster: 3 started members; with etcd2 stopped, put/get through etcd1/etcd3 OK"
