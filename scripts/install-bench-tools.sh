#!/usr/bin/env bash
# Provide the peers the overhead benchmark (benches/overhead.rs) compares
# boundcheck against: py-spy and Austin, in a venv the project owns
# (target/bench-tools/venv unless BOUNDCHECK_BENCH_TOOLS names another
# directory), so nothing is installed into the user's own Python.
#
# Austin is pinned to austin-dist 3.7.0: its 4.x binary needs glibc 2.38,
# newer than Debian 12's 2.36. The benchmark runs it with `-C` (follow
# children), because `python3` behind pyenv is a bash shim that execs the
# real interpreter.
#
# Usage:
#   scripts/install-bench-tools.sh           install what is missing
#   scripts/install-bench-tools.sh --check   report what is present; exit 1 if anything is missing
#
# Idempotent: when both tools run it only says so. Messages go to stderr;
# the last line on stdout is the venv's bin directory.
set -euo pipefail

say() { echo "install-bench-tools.sh: $*" >&2; }

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${BOUNDCHECK_BENCH_TOOLS:-$root/target/bench-tools}"
venv="$dir/venv"
bin="$venv/bin"
PYSPY_SPEC="py-spy"
AUSTIN_SPEC="austin-dist==3.7.0"

have_pyspy() { [ -x "$bin/py-spy" ] && "$bin/py-spy" --version >/dev/null 2>&1; }
have_austin() { [ -x "$bin/austin" ] && "$bin/austin" --version >/dev/null 2>&1; }

missing=()
have_pyspy && say "py-spy: present ($("$bin/py-spy" --version))" || missing+=("$PYSPY_SPEC")
have_austin && say "austin: present ($("$bin/austin" --version 2>&1 | head -1))" || missing+=("$AUSTIN_SPEC")

if [ "${1:-}" = "--check" ]; then
    if [ ${#missing[@]} -gt 0 ]; then
        say "missing: ${missing[*]} (run scripts/install-bench-tools.sh)"
        exit 1
    fi
    echo "$bin"
    exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
    if [ ! -x "$bin/python" ]; then
        say "creating $venv"
        python3 -m venv "$venv"
    fi
    say "installing ${missing[*]} into $venv"
    "$bin/python" -m pip install --quiet --disable-pip-version-check "${missing[@]}"
fi
have_pyspy || { say "py-spy still does not run from $bin"; exit 1; }
have_austin || { say "austin still does not run from $bin (austin-dist 4.x needs glibc 2.38: keep the 3.7.0 pin)"; exit 1; }
echo "$bin"
