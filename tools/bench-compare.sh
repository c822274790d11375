#!/usr/bin/env bash
# Benchmarks servers side by side on this machine, runs alternated:
#   tools/bench-compare.sh [rounds] name=/path/to/etcd [name=/path/to/etcd ...]
# e.g. tools/bench-compare.sh 3 oxcd=target/release/etcd etcd34=/usr/bin/etcd
# Each round starts every server afresh (new data dirs on loopback; one
# member, or three with MEMBERS=3, the benchmark then spread over all
# three endpoints) and runs the workloads of BENCHMARKS.md's table with the
# `benchmark` binary (etcd's tools/benchmark), 8-byte keys and 256-byte
# values, in this order:
#   put at 1, 100 (10 connections) and 1000 clients (100 connections);
#   range of one key at 100 clients, linearizable then serializable;
#   txn-put (one put per txn) at 100 clients;
#   lease-keepalive at 100 clients;
# then reads the server's resident memory (the sum over members).
# Prints one line per run: round server workload requests/sec p99 errors
# (from etcd's report: "Requests/sec:", "99% in ... secs." and the error
# distribution), and "rss" in MB.
# BENCH=path/to/benchmark (default target/release/benchmark),
# ETCDCTL=path/to/etcdctl (default target/release/etcdctl), TOTAL=requests
# per run (default 20000; the one-client put runs TOTAL/10),
# WORKLOADS="put-1 put-100 ..." a subset of the labels below.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/server.sh
rounds=${1:?rounds}; shift
bench=${BENCH:-target/release/benchmark}
etcdctl=${ETCDCTL:-target/release/etcdctl}
total=${TOTAL:-20000}
port=${PORT:-24379}
members=${MEMBERS:-1}
work=$(mktemp -d /tmp/oxcd-bench.XXXXXX)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT

kv="--key-size=8 --val-size=256"
# label: clients conns total command...
declare -A shape=(
    [put-1]="1 1 $((total / 10)) put $kv"
    [put-100]="100 10 $total put $kv"
    [put-1000]="1000 100 $total put $kv"
    [range-l-100]="100 10 $total range foo --consistency=l"
    [range-s-100]="100 10 $total range foo --consistency=s"
    [txn-put-100]="100 10 $total txn-put $kv --txn-ops=1"
    [keepalive-100]="100 10 $total lease-keepalive"
)
order=${WORKLOADS:-put-1 put-100 put-1000 range-l-100 range-s-100 txn-put-100 keepalive-100}

run_one() { # server-name binary round
    local name=$1 bin=$2 round=$3 dir="$work/$1-$3" pids=() eps=() m
    if [ "$members" = 1 ]; then
        start_server "$bin" "$dir" "$port"
        pids=("$SERVER_PID"); eps=("127.0.0.1:$port")
    else
        start_cluster "$bin" "$dir" "$port" "$members"
        pids=("${CLUSTER_PIDS[@]}"); eps=("${CLUSTER_ENDPOINTS[@]}")
    fi
    local endpoints
    endpoints=$(IFS=,; echo "${eps[*]}")
    "$etcdctl" --endpoints="$endpoints" put foo bar >/dev/null # key for range
    for w in $order; do
        read -r clients conns n cmd <<<"${shape[$w]}"
        out=$("$bench" --endpoints="$endpoints" --clients="$clients" --conns="$conns" \
            $cmd --total="$n")
        rps=$(awk -F'\t' '/Requests\/sec/ {printf "%.1f", $2}' <<<"$out")
        p99=$(awk '/^  99% in / {printf "%.2f", $3 * 1000}' <<<"$out")
        errors=$(awk -F'\t' '/^  \[[0-9]+\]\t/ {gsub(/[][ ]/, "", $1); n += $1} END {print n + 0}' <<<"$out")
        printf '%s\t%s\t%-13s\t%s req/s\tp99 %s ms\t(%s errors)\n' \
            "$round" "$name" "$w" "$rps" "$p99" "$errors"
    done
    local rss=0
    for m in "${pids[@]}"; do
        rss=$((rss + $(awk '/^VmRSS/ {print $2}' "/proc/$m/status")))
    done
    printf '%s\t%s\t%-13s\t%s MB\n' "$round" "$name" rss "$((rss / 1024))"
    for m in "${pids[@]}"; do kill -TERM "$m"; done
    for m in "${pids[@]}"; do wait "$m" 2>/dev/null || true; done
}

for round in $(seq "$rounds"); do
    for spec in "$@"; do
        run_one "${spec%%=*}" "${spec#*=}" "$round"
    done
done
