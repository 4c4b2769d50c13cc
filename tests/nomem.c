/*
 * nomem.c - the allocation-failure ("torture") test. It installs
 * counting allocators for libdal (dal_set_allocator) and for SQLite
 * (SQLITE_CONFIG_MALLOC), then runs one scenario again and again, making
 * allocation number N fail on run N, until a run completes without any
 * injected failure. Each run must either succeed or fail with DAL_NOMEM,
 * and after cleaning up, libdal must hold no memory and SQLite no more
 * than after a clean run.
 *
 * Allocations are counted across both allocators in the order they
 * happen, so N walks through every allocation of the scenario, libdal's
 * and SQLite's alike. The sequence is deterministic: one thread, and a
 * warm-up run before counting starts so that SQLite's one-time setup is
 * not part of it.
 *
 * With DAL_TEST_PG_URL set, the same scenario runs against PostgreSQL,
 * failing libdal's allocations only (libpq uses malloc directly).
 *
 * Two modes: "once" fails allocation N only; "sticky" fails N and every
 * allocation after it, so cleanup itself must work without memory.
 * Set DAL_NOMEM_VERBOSE to see, for each N, whose allocation failed and
 * which call reported it.
 */
#include <check.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dal.h"

/* Enough for any plausible scenario; reaching it is a failure. */
#define MAX_RUNS 200000L

/* ---- failure injection --------------------------------------------- */

static long alloc_seq;   /* allocations seen in this run */
static long fail_at;     /* the allocation that fails; 0: none */
static int fail_sticky;  /* every allocation after fail_at fails too */
static int injected;     /* an allocation was failed in this run */
static const char *injected_in; /* "libdal" or "SQLite": whose it was */
static int verbose;      /* DAL_NOMEM_VERBOSE: one line per run */
static int arm_dal;      /* libdal's allocations count and may fail */
static int arm_sqlite;   /* SQLite's allocations count and may fail */

static int should_fail(const char *who)
{
    alloc_seq++;
    if (fail_at > 0 && (alloc_seq == fail_at
                        || (fail_sticky && alloc_seq > fail_at))) {
        if (!injected)
            injected_in = who;
        injected = 1;
        return 1;
    }
    return 0;
}

/* ---- libdal's allocator -------------------------------------------- */

static long dal_live; /* blocks libdal holds */

static void *t_malloc(size_t n)
{
    void *p;

    if (arm_dal && should_fail("libdal"))
        return NULL;
    p = malloc(n);
    if (p)
        dal_live++;
    return p;
}

static void *t_realloc(void *p, size_t n)
{
    void *q;

    if (arm_dal && should_fail("libdal"))
        return NULL;
    q = realloc(p, n);
    if (q && !p)
        dal_live++;
    return q;
}

static void t_free(void *p)
{
    if (p)
        dal_live--;
    free(p);
}

/* ---- SQLite's allocator -------------------------------------------- */

/* Each block carries its size in front, for xSize; 16 bytes keep the
 * caller's part aligned for any type. */
#define SQ_HDR 16

static long sq_live; /* blocks SQLite holds */

static void *sq_malloc(int n)
{
    char *p;

    if (n <= 0)
        return NULL;
    if (arm_sqlite && should_fail("SQLite"))
        return NULL;
    p = malloc(SQ_HDR + (size_t)n);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    sq_live++;
    return p + SQ_HDR;
}

static void sq_free(void *p)
{
    if (!p)
        return;
    sq_live--;
    free((char *)p - SQ_HDR);
}

static void *sq_realloc(void *p, int n)
{
    char *q;

    if (!p)
        return sq_malloc(n);
    if (n <= 0)
        return NULL;
    if (arm_sqlite && should_fail("SQLite"))
        return NULL;
    q = realloc((char *)p - SQ_HDR, SQ_HDR + (size_t)n);
    if (!q)
        return NULL;
    memcpy(q, &n, sizeof n);
    return q + SQ_HDR;
}

static int sq_size(void *p)
{
    int n;

    if (!p)
        return 0;
    memcpy(&n, (char *)p - SQ_HDR, sizeof n);
    return n;
}

static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}

static int sq_init(void *arg)
{
    (void)arg;
    return SQLITE_OK;
}

static void sq_shutdown(void *arg)
{
    (void)arg;
}

static const sqlite3_mem_methods sq_methods = {
    sq_malloc, sq_free, sq_realloc, sq_size, sq_roundup, sq_init,
    sq_shutdown, NULL
};

/* ---- the scenario -------------------------------------------------- */

struct backend {
    const char *url;
    const char *ddl;
    int sqlite; /* SQLite's allocations may fail too */
};

/* How a run ended. */
struct outcome {
    int completed;      /* every call succeeded */
    const char *call;   /* the first call that failed */
    int rc;             /* and what it returned */
    int errcode;        /* dal_errcode() after it (-1: no handle) */
    char msg[256];      /* dal_errmsg() after it */
    const char *bad;    /* a wrong result of a call that succeeded */
};

static const unsigned char blob1[] = {0x00, 0xff, 0x10, 0x00, 0x7f};
static const unsigned char blob2[] = {0xde, 0xad, 0xbe, 0xef};
static const char *const names[] = {"alice", "bob", "carol"};

#define STEP(name, expr, want) \
    do { \
        const char *call_ = (name); \
        rc = (expr); \
        if (rc != (want)) { \
            o->call = call_; \
            goto failed; \
        } \
    } while (0)

static void run_scenario(const struct backend *be, struct outcome *o)
{
    dal_value params[3];
    dal_stmt *ins = NULL, *sel = NULL;
    dal_db *db = NULL;
    char *txt = NULL;
    const char *s;
    const void *b;
    size_t len;
    int rc, row;

    memset(o, 0, sizeof *o);
    o->errcode = -1;

    rc = dal_open(be->url, &db);
    if (rc != DAL_OK || !db) {
        o->call = "dal_open";
        if (rc == DAL_OK)
            o->bad = "dal_open returned DAL_OK and a NULL handle";
        goto failed;
    }
    STEP("dal_exec CREATE TABLE", dal_exec(db, be->ddl), DAL_OK);

    STEP("dal_prepare INSERT",
         dal_prepare(db, "INSERT INTO t(id, name, data) VALUES (?, ?, ?)",
                     &ins),
         DAL_OK);
    if (!ins) {
        o->call = "dal_prepare INSERT";
        o->bad = "dal_prepare returned DAL_OK and a NULL statement";
        goto failed;
    }
    STEP("dal_bind_int64", dal_bind_int64(ins, 1, 1), DAL_OK);
    STEP("dal_bind_text",
         dal_bind_text(ins, 2, names[0], DAL_NTS, DAL_TRANSIENT), DAL_OK);
    STEP("dal_bind_blob",
         dal_bind_blob(ins, 3, blob1, sizeof blob1, DAL_TRANSIENT), DAL_OK);
    STEP("dal_step INSERT", dal_step(ins), DAL_DONE);
    STEP("dal_reset INSERT", dal_reset(ins), DAL_OK);

    /* Twice the same text: the second run takes the cached statement. */
    params[0] = DAL_V_INT64(2);
    params[1] = DAL_V_TEXT(names[1]);
    params[2] = DAL_V_BLOB(blob2, sizeof blob2);
    STEP("dal_exec_params INSERT 2",
         dal_exec_params(db, "INSERT INTO t(id, name, data) "
                         "VALUES ($1, $2, $3)", params, 3),
         DAL_OK);
    params[0] = DAL_V_INT64(3);
    params[1] = DAL_V_TEXT(names[2]);
    params[2] = DAL_V_BLOB(blob1, sizeof blob1);
    STEP("dal_exec_params INSERT 3",
         dal_exec_params(db, "INSERT INTO t(id, name, data) "
                         "VALUES ($1, $2, $3)", params, 3),
         DAL_OK);

    params[0] = DAL_V_INT64(2);
    STEP("dal_query_text",
         dal_query_text(db, "SELECT name FROM t WHERE id = :id", params, 1,
                        &txt, &len),
         DAL_OK);
    if (!txt || len != 3 || strcmp(txt, "bob") != 0) {
        o->call = "dal_query_text";
        o->bad = "dal_query_text returned DAL_OK and the wrong text";
        goto failed;
    }
    dal_free(txt);
    txt = NULL;

    STEP("dal_prepare SELECT",
         dal_prepare(db, "SELECT id, name, data FROM t ORDER BY id", &sel),
         DAL_OK);
    for (row = 0; row < 3; row++) {
        STEP("dal_step SELECT", dal_step(sel), DAL_ROW);
        if (dal_column_int64(sel, 0) != row + 1) {
            o->call = "dal_column_int64";
            o->bad = "wrong id";
            goto failed;
        }
        s = dal_column_text(sel, 1, &len);
        if (!s) {
            o->call = "dal_column_text";
            rc = dal_errcode(db);
            goto failed;
        }
        if (len != strlen(names[row]) || strcmp(s, names[row]) != 0) {
            o->call = "dal_column_text";
            o->bad = "wrong text";
            goto failed;
        }
        b = dal_column_blob(sel, 2, &len);
        if (!b) {
            o->call = "dal_column_blob";
            rc = dal_errcode(db);
            goto failed;
        }
        if (row == 1 ? len != sizeof blob2 || memcmp(b, blob2, len)
                     : len != sizeof blob1 || memcmp(b, blob1, len)) {
            o->call = "dal_column_blob";
            o->bad = "wrong blob";
            goto failed;
        }
    }
    STEP("dal_step SELECT end", dal_step(sel), DAL_DONE);

    STEP("dal_begin", dal_begin(db, 0), DAL_OK);
    STEP("dal_exec DELETE", dal_exec(db, "DELETE FROM t WHERE id = 3"),
         DAL_OK);
    STEP("dal_commit", dal_commit(db), DAL_OK);

    dal_finalize(ins);
    dal_finalize(sel);
    dal_close(db);
    o->completed = 1;
    return;

failed:
    o->rc = rc;
    if (db) {
        o->errcode = dal_errcode(db);
        snprintf(o->msg, sizeof o->msg, "%s", dal_errmsg(db));
    }
    dal_free(txt);
    dal_finalize(ins);
    dal_finalize(sel);
    dal_close(db);
}

/* ---- the driver loop ----------------------------------------------- */

static const char *mode_name(void)
{
    return fail_sticky ? "sticky" : "once";
}

/* One run with nothing failing; returns nonzero when it completed. */
static int clean_run(const struct backend *be)
{
    struct outcome o;

    fail_at = 0;
    alloc_seq = 0;
    injected = 0;
    run_scenario(be, &o);
    if (!o.completed)
        fprintf(stderr, "nomem: clean run on %s failed at %s: rc %d "
                "(%s) %s\n", be->url, o.call ? o.call : "?", o.rc,
                o.msg, o.bad ? o.bad : "");
    return o.completed;
}

static void torture(const struct backend *be, int sticky)
{
    long n, sq_base, anomalies = 0, leaks = 0, allocs;
    struct outcome o;

    arm_dal = 0;
    arm_sqlite = 0;
    fail_sticky = sticky;

    /* The first run sets up what SQLite keeps for the whole process; the
     * second shows what a complete run leaves behind. */
    ck_assert_msg(clean_run(be), "the scenario fails without injection");
    ck_assert_int_eq(dal_live, 0);
    sq_base = sq_live;
    ck_assert_msg(clean_run(be), "the scenario fails without injection");
    ck_assert_int_eq(dal_live, 0);
    ck_assert_msg(sq_live == sq_base, "SQLite holds %ld blocks after a "
                  "clean run, %ld after the one before", sq_live, sq_base);

    /* How many allocations one clean run makes, armed. */
    arm_dal = 1;
    arm_sqlite = be->sqlite;
    fail_at = 0;
    alloc_seq = 0;
    injected = 0;
    run_scenario(be, &o);
    ck_assert(o.completed);
    allocs = alloc_seq;

    for (n = 1; n <= MAX_RUNS; n++) {
        fail_at = n;
        alloc_seq = 0;
        injected = 0;
        run_scenario(be, &o);

        /* run_scenario() has cleaned up: in sticky mode with every
         * allocation still failing, so destructors must not need any. */
        if (!o.completed) {
            int ok = o.rc == DAL_NOMEM && !o.bad
                     && (o.errcode == -1 || o.errcode == DAL_NOMEM);

            if (!ok) {
                anomalies++;
                fprintf(stderr, "nomem: %s mode=%s N=%ld: %s returned %d "
                        "(%s), dal_errcode %d, message \"%s\"%s%s\n",
                        be->url, mode_name(), n, o.call, o.rc,
                        dal_errstr(o.rc), o.errcode, o.msg,
                        o.bad ? ": " : "", o.bad ? o.bad : "");
            } else if (!injected) {
                anomalies++;
                fprintf(stderr, "nomem: %s mode=%s N=%ld: %s returned "
                        "DAL_NOMEM with no allocation failed\n", be->url,
                        mode_name(), n, o.call);
            }
        }
        if (verbose)
            fprintf(stderr, "nomem: N=%ld %s: %s%s rc %d (%s)\n", n,
                    injected ? injected_in : "-",
                    o.completed ? "completed" : "stopped at ",
                    o.completed ? "" : o.call, o.rc, dal_errstr(o.rc));
        if (dal_live != 0 || sq_live != sq_base) {
            leaks++;
            fprintf(stderr, "nomem: %s mode=%s N=%ld (%s, rc %d): "
                    "libdal holds %ld blocks, SQLite %ld more than "
                    "after a clean run\n", be->url, mode_name(), n,
                    o.completed ? "completed" : o.call, o.rc, dal_live,
                    sq_live - sq_base);
            /* Count from here on, so one leak is reported once. */
            dal_live = 0;
            sq_base = sq_live;
        }
        if (!injected)
            break;
    }
    fprintf(stderr, "nomem: %s mode=%s: %ld runs, %ld allocations in a "
            "clean run, %ld anomalies, %ld leaks\n", be->url, mode_name(),
            n, allocs, anomalies, leaks);
    ck_assert_msg(n <= MAX_RUNS, "never completed");
    ck_assert_msg(n > 20, "only %ld runs: were failures injected?", n);
    ck_assert_msg(n == allocs + 1, "%ld runs for %ld allocations: the "
                  "allocation sequence is not deterministic", n, allocs);
    ck_assert_msg(anomalies == 0, "%ld runs failed with a code other than "
                  "DAL_NOMEM (see stderr)", anomalies);
    ck_assert_msg(leaks == 0, "%ld runs leaked (see stderr)", leaks);
}

static const struct backend sqlite_mem = {
    "sqlite::memory:",
    "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, data BLOB)", 1
};

static struct backend pg = {
    NULL, "CREATE TEMP TABLE t(id bigint PRIMARY KEY, name text, "
    "data bytea)", 0
};

START_TEST(test_sqlite_once)
{
    torture(&sqlite_mem, 0);
}
END_TEST

START_TEST(test_sqlite_sticky)
{
    torture(&sqlite_mem, 1);
}
END_TEST

START_TEST(test_pg_once)
{
    torture(&pg, 0);
}
END_TEST

START_TEST(test_pg_sticky)
{
    torture(&pg, 1);
}
END_TEST

/* dal_open() reports a NULL handle only as DAL_NOMEM, and dal_errcode()
 * of NULL agrees. */
START_TEST(test_open_first_alloc)
{
    dal_db *db = (dal_db *)&db;
    int rc;

    arm_dal = 1;
    arm_sqlite = 0;
    fail_sticky = 0;
    fail_at = 1;
    alloc_seq = 0;
    injected = 0;
    rc = dal_open("sqlite::memory:", &db);
    fail_at = 0;
    arm_dal = 0;
    ck_assert_int_eq(injected, 1);
    ck_assert_int_eq(rc, DAL_NOMEM);
    ck_assert_ptr_null(db);
    ck_assert_int_eq(dal_errcode(NULL), DAL_NOMEM);
    ck_assert_int_eq(dal_live, 0);
}
END_TEST

static Suite *nomem_suite(void)
{
    Suite *s = suite_create("nomem");
    TCase *tc;

    tc = tcase_create("sqlite");
    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, test_open_first_alloc);
    tcase_add_test(tc, test_sqlite_once);
    tcase_add_test(tc, test_sqlite_sticky);
    suite_add_tcase(s, tc);

    verbose = getenv("DAL_NOMEM_VERBOSE") != NULL;
    pg.url = getenv("DAL_TEST_PG_URL");
    if (pg.url && *pg.url) {
        tc = tcase_create("postgres");
        tcase_set_timeout(tc, 1800);
        tcase_add_test(tc, test_pg_once);
        tcase_add_test(tc, test_pg_sticky);
        suite_add_tcase(s, tc);
    } else {
        fprintf(stderr, "nomem: DAL_TEST_PG_URL not set, skipping the "
                "PostgreSQL runs\n");
    }
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    /* SQLite takes its allocator only before it is first used. */
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sq_methods) != SQLITE_OK) {
        fprintf(stderr, "nomem: sqlite3_config(SQLITE_CONFIG_MALLOC) "
                "failed\n");
        return EXIT_FAILURE;
    }
    if (sqlite3_initialize() != SQLITE_OK) {
        fprintf(stderr, "nomem: sqlite3_initialize failed\n");
        return EXIT_FAILURE;
    }
    if (dal_set_allocator(t_malloc, t_realloc, t_free) != DAL_OK) {
        fprintf(stderr, "nomem: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    sr = srunner_create(nomem_suite());
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
