#!/bin/bash
# Run a command with a throwaway PostgreSQL streaming-replication cluster:
# a primary and one hot standby made with pg_basebackup -R.
#
# Usage: tests/pg/with-cluster.sh CMD [ARGS...]
#        tests/pg/with-cluster.sh --available   (exit 0 when the server
#                                               binaries can be found)
#
# If DAL_TEST_PG_PRIMARY_URL is set and non-empty, CMD simply runs (the
# caller provides the cluster and the variables below). Otherwise both
# servers are made in one temp dir and started on free 127.0.0.1 ports
# (and private unix sockets), trust auth, fsync off, as an unprivileged
# user when we are root, and CMD runs with these exported:
#   DAL_TEST_PG_PRIMARY_URL   postgres://postgres@127.0.0.1:P1/postgres
#   DAL_TEST_PG_STANDBY_URL   postgres://postgres@127.0.0.1:P2/postgres
#   DAL_TEST_PG_CLUSTER_URL   the primary with the standby as a replica:
#                             postgres://postgres@127.0.0.1:P1/postgres
#                                 ?replicas=127.0.0.1:P2
#   DAL_TEST_PG_MULTIHOST_URL both as a primary list, for failover:
#                             postgres://postgres@127.0.0.1:P1,127.0.0.1:P2
#                                 /postgres
#   DAL_TEST_PG_URL           the primary (so plain suites run too)
#   DAL_TEST_PG_PRIMARY_DATA, DAL_TEST_PG_STANDBY_DATA   the data dirs
#   DAL_TEST_PG_CTL           a pg_ctl that runs as the server user, e.g.
#                             "$DAL_TEST_PG_CTL" -D "$DAL_TEST_PG_PRIMARY_DATA"
#                                 stop -m immediate
#                             "$DAL_TEST_PG_CTL" -D "$DAL_TEST_PG_STANDBY_DATA"
#                                 promote
#                             Each data dir's postgresql.conf holds its
#                             port and socket dir, so "start -w -l LOG"
#                             needs no -o.
#   DAL_TEST_PG_CLUSTER_DIR   the temp dir (logs: primary.log, standby.log)
#
# The primary has wal_level=replica and synchronous_standby_names='*' with
# synchronous_commit=off: commits do not wait for the standby unless a
# session asks with SET synchronous_commit = remote_apply (then the commit
# returns once the standby has replayed it). Afterwards both servers are
# stopped and the dir removed, whatever happened; we exit with CMD's status.
set -eu

# Server binaries: the newest Debian versioned dir, else pg_config, else PATH.
find_bindir() {
    bindir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    if [ ! -x "$bindir/initdb" ]; then
        bindir=$(pg_config --bindir 2>/dev/null) || bindir=
        if [ ! -x "$bindir/initdb" ]; then
            local initdb
            initdb=$(command -v initdb) || return 1
            bindir=$(dirname "$initdb")
        fi
    fi
    [ -x "$bindir/pg_basebackup" ] && [ -x "$bindir/pg_ctl" ]
}

if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...] | --available" >&2
    exit 2
fi
if [ "$1" = --available ]; then
    find_bindir
    exit $?
fi
if [ -n "${DAL_TEST_PG_PRIMARY_URL:-}" ]; then
    exec "$@"
fi
if ! find_bindir; then
    echo "with-cluster: PostgreSQL server binaries (initdb, pg_ctl," \
         "pg_basebackup) not found" >&2
    exit 1
fi
psql=$bindir/psql
[ -x "$psql" ] || psql=psql

# PostgreSQL refuses to run as root, so root runs the servers as postgres,
# or as a system user made for the purpose (as with-pg.sh does).
as_user=()
if [ "$(id -u)" -eq 0 ]; then
    user=postgres
    if ! id -u postgres >/dev/null 2>&1; then
        user=daltest
        id -u daltest >/dev/null 2>&1 ||
            useradd --system --no-create-home --shell /usr/sbin/nologin \
                daltest 2>/dev/null || id -u daltest >/dev/null
    fi
    as_user=(runuser -u "$user" --)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/with-cluster.XXXXXX")
chmod 755 "$dir"

# Server commands run from inside the temp dir, since the server user may
# not be allowed into the caller's working directory.
srv() { (cd "$dir" && "${as_user[@]}" "$@"); }

# shellcheck disable=SC2317  # called from the trap below
cleanup() {
    local rc=$?
    trap '' INT TERM   # a second ^C must not leave a server running
    for d in "$dir/standby" "$dir/primary"; do
        if [ -f "$d/postmaster.pid" ]; then
            srv "$bindir/pg_ctl" -D "$d" stop -m immediate -w \
                >/dev/null 2>&1 || true
        fi
    done
    rm -rf "$dir"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir "$dir/sock1" "$dir/sock2"
if [ ${#as_user[@]} -gt 0 ]; then
    chown -R "$user:" "$dir"
fi

# The pg_ctl the tests use: as the server user, from the temp dir.
{
    echo '#!/bin/sh'
    printf 'cd %q || exit 1\n' "$dir"
    if [ ${#as_user[@]} -gt 0 ]; then
        printf 'exec runuser -u %q -- %q "$@"\n' "$user" "$bindir/pg_ctl"
    else
        printf 'exec %q "$@"\n' "$bindir/pg_ctl"
    fi
} >"$dir/pg_ctl"
chmod 755 "$dir/pg_ctl"

if ! srv "$bindir/initdb" -D "$dir/primary" -U postgres -A trust -E UTF8 \
        --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    echo "with-cluster: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    exit 1
fi

# Settings both servers share: pg_basebackup copies the primary's
# postgresql.conf, and each server then appends its own port.
srv sh -c "cat >>'$dir/primary/postgresql.conf'" <<EOF

# with-cluster.sh
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
wal_level = replica
max_wal_senders = 10
wal_keep_size = '128MB'
hot_standby = on
synchronous_standby_names = '*'
wal_receiver_status_interval = 1s
EOF

free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 40001))
        if command -v ss >/dev/null 2>&1 &&
                [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then
            continue
        fi
        echo "$p"
        return 0
    done
    return 1
}

# start NAME SOCKDIR: start $dir/NAME on a free port (tried again when the
# port was taken meanwhile); sets port.
start() {
    local name=$1 sock=$2 p
    port=
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        p=$(free_port) || break
        srv sh -c "printf \"port = %s\\nunix_socket_directories = '%s'\\n\" \
            $p '$sock' >>'$dir/$name/postgresql.conf'"
        rm -f "$dir/$name.log"
        if srv "$bindir/pg_ctl" -D "$dir/$name" -l "$dir/$name.log" \
                -w -t 60 start >"$dir/pg_ctl.out" 2>&1; then
            port=$p
            return 0
        fi
        grep -qE 'could not bind|could not create any TCP/IP' \
            "$dir/$name.log" 2>/dev/null || break
    done
    echo "with-cluster: PostgreSQL ($name) failed to start:" >&2
    cat "$dir/pg_ctl.out" "$dir/$name.log" >&2 2>/dev/null || true
    return 1
}

start primary "$dir/sock1"
port1=$port

if ! srv "$bindir/pg_basebackup" -h 127.0.0.1 -p "$port1" -U postgres \
        -D "$dir/standby" -R -X stream -c fast --no-sync \
        >"$dir/basebackup.log" 2>&1; then
    echo "with-cluster: pg_basebackup failed:" >&2
    cat "$dir/basebackup.log" >&2
    exit 1
fi
start standby "$dir/sock2"
port2=$port

url1="postgres://postgres@127.0.0.1:$port1/postgres"
url2="postgres://postgres@127.0.0.1:$port2/postgres"

# Wait until the standby streams from the primary.
ok=0
for _ in $(seq 1 100); do
    n=$("$psql" -X "$url1" -qAtc "SELECT count(*) FROM pg_stat_replication
            WHERE state = 'streaming'" </dev/null 2>/dev/null) || n=0
    r=$("$psql" -X "$url2" -qAtc "SELECT pg_is_in_recovery()" \
            </dev/null 2>/dev/null) || r=
    if [ "$n" = 1 ] && [ "$r" = t ]; then
        ok=1
        break
    fi
    sleep 0.1
done
if [ $ok != 1 ]; then
    echo "with-cluster: the standby does not stream from the primary:" >&2
    cat "$dir/standby.log" >&2 || true
    exit 1
fi

export DAL_TEST_PG_PRIMARY_URL=$url1
export DAL_TEST_PG_STANDBY_URL=$url2
export DAL_TEST_PG_CLUSTER_URL="$url1?replicas=127.0.0.1:$port2"
hosts="127.0.0.1:$port1,127.0.0.1:$port2"
export DAL_TEST_PG_MULTIHOST_URL="postgres://postgres@$hosts/postgres"
export DAL_TEST_PG_URL=$url1
export DAL_TEST_PG_PRIMARY_DATA=$dir/primary
export DAL_TEST_PG_STANDBY_DATA=$dir/standby
export DAL_TEST_PG_CTL=$dir/pg_ctl
export DAL_TEST_PG_CLUSTER_DIR=$dir

version=$("$bindir/pg_ctl" --version |
          sed -n 's/.*(PostgreSQL) \([0-9.]*\).*/\1/p')
echo "with-cluster: PostgreSQL $version primary 127.0.0.1:$port1," \
     "standby 127.0.0.1:$port2, data in $dir" >&2

status=0
"$@" || status=$?
exit "$status"
