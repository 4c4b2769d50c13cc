/*
 * tests/batch.c - batches of statements and bulk loads
 * (include/dal/batch.h): dal_batch_* and dal_load. One set of tests, the
 * same assertions, on every backend:
 *   batch[sqlite-mem]   sqlite::memory:
 *   batch[sqlite-file]  sqlite:///tmp/... (a fresh file per test)
 *   batch[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 * The doc comments of batch.h are the contract checked here.
 *
 * Run:  tests/pg/with-pg.sh build/tests/batch
 * CK_RUN_SUITE='batch[postgres]' and CK_RUN_CASE=... narrow a run;
 * CK_FORK=no runs in one process (for gdb and valgrind).
 *
 * That PostgreSQL really pipelines is checked below the core: setup()
 * gives the handle a copy of its driver whose pipeline send() counts
 * the statements it sends.
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dal.h>

#include "dal-int.h"

enum backend { BE_SQLITE_MEM, BE_SQLITE_FILE, BE_POSTGRES };

static const char *test_url;
static enum backend test_backend;
static dal_db *db;
static long main_pid;
static char file_path[128];
static char file_url[160];

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

#include "harness.h"

/* ---- statement counter ----------------------------------------------- */

static struct dal_driver counting_drv;
static const struct dal_driver *real_drv;

static struct dal__pipe counting_pipe;
static long n_sent; /* statements sent in pipeline mode */

static int counting_send(dal_db *d, void *conn, void *stmt)
{
    n_sent++;
    return real_drv->pipe->send(d, conn, stmt);
}

static void count_statements(dal_db *d)
{
    real_drv = d->drv;
    counting_drv = *real_drv;
    if (real_drv->pipe) {
        counting_pipe = *real_drv->pipe;
        counting_pipe.send = counting_send;
        counting_drv.pipe = &counting_pipe;
    }
    n_sent = 0;
    d->drv = &counting_drv;
}

static void uncount_statements(dal_db *d)
{
    if (d && real_drv && d->drv == &counting_drv)
        d->drv = real_drv;
}

/* ---- helpers --------------------------------------------------------- */

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

#define CK_RC(expr, want) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "%s -> %d (%s), want %d (%s): [%s] %s", \
                  #expr, rc_, dal_errstr(rc_), (want), dal_errstr(want), \
                  S(dal_sqlstate(db)), S(dal_errmsg(db))); \
} while (0)
#define CK_OK(expr) CK_RC(expr, DAL_OK)
#define EXEC(sql) CK_OK(dal_exec(db, (sql)))

static int is_pg(void)
{
    return test_backend == BE_POSTGRES;
}

static int64_t qint(const char *sql)
{
    int64_t v = -424242;
    int rc = dal_query_int64(db, sql, NULL, 0, &v);

    ck_assert_msg(rc == DAL_OK, "%s -> %d (%s): [%s] %s", sql, rc,
                  dal_errstr(rc), S(dal_sqlstate(db)), S(dal_errmsg(db)));
    return v;
}

static void drop(const char *t)
{
    char sql[160];

    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", t);
    EXEC(sql);
}

static void temp_file(char *buf, size_t len)
{
    int fd;

    snprintf(buf, len, "/tmp/dal-batch-%ld-XXXXXX", main_pid);
    fd = mkstemp(buf);
    ck_assert_msg(fd >= 0, "mkstemp failed");
    close(fd);
    unlink(buf);
}

static void remove_db_files(const char *path)
{
    char p[200];

    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-journal", path);
    unlink(p);
}

static void sweep_temp_files(void)
{
    char prefix[64], path[512];
    struct dirent *e;
    DIR *d = opendir("/tmp");

    if (d == NULL)
        return;
    snprintf(prefix, sizeof prefix, "dal-batch-%ld-", main_pid);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            unlink(path);
        }
    closedir(d);
}

static dal_db *open_db(void)
{
    dal_db *d = NULL;
    int rc = dal_open(test_url, &d);

    ck_assert_msg(rc == DAL_OK && d != NULL, "dal_open(%s) -> %d: %s",
                  test_url, rc, d ? S(dal_errmsg(d)) : "(no handle)");
    if (is_pg())
        ck_assert_int_eq(dal_exec(d, "SET client_min_messages = warning"),
                         DAL_OK);
    return d;
}

static void setup(void)
{
    base_blocks = live_blocks;
    fail_at = 0;
    if (test_backend == BE_SQLITE_FILE) {
        temp_file(file_path, sizeof file_path);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
        test_url = file_url;
    }
    db = open_db();
    count_statements(db);
}

static void teardown(void)
{
    fail_at = 0;
    uncount_statements(db);
    dal_close(db);
    db = NULL;
    if (test_backend == BE_SQLITE_FILE)
        remove_db_files(file_path);
    ck_assert_msg(live_blocks == base_blocks,
                  "libdal holds %ld blocks after the test, %ld before",
                  live_blocks, base_blocks);
}

/* A table t (id primary key, name text not null, n integer). */
static void make_items(const char *t)
{
    char sql[256];

    drop(t);
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id INTEGER PRIMARY KEY, "
             "name TEXT NOT NULL, n INTEGER)", t);
    EXEC(sql);
}

static int64_t count_of(const char *t)
{
    char sql[160];

    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t);
    return qint(sql);
}

static dal_batch *new_batch(void)
{
    dal_batch *b = NULL;

    CK_OK(dal_batch_new(db, &b));
    ck_assert_ptr_nonnull(b);
    return b;
}

/* Add "INSERT INTO t (id, name, n) VALUES (?, ?, ?)". */
static void add_insert(dal_batch *b, const char *t, int64_t id,
                       const char *name)
{
    char sql[160];
    dal_value p[3];

    snprintf(sql, sizeof sql, "INSERT INTO %s (id, name, n) VALUES "
             "(?, ?, ?)", t);
    p[0] = DAL_V_INT64(id);
    p[1] = name ? DAL_V_TEXT(name) : DAL_V_NULL;
    p[2] = DAL_V_INT64(id * 10);
    CK_OK(dal_batch_add(b, sql, p, 3));
}

/* ---- results ---------------------------------------------------------- */

START_TEST(t_results)
{
    dal_batch *b = new_batch();
    dal_value p[2];
    const dal_value *v;
    int i;

    make_items("bt_res");
    add_insert(b, "bt_res", 1, "one");
    add_insert(b, "bt_res", 2, "it's \"two\"");
    add_insert(b, "bt_res", 3, "three");
    p[0] = DAL_V_INT64(5);
    p[1] = DAL_V_INT64(2);
    CK_OK(dal_batch_add(b, "UPDATE bt_res SET n = n + $1 WHERE id >= $2",
                        p, 2));
    CK_OK(dal_batch_add(b, "SELECT id, name, n FROM bt_res ORDER BY id",
                        NULL, 0));
    p[0] = DAL_V_TEXT("one");
    CK_OK(dal_batch_add(b, "DELETE FROM bt_res WHERE name = :name", p, 1));
    ck_assert_int_eq(dal_batch_count(b), 6);
    /* Before a run there are no results. */
    ck_assert_int_eq(dal_batch_rc(b, 0), DAL_E_RANGE);

    n_sent = 0;
    CK_OK(dal_batch_run(b, DAL_BATCH_ATOMIC));
    /* PostgreSQL pipelines every statement; SQLite has no pipeline. */
    ck_assert_int_eq(n_sent, is_pg() ? 6 : 0);
    for (i = 0; i < 6; i++) {
        ck_assert_int_eq(dal_batch_rc(b, i), DAL_OK);
        ck_assert_str_eq(dal_batch_sqlstate(b, i), "00000");
    }
    ck_assert_int_eq(dal_batch_changes(b, 0), 1);
    ck_assert_int_eq(dal_batch_changes(b, 3), 2);
    ck_assert_int_eq(dal_batch_changes(b, 4), 0);
    ck_assert_int_eq(dal_batch_changes(b, 5), 1);
    ck_assert_int_eq(dal_batch_nrows(b, 0), 0);
    ck_assert_int_eq(dal_batch_ncols(b, 0), 0);
    ck_assert_int_eq(dal_batch_nrows(b, 4), 3);
    ck_assert_int_eq(dal_batch_ncols(b, 4), 3);
    v = dal_batch_value(b, 4, 1, 1);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(v->type, DAL_TYPE_TEXT);
    ck_assert_str_eq(v->u.s.p, "it's \"two\"");
    ck_assert_uint_eq(v->u.s.len, strlen("it's \"two\""));
    v = dal_batch_value(b, 4, 2, 2);
    ck_assert_int_eq(v->type, DAL_TYPE_INT64);
    ck_assert_int_eq(v->u.i, 35);
    ck_assert_int_eq(dal_batch_value(b, 4, 0, 0)->u.i, 1);
    ck_assert_ptr_null(dal_batch_value(b, 4, 3, 0));
    ck_assert_ptr_null(dal_batch_value(b, 4, 0, 3));
    ck_assert_ptr_null(dal_batch_value(b, 4, -1, 0));
    ck_assert_ptr_null(dal_batch_value(b, 6, 0, 0));
    ck_assert_int_eq(dal_batch_rc(b, 6), DAL_E_RANGE);
    ck_assert_int_eq(dal_batch_rc(b, -1), DAL_E_RANGE);
    ck_assert_ptr_null(dal_batch_sqlstate(b, 6));
    ck_assert_ptr_null(dal_batch_errmsg(b, 6));
    ck_assert_int_eq(dal_batch_changes(b, 6), -1);
    ck_assert_int_eq(count_of("bt_res"), 2);
    ck_assert_int_eq(qint("SELECT n FROM bt_res WHERE id = 3"), 35);

    /* Run again: the inserts now fail on the duplicate key 2 (1 was
     * deleted, so it goes in first). */
    CK_RC(dal_batch_run(b, DAL_BATCH_EACH), DAL_E_CONSTRAINT);
    ck_assert_int_eq(dal_batch_rc(b, 0), DAL_OK);
    ck_assert_int_eq(dal_batch_rc(b, 1), DAL_E_CONSTRAINT);
    ck_assert_int_eq(dal_batch_rc(b, 2), DAL_E_CONSTRAINT);
    ck_assert_int_eq(dal_batch_rc(b, 3), DAL_OK);
    ck_assert_int_eq(dal_batch_nrows(b, 4), 3);
    ck_assert_int_eq(dal_errcode(db), DAL_E_CONSTRAINT);
    ck_assert_str_eq(dal_sqlstate(db), "23505");
    ck_assert_int_eq(count_of("bt_res"), 2);
    dal_batch_free(b);

    /* An empty batch runs. */
    b = new_batch();
    CK_OK(dal_batch_run(b, DAL_BATCH_ATOMIC));
    CK_OK(dal_batch_run(b, DAL_BATCH_EACH));
    dal_batch_free(b);
    dal_batch_free(NULL);
    ck_assert_int_eq(dal_batch_count(NULL), 0);
}
END_TEST

START_TEST(t_misuse)
{
    dal_batch *b = new_batch();
    dal_value p[2] = {DAL_V_INT64(1), DAL_V_INT64(2)};
    dal_value bad;

    make_items("bt_mis");
    CK_RC(dal_batch_add(b, "SELECT ?", p, 2), DAL_E_RANGE);
    CK_RC(dal_batch_add(b, "SELECT ?, ?", p, 1), DAL_E_RANGE);
    CK_RC(dal_batch_add(b, "SELECT 1; SELECT 2", NULL, 0), DAL_E_MISUSE);
    CK_RC(dal_batch_add(b, "BEGIN", NULL, 0), DAL_E_MISUSE);
    CK_RC(dal_batch_add(b, "commit", NULL, 0), DAL_E_MISUSE);
    CK_RC(dal_batch_add(b, NULL, NULL, 0), DAL_E_MISUSE);
    CK_RC(dal_batch_add(b, "SELECT ?", NULL, 1), DAL_E_MISUSE);
    CK_RC(dal_batch_add(NULL, "SELECT 1", NULL, 0), DAL_E_MISUSE);
    bad = DAL_V_TEXT("\xff\xfe");
    CK_RC(dal_batch_add(b, "SELECT ?", &bad, 1), DAL_E_DATA);
    bad.type = (dal_type)99;
    CK_RC(dal_batch_add(b, "SELECT ?", &bad, 1), DAL_E_MISUSE);
    ck_assert_int_eq(dal_batch_count(b), 0);
    CK_OK(dal_batch_add(b, "SELECT 1", NULL, 0));
    CK_RC(dal_batch_run(b, 7), DAL_E_MISUSE);
    ck_assert_int_eq(dal_batch_run(NULL, DAL_BATCH_ATOMIC), DAL_E_MISUSE);
    {
        dal_batch *b2 = (dal_batch *)1;

        ck_assert_int_eq(dal_batch_new(NULL, &b2), DAL_E_MISUSE);
        ck_assert_ptr_null(b2);
    }
    CK_RC(dal_batch_new(db, NULL), DAL_E_MISUSE);
    dal_batch_free(b);
}
END_TEST

/* ---- atomicity -------------------------------------------------------- */

/* Inserts 1 and 2, a duplicate of 1, then 3 and 4. */
static dal_batch *failing_batch(const char *t)
{
    dal_batch *b = new_batch();

    add_insert(b, t, 1, "a");
    add_insert(b, t, 2, "b");
    add_insert(b, t, 1, "dup");
    add_insert(b, t, 3, "c");
    add_insert(b, t, 4, NULL); /* NOT NULL violated */
    return b;
}

START_TEST(t_atomic)
{
    dal_batch *b;

    make_items("bt_at");
    b = failing_batch("bt_at");
    CK_RC(dal_batch_run(b, DAL_BATCH_ATOMIC), DAL_E_CONSTRAINT);
    ck_assert_int_eq(dal_errcode(db), DAL_E_CONSTRAINT);
    ck_assert_str_eq(dal_sqlstate(db), "23505");
    ck_assert_int_eq(dal_batch_rc(b, 0), DAL_OK);
    ck_assert_int_eq(dal_batch_rc(b, 1), DAL_OK);
    ck_assert_int_eq(dal_batch_rc(b, 2), DAL_E_CONSTRAINT);
    ck_assert_str_eq(dal_batch_sqlstate(b, 2), "23505");
    ck_assert_ptr_nonnull(strstr(dal_batch_errmsg(b, 2), is_pg() ? "unique"
                                                          : "UNIQUE"));
    ck_assert_int_eq(dal_batch_changes(b, 2), -1);
    ck_assert_int_eq(dal_batch_rc(b, 3), DAL_E_TX);
    ck_assert_str_eq(dal_batch_sqlstate(b, 3), "25P02");
    ck_assert_ptr_nonnull(strstr(dal_batch_errmsg(b, 3), "not run"));
    ck_assert_int_eq(dal_batch_rc(b, 4), DAL_E_TX);
    /* Nothing of the batch stays. */
    ck_assert_int_eq(count_of("bt_at"), 0);
    ck_assert_int_eq(dal_tx_depth(db), 0);
    /* The connection works on. */
    EXEC("INSERT INTO bt_at (id, name) VALUES (9, 'z')");
    ck_assert_int_eq(count_of("bt_at"), 1);
    dal_batch_free(b);
}
END_TEST

START_TEST(t_each)
{
    dal_batch *b;

    make_items("bt_each");
    b = failing_batch("bt_each");
    CK_RC(dal_batch_run(b, DAL_BATCH_EACH), DAL_E_CONSTRAINT);
    ck_assert_str_eq(dal_sqlstate(db), "23505");
    ck_assert_int_eq(dal_batch_rc(b, 0), DAL_OK);
    ck_assert_int_eq(dal_batch_rc(b, 1), DAL_OK);
    ck_assert_int_eq(dal_batch_rc(b, 2), DAL_E_CONSTRAINT);
    ck_assert_int_eq(dal_batch_rc(b, 3), DAL_OK);
    ck_assert_int_eq(dal_batch_changes(b, 3), 1);
    ck_assert_int_eq(dal_batch_rc(b, 4), DAL_E_CONSTRAINT);
    ck_assert_str_eq(dal_batch_sqlstate(b, 4), "23502");
    ck_assert_int_eq(count_of("bt_each"), 3);
    ck_assert_int_eq(qint("SELECT count(*) FROM bt_each WHERE name = 'dup'"),
                     0);
    ck_assert_int_eq(dal_tx_depth(db), 0);
    dal_batch_free(b);
}
END_TEST

START_TEST(t_in_tx)
{
    dal_batch *b;

    make_items("bt_tx");
    b = failing_batch("bt_tx");
    CK_OK(dal_begin(db, 0));
    EXEC("INSERT INTO bt_tx (id, name) VALUES (100, 'mine')");
    CK_RC(dal_batch_run(b, DAL_BATCH_ATOMIC), DAL_E_CONSTRAINT);
    /* Only the batch was undone; the caller's transaction goes on. */
    ck_assert_int_eq(dal_tx_depth(db), 1);
    ck_assert_int_eq(count_of("bt_tx"), 1);
    CK_RC(dal_batch_run(b, DAL_BATCH_EACH), DAL_E_CONSTRAINT);
    ck_assert_int_eq(dal_tx_depth(db), 1);
    ck_assert_int_eq(dal_batch_rc(b, 3), DAL_OK);
    ck_assert_int_eq(count_of("bt_tx"), 4);
    EXEC("INSERT INTO bt_tx (id, name) VALUES (101, 'mine too')");
    CK_OK(dal_commit(db));
    ck_assert_int_eq(count_of("bt_tx"), 5);

    /* A rolled-back caller takes the batch with it. */
    EXEC("DELETE FROM bt_tx");
    CK_OK(dal_begin(db, 0));
    dal_batch_free(b);
    b = new_batch();
    add_insert(b, "bt_tx", 1, "a");
    add_insert(b, "bt_tx", 2, "b");
    CK_OK(dal_batch_run(b, DAL_BATCH_ATOMIC));
    ck_assert_int_eq(count_of("bt_tx"), 2);
    CK_OK(dal_rollback(db));
    ck_assert_int_eq(count_of("bt_tx"), 0);
    dal_batch_free(b);
}
END_TEST

/* ---- hooks ------------------------------------------------------------ */

typedef struct counts {
    int before, after, after_failed;
    int64_t rows;
    int refused;
} counts;

static int count_hook(const dal_event *ev, void *data)
{
    counts *c = data;

    /* The batch's own transaction statements are not counted. */
    if (!ev->sql || strstr(ev->sql, "bt_hk") == NULL)
        return DAL_OK;
    if (ev->kind == DAL_EV_BEFORE) {
        c->before++;
        if (strstr(ev->sql, "forbidden")) {
            c->refused++;
            return dal_event_refuse(ev, DAL_E_REFUSED, NULL, "no");
        }
        if (getenv("BT_DEBUG"))
            fprintf(stderr, "BEFORE %s\n", ev->sql);
    } else if (ev->kind == DAL_EV_AFTER) {
        c->after++;
        if (ev->rc != DAL_OK)
            c->after_failed++;
        else if (ev->rows > 0)
            c->rows += ev->rows;
    }
    return DAL_OK;
}

START_TEST(t_hooks)
{
    dal_observer *o = NULL;
    dal_hook h = {0};
    counts c = {0};
    dal_batch *b;

    make_items("bt_hk");
    CK_OK(dal_observer_new(&o));
    h.events = DAL_EVENT_BIT(DAL_EV_BEFORE) | DAL_EVENT_BIT(DAL_EV_AFTER);
    h.fn = count_hook;
    h.data = &c;
    ck_assert_int_eq(dal_observer_add(o, &h), DAL_OK);
    CK_OK(dal_observe(db, o));

    b = new_batch();
    add_insert(b, "bt_hk", 1, "a");
    add_insert(b, "bt_hk", 2, "b");
    add_insert(b, "bt_hk", 3, "c");
    CK_OK(dal_batch_add(b, "UPDATE bt_hk SET n = 0", NULL, 0));
    CK_OK(dal_batch_add(b, "SELECT * FROM bt_hk", NULL, 0));
    CK_OK(dal_batch_run(b, DAL_BATCH_ATOMIC));
    ck_assert_int_eq(c.before, 5);
    ck_assert_int_eq(c.after, 5);
    ck_assert_int_eq(c.after_failed, 0);
    /* 3 inserted, 3 updated, 3 selected. */
    ck_assert_int_eq(c.rows, 9);
    dal_batch_free(b);

    /* A failure: every statement still gets its AFTER, with its rc. */
    b = failing_batch("bt_hk");
    EXEC("DELETE FROM bt_hk");
    memset(&c, 0, sizeof c);
    CK_RC(dal_batch_run(b, DAL_BATCH_EACH), DAL_E_CONSTRAINT);
    ck_assert_int_eq(c.before, 5);
    ck_assert_int_eq(c.after, 5);
    ck_assert_int_eq(c.after_failed, 2);
    dal_batch_free(b);

    /* A hook refuses one statement: atomic, nothing; each, the rest. */
    b = new_batch();
    add_insert(b, "bt_hk", 10, "x");
    CK_OK(dal_batch_add(b, "DELETE FROM bt_hk WHERE name = 'forbidden'",
                        NULL, 0));
    add_insert(b, "bt_hk", 11, "y");
    EXEC("DELETE FROM bt_hk");
    memset(&c, 0, sizeof c);
    CK_RC(dal_batch_run(b, DAL_BATCH_ATOMIC), DAL_E_REFUSED);
    ck_assert_int_eq(dal_batch_rc(b, 1), DAL_E_REFUSED);
    ck_assert_int_eq(dal_batch_rc(b, 2), DAL_E_TX);
    ck_assert_int_eq(c.refused, 1);
    ck_assert_int_eq(c.before, c.after);
    ck_assert_int_eq(count_of("bt_hk"), 0);
    memset(&c, 0, sizeof c);
    CK_RC(dal_batch_run(b, DAL_BATCH_EACH), DAL_E_REFUSED);
    ck_assert_int_eq(dal_batch_rc(b, 0), DAL_OK);
    ck_assert_int_eq(dal_batch_rc(b, 1), DAL_E_REFUSED);
    ck_assert_int_eq(dal_batch_rc(b, 2), DAL_OK);
    ck_assert_int_eq(c.before, 3);
    ck_assert_int_eq(c.after, 3);
    ck_assert_int_eq(count_of("bt_hk"), 2);
    dal_batch_free(b);

    CK_OK(dal_observe(db, NULL));
    ck_assert_int_eq(dal_observer_free(o), DAL_OK);
}
END_TEST

/* ---- size --------------------------------------------------------------- */

START_TEST(t_large)
{
    dal_batch *b = new_batch();
    const dal_value *v;
    int i;

    make_items("bt_big");
    for (i = 1; i <= 1000; i++)
        add_insert(b, "bt_big", i, "a name long enough to fill buffers");
    /* A large result in the middle of the pipeline. */
    CK_OK(dal_batch_add(b, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                        "SELECT x + 1 FROM c WHERE x < 50000) "
                        "SELECT x, 'abcdefghijklmnopqrstuvwxyz0123456789' "
                        "FROM c", NULL, 0));
    for (i = 1001; i <= 2000; i++)
        add_insert(b, "bt_big", i, "b");
    CK_OK(dal_batch_run(b, DAL_BATCH_ATOMIC));
    ck_assert_int_eq(count_of("bt_big"), 2000);
    ck_assert_int_eq(dal_batch_nrows(b, 1000), 50000);
    v = dal_batch_value(b, 1000, 49999, 0);
    ck_assert_int_eq(v->u.i, 50000);
    ck_assert_int_eq(dal_batch_changes(b, 1999), 1);
    dal_batch_free(b);
}
END_TEST

/* ---- bulk load ------------------------------------------------------ */

#define LOAD_N 10000

static const char *const load_cols[] = {"id", "Name", "score", "flag",
                                        "data", "note"};

/* Row r: text with every character COPY escapes, and a blob of every
 * byte; note is NULL every 7th row. */
typedef struct load_src {
    char text[128];
    unsigned char blob[256];
    int64_t dup_at;  /* a row whose id repeats row 0's, or -1 */
    int fail_at_row; /* the row function fails there, or -1 */
    int calls;
} load_src;

static void row_text(int r, char *buf, size_t len)
{
    snprintf(buf, len, "r%d 'q' \"dq\" \t tab \n nl \r cr \\ bs \\N "
             "\xc3\xa9 end", r);
}

static int load_row(void *ctx, int r, dal_value *vals)
{
    load_src *s = ctx;
    int i;

    s->calls++;
    if (r == s->fail_at_row)
        return DAL_E_DATA;
    row_text(r, s->text, sizeof s->text);
    for (i = 0; i < 256; i++)
        s->blob[i] = (unsigned char)(i + r);
    vals[0] = DAL_V_INT64(r == s->dup_at ? 0 : r);
    vals[1] = DAL_V_TEXT(s->text);
    vals[2].type = DAL_TYPE_DOUBLE;
    vals[2].u.d = r / 4.0;
    vals[3].type = DAL_TYPE_BOOL;
    vals[3].u.b = r % 2;
    vals[4].type = DAL_TYPE_BLOB;
    vals[4].u.s.p = (const char *)s->blob;
    vals[4].u.s.len = (size_t)(r % 257) < 256 ? (size_t)(r % 257) : 256;
    if (r % 7 == 0)
        vals[5] = DAL_V_NULL;
    else
        vals[5] = DAL_V_TEXT("note");
    return DAL_OK;
}

static void make_load_table(void)
{
    drop("bt_load");
    if (is_pg())
        EXEC("CREATE TABLE bt_load (id BIGINT PRIMARY KEY, \"Name\" TEXT, "
             "score DOUBLE PRECISION, flag BOOLEAN, data BYTEA, note TEXT)");
    else
        EXEC("CREATE TABLE bt_load (id INTEGER PRIMARY KEY, \"Name\" TEXT, "
             "score REAL, flag BOOLEAN, data BLOB, note TEXT)");
}

static void check_loaded_row(int r)
{
    char sql[160], want[128];
    dal_stmt *st = NULL;
    const char *t;
    const unsigned char *p;
    size_t n, i, blen = (size_t)(r % 257) < 256 ? (size_t)(r % 257) : 256;

    snprintf(sql, sizeof sql, "SELECT \"Name\", score, flag, data, note "
             "FROM bt_load WHERE id = %d", r);
    CK_OK(dal_prepare(db, sql, &st));
    CK_RC(dal_step(st), DAL_ROW);
    row_text(r, want, sizeof want);
    t = dal_column_text(st, 0, &n);
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_str_eq(t, want);
    ck_assert_double_eq(dal_column_double(st, 1), r / 4.0);
    ck_assert_int_eq(dal_column_int64(st, 2), r % 2);
    p = dal_column_blob(st, 3, &n);
    ck_assert_uint_eq(n, blen);
    for (i = 0; i < n; i++)
        ck_assert_int_eq(p[i], (unsigned char)(i + (size_t)r));
    ck_assert_int_eq(dal_column_is_null(st, 4), r % 7 == 0);
    CK_RC(dal_step(st), DAL_DONE);
    dal_finalize(st);
}

START_TEST(t_load)
{
    load_src src;

    memset(&src, 0, sizeof src);
    src.dup_at = -1;
    src.fail_at_row = -1;
    make_load_table();
    CK_OK(dal_load(db, "bt_load", load_cols, NELEM(load_cols), LOAD_N,
                   load_row, &src));
    ck_assert_int_eq(src.calls, LOAD_N);
    ck_assert_int_eq(count_of("bt_load"), LOAD_N);
    ck_assert_int_eq(qint("SELECT count(*) FROM bt_load WHERE note IS NULL"),
                     (LOAD_N + 6) / 7);
    check_loaded_row(0);
    check_loaded_row(1);
    check_loaded_row(255);
    check_loaded_row(256);
    check_loaded_row(4321);
    check_loaded_row(LOAD_N - 1);
    ck_assert_int_eq(dal_tx_depth(db), 0);

    /* nrows 0 does nothing. */
    CK_OK(dal_load(db, "bt_load", load_cols, 1, 0, load_row, &src));
}
END_TEST

START_TEST(t_load_fail)
{
    load_src src;

    memset(&src, 0, sizeof src);
    make_load_table();
    /* A duplicate key near the end: nothing stays. */
    src.dup_at = LOAD_N - 2;
    src.fail_at_row = -1;
    CK_RC(dal_load(db, "bt_load", load_cols, NELEM(load_cols), LOAD_N,
                   load_row, &src), DAL_E_CONSTRAINT);
    ck_assert_str_eq(dal_sqlstate(db), "23505");
    ck_assert_int_eq(count_of("bt_load"), 0);
    ck_assert_int_eq(dal_tx_depth(db), 0);

    /* The row function fails: nothing stays, its code comes back. */
    src.dup_at = -1;
    src.fail_at_row = 3000;
    CK_RC(dal_load(db, "bt_load", load_cols, NELEM(load_cols), LOAD_N,
                   load_row, &src), DAL_E_DATA);
    ck_assert_ptr_nonnull(strstr(dal_errmsg(db), "row function"));
    ck_assert_int_eq(count_of("bt_load"), 0);

    /* In the caller's transaction: the load's failure is the load's. */
    CK_OK(dal_begin(db, 0));
    EXEC("INSERT INTO bt_load (id) VALUES (-1)");
    src.fail_at_row = -1;
    src.dup_at = 5; /* id 0 twice */
    CK_RC(dal_load(db, "bt_load", load_cols, NELEM(load_cols), 100,
                   load_row, &src), DAL_E_CONSTRAINT);
    ck_assert_int_eq(dal_tx_depth(db), 1);
    ck_assert_int_eq(count_of("bt_load"), 1);
    src.dup_at = -1;
    CK_OK(dal_load(db, "bt_load", load_cols, NELEM(load_cols), 100,
                   load_row, &src));
    CK_OK(dal_commit(db));
    ck_assert_int_eq(count_of("bt_load"), 101);
}
END_TEST

static int bad_row(void *ctx, int r, dal_value *vals)
{
    int kind = *(int *)ctx;

    (void)r;
    if (kind == 0)
        vals[0] = DAL_V_TEXT("bad \xff utf-8");
    else if (kind == 1)
        vals[0].type = (dal_type)42;
    else {
        vals[0].type = DAL_TYPE_TEXT;
        vals[0].u.s.p = "a\0b";
        vals[0].u.s.len = 3;
    }
    return DAL_OK;
}

START_TEST(t_load_misuse)
{
    static const char *const one[] = {"Name"};
    static const char *const quoted[] = {"Na\"me"};
    static const char *const nulls[] = {NULL};
    load_src src;
    int kind;

    memset(&src, 0, sizeof src);
    src.dup_at = src.fail_at_row = -1;
    make_load_table();
    CK_RC(dal_load(db, "bt\"load", one, 1, 1, load_row, &src),
          DAL_E_MISUSE);
    CK_RC(dal_load(db, NULL, one, 1, 1, load_row, &src), DAL_E_MISUSE);
    CK_RC(dal_load(db, "", one, 1, 1, load_row, &src), DAL_E_MISUSE);
    CK_RC(dal_load(db, "bt_load", quoted, 1, 1, load_row, &src),
          DAL_E_MISUSE);
    CK_RC(dal_load(db, "bt_load", nulls, 1, 1, load_row, &src),
          DAL_E_MISUSE);
    CK_RC(dal_load(db, "bt_load", NULL, 1, 1, load_row, &src),
          DAL_E_MISUSE);
    CK_RC(dal_load(db, "bt_load", one, 0, 1, load_row, &src),
          DAL_E_MISUSE);
    CK_RC(dal_load(db, "bt_load", one, DAL_LOAD_MAX_COLS + 1, 1, load_row,
                   &src), DAL_E_MISUSE);
    CK_RC(dal_load(db, "bt_load", one, 1, -1, load_row, &src),
          DAL_E_MISUSE);
    CK_RC(dal_load(db, "bt_load", one, 1, 1, NULL, &src), DAL_E_MISUSE);
    ck_assert_int_eq(dal_load(NULL, "bt_load", one, 1, 1, load_row, &src),
                     DAL_E_MISUSE);
    kind = 0;
    CK_RC(dal_load(db, "bt_load", one, 1, 1, bad_row, &kind), DAL_E_DATA);
    kind = 1;
    CK_RC(dal_load(db, "bt_load", one, 1, 1, bad_row, &kind),
          DAL_E_MISUSE);
    kind = 2;
    CK_RC(dal_load(db, "bt_load", one, 1, 1, bad_row, &kind), DAL_E_DATA);
    /* An unknown table is the database's error. */
    CK_RC(dal_load(db, "bt_no_such", one, 1, 1, load_row, &src),
          DAL_E_SYNTAX);
    ck_assert_int_eq(count_of("bt_load"), 0);
    ck_assert_int_eq(dal_tx_depth(db), 0);
}
END_TEST

/* ---- out of memory -------------------------------------------------- */

/*
 * Fail libdal's N-th allocation, for N = 1, 2, ... until the operation
 * runs through: each attempt returns DAL_NOMEM (or succeeds), leaves all
 * or nothing, and leaks nothing once the connection is closed.
 */
START_TEST(t_nomem_batch)
{
    long n;
    int rc, mode;

    for (mode = DAL_BATCH_ATOMIC; mode <= DAL_BATCH_EACH; mode++) {
        for (n = 1; n < 2000; n++) {
            dal_db *d = db;
            dal_batch *b = NULL;
            int64_t rows = -1;
            dal_value p[2] = {DAL_V_INT64(1), DAL_V_TEXT("x")};

            make_items("bt_nm");
            uncount_statements(db);
            nomem_arm(n);
            rc = dal_batch_new(d, &b);
            if (rc == DAL_OK)
                rc = dal_batch_add(b, "INSERT INTO bt_nm (id, name) "
                                   "VALUES (?, ?)", p, 2);
            p[0] = DAL_V_INT64(2);
            if (rc == DAL_OK)
                rc = dal_batch_add(b, "INSERT INTO bt_nm (id, name) "
                                   "VALUES (?, ?)", p, 2);
            if (rc == DAL_OK)
                rc = dal_batch_add(b, "SELECT id, name FROM bt_nm", NULL,
                                   0);
            if (rc == DAL_OK)
                rc = dal_batch_run(b, mode);
            nomem_arm(0);
            ck_assert_msg(rc == DAL_OK || rc == DAL_NOMEM,
                          "fail at %ld: %d %s", n, rc, dal_errmsg(d));
            if (rc == DAL_OK)
                ck_assert_int_eq(dal_batch_nrows(b, 2), 2);
            dal_batch_free(b);
            rows = count_of("bt_nm");
            if (mode == DAL_BATCH_ATOMIC)
                ck_assert_msg(rows == 0 || rows == 2, "fail at %ld: %"
                              PRId64 " rows", n, rows);
            if (rc == DAL_OK) {
                ck_assert_int_eq(rows, 2);
                break;
            }
            /* The statement cache may keep what it prepared: compare
             * after the connection is gone. */
            dal_close(db);
            ck_assert_msg(live_blocks == base_blocks, "fail at %ld: %ld "
                          "blocks, %ld before", n, live_blocks,
                          base_blocks);
            db = open_db();
        }
        ck_assert_msg(n < 2000, "never succeeded");
    }
}
END_TEST

START_TEST(t_nomem_load)
{
    long n;
    int rc;

    for (n = 1; n < 2000; n++) {
        load_src src;
        int64_t rows;

        memset(&src, 0, sizeof src);
        src.dup_at = src.fail_at_row = -1;
        make_load_table();
        uncount_statements(db);
        nomem_arm(n);
        rc = dal_load(db, "bt_load", load_cols, NELEM(load_cols), 700,
                      load_row, &src);
        nomem_arm(0);
        ck_assert_msg(rc == DAL_OK || rc == DAL_NOMEM, "fail at %ld: %d %s",
                      n, rc, dal_errmsg(db));
        rows = count_of("bt_load");
        ck_assert_msg(rows == (rc == DAL_OK ? 700 : 0), "fail at %ld: %"
                      PRId64 " rows, rc %d", n, rows, rc);
        if (rc == DAL_OK)
            break;
        dal_close(db);
        ck_assert_msg(live_blocks == base_blocks, "fail at %ld: %ld "
                      "blocks, %ld before", n, live_blocks, base_blocks);
        db = open_db();
    }
    ck_assert_msg(n < 2000, "never succeeded");
}
END_TEST

/* ---- model bulk_create goes through dal_load ------------------------ */

typedef struct bt_thing {
    int64_t id;
    char *name;
} bt_thing;

static const dal_field bt_thing_fields[] = {
    DAL_FIELD(bt_thing, id, DAL_F_INT64, DAL_F_PK),
    DAL_FIELD(bt_thing, name, DAL_F_TEXT, 0),
};

static const dal_model bt_thing_model =
    DAL_MODEL(bt_thing, "bt_things", bt_thing_fields);

typedef struct sql_seen {
    int copy, insert;
} sql_seen;

static int seen_hook(const dal_event *ev, void *data)
{
    sql_seen *s = data;

    if (!ev->sql || !strstr(ev->sql, "bt_things"))
        return DAL_OK;
    if (!strncmp(ev->sql, "COPY ", 5))
        s->copy++;
    else if (!strncmp(ev->sql, "INSERT INTO \"bt_things\" (\"id\", "
                      "\"name\") VALUES (?, ?), (?, ?)", 50))
        s->insert++;
    return DAL_OK;
}

START_TEST(t_bulk_create_loads)
{
    bt_thing t[1200];
    char names[1200][16];
    dal_observer *o = NULL;
    dal_hook h = {0};
    sql_seen seen = {0};
    int i;

    drop("bt_things");
    EXEC("CREATE TABLE bt_things (id BIGINT PRIMARY KEY, name TEXT)");
    for (i = 0; i < 1200; i++) {
        snprintf(names[i], sizeof names[i], "t\t%d", i);
        t[i].id = i + 1;
        t[i].name = names[i];
    }
    CK_OK(dal_observer_new(&o));
    h.events = DAL_EVENT_BIT(DAL_EV_BEFORE);
    h.fn = seen_hook;
    h.data = &seen;
    ck_assert_int_eq(dal_observer_add(o, &h), DAL_OK);
    CK_OK(dal_observe(db, o));
    CK_OK(dal_model_bulk_create(db, &bt_thing_model, t, 1200,
                                DAL_BULK_NO_IDS));
    CK_OK(dal_observe(db, NULL));
    ck_assert_int_eq(dal_observer_free(o), DAL_OK);
    ck_assert_int_eq(count_of("bt_things"), 1200);
    {
        dal_value p = DAL_V_TEXT("t\t777");
        int64_t k = 0;

        CK_OK(dal_query_int64(db, "SELECT count(*) FROM bt_things WHERE "
                              "name = ?", &p, 1, &k));
        ck_assert_int_eq(k, 1);
    }
    if (is_pg()) {
        ck_assert_int_eq(seen.copy, 1);
        ck_assert_int_eq(seen.insert, 0);
    } else {
        /* 500-row chunks: 500, 500, then 200. */
        ck_assert_int_eq(seen.copy, 0);
        ck_assert_int_eq(seen.insert, 3);
    }
}
END_TEST

static Suite *batch_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("batch");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_results);
    tcase_add_test(tc, t_misuse);
    tcase_add_test(tc, t_atomic);
    tcase_add_test(tc, t_each);
    tcase_add_test(tc, t_in_tx);
    tcase_add_test(tc, t_hooks);
    tcase_add_test(tc, t_large);
    tcase_add_test(tc, t_load);
    tcase_add_test(tc, t_load_fail);
    tcase_add_test(tc, t_load_misuse);
    tcase_add_test(tc, t_nomem_batch);
    tcase_add_test(tc, t_nomem_load);
    tcase_add_test(tc, t_bulk_create_loads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "batch[sqlite-mem]", "batch[sqlite-file]", "batch[postgres]",
    };
    const char *pg;
    int kind, failed = 0;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "batch: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    main_pid = (long)getpid();
    pg = getenv("DAL_TEST_PG_URL");
    if (pg == NULL || pg[0] == '\0') {
        printf("batch: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
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
        sr = srunner_create(batch_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_temp_files();
    }
    if (live_blocks != 0) {
        printf("batch: libdal holds %ld blocks at exit\n", live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
