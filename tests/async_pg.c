/*
 * tests/async_pg.c - the PostgreSQL async glue (backends/postgres/
 * async.c) through include/dal/async.h: many queries pipelined on one
 * connection with results in order, an error in the middle of a
 * pipeline, the in-flight limit (max_inflight), cancel and timeout of a
 * running statement, close with queries pending, the session killed by
 * pg_terminate_backend while queries are in flight (each gets
 * DAL_E_CONNECT, the next query connects again), and LISTEN/NOTIFY
 * (async and sync NOTIFY, listening again after a terminate with the
 * missed flag).
 *   async_pg[postgres]  $DAL_TEST_PG_URL (skipped when unset)
 *
 * Run:  tests/pg/with-pg.sh build/tests/async_pg
 * CK_FORK=no runs in one process (for gdb and valgrind).
 *
 * main() installs a counting allocator before any other libdal call;
 * every test's teardown checks that libdal holds as many blocks after
 * the handle was closed as before the test.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dal.h>
#include <dal/async.h>

#include "harness.h"

static const char *test_url;
static uv_loop_t loop;
static dal_async *h;
static dal_db *o; /* a blocking connection on the side */

#define NQ 300

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

/* ---- fixture --------------------------------------------------------- */

static int open_status = -1;

static void opened(dal_async *hh, int status)
{
    (void)hh;
    open_status = status;
}

static int closed_calls;

static void closed(dal_async *hh)
{
    (void)hh;
    closed_calls++;
}

/* Open h on url (NULL: the test URL) and run the loop until it is. */
static void open_h(const char *url)
{
    open_status = -1;
    ck_assert_int_eq(dal_async_open(&loop, url ? url : test_url, 1, opened,
                                    NULL, &h), DAL_OK);
    while (open_status == -1)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_msg(open_status == DAL_OK, "open: %s (%s)",
                  dal_errstr(open_status), dal_async_errmsg(h));
}

static void close_h(void)
{
    if (!h)
        return;
    closed_calls = 0;
    ck_assert_int_eq(dal_async_close(h, closed), DAL_OK);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(closed_calls, 1);
    h = NULL;
}

static void setup(void)
{
    nomem_arm(0); /* no allocation fails here */
    base_blocks = live_blocks;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    h = NULL;
    ck_assert_int_eq(dal_open(test_url, &o), DAL_OK);
}

static void teardown(void)
{
    close_h();
    dal_close(o);
    o = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    ck_assert_int_eq(live_blocks, base_blocks);
}

/* ---- one query's outcome --------------------------------------------- */

struct out {
    int calls;
    int status;
    int order;         /* the callback's rank among all callbacks */
    char sqlstate[6];
    int64_t v;         /* first column of the first row */
    int nrows;
    char text[64];     /* second column, when text */
};

static struct out outs[NQ];
static dal_async_req reqs[NQ];
static int ncalls;

static void on_query(dal_async_req *req, int status, dal_result *res)
{
    struct out *x = req->data;
    const char *t;

    x->calls++;
    x->status = status;
    x->order = ncalls++;
    memset(x->sqlstate, 0, sizeof x->sqlstate);
    if (status)
        memcpy(x->sqlstate, S(dal_async_req_sqlstate(req)), 5);
    if (status == DAL_OK) {
        x->nrows = (int)dal_result_row_count(res);
        x->v = x->nrows ? dal_result_int64(res, 0, 0) : -1;
        t = dal_result_column_count(res) > 1 && x->nrows
            ? dal_result_text(res, 0, 1, NULL) : NULL;
        snprintf(x->text, sizeof x->text, "%s", t ? t : "");
    }
}

static void reset_outs(void)
{
    memset(outs, 0, sizeof outs);
    memset(reqs, 0, sizeof reqs);
    ncalls = 0;
}

static void query(int i, const char *sql, const dal_value *p, int np)
{
    reqs[i].data = &outs[i];
    ck_assert_int_eq(dal_async_query(&reqs[i], h, sql, p, np, on_query),
                     DAL_OK);
}

/* Run the loop until n callbacks ran (it must not run dry before). */
static void run_until(int n)
{
    while (ncalls < n)
        if (uv_run(&loop, UV_RUN_ONCE) == 0)
            ck_assert_int_ge(ncalls, n);
}

static int64_t backend_pid(void)
{
    int i = NQ - 1;

    outs[i].calls = 0;
    query(i, "SELECT pg_backend_pid()", NULL, 0);
    while (!outs[i].calls)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(outs[i].status, DAL_OK);
    ncalls--;
    return outs[i].v;
}

/* Wait until the server process pid has gone (pg_terminate_backend
 * only signals it). */
static void wait_gone(int64_t pid)
{
    dal_value p;
    int64_t n = 1;
    int i;

    p.type = DAL_TYPE_INT64;
    p.u.i = pid;
    for (i = 0; i < 500 && n; i++) {
        ck_assert_int_eq(dal_query_int64(o, "SELECT count(*) FROM "
                                         "pg_stat_activity WHERE pid = ?",
                                         &p, 1, &n), DAL_OK);
        if (n)
            uv_sleep(10);
    }
    ck_assert_int_eq(n, 0);
}

/* ---- tests ----------------------------------------------------------- */

/* Many queries on one connection, issued at once: each answered once,
 * in order, with its own values (ints, text, a NULL, bytea). */
START_TEST(t_pipeline_order)
{
    int i, n = 250;
    int64_t pid;

    open_h(NULL);
    reset_outs();
    pid = backend_pid();
    for (i = 0; i < n; i++) {
        dal_value p[2] = {DAL_V_INT64(i * 3), DAL_V_TEXT("v")};

        query(i, "SELECT $1::int8 + 1, $2 || $1::text, pg_backend_pid()",
              p, 2);
    }
    run_until(n);
    for (i = 0; i < n; i++) {
        char want[32];

        ck_assert_int_eq(outs[i].calls, 1);
        ck_assert_msg(outs[i].status == DAL_OK, "query %d: %s [%s]", i,
                      dal_errstr(outs[i].status), outs[i].sqlstate);
        ck_assert_int_eq(outs[i].order, i);
        ck_assert_int_eq(outs[i].v, i * 3 + 1);
        snprintf(want, sizeof want, "v%d", i * 3);
        ck_assert_str_eq(outs[i].text, want);
    }
    /* One connection answered them all. */
    ck_assert_int_eq(backend_pid(), pid);
}
END_TEST

/* Types come back by OID, as the blocking driver reads them. */
static dal_type types[6];
static int64_t ival;
static double dval;
static char blob[8];
static size_t bloblen;

static void on_types(dal_async_req *req, int status, dal_result *res)
{
    int c;
    const char *b;

    (void)req;
    ck_assert_int_eq(status, DAL_OK);
    ck_assert_int_eq(dal_result_column_count(res), 6);
    ck_assert_str_eq(dal_result_column_name(res, 0), "i");
    for (c = 0; c < 6; c++)
        types[c] = dal_result_value(res, 0, c)->type;
    ival = dal_result_int64(res, 0, 0);
    dval = dal_result_double(res, 0, 1);
    b = dal_result_text(res, 0, 3, &bloblen);
    if (b && bloblen <= sizeof blob)
        memcpy(blob, b, bloblen);
    ncalls++;
}

START_TEST(t_types)
{
    dal_async_req req = {0};
    dal_value p[3] = {DAL_V_INT64(INT64_MIN), DAL_V_DOUBLE(0.1),
                      DAL_V_BLOB("a\0b", 3)};

    open_h(NULL);
    reset_outs();
    ck_assert_int_eq(dal_async_query(&req, h, "SELECT $1::int8 AS i, "
                                     "$2::float8 AS d, true AS b, "
                                     "$3::bytea AS x, NULL::text AS n, "
                                     "'t'::text AS t", p, 3, on_types),
                     DAL_OK);
    run_until(1);
    ck_assert_int_eq(types[0], DAL_TYPE_INT64);
    ck_assert_int_eq(types[1], DAL_TYPE_DOUBLE);
    ck_assert_int_eq(types[2], DAL_TYPE_BOOL);
    ck_assert_int_eq(types[3], DAL_TYPE_BLOB);
    ck_assert_int_eq(types[4], DAL_TYPE_NULL);
    ck_assert_int_eq(types[5], DAL_TYPE_TEXT);
    ck_assert(ival == INT64_MIN);
    ck_assert(dval == 0.1);
    ck_assert_int_eq((int)bloblen, 3);
    ck_assert(memcmp(blob, "a\0b", 3) == 0);
}
END_TEST

/* An error in the middle of a pipeline is its own query's; the queries
 * after it run. */
START_TEST(t_error_middle)
{
    int i;

    open_h(NULL);
    reset_outs();
    for (i = 0; i < 7; i++) {
        dal_value p = DAL_V_INT64(i);

        if (i == 3)
            query(i, "SELECT 1 / ($1::int8 - 3)", &p, 1);
        else if (i == 5)
            query(i, "SELECT * FROM no_such_table_here", NULL, 0);
        else
            query(i, "SELECT $1::int8 * 10", &p, 1);
    }
    run_until(7);
    for (i = 0; i < 7; i++) {
        ck_assert_int_eq(outs[i].calls, 1);
        ck_assert_int_eq(outs[i].order, i);
        if (i == 3) {
            ck_assert_int_eq(outs[i].status, DAL_E_DATA);
            ck_assert_str_eq(outs[i].sqlstate, "22012");
        } else if (i == 5) {
            ck_assert_int_eq(outs[i].status, DAL_E_SYNTAX);
            ck_assert_str_eq(outs[i].sqlstate, "42P01");
        } else {
            ck_assert_int_eq(outs[i].status, DAL_OK);
            ck_assert_int_eq(outs[i].v, i * 10);
        }
    }
}
END_TEST

/* In a transaction each query is still its own segment: after a
 * failing statement the server fails the next ones (25P02) until the
 * rollback, and nothing of it stays. */
static dal_async *tx;
static int tx_status = -1, end_status = -1;

static void on_begin(dal_async_req *req, int status, dal_async *t)
{
    (void)req;
    tx_status = status;
    tx = t;
}

static void on_end(dal_async_req *req, int status)
{
    (void)req;
    end_status = status;
}

START_TEST(t_tx_error)
{
    dal_async_req breq = {0}, ereq = {0};
    int64_t n = -1;
    int i;

    ck_assert_int_eq(dal_exec(o, "DROP TABLE IF EXISTS apg_tx"), DAL_OK);
    ck_assert_int_eq(dal_exec(o, "CREATE TABLE apg_tx (x int8)"), DAL_OK);
    open_h(NULL);
    reset_outs();
    ck_assert_int_eq(dal_async_begin(&breq, h, 0, on_begin), DAL_OK);
    while (tx_status == -1)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(tx_status, DAL_OK);
    for (i = 0; i < 4; i++) {
        dal_value p = DAL_V_INT64(i);

        reqs[i].data = &outs[i];
        ck_assert_int_eq(dal_async_query(&reqs[i], tx, i == 1
                                         ? "INSERT INTO apg_tx VALUES "
                                           "(1 / ($1::int8 - 1))"
                                         : "INSERT INTO apg_tx VALUES ($1)",
                                         &p, 1, on_query), DAL_OK);
    }
    ck_assert_int_eq(dal_async_rollback(&ereq, tx, on_end), DAL_OK);
    run_until(4);
    while (end_status == -1)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(outs[0].status, DAL_OK);
    ck_assert_str_eq(outs[1].sqlstate, "22012");
    ck_assert_int_eq(outs[2].status, DAL_E_TX);
    ck_assert_str_eq(outs[2].sqlstate, "25P02");
    ck_assert_str_eq(outs[3].sqlstate, "25P02");
    ck_assert_int_eq(end_status, DAL_OK);
    ck_assert_int_eq(dal_query_int64(o, "SELECT count(*) FROM apg_tx",
                                     NULL, 0, &n), DAL_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(dal_exec(o, "DROP TABLE apg_tx"), DAL_OK);
    tx_status = end_status = -1;
}
END_TEST

/* pipeline_sync=batch: the queries issued in one turn of the loop are
 * one segment. A failing one gives its own error, the ones after it in
 * the segment an "aborted" error (25P02), and the next segment runs. */
START_TEST(t_batch)
{
    char url[512];
    int i, n = 10;

    snprintf(url, sizeof url, "%s%spipeline_sync=batch", test_url,
             strchr(test_url, '?') ? "&" : "?");
    open_h(url);
    reset_outs();
    for (i = 0; i < n; i++) {
        dal_value p = DAL_V_INT64(i);

        query(i, "SELECT 100 / ($1::int8 - 4)", &p, 1);
    }
    run_until(n);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(outs[i].calls, 1);
        ck_assert_int_eq(outs[i].order, i);
        if (i < 4) {
            ck_assert_int_eq(outs[i].status, DAL_OK);
            ck_assert_int_eq(outs[i].v, 100 / (i - 4));
        } else if (i == 4) {
            ck_assert_str_eq(outs[i].sqlstate, "22012");
        } else {
            ck_assert_int_eq(outs[i].status, DAL_E_TX);
            ck_assert_str_eq(outs[i].sqlstate, "25P02");
        }
    }
    /* The next turn's segment runs. */
    reset_outs();
    for (i = 0; i < 3; i++) {
        dal_value p = DAL_V_INT64(i + 5);

        query(i, "SELECT 100 / ($1::int8 - 4)", &p, 1);
    }
    run_until(3);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(outs[i].status, DAL_OK);
        ck_assert_int_eq(outs[i].v, 100 / (i + 1));
    }
    /* A bad value is refused. */
    close_h();
    snprintf(url, sizeof url, "%s%spipeline_sync=sometimes", test_url,
             strchr(test_url, '?') ? "&" : "?");
    open_status = -1;
    ck_assert_int_eq(dal_async_open(&loop, url, 1, opened, NULL, &h),
                     DAL_OK);
    while (open_status == -1)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(open_status, DAL_E_URL);
}
END_TEST

/* More queries than max_inflight: every one completes once, in order. */
START_TEST(t_backpressure)
{
    char url[512];
    int i, n = 120;

    snprintf(url, sizeof url, "%s%smax_inflight=3", test_url,
             strchr(test_url, '?') ? "&" : "?");
    open_h(url);
    reset_outs();
    for (i = 0; i < n; i++) {
        dal_value p = DAL_V_INT64(i);

        query(i, "SELECT $1::int8", &p, 1);
    }
    run_until(n);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(outs[i].calls, 1);
        ck_assert_int_eq(outs[i].status, DAL_OK);
        ck_assert_int_eq(outs[i].order, i);
        ck_assert_int_eq(outs[i].v, i);
    }
    /* A bad value is refused by the URL check. */
    snprintf(url, sizeof url, "%s%smax_inflight=0", test_url,
             strchr(test_url, '?') ? "&" : "?");
    close_h();
    open_status = -1;
    ck_assert_int_eq(dal_async_open(&loop, url, 1, opened, NULL, &h),
                     DAL_OK);
    while (open_status == -1)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(open_status, DAL_E_URL);
}
END_TEST

/* Cancel a running pg_sleep: DAL_E_CANCELED (57014); the query after
 * it still runs. A per-query timeout ends the same way. */
static void cancel_tick(uv_timer_t *t)
{
    ck_assert_int_eq(dal_async_cancel(t->data), DAL_OK);
}

START_TEST(t_cancel)
{
    uv_timer_t t;

    open_h(NULL);
    reset_outs();
    query(0, "SELECT pg_sleep(30)", NULL, 0);
    query(1, "SELECT 42", NULL, 0);
    /* The cancel goes once the sleep surely runs on the server. */
    uv_timer_init(&loop, &t);
    t.data = &reqs[0];
    uv_timer_start(&t, cancel_tick, 300, 0);
    run_until(2);
    uv_close((uv_handle_t *)&t, NULL);
    ck_assert_int_eq(outs[0].status, DAL_E_CANCELED);
    ck_assert_str_eq(outs[0].sqlstate, "57014");
    ck_assert_int_eq(outs[1].status, DAL_OK);
    ck_assert_int_eq(outs[1].v, 42);

    /* The same through the request's timeout. */
    reset_outs();
    reqs[0].timeout_ms = 200;
    query(0, "SELECT pg_sleep(30)", NULL, 0);
    query(1, "SELECT 43", NULL, 0);
    run_until(2);
    ck_assert_int_eq(outs[0].status, DAL_E_TIMEOUT);
    ck_assert_int_eq(outs[1].status, DAL_OK);
    ck_assert_int_eq(outs[1].v, 43);
}
END_TEST

/* Close with queries pending: each callback once, with DAL_E_CLOSED,
 * all before the close callback. */
static int calls_at_close = -1;

static void closed_count(dal_async *hh)
{
    (void)hh;
    calls_at_close = ncalls;
    closed_calls++;
}

START_TEST(t_close_pending)
{
    int i, n = 40;

    open_h(NULL);
    reset_outs();
    query(0, "SELECT pg_sleep(5)", NULL, 0);
    for (i = 1; i < n; i++) {
        dal_value p = DAL_V_INT64(i);

        query(i, "SELECT $1::int8", &p, 1);
    }
    closed_calls = 0;
    ck_assert_int_eq(dal_async_close(h, closed_count), DAL_OK);
    h = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(closed_calls, 1);
    ck_assert_int_eq(calls_at_close, n);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(outs[i].calls, 1);
        ck_assert_int_eq(outs[i].status, DAL_E_CLOSED);
    }
}
END_TEST

/* The session killed while queries are in flight: each gets
 * DAL_E_CONNECT, and the next query connects again. */
START_TEST(t_terminate)
{
    int64_t pid, killed = 0;
    dal_value p;
    int i, n = 6;

    open_h(NULL);
    reset_outs();
    pid = backend_pid();
    query(0, "SELECT pg_sleep(5)", NULL, 0);
    for (i = 1; i < n; i++) {
        dal_value v = DAL_V_INT64(i);

        query(i, "SELECT $1::int8", &v, 1);
    }
    /* Let them go out, then end the session from the other side. */
    uv_run(&loop, UV_RUN_NOWAIT);
    p.type = DAL_TYPE_INT64;
    p.u.i = pid;
    ck_assert_int_eq(dal_query_int64(o, "SELECT count(*) FROM "
                                     "(SELECT pg_terminate_backend(?)) t",
                                     &p, 1, &killed), DAL_OK);
    run_until(n);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(outs[i].calls, 1);
        ck_assert_msg(outs[i].status == DAL_E_CONNECT, "query %d: %s [%s]",
                      i, dal_errstr(outs[i].status), outs[i].sqlstate);
    }
    /* The next query reconnects: a new session. */
    reset_outs();
    query(0, "SELECT pg_backend_pid()", NULL, 0);
    run_until(1);
    ck_assert_int_eq(outs[0].status, DAL_OK);
    ck_assert_int_ne(outs[0].v, pid);
}
END_TEST

/* ---- LISTEN/NOTIFY --------------------------------------------------- */

struct note {
    char channel[32];
    char payload[64];
    int pid;
    int missed;
};

static struct note notes[16];
static int nnotes;

static void on_note(dal_async *hh, const char *channel, const char *payload,
                    int pid, int missed)
{
    (void)hh;
    if (nnotes < 16) {
        snprintf(notes[nnotes].channel, sizeof notes[nnotes].channel, "%s",
                 channel);
        snprintf(notes[nnotes].payload, sizeof notes[nnotes].payload, "%s",
                 payload);
        notes[nnotes].pid = pid;
        notes[nnotes].missed = missed;
    }
    nnotes++;
}

static int notified;

static void on_notified(dal_async_req *req, int status)
{
    (void)req;
    ck_assert_int_eq(status, DAL_OK);
    notified++;
    /* The blocking connection's NOTIFY, once ours went (LISTEN is
     * before it in the pipeline, so it is in effect). */
    ck_assert_int_eq(dal_notify(o, "Ch 1", "from sync"), DAL_OK);
}

static void wait_notes(int n)
{
    while (nnotes < n)
        if (uv_run(&loop, UV_RUN_ONCE) == 0)
            ck_assert_int_ge(nnotes, n);
}

START_TEST(t_listen)
{
    dal_async_req req = {0};
    int64_t pid;

    open_h(NULL);
    reset_outs();
    nnotes = notified = 0;
    ck_assert_int_eq(dal_async_listen(h, "Ch 1", on_note), DAL_OK);
    ck_assert_int_eq(dal_async_notify(&req, h, "Ch 1", "from async",
                                      on_notified), DAL_OK);
    wait_notes(2);
    ck_assert_int_eq(notified, 1);
    pid = backend_pid();
    ck_assert_str_eq(notes[0].channel, "Ch 1");
    ck_assert_str_eq(notes[0].payload, "from async");
    ck_assert_int_eq(notes[0].pid, pid);
    ck_assert_int_eq(notes[0].missed, 0);
    ck_assert_str_eq(notes[1].payload, "from sync");
    ck_assert_int_ne(notes[1].pid, pid);
    ck_assert_int_eq(notes[1].missed, 0);
    /* Other channels are not delivered; after UNLISTEN nothing is. */
    ck_assert_int_eq(dal_notify(o, "other", "x"), DAL_OK);
    ck_assert_int_eq(dal_async_unlisten(h, "Ch 1"), DAL_OK);
    ck_assert_int_eq(backend_pid(), pid);
    ck_assert_int_eq(dal_notify(o, "Ch 1", "gone"), DAL_OK);
    ck_assert_int_eq(backend_pid(), pid);
    ck_assert_int_eq(nnotes, 2);
}
END_TEST

/* After the session was killed it listens again by itself, and the
 * next notification says some may have been missed. */
START_TEST(t_relisten)
{
    int64_t pid, killed = 0;
    dal_value p;

    open_h(NULL);
    reset_outs();
    nnotes = 0;
    ck_assert_int_eq(dal_async_listen(h, "re", on_note), DAL_OK);
    pid = backend_pid();
    ck_assert_int_eq(dal_notify(o, "re", "before"), DAL_OK);
    wait_notes(1);
    ck_assert_int_eq(notes[0].missed, 0);
    p.type = DAL_TYPE_INT64;
    p.u.i = pid;
    ck_assert_int_eq(dal_query_int64(o, "SELECT count(*) FROM "
                                     "(SELECT pg_terminate_backend(?)) t",
                                     &p, 1, &killed), DAL_OK);
    wait_gone(pid);
    /* Sent while nobody listens: lost. */
    ck_assert_int_eq(dal_notify(o, "re", "lost"), DAL_OK);
    /* A query after the loss connects again (and listens again). */
    outs[0].calls = 0;
    do {
        reset_outs();
        query(0, "SELECT pg_backend_pid()", NULL, 0);
        run_until(1);
    } while (outs[0].status == DAL_E_CONNECT);
    ck_assert_int_eq(outs[0].status, DAL_OK);
    ck_assert_int_ne(outs[0].v, pid);
    ck_assert_int_eq(dal_notify(o, "re", "after"), DAL_OK);
    wait_notes(2);
    ck_assert_str_eq(notes[1].payload, "after");
    ck_assert_int_eq(notes[1].missed, 1);
    ck_assert_int_eq(dal_notify(o, "re", "next"), DAL_OK);
    wait_notes(3);
    ck_assert_str_eq(notes[2].payload, "next");
    ck_assert_int_eq(notes[2].missed, 0);
}
END_TEST

/* A bad URL option and an unreachable server fail the open; the
 * handle is still closed cleanly. */
START_TEST(t_connect_fail)
{
    open_status = -1;
    ck_assert_int_eq(dal_async_open(&loop, "postgres://nobody@127.0.0.1:1/"
                                    "x?connect_timeout=2", 1, opened,
                                    NULL, &h), DAL_OK);
    while (open_status == -1)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(open_status, DAL_E_CONNECT);
    ck_assert_msg(strstr(dal_async_errmsg(h), "127.0.0.1") != NULL, "%s",
                  dal_async_errmsg(h));
}
END_TEST

/* Multi-host: the first host refuses, the second answers. */
START_TEST(t_multihost)
{
    char url[512];
    const char *at = strstr(test_url, "@"), *slash;

    if (!at || strncmp(test_url, "postgres://", 11))
        return; /* a URL of another shape: nothing to rewrite */
    slash = strchr(at, '/');
    if (!slash)
        return;
    snprintf(url, sizeof url, "%.*s127.0.0.1:1,%.*s%s",
             (int)(at + 1 - test_url), test_url, (int)(slash - at - 1),
             at + 1, slash);
    open_h(url);
    reset_outs();
    query(0, "SELECT 7", NULL, 0);
    run_until(1);
    ck_assert_int_eq(outs[0].status, DAL_OK);
    ck_assert_int_eq(outs[0].v, 7);
}
END_TEST

static Suite *async_pg_suite(void)
{
    Suite *s = suite_create("async_pg[postgres]");
    TCase *tc = tcase_create("async_pg");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_pipeline_order);
    tcase_add_test(tc, t_types);
    tcase_add_test(tc, t_error_middle);
    tcase_add_test(tc, t_tx_error);
    tcase_add_test(tc, t_batch);
    tcase_add_test(tc, t_backpressure);
    tcase_add_test(tc, t_cancel);
    tcase_add_test(tc, t_close_pending);
    tcase_add_test(tc, t_terminate);
    tcase_add_test(tc, t_listen);
    tcase_add_test(tc, t_relisten);
    tcase_add_test(tc, t_connect_fail);
    tcase_add_test(tc, t_multihost);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "async_pg: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    test_url = getenv("DAL_TEST_PG_URL");
    if (test_url == NULL || test_url[0] == '\0') {
        printf("async_pg: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
        return EXIT_SUCCESS;
    }
    sr = srunner_create(async_pg_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (live_blocks != 0) {
        printf("async_pg: libdal holds %ld blocks at exit\n", live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
