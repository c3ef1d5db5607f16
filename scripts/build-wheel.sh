#!/usr/bin/env bash
# Build boundcheck's Python wheel (maturin `bin` bindings: the wheel holds
# the one static-ish binary, installed as `boundcheck` on the PATH of the
# environment that installs it) into target/wheels/, and print its path as
# the last line of stdout.
#
# Portability: manylinux_2_17 (manylinux2014), built with `maturin --zig`.
# zig links against glibc 2.17's symbol versions whatever this host's glibc
# is, so the wheel installs on any x86-64 Linux with glibc >= 2.17 (CentOS 7
# onwards, every Debian/Ubuntu still supported); maturin's auditwheel check
# then verifies the policy (`--auditwheel check`: no library outside the
# manylinux set, no newer symbol). Why not the alternatives:
#   - a manylinux container (the usual route) needs a Docker engine, which
#     these machines do not have;
#   - a plain build would be tagged with this host's glibc (manylinux_2_36
#     on Debian 12), which older distributions' pip refuses;
#   - musl (musllinux_1_2, fully static) would be the most portable, but it
#     needs the x86_64-unknown-linux-musl standard library, which rustup
#     fetches from static.rust-lang.org, not a package registry: not
#     installable here (`rustup target list --installed` lists only
#     x86_64-unknown-linux-gnu). BOUNDCHECK_WHEEL_TARGET=musl selects it
#     where that target is installed.
#   - BOUNDCHECK_WHEEL_TARGET=native builds for this host only (no zig):
#     faster, tagged manylinux_2_<host glibc>.
#
# Tools: maturin and ziglang from PyPI, in a project-owned virtual
# environment (${BOUNDCHECK_BUILD_VENV:-~/.cache/boundcheck/build-venv}),
# created once; later runs reuse it. Cargo's incremental build makes a
# second run with unchanged sources take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${BOUNDCHECK_BUILD_VENV:-$HOME/.cache/boundcheck/build-venv}
maturin_req='maturin>=1.5,<2.0'
zig_req='ziglang>=0.10'
if ! "$venv/bin/maturin" --version >/dev/null 2>&1 || ! "$venv/bin/python" -m ziglang version >/dev/null 2>&1; then
    echo "build-wheel: installing maturin and zig into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$maturin_req" "$zig_req" >&2
fi

target=${BOUNDCHECK_WHEEL_TARGET:-manylinux}
case "$target" in
    manylinux) args=(--zig --compatibility manylinux2014 --auditwheel check) ;;
    musl) args=(--target x86_64-unknown-linux-musl --compatibility musllinux_1_2) ;;
    native) args=() ;;
    *) echo "build-wheel: BOUNDCHECK_WHEEL_TARGET must be manylinux, musl or native, not '$target'" >&2; exit 2 ;;
esac

out=target/wheels
# One wheel per build in $out: an older one would be installed by mistake.
rm -f "$out"/boundcheck-*.whl
# maturin's zig linker wrapper runs `python -m ziglang`: the venv's python.
PATH="$venv/bin:$PATH" "$venv/bin/maturin" build --release --locked --strip \
    "${args[@]}" --out "$out" >&2
wheel=$(ls -t "$out"/boundcheck-*.whl | head -1)
echo "build-wheel: $wheel ($(du -h "$wheel" | cut -f1))" >&2
echo "$wheel"
