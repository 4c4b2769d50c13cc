/*
 * tests/async_observe.c - hooks, metrics and tracing on async handles
 * (dal_async_observe). The same assertions run on every backend:
 *   async_observe[sqlite-file]  sqlite:///tmp/... (a fresh file per test:
 *                               sqlite::memory: is not shared between
 *                               the connections of a pool)
 *   async_observe[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 *
 * Run:  tests/pg/with-pg.sh build/tests/async_observe
 *
 * Every test runs its own uv loop to the end, checks that the loop
 * closes and that libdal holds as many blocks as before (harness.h).
 * Hooks record what they see; the tests check order, values and counts,
 * never times.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include <dal/async.h>
#include <dal.h>

#include "harness.h"

enum backend { BE_SQLITE_FILE, BE_POSTGRES };

static const char *test_url;
static enum backend test_backend;
static char file_path[128];
static char file_url[200];
static int file_seq;
static uv_loop_t loop;
static dal_async *h;
static int opened, open_status, closed;
static pthread_t loop_thread;

static int is_pg(void)
{
    return test_backend == BE_POSTGRES;
}

/* ---- a recording hook ------------------------------------------------- */

#define MAXEV 4096

typedef struct rec_ev {
    dal_event_kind kind;
    char sql[128];
    dal_stmt_kind skind;
    int nparams;
    int64_t rows;
    int rc;
    char sqlstate[6];
    char msg[160];
    int64_t duration_ns;
    char backend[16];
    char tenant[16], actor[16];
} rec_ev;

typedef struct recorder {
    rec_ev ev[MAXEV];
    int n;
    int attached, detached;
    int off_thread;          /* events seen off the loop thread */
    int bad_state;           /* ev->state not what attach stored */
    int bad_len;             /* ev->sql_len not strlen(ev->sql) */
    const char *veto_word;   /* BEFORE of SQL containing it: refused */
} recorder;

static recorder rec1, rec2;

static int rec_fn(const dal_event *ev, void *data)
{
    recorder *r = data;
    rec_ev *e;

    if (!pthread_equal(pthread_self(), loop_thread))
        r->off_thread++;
    if (ev->state != (void *)r)
        r->bad_state++;
    if (ev->sql && ev->sql_len != strlen(ev->sql))
        r->bad_len++;
    if (r->n < MAXEV) {
        e = &r->ev[r->n++];
        memset(e, 0, sizeof *e);
        e->kind = ev->kind;
        snprintf(e->sql, sizeof e->sql, "%s", ev->sql ? ev->sql : "");
        e->skind = ev->stmt_kind;
        e->nparams = ev->nparams;
        e->rows = ev->rows;
        e->rc = ev->rc;
        e->duration_ns = ev->duration_ns;
        snprintf(e->sqlstate, sizeof e->sqlstate, "%s",
                 dal_sqlstate(ev->db));
        snprintf(e->msg, sizeof e->msg, "%s", dal_errmsg(ev->db));
        snprintf(e->backend, sizeof e->backend, "%s", ev->backend);
        snprintf(e->tenant, sizeof e->tenant, "%s",
                 ev->tenant ? ev->tenant : "-");
        snprintf(e->actor, sizeof e->actor, "%s",
                 ev->actor ? ev->actor : "-");
    }
    if (ev->kind == DAL_EV_BEFORE && r->veto_word && ev->sql
        && strstr(ev->sql, r->veto_word))
        return dal_event_refuse(ev, DAL_E_REFUSED, NULL, "no %s here",
                                r->veto_word);
    return DAL_OK;
}

static int rec_attach(dal_db *db, void *data, void **state)
{
    recorder *r = data;

    (void)db;
    r->attached++;
    *state = r;
    return DAL_OK;
}

static void rec_detach(dal_db *db, void *data, void *state)
{
    recorder *r = data;

    (void)db;
    (void)state;
    r->detached++;
}

static void add_recorder(dal_observer *obs, recorder *r)
{
    dal_hook hk;

    memset(&hk, 0, sizeof hk);
    hk.events = DAL_EVENTS_ALL;
    hk.fn = rec_fn;
    hk.data = r;
    hk.attach = rec_attach;
    hk.detach = rec_detach;
    ck_assert_int_eq(dal_observer_add(obs, &hk), DAL_OK);
}

static int count_kind(const recorder *r, dal_event_kind k)
{
    int i, n = 0;

    for (i = 0; i < r->n; i++)
        n += r->ev[i].kind == k;
    return n;
}

/* The index of the first event of kind k at or after from whose SQL
 * contains word (NULL: any), or -1. */
static int find_ev(const recorder *r, int from, dal_event_kind k,
                   const char *word)
{
    int i;

    for (i = from; i < r->n; i++)
        if (r->ev[i].kind == k && (!word || strstr(r->ev[i].sql, word)))
            return i;
    return -1;
}

/* ---- fixture ---------------------------------------------------------- */

static void setup(void)
{
    base_blocks = live_blocks;
    nomem_arm(0);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    loop_thread = pthread_self();
    h = NULL;
    opened = closed = 0;
    open_status = -1;
    memset(&rec1, 0, sizeof rec1);
    memset(&rec2, 0, sizeof rec2);
    if (test_backend == BE_SQLITE_FILE) {
        snprintf(file_path, sizeof file_path, "/tmp/dal-aobs-%ld-%d.db",
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

static void run_until(const int *flag)
{
    while (!*flag)
        ck_assert_msg(uv_run(&loop, UV_RUN_ONCE) != 0 || *flag,
                      "the loop ran out of work");
}

/* Open nconn connections with obs attached before the loop runs. */
static void open_observed(int nconn, dal_observer *obs)
{
    int rc = dal_async_open(&loop, test_url, nconn, on_open, NULL, &h);

    ck_assert_msg(rc == DAL_OK, "open -> %d", rc);
    if (obs) {
        rc = dal_async_observe(h, obs);
        ck_assert_msg(rc == DAL_OK, "observe -> %d: %s", rc,
                      dal_async_errmsg(h));
    }
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

/* ---- requests --------------------------------------------------------- */

typedef struct qres {
    int done;
    int status;
    int64_t nrows;
    int64_t v;
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
    if (res) {
        q->nrows = dal_result_row_count(res);
        if (q->nrows > 0 && dal_result_column_count(res) > 0)
            q->v = dal_result_int64(res, 0, 0);
    }
}

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

static void exec_ok(dal_async *target, const char *sql)
{
    qres q;
    int st = query_on(target, sql, NULL, 0, &q);

    ck_assert_msg(st == DAL_OK, "%s -> %d [%s] %s", sql, st, q.sqlstate,
                  q.msg);
}

static int64_t scalar(const char *sql)
{
    qres q;

    ck_assert_int_eq(query_on(h, sql, NULL, 0, &q), DAL_OK);
    ck_assert_int_eq(q.nrows, 1);
    return q.v;
}

typedef struct txres {
    int done;
    int status;
    dal_async *tx;
} txres;

static void on_begin(dal_async_req *req, int status, dal_async *tx)
{
    txres *t = req->data;

    t->done = 1;
    t->status = status;
    t->tx = tx;
}

static void on_done(dal_async_req *req, int status)
{
    txres *t = req->data;

    t->done = 1;
    t->status = status;
}

static dal_async *begin_tx(void)
{
    dal_async_req req;
    txres t;

    memset(&t, 0, sizeof t);
    memset(&req, 0, sizeof req);
    req.data = &t;
    ck_assert_int_eq(dal_async_begin(&req, h, 0, on_begin), DAL_OK);
    run_until(&t.done);
    ck_assert_int_eq(t.status, DAL_OK);
    return t.tx;
}

static void end_tx(dal_async *tx, int commit)
{
    dal_async_req req;
    txres t;

    memset(&t, 0, sizeof t);
    memset(&req, 0, sizeof req);
    req.data = &t;
    ck_assert_int_eq(commit ? dal_async_commit(&req, tx, on_done)
                            : dal_async_rollback(&req, tx, on_done),
                     DAL_OK);
    run_until(&t.done);
    ck_assert_int_eq(t.status, DAL_OK);
}

static void make_table(dal_async *target)
{
    exec_ok(target, "DROP TABLE IF EXISTS ao_t");
    exec_ok(target, "CREATE TABLE ao_t (id BIGINT PRIMARY KEY, "
                    "name TEXT)");
}

/* ---- hook order, values, errors ---------------------------------------- */

START_TEST(t_order)
{
    dal_value p[] = {DAL_V_INT64(1), DAL_V_TEXT("ann")};
    dal_observer *obs;
    qres q;
    int i, b, a;

    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    add_recorder(obs, &rec1);
    open_observed(1, obs);
    ck_assert_int_eq(rec1.attached, 1);
    /* The connect event came first, on the loop thread. */
    ck_assert_int_ge(rec1.n, 1);
    ck_assert_int_eq(rec1.ev[0].kind, DAL_EV_CONNECT);
    ck_assert_int_eq(rec1.ev[0].rc, DAL_OK);
    ck_assert_str_eq(rec1.ev[0].backend, is_pg() ? "postgres" : "sqlite");

    make_table(h);
    ck_assert_int_eq(query_on(h, "INSERT INTO ao_t VALUES (?, ?)", p, 2,
                              &q), DAL_OK);
    exec_ok(h, "INSERT INTO ao_t VALUES (2, 'bob')");
    ck_assert_int_eq(query_on(h, "SELECT id FROM ao_t ORDER BY id", NULL,
                              0, &q), DAL_OK);
    ck_assert_int_eq(q.nrows, 2);
    /* An error: the hook sees its code and SQLSTATE, like the callback. */
    ck_assert_int_eq(query_on(h, "INSERT INTO ao_t VALUES (1, 'dup')",
                              NULL, 0, &q), DAL_E_CONSTRAINT);
    ck_assert_str_eq(q.sqlstate, "23505");

    /* Each statement: BEFORE, then AFTER, one after the other (one
     * connection, one at a time), with the SQL as the caller wrote it
     * (not PostgreSQL's $1), as for a blocking statement. */
    ck_assert_int_eq(find_ev(&rec1, 0, DAL_EV_BEFORE, "$1"), -1);
    b = find_ev(&rec1, 0, DAL_EV_BEFORE, "INSERT INTO ao_t VALUES (?, ?)");
    ck_assert_int_ge(b, 0);
    ck_assert_str_eq(rec1.ev[b].sql, "INSERT INTO ao_t VALUES (?, ?)");
    ck_assert_int_eq(rec1.ev[b].nparams, 2);
    ck_assert_int_eq(rec1.ev[b].skind, DAL_SK_INSERT);
    ck_assert_int_eq(rec1.ev[b].rows, -1);
    ck_assert_int_eq(rec1.ev[b + 1].kind, DAL_EV_AFTER);
    ck_assert_str_eq(rec1.ev[b + 1].sql, rec1.ev[b].sql);
    ck_assert_int_eq(rec1.ev[b + 1].rc, DAL_OK);
    ck_assert_int_eq(rec1.ev[b + 1].rows, 1);
    ck_assert_int_ge(rec1.ev[b + 1].duration_ns, 0);

    b = find_ev(&rec1, 0, DAL_EV_BEFORE, "SELECT id FROM ao_t");
    ck_assert_int_ge(b, 0);
    ck_assert_int_eq(rec1.ev[b].skind, DAL_SK_SELECT);
    ck_assert_int_eq(rec1.ev[b + 1].kind, DAL_EV_AFTER);
    ck_assert_int_eq(rec1.ev[b + 1].rows, 2);
    ck_assert_int_eq(rec1.ev[b + 1].rc, DAL_OK);
    ck_assert_str_eq(rec1.ev[b + 1].sqlstate, "00000");

    a = find_ev(&rec1, 0, DAL_EV_AFTER, "'dup'");
    ck_assert_int_ge(a, 1);
    ck_assert_int_eq(rec1.ev[a - 1].kind, DAL_EV_BEFORE);
    ck_assert_int_eq(rec1.ev[a].rc, DAL_E_CONSTRAINT);
    ck_assert_int_eq(rec1.ev[a].rows, -1);
    ck_assert_str_eq(rec1.ev[a].sqlstate, "23505");
    ck_assert_ptr_nonnull(strstr(rec1.ev[a].msg, q.msg));

    /* DDL counted as such; every BEFORE matched by the next AFTER. */
    b = find_ev(&rec1, 0, DAL_EV_BEFORE, "CREATE TABLE");
    ck_assert_int_eq(rec1.ev[b].skind, DAL_SK_DDL);
    ck_assert_int_eq(count_kind(&rec1, DAL_EV_BEFORE), 6);
    ck_assert_int_eq(count_kind(&rec1, DAL_EV_AFTER), 6);
    for (i = 1; i < rec1.n; i++)
        if (rec1.ev[i].kind == DAL_EV_AFTER)
            ck_assert_int_eq(rec1.ev[i - 1].kind, DAL_EV_BEFORE);

    close_h();
    ck_assert_int_eq(rec1.ev[rec1.n - 1].kind, DAL_EV_DISCONNECT);
    ck_assert_int_eq(count_kind(&rec1, DAL_EV_CONNECT), 1);
    ck_assert_int_eq(rec1.detached, 1);
    ck_assert_int_eq(rec1.off_thread, 0);
    ck_assert_int_eq(rec1.bad_len, 0);
    ck_assert_int_eq(rec1.bad_state, 0);
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
}
END_TEST

/* ---- veto -------------------------------------------------------------- */

START_TEST(t_veto)
{
    dal_observer *obs;
    qres q;
    int b;

    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    add_recorder(obs, &rec1);   /* sees BEFORE and the veto's AFTER */
    rec1.veto_word = "DELETE";
    add_recorder(obs, &rec2);   /* after the veto: sees neither */
    open_observed(2, obs);
    make_table(h);
    exec_ok(h, "INSERT INTO ao_t VALUES (1, 'ann')");
    exec_ok(h, "INSERT INTO ao_t VALUES (2, 'bob')");

    ck_assert_int_eq(query_on(h, "DELETE FROM ao_t WHERE id = 1", NULL, 0,
                              &q), DAL_E_REFUSED);
    ck_assert_str_eq(q.msg, "no DELETE here");
    ck_assert_str_eq(q.sqlstate, "42501");
    /* Nothing ran. */
    ck_assert_int_eq(scalar("SELECT COUNT(*) FROM ao_t"), 2);

    b = find_ev(&rec1, 0, DAL_EV_BEFORE, "DELETE");
    ck_assert_int_ge(b, 0);
    ck_assert_int_eq(rec1.ev[b + 1].kind, DAL_EV_AFTER);
    ck_assert_int_eq(rec1.ev[b + 1].rc, DAL_E_REFUSED);
    ck_assert_str_eq(rec1.ev[b + 1].sqlstate, "42501");
    ck_assert_int_eq(find_ev(&rec1, b + 2, DAL_EV_AFTER, "DELETE"), -1);
    ck_assert_int_eq(find_ev(&rec2, 0, DAL_EV_BEFORE, "DELETE"), -1);
    ck_assert_int_eq(find_ev(&rec2, 0, DAL_EV_AFTER, "DELETE"), -1);
    /* The rest is seen by both. */
    ck_assert_int_eq(count_kind(&rec2, DAL_EV_AFTER),
                     count_kind(&rec1, DAL_EV_AFTER) - 1);

    /* A transaction's COMMIT refused: the callback gets the refusal,
     * and the transaction is rolled back, not committed. */
    {
        dal_async *tx = begin_tx();
        dal_async_req req;
        txres t;

        exec_ok(tx, "INSERT INTO ao_t VALUES (3, 'cy')");
        rec1.veto_word = "COMMIT";
        memset(&t, 0, sizeof t);
        memset(&req, 0, sizeof req);
        req.data = &t;
        ck_assert_int_eq(dal_async_commit(&req, tx, on_done), DAL_OK);
        run_until(&t.done);
        ck_assert_int_eq(t.status, DAL_E_REFUSED);
        rec1.veto_word = NULL;
        ck_assert_int_eq(scalar("SELECT COUNT(*) FROM ao_t"), 2);
    }
    close_h();
    ck_assert_int_eq(rec1.detached, 2);
    ck_assert_int_eq(rec2.detached, 2);
    ck_assert_int_eq(count_kind(&rec1, DAL_EV_BEFORE),
                     count_kind(&rec1, DAL_EV_AFTER));
    ck_assert_int_eq(count_kind(&rec2, DAL_EV_BEFORE),
                     count_kind(&rec2, DAL_EV_AFTER));
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
}
END_TEST

/* A guard (a veto built on hooks) on an AST without WHERE. */
START_TEST(t_guard)
{
    dal_guard_opts go;
    dal_observer *obs;
    dal_guard *g;
    dal_async_req req;
    dal_query *qq;
    qres q;

    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    memset(&go, 0, sizeof go);
    go.require_where = 1;
    ck_assert_int_eq(dal_guard_add(obs, &go, &g), DAL_OK);
    open_observed(1, obs);
    make_table(h);
    exec_ok(h, "INSERT INTO ao_t VALUES (1, 'ann')");
    qq = dal_delete("ao_t");
    ck_assert_ptr_nonnull(qq);
    memset(&q, 0, sizeof q);
    memset(&req, 0, sizeof req);
    req.data = &q;
    ck_assert_int_eq(dal_async_query_ast(&req, h, qq, on_query), DAL_OK);
    dal_query_free(qq);
    run_until(&q.done);
    ck_assert_int_eq(q.status, DAL_E_REFUSED);
    ck_assert_ptr_nonnull(strstr(q.msg, "require_where"));
    ck_assert_int_eq(scalar("SELECT COUNT(*) FROM ao_t"), 1);
    close_h();
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
    dal_guard_free(g);
}
END_TEST

/* ---- metrics ----------------------------------------------------------- */

static void expect_line(const char *text, const char *line)
{
    char want[256];

    snprintf(want, sizeof want, "\n%s\n", line);
    ck_assert_msg(strstr(text, want) != NULL, "missing line: %s\n%s", line,
                  text);
}

/* Labels set on the pool reach every event, before and after the
 * observer is attached; NULL clears them; a transaction handle has its
 * pool's. */
START_TEST(t_labels)
{
    dal_observer *obs;
    dal_async *tx;
    int i;

    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    add_recorder(obs, &rec1);
    open_observed(2, NULL);
    ck_assert_int_eq(dal_async_set_tenant(h, "acme"), DAL_OK);
    ck_assert_int_eq(dal_async_observe(h, obs), DAL_OK);
    exec_ok(h, "SELECT 1");
    i = find_ev(&rec1, 0, DAL_EV_AFTER, "SELECT 1");
    ck_assert_int_ge(i, 0);
    ck_assert_str_eq(rec1.ev[i].tenant, "acme");
    ck_assert_str_eq(rec1.ev[i].actor, "-");

    ck_assert_int_eq(dal_async_set_actor(h, "bob"), DAL_OK);
    exec_ok(h, "SELECT 2");
    i = find_ev(&rec1, 0, DAL_EV_BEFORE, "SELECT 2");
    ck_assert_int_ge(i, 0);
    ck_assert_str_eq(rec1.ev[i].tenant, "acme");
    ck_assert_str_eq(rec1.ev[i].actor, "bob");

    tx = begin_tx();
    ck_assert_int_eq(dal_async_set_tenant(tx, "other"), DAL_E_MISUSE);
    ck_assert_int_eq(dal_async_set_actor(tx, "other"), DAL_E_MISUSE);
    exec_ok(tx, "SELECT 3");
    i = find_ev(&rec1, 0, DAL_EV_AFTER, "SELECT 3");
    ck_assert_int_ge(i, 0);
    ck_assert_str_eq(rec1.ev[i].tenant, "acme");
    end_tx(tx, 1);

    /* Out of memory: the label stays as it was. */
    nomem_arm(1);
    ck_assert_int_eq(dal_async_set_tenant(h, "zz"), DAL_NOMEM);
    nomem_arm(0);
    exec_ok(h, "SELECT 5");
    i = find_ev(&rec1, 0, DAL_EV_AFTER, "SELECT 5");
    ck_assert_int_ge(i, 0);
    ck_assert_str_eq(rec1.ev[i].tenant, "acme");

    ck_assert_int_eq(dal_async_set_tenant(h, NULL), DAL_OK);
    exec_ok(h, "SELECT 4");
    i = find_ev(&rec1, 0, DAL_EV_AFTER, "SELECT 4");
    ck_assert_int_ge(i, 0);
    ck_assert_str_eq(rec1.ev[i].tenant, "-");
    ck_assert_str_eq(rec1.ev[i].actor, "bob");
    ck_assert_int_eq(dal_async_set_tenant(NULL, "x"), DAL_E_MISUSE);
    close_h();
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
}
END_TEST

START_TEST(t_metrics)
{
    dal_observer *obs;
    dal_metrics *m;
    dal_async *tx;
    char *text, line[200];
    const char *be = is_pg() ? "postgres" : "sqlite";
    size_t len;
    qres q;

    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    ck_assert_int_eq(dal_metrics_new(&m), DAL_OK);
    ck_assert_int_eq(dal_metrics_observe(m, obs), DAL_OK);
    open_observed(2, obs);
    make_table(h);                                    /* 2 ddl */
    exec_ok(h, "INSERT INTO ao_t VALUES (1, 'a')");   /* 3 inserts */
    exec_ok(h, "INSERT INTO ao_t VALUES (2, 'b')");
    exec_ok(h, "INSERT INTO ao_t VALUES (3, 'c')");
    ck_assert_int_eq(query_on(h, "SELECT * FROM ao_t", NULL, 0, &q),
                     DAL_OK);                         /* 3 rows */
    ck_assert_int_eq(query_on(h, "SELECT * FROM ao_t WHERE id > 1", NULL,
                              0, &q), DAL_OK);        /* 2 rows */
    ck_assert_int_eq(query_on(h, "INSERT INTO ao_t VALUES (1, 'x')", NULL,
                              0, &q), DAL_E_CONSTRAINT);
    tx = begin_tx();
    exec_ok(tx, "UPDATE ao_t SET name = 'z' WHERE id < 3");  /* 2 rows */
    end_tx(tx, 1);
    tx = begin_tx();
    exec_ok(tx, "DELETE FROM ao_t");
    end_tx(tx, 0);
    close_h();

    ck_assert_int_eq(dal_metrics_write_prometheus(m, &text, &len), DAL_OK);
#define LINE(...) (snprintf(line, sizeof line, __VA_ARGS__), \
                   expect_line(text, line))
    LINE("dal_statements_total{backend=\"%s\",kind=\"ddl\",outcome=\"ok\"}"
         " 2", be);
    LINE("dal_statements_total{backend=\"%s\",kind=\"insert\","
         "outcome=\"ok\"} 3", be);
    LINE("dal_statements_total{backend=\"%s\",kind=\"insert\","
         "outcome=\"error\"} 1", be);
    LINE("dal_statements_total{backend=\"%s\",kind=\"select\","
         "outcome=\"ok\"} 2", be);
    LINE("dal_statements_total{backend=\"%s\",kind=\"update\","
         "outcome=\"ok\"} 1", be);
    /* BEGIN, COMMIT, BEGIN, ROLLBACK */
    LINE("dal_statements_total{backend=\"%s\",kind=\"tx\",outcome=\"ok\"}"
         " 4", be);
    LINE("dal_rows_total{backend=\"%s\",kind=\"select\"} 5", be);
    LINE("dal_rows_total{backend=\"%s\",kind=\"insert\"} 3", be);
    LINE("dal_rows_total{backend=\"%s\",kind=\"update\"} 2", be);
    LINE("dal_rows_total{backend=\"%s\",kind=\"delete\"} 3", be);
    LINE("dal_errors_total{backend=\"%s\",class=\"23\"} 1", be);
    LINE("dal_transactions_total{backend=\"%s\",outcome=\"committed\"} 1",
         be);
    LINE("dal_transactions_total{backend=\"%s\",outcome=\"rolled_back\"} 1",
         be);
    LINE("dal_connections_total{backend=\"%s\",event=\"opened\"} 2", be);
    LINE("dal_connections_total{backend=\"%s\",event=\"closed\"} 2", be);
    LINE("dal_statement_duration_seconds_count{backend=\"%s\"} 14", be);
    LINE("dal_connections_attached{backend=\"%s\"} 0", be);
#undef LINE
    dal_free(text);
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
    ck_assert_int_eq(dal_metrics_free(m), DAL_OK);
}
END_TEST

/* ---- tracing ----------------------------------------------------------- */

typedef struct span_rec {
    dal_span_kind kind;
    char name[16];
    uint8_t trace_id[16], span_id[8], parent_id[8];
    int ended;
    int status;
} span_rec;

static span_rec spans[64];
static int nspans, span_bad;

static void on_span_start(const dal_span *sp, void *data)
{
    (void)data;
    if (nspans >= 64)
        return;
    spans[nspans].kind = sp->kind;
    snprintf(spans[nspans].name, sizeof spans[nspans].name, "%s",
             sp->name);
    memcpy(spans[nspans].trace_id, sp->trace_id, 16);
    memcpy(spans[nspans].span_id, sp->span_id, 8);
    memcpy(spans[nspans].parent_id, sp->parent_id, 8);
    nspans++;
}

static void on_span_end(const dal_span *sp, void *data)
{
    int i;

    (void)data;
    for (i = 0; i < nspans; i++)
        if (!memcmp(spans[i].span_id, sp->span_id, 8)) {
            if (spans[i].ended)
                span_bad++;
            spans[i].ended = 1;
            spans[i].status = sp->status;
            return;
        }
    span_bad++;
}

static int is_zero(const uint8_t *p, int n)
{
    while (n--)
        if (*p++)
            return 0;
    return 1;
}

START_TEST(t_trace)
{
    static const uint8_t zero[8];
    dal_observer *obs;
    dal_tracer *t;
    dal_async *tx;
    int i, txi = -1, nstmt = 0, in_tx = 0;

    nspans = span_bad = 0;
    memset(spans, 0, sizeof spans);
    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    ck_assert_int_eq(dal_tracer_new(on_span_start, on_span_end, NULL, 0,
                                    &t), DAL_OK);
    ck_assert_int_eq(dal_tracer_observe(t, obs), DAL_OK);
    open_observed(1, obs);
    make_table(h);                                       /* 2 spans */
    tx = begin_tx();                                     /* BEGIN */
    exec_ok(tx, "INSERT INTO ao_t VALUES (1, 'a')");
    exec_ok(tx, "SELECT * FROM ao_t");
    end_tx(tx, 1);                                       /* COMMIT */
    exec_ok(h, "SELECT 1");
    close_h();

    ck_assert_int_eq(span_bad, 0);
    for (i = 0; i < nspans; i++) {
        ck_assert_msg(spans[i].ended, "span %s not ended", spans[i].name);
        if (spans[i].kind == DAL_SPAN_TX) {
            ck_assert_int_eq(txi, -1);
            txi = i;
        } else {
            nstmt++;
        }
    }
    ck_assert_int_eq(nstmt, 7);
    ck_assert_int_ge(txi, 0);
    ck_assert_int_eq(spans[txi].status, DAL_OK);
    ck_assert(is_zero(spans[txi].parent_id, 8));
    /* The statements after BEGIN, COMMIT included, are the
     * transaction's children; the others are roots. */
    for (i = 0; i < nspans; i++) {
        if (i == txi)
            continue;
        if (!strcmp(spans[i].name, "INSERT")
            || (!strcmp(spans[i].name, "SELECT") && i < txi + 3)) {
            in_tx++;
            ck_assert_msg(!memcmp(spans[i].parent_id, spans[txi].span_id,
                                  8), "%s is not in the transaction",
                          spans[i].name);
            ck_assert(!memcmp(spans[i].trace_id, spans[txi].trace_id,
                              16));
        } else if (i < txi) {
            ck_assert(!memcmp(spans[i].parent_id, zero, 8));
        }
    }
    ck_assert_int_eq(in_tx, 2);
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
    ck_assert_int_eq(dal_tracer_free(t), DAL_OK);
}
END_TEST

/* ---- sqlcommenter ----------------------------------------------------- */

/*
 * The SQL text SQLite was given, as its own trace callback sees it:
 * registered through sqlite3_auto_extension on every connection opened
 * in the process, libdal's worker threads' included.
 */
#define MAXSEEN 64

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen_sql[MAXSEEN][512];
static int nseen;

static int seen_trace(unsigned type, void *ctx, void *p, void *x)
{
    char *sql;

    (void)ctx;
    (void)x;
    if (type != SQLITE_TRACE_STMT)
        return 0;
    sql = sqlite3_expanded_sql((sqlite3_stmt *)p);
    pthread_mutex_lock(&seen_mu);
    if (sql && nseen < MAXSEEN)
        snprintf(seen_sql[nseen++], sizeof seen_sql[0], "%s", sql);
    pthread_mutex_unlock(&seen_mu);
    sqlite3_free(sql);
    return 0;
}

static int seen_ext(sqlite3 *db, char **err, const void *api)
{
    (void)err;
    (void)api;
    sqlite3_trace_v2(db, SQLITE_TRACE_STMT, seen_trace, NULL);
    return SQLITE_OK;
}

/* The statement span that ended last (its AFTER runs just before the
 * request's callback), and the cache counters of its connection. */
typedef struct span_seen {
    uint8_t trace_id[16], span_id[8], parent_id[8];
    char stmt[160];
    uint64_t cache[3];
    int n;
} span_seen;

static span_seen last_span;

static void on_span_seen(const dal_span *sp, void *data)
{
    int i;

    (void)data;
    if (sp->kind != DAL_SPAN_STATEMENT)
        return;
    memcpy(last_span.trace_id, sp->trace_id, 16);
    memcpy(last_span.span_id, sp->span_id, 8);
    memcpy(last_span.parent_id, sp->parent_id, 8);
    last_span.stmt[0] = '\0';
    for (i = 0; i < sp->nattrs; i++)
        if (!strcmp(sp->attrs[i].key, "db.statement"))
            snprintf(last_span.stmt, sizeof last_span.stmt, "%.*s",
                     (int)sp->attrs[i].value.u.s.len,
                     sp->attrs[i].value.u.s.p);
    ck_assert_int_eq(dal_stmt_cache_stats(sp->db, &last_span.cache[0],
                                          &last_span.cache[1],
                                          &last_span.cache[2]), DAL_OK);
    last_span.n++;
}

typedef struct creq {
    int done, status;
    int64_t n;
    char q[512];
    span_seen sp;
} creq;

static int creq_done;

static void on_creq(dal_async_req *req, int status, dal_result *res)
{
    creq *c = req->data;

    c->done = 1;
    c->status = status;
    c->sp = last_span;
    creq_done++;
    if (res && dal_result_row_count(res) == 1) {
        c->n = dal_result_int64(res, 0, 0);
        if (dal_result_column_count(res) > 1)
            snprintf(c->q, sizeof c->q, "%s",
                     dal_result_text(res, 0, 1, NULL));
    }
}

/* The traceparent in a comment of text, parsed; 0 when there is none. */
static int comment_of(const char *text, uint8_t tid[16], uint8_t sid[8])
{
    const char *p = strstr(text, "/*traceparent='");
    char tp[DAL_TRACEPARENT_LEN + 1];

    if (!p)
        return 0;
    p += strlen("/*traceparent='");
    if (strlen(p) < DAL_TRACEPARENT_LEN + 3
        || strncmp(p + DAL_TRACEPARENT_LEN, "'*/", 3))
        return 0;
    memcpy(tp, p, DAL_TRACEPARENT_LEN);
    tp[DAL_TRACEPARENT_LEN] = '\0';
    return dal_traceparent_parse(tp, tid, sid, NULL) == DAL_OK;
}

#define NCOMMENT 8

/*
 * Requests in flight together (pipelined on PostgreSQL, queued on
 * SQLite's thread) each carry the id of their own span in the SQL the
 * server received: PostgreSQL's current_query() returns the text it
 * runs, SQLite's trace callback shows the text it was given. The pool's
 * requests are issued while a transaction holds its one connection, so
 * they wait and are all given to it at once when the transaction ends
 * (a comment written when each was issued would carry the wrong id);
 * one runs inside the transaction, in its trace, and the last is a
 * query built as an AST. Hooks and spans see the caller's text (the
 * compiled SQL for the AST), without the comment, and the statement
 * cache is bypassed.
 */
START_TEST(t_sqlcomment)
{
    const char *sql = is_pg()
        ? "SELECT CAST(? AS INTEGER) AS n, current_query() AS q"
        : "SELECT CAST(? AS INTEGER) AS n";
    enum { NALL = NCOMMENT + 2, AST = NCOMMENT + 1 };
    dal_async_req reqs[NALL], creq_end;
    creq cr[NALL];
    txres end;
    dal_observer *obs;
    dal_tracer *t;
    dal_async *tx;
    dal_query *q;
    int i, k;

    memset(&last_span, 0, sizeof last_span);
    memset(cr, 0, sizeof cr);
    creq_done = 0;
    nseen = 0;
    if (!is_pg())
        ck_assert_int_eq(sqlite3_auto_extension((void (*)(void))seen_ext),
                         SQLITE_OK);
    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    ck_assert_int_eq(dal_tracer_new(NULL, on_span_seen, NULL,
                                    DAL_TRACE_SQLCOMMENT, &t), DAL_OK);
    ck_assert_int_eq(dal_tracer_observe(t, obs), DAL_OK);
    open_observed(1, obs);
    tx = begin_tx();
    for (i = 0; i <= NCOMMENT; i++) {
        dal_value v = DAL_V_INT64(i + 1);

        memset(&reqs[i], 0, sizeof reqs[i]);
        reqs[i].data = &cr[i];
        ck_assert_int_eq(dal_async_query(&reqs[i], i < NCOMMENT ? h : tx,
                                         sql, &v, 1, on_creq), DAL_OK);
    }
    q = dal_select(dal_int(AST + 1), dal_func0(is_pg() ? "current_query"
                                                       : "sqlite_version"));
    memset(&reqs[AST], 0, sizeof reqs[AST]);
    reqs[AST].data = &cr[AST];
    ck_assert_int_eq(dal_async_query_ast(&reqs[AST], h, q, on_creq),
                     DAL_OK);
    dal_query_free(q);
    memset(&end, 0, sizeof end);
    memset(&creq_end, 0, sizeof creq_end);
    creq_end.data = &end;
    ck_assert_int_eq(dal_async_commit(&creq_end, tx, on_done), DAL_OK);
    ck_assert_int_eq(dal_async_pending(h), NALL + 1);
    while (creq_done < NALL || !end.done)
        ck_assert(uv_run(&loop, UV_RUN_ONCE) != 0
                  || (creq_done == NALL && end.done));
    ck_assert_int_eq(end.status, DAL_OK);
    close_h();
    if (!is_pg())
        sqlite3_cancel_auto_extension((void (*)(void))seen_ext);

    /* The transaction's request ran as a child of its span; the
     * others, issued outside it, as roots. */
    ck_assert(!is_zero(cr[NCOMMENT].sp.parent_id, 8));
    for (i = 0; i < NCOMMENT; i++)
        ck_assert(is_zero(cr[i].sp.parent_id, 8));
    for (i = 0; i < NALL; i++) {
        const char *text = NULL;
        char want[40];
        uint8_t tid[16], sid[8];

        ck_assert_int_eq(cr[i].status, DAL_OK);
        ck_assert_int_eq(cr[i].n, i + 1);
        ck_assert_int_ge(cr[i].sp.n, 1);
        /* The span's statement is the caller's text. */
        if (i == AST) {
            ck_assert_ptr_nonnull(strstr(cr[i].sp.stmt, is_pg()
                                         ? "current_query()"
                                         : "sqlite_version()"));
            ck_assert_ptr_null(strstr(cr[i].sp.stmt, "traceparent"));
        } else {
            ck_assert_str_eq(cr[i].sp.stmt, sql);
        }
        if (is_pg()) {
            text = cr[i].q;
        } else {
            if (i == AST)
                snprintf(want, sizeof want, "sqlite_version()");
            else
                snprintf(want, sizeof want, "CAST(%d AS INTEGER)", i + 1);
            pthread_mutex_lock(&seen_mu);
            for (k = 0; k < nseen && !text; k++)
                if (strstr(seen_sql[k], want))
                    text = seen_sql[k];
            pthread_mutex_unlock(&seen_mu);
        }
        ck_assert_msg(text != NULL, "request %d: no SQL seen", i);
        ck_assert_msg(comment_of(text, tid, sid), "request %d: no "
                      "traceparent in %s", i, text);
        ck_assert_msg(!memcmp(sid, cr[i].sp.span_id, 8), "request %d: "
                      "the comment's span id is not its span's: %s", i,
                      text);
        ck_assert(!memcmp(tid, cr[i].sp.trace_id, 16));
        for (k = 0; k < i; k++)
            ck_assert(memcmp(cr[k].sp.span_id, cr[i].sp.span_id, 8));
        /* Commented statements never use the statement cache: what it
         * counted is at most the transaction's BEGIN and COMMIT (SQLite
         * runs them as dal_begin() and dal_commit() do, cached). */
        ck_assert_uint_eq(cr[i].sp.cache[0], 0);
        ck_assert_uint_le(cr[i].sp.cache[1], is_pg() ? 0 : 2);
    }
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
    ck_assert_int_eq(dal_tracer_free(t), DAL_OK);
}
END_TEST

/* ---- statement cache counters ------------------------------------------ */

static uint64_t cache_seen[3];
static int cache_events;

/* At each AFTER: the counters of the event's connection. */
static int cache_hook(const dal_event *ev, void *data)
{
    (void)data;
    if (ev->kind == DAL_EV_AFTER) {
        ck_assert_int_eq(dal_stmt_cache_stats(ev->db, &cache_seen[0],
                                              &cache_seen[1],
                                              &cache_seen[2]), DAL_OK);
        cache_events++;
    }
    return DAL_OK;
}

/*
 * The connection's statement cache as hooks and dal_metrics see it.
 * With statement_cache=2, the texts A A B C A: SQLite's cache (an LRU
 * in the worker's blocking connection) misses A, hits A, misses B and
 * C (evicting A), misses A (evicting B): 1 hit, 4 misses, 2 evictions.
 * PostgreSQL's async cache prepares A and B, runs C with its text once
 * full and never evicts: 2 hits, 3 misses, 0 evictions.
 */
START_TEST(t_cache_stats)
{
    static const char *const texts[] = {
        "SELECT 1 AS a", "SELECT 1 AS a", "SELECT 2 AS b", "SELECT 3 AS c",
        "SELECT 1 AS a",
    };
    const uint64_t want[3] = {is_pg() ? 2 : 1, is_pg() ? 3 : 4,
                              is_pg() ? 0 : 2};
    const char *be = is_pg() ? "postgres" : "sqlite";
    const char *saved_url = test_url;
    static char url[600];
    char *text, line[200];
    dal_observer *obs;
    dal_metrics *m;
    dal_hook hk;
    size_t len;
    qres q;
    int i;

    snprintf(url, sizeof url, "%s%cstatement_cache=2", test_url,
             strchr(test_url, '?') ? '&' : '?');
    test_url = url;
    memset(cache_seen, 0, sizeof cache_seen);
    cache_events = 0;
    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    memset(&hk, 0, sizeof hk);
    hk.events = DAL_EVENTS_STATEMENT;
    hk.fn = cache_hook;
    ck_assert_int_eq(dal_observer_add(obs, &hk), DAL_OK);
    ck_assert_int_eq(dal_metrics_new(&m), DAL_OK);
    ck_assert_int_eq(dal_metrics_observe(m, obs), DAL_OK);
    open_observed(1, obs);
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(query_on(h, texts[i], NULL, 0, &q), DAL_OK);
    test_url = saved_url;
    ck_assert_int_eq(cache_events, 5);
    for (i = 0; i < 3; i++)
        ck_assert_msg(cache_seen[i] == want[i], "counter %d: %llu, not "
                      "%llu", i, (unsigned long long)cache_seen[i],
                      (unsigned long long)want[i]);
    close_h();

    ck_assert_int_eq(dal_metrics_write_prometheus(m, &text, &len), DAL_OK);
    snprintf(line, sizeof line, "dal_statement_cache_hits_total{backend="
             "\"%s\"} %llu", be, (unsigned long long)want[0]);
    expect_line(text, line);
    snprintf(line, sizeof line, "dal_statement_cache_misses_total{backend="
             "\"%s\"} %llu", be, (unsigned long long)want[1]);
    expect_line(text, line);
    snprintf(line, sizeof line, "dal_statement_cache_evictions_total{"
             "backend=\"%s\"} %llu", be, (unsigned long long)want[2]);
    expect_line(text, line);
    dal_free(text);
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
    ck_assert_int_eq(dal_metrics_free(m), DAL_OK);
}
END_TEST

/* ---- the result cache sees async writes --------------------------------- */

static int64_t cached_count(dal_db *db, dal_rcache *cache)
{
    dal_result *r = NULL;
    int64_t v;
    int rc = dal_rcache_query(db, cache, "SELECT COUNT(*) FROM ao_t", NULL,
                              0, 60000, &r);

    ck_assert_msg(rc == DAL_OK, "rcache query -> %d: %s", rc,
                  dal_errmsg(db));
    v = dal_result_int64(r, 0, 0);
    dal_result_free(r);
    return v;
}

START_TEST(t_rcache)
{
    dal_observer *obs;
    dal_rcache *cache;
    dal_async *tx;
    dal_db *db;

    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    ck_assert_int_eq(dal_rcache_new(NULL, &cache), DAL_OK);
    ck_assert_int_eq(dal_rcache_observe(cache, obs), DAL_OK);
    open_observed(1, obs);
    make_table(h);
    exec_ok(h, "INSERT INTO ao_t VALUES (1, 'a')");
    ck_assert_int_eq(dal_open_observed(test_url, obs, &db), DAL_OK);
    ck_assert_int_eq(cached_count(db, cache), 1);
    /* An async write outside a transaction drops the entry. */
    exec_ok(h, "INSERT INTO ao_t VALUES (2, 'b')");
    ck_assert_int_eq(cached_count(db, cache), 2);
    /* Inside one, the entry is dropped again at its end: meanwhile
     * another session read (and cached) the rows from before. */
    tx = begin_tx();
    exec_ok(tx, "INSERT INTO ao_t VALUES (3, 'c')");
    ck_assert_int_eq(cached_count(db, cache), 2);
    end_tx(tx, 1);
    ck_assert_int_eq(cached_count(db, cache), 3);
    dal_close(db);
    close_h();
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
    ck_assert_int_eq(dal_rcache_free(cache), DAL_OK);
}
END_TEST

/* ---- close with requests pending --------------------------------------- */

#define NPEND 60

static int pend_done, pend_closed;

static void on_pending(dal_async_req *req, int status, dal_result *res)
{
    (void)req;
    (void)res;
    pend_done++;
    if (status == DAL_E_CLOSED)
        pend_closed++;
    else
        ck_assert_int_eq(status, DAL_OK);
}

START_TEST(t_close_pending)
{
    static dal_async_req reqs[NPEND];
    dal_observer *obs;
    int i, before, after, after_closed = 0;

    pend_done = pend_closed = 0;
    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    add_recorder(obs, &rec1);
    open_observed(2, obs);
    make_table(h);
    for (i = 0; i < NPEND; i++) {
        memset(&reqs[i], 0, sizeof reqs[i]);
        ck_assert_int_eq(dal_async_query(&reqs[i], h, "SELECT COUNT(*) "
                                         "FROM ao_t", NULL, 0, on_pending),
                         DAL_OK);
    }
    /* Closed at once: the rest end with DAL_E_CLOSED. */
    uv_run(&loop, UV_RUN_NOWAIT);
    close_h();
    ck_assert_int_eq(pend_done, NPEND);
    before = count_kind(&rec1, DAL_EV_BEFORE);
    after = count_kind(&rec1, DAL_EV_AFTER);
    ck_assert_int_eq(before, after);
    ck_assert_int_eq(before, NPEND + 2);
    for (i = 0; i < rec1.n; i++)
        if (rec1.ev[i].kind == DAL_EV_AFTER
            && rec1.ev[i].rc == DAL_E_CLOSED)
            after_closed++;
    ck_assert_int_eq(after_closed, pend_closed);
    ck_assert_int_eq(count_kind(&rec1, DAL_EV_DISCONNECT),
                     count_kind(&rec1, DAL_EV_CONNECT));
    /* The last events are the disconnects, after every AFTER. */
    ck_assert_int_eq(rec1.ev[rec1.n - 1].kind, DAL_EV_DISCONNECT);
    ck_assert_int_eq(rec1.attached, 2);
    ck_assert_int_eq(rec1.detached, 2);
    ck_assert_int_eq(rec1.off_thread, 0);
    ck_assert_int_eq(rec1.bad_len, 0);
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
}
END_TEST

/* ---- hooks that need a blocking connection refuse ---------------------- */

static void audit_sink(const dal_audit_record *r, void *ctx)
{
    (void)r;
    ++*(int *)ctx;
}

START_TEST(t_refuse)
{
    dal_observer *obs, *obs2;
    dal_guard_opts go;
    dal_audit_opts ao;
    dal_guard *g;
    dal_audit *a, *a2;
    int nsink = 0;

    /* The timeout guard. */
    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    add_recorder(obs, &rec1);
    memset(&go, 0, sizeof go);
    go.timeout_ms = 1000;
    ck_assert_int_eq(dal_guard_add(obs, &go, &g), DAL_OK);
    ck_assert_int_eq(dal_async_open(&loop, test_url, 2, on_open, NULL, &h),
                     DAL_OK);
    ck_assert_int_eq(dal_async_observe(h, obs), DAL_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(dal_async_errmsg(h), "timeout"));
    /* All or nothing: the recorder before the guard was attached to the
     * first connection and detached again. */
    ck_assert_int_eq(rec1.attached, rec1.detached);

    /* The audit trail's table; with a sink it works. */
    ck_assert_int_eq(dal_observer_new(&obs2), DAL_OK);
    memset(&ao, 0, sizeof ao);
    ao.table = "ao_audit";
    ao.create_table = 1;
    ck_assert_int_eq(dal_audit_add(obs2, &ao, &a), DAL_OK);
    ck_assert_int_eq(dal_async_observe(h, obs2), DAL_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(dal_async_errmsg(h), "audit"));
    ck_assert_int_eq(dal_observer_free(obs2), DAL_OK);
    dal_audit_free(a);

    ck_assert_int_eq(dal_observer_new(&obs2), DAL_OK);
    memset(&ao, 0, sizeof ao);
    ao.sink = audit_sink;
    ao.ctx = &nsink;
    ck_assert_int_eq(dal_audit_add(obs2, &ao, &a2), DAL_OK);
    ck_assert_int_eq(dal_async_observe(h, obs2), DAL_OK);
    run_until(&opened);
    ck_assert_int_eq(open_status, DAL_OK);
    make_table(h);
    exec_ok(h, "INSERT INTO ao_t VALUES (1, 'a')");
    exec_ok(h, "SELECT * FROM ao_t");
    /* DROP, CREATE and the INSERT, not the SELECT. */
    ck_assert_int_eq(nsink, 3);
    /* Misuse: a transaction handle; replacing with requests pending. */
    {
        dal_async *tx = begin_tx();

        ck_assert_int_eq(dal_async_observe(tx, obs), DAL_E_MISUSE);
        end_tx(tx, 0);
    }
    close_h();
    ck_assert_int_eq(rec1.n, 0);
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
    ck_assert_int_eq(dal_observer_free(obs2), DAL_OK);
    dal_guard_free(g);
    dal_audit_free(a2);
}
END_TEST

/* Attach later, replace, detach. */
START_TEST(t_replace)
{
    dal_observer *o1, *o2;
    dal_async_req req;
    qres q;

    ck_assert_int_eq(dal_observer_new(&o1), DAL_OK);
    ck_assert_int_eq(dal_observer_new(&o2), DAL_OK);
    add_recorder(o1, &rec1);
    add_recorder(o2, &rec2);
    open_observed(2, NULL);
    make_table(h);
    ck_assert_int_eq(dal_async_observe(h, o1), DAL_OK);
    ck_assert_int_eq(rec1.attached, 2);
    exec_ok(h, "INSERT INTO ao_t VALUES (1, 'a')");
    /* Pending: no replacing. */
    memset(&q, 0, sizeof q);
    memset(&req, 0, sizeof req);
    req.data = &q;
    ck_assert_int_eq(dal_async_query(&req, h, "SELECT 1", NULL, 0,
                                     on_query), DAL_OK);
    ck_assert_int_eq(dal_async_observe(h, o2), DAL_E_MISUSE);
    run_until(&q.done);
    ck_assert_int_eq(dal_async_observe(h, o2), DAL_OK);
    ck_assert_int_eq(rec1.detached, 2);
    exec_ok(h, "INSERT INTO ao_t VALUES (2, 'b')");
    ck_assert_int_eq(dal_async_observe(h, NULL), DAL_OK);
    ck_assert_int_eq(rec2.detached, 2);
    exec_ok(h, "INSERT INTO ao_t VALUES (3, 'c')");
    close_h();
    /* o1 saw the first INSERT and SELECT 1; o2 the second INSERT. */
    ck_assert_int_eq(count_kind(&rec1, DAL_EV_AFTER), 2);
    ck_assert_int_eq(count_kind(&rec2, DAL_EV_AFTER), 1);
    ck_assert_int_ge(find_ev(&rec2, 0, DAL_EV_AFTER, "(2, 'b')"), 0);
    ck_assert_int_eq(count_kind(&rec1, DAL_EV_CONNECT), 0);
    ck_assert_int_eq(count_kind(&rec2, DAL_EV_DISCONNECT), 0);
    ck_assert_int_eq(dal_observer_free(o1), DAL_OK);
    ck_assert_int_eq(dal_observer_free(o2), DAL_OK);
}
END_TEST

/* ---- allocation failures ----------------------------------------------- */

START_TEST(t_nomem)
{
    dal_observer *obs;
    dal_metrics *m;
    dal_tracer *t;
    int n, rc = DAL_NOMEM, hit = 1;

    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    add_recorder(obs, &rec1);
    ck_assert_int_eq(dal_metrics_new(&m), DAL_OK);
    ck_assert_int_eq(dal_metrics_observe(m, obs), DAL_OK);
    ck_assert_int_eq(dal_tracer_new(on_span_start, on_span_end, NULL, 0,
                                    &t), DAL_OK);
    ck_assert_int_eq(dal_tracer_observe(t, obs), DAL_OK);
    open_observed(3, NULL);
    nspans = 0;
    /* The metrics keep a record per backend from the first attach on:
     * made now, it is not counted as a leak below. */
    ck_assert_int_eq(dal_async_observe(h, obs), DAL_OK);
    ck_assert_int_eq(dal_async_observe(h, NULL), DAL_OK);
    memset(&rec1, 0, sizeof rec1);
    /* The open is done and its threads idle: every allocation counted
     * is dal_async_observe()'s. */
    for (n = 1; n < 500 && hit; n++) {
        long live;

        /* A failure leaves its message on the handle: one is there
         * already, so that the count compares like with like. */
        ck_assert_int_eq(dal_async_query(NULL, h, "SELECT 1", NULL, 0,
                                         on_query), DAL_E_MISUSE);
        live = live_blocks;
        nomem_arm(n);
        rc = dal_async_observe(h, obs);
        hit = fail_hit;
        nomem_arm(0);
        if (rc == DAL_OK)
            break;
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_int_eq(rec1.attached, rec1.detached);
        ck_assert_msg(live_blocks == live, "leak at %d: %ld (%s)", n, live_blocks - live, dal_async_errmsg(h));
    }
    ck_assert_int_eq(rc, DAL_OK);
    ck_assert_int_ge(n, 3);
    exec_ok(h, "SELECT 1");
    ck_assert_int_eq(count_kind(&rec1, DAL_EV_AFTER), 1);
    close_h();
    ck_assert_int_eq(rec1.attached, rec1.detached);
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
    ck_assert_int_eq(dal_metrics_free(m), DAL_OK);
    ck_assert_int_eq(dal_tracer_free(t), DAL_OK);
}
END_TEST

/* Allocation failures while open, observe and a workload run: whatever
 * fails, every callback runs once, hooks stay balanced, nothing leaks. */
static int nm_cb;

static void on_nm(dal_async_req *req, int status, dal_result *res)
{
    (void)req;
    (void)status;
    (void)res;
    nm_cb++;
}

static void nm_open(dal_async *a, int status)
{
    (void)a;
    (void)status;
    opened = 1;
}

START_TEST(t_nomem_run)
{
    dal_value one = DAL_V_INT64(1);
    dal_observer *obs;
    dal_metrics *m;
    dal_tracer *t;
    dal_async_req reqs[4];
    int n, i, issued;

    ck_assert_int_eq(dal_observer_new(&obs), DAL_OK);
    add_recorder(obs, &rec1);
    ck_assert_int_eq(dal_metrics_new(&m), DAL_OK);
    ck_assert_int_eq(dal_metrics_observe(m, obs), DAL_OK);
    /* With the tracer's comments: each query's commented text and its
     * caller's text (two of them have a placeholder) are allocated
     * too. */
    ck_assert_int_eq(dal_tracer_new(NULL, on_span_seen, NULL,
                                    DAL_TRACE_SQLCOMMENT, &t), DAL_OK);
    ck_assert_int_eq(dal_tracer_observe(t, obs), DAL_OK);
    for (n = 1; n < 400; n++) {
        int rc, hit;

        memset(&rec1, 0, sizeof rec1);
        opened = closed = 0;
        nm_cb = 0;
        issued = 0;
        h = NULL;
        nomem_arm(n);
        rc = dal_async_open(&loop, test_url, 1, nm_open, NULL, &h);
        if (rc == DAL_OK && dal_async_observe(h, obs) == DAL_OK)
            for (i = 0; i < 4; i++) {
                memset(&reqs[i], 0, sizeof reqs[i]);
                issued += dal_async_query(&reqs[i], h,
                                          i % 2 ? "SELECT ? AS x"
                                                : "SELECT 1",
                                          &one, i % 2, on_nm) == DAL_OK;
            }
        if (rc == DAL_OK) {
            run_until(&opened);
            ck_assert_int_eq(dal_async_close(h, on_close), DAL_OK);
            run_until(&closed);
        }
        hit = fail_hit;
        nomem_arm(0);
        h = NULL;
        ck_assert_int_eq(nm_cb, issued);
        ck_assert_int_eq(rec1.attached, rec1.detached);
        ck_assert_int_eq(count_kind(&rec1, DAL_EV_BEFORE),
                         count_kind(&rec1, DAL_EV_AFTER));
        if (!hit)
            break;
    }
    ck_assert_int_lt(n, 400);
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
    ck_assert_int_eq(dal_metrics_free(m), DAL_OK);
    ck_assert_int_eq(dal_tracer_free(t), DAL_OK);
}
END_TEST

/* ---- suite ------------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *aobs_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "hooks");
    tcase_add_test(tc, t_order);
    tcase_add_test(tc, t_veto);
    tcase_add_test(tc, t_guard);
    tcase_add_test(tc, t_replace);
    tcase_add_test(tc, t_refuse);
    tc = tcase(s, "metrics");
    tcase_add_test(tc, t_labels);
    tcase_add_test(tc, t_metrics);
    tcase_add_test(tc, t_trace);
    tcase_add_test(tc, t_rcache);
    tcase_add_test(tc, t_sqlcomment);
    tcase_add_test(tc, t_cache_stats);
    tc = tcase(s, "close");
    tcase_add_test(tc, t_close_pending);
    tc = tcase(s, "nomem");
    tcase_add_test(tc, t_nomem);
    tcase_add_test(tc, t_nomem_run);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "async_observe[sqlite-file]", "async_observe[postgres]",
    };
    const char *pg;
    int kind, failed = 0;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "async_observe: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    pg = getenv("DAL_TEST_PG_URL");
    if (pg == NULL || pg[0] == '\0') {
        printf("async_observe: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
        pg = NULL;
    }
    for (kind = BE_SQLITE_FILE; kind <= BE_POSTGRES; kind++) {
        SRunner *sr;

        if (kind == BE_POSTGRES && pg == NULL)
            break;
        test_backend = (enum backend)kind;
        test_url = kind == BE_SQLITE_FILE ? "sqlite:///tmp/(per test)" : pg;
        fflush(stdout);
        sr = srunner_create(aobs_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    if (live_blocks != 0) {
        printf("async_observe: libdal holds %ld blocks at exit\n",
               (long)live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
