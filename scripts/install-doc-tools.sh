#!/usr/bin/env bash
# Provide the tools tests/packaging.rs and tests/first_minutes.rs run: `man`
# and `groff` (the man page renders without a warning) and `script` (a
# pseudo-terminal, to see the progress line as a user does). Debian packages
# man-db, groff-base and bsdutils, from the machine's own apt sources.
# Idempotent: when all three are present it only says so. Installing needs
# root, or sudo without a password. Messages go to stderr.
set -euo pipefail

missing=()
command -v man >/dev/null || missing+=(man-db)
command -v groff >/dev/null || missing+=(groff-base)
command -v script >/dev/null || missing+=(bsdutils)
if [ ${#missing[@]} -eq 0 ]; then
    echo "install-doc-tools.sh: man, groff and script are present" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "install-doc-tools.sh: missing ${missing[*]}; installing needs root (or sudo without a password): run 'apt-get install -y --no-install-recommends ${missing[*]}' as root" >&2
    exit 2
fi
echo "install-doc-tools.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update >&2
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2
