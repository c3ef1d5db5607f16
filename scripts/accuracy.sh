#!/usr/bin/env bash
# Accuracy of boundcheck on the labelled corpus (fixtures/corpus/): builds the
# release binary, then runs scripts/accuracy.py with the same arguments, e.g.
#   scripts/accuracy.sh --no-rerun            # verdicts only, ~3-5 min
#   scripts/accuracy.sh --only http --repeats 3
#   scripts/accuracy.sh --load --json acc.json
#   scripts/accuracy.sh --corpus ../heldout --repeats 10   # a held-out set, same headers
# A measurement, not a test: exits 0 whatever the accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
# CPython 3.14 and a free-threaded build on PATH, so the re-runs can measure the
# interpreters and free-threaded strategies too (python3 itself is unchanged).
eval "$(./scripts/install-pythons.sh | tail -1)"
exec python3 scripts/accuracy.py "$@"
