#!/usr/bin/env bash
# Benchmarks servers side by side on this machine, runs alternated:
#   tools/bench-compare.sh [rounds] name=/path/to/etcd [name=/path/to/etcd ...]
# e.g. tools/bench-compare.sh 3 oxcd=target/release/etcd etcd34=/usr/bin/etcd
# Each round starts every server afresh (new data dir, one member on
# loopback) and runs, in this order: put and range at 100 clients
# (10 connections), then at 1000 clients (100 connections), etcd's
# benchmark shapes ("put --key-size=8 --val-size=256", "range foo"; the
# key foo is put first with etcdctl).
# Prints one line per run: round server workload clients requests/sec p99
# (from etcd's report: "Requests/sec:" and "99% in ... secs.") and the
# errors of the report's error distribution.
# BENCH=path/to/benchmark (default target/release/benchmark),
# ETCDCTL=path/to/etcdctl (default target/release/etcdctl), TOTAL=requests
# per run, CLIENTS="100 1000" the client counts.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/server.sh
rounds=${1:?rounds}; shift
bench=${BENCH:-target/release/benchmark}
etcdctl=${ETCDCTL:-target/release/etcdctl}
total=${TOTAL:-20000}
port=${PORT:-24379}
work=$(mktemp -d /tmp/oxcd-bench.XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT

run_one() { # server-name binary round
    local name=$1 bin=$2 round=$3 dir="$work/$1-$3"
    start_server "$bin" "$dir" "$port"
    local pid=$SERVER_PID
    "$etcdctl" --endpoints="127.0.0.1:$port" put foo bar >/dev/null # key for range
    for clients in ${CLIENTS:-100 1000}; do
        for w in "put --key-size=8 --val-size=256" "range foo"; do
            out=$("$bench" --endpoints="127.0.0.1:$port" --clients=$clients \
                --conns=$((clients / 10)) --total="$total" $w)
            rps=$(awk -F'\t' '/Requests\/sec/ {printf "%.1f", $2}' <<<"$out")
            p99=$(awk '/^  99% in / {printf "%.2f", $3 * 1000}' <<<"$out")
            errors=$(awk -F'\t' '/^  \[[0-9]+\]\t/ {gsub(/[][ ]/, "", $1); n += $1} END {print n + 0}' <<<"$out")
            printf '%s\t%s\t%-5s\t%s\t%s req/s\tp99 %s ms\t(%s errors)\n' \
                "$round" "$name" "${w%% *}" "$clients" "$rps" "$p99" "$errors"
        done
    done
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

for round in $(seq "$rounds"); do
    for spec in "$@"; do
        run_one "${spec%%=*}" "${spec#*=}" "$round"
    done
done
