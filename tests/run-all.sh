#!/bin/sh
# run-all.sh - run every test of `make check`: the Check suites (against
# SQLite, and PostgreSQL when DAL_TEST_PG_URL is set, as tests/pg/with-pg.sh
# does), the examples, and the install check. Every part runs even when
# an earlier one failed; the exit status says whether any did.
#   BUILD=dir      where make put the binaries (default build)
#   VALGRIND=1     run the suites under valgrind (no fork, leak check)
set -u
BUILD=${BUILD:-build}
failed=""

run() {
    name=$1; shift
    echo "==> $name"
    if "$@"; then
        echo "==> $name: ok"
    else
        echo "==> $name: FAILED (exit $?)"
        failed="$failed $name"
    fi
}

if [ "${VALGRIND:-0}" = 1 ]; then
    # Check's fork mode hides child processes from valgrind's summary.
    export CK_FORK=no
    VG="valgrind -q --error-exitcode=99 --leak-check=full \
        --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
        --suppressions=tests/valgrind.supp"
else
    VG=""
fi

# Every Check suite built from tests/*.c.
for src in tests/*.c; do
    t=$(basename "$src" .c)
    run "$t" $VG "$BUILD/tests/$t"
done

# The dal tool, end to end (not under valgrind: it runs many processes).
if [ "${VALGRIND:-0}" != 1 ]; then
    run "dal tool" sh tests/tool.sh
fi

# Every example, on an SQLite file, SQLite in memory and PostgreSQL.
for src in examples/*.c; do
    ex=$(basename "$src" .c)
    demo_db=$(mktemp -u /tmp/dal-demo.XXXXXX).db
    run "example $ex (sqlite file)" $VG "$BUILD/examples/$ex" \
        "sqlite:$demo_db"
    rm -f "$demo_db" "$demo_db-wal" "$demo_db-shm" "$demo_db-journal"
    run "example $ex (sqlite memory)" $VG "$BUILD/examples/$ex" \
        "sqlite::memory:"
    if [ -n "${DAL_TEST_PG_URL:-}" ]; then
        run "example $ex (postgres)" $VG "$BUILD/examples/$ex" \
            "$DAL_TEST_PG_URL"
    fi
done

# The install check builds a plain program against the installed library,
# which a sanitizer or valgrind build is not.
if [ "${VALGRIND:-0}" != 1 ] && [ -z "${SANITIZE:-}" ]; then
    run "installcheck" sh tests/installcheck.sh
fi

if [ -n "$failed" ]; then
    echo "make check: FAILED:$failed"
    exit 1
fi
echo "make check: all passed"
