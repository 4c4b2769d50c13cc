#!/bin/sh
# bootstrap.sh - generate ./configure from configure.ac.
# autoconf alone does not know pkg-config's PKG_* macros; aclocal (from
# automake) would copy them in, but this project has no other use for
# automake, so aclocal.m4 is assembled here from pkg-config's own pkg.m4.
set -eu
cd "$(dirname "$0")/.."
for d in "$(pkg-config --variable=prefix pkg-config 2>/dev/null)/share/aclocal" \
         /usr/share/aclocal /usr/local/share/aclocal; do
    if [ -f "$d/pkg.m4" ]; then
        cp "$d/pkg.m4" aclocal.m4
        autoheader && exec autoconf
    fi
done
echo "bootstrap: pkg.m4 not found (apt-get install pkg-config)" >&2
exit 1
