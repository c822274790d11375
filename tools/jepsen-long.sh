#!/usr/bin/env bash
# The documented long jepsen run: register, bank, lock, watch and lease runs in
# turn, RUN_MIN minutes each, every nemesis on, until TOTAL_MIN minutes of
# faults have run against SERVER:
#   tools/jepsen-long.sh SERVER [TOTAL_MIN=60] [RUN_MIN=10]
# Needs root and a built harness (cargo build --release -p oxcd-jepsen).
# Each run leaves target/jepsen/<time>-<workload>-<seed>/; the last line of
# each is collected in target/jepsen/long-<server name>-<start>.txt.
# Exits 1 if any run was not VALID.
set -uo pipefail
cd "$(dirname "$0")/.."
server=${1:?usage: tools/jepsen-long.sh SERVER [TOTAL_MIN] [RUN_MIN]}
total=${2:-60}
run=${3:-10}
harness=${JEPSEN:-target/release/oxcd-jepsen}
summary=target/jepsen/long-$(basename "$(dirname "$(realpath "$server")")")-$(basename "$server")-$(date +%s).txt
mkdir -p target/jepsen
bad=0
i=0
for ((done_min = 0; done_min < total; done_min += run)); do
    workloads=(register bank lock watch lease)
    workload=${workloads[$((i % 5))]}
    line=$("$harness" --server "$server" --nodes 3 --time-limit $((run * 60)) \
        --nemesis partition,kill,pause,netem,member --workload "$workload" --interval-ms 50 | tail -n1)
    echo "$line" | tee -a "$summary"
    case "$line" in *": VALID "*) ;; *) bad=1 ;; esac
    i=$((i + 1))
done
echo "summary: $summary"
exit $bad
