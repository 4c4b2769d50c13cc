#!/bin/bash
# Run a command with a throwaway PostgreSQL cluster.
#
# Usage: tests/pg/with-pg.sh CMD [ARGS...]
#
# If DAL_TEST_PG_URL is set and non-empty, CMD simply runs against that
# server. Otherwise a cluster is initdb'd in a temp dir and started on a free
# 127.0.0.1 port and a private unix socket, with trust auth and no fsync, and
# CMD runs with these exported:
#   DAL_TEST_PG_URL         postgres://postgres@127.0.0.1:PORT/postgres
#   DAL_TEST_PG_SOCKET_URL  the same over the unix socket (percent-encoded)
#   DAL_TEST_PG_PORT        PORT
#   DAL_TEST_PG_SOCKDIR     the socket directory
# A second database, daltest2, exists too. Afterwards the cluster is stopped
# and the dir removed, whatever happened; we exit with CMD's status.
# DAL_PG_CPU (a taskset CPU list, e.g. 0) pins the server and its backends.
set -eu

if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
if [ -n "${DAL_TEST_PG_URL:-}" ]; then
    exec "$@"
fi

# Server binaries: the newest Debian versioned dir, else pg_config, else PATH.
bindir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ ! -x "$bindir/initdb" ]; then
    bindir=$(pg_config --bindir 2>/dev/null) || bindir=
    if [ ! -x "$bindir/initdb" ]; then
        initdb=$(command -v initdb) || {
            echo "with-pg: PostgreSQL server binaries (initdb) not found" >&2
            exit 1
        }
        bindir=$(dirname "$initdb")
    fi
fi
psql=$bindir/psql
[ -x "$psql" ] || psql=psql

# PostgreSQL refuses to run as root, so root runs the server as postgres, or
# as a system user made for the purpose.
as_user=()
if [ "$(id -u)" -eq 0 ]; then
    user=postgres
    if ! id -u postgres >/dev/null 2>&1; then
        user=daltest
        # A concurrent run may create it first; then useradd fails, id works.
        id -u daltest >/dev/null 2>&1 ||
            useradd --system --no-create-home --shell /usr/sbin/nologin \
                daltest 2>/dev/null || id -u daltest >/dev/null
    fi
    as_user=(runuser -u "$user" --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/with-pg.XXXXXX")

# Server commands run from inside the temp dir, since the server user may not
# be allowed into the caller's working directory.
srv() { (cd "$dir" && "${as_user[@]}" "$@"); }

# shellcheck disable=SC2317  # called from the trap below
cleanup() {
    local rc=$?
    trap '' INT TERM   # a second ^C must not leave the cluster running
    if [ -f "$dir/data/postmaster.pid" ]; then
        srv "$bindir/pg_ctl" -D "$dir/data" stop -m immediate -w \
            >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    exit "$rc"
}
# Cleanup runs once, on EXIT; the signal traps just turn into an exit.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir "$dir/sock"
if [ ${#as_user[@]} -gt 0 ]; then
    chown -R "$user:" "$dir"
fi

if ! srv "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
        --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    echo "with-pg: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    exit 1
fi

pin=()
if [ -n "${DAL_PG_CPU:-}" ]; then
    pin=(taskset -c "$DAL_PG_CPU")   # inherited by every forked backend
fi

# Try random ports; a port taken between the check and the bind shows up as
# a bind error in the log, and we try another.
port=
for _ in 1 2 3 4 5 6 7 8 9 10; do
    p=$((20000 + RANDOM % 40001))
    if command -v ss >/dev/null 2>&1 &&
            [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then
        continue
    fi
    rm -f "$dir/log"
    if srv "${pin[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" \
            -w -t 60 start -o "-p $p -k '$dir/sock' \
            -c listen_addresses=127.0.0.1 -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off \
            -c max_connections=100 -c max_prepared_transactions=10" \
            >"$dir/pg_ctl.out" 2>&1; then
        port=$p
        break
    fi
    grep -qE 'could not bind|could not create any TCP/IP' "$dir/log" \
        2>/dev/null || break
done
if [ -z "$port" ]; then
    echo "with-pg: PostgreSQL failed to start:" >&2
    cat "$dir/pg_ctl.out" "$dir/log" >&2 2>/dev/null || true
    exit 1
fi

# libpq takes a socket directory as a URI host only when percent-encoded.
urlencode() {
    local LC_ALL=C s=$1 out='' c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [A-Za-z0-9._~-]) out+=$c ;;
            *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}

export DAL_TEST_PG_PORT=$port
export DAL_TEST_PG_SOCKDIR=$dir/sock
export DAL_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
host=$(urlencode "$DAL_TEST_PG_SOCKDIR")
export DAL_TEST_PG_SOCKET_URL="postgresql://postgres@$host:$port/postgres"

# Check both URLs work before handing them to the tests.
if ! { "$psql" -X "$DAL_TEST_PG_URL" -qAtc 'CREATE DATABASE daltest2' &&
       "$psql" -X "$DAL_TEST_PG_SOCKET_URL" -qAtc 'SELECT 1'; } \
        </dev/null >"$dir/psql.out" 2>&1; then
    echo "with-pg: cannot connect to the new cluster:" >&2
    cat "$dir/psql.out" >&2
    exit 1
fi

version=$("$bindir/pg_ctl" --version |
          sed -n 's/.*(PostgreSQL) \([0-9.]*\).*/\1/p')
echo "with-pg: PostgreSQL $version on 127.0.0.1:$port" \
     "(socket $DAL_TEST_PG_SOCKDIR), data in $dir" >&2

status=0
"$@" || status=$?
exit "$status"
