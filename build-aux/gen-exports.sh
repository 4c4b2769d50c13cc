#!/bin/sh
# gen-exports.sh - write lib/exports.txt from the DAL_EXTERN declarations
# of the public headers. Run it after adding a public function; make check
# then compares the list with what libdal.so really exports.
set -eu
cd "$(dirname "$0")/.."
{
    echo "# lib/exports.txt - the symbols libdal.so exports, one per line."
    echo "# Written by build-aux/gen-exports.sh from the public headers;"
    echo "# make check compares this list with the built library."
    grep -ho 'DAL_EXTERN [^(]*(' include/dal/*.h \
        | sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/' | grep '^dal_' | sort -u
} > lib/exports.txt
