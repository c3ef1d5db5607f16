#!/usr/bin/env bash
# Provide the headless browser the HTML report test (tests/html_browser.rs)
# renders report.html in: Debian's `chromium`, from the machine's own apt
# sources. Idempotent: when /usr/bin/chromium exists it only says so.
# Installing needs root, or sudo without a password.
#
# Usage: scripts/install-browser.sh
# Messages go to stderr. Tests that must run without a browser can set
# BOUNDCHECK_SKIP_BROWSER=1 instead (the browser test then prints a skip).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "install-browser.sh: /usr/bin/chromium is present ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))" >&2
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "install-browser.sh: chromium is missing and installing it needs root (or sudo without a password): run 'apt-get install -y --no-install-recommends chromium' as root, or set BOUNDCHECK_SKIP_BROWSER=1" >&2
    exit 2
fi

echo "install-browser.sh: /usr/bin/chromium is missing: apt-get update, then apt-get install -y --no-install-recommends chromium" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update >&2
"${sudo[@]}" apt-get install -y --no-install-recommends chromium >&2
echo "install-browser.sh: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)" >&2
