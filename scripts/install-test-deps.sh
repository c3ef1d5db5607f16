#!/usr/bin/env bash
# Python packages the live tests import, installed for the `python3` on PATH
# with `pip install --user` (so the tests' plain `python3` finds them):
#
#   joblib   tests/rerun.rs varies a joblib program's backend and n_jobs
#            (src/rerun/python/sitecustomize.py patches joblib.Parallel).
#
# Idempotent: a package that already imports is left alone, so a second run
# takes well under a second and needs no network. Called by scripts/test.sh.
set -euo pipefail

log() { printf 'install-test-deps: %s\n' "$*" >&2; }

command -v python3 >/dev/null || { log "python3 is needed on PATH"; exit 1; }

# module name, pip requirement
deps=("joblib joblib>=1.3")

for dep in "${deps[@]}"; do
    set -- $dep
    module=$1 requirement=$2
    if python3 -c "import $module" 2>/dev/null; then
        continue
    fi
    log "installing $requirement for $(python3 -c 'import sys; print(sys.executable)') (pip --user)"
    python3 -m pip install --user --quiet --disable-pip-version-check "$requirement" >&2
    python3 -c "import $module" || { log "$module still does not import after installing it"; exit 1; }
done
