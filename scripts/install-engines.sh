#!/usr/bin/env bash
# The engines the cluster and JIT experiments use, in a project-owned virtual
# environment: ray, dask[distributed], joblib, numba and numpy, pinned.
#
#   ~/.cache/boundcheck/engines-venv   (override: BOUNDCHECK_ENGINES_VENV)
#
# Why a venv and not `pip --user`: ray and numba pull large, version-bound
# wheels (llvmlite, grpcio, protobuf) that must not change what the plain
# `python3` of the other live tests imports. The tests that need an engine run
# their program with this venv's python.
#
# Idempotent: when the venv exists and every module imports at its pinned
# version, nothing is fetched (a second run takes about a second). The last
# line printed is a shell assignment for `eval` (scripts/test.sh does it):
#
#   export BOUNDCHECK_ENGINES_PYTHON=/root/.cache/boundcheck/engines-venv/bin/python
#
# --check: install nothing; exit 1 (naming this script) when anything is
# missing, else print the same line.
set -euo pipefail

log() { printf 'install-engines: %s\n' "$*" >&2; }

venv=${BOUNDCHECK_ENGINES_VENV:-$HOME/.cache/boundcheck/engines-venv}
py=$venv/bin/python
check_only=0
[[ ${1:-} == --check ]] && check_only=1

# pip requirement, module, attribute holding its version
pins=(
    "ray==2.60.0 ray __version__"
    "dask[distributed]==2026.8.0 distributed __version__"
    "joblib==1.6.0 joblib __version__"
    "numba==0.68.1 numba __version__"
    "numpy==2.4.6 numpy __version__"
)

# Every pinned module imports at its pinned version.
complete() {
    [[ -x $py ]] || return 1
    local pin requirement module want
    for pin in "${pins[@]}"; do
        set -- $pin
        requirement=$1 module=$2
        want=${requirement##*==}
        "$py" -c "import $module, sys; sys.exit(0 if $module.$3 == '$want' else 1)" 2>/dev/null || return 1
    done
}

if ! complete; then
    if ((check_only)); then
        log "the engines venv $venv is missing or incomplete; run scripts/install-engines.sh"
        exit 1
    fi
    command -v python3 >/dev/null || { log "python3 is needed on PATH"; exit 1; }
    if [[ ! -x $py ]]; then
        log "creating $venv"
        python3 -m venv "$venv"
    fi
    requirements=()
    for pin in "${pins[@]}"; do
        set -- $pin
        requirements+=("$1")
    done
    log "installing ${requirements[*]} (first run: ~400 MB of wheels, a few minutes)"
    "$py" -m pip install --quiet --disable-pip-version-check "${requirements[@]}" >&2
    complete || { log "the engines still do not import at their pinned versions after installing them"; exit 1; }
fi
echo "export BOUNDCHECK_ENGINES_PYTHON=$py"
