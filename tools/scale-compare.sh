#!/usr/bin/env bash
# Watch and lease scale, servers side by side on this machine, runs alternated:
#   tools/scale-compare.sh [rounds] name=/path/to/etcd [name=/path/to/etcd ...]
# e.g. tools/scale-compare.sh 2 oxcd=target/release/etcd etcd34=/usr/bin/etcd
# Each round starts every server afresh (new data dir, one member on
# loopback) and measures, with the `benchmark` binary:
#   rss-idle     the server's resident memory once started
#   rss-held     ... while 10,000 leases (TTL 600 s) and 10,000 watchers
#                (100 streams x 100, one key) are held
#   events/s     events delivered per second to 1,000 watchers of one key
#                (10 streams x 100) while 10 writers put 2,000 times
#   keepalives/s lease keep-alives answered per second, 100 clients, each
#                with its own lease, 100,000 in all, with p99 (etcd's
#                benchmark: each keep-alive on a stream of its own)
# BENCH=path/to/benchmark (default target/release/benchmark).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/server.sh
rounds=${1:?rounds}; shift
bench=${BENCH:-target/release/benchmark}
port=${PORT:-25379}
ep="127.0.0.1:$port"
work=$(mktemp -d /tmp/oxcd-scale.XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT

rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# Runs "$bench $@" in the background until it prints "Holding"; echoes its pid.
held() {
    local out="$work/held.$RANDOM"
    "$bench" "$@" >"$out" 2>&1 &
    local pid=$!
    for _ in $(seq 600); do
        grep -q Holding "$out" && break
        kill -0 "$pid" 2>/dev/null || { cat "$out" >&2; return 1; }
        sleep 0.1
    done
    echo "$pid"
}

run_one() { # server-name binary round
    local name=$1 bin=$2 round=$3 dir="$work/$1-$3"
    start_server "$bin" "$dir" "$port"
    local pid=$SERVER_PID
    sleep 1
    printf '%s\t%s\trss-idle\t%s MB\n' "$round" "$name" "$(rss_mb "$pid")"

    local leases watchers
    leases=$(held --endpoints="$ep" --clients=100 --conns=10 --total=10000 \
        lease-grant --ttl=600 --hold-secs=600)
    watchers=$(held --endpoints="$ep" --clients=10 --conns=10 \
        watch --streams=100 --watch-per-stream=100 --put-total=1 --hold-secs=600)
    sleep 2
    printf '%s\t%s\trss-held\t%s MB\t(10,000 leases + 10,000 watchers)\n' \
        "$round" "$name" "$(rss_mb "$pid")"
    kill "$leases" "$watchers" 2>/dev/null || true
    wait "$leases" "$watchers" 2>/dev/null || true

    local out
    out=$("$bench" --endpoints="$ep" --clients=10 --conns=10 \
        watch --streams=10 --watch-per-stream=100 --put-total=2000)
    # The second report, "Watch events received summary", rates events.
    printf '%s\t%s\tevents/s\t%s\n' "$round" "$name" \
        "$(awk -F'\t' '/Requests\/sec/ {v = $2} END {printf "%.0f", v}' <<<"$out")"

    out=$("$bench" --endpoints="$ep" --clients=100 --conns=10 --total=100000 lease-keepalive)
    printf '%s\t%s\tkeepalives/s\t%s\tp99 %s ms\n' "$round" "$name" \
        "$(awk -F'\t' '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")" \
        "$(awk '/^  99% in / {printf "%.2f", $3 * 1000}' <<<"$out")"
    printf '%s\t%s\trss-after\t%s MB\n' "$round" "$name" "$(rss_mb "$pid")"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

for round in $(seq "$rounds"); do
    for spec in "$@"; do
        run_one "${spec%%=*}" "${spec#*=}" "$round"
    done
done
