/*
 * tests/relations.c - model relations and named databases
 * (include/dal/model.h): dal_model_has_many, dal_model_belongs_to,
 * dal_rows_match and the dal_registry_* calls. One set of tests, with
 * the same assertions, runs on every backend, as tests/model.c does:
 *   relations[sqlite-mem]   sqlite::memory:
 *   relations[sqlite-file]  sqlite:///tmp/... (a fresh file per test)
 *   relations[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 * The doc comments of model.h are the contract checked here.
 *
 * Run:  tests/pg/with-pg.sh build/tests/relations
 * CK_RUN_SUITE='relations[postgres]' and CK_RUN_CASE=has_many narrow a
 * run; CK_FORK=no runs in one process (for gdb and valgrind).
 *
 * main() installs a counting allocator (dal_set_allocator) before any
 * other libdal call; every test's teardown checks that libdal holds as
 * many blocks after dal_close() as before dal_open(). The same allocator
 * can fail libdal's N-th allocation (the nomem tests).
 *
 * "One query for the whole set, never one per parent" is checked by
 * counting statements below the core, where nothing can skip them:
 * setup() gives the test's handle a copy of its driver (lib/dal-int.h)
 * whose step() counts the executions that reach their end (DAL_DONE or
 * an error). On PostgreSQL the count is checked once more through the
 * server's own statistics (pg_stat_xact_user_tables.seq_scan).
 *
 * PostgreSQL tests share one database, so every test uses tables of its
 * own (rt_<test>_...), dropped at the start of the test.
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

#include <dal/core.h>
#include <dal/model.h>
#include <dal/query.h>

#include "dal-int.h"

enum backend { BE_SQLITE_MEM, BE_SQLITE_FILE, BE_POSTGRES };

static const char *test_url;
static enum backend test_backend;
static dal_db *db;
static long main_pid;
static char file_path[128];
static char file_url[160];

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- counting allocator (harness.h) --------------------------------- */

#include "harness.h"

/* ---- statement counter ----------------------------------------------- */

/* The test handle's driver: the real one but for step(). */
static struct dal_driver counting_drv;
static const struct dal_driver *real_drv;
static long n_exec;       /* executions that reached their end */

static int counting_step(dal_db *d, void *conn, void *stmt)
{
    int rc = real_drv->step(d, conn, stmt);

    if (rc != DAL_ROW)
        n_exec++;
    return rc;
}

static void count_statements(dal_db *d)
{
    real_drv = d->drv;
    counting_drv = *real_drv;
    counting_drv.step = counting_step;
    d->drv = &counting_drv;
    n_exec = 0;
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

/* expr fails with code, recorded on db with SQLSTATE state (NULL: any)
 * and a message that contains needle (NULL: any real message). */
#define CK_ERR(expr, code, state, needle) \
    ck_err_at((expr), (code), (state), (needle), #expr, __LINE__)

static void ck_err_at(int rc, int code, const char *state,
                      const char *needle, const char *what, int line)
{
    const char *msg = dal_errmsg(db), *st = dal_sqlstate(db);
    int ec = dal_errcode(db);

    ck_assert_msg(rc == code && ec == code,
                  "line %d: %s -> %d (%s), errcode %d; want %d (%s): "
                  "[%s] %s", line, what, rc, dal_errstr(rc), ec, code,
                  dal_errstr(code), S(st), S(msg));
    if (state != NULL)
        ck_assert_msg(st != NULL && strcmp(st, state) == 0,
                      "line %d: %s: sqlstate %s, want %s: %s", line, what,
                      S(st), state, S(msg));
    ck_assert_msg(msg != NULL && msg[0] != '\0' &&
                  strcmp(msg, "not an error") != 0,
                  "line %d: %s: no error message", line, what);
    if (needle != NULL)
        ck_assert_msg(strstr(msg, needle) != NULL,
                      "line %d: %s: message does not name \"%s\": %s",
                      line, what, needle, msg);
}

#define EXEC(sql) CK_OK(dal_exec(db, (sql)))

static int is_pg(void)
{
    return test_backend == BE_POSTGRES;
}

static int64_t qint_on(dal_db *d, const char *sql)
{
    int64_t v = -424242;
    int rc = dal_query_int64(d, sql, NULL, 0, &v);

    ck_assert_msg(rc == DAL_OK, "%s -> %d (%s): [%s] %s", sql, rc,
                  dal_errstr(rc), S(dal_sqlstate(d)), S(dal_errmsg(d)));
    return v;
}

static int64_t qint(const char *sql)
{
    return qint_on(db, sql);
}

/* Drop table t on d (PostgreSQL keeps tables between tests). */
static void drop_on(dal_db *d, const char *t)
{
    char sql[256];
    int rc;

    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s%s", t,
             d == db && is_pg() ? " CASCADE" : "");
    rc = dal_exec(d, sql);
    ck_assert_msg(rc == DAL_OK, "%s -> %d: %s", sql, rc, S(dal_errmsg(d)));
}

static void drop_tables(const char *const *names, int n)
{
    int i;

    for (i = 0; i < n; i++)
        drop_on(db, names[i]);
}
#define DROP(...) drop_tables((const char *const[]){__VA_ARGS__}, \
    (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)))

static int64_t rows_in_on(dal_db *d, const char *t)
{
    char sql[256];

    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", t);
    return qint_on(d, sql);
}

/* A copy of m on table t, so that each test has tables of its own. */
static dal_model on_table(const dal_model *m, const char *t)
{
    dal_model c = *m;

    c.table = t;
    return c;
}

/* ---- models ---------------------------------------------------------- */

typedef struct author {
    int64_t id;
    char *name;
} author;

static const dal_field author_fields[] = {
    DAL_FIELD(author, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(author, name, DAL_F_TEXT, DAL_F_NOT_NULL),
};
static const dal_model author_model =
    DAL_MODEL(author, "rt_authors", author_fields);

/* Books: an indexed author_id, soft-deleted; after_load marks each. */
typedef struct book {
    int64_t id;
    int64_t author_id;
    char *title;
    int64_t deleted_at;
    int loaded;           /* not a column: after_load counts here */
} book;

static const dal_field book_fields[] = {
    DAL_FIELD(book, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(book, author_id, DAL_F_INT64, DAL_F_INDEXED),
    DAL_FIELD(book, title, DAL_F_TEXT, 0),
    DAL_FIELD(book, deleted_at, DAL_F_TIMESTAMP, DAL_F_SOFT_DELETE),
};

static long n_after_load;

static void book_after_load(dal_db *d, void *obj)
{
    (void)d;
    n_after_load++;
    ((book *)obj)->loaded++;
}

static const dal_model_hooks book_hooks = {
    NULL, NULL, NULL, book_after_load,
};
static const dal_model book_model = {
    "rt_books", sizeof(book), book_fields, NELEM(book_fields), &book_hooks,
    NULL,
};

/* Parents keyed by text. */
typedef struct country {
    char *code;
    char *name;
} country;

static const dal_field country_fields[] = {
    DAL_FIELD(country, code, DAL_F_TEXT, DAL_F_PK),
    DAL_FIELD(country, name, DAL_F_TEXT, 0),
};
static const dal_model country_model =
    DAL_MODEL(country, "rt_countries", country_fields);

typedef struct city {
    int64_t id;
    char *country;
    char *name;
} city;

static const dal_field city_fields[] = {
    DAL_FIELD(city, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(city, country, DAL_F_TEXT, DAL_F_INDEXED),
    DAL_FIELD(city, name, DAL_F_TEXT, 0),
};
static const dal_model city_model = DAL_MODEL(city, "rt_cities", city_fields);

/* An INT32 foreign key, no soft-delete column. */
typedef struct note {
    int64_t id;
    int32_t author_id;
    char *body;
} note;

static const dal_field note_fields[] = {
    DAL_FIELD(note, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(note, author_id, DAL_F_INT32, 0),
    DAL_FIELD(note, body, DAL_F_TEXT, 0),
};
static const dal_model note_model = DAL_MODEL(note, "rt_notes", note_fields);

/* Events of the registry tests: the "archive" database. */
typedef struct event {
    int64_t id;
    char *what;
} event;

static const dal_field event_fields[] = {
    DAL_FIELD(event, id, DAL_F_INT64, DAL_F_PK | DAL_F_AUTO),
    DAL_FIELD(event, what, DAL_F_TEXT, 0),
};
static const dal_model event_model =
    DAL_MODEL_IN("archive", event, "rt_reg_events", event_fields);
static const dal_model main_event_model =
    DAL_MODEL(event, "rt_reg_events", event_fields);

/* ---- data ------------------------------------------------------------- */

static int64_t add_author(const dal_model *m, const char *name)
{
    author a = {0, (char *)name};

    CK_OK(dal_model_insert(db, m, &a));
    ck_assert_int_gt(a.id, 0);
    return a.id;
}

/* A book with id given by hand; soft-deleted when del. */
static void add_book(const dal_model *m, int64_t id, int64_t author_id,
                     const char *title, int del)
{
    book b;

    memset(&b, 0, sizeof b);
    b.id = id;
    b.author_id = author_id;
    b.title = (char *)title;
    CK_OK(dal_model_insert(db, m, &b));
    ck_assert_int_eq(b.id, id);
    if (del)
        CK_OK(dal_model_delete(db, m, &b));
}

static int match_int(const dal_rows *r, int64_t key, int *first)
{
    dal_value k = DAL_V_INT64(key);

    return dal_rows_match(r, &k, first);
}

static int match_text(const dal_rows *r, const char *key, int *first)
{
    dal_value k = DAL_V_TEXT(key);

    return dal_rows_match(r, &k, first);
}

/* The books of parent in kids are exactly want[0..n-1] (ids, in this
 * order), each loaded once. */
static void ck_books(const dal_rows *kids, int64_t parent,
                     const int64_t *want, int n)
{
    int first = -1, got, i;

    got = match_int(kids, parent, &first);
    ck_assert_msg(got == n, "author %" PRId64 ": %d books, want %d",
                  parent, got, n);
    if (n == 0)
        return;
    ck_assert_int_ge(first, 0);
    ck_assert_int_le(first + n, dal_rows_count(kids));
    for (i = 0; i < n; i++) {
        const book *b = dal_rows_at(kids, first + i);

        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(b->author_id, parent);
        ck_assert_msg(b->id == want[i], "author %" PRId64 " book %d: id %"
                      PRId64 ", want %" PRId64, parent, i, b->id, want[i]);
        ck_assert_int_eq(b->loaded, 1);
    }
}

/* kids is sorted by (author_id, id), strictly. */
static void ck_books_sorted(const dal_rows *kids)
{
    int i;

    for (i = 1; i < dal_rows_count(kids); i++) {
        const book *a = dal_rows_at(kids, i - 1), *b = dal_rows_at(kids, i);

        ck_assert_msg(a->author_id < b->author_id
                      || (a->author_id == b->author_id && a->id < b->id),
                      "rows %d and %d out of order: (%" PRId64 ", %" PRId64
                      ") then (%" PRId64 ", %" PRId64 ")", i - 1, i,
                      a->author_id, a->id, b->author_id, b->id);
    }
}

static dal_rows *all_rows(const dal_model *m, int want_rc)
{
    dal_rows *r = NULL;

    CK_RC(dal_model_query(db, m, NULL, NULL, 0, 0, &r), want_rc);
    ck_assert_ptr_nonnull(r);
    return r;
}

/*
 * The has_many fixture: authors a[0..3] (the fourth without books) and
 * books with ids given out of order, two of them soft-deleted, one of an
 * author who does not exist and one whose author_id is NULL:
 *   a[0]: 50, 10, 30 (deleted)    a[1]: 20, 40    a[2]: 60 (deleted)
 */
static void make_library(const dal_model *am, const dal_model *bm,
                         int64_t a[4])
{
    char sql[256];

    CK_OK(dal_model_create_table(db, am));
    CK_OK(dal_model_create_table(db, bm));
    a[0] = add_author(am, "ann");
    a[1] = add_author(am, "bob");
    a[2] = add_author(am, "cid");
    a[3] = add_author(am, "dee");
    add_book(bm, 50, a[0], "fifty", 0);
    add_book(bm, 20, a[1], "twenty", 0);
    add_book(bm, 10, a[0], "ten", 0);
    add_book(bm, 60, a[2], "sixty", 1);
    add_book(bm, 40, a[1], "forty", 0);
    add_book(bm, 30, a[0], "thirty", 1);
    add_book(bm, 70, 999999, "nobody's", 0);
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, author_id, title) "
             "VALUES (80, NULL, 'orphan')", bm->table);
    EXEC(sql);
}

/* ---- fixture --------------------------------------------------------- */

static void remove_db_files(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[200];
    int i;

    for (i = 0; i < NELEM(sfx); i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

/* A failing assertion ends the forked test before its teardown, so main()
 * sweeps the files this run left in /tmp. */
static void sweep_temp_files(void)
{
    char prefix[64], path[512];
    struct dirent *e;
    DIR *d = opendir("/tmp");

    if (d == NULL)
        return;
    snprintf(prefix, sizeof prefix, "dal-rel-%ld-", main_pid);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof path, "/tmp/%s/late.db", e->d_name);
            unlink(path);
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            if (unlink(path) != 0)
                rmdir(path);
        }
    }
    closedir(d);
}

/* A new empty temp file /tmp/dal-rel-PID-XXXXXX, its path in buf. */
static void temp_file(char *buf, size_t len)
{
    int fd;

    snprintf(buf, len, "/tmp/dal-rel-%ld-XXXXXX", main_pid);
    fd = mkstemp(buf);
    ck_assert_msg(fd >= 0, "mkstemp(%s) failed", buf);
    close(fd);
}

static void setup(void)
{
    int rc;

    base_blocks = live_blocks;
    fail_at = 0;
    n_after_load = 0;
    if (test_backend == BE_SQLITE_FILE) {
        temp_file(file_path, sizeof file_path);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
        test_url = file_url;
    }
    rc = dal_open(test_url, &db);
    ck_assert_msg(rc == DAL_OK && db != NULL, "dal_open(%s) -> %d: %s",
                  test_url, rc, db ? S(dal_errmsg(db)) : "(no handle)");
    /* Keep "table does not exist, skipping" notices out of the output. */
    if (is_pg())
        EXEC("SET client_min_messages = warning");
    count_statements(db);
}

static void teardown(void)
{
    uncount_statements(db);
    dal_close(db);
    db = NULL;
    if (test_backend == BE_SQLITE_FILE)
        remove_db_files(file_path);
    ck_assert_msg(live_blocks == base_blocks,
                  "libdal holds %ld blocks after the test, %ld before",
                  live_blocks, base_blocks);
}

/* ---- has_many --------------------------------------------------------- */

START_TEST(t_has_many)
{
    dal_model am = on_table(&author_model, "rt_hm_authors");
    dal_model bm = on_table(&book_model, "rt_hm_books");
    static const int64_t a0[] = {10, 50}, a1[] = {20, 40};
    static const int64_t a0_all[] = {10, 30, 50}, a2_all[] = {60};
    static const int64_t a0_del[] = {30};
    dal_rows *parents, *kids = NULL;
    long before;
    int64_t a[4];

    DROP("rt_hm_books", "rt_hm_authors");
    make_library(&am, &bm, a);
    parents = all_rows(&am, DAL_OK);
    ck_assert_int_eq(dal_rows_count(parents), 4);

    /* Default: soft-deleted books left out; one statement. */
    n_after_load = 0;
    before = n_exec;
    CK_OK(dal_model_has_many(db, parents, &bm, "author_id", 0, &kids));
    ck_assert_int_eq(n_exec - before, 1);
    ck_assert_int_eq(dal_rows_count(kids), 4);
    ck_assert_int_eq(n_after_load, 4);
    ck_books(kids, a[0], a0, NELEM(a0));
    ck_books(kids, a[1], a1, NELEM(a1));
    ck_books(kids, a[2], NULL, 0);
    ck_books(kids, a[3], NULL, 0);
    ck_books(kids, 999999, NULL, 0);
    ck_books(kids, 0, NULL, 0);
    ck_books_sorted(kids);
    /* The set lives on its own: the parents can go first. */
    dal_rows_free(parents);
    ck_books(kids, a[0], a0, NELEM(a0));
    dal_rows_free(kids);
    parents = all_rows(&am, DAL_OK);

    /* DAL_WITH_DELETED: every book of these authors. */
    n_after_load = 0;
    before = n_exec;
    CK_OK(dal_model_has_many(db, parents, &bm, "author_id",
                             DAL_WITH_DELETED, &kids));
    ck_assert_int_eq(n_exec - before, 1);
    ck_assert_int_eq(dal_rows_count(kids), 6);
    ck_assert_int_eq(n_after_load, 6);
    ck_books(kids, a[0], a0_all, NELEM(a0_all));
    ck_books(kids, a[1], a1, NELEM(a1));
    ck_books(kids, a[2], a2_all, NELEM(a2_all));
    ck_books(kids, a[3], NULL, 0);
    ck_books_sorted(kids);
    dal_rows_free(kids);

    /* DAL_ONLY_DELETED: only the soft-deleted ones. */
    n_after_load = 0;
    before = n_exec;
    CK_OK(dal_model_has_many(db, parents, &bm, "author_id",
                             DAL_ONLY_DELETED, &kids));
    ck_assert_int_eq(n_exec - before, 1);
    ck_assert_int_eq(dal_rows_count(kids), 2);
    ck_assert_int_eq(n_after_load, 2);
    ck_books(kids, a[0], a0_del, NELEM(a0_del));
    ck_books(kids, a[1], NULL, 0);
    ck_books(kids, a[2], a2_all, NELEM(a2_all));
    ck_books_sorted(kids);
    dal_rows_free(kids);
    dal_rows_free(parents);

    /* A subset of the parents: the others' books are not loaded. */
    CK_OK(dal_model_query(db, &am, dal_gt(dal_col("id"), dal_int(a[0])),
                          NULL, 0, 0, &parents));
    ck_assert_int_eq(dal_rows_count(parents), 3);
    CK_OK(dal_model_has_many(db, parents, &bm, "author_id",
                             DAL_WITH_DELETED, &kids));
    ck_assert_int_eq(dal_rows_count(kids), 3);
    ck_books(kids, a[0], NULL, 0);
    ck_books(kids, a[1], a1, NELEM(a1));
    ck_books(kids, a[2], a2_all, NELEM(a2_all));
    dal_rows_free(kids);
    dal_rows_free(parents);
}
END_TEST

/*
 * On PostgreSQL, the server's statistics count the scans of the books
 * table inside one transaction: with index scans off, each SELECT on it
 * is one sequential scan.
 */
#define SCANS_SQL "SELECT coalesce(sum(seq_scan), 0) FROM " \
    "pg_stat_xact_user_tables WHERE relname = 'rt_hs_books'"

START_TEST(t_has_many_pg_scans)
{
    dal_model am = on_table(&author_model, "rt_hs_authors");
    dal_model bm = on_table(&book_model, "rt_hs_books");
    dal_rows *parents, *kids = NULL;
    int64_t a[4], i, scans;

    if (!is_pg())
        return;
    DROP("rt_hs_books", "rt_hs_authors");
    make_library(&am, &bm, a);
    /* More parents, so that one query per parent would show. */
    for (i = 0; i < 20; i++)
        add_author(&am, "more");
    parents = all_rows(&am, DAL_OK);
    ck_assert_int_eq(dal_rows_count(parents), 24);
    CK_OK(dal_begin(db, 0));
    EXEC("SET LOCAL enable_indexscan = off");
    EXEC("SET LOCAL enable_indexonlyscan = off");
    EXEC("SET LOCAL enable_bitmapscan = off");
    /* The view also shows counts of earlier transactions that this
     * backend has not reported yet: compare before and after. */
    scans = qint(SCANS_SQL);
    CK_OK(dal_model_has_many(db, parents, &bm, "author_id",
                             DAL_WITH_DELETED, &kids));
    ck_assert_int_eq(dal_rows_count(kids), 6);
    ck_assert_int_eq(qint(SCANS_SQL) - scans, 1);
    CK_OK(dal_commit(db));
    dal_rows_free(kids);
    dal_rows_free(parents);
}
END_TEST

START_TEST(t_has_many_edges)
{
    dal_model am = on_table(&author_model, "rt_he_authors");
    dal_model bm = on_table(&book_model, "rt_he_books");
    dal_model nm = on_table(&note_model, "rt_he_notes");
    dal_model cm = on_table(&city_model, "rt_he_cities");
    dal_rows *parents = NULL, *kids, *none = NULL, *plain;
    dal_rows *const dummy = (dal_rows *)&kids;
    note n;
    int64_t a[4];
    int first;

    DROP("rt_he_books", "rt_he_authors", "rt_he_notes", "rt_he_cities");
    make_library(&am, &bm, a);
    CK_OK(dal_model_create_table(db, &nm));
    CK_OK(dal_model_create_table(db, &cm));

    /* An empty parents set: DAL_DONE and an empty set. */
    CK_RC(dal_model_query(db, &am, dal_lt(dal_col("id"), dal_int(0)), NULL,
                          0, 0, &none), DAL_DONE);
    ck_assert_int_eq(dal_rows_count(none), 0);
    kids = dummy;
    CK_RC(dal_model_has_many(db, none, &bm, "author_id", 0, &kids),
          DAL_DONE);
    ck_assert_ptr_nonnull(kids);
    ck_assert_ptr_ne(kids, dummy);
    ck_assert_int_eq(dal_rows_count(kids), 0);
    ck_assert_ptr_null(dal_rows_at(kids, 0));
    ck_assert_int_eq(match_int(kids, a[0], NULL), 0);
    dal_rows_free(kids);

    /* Parents without children: DAL_DONE, empty, each gets 0. */
    CK_OK(dal_model_query(db, &am, dal_eq(dal_col("id"), dal_int(a[3])),
                          NULL, 0, 0, &parents));
    n_after_load = 0;
    CK_RC(dal_model_has_many(db, parents, &bm, "author_id",
                             DAL_WITH_DELETED, &kids), DAL_DONE);
    ck_assert_int_eq(dal_rows_count(kids), 0);
    ck_assert_int_eq(n_after_load, 0);
    ck_assert_int_eq(match_int(kids, a[3], &first), 0);
    dal_rows_free(kids);
    dal_rows_free(parents);
    parents = all_rows(&am, DAL_OK);

    /* An unknown fk. */
    kids = dummy;
    CK_ERR(dal_model_has_many(db, parents, &bm, "writer_id", 0, &kids),
           DAL_E_RANGE, "42703", "writer_id");
    ck_assert_ptr_null(kids);
    kids = dummy;
    CK_ERR(dal_model_has_many(db, parents, &bm, NULL, 0, &kids),
           DAL_E_RANGE, "42703", NULL);
    ck_assert_ptr_null(kids);

    /* An integer key and a text fk, both ways round. */
    kids = dummy;
    CK_ERR(dal_model_has_many(db, parents, &cm, "country", 0, &kids),
           DAL_E_MISUSE, NULL, "country");
    ck_assert_ptr_null(kids);
    kids = dummy;
    CK_ERR(dal_model_has_many(db, parents, &bm, "title", 0, &kids),
           DAL_E_MISUSE, NULL, "title");
    ck_assert_ptr_null(kids);

    /* NULL arguments, and DAL_ONLY_DELETED without a soft-delete field. */
    CK_ERR(dal_model_has_many(db, NULL, &bm, "author_id", 0, &kids),
           DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_has_many(db, parents, NULL, "author_id", 0, &kids),
           DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_has_many(db, parents, &bm, "author_id", 0, NULL),
           DAL_E_MISUSE, NULL, NULL);
    ck_assert_int_eq(dal_model_has_many(NULL, parents, &bm, "author_id", 0,
                                        &kids), DAL_E_MISUSE);
    CK_ERR(dal_model_has_many(db, parents, &nm, "author_id",
                              DAL_ONLY_DELETED, &kids),
           DAL_E_MISUSE, NULL, NULL);

    /* dal_rows_match: only on relation sets, and with a key. */
    plain = all_rows(&bm, DAL_OK);
    ck_assert_int_eq(match_int(plain, a[0], NULL), -1);
    ck_assert_int_eq(match_int(parents, a[0], &first), -1);
    ck_assert_int_eq(dal_rows_match(NULL, NULL, NULL), -1);
    CK_OK(dal_model_has_many(db, parents, &bm, "author_id", 0, &kids));
    ck_assert_int_eq(dal_rows_match(kids, NULL, &first), -1);
    ck_assert_int_eq(dal_rows_match(kids, NULL, NULL), -1);
    ck_assert_int_eq(match_int(NULL, a[0], NULL), -1);
    ck_assert_int_eq(match_int(kids, a[0], NULL), 2);
    dal_rows_free(kids);
    dal_rows_free(plain);

    /* An INT32 fk joins an INT64 key. */
    memset(&n, 0, sizeof n);
    n.author_id = (int32_t)a[1];
    n.body = (char *)"first";
    CK_OK(dal_model_insert(db, &nm, &n));
    n.id = 0;
    n.body = (char *)"second";
    CK_OK(dal_model_insert(db, &nm, &n));
    n.id = 0;
    n.author_id = (int32_t)a[3];
    CK_OK(dal_model_insert(db, &nm, &n));
    CK_OK(dal_model_has_many(db, parents, &nm, "author_id", 0, &kids));
    ck_assert_int_eq(dal_rows_count(kids), 3);
    ck_assert_int_eq(match_int(kids, a[1], &first), 2);
    ck_assert_str_eq(((note *)dal_rows_at(kids, first))->body, "first");
    ck_assert_str_eq(((note *)dal_rows_at(kids, first + 1))->body,
                     "second");
    ck_assert_int_eq(match_int(kids, a[3], NULL), 1);
    ck_assert_int_eq(match_int(kids, a[0], NULL), 0);
    dal_rows_free(kids);
    dal_rows_free(parents);
    dal_rows_free(none);
}
END_TEST

/* Parents with a TEXT primary key, children with a TEXT fk. */
#define ES "\xc3\xa9s"   /* "és": a 2-byte character */

START_TEST(t_has_many_text)
{
    dal_model com = on_table(&country_model, "rt_ht_countries");
    dal_model cim = on_table(&city_model, "rt_ht_cities");
    dal_model am = on_table(&author_model, "rt_ht_authors");
    dal_model bm = on_table(&book_model, "rt_ht_books");
    static const struct { const char *code, *name; } cs[] = {
        {"fr", "France"}, {"DE", "Upper"}, {"de", "lower"}, {ES, "es"},
        {"it", "Italy"},
    };
    static const struct { const char *country, *name; } ct[] = {
        {"fr", "Paris"}, {"DE", "Berlin"}, {"fr", "Lyon"}, {"de", "Bonn"},
        {ES, "Madrid"}, {"fr", "Nice"}, {NULL, "Nowhere"},
        {"xx", "Atlantis"},
    };
    static const char *const fr[] = {"Paris", "Lyon", "Nice"};
    dal_rows *parents, *kids, *cities, *back, *authors;
    const country *co;
    int first, i, k;
    int64_t ids[NELEM(ct)];
    long before;

    DROP("rt_ht_cities", "rt_ht_countries", "rt_ht_books", "rt_ht_authors");
    CK_OK(dal_model_create_table(db, &com));
    CK_OK(dal_model_create_table(db, &cim));
    CK_OK(dal_model_create_table(db, &am));
    CK_OK(dal_model_create_table(db, &bm));
    for (i = 0; i < NELEM(cs); i++) {
        country c = {(char *)cs[i].code, (char *)cs[i].name};

        CK_OK(dal_model_insert(db, &com, &c));
    }
    for (i = 0; i < NELEM(ct); i++) {
        city c = {0, (char *)ct[i].country, (char *)ct[i].name};

        CK_OK(dal_model_insert(db, &cim, &c));
        ids[i] = c.id;
    }

    parents = all_rows(&com, DAL_OK);
    ck_assert_int_eq(dal_rows_count(parents), NELEM(cs));
    before = n_exec;
    CK_OK(dal_model_has_many(db, parents, &cim, "country", 0, &kids));
    ck_assert_int_eq(n_exec - before, 1);
    ck_assert_int_eq(dal_rows_count(kids), 6);
    ck_assert_int_eq(match_text(kids, "fr", &first), 3);
    for (i = 0; i < 3; i++) {
        const city *c = dal_rows_at(kids, first + i);

        ck_assert_str_eq(c->country, "fr");
        ck_assert_str_eq(c->name, fr[i]);
    }
    ck_assert_int_eq(match_text(kids, "DE", &first), 1);
    ck_assert_str_eq(((city *)dal_rows_at(kids, first))->name, "Berlin");
    ck_assert_int_eq(match_text(kids, "de", &first), 1);
    ck_assert_str_eq(((city *)dal_rows_at(kids, first))->name, "Bonn");
    ck_assert_int_eq(match_text(kids, ES, &first), 1);
    ck_assert_str_eq(((city *)dal_rows_at(kids, first))->name, "Madrid");
    ck_assert_int_eq(match_text(kids, "it", NULL), 0);
    ck_assert_int_eq(match_text(kids, "xx", NULL), 0);
    ck_assert_int_eq(match_text(kids, "f", NULL), 0);
    ck_assert_int_eq(match_text(kids, "", NULL), 0);
    dal_rows_free(kids);

    /* belongs_to the other way: NULL fk skipped, "xx" has no parent,
     * "fr" of three cities gives one row. */
    cities = all_rows(&cim, DAL_OK);
    ck_assert_int_eq(dal_rows_count(cities), NELEM(ct));
    before = n_exec;
    CK_OK(dal_model_belongs_to(db, cities, "country", &com, 0, &back));
    ck_assert_int_eq(n_exec - before, 1);
    ck_assert_int_eq(dal_rows_count(back), 4);
    for (i = 1; i < dal_rows_count(back); i++)
        ck_assert_int_lt(strcmp(((country *)dal_rows_at(back, i - 1))->code,
                                ((country *)dal_rows_at(back, i))->code), 0);
    for (i = 0; i < dal_rows_count(cities); i++) {
        const city *c = dal_rows_at(cities, i);

        ck_assert_int_eq(c->id, ids[i]);
        if (c->country == NULL)
            continue;
        k = match_text(back, c->country, &first);
        if (strcmp(c->country, "xx") == 0) {
            ck_assert_int_eq(k, 0);
            continue;
        }
        ck_assert_int_eq(k, 1);
        co = dal_rows_at(back, first);
        ck_assert_str_eq(co->code, c->country);
    }
    ck_assert_int_eq(match_text(back, "fr", &first), 1);
    ck_assert_str_eq(((country *)dal_rows_at(back, first))->name, "France");
    ck_assert_int_eq(match_text(back, "it", NULL), 0);
    dal_rows_free(back);

    /* Text key against an integer fk, both calls, both ways round. */
    authors = NULL;
    CK_ERR(dal_model_has_many(db, parents, &bm, "author_id", 0, &kids),
           DAL_E_MISUSE, NULL, "author_id");
    CK_ERR(dal_model_belongs_to(db, cities, "country", &am, 0, &back),
           DAL_E_MISUSE, NULL, "country");
    CK_RC(dal_model_query(db, &am, NULL, NULL, 0, 0, &authors), DAL_DONE);
    CK_ERR(dal_model_has_many(db, authors, &cim, "country", 0, &kids),
           DAL_E_MISUSE, NULL, "country");
    dal_rows_free(authors);
    dal_rows_free(cities);
    dal_rows_free(parents);
}
END_TEST

/*
 * More distinct keys than one statement may carry parameters (SQLite:
 * 32766): has_many splits them into two queries and still returns every
 * child, sorted, with the batches' boundary inside the keys.
 */
#define SPLIT_PARENTS 40000

static int split_kids_of(int i)
{
    int n = i % 3 == 0;

    if (i == 0 || i == 32749 || i == 32750 || i == SPLIT_PARENTS - 1)
        n++;
    return n;
}

START_TEST(t_has_many_split)
{
    dal_model am = on_table(&author_model, "rt_hx_authors");
    dal_model bm = on_table(&book_model, "rt_hx_books");
    author *as = calloc(SPLIT_PARENTS, sizeof *as);
    book *bs = calloc(2 * SPLIT_PARENTS, sizeof *bs);
    dal_rows *parents, *kids;
    int i, k, nb = 0, total = 0, first, got;
    long before;

    ck_assert(as != NULL && bs != NULL);
    DROP("rt_hx_books", "rt_hx_authors");
    CK_OK(dal_model_create_table(db, &am));
    CK_OK(dal_model_create_table(db, &bm));
    for (i = 0; i < SPLIT_PARENTS; i++)
        as[i].name = (char *)"a";
    CK_OK(dal_model_bulk_create(db, &am, as, SPLIT_PARENTS, 0));
    for (i = 0; i < SPLIT_PARENTS; i++) {
        ck_assert_int_gt(as[i].id, 0);
        for (k = 0; k < split_kids_of(i); k++) {
            bs[nb].author_id = as[i].id;
            bs[nb].title = (char *)"b";
            nb++;
        }
    }
    CK_OK(dal_model_bulk_create(db, &bm, bs, nb, DAL_BULK_NO_IDS));

    parents = all_rows(&am, DAL_OK);
    ck_assert_int_eq(dal_rows_count(parents), SPLIT_PARENTS);
    n_after_load = 0;
    before = n_exec;
    CK_OK(dal_model_has_many(db, parents, &bm, "author_id", 0, &kids));
    /* One query per parameter limit's worth of keys. */
    ck_assert_int_eq(n_exec - before, (is_pg() ? 1 : 2));
    ck_assert_int_eq(dal_rows_count(kids), nb);
    ck_assert_int_eq(n_after_load, nb);
    ck_books_sorted(kids);
    for (i = 0; i < SPLIT_PARENTS; i++) {
        const author *p = dal_rows_at(parents, i);

        ck_assert_int_eq(p->id, as[i].id);
        got = match_int(kids, p->id, &first);
        ck_assert_msg(got == split_kids_of(i), "parent %d: %d children, "
                      "want %d", i, got, split_kids_of(i));
        for (k = 0; k < got; k++) {
            const book *b = dal_rows_at(kids, first + k);

            ck_assert_int_eq(b->author_id, p->id);
            ck_assert_int_eq(b->loaded, 1);
        }
        total += got;
    }
    ck_assert_int_eq(total, nb);
    dal_rows_free(kids);

    /* belongs_to over every book: as many keys again. */
    kids = all_rows(&bm, DAL_OK);
    before = n_exec;
    dal_rows_free(parents);
    CK_OK(dal_model_belongs_to(db, kids, "author_id", &am, 0, &parents));
    ck_assert_int_eq(n_exec - before, 1);
    ck_assert_int_eq(dal_rows_count(parents), (SPLIT_PARENTS + 2) / 3 + 2);
    for (i = 0; i < dal_rows_count(kids); i++) {
        const book *b = dal_rows_at(kids, i);

        ck_assert_int_eq(match_int(parents, b->author_id, NULL), 1);
    }
    dal_rows_free(kids);
    dal_rows_free(parents);
    free(as);
    free(bs);
}
END_TEST

/* ---- belongs_to ------------------------------------------------------- */

START_TEST(t_belongs_to)
{
    dal_model am = on_table(&author_model, "rt_bt_authors");
    dal_model bm = on_table(&book_model, "rt_bt_books");
    dal_model nm = on_table(&note_model, "rt_bt_notes");
    dal_rows *books, *auths, *notes;
    const author *a;
    int64_t ids[4];
    int first, i, k;
    long before;
    note n;

    DROP("rt_bt_books", "rt_bt_authors", "rt_bt_notes");
    /* Books: ann 50, 10 (30 deleted); bob 20, 40; cid (60 deleted);
     * author 999999 (none); author_id NULL. */
    make_library(&am, &bm, ids);
    CK_OK(dal_model_create_table(db, &nm));

    books = all_rows(&bm, DAL_OK);
    ck_assert_int_eq(dal_rows_count(books), 6);
    before = n_exec;
    CK_OK(dal_model_belongs_to(db, books, "author_id", &am, 0, &auths));
    ck_assert_int_eq(n_exec - before, 1);
    /* ann and bob, once each, by primary key. */
    ck_assert_int_eq(dal_rows_count(auths), 2);
    a = dal_rows_at(auths, 0);
    ck_assert_int_eq(a->id, ids[0]);
    ck_assert_str_eq(a->name, "ann");
    a = dal_rows_at(auths, 1);
    ck_assert_int_eq(a->id, ids[1]);
    ck_assert_str_eq(a->name, "bob");
    for (i = 0; i < dal_rows_count(books); i++) {
        const book *b = dal_rows_at(books, i);

        k = match_int(auths, b->author_id, &first);
        if (b->author_id == ids[0] || b->author_id == ids[1]) {
            ck_assert_int_eq(k, 1);
            a = dal_rows_at(auths, first);
            ck_assert_int_eq(a->id, b->author_id);
        } else {
            /* 999999, and 0 for the NULL author_id. */
            ck_assert_msg(k == 0, "book %" PRId64 " (author %" PRId64
                          "): %d parents", b->id, b->author_id, k);
        }
    }
    ck_assert_int_eq(match_int(auths, ids[2], NULL), 0);
    dal_rows_free(auths);
    dal_rows_free(books);

    /* Soft-deleted books too: cid joins. */
    CK_OK(dal_model_query(db, &bm, NULL, NULL, 0, DAL_WITH_DELETED, &books));
    ck_assert_int_eq(dal_rows_count(books), 8);
    CK_OK(dal_model_belongs_to(db, books, "author_id", &am, 0, &auths));
    ck_assert_int_eq(dal_rows_count(auths), 3);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(match_int(auths, ids[i], NULL), 1);
    ck_assert_int_eq(match_int(auths, ids[3], NULL), 0);
    dal_rows_free(auths);

    /* No parent for any child: DAL_DONE and an empty set. */
    dal_rows_free(books);
    CK_OK(dal_model_query(db, &bm, dal_gt(dal_col("id"), dal_int(60)),
                          NULL, 0, 0, &books));
    ck_assert_int_eq(dal_rows_count(books), 2);
    CK_RC(dal_model_belongs_to(db, books, "author_id", &am, 0, &auths),
          DAL_DONE);
    ck_assert_ptr_nonnull(auths);
    ck_assert_int_eq(dal_rows_count(auths), 0);
    ck_assert_int_eq(match_int(auths, 999999, NULL), 0);
    dal_rows_free(auths);

    /* Errors. */
    auths = (dal_rows *)&books;
    CK_ERR(dal_model_belongs_to(db, books, "writer_id", &am, 0, &auths),
           DAL_E_RANGE, "42703", "writer_id");
    ck_assert_ptr_null(auths);
    CK_ERR(dal_model_belongs_to(db, books, "title", &am, 0, &auths),
           DAL_E_MISUSE, NULL, "title");
    CK_ERR(dal_model_belongs_to(db, NULL, "author_id", &am, 0, &auths),
           DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_belongs_to(db, books, "author_id", NULL, 0, &auths),
           DAL_E_MISUSE, NULL, NULL);
    CK_ERR(dal_model_belongs_to(db, books, "author_id", &am,
                                DAL_ONLY_DELETED, &auths),
           DAL_E_MISUSE, NULL, NULL);
    ck_assert_int_eq(match_int(books, ids[0], NULL), -1);
    dal_rows_free(books);

    /* An INT32 fk. */
    memset(&n, 0, sizeof n);
    n.author_id = (int32_t)ids[2];
    CK_OK(dal_model_insert(db, &nm, &n));
    n.id = 0;
    CK_OK(dal_model_insert(db, &nm, &n));
    notes = all_rows(&nm, DAL_OK);
    CK_OK(dal_model_belongs_to(db, notes, "author_id", &am, 0, &auths));
    ck_assert_int_eq(dal_rows_count(auths), 1);
    ck_assert_int_eq(match_int(auths, ids[2], &first), 1);
    ck_assert_str_eq(((author *)dal_rows_at(auths, first))->name, "cid");
    dal_rows_free(auths);
    dal_rows_free(notes);
}
END_TEST

/* ---- registry --------------------------------------------------------- */

/* rc is want and *d NULL (d is read after the call). */
static void ck_no_db(int rc, int want, dal_db *const *d, const char *what)
{
    ck_assert_msg(rc == want, "%s -> %d (%s), want %d", what, rc,
                  dal_errstr(rc), want);
    ck_assert_msg(*d == NULL, "%s: *db is not NULL", what);
}

START_TEST(t_registry)
{
    char arch_path[128], arch_url[160];
    dal_registry *reg = NULL;
    dal_db *m1, *m2, *m3, *arch, *d;
    char *msg = (char *)"unset";
    event e = {0, (char *)"archived"};
    int rc;

    dal_registry_free(NULL);
    ck_assert_int_eq(dal_registry_new(NULL), DAL_E_MISUSE);
    CK_OK(dal_registry_new(&reg));
    ck_assert_ptr_nonnull(reg);

    /* Nothing registered yet. */
    d = db;
    ck_no_db(dal_registry_db(reg, NULL, &d), DAL_E_RANGE, &d, "main");
    d = db;
    ck_no_db(dal_registry_model_db(reg, &event_model, &d), DAL_E_RANGE,
             &d, "model_db");

    temp_file(arch_path, sizeof arch_path);
    snprintf(arch_url, sizeof arch_url, "sqlite://%s", arch_path);
    CK_OK(dal_registry_add(reg, "main", test_url, &msg));
    ck_assert_ptr_null(msg);
    CK_OK(dal_registry_add(reg, "archive", arch_url, NULL));

    /* Opened on first use, the same handle afterwards; NULL is main. */
    CK_OK(dal_registry_db(reg, "main", &m1));
    ck_assert_ptr_nonnull(m1);
    ck_assert_ptr_ne(m1, db);
    CK_OK(dal_registry_db(reg, "main", &m2));
    CK_OK(dal_registry_db(reg, NULL, &m3));
    ck_assert_ptr_eq(m1, m2);
    ck_assert_ptr_eq(m1, m3);
    CK_OK(dal_registry_model_db(reg, &main_event_model, &m2));
    ck_assert_ptr_eq(m1, m2);
    CK_OK(dal_registry_model_db(reg, &event_model, &arch));
    ck_assert_ptr_nonnull(arch);
    ck_assert_ptr_ne(arch, m1);
    CK_OK(dal_registry_db(reg, "archive", &d));
    ck_assert_ptr_eq(d, arch);

    /* Unknown names. */
    d = db;
    ck_no_db(dal_registry_db(reg, "archiv", &d), DAL_E_RANGE, &d, "archiv");
    d = db;
    ck_no_db(dal_registry_db(reg, "", &d), DAL_E_RANGE, &d, "\"\"");
    ck_assert_int_eq(dal_registry_db(reg, "main", NULL), DAL_E_MISUSE);
    d = db;
    ck_no_db(dal_registry_db(NULL, "main", &d), DAL_E_MISUSE, &d,
             "NULL reg");
    d = db;
    ck_no_db(dal_registry_model_db(reg, NULL, &d), DAL_E_MISUSE, &d,
             "NULL model");

    /* The archive model reaches the archive: the same table in both
     * databases, the row only in the archive. */
    drop_on(m1, "rt_reg_events");
    CK_OK(dal_model_create_table(m1, &main_event_model));
    CK_OK(dal_model_create_table(arch, &event_model));
    CK_OK(dal_registry_model_db(reg, &event_model, &d));
    rc = dal_model_insert(d, &event_model, &e);
    ck_assert_msg(rc == DAL_OK, "insert -> %d: %s", rc, S(dal_errmsg(d)));
    ck_assert_int_gt(e.id, 0);
    ck_assert_int_eq(rows_in_on(arch, "rt_reg_events"), 1);
    ck_assert_int_eq(rows_in_on(m1, "rt_reg_events"), 0);
    if (test_backend != BE_SQLITE_MEM)
        ck_assert_int_eq(rows_in_on(db, "rt_reg_events"), 0);
    drop_on(m1, "rt_reg_events");

    /* The registry closes its connections (the leak check). */
    dal_registry_free(reg);
    remove_db_files(arch_path);
}
END_TEST

#define SECRET "s3cr3t-pw"

START_TEST(t_registry_errors)
{
    char dir[128], late_url[200], late_path[160];
    dal_registry *reg;
    dal_db *d, *d2;
    char *msg;
    int rc;

    CK_OK(dal_registry_new(&reg));
    CK_OK(dal_registry_add(reg, "main", "sqlite::memory:", NULL));

    /* A name registered already: DAL_E_MISUSE naming it; the first
     * registration stays. */
    msg = NULL;
    ck_assert_int_eq(dal_registry_add(reg, "main", "sqlite:/tmp/x.db",
                                      &msg), DAL_E_MISUSE);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(strstr(msg, "main") != NULL, "message: %s", msg);
    dal_free(msg);
    ck_assert_int_eq(dal_registry_add(reg, "main", "sqlite::memory:",
                                      NULL), DAL_E_MISUSE);

    /* NULL or empty arguments. */
    msg = NULL;
    ck_assert_int_eq(dal_registry_add(reg, NULL, "sqlite::memory:", &msg),
                     DAL_E_MISUSE);
    dal_free(msg);
    msg = NULL;
    ck_assert_int_eq(dal_registry_add(reg, "", "sqlite::memory:", &msg),
                     DAL_E_MISUSE);
    dal_free(msg);
    msg = NULL;
    ck_assert_int_eq(dal_registry_add(reg, "x", NULL, &msg), DAL_E_MISUSE);
    dal_free(msg);
    ck_assert_int_eq(dal_registry_add(NULL, "x", "sqlite::memory:", NULL),
                     DAL_E_MISUSE);

    /* A malformed URL: DAL_E_URL, a message without the password, and
     * nothing registered. */
    msg = NULL;
    ck_assert_int_eq(dal_registry_add(reg, "bad", "postgresx://app:"
                                      SECRET "@db.example/shop", &msg),
                     DAL_E_URL);
    ck_assert_ptr_nonnull(msg);
    ck_assert_msg(msg[0] != '\0', "empty message");
    ck_assert_msg(strstr(msg, SECRET) == NULL, "password shown: %s", msg);
    ck_assert_msg(strstr(msg, "postgresx") != NULL, "message: %s", msg);
    dal_free(msg);
    ck_assert_int_eq(dal_registry_add(reg, "bad2", "postgresx://app:"
                                      SECRET "@db.example/shop", NULL),
                     DAL_E_URL);
    d = db;
    ck_no_db(dal_registry_db(reg, "bad", &d), DAL_E_RANGE, &d, "bad");

    /* A refused connection: the failed handle goes to the caller, the
     * registry keeps nothing and tries again. */
    CK_OK(dal_registry_add(reg, "down", "postgres://u@127.0.0.1:1/x",
                           NULL));
    d = NULL;
    rc = dal_registry_db(reg, "down", &d);
    ck_assert_int_eq(rc, DAL_E_CONNECT);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(dal_errcode(d), DAL_E_CONNECT);
    ck_assert_msg(dal_errmsg(d) != NULL && dal_errmsg(d)[0] != '\0',
                  "no message");
    dal_close(d);
    d2 = NULL;
    ck_assert_int_eq(dal_registry_db(reg, "down", &d2), DAL_E_CONNECT);
    ck_assert_ptr_nonnull(d2);
    ck_assert_int_eq(dal_errcode(d2), DAL_E_CONNECT);
    dal_close(d2);

    /* A file in a directory that does not exist yet: the first call
     * fails, the next one, once the directory is there, connects. */
    temp_file(dir, sizeof dir);
    unlink(dir);
    snprintf(late_path, sizeof late_path, "%s/late.db", dir);
    snprintf(late_url, sizeof late_url, "sqlite://%s", late_path);
    CK_OK(dal_registry_add(reg, "late", late_url, NULL));
    d = NULL;
    ck_assert_int_eq(dal_registry_db(reg, "late", &d), DAL_E_CONNECT);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(dal_errcode(d), DAL_E_CONNECT);
    dal_close(d);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    CK_OK(dal_registry_db(reg, "late", &d));
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(dal_exec(d, "CREATE TABLE t (x INTEGER)"), DAL_OK);
    CK_OK(dal_registry_db(reg, "late", &d2));
    ck_assert_ptr_eq(d, d2);

    /* More names than the first array holds. */
    CK_OK(dal_registry_add(reg, "n1", "sqlite::memory:", NULL));
    CK_OK(dal_registry_add(reg, "n2", "sqlite::memory:", NULL));
    CK_OK(dal_registry_add(reg, "n3", "sqlite::memory:", NULL));
    CK_OK(dal_registry_db(reg, "n3", &d));
    CK_OK(dal_registry_db(reg, "main", &d2));
    ck_assert_ptr_ne(d, d2);

    dal_registry_free(reg);
    remove_db_files(late_path);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ---- allocation failures ---------------------------------------------- */

/*
 * A call under test runs with libdal's first, second, ... allocation
 * failing, until it completes without a failure. Each round starts on a
 * new handle (the old one closed: libdal must then hold what it held
 * before the test, so that per-connection caches do not count as leaks)
 * with prepare(). A failing run must return DAL_NOMEM (also as
 * dal_errcode) and no set: check(c, 1) verifies that, then runs the
 * call again without failures and checks its result. Where libdal
 * could carry on without that memory (a void cleanup) it may return
 * DAL_OK, and then its result must be exactly right: check(c, 0), with
 * c->ctx saying which run it was. Every round runs twice: cold (the
 * call prepares its statements) and warm (after one clean call, from
 * the statement cache).
 */
typedef struct nomem_case {
    void (*prepare)(struct nomem_case *c);
    int (*call)(struct nomem_case *c, long fail);
    void (*check)(struct nomem_case *c, int failed);
    dal_model am, bm;
    dal_rows *src, *out;
    dal_registry *reg;
    char *msg;
    int64_t ids[4];
    char ctx[96];   /* which run check() is looking at */
} nomem_case;

/* Close the handle (libdal must hold what it held before the test) and
 * open a new one on the test's database. */
static void nomem_reopen(const char *when)
{
    int rc;

    uncount_statements(db);
    dal_close(db);
    db = NULL;
    ck_assert_msg(live_blocks == base_blocks, "%s: libdal holds %ld "
                  "blocks with no handle open, %ld before the test", when,
                  live_blocks, base_blocks);
    rc = dal_open(test_url, &db);
    ck_assert_msg(rc == DAL_OK && db != NULL, "dal_open(%s) -> %d",
                  test_url, rc);
    if (is_pg())
        EXEC("SET client_min_messages = warning");
    count_statements(db);
}

static void nomem_release(nomem_case *c)
{
    dal_rows_free(c->src);
    c->src = NULL;
}

static void nomem_run(nomem_case *c, long min_runs)
{
    char when[64];
    long n = 0;
    int rc, warm;

    for (warm = 0; warm < 2; warm++) {
        for (n = 1; n < 100000; n++) {
            snprintf(when, sizeof when, "after failing allocation %ld%s",
                     n - 1, warm ? " (warm)" : "");
            nomem_release(c);
            nomem_reopen(when);
            c->prepare(c);
            if (warm) {
                snprintf(c->ctx, sizeof c->ctx, "the warm-up call");
                CK_OK(c->call(c, 0));
                c->check(c, 0);
            }
            rc = c->call(c, n);
            if (!fail_hit) {
                snprintf(c->ctx, sizeof c->ctx, "the run without a "
                         "failure");
                CK_OK(rc);
                c->check(c, 0);
                break;
            }
            snprintf(c->ctx, sizeof c->ctx, "allocation %ld%s failed, "
                     "and the call returned %d", n, warm ? " (warm)" : "",
                     rc);
            if (rc == DAL_OK) {
                c->check(c, 0);
                continue;
            }
            ck_assert_msg(rc == DAL_NOMEM && dal_errcode(db) == DAL_NOMEM,
                          "allocation %ld%s failed: rc %d (%s), errcode "
                          "%d: %s", n, warm ? " (warm)" : "", rc,
                          dal_errstr(rc), dal_errcode(db),
                          S(dal_errmsg(db)));
            ck_assert_msg(dal_tx_depth(db) == 0, "allocation %ld failed: "
                          "transaction depth %d", n, dal_tx_depth(db));
            c->check(c, 1);
        }
        ck_assert_msg(n < 100000, "never completed");
        ck_assert_msg(n >= min_runs, "only %ld runs: were allocations "
                      "made?", n);
    }
    nomem_release(c);
    nomem_reopen("after the last run");
}

/* The library on a new handle (SQLite in memory starts empty). */
static void nomem_library(nomem_case *c)
{
    drop_on(db, c->bm.table);
    drop_on(db, c->am.table);
    make_library(&c->am, &c->bm, c->ids);
}

/* has_many of ann and bob: 10, 50 and 20, 40. Book 70 (another author)
 * and 80 (no author) show if the condition on author_id is lost, books
 * 30 and 60 if the one on deleted_at is. */
static void nomem_has_many_prepare(nomem_case *c)
{
    nomem_library(c);
    CK_OK(dal_model_query(db, &c->am, dal_le(dal_col("id"),
                                             dal_int(c->ids[1])),
                          NULL, 0, 0, &c->src));
    ck_assert_int_eq(dal_rows_count(c->src), 2);
}

static int nomem_has_many_call(nomem_case *c, long fail)
{
    int rc;

    c->out = NULL;
    nomem_arm(fail);
    rc = dal_model_has_many(db, c->src, &c->bm, "author_id", 0, &c->out);
    fail_at = 0;
    return rc;
}

static void nomem_has_many_check(nomem_case *c, int failed)
{
    static const int64_t a0[] = {10, 50}, a1[] = {20, 40};
    int i;

    if (failed) {
        ck_assert_msg(c->out == NULL, "%s: a set", c->ctx);
        CK_OK(nomem_has_many_call(c, 0));
    }
    ck_assert_msg(dal_rows_count(c->out) == 4, "%s: %d books, want 4",
                  c->ctx, dal_rows_count(c->out));
    for (i = 0; i < 4; i++) {
        const book *b = dal_rows_at(c->out, i);

        ck_assert_int_eq(b->author_id, i < 2 ? c->ids[0] : c->ids[1]);
        ck_assert_int_eq(b->id, i < 2 ? a0[i] : a1[i - 2]);
    }
    ck_books(c->out, c->ids[0], a0, NELEM(a0));
    ck_books(c->out, c->ids[1], a1, NELEM(a1));
    dal_rows_free(c->out);
    c->out = NULL;
}

START_TEST(t_nomem_has_many)
{
    nomem_case c;

    memset(&c, 0, sizeof c);
    c.am = on_table(&author_model, "rt_nh_authors");
    c.bm = on_table(&book_model, "rt_nh_books");
    c.prepare = nomem_has_many_prepare;
    c.call = nomem_has_many_call;
    c.check = nomem_has_many_check;
    nomem_run(&c, 3);
}
END_TEST

/* belongs_to of books 10, 20 and 70: ann and bob. */
static void nomem_belongs_prepare(nomem_case *c)
{
    nomem_library(c);
    CK_OK(dal_model_query(db, &c->bm,
                          dal_in(dal_col("id"), dal_int(10), dal_int(20),
                                 dal_int(70)),
                          NULL, 0, 0, &c->src));
    ck_assert_int_eq(dal_rows_count(c->src), 3);
}

static int nomem_belongs_call(nomem_case *c, long fail)
{
    int rc;

    c->out = NULL;
    nomem_arm(fail);
    rc = dal_model_belongs_to(db, c->src, "author_id", &c->am, 0, &c->out);
    fail_at = 0;
    return rc;
}

static void nomem_belongs_check(nomem_case *c, int failed)
{
    if (failed) {
        ck_assert_msg(c->out == NULL, "%s: a set", c->ctx);
        CK_OK(nomem_belongs_call(c, 0));
    }
    ck_assert_msg(dal_rows_count(c->out) == 2, "%s: %d authors, want 2",
                  c->ctx, dal_rows_count(c->out));
    ck_assert_int_eq(((author *)dal_rows_at(c->out, 0))->id, c->ids[0]);
    ck_assert_int_eq(((author *)dal_rows_at(c->out, 1))->id, c->ids[1]);
    ck_assert_int_eq(match_int(c->out, c->ids[0], NULL), 1);
    ck_assert_int_eq(match_int(c->out, c->ids[1], NULL), 1);
    ck_assert_int_eq(match_int(c->out, 999999, NULL), 0);
    dal_rows_free(c->out);
    c->out = NULL;
}

START_TEST(t_nomem_belongs_to)
{
    nomem_case c;

    memset(&c, 0, sizeof c);
    c.am = on_table(&author_model, "rt_nb_authors");
    c.bm = on_table(&book_model, "rt_nb_books");
    c.prepare = nomem_belongs_prepare;
    c.call = nomem_belongs_call;
    c.check = nomem_belongs_check;
    nomem_run(&c, 3);
}
END_TEST

/* The registry needs no handle: each round makes a registry, adds four
 * names, then the fifth (the array grows) under failures, with a URL
 * that carries a password; check() frees the registry, and libdal must
 * then hold what it held before. */
#define NOMEM_URL "postgres://app:" SECRET "@127.0.0.1:1/shop"

static int nomem_registry_call(nomem_case *c, long fail)
{
    static const char *const names[] = {"main", "n1", "n2", "n3"};
    int rc, i;

    CK_OK(dal_registry_new(&c->reg));
    for (i = 0; i < NELEM(names); i++)
        CK_OK(dal_registry_add(c->reg, names[i], "sqlite::memory:", NULL));
    c->msg = NULL;
    nomem_arm(fail);
    rc = dal_registry_add(c->reg, "archive", NOMEM_URL, &c->msg);
    fail_at = 0;
    return rc;
}

static void nomem_registry_check(nomem_case *c, int failed)
{
    dal_db *d = db;

    if (failed) {
        /* A message, if any, says nothing of the password. */
        ck_assert_msg(c->msg == NULL || strstr(c->msg, SECRET) == NULL,
                      "message: %s", c->msg);
        dal_free(c->msg);
        c->msg = NULL;
        ck_no_db(dal_registry_db(c->reg, "archive", &d), DAL_E_RANGE, &d,
                 "archive after a failure");
        ck_assert_int_eq(dal_registry_add(c->reg, "archive", NOMEM_URL,
                                          &c->msg), DAL_OK);
    }
    ck_assert_ptr_null(c->msg);
    /* Registered once: a second add is a duplicate; the others stay. */
    ck_assert_int_eq(dal_registry_add(c->reg, "archive", "sqlite::memory:",
                                      NULL), DAL_E_MISUSE);
    CK_OK(dal_registry_db(c->reg, "n3", &d));
    ck_assert_ptr_nonnull(d);
    dal_registry_free(c->reg);
    c->reg = NULL;
}

START_TEST(t_nomem_registry_add)
{
    nomem_case c;
    long n, base = live_blocks;
    int rc;

    memset(&c, 0, sizeof c);
    for (n = 1; n < 100000; n++) {
        rc = nomem_registry_call(&c, n);
        if (!fail_hit) {
            ck_assert_int_eq(rc, DAL_OK);
            nomem_registry_check(&c, 0);
            break;
        }
        ck_assert_msg(rc == DAL_NOMEM, "allocation %ld failed: rc %d (%s)",
                      n, rc, dal_errstr(rc));
        nomem_registry_check(&c, 1);
        ck_assert_msg(live_blocks == base, "allocation %ld failed: libdal "
                      "holds %ld blocks, %ld before", n, live_blocks, base);
    }
    ck_assert_msg(n < 100000, "never completed");
    ck_assert_msg(n >= 3, "only %ld runs: were allocations made?", n);
    ck_assert_int_eq(live_blocks, base);
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

static Suite *relations_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "has_many");
    tcase_add_test(tc, t_has_many);
    tcase_add_test(tc, t_has_many_pg_scans);
    tcase_add_test(tc, t_has_many_edges);
    tcase_add_test(tc, t_has_many_text);
    tcase_add_test(tc, t_has_many_split);
    tc = tcase(s, "belongs_to");
    tcase_add_test(tc, t_belongs_to);
    tc = tcase(s, "registry");
    tcase_add_test(tc, t_registry);
    tcase_add_test(tc, t_registry_errors);
    tc = tcase(s, "nomem");
    tcase_add_test(tc, t_nomem_has_many);
    tcase_add_test(tc, t_nomem_belongs_to);
    tcase_add_test(tc, t_nomem_registry_add);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "relations[sqlite-mem]", "relations[sqlite-file]",
        "relations[postgres]",
    };
    const char *pg;
    int kind, failed = 0;

    /* Before any other libdal call. */
    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "relations: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    main_pid = (long)getpid();
    pg = getenv("DAL_TEST_PG_URL");
    if (pg == NULL || pg[0] == '\0') {
        printf("relations: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
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
        sr = srunner_create(relations_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_temp_files();
    }
    if (live_blocks != 0) {
        printf("relations: libdal holds %ld blocks at exit\n", live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
