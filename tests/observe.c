/*
 * tests/observe.c - observers and hooks (include/dal/observe.h): the
 * order hooks run in, what BEFORE and AFTER events carry, vetoes,
 * parameters on request, transaction and connection events, attach and
 * detach, labels, statement kinds, misuse and allocation failures. The
 * same assertions run on every backend:
 *   observe[sqlite-mem]   sqlite::memory:
 *   observe[sqlite-file]  a fresh SQLite file per test
 *   observe[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 *
 * Run:  tests/pg/with-pg.sh build/tests/observe
 * CK_RUN_SUITE='observe[postgres]' and CK_RUN_CASE=... narrow a run;
 * CK_FORK=no runs in one process (for gdb and valgrind).
 *
 * main() installs a counting allocator before any other libdal call;
 * every test's teardown checks that libdal holds as many blocks after
 * dal_close() as before the test, and the nomem tests fail libdal's
 * allocations one by one.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dal.h>

enum backend { BE_SQLITE_MEM, BE_SQLITE_FILE, BE_POSTGRES };

static const char *test_url;
static enum backend test_backend;
static long main_pid;
static char file_path[128];
static char file_url[160];
static dal_db *db;

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- counting allocator (harness.h) --------------------------------- */

#include "harness.h"

/* ---- helpers --------------------------------------------------------- */

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

#define CK_RC(d, expr, want) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "%s -> %d (%s), want %d (%s): [%s] %s", \
                  #expr, rc_, dal_errstr(rc_), (want), dal_errstr(want), \
                  S(dal_sqlstate(d)), S(dal_errmsg(d))); \
} while (0)
#define CK_OK(expr) CK_RC(db, expr, DAL_OK)

static int is_pg(void)
{
    return test_backend == BE_POSTGRES;
}

static int64_t qint(dal_db *d, const char *sql)
{
    int64_t v = -1;
    int rc = dal_query_int64(d, sql, NULL, 0, &v);

    ck_assert_msg(rc == DAL_OK, "%s -> %s: %s", sql, dal_errstr(rc),
                  S(dal_errmsg(d)));
    return v;
}

static const char *url(void)
{
    return test_backend == BE_SQLITE_FILE ? file_url : test_url;
}

/* ---- a recording hook ------------------------------------------------- */

/*
 * Every event a recording hook sees, as text, appended to one log shared
 * by the hooks of a test: "A:before:insert" and the like. Events keep
 * their numbers too, for the checks on rows, codes and depths.
 */
#define MAXEV 64
struct seen {
    dal_event_kind kind;
    char hook;
    char sql[128];
    dal_stmt_kind stmt_kind;
    int nparams, rc, depth;
    int64_t rows, start_ns, duration_ns;
    unsigned flags;
    char origin[16], tenant[16], actor[16], sqlstate[6];
    char backend[16], url[256];
    void *state;
    size_t sql_len;
    int have_params;
    dal_value params[4];
    char text[4][32];
};
static struct seen seen[MAXEV];
static int nseen;
static char evlog[2048];

struct rec {
    char name;
    int refuse_kind;  /* refuse statements of this kind + 1 (0: none) */
    int refuse_rc;
    const char *refuse_state;
    const char *refuse_msg; /* NULL: return the code without a message */
};

static void copy_str(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

static int rec_fn(const dal_event *ev, void *data)
{
    struct rec *r = data;
    struct seen *s;
    char item[64];
    int i;

    snprintf(item, sizeof item, "%s%c:%s", evlog[0] ? " " : "", r->name,
             dal_event_kind_name(ev->kind));
    if (strlen(evlog) + strlen(item) < sizeof evlog)
        strcat(evlog, item);
    if (nseen < MAXEV) {
        s = &seen[nseen++];
        memset(s, 0, sizeof *s);
        s->kind = ev->kind;
        s->hook = r->name;
        copy_str(s->sql, sizeof s->sql, ev->sql);
        s->sql_len = ev->sql_len;
        s->stmt_kind = ev->stmt_kind;
        s->nparams = ev->nparams;
        s->rc = ev->rc;
        s->depth = ev->tx_depth;
        s->rows = ev->rows;
        s->start_ns = ev->start_ns;
        s->duration_ns = ev->duration_ns;
        s->flags = ev->flags;
        s->state = ev->state;
        copy_str(s->origin, sizeof s->origin, ev->origin);
        copy_str(s->tenant, sizeof s->tenant, ev->tenant);
        copy_str(s->actor, sizeof s->actor, ev->actor);
        copy_str(s->backend, sizeof s->backend, ev->backend);
        copy_str(s->url, sizeof s->url, ev->url);
        copy_str(s->sqlstate, sizeof s->sqlstate, dal_sqlstate(ev->db));
        if (ev->params) {
            s->have_params = 1;
            for (i = 0; i < ev->nparams && i < 4; i++) {
                s->params[i] = ev->params[i];
                if (ev->params[i].type == DAL_TYPE_TEXT
                    || ev->params[i].type == DAL_TYPE_BLOB) {
                    size_t n = ev->params[i].u.s.len;

                    if (n >= sizeof s->text[i])
                        n = sizeof s->text[i] - 1;
                    memcpy(s->text[i], ev->params[i].u.s.p, n);
                    s->text[i][n] = '\0';
                }
            }
        }
    }
    if (ev->kind == DAL_EV_BEFORE && r->refuse_kind
        && (int)ev->stmt_kind + 1 == r->refuse_kind) {
        if (r->refuse_msg)
            return dal_event_refuse(ev, r->refuse_rc, r->refuse_state,
                                    "%s", r->refuse_msg);
        return r->refuse_rc;
    }
    return DAL_OK;
}

static void log_reset(void)
{
    evlog[0] = '\0';
    nseen = 0;
}

/* The n-th recorded event of hook h and kind k (-1 when absent). */
static int find_ev(char h, dal_event_kind k, int n)
{
    int i;

    for (i = 0; i < nseen; i++)
        if (seen[i].hook == h && seen[i].kind == k && n-- == 0)
            return i;
    return -1;
}

static dal_observer *observer_with(struct rec *recs, int n, unsigned events,
                                   unsigned flags)
{
    dal_observer *o = NULL;
    dal_hook h;
    int i;

    ck_assert_int_eq(dal_observer_new(&o), DAL_OK);
    for (i = 0; i < n; i++) {
        memset(&h, 0, sizeof h);
        h.events = events;
        h.flags = flags;
        h.fn = rec_fn;
        h.data = &recs[i];
        ck_assert_int_eq(dal_observer_add(o, &h), DAL_OK);
    }
    return o;
}

/* ---- fixture --------------------------------------------------------- */

static void setup(void)
{
    int fd;

    base_blocks = live_blocks;
    nomem_arm(0);
    log_reset();
    if (test_backend == BE_SQLITE_FILE) {
        snprintf(file_path, sizeof file_path, "/tmp/dal-obs-%ld-XXXXXX",
                 main_pid);
        fd = mkstemp(file_path);
        ck_assert_int_ge(fd, 0);
        close(fd);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
    }
    ck_assert_int_eq(dal_open(url(), &db), DAL_OK);
    if (is_pg())
        ck_assert_int_eq(dal_exec(db, "DROP TABLE IF EXISTS ob_t"), DAL_OK);
    ck_assert_int_eq(dal_exec(db, "CREATE TABLE ob_t (id INT, v TEXT)"),
                     DAL_OK);
}

static void teardown(void)
{
    nomem_arm(0);
    if (db && is_pg())
        dal_exec(db, "DROP TABLE IF EXISTS ob_t");
    dal_close(db);
    db = NULL;
    if (test_backend == BE_SQLITE_FILE)
        unlink(file_path);
    ck_assert_msg(live_blocks == base_blocks, "libdal leaked %ld blocks",
                  live_blocks - base_blocks);
}

/* ---- tests ----------------------------------------------------------- */

START_TEST(t_order)
{
    struct rec recs[2] = {{'A', 0, 0, NULL, NULL},
                          {'B', 0, 0, NULL, NULL}};
    dal_observer *o = observer_with(recs, 2, DAL_EVENTS_ALL, 0);

    CK_OK(dal_observe(db, o));
    ck_assert_ptr_eq(dal_observer_of(db), o);
    CK_OK(dal_exec(db, "INSERT INTO ob_t VALUES (1, 'a')"));
    ck_assert_str_eq(evlog, "A:before B:before A:after B:after");
    ck_assert_str_eq(seen[0].sql, "INSERT INTO ob_t VALUES (1, 'a')");
    ck_assert_uint_eq(seen[0].sql_len, strlen(seen[0].sql));
    ck_assert_uint_eq(seen[2].sql_len, strlen(seen[0].sql));
    ck_assert_int_eq(seen[0].stmt_kind, DAL_SK_INSERT);
    ck_assert_str_eq(seen[0].backend, is_pg() ? "postgres" : "sqlite");
    ck_assert_int_eq(seen[2].rc, DAL_OK);
    ck_assert_int_eq(seen[2].rows, 1);
    ck_assert_int_ge(seen[2].duration_ns, 0);
    ck_assert(seen[2].start_ns == seen[0].start_ns);
    ck_assert_int_eq(seen[0].flags & DAL_EVF_SCRIPT, 0);
    /* Detached: no more events. */
    CK_OK(dal_observe(db, NULL));
    ck_assert_ptr_null(dal_observer_of(db));
    log_reset();
    CK_OK(dal_exec(db, "INSERT INTO ob_t VALUES (2, 'b')"));
    ck_assert_int_eq(nseen, 0);
    ck_assert_int_eq(dal_observer_free(o), DAL_OK);
}
END_TEST

START_TEST(t_after_rows_and_errors)
{
    struct rec r = {'A', 0, 0, NULL, NULL};
    dal_observer *o = observer_with(&r, 1, DAL_EVENT_BIT(DAL_EV_AFTER), 0);
    dal_value p[2];
    dal_stmt *st;
    int i, e, n = 0;

    CK_OK(dal_observe(db, o));
    for (i = 1; i <= 3; i++) {
        p[0] = (dal_value){DAL_TYPE_INT64, {.i = i}};
        p[1] = (dal_value){DAL_TYPE_TEXT, {.s = {"x", 1}}};
        CK_OK(dal_exec_params(db, "INSERT INTO ob_t VALUES (?, ?)", p, 2));
    }
    ck_assert_int_eq(nseen, 3);
    ck_assert_int_eq(seen[2].rows, 1);
    ck_assert_int_eq(seen[2].nparams, 2);
    ck_assert_int_eq(seen[2].have_params, 0);
    log_reset();
    CK_OK(dal_exec(db, "UPDATE ob_t SET v = 'y' WHERE id <= 2"));
    ck_assert_int_eq(seen[0].stmt_kind, DAL_SK_UPDATE);
    ck_assert_int_eq(seen[0].rows, 2);
    log_reset();
    CK_OK(dal_exec(db, "DELETE FROM ob_t WHERE id = 3"));
    ck_assert_int_eq(seen[0].stmt_kind, DAL_SK_DELETE);
    ck_assert_int_eq(seen[0].rows, 1);
    /* A query's rows are the rows it returned. */
    log_reset();
    CK_OK(dal_prepare(db, "SELECT id FROM ob_t ORDER BY id", &st));
    while ((e = dal_step(st)) == DAL_ROW)
        n++;
    ck_assert_int_eq(e, DAL_DONE);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(nseen, 1);
    ck_assert_int_eq(seen[0].stmt_kind, DAL_SK_SELECT);
    ck_assert_int_eq(seen[0].rows, 2);
    /* Run again: a second execution, a second event. */
    while (dal_step(st) == DAL_ROW)
        ;
    ck_assert_int_eq(nseen, 2);
    ck_assert_int_eq(seen[1].rows, 2);
    /* Stopped after one row: the event comes at the reset... */
    ck_assert_int_eq(dal_step(st), DAL_ROW);
    ck_assert_int_eq(nseen, 2);
    CK_OK(dal_reset(st));
    ck_assert_int_eq(nseen, 3);
    ck_assert_int_eq(seen[2].rows, 1);
    ck_assert_int_eq(seen[2].rc, DAL_OK);
    /* ... or when the statement is finalized. */
    ck_assert_int_eq(dal_step(st), DAL_ROW);
    dal_finalize(st);
    ck_assert_int_eq(nseen, 4);
    ck_assert_int_eq(seen[3].rows, 1);
    /* An error: the code, and the SQLSTATE readable in the hook. */
    log_reset();
    CK_RC(db, dal_exec(db, "INSERT INTO ob_missing VALUES (1)"),
          DAL_E_SYNTAX);
    ck_assert_int_eq(nseen, 1);
    ck_assert_int_eq(seen[0].rc, DAL_E_SYNTAX);
    ck_assert_str_eq(seen[0].sqlstate, "42P01");
    ck_assert_int_eq(seen[0].rows, -1);
    CK_OK(dal_observe(db, NULL));
    CK_OK(dal_observer_free(o));
}
END_TEST

START_TEST(t_veto)
{
    struct rec recs[3] = {
        {'A', 0, 0, NULL, NULL},
        {'V', DAL_SK_DELETE + 1, DAL_E_REFUSED, NULL, "no deletes here"},
        {'C', 0, 0, NULL, NULL},
    };
    dal_observer *o = observer_with(recs, 3, DAL_EVENTS_STATEMENT, 0);

    CK_OK(dal_observe(db, o));
    CK_OK(dal_exec(db, "INSERT INTO ob_t VALUES (1, 'a')"));
    log_reset();
    CK_RC(db, dal_exec(db, "DELETE FROM ob_t"), DAL_E_REFUSED);
    ck_assert_str_eq(dal_errmsg(db), "no deletes here");
    ck_assert_str_eq(dal_sqlstate(db), "42501");
    /* C never saw the statement; A and V saw it end with the code. */
    ck_assert_str_eq(evlog, "A:before V:before A:after V:after");
    ck_assert_int_eq(seen[2].rc, DAL_E_REFUSED);
    ck_assert_int_eq(seen[3].rc, DAL_E_REFUSED);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ob_t"), 1);
    /* A prepared statement is refused at each run, and runs once the
     * observer is gone. */
    {
        dal_stmt *st;

        CK_OK(dal_prepare(db, "DELETE FROM ob_t WHERE id = ?", &st));
        CK_OK(dal_bind_int64(st, 1, 1));
        CK_RC(db, dal_step(st), DAL_E_REFUSED);
        CK_RC(db, dal_step(st), DAL_E_REFUSED);
        CK_OK(dal_observe(db, NULL));
        CK_RC(db, dal_step(st), DAL_DONE);
        dal_finalize(st);
    }
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ob_t"), 0);
    CK_OK(dal_observer_free(o));
}
END_TEST

START_TEST(t_veto_codes)
{
    struct rec r1 = {'R', DAL_SK_INSERT + 1, DAL_E_RATE_LIMITED, "53400",
                     "slow down"};
    struct rec r2 = {'Q', DAL_SK_INSERT + 1, DAL_E_REFUSED, NULL, NULL};
    struct rec r3 = {'W', DAL_SK_INSERT + 1, DAL_DONE, NULL, NULL};
    dal_observer *o1 = observer_with(&r1, 1, DAL_EVENTS_STATEMENT, 0);
    dal_observer *o2 = observer_with(&r2, 1, DAL_EVENTS_STATEMENT, 0);
    dal_observer *o3 = observer_with(&r3, 1, DAL_EVENTS_STATEMENT, 0);

    CK_OK(dal_observe(db, o1));
    CK_RC(db, dal_exec(db, "INSERT INTO ob_t VALUES (1, 'a')"),
          DAL_E_RATE_LIMITED);
    ck_assert_str_eq(dal_sqlstate(db), "53400");
    ck_assert_str_eq(dal_errmsg(db), "slow down");
    /* A code without a message gets one. */
    CK_OK(dal_observe(db, o2));
    CK_RC(db, dal_exec(db, "INSERT INTO ob_t VALUES (1, 'a')"),
          DAL_E_REFUSED);
    ck_assert_str_eq(dal_sqlstate(db), "42501");
    ck_assert_ptr_nonnull(strstr(dal_errmsg(db), "refused"));
    /* Something that is not an error code still refuses. */
    CK_OK(dal_observe(db, o3));
    CK_RC(db, dal_exec(db, "INSERT INTO ob_t VALUES (1, 'a')"),
          DAL_E_REFUSED);
    CK_OK(dal_observe(db, NULL));
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ob_t"), 0);
    CK_OK(dal_exec(db, "INSERT INTO ob_t VALUES (1, 'a')"));
    dal_observer_free(o1);
    dal_observer_free(o2);
    dal_observer_free(o3);
}
END_TEST

START_TEST(t_params)
{
    struct rec r = {'P', 0, 0, NULL, NULL};
    dal_observer *o = observer_with(&r, 1, DAL_EVENT_BIT(DAL_EV_BEFORE),
                                    DAL_HOOK_PARAMS);
    dal_value p[2];
    dal_stmt *st;

    CK_OK(dal_observe(db, o));
    p[0] = (dal_value){DAL_TYPE_INT64, {.i = 42}};
    p[1] = (dal_value){DAL_TYPE_TEXT, {.s = {"secret-ish", 10}}};
    CK_OK(dal_exec_params(db, "INSERT INTO ob_t VALUES (?, ?)", p, 2));
    ck_assert_int_eq(seen[0].have_params, 1);
    ck_assert_int_eq(seen[0].params[0].type, DAL_TYPE_INT64);
    ck_assert_int_eq(seen[0].params[0].u.i, 42);
    ck_assert_int_eq(seen[0].params[1].type, DAL_TYPE_TEXT);
    ck_assert_str_eq(seen[0].text[1], "secret-ish");
    /* The same cached statement with other values: the new ones. */
    p[0] = (dal_value){DAL_TYPE_NULL, {.i = 0}};
    p[1] = (dal_value){DAL_TYPE_TEXT, {.s = {"two", 3}}};
    CK_OK(dal_exec_params(db, "INSERT INTO ob_t VALUES (?, ?)", p, 2));
    ck_assert_int_eq(seen[1].params[0].type, DAL_TYPE_NULL);
    ck_assert_str_eq(seen[1].text[1], "two");
    /* Every bind call, a cleared binding is NULL again. */
    CK_OK(dal_prepare(db, "SELECT ? , ?", &st));
    CK_OK(dal_bind_double(st, 1, 2.5));
    CK_OK(dal_bind_blob(st, 2, "\x01\x02", 2, DAL_TRANSIENT));
    ck_assert_int_eq(dal_step(st), DAL_ROW);
    ck_assert_int_eq(seen[2].params[0].type, DAL_TYPE_DOUBLE);
    ck_assert(seen[2].params[0].u.d == 2.5);
    ck_assert_int_eq(seen[2].params[1].type, DAL_TYPE_BLOB);
    ck_assert_int_eq((int)seen[2].params[1].u.s.len, 2);
    CK_OK(dal_clear_bindings(st));
    CK_OK(dal_bind_bool(st, 1, 1));
    ck_assert_int_eq(dal_step(st), DAL_ROW);
    ck_assert_int_eq(seen[3].params[0].type, DAL_TYPE_BOOL);
    ck_assert_int_eq(seen[3].params[1].type, DAL_TYPE_NULL);
    dal_finalize(st);
    CK_OK(dal_observe(db, NULL));
    CK_OK(dal_observer_free(o));
}
END_TEST

START_TEST(t_tx_events)
{
    struct rec r = {'T', 0, 0, NULL, NULL};
    dal_observer *o = observer_with(&r, 1, DAL_EVENTS_TX, 0);

    CK_OK(dal_observe(db, o));
    CK_OK(dal_begin(db, 0));
    CK_OK(dal_exec(db, "INSERT INTO ob_t VALUES (1, 'a')"));
    CK_OK(dal_begin(db, 0));
    CK_OK(dal_exec(db, "INSERT INTO ob_t VALUES (2, 'b')"));
    CK_OK(dal_rollback(db));
    CK_OK(dal_commit(db));
    ck_assert_str_eq(evlog, "T:begin T:begin T:rollback T:commit");
    ck_assert_int_eq(seen[0].depth, 1);
    ck_assert_int_eq(seen[1].depth, 2);
    ck_assert_int_eq(seen[2].depth, 2);
    ck_assert_int_eq(seen[3].depth, 1);
    ck_assert_int_eq(seen[3].rc, DAL_OK);
    ck_assert_int_ge(seen[3].duration_ns, 0);
    ck_assert(seen[3].start_ns == seen[0].start_ns);
    log_reset();
    CK_OK(dal_begin(db, 0));
    CK_OK(dal_rollback(db));
    ck_assert_str_eq(evlog, "T:begin T:rollback");
    ck_assert_int_eq(seen[1].depth, 1);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ob_t"), 1);
    CK_OK(dal_observe(db, NULL));
    CK_OK(dal_observer_free(o));
}
END_TEST

/* Attach state: a counter per connection, checked at detach. */
static int n_attach, n_detach;
static long attach_token;

static int st_attach(dal_db *d, void *data, void **state)
{
    (void)d;
    (void)data;
    n_attach++;
    *state = &attach_token;
    return DAL_OK;
}

static int st_attach_fail(dal_db *d, void *data, void **state)
{
    (void)d;
    (void)data;
    (void)state;
    return DAL_NOMEM;
}

static void st_detach(dal_db *d, void *data, void *state)
{
    (void)d;
    (void)data;
    ck_assert_ptr_eq(state, &attach_token);
    n_detach++;
}

START_TEST(t_connect_and_state)
{
    struct rec r = {'S', 0, 0, NULL, NULL};
    dal_observer *o;
    dal_hook h;
    dal_db *d = NULL;
    int i;

    ck_assert_int_eq(dal_observer_new(&o), DAL_OK);
    memset(&h, 0, sizeof h);
    h.events = DAL_EVENTS_ALL;
    h.fn = rec_fn;
    h.data = &r;
    h.attach = st_attach;
    h.detach = st_detach;
    CK_OK(dal_observer_add(o, &h));
    n_attach = n_detach = 0;
    CK_RC(d, dal_open_observed(url(), o, &d), DAL_OK);
    ck_assert_int_eq(n_attach, 1);
    /* Adding and freeing are refused while attached. */
    ck_assert_int_eq(dal_observer_add(o, &h), DAL_E_MISUSE);
    ck_assert_int_eq(dal_observer_free(o), DAL_E_MISUSE);
    CK_RC(d, dal_exec(d, "SELECT 1"), DAL_OK);
    dal_close(d);
    ck_assert_int_eq(n_detach, 1);
    i = find_ev('S', DAL_EV_CONNECT, 0);
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(seen[i].rc, DAL_OK);
    ck_assert_ptr_eq(seen[i].state, &attach_token);
    ck_assert_ptr_null(strstr(seen[i].url, "secret"));
    i = find_ev('S', DAL_EV_AFTER, 0);
    ck_assert_int_ge(i, 0);
    ck_assert_ptr_eq(seen[i].state, &attach_token);
    ck_assert_int_ge(find_ev('S', DAL_EV_DISCONNECT, 0), 0);
    ck_assert_int_eq(seen[nseen - 1].kind, DAL_EV_DISCONNECT);

    /* A connection that fails: the event says so; detach runs too. */
    log_reset();
    n_attach = n_detach = 0;
    d = NULL;
    ck_assert_int_ne(dal_open_observed(
        is_pg() ? "postgres://u:secret@127.0.0.1:1/x?connect_timeout=2"
                : "sqlite:///nonexistent-dir-dal/x.db?mode=ro", o, &d),
        DAL_OK);
    i = find_ev('S', DAL_EV_CONNECT, 0);
    ck_assert_int_ge(i, 0);
    ck_assert_int_ne(seen[i].rc, DAL_OK);
    ck_assert_ptr_null(strstr(seen[i].url, "secret"));
    ck_assert_int_lt(find_ev('S', DAL_EV_DISCONNECT, 0), 0);
    dal_close(d);
    ck_assert_int_eq(n_attach, 1);
    ck_assert_int_eq(n_detach, 1);
    CK_OK(dal_observer_free(o));

    /* An attach that fails fails the open, and nothing is attached. */
    ck_assert_int_eq(dal_observer_new(&o), DAL_OK);
    h.attach = st_attach_fail;
    CK_OK(dal_observer_add(o, &h));
    d = NULL;
    ck_assert_int_eq(dal_open_observed(url(), o, &d), DAL_NOMEM);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(dal_errcode(d), DAL_NOMEM);
    ck_assert_ptr_null(dal_observer_of(d));
    dal_close(d);
    ck_assert_int_eq(dal_observe(db, o), DAL_NOMEM);
    ck_assert_ptr_null(dal_observer_of(db));
    CK_OK(dal_observer_free(o));
    /* With a NULL observer it is dal_open(). */
    CK_RC(d, dal_open_observed(url(), NULL, &d), DAL_OK);
    dal_close(d);
}
END_TEST

START_TEST(t_misuse)
{
    struct rec r = {'M', 0, 0, NULL, NULL};
    dal_observer *o = observer_with(&r, 1, DAL_EVENTS_STATEMENT, 0);
    dal_hook h;
    dal_stmt *st;

    memset(&h, 0, sizeof h);
    ck_assert_int_eq(dal_observer_new(NULL), DAL_E_MISUSE);
    ck_assert_int_eq(dal_observer_add(NULL, &h), DAL_E_MISUSE);
    ck_assert_int_eq(dal_observer_add(o, NULL), DAL_E_MISUSE);
    ck_assert_int_eq(dal_observer_add(o, &h), DAL_E_MISUSE); /* no fn */
    h.fn = rec_fn;
    h.events = 1u << 20;
    ck_assert_int_eq(dal_observer_add(o, &h), DAL_E_MISUSE);
    h.events = DAL_EVENTS_ALL;
    h.flags = 0x80;
    ck_assert_int_eq(dal_observer_add(o, &h), DAL_E_MISUSE);
    ck_assert_int_eq(dal_observer_free(NULL), DAL_OK);
    ck_assert_int_eq(dal_observe(NULL, o), DAL_E_MISUSE);
    ck_assert_ptr_null(dal_observer_of(NULL));
    ck_assert_int_eq(dal_event_refuse(NULL, DAL_E_REFUSED, NULL, "x"),
                     DAL_E_MISUSE);
    /* Not while a statement runs. */
    CK_OK(dal_exec(db, "INSERT INTO ob_t VALUES (1, 'a')"));
    CK_OK(dal_observe(db, o));
    CK_OK(dal_prepare(db, "SELECT id FROM ob_t", &st));
    ck_assert_int_eq(dal_step(st), DAL_ROW);
    CK_RC(db, dal_observe(db, NULL), DAL_E_MISUSE);
    dal_finalize(st);
    CK_OK(dal_observe(db, NULL));
    CK_OK(dal_observer_free(o));
}
END_TEST

START_TEST(t_flags_origin_labels)
{
    struct rec r = {'F', 0, 0, NULL, NULL};
    dal_observer *o = observer_with(&r, 1, DAL_EVENT_BIT(DAL_EV_BEFORE),
                                    0);
    dal_migrator *m = NULL;
    dal_migration_status *list = NULL;
    int n = 0, i;

    CK_OK(dal_observe(db, o));
    CK_OK(dal_exec(db, "INSERT INTO ob_t VALUES (1, 'a'); "
                       "INSERT INTO ob_t VALUES (2, 'b');"));
    ck_assert_int_eq(nseen, 2);
    ck_assert_uint_eq(seen[0].flags & DAL_EVF_SCRIPT, DAL_EVF_SCRIPT);
    ck_assert_uint_eq(seen[1].flags & DAL_EVF_SCRIPT, DAL_EVF_SCRIPT);
    log_reset();
    CK_OK(dal_exec(db, "INSERT INTO ob_t VALUES (3, 'c');  -- one"));
    ck_assert_uint_eq(seen[0].flags & DAL_EVF_SCRIPT, 0);
    ck_assert_str_eq(seen[0].origin, "");
    /* Labels. */
    CK_OK(dal_set_tenant(db, "acme"));
    CK_OK(dal_set_actor(db, "alice"));
    ck_assert_str_eq(dal_tenant(db), "acme");
    ck_assert_str_eq(dal_actor(db), "alice");
    log_reset();
    CK_OK(dal_exec(db, "SELECT 1"));
    ck_assert_str_eq(seen[0].tenant, "acme");
    ck_assert_str_eq(seen[0].actor, "alice");
    CK_OK(dal_set_tenant(db, NULL));
    ck_assert_ptr_null(dal_tenant(db));
    ck_assert_int_eq(dal_set_tenant(NULL, "x"), DAL_E_MISUSE);
    /* The migration engine's statements say so. */
    log_reset();
    CK_OK(dal_migrator_new(&m));
    CK_OK(dal_migrate_status(db, m, &list, &n));
    dal_migrate_status_free(list, n);
    dal_migrator_free(m);
    ck_assert_int_gt(nseen, 0);
    for (i = 0; i < nseen; i++)
        ck_assert_str_eq(seen[i].origin, "migrate");
    log_reset();
    CK_OK(dal_exec(db, "SELECT 1"));
    ck_assert_str_eq(seen[0].origin, "");
    CK_OK(dal_observe(db, NULL));
    CK_OK(dal_observer_free(o));
}
END_TEST

START_TEST(t_query_ast)
{
    struct rec r = {'Q', 0, 0, NULL, NULL};
    dal_observer *o = observer_with(&r, 1, DAL_EVENT_BIT(DAL_EV_AFTER), 0);
    dal_query *q;

    CK_OK(dal_exec(db, "INSERT INTO ob_t VALUES (1, 'a'), (2, 'b')"));
    CK_OK(dal_observe(db, o));
    q = dal_select(dal_col("id"));
    dal_q_from(q, "ob_t");
    CK_OK(dal_query_exec(db, q));
    dal_query_free(q);
    ck_assert_int_eq(nseen, 1);
    ck_assert_int_eq(seen[0].stmt_kind, DAL_SK_SELECT);
    ck_assert_int_eq(seen[0].rows, 2);
    ck_assert_ptr_nonnull(strstr(seen[0].sql, "ob_t"));
    ck_assert_uint_eq(seen[0].flags & DAL_EVF_AST, DAL_EVF_AST);
    ck_assert_int_eq(seen[0].sql[0], 'S');
    /* The compiled query's key starts with \1, which hooks never see
     * (nor count). */
    ck_assert_uint_eq(seen[0].sql_len, strlen(seen[0].sql));
    CK_OK(dal_observe(db, NULL));
    CK_OK(dal_observer_free(o));
}
END_TEST

/* A bulk load through PostgreSQL's COPY passes the hooks as one
 * statement, as SQLite's multi-row INSERTs do. */
typedef struct ob_row {
    int64_t id;
    char *v;
} ob_row;

static const dal_field ob_row_fields[] = {
    DAL_FIELD(ob_row, id, DAL_F_INT64, DAL_F_PK),
    DAL_FIELD(ob_row, v, DAL_F_TEXT, 0),
};
static const dal_model ob_row_model = DAL_MODEL(ob_row, "ob_t",
                                                ob_row_fields);

START_TEST(t_bulk_load)
{
    struct rec r = {'L', 0, 0, NULL, NULL};
    struct rec v = {'V', DAL_SK_INSERT + 1, DAL_E_REFUSED, NULL, "no"};
    dal_observer *o = observer_with(&r, 1, DAL_EVENTS_STATEMENT, 0);
    dal_observer *ov = observer_with(&v, 1, DAL_EVENTS_STATEMENT, 0);
    ob_row rows[3] = {{1, "a"}, {2, "b"}, {3, NULL}};
    int i, n = 0;

    CK_OK(dal_observe(db, o));
    CK_OK(dal_model_bulk_create(db, &ob_row_model, rows, 3,
                                DAL_BULK_NO_IDS));
    for (i = 0; i < nseen; i++) {
        if (seen[i].kind != DAL_EV_AFTER
            || seen[i].stmt_kind != DAL_SK_INSERT)
            continue;
        n++;
        ck_assert_int_eq(seen[i].rows, 3);
        ck_assert_int_eq(seen[i].rc, DAL_OK);
        if (is_pg())
            ck_assert_str_eq(seen[i].sql,
                             "COPY \"ob_t\" (\"id\", \"v\") FROM STDIN");
    }
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ob_t"), 3);
    /* A refusal loads nothing. */
    CK_OK(dal_observe(db, ov));
    rows[0].id = 4;
    rows[1].id = 5;
    rows[2].id = 6;
    CK_RC(db, dal_model_bulk_create(db, &ob_row_model, rows, 3,
                                    DAL_BULK_NO_IDS), DAL_E_REFUSED);
    CK_OK(dal_observe(db, NULL));
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ob_t"), 3);
    CK_OK(dal_observer_free(o));
    CK_OK(dal_observer_free(ov));
}
END_TEST

START_TEST(t_sql_kind)
{
    static const struct { const char *sql; dal_stmt_kind k; } cases[] = {
        {"select 1", DAL_SK_SELECT},
        {"  -- c\n /* x */ SELECT 1", DAL_SK_SELECT},
        {"(SELECT 1) UNION (SELECT 2)", DAL_SK_SELECT},
        {"VALUES (1)", DAL_SK_SELECT},
        {"insert into t values (1)", DAL_SK_INSERT},
        {"REPLACE INTO t VALUES (1)", DAL_SK_INSERT},
        {"Update t set a = 1", DAL_SK_UPDATE},
        {"DELETE FROM t", DAL_SK_DELETE},
        {"WITH x AS (SELECT 1) SELECT * FROM x", DAL_SK_SELECT},
        {"WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x"
         " WHERE n < 3) INSERT INTO t SELECT n FROM x", DAL_SK_INSERT},
        {"with d as (delete from t returning *) select * from d",
         DAL_SK_SELECT},
        {"WITH x AS (SELECT 'update') DELETE FROM t", DAL_SK_DELETE},
        {"CREATE TABLE t (a int)", DAL_SK_DDL},
        {"drop index i", DAL_SK_DDL},
        {"ALTER TABLE t ADD b int", DAL_SK_DDL},
        {"TRUNCATE t", DAL_SK_DDL},
        {"BEGIN", DAL_SK_TX},
        {"SAVEPOINT dal_sp_1", DAL_SK_TX},
        {"RELEASE SAVEPOINT dal_sp_1", DAL_SK_TX},
        {"commit", DAL_SK_TX},
        {"PRAGMA foreign_keys = on", DAL_SK_OTHER},
        {"SET search_path = x", DAL_SK_OTHER},
        {"EXPLAIN SELECT 1", DAL_SK_OTHER},
        {"", DAL_SK_OTHER},
        {"/* unterminated", DAL_SK_OTHER},
        {"selectx", DAL_SK_OTHER},
    };
    int i;

    for (i = 0; i < NELEM(cases); i++)
        ck_assert_msg(dal_sql_kind(cases[i].sql) == cases[i].k,
                      "%s: %d, want %d", cases[i].sql,
                      (int)dal_sql_kind(cases[i].sql), (int)cases[i].k);
    ck_assert_int_eq(dal_sql_kind(NULL), DAL_SK_OTHER);
    ck_assert_str_eq(dal_stmt_kind_name(DAL_SK_SELECT), "select");
    ck_assert_str_eq(dal_stmt_kind_name(DAL_SK_DDL), "ddl");
    ck_assert_str_eq(dal_stmt_kind_name((dal_stmt_kind)99), "other");
    ck_assert_str_eq(dal_event_kind_name(DAL_EV_ROLLBACK), "rollback");
    ck_assert_str_eq(dal_event_kind_name((dal_event_kind)99), "unknown");
    ck_assert_int_gt(dal_clock_ns(), 0);
}
END_TEST

/* Open with an observer, run a statement with parameters kept, run a
 * transaction, close: every allocation failure is DAL_NOMEM or leaves a
 * working connection, and nothing leaks. */
START_TEST(t_nomem)
{
    struct rec r = {'N', 0, 0, NULL, NULL};
    dal_observer *o = observer_with(&r, 1, DAL_EVENTS_ALL, DAL_HOOK_PARAMS);
    long n, before;
    int done = 0;

    for (n = 1; !done && n < 5000; n++) {
        dal_db *d = NULL;
        dal_value p[2];
        int rc;

        before = live_blocks;
        nomem_arm(n);
        rc = dal_open_observed(url(), o, &d);
        if (rc == DAL_OK) {
            p[0] = (dal_value){DAL_TYPE_INT64, {.i = 7}};
            p[1] = (dal_value){DAL_TYPE_TEXT, {.s = {"seven", 5}}};
            rc = dal_set_tenant(d, "t1");
            if (rc == DAL_OK)
                rc = dal_exec_params(d, "SELECT ?, ?", p, 2);
            if (rc == DAL_OK)
                rc = dal_begin(d, 0);
            if (rc == DAL_OK)
                rc = dal_commit(d);
        }
        ck_assert_msg(rc == DAL_OK || rc == DAL_NOMEM
                      || (fail_hit && rc == DAL_E_CONNECT),
                      "allocation %ld: %d (%s): %s", n, rc, dal_errstr(rc),
                      S(dal_errmsg(d)));
        if (!fail_hit)
            done = 1;
        nomem_arm(0);
        dal_close(d);
        ck_assert_msg(live_blocks == before,
                      "allocation %ld: %ld blocks leaked", n,
                      live_blocks - before);
    }
    ck_assert_msg(done, "never got through without a failure");
    CK_OK(dal_observer_free(o));
}
END_TEST

/* ---- suite ------------------------------------------------------------ */

static void sweep_temp_files(void)
{
    char prefix[64], path[512];
    struct dirent *e;
    DIR *d = opendir("/tmp");

    if (d == NULL)
        return;
    snprintf(prefix, sizeof prefix, "dal-obs-%ld-", main_pid);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            unlink(path);
        }
    closedir(d);
}

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *observe_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "hooks");
    tcase_add_test(tc, t_order);
    tcase_add_test(tc, t_after_rows_and_errors);
    tcase_add_test(tc, t_params);
    tcase_add_test(tc, t_query_ast);
    tcase_add_test(tc, t_bulk_load);
    tcase_add_test(tc, t_sql_kind);
    tc = tcase(s, "veto");
    tcase_add_test(tc, t_veto);
    tcase_add_test(tc, t_veto_codes);
    tc = tcase(s, "events");
    tcase_add_test(tc, t_tx_events);
    tcase_add_test(tc, t_connect_and_state);
    tcase_add_test(tc, t_flags_origin_labels);
    tc = tcase(s, "misuse");
    tcase_add_test(tc, t_misuse);
    tc = tcase(s, "nomem");
    tcase_add_test(tc, t_nomem);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "observe[sqlite-mem]", "observe[sqlite-file]", "observe[postgres]",
    };
    const char *pg;
    int kind, failed = 0;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "observe: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    main_pid = (long)getpid();
    pg = getenv("DAL_TEST_PG_URL");
    if (pg == NULL || pg[0] == '\0') {
        printf("observe: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
        pg = NULL;
    }
    for (kind = BE_SQLITE_MEM; kind <= BE_POSTGRES; kind++) {
        SRunner *sr;

        if (kind == BE_POSTGRES && pg == NULL)
            break;
        test_backend = (enum backend)kind;
        test_url = kind == BE_SQLITE_MEM ? "sqlite::memory:" : pg;
        fflush(stdout);
        sr = srunner_create(observe_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_temp_files();
    }
    if (live_blocks != 0) {
        printf("observe: libdal holds %ld blocks at exit\n", live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
