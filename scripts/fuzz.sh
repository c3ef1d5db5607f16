#!/usr/bin/env bash
# Fuzz the readers of boundcheck's own files (report.json, timeline.json) with
# cargo-fuzz (libFuzzer), for a bounded time per target. A benchmark, not a
# test: `cargo test` runs the corpus-based property tests (tests/readers.rs)
# instead. Needs a nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
# usage: scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 60)
# Prints the executions each target ran; a crash leaves its input in
# fuzz/artifacts/TARGET/ and makes the script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: needs cargo-fuzz: cargo install cargo-fuzz" >&2; exit 2; }
rustup toolchain list | grep -q '^nightly' || { echo "fuzz.sh: needs nightly: rustup toolchain install nightly" >&2; exit 2; }
mkdir -p logs
status=0
for target in read_report read_timeline; do
    mkdir -p "corpus/$target"
    cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
    log="logs/$target.log"
    if nice -n 10 cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$secs" -max_len=262144 -rss_limit_mb=2048 >"$log" 2>&1; then
        result="ok"
    else
        result="FAILED (see fuzz/$log and fuzz/artifacts/$target/)"
        status=1
    fi
    runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' || echo "?")
    echo "$target: $runs executions in ${secs}s: $result"
done
exit $status
