#!/bin/bash
# Make sure the packages needed to build and test libdal are installed.
#
# Usage: build-aux/install-deps.sh [EXTRA_PKG...]
#
# Runs at the start of every `make demo` / `make check`, so when nothing is
# missing it prints nothing and exits 0. On Debian, missing packages are
# installed with apt-get when we are root; otherwise the command to run is
# printed and we exit 1. Elsewhere we can only check pkg-config and autoconf.
set -eu

required=(libsqlite3-dev libpq-dev libuv1-dev check postgresql autoconf
          pkg-config gcc make)

if ! command -v dpkg-query >/dev/null 2>&1; then
    # Not Debian: check what the build actually uses, by pkg-config name.
    missing=()
    if command -v pkg-config >/dev/null 2>&1; then
        if ! pkg-config --exists sqlite3 libpq libuv check; then
            for mod in sqlite3 libpq libuv check; do
                pkg-config --exists "$mod" || missing+=("$mod")
            done
        fi
    else
        missing+=(pkg-config)
    fi
    command -v autoconf >/dev/null 2>&1 || missing+=(autoconf)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "install-deps: missing: ${missing[*]} (install them with your" \
             "system's package manager)" >&2
        exit 1
    fi
    exit 0
fi

missing=()
for pkg in "${required[@]}" "$@"; do
    # Unknown packages make dpkg-query fail; they count as missing. A
    # multi-arch package installed twice prints its status twice.
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) || status=
    case $status in
        "install ok installed"*) ;;
        *) missing+=("$pkg") ;;
    esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages; install them with:" >&2
    echo "sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# No stdin, so nothing can prompt; wait a while for a dpkg lock held by
# another apt (unattended-upgrades on a fresh CI machine).
if ! { apt-get -o DPkg::Lock::Timeout=120 update -qq &&
       apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
           --no-install-recommends "${missing[@]}"; } </dev/null >"$log" 2>&1
then
    echo "install-deps: apt-get failed; end of its output:" >&2
    tail -n 25 "$log" >&2
    exit 1
fi
