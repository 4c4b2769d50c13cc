#!/bin/sh
#
# check-man.sh SYMBOL_FILE MANDIR
#
# Checks the manual pages under MANDIR:
#   - every symbol listed in SYMBOL_FILE (one per line; blank lines and
#     lines starting with # are ignored; only the first word of a line
#     counts) has a page MANDIR/man3/SYMBOL.3 whose NAME section names it;
#   - every page under MANDIR renders with groff without a warning, with
#     .so requests resolved from MANDIR the way man(1) resolves them;
#   - a page that uses tbl says so on its first line ('\" t), as man(1)
#     needs to run tbl;
#   - a page that is not a .so link has a .TH whose name and section
#     match its file name;
#   - no rendered line is wider than 80 columns.
# Prints each problem and exits 1 if there is any; otherwise prints a
# one-line summary and exits 0.

usage() {
    echo "usage: $0 SYMBOL_FILE MANDIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
symfile=$1
mandir=$2

if [ ! -r "$symfile" ]; then
    echo "check-man: cannot read symbol file $symfile" >&2
    exit 1
fi
if [ ! -d "$mandir" ]; then
    echo "check-man: no such directory $mandir" >&2
    exit 1
fi
for tool in groff soelim; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "check-man: $tool not found; cannot check the pages" >&2
        exit 1
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-man.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

problems=0
problem() {
    echo "check-man: $*" >&2
    problems=$((problems + 1))
}

# The page's source with .so requests resolved, run from MANDIR because
# man(1) resolves "man3/foo.3" against the top of the manual tree.
# soelim's .lf bookkeeping lines are dropped.
resolved() {
    (cd "$mandir" && soelim "$1" 2>/dev/null) | grep -v '^\.lf '
}

# The groff preprocessor options that man(1) would use for a page: the
# letters of a first line '\" xyz (t tbl, e eqn, p pic, r refer,
# g grap, v vgrind).
preprocessors() {
    first=$(resolved "$1" | sed -n '1p')
    case $first in
    "'\\\" "*|".\\\" "*) ;;
    *) return 0 ;;
    esac
    letters=${first#???}
    letters=${letters# }
    opts=
    case $letters in *t*) opts="$opts -t" ;; esac
    case $letters in *e*) opts="$opts -e" ;; esac
    case $letters in *p*) opts="$opts -p" ;; esac
    case $letters in *r*) opts="$opts -R" ;; esac
    case $letters in *g*) opts="$opts -g" ;; esac
    case $letters in *v*) opts="$opts -V" ;; esac
    echo "$opts"
}

# ---- pages ---------------------------------------------------------------

(cd "$mandir" && find . -type f -name '*.[1-9]' | sed 's|^\./||' | sort) \
    > "$tmp/pages"
npages=$(wc -l < "$tmp/pages" | tr -d ' ')
if [ "$npages" -eq 0 ]; then
    problem "no pages under $mandir"
fi

while IFS= read -r page; do
    pre=$(preprocessors "$page")

    # Every warning groff knows (-ww), nothing printed (-z). groff exits
    # 0 after a warning, so any output on stderr is the failure.
    # shellcheck disable=SC2086
    (cd "$mandir" && groff -s $pre -man -ww -z -Tutf8 "$page") \
        > "$tmp/out" 2>&1
    if [ -s "$tmp/out" ]; then
        problem "$page: groff warnings:"
        sed 's/^/    /' "$tmp/out" >&2
    fi

    resolved "$page" > "$tmp/src"
    if grep -q '^\.TS' "$tmp/src"; then
        case $pre in
        *-t*) ;;
        *) problem "$page: uses tbl (.TS) without '\\\" t on line 1" ;;
        esac
    fi

    if ! grep -q '^\.TH ' "$tmp/src"; then
        problem "$page: no .TH (empty page, or .so to a page without one)"
    elif ! grep -q '^\.so ' "$mandir/$page"; then
        # A page of its own: its .TH names the file.
        base=${page##*/}
        want_name=${base%.*}
        want_sec=${base##*.}
        th=$(awk '/^\.TH / { gsub(/"/, ""); print $2, $3; exit }' \
            "$tmp/src")
        if [ "$th" != "$want_name $want_sec" ]; then
            problem "$page: .TH says '$th', expected" \
                "'$want_name $want_sec'"
        fi
    fi

    # shellcheck disable=SC2086
    (cd "$mandir" && groff -s $pre -man -Tascii -rLL=78n -P-cbou "$page") \
        2>/dev/null | awk -v p="$page" '
            length($0) > 80 {
                printf "check-man: %s: rendered line %d is %d columns " \
                    "wide (max 80): %s\n", p, NR, length($0), $0
                n++
            }
            END { exit n > 0 }' >&2 || problems=$((problems + 1))
done < "$tmp/pages"

# ---- symbols -------------------------------------------------------------

sed -e 's/\r$//' -e 's/^[[:space:]]*//' "$symfile" |
    grep -v -e '^$' -e '^#' | awk '{ print $1 }' > "$tmp/symbols"
nsyms=$(wc -l < "$tmp/symbols" | tr -d ' ')

while IFS= read -r sym; do
    page=man3/$sym.3
    if [ ! -f "$mandir/$page" ]; then
        problem "$sym: no page $page"
        continue
    fi
    # The NAME section of the page (after .so) must name the symbol, so
    # that a .so link cannot point at the wrong page unnoticed.
    resolved "$page" |
        awk '/^\.SH/ { on = ($0 ~ /^\.SH "?NAME"?[[:space:]]*$/); next }
             on' | sed 's/\\-/-/g; s/\\f[BIRP]//g' > "$tmp/name"
    if ! grep -Eq "(^|[^A-Za-z0-9_])$sym([^A-Za-z0-9_]|\$)" "$tmp/name"
    then
        problem "$page: its NAME section does not name $sym"
    fi
done < "$tmp/symbols"

if [ "$problems" -gt 0 ]; then
    echo "check-man: $problems problem(s) in $npages pages," \
        "$nsyms symbols" >&2
    exit 1
fi
echo "check-man: $npages pages, $nsyms symbols, all documented"
exit 0
