#!/usr/bin/env bash
# Instructions per request of a server, counted by valgrind's callgrind:
#   tools/instructions.sh /path/to/etcd [rounds]
# e.g. tools/instructions.sh target/release/etcd; tools/instructions.sh /usr/bin/etcd
# Each round starts the server (oxcd's or etcd's, same flags; one member,
# fresh data dir under /tmp, client port PORT, peers PORT+1) under
# `valgrind --tool=callgrind`, waits for /health, writes key `foo`, warms up
# (WARM puts and WARM ranges), then measures three windows with
# callgrind_control, which zeroes (-z) and dumps (-d; a dump also restarts
# the count) the live process's counters, so start-up is never counted:
#   idle:  -z, sleep IDLE s, -d                  -> idle rate r = Ir / t
#   put:   -z, benchmark put   (N requests), -d  -> (Ir - r*t) / N
#   range: -z, benchmark range (N linearizable ranges of `foo`), -d
# where t is each window's wall time (between the -z and -d), so the tickers'
# work during the window is taken out. The benchmark client runs outside
# valgrind: CLIENTS clients on one connection, 8-byte keys, 256-byte values.
# Prints one line per round and window; KEEP=dir keeps the callgrind files
# (dir/cg.<round>.out.1 idle, .2 put, .3 range) for callgrind_annotate.
# GODEBUG=asyncpreemptoff=1 is set: callgrind aborts on Go's preemption
# signals (threads.c "sigNum == ... .sig" assertion) without it.
# BENCH (default target/release/benchmark), ETCDCTL (target/release/etcdctl),
# N (5000), CLIENTS (10), WARM (500), IDLE (10), PORT (26379).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/server.sh
bin=${1:?server binary}; rounds=${2:-2}
bench=${BENCH:-target/release/benchmark}
etcdctl=${ETCDCTL:-target/release/etcdctl}
n=${N:-5000}; clients=${CLIENTS:-10}; warm=${WARM:-500}; idle=${IDLE:-10}
port=${PORT:-26379}
work=$(mktemp -d /tmp/oxcd-instr.XXXXXX)
keep=${KEEP:-}
[ -n "$keep" ] && mkdir -p "$keep"
pid=""
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
ir() { awk '/^totals:/ {print $2}' "$1"; }
cgctl() { callgrind_control "$1" "$pid" >/dev/null 2>&1; }
load() { # put|range count
    local kind=$1 count=$2
    if [ "$kind" = put ]; then
        "$bench" --endpoints="127.0.0.1:$port" --clients="$clients" --conns=1 \
            put --key-size=8 --val-size=256 --total="$count"
    else
        "$bench" --endpoints="127.0.0.1:$port" --clients="$clients" --conns=1 \
            range foo --consistency=l --total="$count"
    fi | awk -F'\t' '/Requests\/sec/ {printf "%.0f", $2}'
}

printf 'round\twindow\tIr\twall_s\tidle_Ir\trequests\tIr/request\treq/s(under valgrind)\n'
for round in $(seq "$rounds"); do
    dir="$work/data-$round" out="$work/cg.$round.out"
    if ! GODEBUG=asyncpreemptoff=1 SERVER_WAIT=600 \
        SERVER_PREFIX="valgrind --tool=callgrind --callgrind-out-file=$out" \
        start_server "$bin" "$dir" "$port"; then
        tail -40 "$dir.log" >&2
        exit 1
    fi
    pid=$SERVER_PID
    "$etcdctl" --endpoints="127.0.0.1:$port" put foo bar >/dev/null
    load put "$warm" >/dev/null; load range "$warm" >/dev/null

    # idle window
    cgctl -z; t0=$(now); sleep "$idle"; t1=$(now); cgctl -d
    idle_ir=$(ir "$out.1")
    rate=$(awk -v i="$idle_ir" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", i / (b - a)}')
    printf '%s\tidle\t%s\t%.2f\t-\t-\t%s/s\t-\n' "$round" "$idle_ir" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$rate"
    part=1
    for kind in put range; do
        part=$((part + 1))
        cgctl -z; t0=$(now); rps=$(load "$kind" "$n"); t1=$(now); cgctl -d
        total=$(ir "$out.$part")
        awk -v r="$round" -v k="$kind" -v i="$total" -v rate="$rate" -v a="$t0" -v b="$t1" \
            -v n="$n" -v rps="$rps" 'BEGIN {
                t = b - a; idle = rate * t
                printf "%s\t%s\t%.0f\t%.2f\t%.0f\t%d\t%.0f\t%s\n", r, k, i, t, idle, n, (i - idle) / n, rps }'
    done
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    if [ -n "$keep" ]; then
        for p in 1 2 3; do cp "$out.$p" "$keep/cg.$round.out.$p"; done
        cp "$dir.log" "$keep/server.$round.log"
    fi
done
