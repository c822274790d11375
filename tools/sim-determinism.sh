#!/usr/bin/env bash
# Runs every simulation scenario test twice per seed in one process
# (madsim's MADSIM_TEST_CHECK_DETERMINISM=1: the second run must draw the
# same random numbers at the same simulated times as the first), for SEEDS
# seeds from FIRST:
#   tools/sim-determinism.sh [SEEDS=20] [FIRST=clock]
# Prints each failing "test seed" and exits 1 if any failed; replay one with
#   MADSIM_TEST_CHECK_DETERMINISM=1 MADSIM_TEST_SEED=<seed> RUSTFLAGS="--cfg madsim" \
#       CARGO_TARGET_DIR=target/sim cargo test -p oxcd-sim --test <test>
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-20}
first=${2:-$(date +%s)}
export RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/sim
tests="auth bank cluster kv lease lock ops register smoke watch"
args=()
for t in $tests; do args+=(--test "$t"); done
cargo test -q -p oxcd-sim "${args[@]}" --no-run
declare -A bin
while read -r t path; do bin[$t]=$path; done < <(
    cargo test -p oxcd-sim "${args[@]}" --no-run 2>&1 |
        sed -n 's|.*Executable tests/\([a-z_]*\)\.rs (\(.*\))|\1 \2|p')
failed=0
for ((s = first; s < first + seeds; s++)); do
    for t in $tests; do
        if ! out=$(MADSIM_TEST_CHECK_DETERMINISM=1 MADSIM_TEST_SEED=$s "${bin[$t]}" -q 2>&1); then
            echo "FAIL $t $s: $(grep -m1 -E 'non-determinism|panicked' <<<"$out")"
            failed=$((failed + 1))
        fi
    done
done
echo "determinism: $seeds seeds from $first x {$tests}: $failed failed"
[ "$failed" -eq 0 ]
