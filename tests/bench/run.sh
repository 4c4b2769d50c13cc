#!/bin/sh
# tests/bench/run.sh - libdal against raw sqlite3 and libpq (`make bench`).
#
# Usage: tests/bench/run.sh [BENCH_BINARY]
#
# BENCH_BINARY is tests/bench/bench.c built and linked with libdal; `make
# bench` builds it and passes it here. Without the argument run.sh builds
# build/bench/bench itself from build/libdal.a (run `make` first), with this
# command, run from the top of the tree:
#
#   mkdir -p build/bench &&
#   cc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wpedantic -Werror \
#       -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Iinclude \
#       $(pkg-config --cflags sqlite3 libpq libuv) tests/bench/bench.c \
#       -o build/bench/bench build/libdal.a \
#       $(pkg-config --libs sqlite3 libpq libuv) -lpthread -lm
#
# Every (target, workload) cell runs as its own process, `bench TARGET
# WORKLOAD`, which prints one line to stdout:
#
#   BENCH <target> <workload> dal=<ops/s> raw=<ops/s> ratio=<r>
#
# r = raw ns per op / libdal ns per op, of the median runs: 1.00 is no
# overhead, below 1 libdal is slower. Everything else goes to stderr.
#
# Target pool runs one workload, checkout (dal_pool_acquire + release
# on sqlite::memory: with max_size 4, by 1, 2, 4, 8 and 16 threads, one
# line each: BENCH pool checkout dal=<ops/s> raw=<ops/s> ratio=<r>
# threads=<n>, raw being dal_open + dal_close per op); it runs unpinned,
# since its threads need the machine's CPUs.
# Targets: sqlite-mem, sqlite-wal, pg-unix. Workloads: point_select,
# insert_tx, scan, ast_point_select (libdal with a query built by the AST
# against libdal with the same query as SQL text), and on a six-field
# model: bulk_create (dal_model_bulk_create against a 500-row INSERT on
# sqlite3, COPY on libpq; the line ends in ids=<rows/s>, the same with
# ids filled back), naive_create (one dal_model_insert per row in
# autocommit against bulk_create's libdal side; ratio is naive/bulk and
# the line ends in speedup=<bulk rows/s / naive rows/s>) and model_find
# (dal_model_find against a prepared SELECT filling the same struct),
# async (sqlite-wal: point selects all in flight on a 4-connection
# dal/async.h pool against libdal sync one after the other; ratio is the
# throughput gain), and on pg-unix only (skipped elsewhere),
# async_pipeline (10,000 point selects through dal_async_query on one
# pipelined connection against libdal's blocking API one after another)
# and async_vs_raw_pipeline (the same against a raw libpq pipeline;
# BENCH_PIPELINE_SYNC=batch, the default, or job: a Sync per query on
# both sides).
# Environment:
#   BENCH_TARGETS    targets to run, space or comma separated (default all)
#   BENCH_WORKLOADS  workloads to run (default all)
#   BENCH_RUNS       timed runs per side and cell (default 5)
#   BENCH_RUN_MS     aimed length of one timed run in ms (default 400)
#   BENCH_BULK_ROWS  rows per bulk_create run (default 100000)
#   BENCH_NAIVE_ROWS rows per naive_create per-row run (default 2000,
#                    20000 on sqlite-mem)
#   BENCH_PIN        1 (default): the client runs on CPU BENCH_CPU and the
#                    throwaway PostgreSQL on the same CPU; 0: no pinning.
#                    On a small VM a cross-CPU wakeup costs more than a
#                    whole PostgreSQL round trip, so unpinned numbers mostly
#                    measure the scheduler.
#   BENCH_CPU        the CPU to pin to (default 0)
#   DAL_TEST_PG_SOCKET_URL  run pg-unix against this server (a libpq URI
#                    over the unix socket), not pinned by us. Otherwise
#                    tests/pg/with-pg.sh starts a throwaway server (it uses
#                    DAL_TEST_PG_URL's server instead when that is set).
# Target pg-cluster, workload failover_ms (`make bench` runs it): under
# tests/pg/with-cluster.sh (a fresh primary + streaming standby, used up
# by the run), the time from `pg_ctl promote` returning until the first
# successful write through a dal_pool that lists both hosts:
#   BENCH pg-cluster failover_ms value=<ms> attempts=<checkouts>
# With DAL_TEST_PG_MULTIHOST_URL set it runs against that cluster instead,
# which it changes for good (the primary is killed, the standby promoted).
# With no PostgreSQL to be had, the pg-unix cells print
# `BENCH pg-unix <workload> skipped` to stderr and the rest still runs.
#
# Exit status: 0 when every cell ran or was skipped, 1 when any failed,
# 2 on bad usage.

set -u

top=$(cd "$(dirname "$0")/../.." && pwd) || exit 1

# Run by with-pg.sh for the pg-unix cells (see the end): say we got here.
if [ -n "${BENCH__PG_MARKER:-}" ]; then
    : >"$BENCH__PG_MARKER"
fi

bin=${1:-}
if [ -z "$bin" ]; then
    bin=$top/build/bench/bench
    if [ ! -f "$top/build/libdal.a" ]; then
        echo "run.sh: build/libdal.a is missing; run make first" >&2
        exit 1
    fi
    # shellcheck disable=SC2046  # pkg-config output is word-split on purpose
    (cd "$top" && mkdir -p build/bench &&
        ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wpedantic \
            -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
            -Iinclude $(pkg-config --cflags sqlite3 libpq libuv) \
            tests/bench/bench.c -o build/bench/bench build/libdal.a \
            $(pkg-config --libs sqlite3 libpq libuv) -lpthread -lm) \
            || exit 1
fi
case $bin in
    /*) ;;
    *) bin=$(pwd)/$bin ;;
esac
if [ ! -x "$bin" ]; then
    echo "run.sh: $bin is not an executable" >&2
    exit 1
fi

targets=$(printf '%s' \
    "${BENCH_TARGETS:-sqlite-mem sqlite-wal pool pg-unix pg-cluster}" |
          tr ',' ' ')
all_workloads="point_select insert_tx scan ast_point_select bulk_create
naive_create model_find point_select_observed batch async async_pipeline
async_vs_raw_pipeline"
workloads=$(printf '%s' "${BENCH_WORKLOADS:-$all_workloads}" | tr ',' ' ')
for t in $targets; do
    case $t in
        sqlite-mem | sqlite-wal | pool | pg-unix | pg-cluster) ;;
        *) echo "run.sh: unknown target '$t'" >&2; exit 2 ;;
    esac
done
for w in $workloads; do
    case $w in
        point_select | insert_tx | scan | ast_point_select) ;;
        bulk_create | naive_create | model_find) ;;
        point_select_observed | batch | async) ;;
        async_pipeline | async_vs_raw_pipeline) ;;
        failover_ms) ;;
        *) echo "run.sh: unknown workload '$w'" >&2; exit 2 ;;
    esac
done

pin=${BENCH_PIN:-1}
cpu=${BENCH_CPU:-0}
if [ "$pin" != 0 ] && ! command -v taskset >/dev/null 2>&1; then
    echo "run.sh: taskset not found; running unpinned" >&2
    pin=0
fi

failed=0

cell() {
    # failover_ms belongs to pg-cluster alone (see cluster_cell).
    [ "$2" = failover_ms ] && return 0
    echo "bench $1 $2:" >&2
    if [ "$pin" != 0 ]; then
        taskset -c "$cpu" "$bin" "$1" "$2"
    else
        "$bin" "$1" "$2"
    fi
    rc=$?
    case $rc in
        0 | 77) ;;
        *) echo "run.sh: bench $1 $2 failed (exit $rc)" >&2; failed=1 ;;
    esac
}

skip_pg() {
    echo "run.sh: $1" >&2
    for w in $workloads; do
        echo "BENCH pg-unix $w skipped" >&2
    done
}

# The failover bench, unpinned: it measures a latency, with two servers.
cluster_cell() {
    case " $workloads " in
        *" failover_ms "*) ;;
        *) [ -z "${BENCH_WORKLOADS:-}" ] || return 0 ;;
    esac
    echo "bench pg-cluster failover_ms:" >&2
    if [ -n "${DAL_TEST_PG_MULTIHOST_URL:-}" ]; then
        "$bin" pg-cluster failover_ms
    elif bash "$top/tests/pg/with-cluster.sh" --available; then
        bash "$top/tests/pg/with-cluster.sh" "$bin" pg-cluster failover_ms
    else
        echo "BENCH pg-cluster failover_ms skipped (no PostgreSQL server" \
             "binaries)" >&2
        return 0
    fi
    rc=$?
    case $rc in
        0 | 77) ;;
        *) echo "run.sh: bench pg-cluster failover_ms failed (exit $rc)" >&2
           failed=1 ;;
    esac
}

want_pg=0
for t in $targets; do
    if [ "$t" = pg-cluster ]; then
        cluster_cell
        continue
    fi
    if [ "$t" = pg-unix ]; then
        want_pg=1
        continue
    fi
    if [ "$t" = pool ]; then
        echo "bench pool checkout:" >&2
        "$bin" pool checkout || {
            echo "run.sh: bench pool checkout failed" >&2; failed=1; }
        continue
    fi
    for w in $workloads; do
        cell "$t" "$w"
    done
done

if [ $want_pg = 1 ]; then
    if [ -n "${DAL_TEST_PG_SOCKET_URL:-}" ]; then
        if [ "$pin" != 0 ] && [ -z "${BENCH__PG_MARKER:-}" ]; then
            echo "run.sh: using the server of DAL_TEST_PG_SOCKET_URL;" \
                 "only the client is pinned" >&2
        fi
        for w in $workloads; do
            cell pg-unix "$w"
        done
    elif [ -n "${BENCH__PG_MARKER:-}" ] || [ -n "${DAL_TEST_PG_URL:-}" ]
    then
        skip_pg "pg-unix needs DAL_TEST_PG_SOCKET_URL, a libpq URI over the
unix socket, besides DAL_TEST_PG_URL"
    elif [ ! -x "$top/tests/pg/with-pg.sh" ]; then
        skip_pg "tests/pg/with-pg.sh not found"
    else
        # Run the pg-unix cells again through this script under a
        # throwaway server. The marker tells "the server never started"
        # (skip) from "a cell failed" (fail).
        marker=$(mktemp "${TMPDIR:-/tmp}/dal-bench-pg.XXXXXX") || exit 1
        rm -f "$marker"
        if [ "$pin" != 0 ]; then
            DAL_PG_CPU=$cpu
            export DAL_PG_CPU
        else
            unset DAL_PG_CPU
        fi
        BENCH__PG_MARKER=$marker BENCH_TARGETS=pg-unix \
            "$top/tests/pg/with-pg.sh" sh "$top/tests/bench/run.sh" "$bin"
        rc=$?
        if [ -e "$marker" ]; then
            rm -f "$marker"
            [ $rc = 0 ] || failed=1
        else
            skip_pg "no PostgreSQL could be started (with-pg.sh exit $rc)"
        fi
    fi
fi

exit $failed
