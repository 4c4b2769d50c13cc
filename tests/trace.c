/*
 * tests/trace.c - tracing (include/dal/trace.h): statement and
 * transaction spans and their parent/child structure, W3C traceparent
 * parsing and formatting, the parent context, the sqlcommenter comment
 * as the server receives it, and allocation failures. On every backend:
 *   trace[sqlite-mem]   sqlite::memory:
 *   trace[sqlite-file]  sqlite:///tmp/... (a fresh file per test)
 *   trace[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 *
 * What the server received is read back from the server: PostgreSQL's
 * current_query() returns the text of the statement running it, comment
 * included; SQLite keeps the text of a CREATE VIEW as it was prepared
 * (trailing comment included) in sqlite_master.sql.
 *
 * Run:  tests/pg/with-pg.sh build/tests/trace
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dal.h>

#include "dal-int.h"

enum backend { BE_SQLITE_MEM, BE_SQLITE_FILE, BE_POSTGRES };

static const char *test_url;
static enum backend test_backend;
static long main_pid;
static char file_path[128];
static char file_url[160];

/* ---- counting allocator (harness.h) --------------------------------- */

#include "harness.h"

/* ---- captured spans -------------------------------------------------- */

typedef struct rec {
    int end;              /* 0: on_start, 1: on_end */
    dal_span_kind kind;
    uint8_t trace_id[16], span_id[8], parent_id[8], flags;
    char name[32];
    int64_t start, stop;
    int status;
    char msg[256];
    char statement[256];
    char operation[32];
    char system[32];
    char outcome[32];
    char sqlstate[8];
    char tenant[32];
    int64_t rows;         /* -1 when absent */
} rec;

#define MAX_RECS 1024

static rec recs[MAX_RECS];
static int nrecs;
/* The span tests run twice: with a start callback (spans open at
 * BEFORE) and with an end callback only (spans made at AFTER, the
 * tracer's cheaper mode); _i of the loop tests. */
static int end_only;

static void copy_text(char *dst, size_t cap, const dal_value *v)
{
    size_t n = v->u.s.len < cap - 1 ? v->u.s.len : cap - 1;

    ck_assert_int_eq(v->type, DAL_TYPE_TEXT);
    memcpy(dst, v->u.s.p, n);
    dst[n] = '\0';
}

static void record(const dal_span *sp, int end)
{
    rec *r;
    int i;

    ck_assert_int_lt(nrecs, MAX_RECS);
    r = &recs[nrecs++];
    memset(r, 0, sizeof *r);
    r->end = end;
    r->kind = sp->kind;
    memcpy(r->trace_id, sp->trace_id, 16);
    memcpy(r->span_id, sp->span_id, 8);
    memcpy(r->parent_id, sp->parent_id, 8);
    r->flags = sp->trace_flags;
    snprintf(r->name, sizeof r->name, "%s", sp->name);
    r->start = sp->start_unix_ns;
    r->stop = sp->end_unix_ns;
    r->status = sp->status;
    if (sp->status_message)
        snprintf(r->msg, sizeof r->msg, "%s", sp->status_message);
    r->rows = -1;
    for (i = 0; i < sp->nattrs; i++) {
        const char *k = sp->attrs[i].key;
        const dal_value *v = &sp->attrs[i].value;

        if (!strcmp(k, "db.statement"))
            copy_text(r->statement, sizeof r->statement, v);
        else if (!strcmp(k, "db.operation"))
            copy_text(r->operation, sizeof r->operation, v);
        else if (!strcmp(k, "db.system"))
            copy_text(r->system, sizeof r->system, v);
        else if (!strcmp(k, "db.tx.outcome"))
            copy_text(r->outcome, sizeof r->outcome, v);
        else if (!strcmp(k, "db.sqlstate"))
            copy_text(r->sqlstate, sizeof r->sqlstate, v);
        else if (!strcmp(k, "dal.tenant"))
            copy_text(r->tenant, sizeof r->tenant, v);
        else if (!strcmp(k, "db.rows")) {
            ck_assert_int_eq(v->type, DAL_TYPE_INT64);
            r->rows = v->u.i;
        }
    }
}

static void on_start(const dal_span *sp, void *data)
{
    ck_assert_ptr_eq(data, &nrecs);
    ck_assert_int_eq(sp->end_unix_ns, 0);
    record(sp, 0);
}

static void on_end(const dal_span *sp, void *data)
{
    ck_assert_ptr_eq(data, &nrecs);
    ck_assert_int_ge(sp->end_unix_ns, sp->start_unix_ns);
    record(sp, 1);
}

static int is_zero(const uint8_t *p, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* The i-th end record whose statement (or name, for transactions) is
 * what; NULL when none. */
static const rec *find_end(const char *what, int nth)
{
    int i;

    for (i = 0; i < nrecs; i++) {
        const rec *r = &recs[i];

        if (r->end && (!strcmp(r->statement, what)
                       || (r->kind == DAL_SPAN_TX && !strcmp(what, "TX")))
            && nth-- == 0)
            return r;
    }
    return NULL;
}

static const rec *must_end(const char *what, int nth)
{
    const rec *r = find_end(what, nth);

    ck_assert_msg(r != NULL, "no span for %s (#%d)", what, nth);
    return r;
}

/* Every start has exactly one end with the same ids, and vice versa
 * (with an end callback only: every span ends once, ids unique). */
static void ck_paired(void)
{
    int i, j, found;

    for (i = 0; end_only && i < nrecs; i++) {
        ck_assert(recs[i].end);
        for (j = i + 1; j < nrecs; j++)
            ck_assert(memcmp(recs[j].span_id, recs[i].span_id, 8) != 0);
    }
    for (i = 0; i < nrecs; i++) {
        for (found = 0, j = 0; j < nrecs; j++)
            found += recs[j].end != recs[i].end
                     && !memcmp(recs[j].span_id, recs[i].span_id, 8)
                     && !memcmp(recs[j].trace_id, recs[i].trace_id, 16)
                     && recs[j].start == recs[i].start;
        ck_assert_msg(found == !end_only, "span %d (%s) has %d partners",
                      i, recs[i].name, found);
        ck_assert(!is_zero(recs[i].span_id, 8));
        ck_assert(!is_zero(recs[i].trace_id, 16));
    }
}

/* ---- fixture --------------------------------------------------------- */

static dal_db *db;
static dal_observer *obs;
static dal_tracer *tr;

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

#define CK_RC(expr, want) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "%s -> %d (%s), want %d: %s", #expr, \
                  rc_, dal_errstr(rc_), (want), \
                  db ? S(dal_errmsg(db)) : "(no db)"); \
} while (0)
#define CK_OK(expr) CK_RC(expr, DAL_OK)
#define EXEC(sql) CK_OK(dal_exec(db, (sql)))

static int is_pg(void)
{
    return test_backend == BE_POSTGRES;
}

static void setup(void)
{
    base_blocks = live_blocks;
    fail_at = 0;
    nrecs = 0;
    end_only = 0;
    db = NULL;
    obs = NULL;
    tr = NULL;
    if (test_backend == BE_SQLITE_FILE) {
        int fd;

        snprintf(file_path, sizeof file_path, "/tmp/dal-trc-%ld-XXXXXX",
                 main_pid);
        fd = mkstemp(file_path);
        ck_assert_int_ge(fd, 0);
        close(fd);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
        test_url = file_url;
    }
}

static void open_traced(unsigned flags)
{
    CK_OK(dal_observer_new(&obs));
    CK_OK(dal_tracer_new(end_only ? NULL : on_start, on_end, &nrecs,
                         flags, &tr));
    CK_OK(dal_tracer_observe(tr, obs));
    CK_OK(dal_open_observed(test_url, obs, &db));
    if (is_pg())
        EXEC("SET client_min_messages = warning");
    nrecs = 0;
}

static void close_all(void)
{
    dal_close(db);
    db = NULL;
    if (obs)
        CK_OK(dal_observer_free(obs));
    obs = NULL;
    if (tr)
        CK_OK(dal_tracer_free(tr));
    tr = NULL;
}

static void remove_db_files(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[200];
    int i;

    for (i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

static void sweep_temp_files(void)
{
    char prefix[64], path[512];
    struct dirent *e;
    DIR *d = opendir("/tmp");

    if (d == NULL)
        return;
    snprintf(prefix, sizeof prefix, "dal-trc-%ld-", main_pid);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            unlink(path);
        }
    closedir(d);
}

static void teardown(void)
{
    close_all();
    if (test_backend == BE_SQLITE_FILE)
        remove_db_files(file_path);
    ck_assert_msg(live_blocks == base_blocks,
                  "libdal holds %ld blocks after the test, %ld before",
                  live_blocks, base_blocks);
}

/* ---- traceparent ----------------------------------------------------- */

#define TP_OK "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

START_TEST(t_traceparent)
{
    static const uint8_t want_tid[16] = {
        0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
        0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    static const uint8_t want_sid[8] = {
        0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
    static const char *const bad[] = {
        "",
        /* upper case */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
        /* version ff */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        /* all-zero ids */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        /* lengths */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010",
        "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        /* separators and digits */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bx-01",
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        /* a later version must still separate what follows */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
    };
    uint8_t tid[16], sid[8], fl = 0, zero[16] = {0};
    char out[DAL_TRACEPARENT_LEN + 1];
    size_t i;

    CK_OK(dal_traceparent_parse(TP_OK, tid, sid, &fl));
    ck_assert(!memcmp(tid, want_tid, 16));
    ck_assert(!memcmp(sid, want_sid, 8));
    ck_assert_int_eq(fl, 1);
    CK_OK(dal_traceparent_format(tid, sid, fl, out));
    ck_assert_str_eq(out, TP_OK);
    ck_assert_uint_eq(strlen(out), DAL_TRACEPARENT_LEN);
    CK_OK(dal_traceparent_parse(TP_OK, NULL, NULL, NULL));
    /* Flags other than sampled are kept. */
    CK_OK(dal_traceparent_parse(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", tid, sid,
        &fl));
    ck_assert_int_eq(fl, 0);
    /* A later version: its extra fields are skipped. */
    CK_OK(dal_traceparent_parse(
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-ever",
        tid, sid, &fl));
    ck_assert_int_eq(fl, 9);
    CK_OK(dal_traceparent_parse(
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tid, sid,
        &fl));
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(tid, 0xee, sizeof tid);
        ck_assert_msg(dal_traceparent_parse(bad[i], tid, sid, &fl)
                      == DAL_E_DATA, "accepted: '%s'", bad[i]);
        ck_assert_int_eq(tid[0], 0xee); /* outputs untouched */
    }
    CK_RC(dal_traceparent_parse(NULL, tid, sid, &fl), DAL_E_MISUSE);
    CK_RC(dal_traceparent_format(zero, want_sid, 1, out), DAL_E_DATA);
    ck_assert_str_eq(out, "");
    CK_RC(dal_traceparent_format(want_tid, zero, 1, out), DAL_E_DATA);
    CK_RC(dal_traceparent_format(NULL, want_sid, 1, out), DAL_E_MISUSE);
    CK_RC(dal_traceparent_format(want_tid, want_sid, 1, NULL),
          DAL_E_MISUSE);
    CK_OK(dal_traceparent_format(want_tid, want_sid, 0xab, out));
    ck_assert_str_eq(out + 53, "ab");
}
END_TEST

/* ---- spans ----------------------------------------------------------- */

START_TEST(t_statement_spans)
{
    dal_value v = DAL_V_INT64(5);
    const rec *a, *b, *c;
    int64_t n;

    end_only = _i;

    open_traced(0);
    EXEC("DROP TABLE IF EXISTS tr_t");
    EXEC("CREATE TABLE tr_t (id INTEGER PRIMARY KEY)");
    nrecs = 0;
    CK_OK(dal_exec_params(db, "INSERT INTO tr_t VALUES (?)", &v, 1));
    CK_OK(dal_query_int64(db, "SELECT count(*) FROM tr_t", NULL, 0, &n));
    ck_assert_int_eq(n, 1);
    CK_RC(dal_exec_params(db, "INSERT INTO tr_t VALUES (?)", &v, 1),
          DAL_E_CONSTRAINT);
    ck_paired();
    ck_assert_int_eq(nrecs, end_only ? 3 : 6);
    /* Order: start, end of each, in turn. */
    ck_assert(end_only
              || (!recs[0].end && recs[1].end && !recs[2].end && recs[3].end));
    a = must_end("INSERT INTO tr_t VALUES (?)", 0);
    b = must_end("SELECT count(*) FROM tr_t", 0);
    c = must_end("INSERT INTO tr_t VALUES (?)", 1);
    ck_assert_str_eq(a->name, "INSERT");
    ck_assert_str_eq(a->operation, "insert");
    ck_assert_str_eq(a->system, is_pg() ? "postgresql" : "sqlite");
    ck_assert_int_eq(a->rows, 1);
    ck_assert_int_eq(a->status, DAL_OK);
    ck_assert_str_eq(a->msg, "");
    ck_assert_str_eq(b->name, "SELECT");
    ck_assert_int_eq(b->rows, 1);
    ck_assert_int_eq(c->status, DAL_E_CONSTRAINT);
    ck_assert_str_eq(c->sqlstate, "23505");
    ck_assert_ptr_nonnull(strstr(c->msg, "tr_t") ? c->msg
                          : strstr(c->msg, "UNIQUE") ? c->msg
                          : strstr(c->msg, "unique") ? c->msg : NULL);
    /* Outside a transaction each is the root of a trace of its own. */
    ck_assert(is_zero(a->parent_id, 8) && is_zero(b->parent_id, 8));
    ck_assert(memcmp(a->trace_id, b->trace_id, 16) != 0);
    ck_assert(memcmp(a->span_id, b->span_id, 8) != 0);
    ck_assert_int_eq(a->flags, 1);
    ck_assert_int_le(a->start, b->start);
    EXEC("DROP TABLE tr_t");
}
END_TEST

START_TEST(t_tx_spans)
{
    const rec *tx, *s1, *s2, *commit, *after;
    int i;

    end_only = _i;

    open_traced(0);
    EXEC("DROP TABLE IF EXISTS tr_tx");
    EXEC("CREATE TABLE tr_tx (id INTEGER)");
    CK_OK(dal_set_tenant(db, "acme"));
    nrecs = 0;
    CK_OK(dal_begin(db, 0));
    EXEC("INSERT INTO tr_tx VALUES (1)");
    /* A savepoint has no span of its own: its statements stay children
     * of the transaction. */
    CK_OK(dal_begin(db, 0));
    EXEC("INSERT INTO tr_tx VALUES (2)");
    CK_OK(dal_commit(db));
    CK_OK(dal_commit(db));
    EXEC("SELECT 1");
    ck_paired();
    tx = must_end("TX", 0);
    ck_assert_ptr_null(find_end("TX", 1));
    ck_assert_str_eq(tx->name, "TRANSACTION");
    ck_assert_str_eq(tx->operation, "transaction");
    ck_assert_str_eq(tx->outcome, "commit");
    ck_assert_str_eq(tx->tenant, "acme");
    ck_assert_int_eq(tx->status, DAL_OK);
    ck_assert(is_zero(tx->parent_id, 8));
    s1 = must_end("INSERT INTO tr_tx VALUES (1)", 0);
    s2 = must_end("INSERT INTO tr_tx VALUES (2)", 0);
    commit = must_end("COMMIT", 0);
    for (i = 0; i < 3; i++) {
        const rec *s = i == 0 ? s1 : i == 1 ? s2 : commit;

        ck_assert(!memcmp(s->trace_id, tx->trace_id, 16));
        ck_assert(!memcmp(s->parent_id, tx->span_id, 8));
        ck_assert_int_ge(s->start, tx->start);
        ck_assert_int_le(s->stop, tx->stop);
    }
    ck_assert_str_eq(s1->tenant, "acme");
    /* After the transaction: a new root again. */
    after = must_end("SELECT 1", 0);
    ck_assert(is_zero(after->parent_id, 8));
    ck_assert(memcmp(after->trace_id, tx->trace_id, 16) != 0);

    nrecs = 0;
    CK_OK(dal_begin(db, 0));
    EXEC("INSERT INTO tr_tx VALUES (3)");
    CK_OK(dal_rollback(db));
    ck_paired();
    tx = must_end("TX", 0);
    ck_assert_str_eq(tx->outcome, "rollback");
    s1 = must_end("INSERT INTO tr_tx VALUES (3)", 0);
    ck_assert(!memcmp(s1->parent_id, tx->span_id, 8));

    /* A transaction open when the connection closes ends, closed. */
    nrecs = 0;
    CK_OK(dal_begin(db, 0));
    dal_close(db);
    db = NULL;
    ck_paired();
    tx = must_end("TX", 0);
    ck_assert_str_eq(tx->outcome, "closed");
    ck_assert_int_eq(tx->status, DAL_E_CLOSED);
    if (test_backend != BE_SQLITE_MEM) {
        CK_OK(dal_open(test_url, &db));
        EXEC("DROP TABLE tr_tx");
    }
}
END_TEST

START_TEST(t_parent_and_current)
{
    char tp[DAL_TRACEPARENT_LEN + 1], tp2[DAL_TRACEPARENT_LEN + 1];
    uint8_t tid[16], sid[8], fl;
    const rec *s, *tx;
    dal_stmt *st;

    end_only = _i;

    open_traced(0);
    CK_OK(dal_trace_current(db, tp));
    ck_assert_str_eq(tp, "");
    CK_OK(dal_trace_set_parent(db, TP_OK));
    CK_OK(dal_trace_current(db, tp));
    ck_assert_str_eq(tp, TP_OK);
    CK_OK(dal_traceparent_parse(TP_OK, tid, sid, &fl));
    EXEC("SELECT 1");
    s = must_end("SELECT 1", 0);
    ck_assert(!memcmp(s->trace_id, tid, 16));
    ck_assert(!memcmp(s->parent_id, sid, 8));
    CK_OK(dal_begin(db, 0));
    CK_OK(dal_trace_current(db, tp));
    CK_OK(dal_trace_set_parent(db,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-00"));
    EXEC("SELECT 2");
    CK_OK(dal_commit(db));
    tx = must_end("TX", 0);
    ck_assert(!memcmp(tx->trace_id, tid, 16));
    ck_assert(!memcmp(tx->parent_id, sid, 8));
    CK_OK(dal_traceparent_format(tx->trace_id, tx->span_id, tx->flags,
                                 tp2));
    ck_assert_str_eq(tp, tp2);
    /* Inside the transaction, its statements descend from it, not from
     * the parent set meanwhile. */
    s = must_end("SELECT 2", 0);
    ck_assert(!memcmp(s->parent_id, tx->span_id, 8));
    /* ... which the next root statement takes, with its flags. */
    EXEC("SELECT 3");
    s = must_end("SELECT 3", 0);
    ck_assert_int_eq(s->flags, 0);
    ck_assert(!memcmp(s->parent_id,
                      "\x11\x11\x11\x11\x11\x11\x11\x11", 8));

    /* While a statement has rows to give, it is the current span. */
    CK_OK(dal_prepare(db, "SELECT 4 UNION ALL SELECT 5", &st));
    CK_RC(dal_step(st), DAL_ROW);
    CK_OK(dal_trace_current(db, tp));
    CK_RC(dal_step(st), DAL_ROW);
    CK_RC(dal_step(st), DAL_DONE);
    s = must_end("SELECT 4 UNION ALL SELECT 5", 0);
    ck_assert_int_eq(s->rows, 2);
    CK_OK(dal_traceparent_format(s->trace_id, s->span_id, s->flags, tp2));
    ck_assert_str_eq(tp, tp2);
    dal_finalize(st);

    /* Bad input leaves the parent as it was; NULL clears it. */
    CK_RC(dal_trace_set_parent(db, "00-zz"), DAL_E_DATA);
    ck_assert_int_eq(dal_errcode(db), DAL_E_DATA);
    CK_OK(dal_trace_current(db, tp));
    ck_assert_str_eq(tp,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-00");
    CK_OK(dal_trace_set_parent(db, NULL));
    CK_OK(dal_trace_current(db, tp));
    ck_assert_str_eq(tp, "");
    nrecs = 0;
    EXEC("SELECT 6");
    s = must_end("SELECT 6", 0);
    ck_assert(is_zero(s->parent_id, 8));
    ck_assert(memcmp(s->trace_id, tid, 16) != 0);
    ck_paired();
}
END_TEST

START_TEST(t_unique_ids)
{
    int i, j;

    end_only = _i;

    open_traced(0);
    for (i = 0; i < 200; i++)
        EXEC("SELECT 1");
    ck_assert_int_eq(nrecs, end_only ? 200 : 400);
    for (i = !end_only; i < nrecs; i += 2 - end_only)
        for (j = i + 2 - end_only; j < nrecs; j += 2 - end_only) {
            ck_assert(memcmp(recs[i].span_id, recs[j].span_id, 8) != 0);
            ck_assert(memcmp(recs[i].trace_id, recs[j].trace_id, 16) != 0);
        }
}
END_TEST

/*
 * A statement keeps the context it started in when the context changes
 * while it runs (a transaction begins or a parent is set with rows
 * still to read), and the current span while it runs is the one it
 * ends with: in the end-only mode the tracer has not seen the statement
 * start, so it must give it its span before the context changes.
 */
START_TEST(t_context_kept)
{
    char tp[DAL_TRACEPARENT_LEN + 1], tp2[DAL_TRACEPARENT_LEN + 1];
    const rec *s, *inner, *tx;
    dal_stmt *st;

    end_only = _i;
    open_traced(0);
    CK_OK(dal_prepare(db, "SELECT 1 UNION ALL SELECT 2", &st));

    /* Started outside a transaction: a root, though it ends inside. */
    CK_RC(dal_step(st), DAL_ROW);
    CK_OK(dal_begin(db, 0));
    CK_RC(dal_step(st), DAL_ROW);
    CK_RC(dal_step(st), DAL_DONE);
    CK_OK(dal_reset(st));
    CK_OK(dal_commit(db));
    s = must_end("SELECT 1 UNION ALL SELECT 2", 0);
    tx = must_end("TX", 0);
    ck_assert(is_zero(s->parent_id, 8));
    ck_assert(memcmp(s->trace_id, tx->trace_id, 16) != 0);

    /* Started inside: the transaction's child, though it ends after. */
    nrecs = 0;
    CK_OK(dal_begin(db, 0));
    CK_RC(dal_step(st), DAL_ROW);
    CK_OK(dal_commit(db));
    CK_RC(dal_step(st), DAL_ROW);
    CK_OK(dal_reset(st));
    s = must_end("SELECT 1 UNION ALL SELECT 2", 0);
    tx = must_end("TX", 0);
    ck_assert(!memcmp(s->trace_id, tx->trace_id, 16));
    ck_assert(!memcmp(s->parent_id, tx->span_id, 8));

    /* A parent set while it runs is for the statements after it. */
    nrecs = 0;
    CK_RC(dal_step(st), DAL_ROW);
    CK_OK(dal_trace_current(db, tp));
    CK_OK(dal_trace_set_parent(db, TP_OK));
    EXEC("SELECT 3");
    CK_OK(dal_trace_current(db, tp2));
    ck_assert_str_eq(tp, tp2);
    CK_RC(dal_step(st), DAL_ROW);
    CK_OK(dal_reset(st));
    s = must_end("SELECT 1 UNION ALL SELECT 2", 0);
    inner = must_end("SELECT 3", 0);
    ck_assert(is_zero(s->parent_id, 8));
    CK_OK(dal_traceparent_format(s->trace_id, s->span_id, s->flags, tp2));
    ck_assert_str_eq(tp, tp2);
    ck_assert(!memcmp(inner->parent_id, "\x00\xf0\x67\xaa\x0b\xa9\x02\xb7",
                      8));
    CK_OK(dal_trace_current(db, tp));
    ck_assert_str_eq(tp, TP_OK);
    ck_paired();
    dal_finalize(st);
}
END_TEST

/* The text of the comment for span r. */
static void comment_of(const rec *r, char *out, size_t cap)
{
    char tp[DAL_TRACEPARENT_LEN + 1];

    CK_OK(dal_traceparent_format(r->trace_id, r->span_id, r->flags, tp));
    snprintf(out, cap, "/*traceparent='%s'*/", tp);
}

START_TEST(t_sqlcomment)
{
    char want[128], *text = NULL;
    const rec *r;
    dal_value v = DAL_V_INT64(7);
    int64_t n = 0;

    open_traced(DAL_TRACE_SQLCOMMENT);
    if (is_pg()) {
        /* The server's own view of the statement it runs. */
        CK_OK(dal_query_text(db, "SELECT current_query()", NULL, 0, &text,
                             NULL));
        r = must_end("SELECT current_query()", 0);
        comment_of(r, want, sizeof want);
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(strstr(text, want) != NULL, "server got '%s', want "
                      "'%s'", text, want);
        ck_assert_int_eq(strncmp(text, "SELECT current_query() ", 23), 0);
        dal_free(text);
        text = NULL;
        /* In a transaction, with a parameter: the span's own ids. */
        CK_OK(dal_begin(db, 0));
        CK_OK(dal_query_text(db, "SELECT current_query() || ?", &v, 1,
                             &text, NULL));
        CK_OK(dal_commit(db));
        r = must_end("SELECT current_query() || ?", 0);
        comment_of(r, want, sizeof want);
        ck_assert_msg(strstr(text, want) != NULL, "server got '%s', want "
                      "'%s'", text, want);
        ck_assert(!memcmp(r->trace_id, must_end("TX", 0)->trace_id, 16));
        dal_free(text);
        text = NULL;
    } else {
        /* SQLite keeps a view's text as prepared, comment and all. */
        EXEC("DROP VIEW IF EXISTS tr_v");
        nrecs = 0;
        EXEC("CREATE VIEW tr_v AS SELECT 1 AS one");
        r = must_end("CREATE VIEW tr_v AS SELECT 1 AS one", 0);
        comment_of(r, want, sizeof want);
        CK_OK(dal_query_text(db, "SELECT sql FROM sqlite_master WHERE "
                             "name = 'tr_v'", NULL, 0, &text, NULL));
        ck_assert_ptr_nonnull(text);
        ck_assert_msg(strstr(text, want) != NULL, "sqlite kept '%s', want "
                      "'%s'", text, want);
        dal_free(text);
        text = NULL;
        EXEC("DROP VIEW tr_v");
    }
    /* A statement ending in a -- comment still runs: the comment goes
     * on a line of its own. */
    CK_OK(dal_query_int64(db, "SELECT 41 + 1 -- the answer", NULL, 0, &n));
    ck_assert_int_eq(n, 42);
    /* Spans and hooks see the caller's SQL, without the comment. */
    r = must_end("SELECT 41 + 1 -- the answer", 0);
    ck_assert_ptr_null(strstr(r->statement, "traceparent"));
    /* The statement cache, whose PostgreSQL statements are named
     * prepared statements, is bypassed while the option is on. */
    if (is_pg()) {
        CK_OK(dal_query_int64(db, "SELECT count(*) FROM "
                              "pg_prepared_statements", NULL, 0, &n));
        ck_assert_int_eq(n, 0);
    }
    ck_paired();
}
END_TEST

START_TEST(t_misuse)
{
    dal_observer *o2 = NULL;
    dal_tracer *t2 = NULL;
    dal_db *d2 = NULL;
    char tp[DAL_TRACEPARENT_LEN + 1];

    CK_RC(dal_tracer_new(NULL, NULL, NULL, 0, &tr), DAL_E_MISUSE);
    ck_assert_ptr_null(tr);
    CK_RC(dal_tracer_new(on_start, NULL, NULL, 0x10, &tr), DAL_E_MISUSE);
    CK_RC(dal_tracer_new(on_start, NULL, NULL, 0, NULL), DAL_E_MISUSE);
    CK_RC(dal_tracer_observe(NULL, NULL), DAL_E_MISUSE);
    CK_OK(dal_tracer_free(NULL));
    /* No tracer on the connection. */
    CK_OK(dal_open(test_url, &db));
    CK_RC(dal_trace_set_parent(db, TP_OK), DAL_E_MISUSE);
    CK_RC(dal_trace_current(db, tp), DAL_E_MISUSE);
    CK_RC(dal_trace_current(NULL, tp), DAL_E_MISUSE);
    dal_close(db);
    db = NULL;
    /* Two tracers on one connection: refused at attach. */
    open_traced(0);
    CK_RC(dal_tracer_free(tr), DAL_E_MISUSE); /* still attached */
    CK_OK(dal_observer_new(&o2));
    CK_OK(dal_tracer_new(on_start, on_end, &nrecs, 0, &t2));
    CK_OK(dal_tracer_observe(tr, o2));
    CK_OK(dal_tracer_observe(t2, o2));
    CK_RC(dal_open_observed(test_url, o2, &d2), DAL_E_MISUSE);
    dal_close(d2);
    CK_RC(dal_observe(db, o2), DAL_E_MISUSE);
    ck_assert_ptr_null(dal_observer_of(db));
    /* db lost its first observer in the swap: give it back. */
    CK_OK(dal_observe(db, obs));
    EXEC("SELECT 1");
    CK_OK(dal_observer_free(o2));
    CK_OK(dal_tracer_free(t2));
}
END_TEST

START_TEST(t_nomem)
{
    long n;
    int rc, done = 0;

    for (n = 1; !done && n < 400; n++) {
        dal_observer *o = NULL;
        dal_tracer *t = NULL;
        dal_db *d = NULL;
        dal_stmt *s1 = NULL, *s2 = NULL, *s3 = NULL, *s4 = NULL, *s5 = NULL;
        char tp[DAL_TRACEPARENT_LEN + 1];

        nomem_arm(n);
        rc = dal_observer_new(&o);
        if (rc == DAL_OK)
            rc = dal_tracer_new(on_start, on_end, &nrecs,
                                DAL_TRACE_SQLCOMMENT, &t);
        if (rc == DAL_OK)
            rc = dal_tracer_observe(t, o);
        if (rc == DAL_OK)
            rc = dal_open_observed(test_url, o, &d);
        if (rc == DAL_OK)
            rc = dal_trace_set_parent(d, TP_OK);
        if (rc == DAL_OK)
            rc = dal_exec(d, "SELECT 1");
        if (rc == DAL_OK)
            rc = dal_begin(d, 0);
        /* Five statements running at once: the list of open spans
         * grows past its first size. */
        if (rc == DAL_OK)
            rc = dal_prepare(d, "SELECT 1 UNION ALL SELECT 2", &s1);
        if (rc == DAL_OK)
            rc = dal_prepare(d, "SELECT 2 UNION ALL SELECT 2", &s2);
        if (rc == DAL_OK)
            rc = dal_prepare(d, "SELECT 3 UNION ALL SELECT 2", &s3);
        if (rc == DAL_OK)
            rc = dal_prepare(d, "SELECT 4 UNION ALL SELECT 2", &s4);
        if (rc == DAL_OK)
            rc = dal_prepare(d, "SELECT 5 UNION ALL SELECT 2", &s5);
        if (rc == DAL_OK && (rc = dal_step(s1)) == DAL_ROW
            && (rc = dal_step(s2)) == DAL_ROW
            && (rc = dal_step(s3)) == DAL_ROW
            && (rc = dal_step(s4)) == DAL_ROW
            && (rc = dal_step(s5)) == DAL_ROW)
            rc = dal_trace_current(d, tp);
        dal_finalize(s1);
        dal_finalize(s2);
        dal_finalize(s3);
        dal_finalize(s4);
        dal_finalize(s5);
        if (rc == DAL_OK)
            rc = dal_commit(d);
        ck_assert_msg(rc == DAL_OK || rc == DAL_NOMEM,
                      "allocation %ld: rc %d (%s)", n, rc, dal_errstr(rc));
        fail_at = 0;
        done = !fail_hit;
        if (done)
            ck_paired();
        dal_close(d);
        ck_assert_int_eq(dal_observer_free(o), DAL_OK);
        ck_assert_int_eq(dal_tracer_free(t), DAL_OK);
        nrecs = 0;
        ck_assert_msg(live_blocks == base_blocks, "allocation %ld: %ld "
                      "blocks leaked", n, live_blocks - base_blocks);
    }
    ck_assert_msg(done, "still failing after %ld allocations", n);
}
END_TEST

/* ---- suite ----------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *trace_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "traceparent");
    tcase_add_test(tc, t_traceparent);
    tc = tcase(s, "spans");
    tcase_add_loop_test(tc, t_statement_spans, 0, 2);
    tcase_add_loop_test(tc, t_tx_spans, 0, 2);
    tcase_add_loop_test(tc, t_parent_and_current, 0, 2);
    tcase_add_loop_test(tc, t_unique_ids, 0, 2);
    tcase_add_loop_test(tc, t_context_kept, 0, 2);
    tc = tcase(s, "sqlcomment");
    tcase_add_test(tc, t_sqlcomment);
    tc = tcase(s, "api");
    tcase_add_test(tc, t_misuse);
    tcase_add_test(tc, t_nomem);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "trace[sqlite-mem]", "trace[sqlite-file]", "trace[postgres]",
    };
    const char *pg;
    int kind, failed = 0;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "trace: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    main_pid = (long)getpid();
    pg = getenv("DAL_TEST_PG_URL");
    if (pg == NULL || pg[0] == '\0') {
        printf("trace: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
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
        sr = srunner_create(trace_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_temp_files();
    }
    if (live_blocks != 0) {
        printf("trace: libdal holds %ld blocks at exit\n", live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
