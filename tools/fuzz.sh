#!/usr/bin/env bash
# Fuzzes one target (or `all`, one after another) for MINUTES each (or
# SECONDS, written with an s: `20s`):
#   tools/fuzz.sh TARGET|all [MINUTES=1]
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# libFuzzer works in target/fuzz-corpus/TARGET (seeded from the repo's
# fuzz/corpus/TARGET); afterwards the inputs that add coverage are merged
# back into fuzz/corpus/TARGET, which tests/fuzz_corpus.rs replays on
# stable. A crash stops the run and leaves its input in
# fuzz/artifacts/TARGET/: fix the cause, then copy the input into the corpus.
# Built without a sanitizer (safe Rust; ASan would only slow it down) but
# with debug assertions and overflow checks, cargo-fuzz's default.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: tools/fuzz.sh TARGET|all [MINUTES|SECONDSs]}
length=${2:-1}
case "$length" in
    *s) seconds=${length%s} ;;
    *) seconds=$((length * 60)) ;;
esac
if [ "$target" = all ]; then
    targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^oxcd-fuzz$')
else
    targets=$target
fi
cargo +nightly fuzz build -s none >/dev/null
for t in $targets; do
    work=target/fuzz-corpus/$t
    mkdir -p "$work" "fuzz/artifacts/$t"
    cp -n fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
    echo "== $t: $seconds s"
    cargo +nightly fuzz run -s none "$t" "$work" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=4096 \
        -max_len=4096 2>&1 | tee "target/fuzz-$t.log" | grep -E '^(stat::|#[0-9]+ +DONE|==|INFO: Seed)|panicked|Crash|crash-' || true
    if grep -q 'crash-\|panicked' "target/fuzz-$t.log"; then
        echo "$t: crashed, see target/fuzz-$t.log and fuzz/artifacts/$t/"
        exit 1
    fi
    cargo +nightly fuzz run -s none "$t" "fuzz/corpus/$t" "$work" -- -merge=1 >/dev/null 2>&1
    echo "$t: corpus $(ls "fuzz/corpus/$t" | wc -l) inputs"
done
