#!/usr/bin/env bash
# Provide the tools the tests need beyond Rust and python3, so that no test
# passes by skipping: a C compiler with a static libc (tests/native.rs,
# tests/hostile.rs compile C fixtures, one statically), `file`, `setpriv`
# (tests/permissions.rs), Debian's /usr/bin/python3 (tests/permissions.rs
# runs it as another user, who cannot enter root's pyenv or the
# ~/.cache/boundcheck/pythons interpreters), PyPy (tests/hostile.rs) and a Python 2
# (tests/hostile.rs). The CPython 3.14 and free-threaded interpreters come
# from scripts/install-pythons.sh and the browser from
# scripts/install-browser.sh; scripts/test.sh runs all three.
#
# Usage:
#   scripts/install-test-tools.sh           install what is missing (Debian packages, apt-get)
#   scripts/install-test-tools.sh --check   report what is present; exit 1 if anything is missing
#
# Idempotent: when everything is present it only says so. Installing needs
# root, or sudo without a password. Messages go to stderr.
#
# Python 2 is not packaged by Debian 12 or later: it is found on PATH
# (`python2`) or in ~/.pyenv/versions/2.*; when neither exists this script
# says so and the Python 2 test fails naming this script, unless
# BOUNDCHECK_SKIP_PYTHON2=1 opts out (see the README's test section).
set -euo pipefail

say() { echo "install-test-tools.sh: $*" >&2; }

# tool : how to tell it is there : Debian packages that provide it
have_cc() { command -v cc >/dev/null && { [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -e /usr/lib/aarch64-linux-gnu/libc.a ]; }; }
have_file() { command -v file >/dev/null; }
have_setpriv() { command -v setpriv >/dev/null; }
have_pypy() { command -v pypy3 >/dev/null; }
have_syspython() { [ -x /usr/bin/python3 ]; }
have_python2() {
    if command -v python2 >/dev/null && python2 -c 'import sys; sys.exit(0 if sys.version_info[0] == 2 else 1)' 2>/dev/null; then
        return 0
    fi
    compgen -G "$HOME/.pyenv/versions/2.*/bin/python2" >/dev/null
}

declare -A packages=(
    [cc]="gcc libc6-dev"
    [file]="file"
    [setpriv]="util-linux"
    [pypy]="pypy3"
    [syspython]="python3-minimal"
)

missing=()
for tool in cc file setpriv pypy syspython; do
    if "have_$tool"; then
        say "$tool: present"
    else
        say "$tool: missing (Debian: ${packages[$tool]})"
        missing+=("$tool")
    fi
done
python2_ok=1
if have_python2; then
    say "python2: present"
else
    python2_ok=0
    say "python2: missing (not packaged by Debian 12+: install one, e.g. with pyenv, or set BOUNDCHECK_SKIP_PYTHON2=1)"
fi

if [ "${1:-}" = "--check" ]; then
    [ ${#missing[@]} -eq 0 ] && [ $python2_ok -eq 1 ] && exit 0
    exit 1
fi

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        say "installing ${missing[*]} needs root (or sudo without a password)"
        exit 2
    fi
    debs=()
    for tool in "${missing[@]}"; do
        read -r -a more <<< "${packages[$tool]}"
        debs+=("${more[@]}")
    done
    say "apt-get install -y --no-install-recommends ${debs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update >&2
    "${sudo[@]}" apt-get install -y --no-install-recommends "${debs[@]}" >&2
    for tool in "${missing[@]}"; do
        "have_$tool" || { say "$tool still missing after installing ${packages[$tool]}"; exit 2; }
    done
fi
say "done"
