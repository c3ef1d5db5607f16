#!/usr/bin/env bash
# The Python package as a user gets it: build the wheel (scripts/build-wheel.sh,
# seconds when the sources have not changed), install it into a fresh virtual
# environment with pip (nothing fetched: the wheel has no dependencies), then
# run `boundcheck --workload cpu --no-rerun` from that environment's PATH, in
# an empty directory far from the source tree, so nothing the binary needs can
# come from the repository. Also checks that the installed binary is the
# wheel's (not a cargo build found on PATH) and that `--version` matches
# Cargo.toml, and that the re-runs work from it (the swap module is compiled
# in: a ThreadPoolExecutor program's "processes (swap)" re-run is measured).
# Prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
t0=$(date +%s.%N)
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f} s')" "$1" "$(date +%s.%N)"; }

wheel=$(./scripts/build-wheel.sh | tail -1)
t1=$(date +%s.%N)
echo "test-wheel: built $wheel in $(elapsed "$t0")" >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The venv without its own pip (ensurepip alone takes 10+ s here): the build
# venv's pip installs into it (`pip --python`), the same install otherwise.
venv_tools=${BOUNDCHECK_BUILD_VENV:-$HOME/.cache/boundcheck/build-venv}
python3 -m venv --without-pip "$work/venv"
"$venv_tools/bin/pip" --python "$work/venv/bin/python" install --quiet \
    --disable-pip-version-check --no-index "$repo/$wheel"
t2=$(date +%s.%N)
echo "test-wheel: installed into a fresh venv in $(elapsed "$t1")" >&2

exe=$(PATH="$work/venv/bin:/usr/bin:/bin" command -v boundcheck)
if [[ "$exe" != "$work/venv/bin/boundcheck" ]]; then
    echo "test-wheel: FAIL: boundcheck on the venv's PATH is '$exe', not the wheel's" >&2
    exit 1
fi
want=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
got=$("$exe" --version)
if [[ "$got" != "boundcheck $want" ]]; then
    echo "test-wheel: FAIL: '$exe --version' says '$got', Cargo.toml says $want" >&2
    exit 1
fi

# A user's shell: the venv activated (its bin first on PATH), python3 from
# the machine, working directory outside the repository.
mkdir "$work/run"
(
    cd "$work/run"
    PATH="$work/venv/bin:$PATH" boundcheck --workload cpu --no-rerun --size low --quiet --out report
) >"$work/stdout" 2>"$work/stderr" || {
    rc=$?
    cat "$work/stderr" >&2
    echo "test-wheel: FAIL: boundcheck from the wheel exited $rc" >&2
    exit 1
}
for f in report.json report.html timeline.json; do
    [[ -s "$work/run/report/$f" ]] || { cat "$work/stderr" >&2; echo "test-wheel: FAIL: no $f written" >&2; exit 1; }
done
verdict=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["diagnosis"]["verdict"])' "$work/run/report/report.json")
# One thread of pure-Python arithmetic: what the same run from cargo's build says.
if [[ "$verdict" != cpu-serial ]]; then
    cat "$work/stderr" >&2
    echo "test-wheel: FAIL: the cpu workload (sequential) was diagnosed $verdict, not cpu-serial" >&2
    exit 1
fi
echo "test-wheel: ok: the wheel's boundcheck ran the cpu workload (verdict $verdict) in $(elapsed "$t2")" >&2
t3=$(date +%s.%N)

# The re-run machinery from the wheel: the swap module lives inside the
# binary, so a thread pool swapped for a process pool must be measured.
cat >"$work/run/pool.py" <<'PY'
from concurrent.futures import ThreadPoolExecutor

def work(n):
    s = 0
    for i in range(n):
        s += i * i
    return s

if __name__ == "__main__":
    with ThreadPoolExecutor(2) as ex:
        print(sum(ex.map(work, [400_000] * 8)))
PY
(
    cd "$work/run"
    PATH="$work/venv/bin:$PATH" boundcheck --runs 1 --budget 60s --quiet --out rerun -- python3 pool.py
) >"$work/stdout" 2>"$work/stderr" || {
    rc=$?
    cat "$work/stderr" >&2
    echo "test-wheel: FAIL: boundcheck from the wheel (with re-runs) exited $rc" >&2
    exit 1
}
swap=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
e = [x for x in r.get("recommendation", {}).get("experiments", []) if x.get("label") == "processes (swap)"]
print(e[0]["status"] if e else "absent (verdict " + r["diagnosis"]["verdict"] + ")")' "$work/run/rerun/report.json")
if [[ "$swap" != measured ]]; then
    cat "$work/stderr" >&2
    echo "test-wheel: FAIL: the processes swap re-run from the wheel is $swap, not measured" >&2
    exit 1
fi
echo "test-wheel: ok: re-runs from the wheel swapped the thread pool for processes in $(elapsed "$t3")" >&2
echo "test-wheel: ok: total $(elapsed "$t0")" >&2
