/*
 * tests/async.c - libdal on a libuv loop (include/dal/async.h). One set
 * of tests, with the same assertions, runs on every backend:
 *   async[sqlite-mem]   sqlite::memory: (each connection is a database
 *                       of its own: tests with tables use one)
 *   async[sqlite-file]  sqlite:///tmp/... (a fresh WAL file per test)
 *   async[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 *
 * Run:  tests/pg/with-pg.sh build/tests/async
 * CK_RUN_SUITE='async[postgres]' and CK_RUN_CASE=stress narrow a run;
 * CK_FORK=no runs in one process (for gdb and valgrind).
 *
 * Every test runs its own uv loop to the end and checks that the loop
 * closes (no handle left behind) and that libdal holds as many blocks
 * as before (the counting allocator of harness.h, atomic because the
 * thread glue allocates on its threads). Nothing here asserts a time:
 * order and counts only.
 */
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dal/async.h>
#include <dal.h>

#include "harness.h"

enum backend { BE_SQLITE_MEM, BE_SQLITE_FILE, BE_POSTGRES };

static const char *test_url;
static enum backend test_backend;
static char file_path[128];
static char file_url[200];
static int file_seq;
static uv_loop_t loop;
static dal_async *h;
static int opened, open_status, closed;

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int is_pg(void)
{
    return test_backend == BE_POSTGRES;
}

static int is_mem(void)
{
    return test_backend == BE_SQLITE_MEM;
}

/* ---- fixture ---------------------------------------------------------- */

static void setup(void)
{
    base_blocks = live_blocks;
    nomem_arm(0);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    h = NULL;
    opened = closed = 0;
    open_status = -1;
    if (test_backend == BE_SQLITE_FILE) {
        snprintf(file_path, sizeof file_path, "/tmp/dal-async-%ld-%d.db",
                 (long)getpid(), ++file_seq);
        unlink(file_path);
        snprintf(file_url, sizeof file_url, "sqlite://%s?journal=wal",
                 file_path);
        test_url = file_url;
    }
}

static void rm_file(const char *suffix)
{
    char p[160];

    snprintf(p, sizeof p, "%s%s", file_path, suffix);
    unlink(p);
}

static void on_close_teardown(dal_async *a)
{
    (void)a;
}

static void teardown(void)
{
    nomem_arm(0);
    /* A test that failed half-way left its handle open. */
    if (h && !closed)
        dal_async_close(h, on_close_teardown);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_msg(uv_loop_close(&loop) == 0, "a handle is left open");
    if (test_backend == BE_SQLITE_FILE) {
        rm_file("");
        rm_file("-wal");
        rm_file("-shm");
    }
    ck_assert_msg(live_blocks == base_blocks, "leak: %ld blocks",
                  (long)(live_blocks - base_blocks));
}

static void on_open(dal_async *a, int status)
{
    ck_assert_ptr_eq(a, h);
    ck_assert_int_eq(opened, 0);
    opened = 1;
    open_status = status;
}

static void on_close(dal_async *a)
{
    (void)a;
    ck_assert_int_eq(closed, 0);
    closed = 1;
}

/* Run the loop until *flag is set. */
static void run_until(const int *flag)
{
    while (!*flag)
        ck_assert_msg(uv_run(&loop, UV_RUN_ONCE) != 0 || *flag,
                      "the loop ran out of work");
}

static void open_h(int nconn)
{
    int rc = dal_async_open(&loop, test_url, nconn, on_open, NULL, &h);

    ck_assert_msg(rc == DAL_OK, "open -> %d", rc);
    run_until(&opened);
    ck_assert_msg(open_status == DAL_OK, "open status %d: %s", open_status,
                  dal_async_errmsg(h));
}

static void close_h(void)
{
    ck_assert_int_eq(dal_async_close(h, on_close), DAL_OK);
    run_until(&closed);
    h = NULL;
}

/* ---- one request, run to its end -------------------------------------- */

typedef struct qres {
    int done;
    int status;
    dal_result *res;
    char sqlstate[6];
    char msg[256];
} qres;

static void on_query(dal_async_req *req, int status, dal_result *res)
{
    qres *q = req->data;

    ck_assert_int_eq(q->done, 0);
    q->done = 1;
    q->status = status;
    snprintf(q->sqlstate, sizeof q->sqlstate, "%s",
             dal_async_req_sqlstate(req));
    snprintf(q->msg, sizeof q->msg, "%s", dal_async_req_errmsg(req));
    if (status == DAL_OK) {
        ck_assert_ptr_nonnull(res);
        q->res = dal_result_ref(res);
    } else {
        ck_assert_ptr_null(res);
    }
}

/* Run sql with params on target and wait: the status; *out the rows. */
static int query_on(dal_async *target, const char *sql,
                    const dal_value *params, int n, qres *q)
{
    dal_async_req req;
    int rc;

    memset(q, 0, sizeof *q);
    memset(&req, 0, sizeof req);
    req.data = q;
    rc = dal_async_query(&req, target, sql, params, n, on_query);
    ck_assert_msg(rc == DAL_OK, "%s -> %d: %s", sql, rc,
                  dal_async_errmsg(target));
    run_until(&q->done);
    return q->status;
}

static void exec_ok(const char *sql)
{
    qres q;
    int st = query_on(h, sql, NULL, 0, &q);

    ck_assert_msg(st == DAL_OK, "%s -> %d [%s] %s", sql, st, q.sqlstate,
                  q.msg);
    dal_result_free(q.res);
}

static int64_t scalar(dal_async *target, const char *sql)
{
    qres q;
    int64_t v;
    int st = query_on(target, sql, NULL, 0, &q);

    ck_assert_msg(st == DAL_OK, "%s -> %d [%s] %s", sql, st, q.sqlstate,
                  q.msg);
    ck_assert_int_eq(dal_result_row_count(q.res), 1);
    v = dal_result_int64(q.res, 0, 0);
    dal_result_free(q.res);
    return v;
}

static void make_table(const char *name)
{
    char sql[256];

    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", name);
    exec_ok(sql);
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id BIGINT PRIMARY KEY, "
             "name TEXT UNIQUE, score DOUBLE PRECISION, note TEXT)", name);
    exec_ok(sql);
}

/* ---- queries and errors ----------------------------------------------- */

START_TEST(t_query)
{
    dal_value p[] = {DAL_V_INT64(1), DAL_V_TEXT("ann"), DAL_V_DOUBLE(2.5),
                     DAL_V_NULL};
    const dal_value *v;
    size_t len;
    qres q;

    open_h(1);
    make_table("aq_t");
    ck_assert_int_eq(query_on(h, "INSERT INTO aq_t VALUES (?, ?, ?, ?)", p,
                              4, &q), DAL_OK);
    ck_assert_int_eq(dal_result_changes(q.res), 1);
    ck_assert_int_eq(dal_result_row_count(q.res), 0);
    dal_result_free(q.res);
    p[0] = DAL_V_INT64(2);
    p[1] = DAL_V_TEXT("bob");
    p[3] = DAL_V_TEXT("x");
    ck_assert_int_eq(query_on(h, "INSERT INTO aq_t VALUES ($1, $2, $3, $4)",
                              p, 4, &q), DAL_OK);
    dal_result_free(q.res);

    ck_assert_int_eq(query_on(h, "SELECT id, name, score, note FROM aq_t "
                              "WHERE id >= :lo ORDER BY id",
                              (dal_value[]){DAL_V_INT64(1)}, 1, &q), DAL_OK);
    ck_assert_int_eq(dal_result_column_count(q.res), 4);
    ck_assert_str_eq(dal_result_column_name(q.res, 1), "name");
    ck_assert_int_eq(dal_result_row_count(q.res), 2);
    ck_assert_int_eq(dal_result_int64(q.res, 0, 0), 1);
    ck_assert_str_eq(dal_result_text(q.res, 0, 1, &len), "ann");
    ck_assert_uint_eq(len, 3);
    ck_assert(dal_result_double(q.res, 0, 2) == 2.5);
    ck_assert(dal_result_is_null(q.res, 0, 3));
    ck_assert_str_eq(dal_result_text(q.res, 1, 3, NULL), "x");
    v = dal_result_value(q.res, 1, 0);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->type, DAL_TYPE_INT64);
    ck_assert_int_eq(v->u.i, 2);
    ck_assert_ptr_null(dal_result_value(q.res, 2, 0));
    ck_assert_ptr_null(dal_result_text(q.res, 0, 0, NULL));
    dal_result_free(q.res);

    /* 64-bit integers are exact. */
    ck_assert(scalar(h, "SELECT CAST(9007199254740993 AS BIGINT)")
              == INT64_C(9007199254740993));

    ck_assert_int_eq(query_on(h, "UPDATE aq_t SET score = score + 1", NULL,
                              0, &q), DAL_OK);
    ck_assert_int_eq(dal_result_changes(q.res), 2);
    dal_result_free(q.res);
    close_h();
}
END_TEST

START_TEST(t_errors)
{
    dal_async_req req;
    qres q;

    open_h(1);
    make_table("ae_t");
    exec_ok("INSERT INTO ae_t (id, name) VALUES (1, 'ann')");
    ck_assert_int_eq(query_on(h, "INSERT INTO ae_t (id, name) VALUES "
                              "(2, 'ann')", NULL, 0, &q), DAL_E_CONSTRAINT);
    ck_assert_str_eq(q.sqlstate, "23505");
    ck_assert_msg(q.msg[0] != '\0', "no message");
    ck_assert_int_eq(query_on(h, "SELECT * FROM ae_nosuch", NULL, 0, &q),
                     DAL_E_SYNTAX);
    ck_assert_str_eq(q.sqlstate, "42P01");
    ck_assert_msg(strstr(q.msg, "ae_nosuch") != NULL, "%s", q.msg);
    /* The connection goes on after errors. */
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM ae_t"), 1);
    /* A text run before (its translation kept) is still checked against
     * the parameters given. */
    {
        dal_value one = DAL_V_INT64(7);

        ck_assert_int_eq(query_on(h, "SELECT ? + 1", &one, 1, &q), DAL_OK);
        ck_assert_int_eq(dal_result_int64(q.res, 0, 0), 8);
        dal_result_free(q.res);
        memset(&req, 0, sizeof req);
        req.data = &q;
        ck_assert_int_eq(dal_async_query(&req, h, "SELECT ? + 1", NULL, 0,
                                         on_query), DAL_E_RANGE);
        one.u.i = 41;
        ck_assert_int_eq(query_on(h, "SELECT ? + 1", &one, 1, &q), DAL_OK);
        ck_assert_int_eq(dal_result_int64(q.res, 0, 0), 42);
        dal_result_free(q.res);
    }

    /* Errors returned by the call: the callback never runs. */
    memset(&req, 0, sizeof req);
    req.data = &q;
    memset(&q, 0, sizeof q);
    ck_assert_int_eq(dal_async_query(&req, h, "SELECT ?", NULL, 0,
                                     on_query), DAL_E_RANGE);
    ck_assert_int_eq(dal_async_query(&req, h, "SELECT 1; SELECT 2", NULL, 0,
                                     on_query), DAL_E_MISUSE);
    ck_assert_int_eq(dal_async_query(NULL, h, "SELECT 1", NULL, 0,
                                     on_query), DAL_E_MISUSE);
    ck_assert_int_eq(dal_async_query(&req, h, "SELECT 1", NULL, 0, NULL),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_async_cancel(&req), DAL_E_MISUSE);
    ck_assert_int_eq(dal_async_pending(h), 0);
    ck_assert_int_eq(dal_async_close(h, on_close), DAL_OK);
    ck_assert_int_eq(dal_async_close(h, on_close), DAL_E_MISUSE);
    ck_assert_int_eq(dal_async_query(&req, h, "SELECT 1", NULL, 0,
                                     on_query), DAL_E_CLOSED);
    run_until(&closed);
    ck_assert_int_eq(q.done, 0);
}
END_TEST

START_TEST(t_open_errors)
{
    dal_async *x = NULL;

    ck_assert_int_eq(dal_async_open(&loop, "nosuch://x", 1, on_open, NULL,
                                    &x), DAL_E_URL);
    ck_assert_ptr_null(x);
    ck_assert_int_eq(dal_async_open(&loop, "sqlite::memory:", 0, on_open,
                                    NULL, &x), DAL_E_MISUSE);
    ck_assert_int_eq(dal_async_open(NULL, "sqlite::memory:", 1, on_open,
                                    NULL, &x), DAL_E_MISUSE);
    /* A connection that cannot open: the callback says so, the handle is
     * closed as usual, and a request on it fails with the same error. */
    ck_assert_int_eq(dal_async_open(&loop, "sqlite:///nonexistent-dir/x.db"
                                    "?mode=ro", 2, on_open, &x, &h),
                     DAL_OK);
    ck_assert_ptr_eq(dal_async_data(h), &x);
    run_until(&opened);
    ck_assert_int_eq(open_status, DAL_E_CONNECT);
    ck_assert_msg(dal_async_errmsg(h)[0] != '\0', "no message");
    {
        qres q;

        ck_assert_int_eq(query_on(h, "SELECT 1", NULL, 0, &q),
                         DAL_E_CONNECT);
    }
    close_h();
    ck_assert_int_eq(opened, 1);
}
END_TEST

/* Close before the open finished: the open callback runs first, with
 * DAL_E_CLOSED, then the close callback. */
static void on_close_after_open(dal_async *a)
{
    (void)a;
    ck_assert_int_eq(opened, 1);
    closed = 1;
}

START_TEST(t_close_while_opening)
{
    ck_assert_int_eq(dal_async_open(&loop, test_url, 3, on_open, NULL, &h),
                     DAL_OK);
    ck_assert_int_eq(dal_async_close(h, on_close_after_open), DAL_OK);
    run_until(&closed);
    ck_assert_int_eq(open_status, DAL_E_CLOSED);
}
END_TEST

/* ---- AST and model loads --------------------------------------------- */

START_TEST(t_ast)
{
    dal_async_req req;
    dal_query *q;
    qres r;

    open_h(1);
    make_table("aa_t");
    exec_ok("INSERT INTO aa_t (id, name, score) VALUES (1, 'ann', 1.5), "
            "(2, 'bob', 2.5), (3, 'cy', 3.5)");
    q = dal_select(dal_col("name"), dal_col("score"));
    dal_q_from(q, "aa_t");
    dal_q_where(q, dal_gt(dal_col("score"), dal_double(2.0)));
    dal_q_order_by(q, dal_desc(dal_col("id")));
    memset(&req, 0, sizeof req);
    memset(&r, 0, sizeof r);
    req.data = &r;
    ck_assert_int_eq(dal_async_query_ast(&req, h, q, on_query), DAL_OK);
    /* The query is compiled by then: the caller may free it. */
    dal_query_free(q);
    run_until(&r.done);
    ck_assert_int_eq(r.status, DAL_OK);
    ck_assert_int_eq(dal_result_row_count(r.res), 2);
    ck_assert_str_eq(dal_result_text(r.res, 0, 0, NULL), "cy");
    ck_assert_str_eq(dal_result_text(r.res, 1, 0, NULL), "bob");
    dal_result_free(r.res);

    /* dal_param() slots have nothing to bind them. */
    q = dal_select(dal_col("name"));
    dal_q_from(q, "aa_t");
    dal_q_where(q, dal_eq(dal_col("id"), dal_param("id")));
    ck_assert_int_eq(dal_async_query_ast(&req, h, q, on_query),
                     DAL_E_MISUSE);
    dal_query_free(q);
    close_h();
}
END_TEST

typedef struct person {
    int64_t id;
    char *name;
    double score;
    int32_t age;
} person;

static const dal_field person_fields[] = {
    DAL_FIELD(person, id, DAL_F_INT64, DAL_F_PK),
    DAL_FIELD(person, name, DAL_F_TEXT, 0),
    DAL_FIELD(person, score, DAL_F_DOUBLE, 0),
    DAL_FIELD(person, age, DAL_F_INT32, 0),
};
static const dal_model person_model =
    DAL_MODEL(person, "ap_person", person_fields);

typedef struct rowsres {
    int done, status;
    dal_rows *rows;
} rowsres;

static void on_rows(dal_async_req *req, int status, dal_rows *rows)
{
    rowsres *x = req->data;

    ck_assert_int_eq(x->done, 0);
    x->done = 1;
    x->status = status;
    if (rows) {
        dal_async_keep(req);
        x->rows = rows;
    }
}

START_TEST(t_model)
{
    dal_async_req req;
    rowsres x;
    person *p;

    open_h(1);
    exec_ok("DROP TABLE IF EXISTS ap_person");
    exec_ok("CREATE TABLE ap_person (id BIGINT PRIMARY KEY, name TEXT, "
            "score DOUBLE PRECISION, age INTEGER)");
    exec_ok("INSERT INTO ap_person VALUES (1, 'ann', 1.5, 31), "
            "(2, NULL, 2.5, 42), (3, 'cy', 3.5, 53)");
    memset(&req, 0, sizeof req);
    memset(&x, 0, sizeof x);
    req.data = &x;
    ck_assert_int_eq(dal_async_model_query(&req, h, &person_model,
                                           dal_ge(dal_col("age"),
                                                  dal_int(40)),
                                           NULL, 0, 0, on_rows), DAL_OK);
    run_until(&x.done);
    ck_assert_int_eq(x.status, DAL_OK);
    ck_assert_int_eq(dal_rows_count(x.rows), 2);
    p = dal_rows_at(x.rows, 0);
    ck_assert_int_eq(p->id, 2);
    ck_assert_ptr_null(p->name);
    ck_assert(p->score == 2.5);
    ck_assert_int_eq(p->age, 42);
    p = dal_rows_at(x.rows, 1);
    ck_assert_int_eq(p->id, 3);
    ck_assert_str_eq(p->name, "cy");
    ck_assert_int_eq(p->age, 53);
    dal_rows_free(x.rows);

    /* A bad descriptor is returned, and the condition is freed. */
    {
        static const dal_field nopk[] = {
            DAL_FIELD(person, id, DAL_F_INT64, 0),
        };
        static const dal_model bad = DAL_MODEL(person, "ap_person", nopk);

        ck_assert_int_eq(dal_async_model_query(&req, h, &bad,
                                               dal_eq(dal_col("id"),
                                                      dal_int(1)),
                                               NULL, 0, 0, on_rows),
                         DAL_E_MISUSE);
        ck_assert_msg(strstr(dal_async_errmsg(h), "primary key") != NULL,
                      "%s", dal_async_errmsg(h));
    }
    close_h();
}
END_TEST

/* ---- transactions ----------------------------------------------------- */

typedef struct txres {
    int done, status;
    dal_async *tx;
    int seq;
} txres;

static int seq_counter;

static void on_tx(dal_async_req *req, int status, dal_async *tx)
{
    txres *t = req->data;

    ck_assert_int_eq(t->done, 0);
    t->done = 1;
    t->status = status;
    t->tx = tx;
    t->seq = ++seq_counter;
}

static void on_done(dal_async_req *req, int status)
{
    txres *t = req->data;

    ck_assert_int_eq(t->done, 0);
    t->done = 1;
    t->status = status;
    t->seq = ++seq_counter;
}

static dal_async *begin_tx(void)
{
    dal_async_req req;
    txres t;

    memset(&req, 0, sizeof req);
    memset(&t, 0, sizeof t);
    req.data = &t;
    ck_assert_int_eq(dal_async_begin(&req, h, 0, on_tx), DAL_OK);
    run_until(&t.done);
    ck_assert_int_eq(t.status, DAL_OK);
    ck_assert_ptr_nonnull(t.tx);
    return t.tx;
}

static int end_tx(dal_async *tx, int commit)
{
    dal_async_req req;
    txres t;

    memset(&req, 0, sizeof req);
    memset(&t, 0, sizeof t);
    req.data = &t;
    ck_assert_int_eq(commit ? dal_async_commit(&req, tx, on_done)
                            : dal_async_rollback(&req, tx, on_done),
                     DAL_OK);
    run_until(&t.done);
    return t.status;
}

START_TEST(t_tx)
{
    dal_async *tx;
    dal_async_req req;
    qres q;

    open_h(is_mem() ? 1 : 2);
    make_table("at_t");
    tx = begin_tx();
    ck_assert_int_eq(query_on(tx, "INSERT INTO at_t (id) VALUES (1)", NULL,
                              0, &q), DAL_OK);
    dal_result_free(q.res);
    ck_assert_int_eq(scalar(tx, "SELECT count(*) FROM at_t"), 1);
    if (!is_mem())
        /* The pool's other connection does not see the open
         * transaction's row: the query did not run inside it. */
        ck_assert_int_eq(scalar(h, "SELECT count(*) FROM at_t"), 0);
    ck_assert_int_eq(dal_async_begin(&req, tx, 0, on_tx), DAL_E_MISUSE);
    ck_assert_int_eq(end_tx(tx, 0), DAL_OK);
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM at_t"), 0);

    tx = begin_tx();
    ck_assert_int_eq(query_on(tx, "INSERT INTO at_t (id) VALUES (2)", NULL,
                              0, &q), DAL_OK);
    dal_result_free(q.res);
    ck_assert_int_eq(end_tx(tx, 1), DAL_OK);
    ck_assert_int_eq(scalar(h, "SELECT sum(id) FROM at_t"), 2);

    /* A failed COMMIT still ends the transaction (and frees it). */
    tx = begin_tx();
    if (is_pg()) {
        ck_assert_int_eq(query_on(tx, "SELECT * FROM at_nosuch", NULL, 0,
                                  &q), DAL_E_SYNTAX);
        ck_assert_int_eq(end_tx(tx, 1), DAL_OK);
    } else {
        ck_assert_int_eq(end_tx(tx, 1), DAL_OK);
    }
    ck_assert_int_eq(scalar(h, "SELECT count(*) FROM at_t"), 1);
    close_h();
}
END_TEST

/* A transaction begun with flags: the same flags as dal_begin(), with
 * the same meaning on every backend. */
static dal_async *begin_flags(int flags)
{
    dal_async_req req;
    txres t;

    memset(&req, 0, sizeof req);
    memset(&t, 0, sizeof t);
    req.data = &t;
    ck_assert_int_eq(dal_async_begin(&req, h, flags, on_tx), DAL_OK);
    run_until(&t.done);
    ck_assert_int_eq(t.status, DAL_OK);
    ck_assert_ptr_nonnull(t.tx);
    return t.tx;
}

START_TEST(t_tx_flags)
{
    dal_async *tx;
    dal_async_req req;
    txres t;
    qres q;
    size_t len;
    int i;

    /* One connection: the writes after each read-only transaction run
     * where it ran, so they show that it was undone at its end. */
    open_h(1);
    make_table("atf_t");
    for (i = 0; i < 2; i++) {
        tx = begin_flags(DAL_TX_READ_ONLY);
        ck_assert_int_eq(scalar(tx, "SELECT count(*) FROM atf_t"), i);
        if (i == 0) {
            ck_assert_int_eq(query_on(tx, "INSERT INTO atf_t (id) "
                                      "VALUES (9)", NULL, 0, &q),
                             DAL_E_READONLY);
            dal_result_free(q.res);
            if (is_pg())
                ck_assert_str_eq(q.sqlstate, "25006");
        }
        /* Rolled back the first time, committed the second. */
        ck_assert_int_eq(end_tx(tx, i), DAL_OK);
        ck_assert_int_eq(query_on(h, i ? "INSERT INTO atf_t (id) VALUES (2)"
                                       : "INSERT INTO atf_t (id) VALUES (1)",
                                  NULL, 0, &q), DAL_OK);
        dal_result_free(q.res);
    }
    ck_assert_int_eq(scalar(h, "SELECT sum(id) FROM atf_t"), 3);

    tx = begin_flags(DAL_TX_SERIALIZABLE | DAL_TX_IMMEDIATE);
    if (is_pg()) {
        ck_assert_int_eq(query_on(tx, "SHOW transaction_isolation", NULL, 0,
                                  &q), DAL_OK);
        ck_assert_str_eq(dal_result_text(q.res, 0, 0, &len),
                         "serializable");
        dal_result_free(q.res);
    }
    ck_assert_int_eq(query_on(tx, "INSERT INTO atf_t (id) VALUES (4)", NULL,
                              0, &q), DAL_OK);
    dal_result_free(q.res);
    ck_assert_int_eq(end_tx(tx, 1), DAL_OK);
    ck_assert_int_eq(scalar(h, "SELECT sum(id) FROM atf_t"), 7);

    /* Invalid flags: refused, and the callback never runs. */
    memset(&req, 0, sizeof req);
    memset(&t, 0, sizeof t);
    req.data = &t;
    ck_assert_int_eq(dal_async_begin(&req, h, DAL_TX_IMMEDIATE
                                     | DAL_TX_EXCLUSIVE, on_tx),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_async_begin(&req, h, DAL_TX_READ_COMMITTED
                                     | DAL_TX_SERIALIZABLE, on_tx),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_async_begin(&req, h, 0x40000, on_tx),
                     DAL_E_MISUSE);
    close_h();
    ck_assert_int_eq(t.done, 0);
}
END_TEST

/* With every connection in a transaction, a pool query waits for one to
 * end: its callback comes after the COMMIT's. */
START_TEST(t_tx_waits)
{
    dal_async_req cr, qr;
    dal_async *tx;
    txres ct;
    qres q;

    open_h(1);
    tx = begin_tx();
    memset(&qr, 0, sizeof qr);
    memset(&q, 0, sizeof q);
    qr.data = &q;
    ck_assert_int_eq(dal_async_query(&qr, h, "SELECT 7", NULL, 0, on_query),
                     DAL_OK);
    memset(&cr, 0, sizeof cr);
    memset(&ct, 0, sizeof ct);
    cr.data = &ct;
    ck_assert_int_eq(dal_async_commit(&cr, tx, on_done), DAL_OK);
    ck_assert_int_eq(dal_async_query(&qr, tx, "SELECT 1", NULL, 0,
                                     on_query), DAL_E_MISUSE);
    run_until(&q.done);
    ck_assert_int_eq(ct.done, 1);
    ck_assert_int_eq(q.status, DAL_OK);
    ck_assert_int_eq(dal_result_int64(q.res, 0, 0), 7);
    dal_result_free(q.res);
    close_h();
}
END_TEST

/* ---- chains ------------------------------------------------------------ */

typedef struct chain {
    dal_async_req req;
    int left, steps;
    int64_t sum;
    int done;
} chain;

static void on_chain(dal_async_req *req, int status, dal_result *res)
{
    chain *c = req->data;

    ck_assert_int_eq(status, DAL_OK);
    c->sum += dal_result_int64(res, 0, 0);
    c->steps++;
    if (--c->left > 0) {
        /* The same request, reused from its own callback. */
        ck_assert_int_eq(dal_async_query(req, h, "SELECT CAST(? AS BIGINT)",
                                         (dal_value[]){
                                             DAL_V_INT64(c->left)},
                                         1, on_chain), DAL_OK);
        return;
    }
    c->done = 1;
}

START_TEST(t_chain)
{
    chain c;

    open_h(2);
    memset(&c, 0, sizeof c);
    c.left = 100;
    c.req.data = &c;
    ck_assert_int_eq(dal_async_query(&c.req, h, "SELECT CAST(? AS BIGINT)",
                                     (dal_value[]){DAL_V_INT64(100)}, 1,
                                     on_chain), DAL_OK);
    run_until(&c.done);
    ck_assert_int_eq(c.steps, 100);
    ck_assert_int_eq(c.sum, 5050);
    close_h();
}
END_TEST

/* ---- stress and close ------------------------------------------------- */

#define NSTRESS 10000

typedef struct sreq {
    dal_async_req req;
    int i;
} sreq;

static sreq *sreqs;
static int *calls;
static int n_ok, n_closed, n_total, stop_after;
static int calls_at_close;

static void on_stress_close(dal_async *a);

static void on_stress(dal_async_req *req, int status, dal_result *res)
{
    sreq *s = (sreq *)req;

    ck_assert_int_eq(closed, 0);
    calls[s->i]++;
    ck_assert_msg(calls[s->i] == 1, "request %d called twice", s->i);
    n_total++;
    if (status == DAL_OK) {
        ck_assert_int_eq(dal_result_row_count(res), 1);
        ck_assert_int_eq(dal_result_int64(res, 0, 0), (int64_t)s->i * 3);
        ck_assert_str_eq(dal_result_text(res, 0, 1, NULL),
                         s->i % 2 ? "odd" : "even");
        n_ok++;
    } else {
        ck_assert_msg(status == DAL_E_CLOSED, "status %d: %s", status,
                      dal_async_req_errmsg(req));
        ck_assert_str_eq(dal_async_req_sqlstate(req), "08003");
        n_closed++;
    }
    if (stop_after && n_total == stop_after)
        /* Close from a callback, in the middle of the run. */
        ck_assert_int_eq(dal_async_close(h, on_stress_close), DAL_OK);
}

static void on_stress_close(dal_async *a)
{
    (void)a;
    calls_at_close = n_total;
    closed = 1;
}

static void issue_stress(void)
{
    sreqs = calloc(NSTRESS, sizeof *sreqs);
    calls = calloc(NSTRESS, sizeof *calls);
    ck_assert(sreqs && calls);
    n_ok = n_closed = n_total = calls_at_close = 0;
    for (int i = 0; i < NSTRESS; i++) {
        dal_value p[] = {DAL_V_INT64(i), DAL_V_TEXT(i % 2 ? "odd" : "even")};

        sreqs[i].i = i;
        ck_assert_int_eq(dal_async_query(&sreqs[i].req, h,
                                         "SELECT CAST(? AS BIGINT) * 3, "
                                         "CAST(? AS TEXT)", p, 2,
                                         on_stress), DAL_OK);
    }
    ck_assert_int_eq(dal_async_pending(h), NSTRESS);
}

START_TEST(t_stress)
{
    open_h(4);
    stop_after = 0;
    issue_stress();
    while (n_total < NSTRESS)
        ck_assert(uv_run(&loop, UV_RUN_ONCE) != 0 || n_total == NSTRESS);
    ck_assert_int_eq(n_ok, NSTRESS);
    for (int i = 0; i < NSTRESS; i++)
        ck_assert_int_eq(calls[i], 1);
    ck_assert_int_eq(dal_async_pending(h), 0);
    close_h();
    free(sreqs);
    free(calls);
}
END_TEST

START_TEST(t_close_stress)
{
    open_h(4);
    stop_after = 500;
    issue_stress();
    run_until(&closed);
    stop_after = 0;
    ck_assert_int_eq(calls_at_close, NSTRESS);
    ck_assert_int_eq(n_ok + n_closed, NSTRESS);
    ck_assert_msg(n_closed > 0, "nothing was pending at close");
    for (int i = 0; i < NSTRESS; i++)
        ck_assert_int_eq(calls[i], 1);
    h = NULL;
    free(sreqs);
    free(calls);
}
END_TEST

/* ---- cancel and timeouts --------------------------------------------- */

/* Runs until interrupted: an endless recursive CTE (bounded far beyond
 * any test's life on PostgreSQL, which would otherwise fill work_mem). */
static const char *long_sql(void)
{
    return "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
           "WHERE x < 4000000000000) SELECT count(*) FROM c";
}

static void cancel_timer_cb(uv_timer_t *t)
{
    ck_assert_int_eq(dal_async_cancel(t->data), DAL_OK);
    uv_close((uv_handle_t *)t, NULL);
}

START_TEST(t_cancel)
{
    dal_async_req req, req2;
    uv_timer_t timer;
    qres q, q2;

    open_h(1);
    memset(&req, 0, sizeof req);
    memset(&q, 0, sizeof q);
    req.data = &q;
    ck_assert_int_eq(dal_async_query(&req, h, long_sql(), NULL, 0,
                                     on_query), DAL_OK);
    /* Queued behind it: canceled before it runs. */
    memset(&req2, 0, sizeof req2);
    memset(&q2, 0, sizeof q2);
    req2.data = &q2;
    ck_assert_int_eq(dal_async_query(&req2, h, "SELECT 2", NULL, 0,
                                     on_query), DAL_OK);
    ck_assert_int_eq(dal_async_cancel(&req2), DAL_OK);
    /* Cancel the long one once it had time to start. */
    uv_timer_init(&loop, &timer);
    timer.data = &req;
    uv_timer_start(&timer, cancel_timer_cb, 100, 0);
    run_until(&q.done);
    run_until(&q2.done);
    ck_assert_msg(q.status == DAL_E_CANCELED, "status %d: %s", q.status,
                  q.msg);
    ck_assert_str_eq(q.sqlstate, "57014");
    /* On PostgreSQL the queued one is already in the pipeline, and may
     * finish before the interrupt reaches it (dal_async_cancel(3)). */
    if (is_pg() && q2.status == DAL_OK) {
        ck_assert_int_eq(dal_result_int64(q2.res, 0, 0), 2);
        dal_result_free(q2.res);
    } else {
        ck_assert_int_eq(q2.status, DAL_E_CANCELED);
    }
    ck_assert_int_eq(dal_async_cancel(&req), DAL_E_MISUSE);
    /* The connection goes on. */
    ck_assert_int_eq(scalar(h, "SELECT 5"), 5);
    close_h();
}
END_TEST

START_TEST(t_timeout)
{
    dal_async_req req;
    qres q;

    open_h(1);
    memset(&req, 0, sizeof req);
    memset(&q, 0, sizeof q);
    req.data = &q;
    req.timeout_ms = 100;
    ck_assert_int_eq(dal_async_query(&req, h, long_sql(), NULL, 0,
                                     on_query), DAL_OK);
    run_until(&q.done);
    ck_assert_msg(q.status == DAL_E_TIMEOUT, "status %d: %s", q.status,
                  q.msg);
    ck_assert_str_eq(q.sqlstate, "57014");
    /* A timeout that does not fire changes nothing. */
    memset(&q, 0, sizeof q);
    req.timeout_ms = 60000;
    ck_assert_int_eq(dal_async_query(&req, h, "SELECT 3", NULL, 0,
                                     on_query), DAL_OK);
    run_until(&q.done);
    ck_assert_int_eq(q.status, DAL_OK);
    ck_assert_int_eq(dal_result_int64(q.res, 0, 0), 3);
    dal_result_free(q.res);
    close_h();
}
END_TEST

/* Close while a long statement runs: interrupted, DAL_E_CLOSED. */
static void nap_10ms(void)
{
    struct timespec ts = {0, 10000000L};

    nanosleep(&ts, NULL);
}

/* PostgreSQL: how many sessions run long_sql() now, seen from db. */
static int64_t long_running(dal_db *db)
{
    int64_t n = -1;

    ck_assert_int_eq(dal_query_int64(db, "SELECT count(*) FROM "
                                     "pg_stat_activity WHERE state = "
                                     "'active' AND query LIKE "
                                     "'WITH RECURSIVE c(x)%' AND pid <> "
                                     "pg_backend_pid()", NULL, 0, &n),
                     DAL_OK);
    return n;
}

START_TEST(t_close_running)
{
    dal_async_req req;
    dal_db *db = NULL;
    qres q;
    int i;

    open_h(1);
    memset(&req, 0, sizeof req);
    memset(&q, 0, sizeof q);
    req.data = &q;
    ck_assert_int_eq(dal_async_query(&req, h, long_sql(), NULL, 0,
                                     on_query), DAL_OK);
    if (is_pg()) {
        /* Wait until the server runs it (the loop sends it). */
        ck_assert_int_eq(dal_open(test_url, &db), DAL_OK);
        for (i = 0; i < 1000 && long_running(db) == 0; i++) {
            uv_run(&loop, UV_RUN_NOWAIT);
            nap_10ms();
        }
        ck_assert_int_eq(long_running(db), 1);
    }
    ck_assert_int_eq(dal_async_close(h, on_close), DAL_OK);
    run_until(&closed);
    ck_assert_int_eq(q.done, 1);
    ck_assert_int_eq(q.status, DAL_E_CLOSED);
    if (db) {
        /* The statement does not run on after the session ended: it
         * would hold its snapshot and locks (CREATE INDEX CONCURRENTLY
         * waited for one such left over by an earlier version). */
        for (i = 0; i < 1000 && long_running(db) != 0; i++)
            nap_10ms();
        ck_assert_int_eq(long_running(db), 0);
        dal_close(db);
    }
}
END_TEST

/* ---- notifications ----------------------------------------------------- */

static void on_note(dal_async *a, const char *channel, const char *payload,
                    int pid, int missed)
{
    (void)a; (void)channel; (void)payload; (void)pid; (void)missed;
    ck_abort_msg("no notification expected");
}

START_TEST(t_notify)
{
    dal_async_req req;
    txres t;

    open_h(1);
    memset(&req, 0, sizeof req);
    memset(&t, 0, sizeof t);
    req.data = &t;
    /* The thread glue has no notifications: LISTEN is refused on SQLite.
     * PostgreSQL's native glue listens (tests/async_pg.c delivers). */
    ck_assert_int_eq(dal_async_listen(h, "ch", on_note),
                     is_pg() ? DAL_OK : DAL_E_UNSUPPORTED);
    ck_assert_int_eq(dal_async_unlisten(h, "ch"),
                     is_pg() ? DAL_OK : DAL_E_UNSUPPORTED);
    if (!is_pg()) {
        ck_assert_int_eq(dal_async_notify(&req, h, "ch", "x", on_done),
                         DAL_E_UNSUPPORTED);
        ck_assert_msg(strstr(dal_async_errmsg(h), "notification") != NULL,
                      "%s", dal_async_errmsg(h));
    } else {
        dal_notification *n = NULL;
        dal_db *db = NULL;

        /* A blocking connection listens; the async NOTIFY reaches it. */
        ck_assert_int_eq(dal_open(test_url, &db), DAL_OK);
        ck_assert_int_eq(dal_listen(db, "ach"), DAL_OK);
        ck_assert_int_eq(dal_async_notify(&req, h, "ach", "hello", on_done),
                         DAL_OK);
        run_until(&t.done);
        ck_assert_int_eq(t.status, DAL_OK);
        ck_assert_int_eq(dal_notify_wait(db, 10000, &n), DAL_OK);
        ck_assert_str_eq(n->channel, "ach");
        ck_assert_str_eq(n->payload, "hello");
        dal_notification_free(n);
        dal_close(db);
    }
    ck_assert_int_eq(dal_async_notify(&req, h, "", NULL, on_done),
                     (is_pg() ? DAL_E_MISUSE : DAL_E_UNSUPPORTED));
    close_h();
}
END_TEST

/* ---- faults ------------------------------------------------------------ */

/* The server ends the session: the request fails with DAL_E_CONNECT and
 * the next one connects again (a new server process). */
START_TEST(t_lost)
{
    int64_t pid, pid2;
    dal_db *db = NULL;
    char sql[128];
    qres q;
    int st;

    if (!is_pg())
        return; /* an SQLite file cannot be taken away from a session */
    open_h(1);
    pid = scalar(h, "SELECT pg_backend_pid()");
    ck_assert_int_eq(dal_open(test_url, &db), DAL_OK);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%" PRId64 ")",
             pid);
    ck_assert_int_eq(dal_exec(db, sql), DAL_OK);
    dal_close(db);
    st = query_on(h, "SELECT pg_backend_pid()", NULL, 0, &q);
    if (st == DAL_OK) {
        /* The blocking driver noticed before running and reconnected. */
        pid2 = dal_result_int64(q.res, 0, 0);
        dal_result_free(q.res);
    } else {
        ck_assert_msg(st == DAL_E_CONNECT, "status %d: %s", st, q.msg);
        pid2 = scalar(h, "SELECT pg_backend_pid()");
    }
    ck_assert_msg(pid2 != pid, "the same session after it was ended");
    close_h();
}
END_TEST

/* ---- no starvation of libuv's thread pool ------------------------------ */

static int work_done;
static int pending_at_work;
static int n_canceled;
static dal_async_req busy_req[8];

static void work_cb(uv_work_t *w)
{
    (void)w;
}

static void on_busy(dal_async_req *req, int status, dal_result *res)
{
    (void)req;
    (void)res;
    /* Every long query ends only when canceled, after the work. */
    ck_assert_int_eq(work_done, 1);
    ck_assert_msg(status == DAL_E_CANCELED, "status %d", status);
    n_canceled++;
}

static void after_work_cb(uv_work_t *w, int status)
{
    (void)w;
    ck_assert_int_eq(status, 0);
    work_done = 1;
    /* All 8 connections are still busy with their long query. */
    pending_at_work = dal_async_pending(h);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(dal_async_cancel(&busy_req[i]), DAL_OK);
}

START_TEST(t_no_starvation)
{
    uv_work_t work;

    if (is_pg())
        return; /* the thread glue is SQLite's */
    open_h(8);
    work_done = n_canceled = 0;
    pending_at_work = -1;
    for (int i = 0; i < 8; i++) {
        memset(&busy_req[i], 0, sizeof busy_req[i]);
        ck_assert_int_eq(dal_async_query(&busy_req[i], h,
                                         "WITH RECURSIVE c(x) AS (SELECT 1 "
                                         "UNION ALL SELECT x + 1 FROM c) "
                                         "SELECT count(*) FROM c", NULL, 0,
                                         on_busy), DAL_OK);
    }
    /* More requests of libuv's pool than it has threads (4). */
    ck_assert_int_eq(uv_queue_work(&loop, &work, work_cb, after_work_cb), 0);
    while (n_canceled < 8)
        ck_assert(uv_run(&loop, UV_RUN_ONCE) != 0 || n_canceled == 8);
    ck_assert_int_eq(pending_at_work, 8);
    close_h();
}
END_TEST

/* ---- allocation failures ----------------------------------------------- */

static void on_any(dal_async_req *req, int status, dal_result *res)
{
    qres *q = req->data;

    (void)res;
    q->done = 1;
    q->status = status;
}

static void on_open_any(dal_async *a, int status)
{
    (void)a;
    opened = 1;
    open_status = status;
}

START_TEST(t_nomem)
{
    int n, rc, seen_nomem = 0;

    for (n = 1; n < 400; n++) {
        dal_async_req req;
        qres q;
        int st = DAL_OK;

        opened = closed = 0;
        memset(&q, 0, sizeof q);
        memset(&req, 0, sizeof req);
        req.data = &q;
        nomem_arm(n);
        rc = dal_async_open(&loop, test_url, 2, on_open_any, NULL, &h);
        if (rc != DAL_OK) {
            ck_assert_int_eq(rc, DAL_NOMEM);
            ck_assert_ptr_null(h);
            seen_nomem = 1;
            continue;
        }
        rc = dal_async_query(&req, h, "SELECT CAST(? AS BIGINT) + 1",
                             (dal_value[]){DAL_V_INT64(41)}, 1, on_any);
        if (rc != DAL_OK)
            ck_assert_int_eq(rc, DAL_NOMEM);
        run_until(&opened);
        if (rc == DAL_OK)
            run_until(&q.done);
        st = rc == DAL_OK ? q.status : rc;
        ck_assert_msg(st == DAL_OK || st == DAL_NOMEM || open_status != 0,
                      "n=%d: status %d, open %d", n, st, open_status);
        if (st == DAL_NOMEM || open_status == DAL_NOMEM)
            seen_nomem = 1;
        ck_assert_int_eq(dal_async_close(h, on_close), DAL_OK);
        run_until(&closed);
        h = NULL;
        uv_run(&loop, UV_RUN_DEFAULT);
        ck_assert_msg(live_blocks == base_blocks, "n=%d: leak of %ld", n,
                      (long)(live_blocks - base_blocks));
        if (!fail_hit && st == DAL_OK && open_status == DAL_OK)
            break;
    }
    nomem_arm(0);
    ck_assert_msg(n < 400, "allocation failures never stopped");
    ck_assert(seen_nomem);
}
END_TEST

/* ---- kept results and shared column names ------------------------------- */

typedef struct kres {
    int done;
    int status;
    int keep;
    dal_result *res;
} kres;

static void on_kept(dal_async_req *req, int status, dal_result *res)
{
    kres *k = req->data;

    ck_assert_int_eq(k->done, 0);
    k->done = 1;
    k->status = status;
    if (status == DAL_OK && k->keep) {
        dal_async_keep(req);
        k->res = res;
    }
}

#define KEPT_SQL "SELECT CAST(? AS BIGINT) AS first_col, 'kept' AS second_col"
#define NSHAPES 9

static void check_kept(const dal_result *r, int64_t v)
{
    size_t len;
    const char *t;

    ck_assert_int_eq(dal_result_column_count(r), 2);
    ck_assert_int_eq(dal_result_row_count(r), 1);
    ck_assert_str_eq(dal_result_column_name(r, 0), "first_col");
    ck_assert_str_eq(dal_result_column_name(r, 1), "second_col");
    ck_assert_int_eq(dal_result_int64(r, 0, 0), v);
    t = dal_result_text(r, 0, 1, &len);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(len, 4);
    ck_assert_str_eq(t, "kept");
}

/*
 * Issue (all at once) KEPT_SQL with 7, NSHAPES statements of other
 * column names, then KEPT_SQL with 8; the two KEPT_SQL results are
 * kept. The status of each request (or of its issue) goes into st.
 */
static void issue_shapes(dal_async_req *req, kres *k, int *st)
{
    char sql[NSHAPES][64];
    int i, n = NSHAPES + 2;

    memset(req, 0, (size_t)n * sizeof *req);
    memset(k, 0, (size_t)n * sizeof *k);
    for (i = 0; i < n; i++) {
        dal_value v = DAL_V_INT64(i == 0 ? 7 : i == n - 1 ? 8 : i);
        const char *q = KEPT_SQL;

        req[i].data = &k[i];
        k[i].keep = i == 0 || i == n - 1;
        if (!k[i].keep) {
            snprintf(sql[i - 1], sizeof sql[i - 1],
                     "SELECT CAST(? AS BIGINT) AS col_%d", i);
            q = sql[i - 1];
        }
        st[i] = dal_async_query(&req[i], h, q, &v, 1, on_kept);
        if (st[i] != DAL_OK)
            k[i].done = 1;
    }
    for (i = 0; i < n; i++) {
        run_until(&k[i].done);
        if (st[i] == DAL_OK)
            st[i] = k[i].status;
    }
}

/* A kept result outlives later results of the same statement and of
 * others (more shapes than a connection keeps names for), its column
 * names and values intact; so does one of a reused request. */
START_TEST(t_keep_names)
{
    dal_async_req req[NSHAPES + 2];
    kres k[NSHAPES + 2];
    int st[NSHAPES + 2], round, i;
    dal_result *first = NULL;

    open_h(1);
    for (round = 0; round < 2; round++) {
        issue_shapes(req, k, st);
        for (i = 0; i < NSHAPES + 2; i++)
            ck_assert_msg(st[i] == DAL_OK, "request %d: %d", i, st[i]);
        check_kept(k[0].res, 7);
        check_kept(k[NSHAPES + 1].res, 8);
        if (round == 0)
            first = k[0].res;
        else
            dal_result_free(k[0].res);
        dal_result_free(k[NSHAPES + 1].res);
    }
    /* The first round's result, after a whole other round. */
    check_kept(first, 7);
    close_h();
    check_kept(first, 7);
    dal_result_free(first);
}
END_TEST

/* Allocation failures over the request and result paths (requests
 * reused, results sharing names): each request ends DAL_OK with the
 * right rows or DAL_NOMEM, and nothing leaks. */
START_TEST(t_nomem_results)
{
    dal_async_req req[NSHAPES + 2];
    kres k[NSHAPES + 2];
    int st[NSHAPES + 2], n, i, seen_nomem = 0, hit;

    for (n = 1; n < 2000; n++) {
        opened = closed = 0;
        open_h(1);
        /* Warm: spare requests and kept names exist before the
         * failure. */
        issue_shapes(req, k, st);
        dal_result_free(k[0].res);
        dal_result_free(k[NSHAPES + 1].res);
        nomem_arm(n);
        issue_shapes(req, k, st);
        hit = fail_hit;
        nomem_arm(0);
        for (i = 0; i < NSHAPES + 2; i++) {
            ck_assert_msg(st[i] == DAL_OK || st[i] == DAL_NOMEM,
                          "n=%d request %d: %d", n, i, st[i]);
            if (st[i] == DAL_NOMEM)
                seen_nomem = 1;
        }
        if (st[0] == DAL_OK)
            check_kept(k[0].res, 7);
        if (st[NSHAPES + 1] == DAL_OK)
            check_kept(k[NSHAPES + 1].res, 8);
        close_h();
        uv_run(&loop, UV_RUN_DEFAULT);
        dal_result_free(k[0].res);
        dal_result_free(k[NSHAPES + 1].res);
        ck_assert_msg(live_blocks == base_blocks, "n=%d: leak of %ld", n,
                      (long)(live_blocks - base_blocks));
        if (!hit)
            break;
    }
    ck_assert_msg(n < 2000, "allocation failures never stopped");
    ck_assert(seen_nomem);
}
END_TEST

/* ---- suite ------------------------------------------------------------ */

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *async_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "query");
    tcase_add_test(tc, t_query);
    tcase_add_test(tc, t_errors);
    tcase_add_test(tc, t_open_errors);
    tcase_add_test(tc, t_close_while_opening);
    tcase_add_test(tc, t_ast);
    tcase_add_test(tc, t_model);
    tc = tcase(s, "tx");
    tcase_add_test(tc, t_tx);
    tcase_add_test(tc, t_tx_flags);
    tcase_add_test(tc, t_tx_waits);
    tcase_add_test(tc, t_chain);
    tc = tcase(s, "stress");
    tcase_add_test(tc, t_stress);
    tcase_add_test(tc, t_close_stress);
    tc = tcase(s, "cancel");
    tcase_add_test(tc, t_cancel);
    tcase_add_test(tc, t_timeout);
    tcase_add_test(tc, t_close_running);
    tcase_add_test(tc, t_no_starvation);
    tcase_add_test(tc, t_lost);
    tc = tcase(s, "notify");
    tcase_add_test(tc, t_notify);
    tc = tcase(s, "nomem");
    tcase_add_test(tc, t_nomem);
    tcase_add_test(tc, t_keep_names);
    tcase_add_test(tc, t_nomem_results);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "async[sqlite-mem]", "async[sqlite-file]", "async[postgres]",
    };
    const char *pg;
    int kind, failed = 0;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "async: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    pg = getenv("DAL_TEST_PG_URL");
    if (pg == NULL || pg[0] == '\0') {
        printf("async: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
        pg = NULL;
    }
    for (kind = BE_SQLITE_MEM; kind <= BE_POSTGRES; kind++) {
        SRunner *sr;

        if (kind == BE_POSTGRES && pg == NULL)
            break;
        test_backend = (enum backend)kind;
        test_url = kind == BE_SQLITE_MEM ? "sqlite::memory:"
                   : kind == BE_SQLITE_FILE ? "sqlite:///tmp/(per test)"
                   : pg;
        fflush(stdout);
        sr = srunner_create(async_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    if (live_blocks != 0) {
        printf("async: libdal holds %ld blocks at exit\n",
               (long)live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
