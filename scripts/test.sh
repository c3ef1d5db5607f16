#!/usr/bin/env bash
# Every test of the project: formatting, lints, unit, replay and live tests.
# `.ci/run` calls exactly this. Needs: a Rust toolchain with rustfmt and
# clippy, and python3 on PATH (the live tests run real Python programs).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v python3 >/dev/null || { echo "test.sh: python3 is needed on PATH for the live tests" >&2; exit 2; }

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test
