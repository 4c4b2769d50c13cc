#!/bin/sh
# installcheck.sh - install into a scratch prefix, build the quickstart
# against the installed copy with nothing but pkg-config, and run it:
# proof that headers, libdal.so, its soname and dal.pc work together.
set -eu
BUILD=${BUILD:-build}
prefix=$(mktemp -d /tmp/dal-inst.XXXXXX)
trap 'rm -rf "$prefix"' EXIT INT TERM
make -s install PREFIX="$prefix" BUILD="$BUILD" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cflags=$(pkg-config --cflags dal)
libs=$(pkg-config --libs dal)
# shellcheck disable=SC2086
cc -std=c11 $cflags examples/quickstart.c -o "$prefix/quickstart" $libs \
    -Wl,-rpath,"$prefix/lib"
test -f "$prefix/share/man/man3/dal_open.3"
test -f "$prefix/share/man/man7/dal.7"
test -x "$prefix/bin/dal"
man -l "$prefix/share/man/man1/dal.1" >/dev/null
"$prefix/bin/dal" --version >/dev/null
ldd "$prefix/quickstart" | grep -q "$prefix/lib/libdal.so.0"
"$prefix/quickstart" "sqlite:$prefix/demo.db" >/dev/null
echo "installcheck: pkg-config --libs dal = $libs; the installed build runs"
make -s uninstall PREFIX="$prefix" BUILD="$BUILD" >/dev/null
test ! -e "$prefix/include/dal.h"
