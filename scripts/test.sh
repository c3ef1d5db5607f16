#!/usr/bin/env bash
# Every test of the project: formatting, lints, unit, replay and live tests.
# `.ci/run` calls exactly this. Needs: a Rust toolchain with rustfmt and
# clippy, python3 on PATH (the live tests run real Python programs), and the
# package registries (scripts/install-pythons.sh fetches CPython 3.14, 3.13
# and 3.12 and builds a free-threaded CPython, once, into
# ~/.cache/boundcheck/pythons, so the stack tests run under 3.11, 3.12, 3.13
# and 3.14 and the interpreter-pool and free-threaded tests run for real; and
# scripts/install-browser.sh installs Debian's chromium for the browser test
# of report.html; scripts/install-test-tools.sh the C compiler, PyPy and the
# other tools the native, hostile and permission tests need;
# scripts/install-test-deps.sh pip-installs joblib --user; scripts/test-wheel.sh
# installs maturin and zig from PyPI into ~/.cache/boundcheck/build-venv, once,
# to build the wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
# The suite's duration, printed however it ends.
trap 'echo "test.sh: $((SECONDS - started)) s in total" >&2' EXIT

command -v python3 >/dev/null || { echo "test.sh: python3 is needed on PATH for the live tests" >&2; exit 2; }

path_line=$(./scripts/install-pythons.sh | tail -1)
eval "$path_line"
# Headless Chromium for the HTML report test (tests/html_browser.rs).
./scripts/install-browser.sh
# A C compiler with a static libc, file, setpriv, PyPy; a Python 2 is looked for.
./scripts/install-test-tools.sh
# joblib for the re-run swap tests (tests/rerun.rs).
./scripts/install-test-deps.sh
# ray, dask, joblib, numba, numpy in a project-owned venv for the engine
# experiments and bench cells (exports BOUNDCHECK_ENGINES_PYTHON).
engines_line=$(./scripts/install-engines.sh | tail -1)
eval "$engines_line"
# man, groff and script for the man page and terminal tests.
./scripts/install-doc-tools.sh

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test
# Release hygiene: the crate packages (what `cargo publish` would upload);
# the Python wheel builds, installs into a fresh venv and runs from there.
step=$SECONDS
cargo package --no-verify --allow-dirty --quiet
echo "test.sh: cargo package --no-verify passed in $((SECONDS - step)) s" >&2
./scripts/test-wheel.sh
