/*
 * tests/migrate.c - the migration engine (include/dal/migrate.h). The
 * same tests, with the same assertions, run on:
 *   migrate[sqlite-file]  a fresh SQLite file per test
 *   migrate[postgres]     $DAL_TEST_PG_URL (skipped when unset); every
 *                         test drops dal_migrations and the mt_* tables
 *                         first
 * and migrate[unit] (sqlite::memory:) checks SHA-256 against the standard
 * vectors and fails every allocation in turn.
 *
 * Fixture directories are tests/migrate/<name>; run from the top of the
 * tree (as make check does):
 *   make build/tests/migrate && tests/pg/with-pg.sh build/tests/migrate
 * CK_RUN_SUITE / CK_RUN_CASE narrow a run; CK_FORK=no runs in one process.
 *
 * The concurrency and crash tests fork processes of their own, which
 * open their own connections and leave with _exit().
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dal.h>

enum backend { BE_UNIT, BE_SQLITE_FILE, BE_POSTGRES };

/* The PostgreSQL advisory lock key of lib/migrate.c ("dal_migr"). */
#define PG_LOCK_KEY "7233181633647044466"

static enum backend test_backend;
static const char *pg_url;
static const char *test_url;     /* this test's database */
static char file_path[128];
static char file_url[160];
static char fixtures[512];       /* tests/migrate */
static long main_pid;
static dal_db *db;               /* the fixture's connection */

/* ---- helpers -------------------------------------------------------- */

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

#define CK_RC(h, expr, want) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "%s -> %d (%s), want %d: [%s] %s", \
                  #expr, rc_, dal_errstr(rc_), (want), \
                  S(dal_sqlstate(h)), S(dal_errmsg(h))); \
} while (0)
#define CK_OK(h, expr) CK_RC(h, expr, DAL_OK)
#define EXEC(sql) CK_OK(db, dal_exec(db, (sql)))

/* The migrator's own error (loading, options). */
#define CK_MRC(m, expr, want) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "%s -> %d (%s), want %d: %s", #expr, rc_, \
                  dal_errstr(rc_), (want), dal_migrator_errmsg(m)); \
} while (0)

#define CK_CONTAINS(hay, needle) \
    ck_assert_msg(strstr(S(hay), (needle)) != NULL, \
                  "\"%s\" does not contain \"%s\"", S(hay), (needle))

static int is_sqlite(dal_db *h)
{
    return strcmp(S(dal_backend(h)), "sqlite") == 0;
}

static dal_db *open_db(const char *url)
{
    dal_db *h = NULL;
    int rc = dal_open(url, &h);

    ck_assert_msg(rc == DAL_OK, "dal_open(%s): %s", url,
                  h ? dal_errmsg(h) : "out of memory");
    return h;
}

static dal_migrator *new_migrator(void)
{
    dal_migrator *m = NULL;

    ck_assert_int_eq(dal_migrator_new(&m), DAL_OK);
    ck_assert_ptr_nonnull(m);
    return m;
}

static void fixture_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", fixtures, name);
}

static dal_migrator *load_fixture(const char *name)
{
    dal_migrator *m = new_migrator();
    char dir[600];

    fixture_path(dir, sizeof dir, name);
    CK_MRC(m, dal_migrator_load_dir(m, dir), DAL_OK);
    return m;
}

static dal_migrator *c_migrator(const dal_migration *v, int n)
{
    dal_migrator *m = new_migrator();

    CK_MRC(m, dal_migrator_add(m, v, n), DAL_OK);
    return m;
}

/* The applied versions, "1,2,3"; "-" when dal_migrations does not exist. */
static const char *history(dal_db *h)
{
    static char out[256];
    dal_stmt *st;
    size_t len = 0;
    int rc;

    out[0] = '\0';
    if (dal_prepare(h, "SELECT version FROM dal_migrations ORDER BY version",
                    &st) != DAL_OK)
        return "-";
    while ((rc = dal_step(st)) == DAL_ROW)
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%" PRId64,
                                len ? "," : "", dal_column_int64(st, 0));
    ck_assert_msg(rc == DAL_DONE, "reading the history: %s", dal_errmsg(h));
    dal_finalize(st);
    return out;
}

static int table_exists(dal_db *h, const char *table)
{
    char sql[160];
    dal_stmt *st;

    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE 1 = 0", table);
    if (dal_prepare(h, sql, &st) != DAL_OK)
        return 0;
    dal_finalize(st);
    return 1;
}

static int64_t query_int(dal_db *h, const char *sql)
{
    int64_t v = -1;

    CK_OK(h, dal_query_int64(h, sql, NULL, 0, &v));
    return v;
}

static int index_exists(dal_db *h, const char *name)
{
    char sql[200];

    snprintf(sql, sizeof sql, is_sqlite(h)
             ? "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
               " AND name = '%s'"
             : "SELECT count(*) FROM pg_indexes WHERE indexname = '%s'",
             name);
    return query_int(h, sql) > 0;
}

/* "YYYY-MM-DD HH:MM:SS" */
static int is_timestamp(const char *s)
{
    static const char pat[] = "dddd-dd-dd dd:dd:dd";
    size_t i;

    if (!s || strlen(s) != sizeof pat - 1)
        return 0;
    for (i = 0; i < sizeof pat - 1; i++)
        if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pat[i])
            return 0;
    return 1;
}

/* Status as "1:A 2:P 3:C 4:M" (Applied, Pending, Changed, Missing),
 * checking each entry's fields on the way. */
static const char *status(dal_db *h, dal_migrator *m)
{
    static char out[512];
    static const char states[] = "?PACM";
    dal_migration_status *list = (void *)1;
    size_t len = 0;
    int i, n = -1;

    CK_OK(h, dal_migrate_status(h, m, &list, &n));
    ck_assert_int_ge(n, 0);
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        const dal_migration_status *s = &list[i];

        ck_assert_msg(s->state >= DAL_MIG_PENDING
                      && s->state <= DAL_MIG_MISSING, "bad state %d",
                      (int)s->state);
        ck_assert_ptr_nonnull(s->name);
        if (i > 0)
            ck_assert_msg(list[i - 1].version < s->version,
                          "status not in version order");
        if (s->state == DAL_MIG_PENDING) {
            ck_assert_ptr_null(s->applied_at);
            ck_assert_int_eq(s->duration_ms, -1);
        } else {
            ck_assert_msg(is_timestamp(s->applied_at), "applied_at \"%s\"",
                          S(s->applied_at));
            ck_assert_int_ge(s->duration_ms, 0);
        }
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%" PRId64
                                ":%c", len ? " " : "", s->version,
                                states[s->state]);
    }
    dal_migrate_status_free(list, n);
    return out;
}

/* The name status gives version v. */
static char *status_name(dal_db *h, dal_migrator *m, int64_t v)
{
    static char out[128];
    dal_migration_status *list;
    int i, n;

    CK_OK(h, dal_migrate_status(h, m, &list, &n));
    out[0] = '\0';
    for (i = 0; i < n; i++)
        if (list[i].version == v)
            snprintf(out, sizeof out, "%s", list[i].name);
    dal_migrate_status_free(list, n);
    return out;
}

static void remove_db_files(const char *path)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    char p[200];
    size_t i;

    for (i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[i]);
        unlink(p);
    }
}

/* Remove a temporary directory and the files in it. */
static void remove_dir(const char *dir)
{
    char path[700];
    struct dirent *e;
    DIR *d = opendir(dir);

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* A failing assertion ends a forked test before its teardown, so main()
 * sweeps what this run left in /tmp. */
static void sweep_temp_files(void)
{
    char prefix[64], path[512];
    struct dirent *e;
    DIR *d = opendir("/tmp");

    if (!d)
        return;
    snprintf(prefix, sizeof prefix, "dal-migrate-%ld-", main_pid);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)))
            continue;
        snprintf(path, sizeof path, "/tmp/%s", e->d_name);
        if (unlink(path) != 0)
            remove_dir(path);
    }
    closedir(d);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_msg(f != NULL, "fopen(%s): %s", path, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* A new empty temporary directory in out. */
static void temp_dir(char *out, size_t n)
{
    snprintf(out, n, "/tmp/dal-migrate-%ld-XXXXXX", main_pid);
    ck_assert_msg(mkdtemp(out) != NULL, "mkdtemp: %s", strerror(errno));
}

/* Copy fixture name into a new temporary directory. */
static void copy_fixture(const char *name, char *out, size_t n)
{
    char src[600], from[900], to[900], buf[4096];
    struct dirent *e;
    size_t k;
    FILE *in, *o;
    DIR *d;

    temp_dir(out, n);
    fixture_path(src, sizeof src, name);
    d = opendir(src);
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", out, e->d_name);
        in = fopen(from, "rb");
        o = fopen(to, "wb");
        ck_assert(in && o);
        while ((k = fread(buf, 1, sizeof buf, in)) > 0)
            ck_assert_uint_eq(fwrite(buf, 1, k, o), k);
        fclose(in);
        ck_assert_int_eq(fclose(o), 0);
    }
    closedir(d);
}

/* Progress events as "3u0 3u1 3d0 ..." (version, up/down, done). */
static char progress_log[1024];

static void on_progress(int64_t version, const char *name, int up, int done,
                        double ms, void *arg)
{
    size_t len = strlen(progress_log);

    (void)arg;
    ck_assert_ptr_nonnull(name);
    ck_assert(ms >= 0.0);
    snprintf(progress_log + len, sizeof progress_log - len, "%s%" PRId64
             "%c%d", len ? " " : "", version, up ? 'u' : 'd', done);
}

/* ---- fixture -------------------------------------------------------- */

/* What a PostgreSQL test may have left: dal_migrations and every mt_*
 * table. */
static const char pg_clean_sql[] =
    "DO $$DECLARE t text; BEGIN"
    " FOR t IN SELECT tablename FROM pg_tables"
    "  WHERE schemaname = current_schema()"
    "  AND (tablename LIKE 'mt\\_%' OR tablename = 'dal_migrations')"
    " LOOP EXECUTE 'DROP TABLE IF EXISTS ' || quote_ident(t)"
    "  || ' CASCADE'; END LOOP; END$$";

static void pg_clean(dal_db *h)
{
    CK_OK(h, dal_exec(h, pg_clean_sql));
}

static void setup(void)
{
    if (test_backend == BE_SQLITE_FILE) {
        int fd;

        snprintf(file_path, sizeof file_path, "/tmp/dal-migrate-%ld-XXXXXX",
                 main_pid);
        fd = mkstemp(file_path);
        ck_assert_msg(fd >= 0, "mkstemp(%s) failed", file_path);
        close(fd);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
        test_url = file_url;
    } else if (test_backend == BE_POSTGRES) {
        test_url = pg_url;
    } else {
        test_url = "sqlite::memory:";
    }
    db = open_db(test_url);
    if (test_backend == BE_POSTGRES)
        pg_clean(db);
    progress_log[0] = '\0';
}

static void teardown(void)
{
    /* Leave the shared database as we found it for the suites after us
     * (best effort: a failed test does not get here). */
    if (db && test_backend == BE_POSTGRES)
        dal_exec(db, pg_clean_sql);
    dal_close(db);
    db = NULL;
    if (test_backend == BE_SQLITE_FILE)
        remove_db_files(file_path);
}

/* ---- up, status, down, targets, redo -------------------------------- */

/* What the basic fixture's migrations left, to compare runs. */
static const char *snapshot(dal_db *h)
{
    static char out[256];

    snprintf(out, sizeof out, "history=%s users=%s posts=%s index=%d",
             history(h),
             table_exists(h, "mt_users")
             ? (query_int(h, "SELECT count(*) FROM mt_users") ? "1" : "0")
             : "-",
             table_exists(h, "mt_posts")
             ? (query_int(h, "SELECT count(*) FROM mt_posts") ? "1" : "0")
             : "-",
             index_exists(h, "mt_users_email"));
    return out;
}

START_TEST(t_up_down_up)
{
    dal_migrator *m = load_fixture("basic");
    char first[300];
    int n = -1;

    /* Status reads nothing into being: no history table yet. */
    ck_assert_str_eq(status(db, m), "1:P 2:P 3:P");
    ck_assert(!table_exists(db, "dal_migrations"));

    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(status(db, m), "1:A 2:A 3:A");
    snprintf(first, sizeof first, "%s", snapshot(db));
    ck_assert_str_eq(first, "history=1,2,3 users=1 posts=1 index=1");
    ck_assert_str_eq(status_name(db, m, 2), "add_posts");
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_posts WHERE "
                               "title = 'hello; world'"), 1);

    /* Nothing is pending: a second run applies nothing. */
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 0);

    CK_OK(db, dal_migrate_down(db, m, 0, 0, &n));
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(status(db, m), "1:P 2:P 3:P");
    ck_assert_str_eq(snapshot(db), "history= users=- posts=- index=0");

    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(snapshot(db), first);
    ck_assert_int_eq(dal_tx_depth(db), 0);
    dal_migrator_free(m);
}
END_TEST

/* Up all, down all, up all: the same introspected schema. */
START_TEST(t_roundtrip_schema)
{
    dal_migrator *m = load_fixture("basic");
    dal_schema *s = NULL;
    char *first = NULL, *again = NULL, *empty = NULL;

    CK_OK(db, dal_migrate_up(db, m, 0, NULL));
    CK_OK(db, dal_schema_read(db, &s));
    ck_assert_int_eq(dal_schema_describe(s, &first), DAL_OK);
    dal_schema_free(s);
    CK_CONTAINS(first, "table mt_users");
    CK_OK(db, dal_migrate_down(db, m, 0, 0, NULL));
    CK_OK(db, dal_schema_read(db, &s));
    ck_assert_int_eq(dal_schema_describe(s, &empty), DAL_OK);
    dal_schema_free(s);
    ck_assert_ptr_null(strstr(empty, "mt_"));
    CK_OK(db, dal_migrate_up(db, m, 0, NULL));
    CK_OK(db, dal_schema_read(db, &s));
    ck_assert_int_eq(dal_schema_describe(s, &again), DAL_OK);
    dal_schema_free(s);
    ck_assert_str_eq(first, again);
    dal_free(first);
    dal_free(again);
    dal_free(empty);
    dal_migrator_free(m);
}
END_TEST

/* auto_migrate=NAME in the URL runs the registered set on open. */
START_TEST(t_auto_migrate)
{
    dal_migrator *m = load_fixture("basic");
    dal_migration_status *list = NULL;
    char url[600];
    dal_db *h = NULL;
    int n = 0;

    ck_assert_int_eq(dal_migrator_register("app", m), DAL_OK);
    snprintf(url, sizeof url, "%s%sauto_migrate=app", test_url,
             strchr(test_url, '?') ? "&" : "?");
    h = open_db(url);
    CK_OK(h, dal_migrate_status(h, m, &list, &n));
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(list[i].state, DAL_MIG_APPLIED);
    dal_migrate_status_free(list, n);
    dal_close(h);
    /* An unknown name fails the open, naming the option. */
    snprintf(url, sizeof url, "%s%sauto_migrate=nosuch", test_url,
             strchr(test_url, '?') ? "&" : "?");
    ck_assert_int_eq(dal_open(url, &h), DAL_E_URL);
    CK_CONTAINS(dal_errmsg(h), "auto_migrate=nosuch");
    dal_close(h);
    ck_assert_int_eq(dal_migrator_register("app", NULL), DAL_OK);
    dal_migrator_free(m);
}
END_TEST

START_TEST(t_targets)
{
    dal_migrator *m = load_fixture("basic");
    int n = -1;

    CK_OK(db, dal_migrate_up(db, m, 2, &n));
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(history(db), "1,2");
    ck_assert_str_eq(status(db, m), "1:A 2:A 3:P");
    CK_OK(db, dal_migrate_up(db, m, 2, &n));
    ck_assert_int_eq(n, 0);
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(history(db), "1,2,3");

    /* down N steps, then down to a target. */
    CK_OK(db, dal_migrate_down(db, m, 1, 0, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(history(db), "1,2");
    ck_assert(!index_exists(db, "mt_users_email"));
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    CK_OK(db, dal_migrate_down(db, m, 0, 1, &n));
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(history(db), "1");
    ck_assert(table_exists(db, "mt_users") && !table_exists(db, "mt_posts"));
    /* More steps than applied: undoes what there is. */
    CK_OK(db, dal_migrate_down(db, m, 5, 0, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(history(db), "");
    CK_OK(db, dal_migrate_down(db, m, 1, 0, &n));
    ck_assert_int_eq(n, 0);

    /* A target between versions, and one above them all. */
    CK_OK(db, dal_migrate_up(db, m, 1, &n));
    ck_assert_int_eq(n, 1);
    CK_OK(db, dal_migrate_up(db, m, 1000, &n));
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(history(db), "1,2,3");

    CK_RC(db, dal_migrate_down(db, m, -1, 0, &n), DAL_E_MISUSE);
    CK_RC(db, dal_migrate_up(db, m, -1, &n), DAL_E_MISUSE);
    dal_migrator_free(m);
}
END_TEST

START_TEST(t_redo)
{
    dal_migrator *m = load_fixture("basic");
    int n;

    CK_RC(db, dal_migrate_redo(db, m), DAL_E_MISUSE);
    CK_CONTAINS(dal_errmsg(db), "no migration is applied");
    CK_OK(db, dal_migrate_up(db, m, 2, &n));
    dal_migrator_set_progress(m, on_progress, NULL);
    CK_OK(db, dal_migrate_redo(db, m));
    ck_assert_str_eq(progress_log, "2d0 2d1 2u0 2u1");
    /* Only the migration redone is applied, not 3 which is pending. */
    ck_assert_str_eq(history(db), "1,2");
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_users"), 1);
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_posts"), 1);

    progress_log[0] = '\0';
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_str_eq(progress_log, "3u0 3u1");
    dal_migrator_free(m);
}
END_TEST

/* ---- failures roll back --------------------------------------------- */

static int fn_fails(dal_db *h, void *arg)
{
    int rc = dal_exec(h, "INSERT INTO mt_log VALUES (40)");

    (void)arg;
    return rc != DAL_OK ? rc : DAL_E_DATA;
}

START_TEST(t_failure_rolls_back)
{
    static const dal_migration v[] = {
        {.version = 1, .name = "create_log",
         .up_sql = "CREATE TABLE mt_log (v BIGINT PRIMARY KEY)",
         .down_sql = "DROP TABLE mt_log"},
        {.version = 2, .name = "two",
         .up_sql = "INSERT INTO mt_log VALUES (2)",
         .down_sql = "DELETE FROM mt_log WHERE v = 2"},
        {.version = 3, .name = "add_dup",
         .up_sql = "CREATE TABLE mt_more (x BIGINT);\n"
                   "INSERT INTO mt_log VALUES (2);\n"
                   "INSERT INTO mt_log VALUES (3);"},
        {.version = 4, .name = "four",
         .up_sql = "INSERT INTO mt_log VALUES (4)"},
    };
    static const dal_migration fnv[] = {
        {.version = 1, .name = "create_log",
         .up_sql = "CREATE TABLE mt_log (v BIGINT PRIMARY KEY)"},
        {.version = 2, .name = "fails", .up = fn_fails},
    };
    dal_migrator *m = c_migrator(v, 4);
    int n = -1;

    CK_RC(db, dal_migrate_up(db, m, 0, &n), DAL_E_CONSTRAINT);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(dal_sqlstate(db), "23505");
    CK_CONTAINS(dal_errmsg(db), "migration 3 (add_dup): ");
    ck_assert_int_eq(dal_tx_depth(db), 0);
    ck_assert_str_eq(history(db), "1,2");
    ck_assert(!table_exists(db, "mt_more"));
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_log"), 1);
    ck_assert_str_eq(status(db, m), "1:A 2:A 3:P 4:P");

    /* Down failing half way is rolled back the same way. */
    CK_OK(db, dal_exec(db, "INSERT INTO mt_log VALUES (7)"));
    CK_OK(db, dal_exec(db, "CREATE TABLE mt_ref (v BIGINT REFERENCES "
                       "mt_log (v))"));
    CK_OK(db, dal_exec(db, "INSERT INTO mt_ref VALUES (2)"));
    CK_RC(db, dal_migrate_down(db, m, 1, 0, &n), DAL_E_CONSTRAINT);
    ck_assert_int_eq(n, 0);
    ck_assert_str_eq(dal_sqlstate(db), "23503");
    CK_CONTAINS(dal_errmsg(db), "migration 2 (two), down: ");
    ck_assert_str_eq(history(db), "1,2");
    dal_migrator_free(m);

    /* A function migration that fails without an error of its own. */
    if (test_backend == BE_POSTGRES)
        pg_clean(db);
    else
        EXEC("DROP TABLE mt_ref; DROP TABLE mt_log; "
             "DROP TABLE dal_migrations");
    m = c_migrator(fnv, 2);
    CK_RC(db, dal_migrate_up(db, m, 0, &n), DAL_E_DATA);
    ck_assert_int_eq(n, 1);
    CK_CONTAINS(dal_errmsg(db), "migration 2 (fails): the up() function "
                "returned 9");
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_log"), 0);
    ck_assert_str_eq(history(db), "1");
    dal_migrator_free(m);
}
END_TEST

/* ---- drift ---------------------------------------------------------- */

START_TEST(t_drift)
{
    static const dal_migration v1[] = {
        {.version = 1, .name = "create_log",
         .up_sql = "CREATE TABLE mt_log (v BIGINT)",
         .down_sql = "DROP TABLE mt_log"},
        {.version = 2, .name = "two",
         .up_sql = "INSERT INTO mt_log VALUES (2)",
         .down_sql = "DELETE FROM mt_log WHERE v = 2"},
        {.version = 3, .name = "three",
         .up_sql = "INSERT INTO mt_log VALUES (3)",
         .down_sql = "DELETE FROM mt_log WHERE v = 3"},
    };
    dal_migration v2[4];
    dal_migrator *m = c_migrator(v1, 3);
    char dir[128], path[256];
    int n = -1;

    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    dal_migrator_free(m);

    /* Migration 2's text changed, and a new one, 4, is pending. */
    memcpy(v2, v1, sizeof v1);
    v2[1].up_sql = "INSERT INTO mt_log VALUES (2) ";
    memset(&v2[3], 0, sizeof v2[3]);
    v2[3].version = 4;
    v2[3].name = "four";
    v2[3].up_sql = "INSERT INTO mt_log VALUES (4)";
    m = c_migrator(v2, 4);
    ck_assert_str_eq(status(db, m), "1:A 2:C 3:A 4:P");
    CK_RC(db, dal_migrate_up(db, m, 0, &n), DAL_E_MISUSE);
    ck_assert_int_eq(n, 0);
    CK_CONTAINS(dal_errmsg(db), "migration 2 (two) changed");
    CK_RC(db, dal_migrate_down(db, m, 1, 0, &n), DAL_E_MISUSE);
    CK_RC(db, dal_migrate_redo(db, m), DAL_E_MISUSE);
    ck_assert_str_eq(history(db), "1,2,3");
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_log"), 2);
    dal_migrator_free(m);

    /* Migration 3 is no longer in the set. */
    m = c_migrator(v1, 2);
    ck_assert_str_eq(status(db, m), "1:A 2:A 3:M");
    ck_assert_str_eq(status_name(db, m, 3), "three");
    CK_RC(db, dal_migrate_up(db, m, 0, &n), DAL_E_MISUSE);
    CK_CONTAINS(dal_errmsg(db), "migration 3 (three) is applied but missing");
    dal_migrator_free(m);

    /* Editing a file is drift too. */
    CK_OK(db, dal_exec(db, "DROP TABLE mt_log"));
    CK_OK(db, dal_exec(db, "DELETE FROM dal_migrations"));
    copy_fixture("basic", dir, sizeof dir);
    m = new_migrator();
    CK_MRC(m, dal_migrator_load_dir(m, dir), DAL_OK);
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    dal_migrator_free(m);
    snprintf(path, sizeof path, "%s/0002_add_posts.up.sql", dir);
    write_file(path, "CREATE TABLE mt_posts (id BIGINT PRIMARY KEY);\n");
    m = new_migrator();
    CK_MRC(m, dal_migrator_load_dir(m, dir), DAL_OK);
    ck_assert_str_eq(status(db, m), "1:A 2:C 3:A");
    CK_RC(db, dal_migrate_up(db, m, 0, &n), DAL_E_MISUSE);
    CK_CONTAINS(dal_errmsg(db), "migration 2 (add_posts) changed");
    dal_migrator_free(m);
    remove_dir(dir);
}
END_TEST

/* ---- no-transaction migrations, per-backend variants ---------------- */

START_TEST(t_no_transaction)
{
    /* Without the marker the same statement fails: it cannot run in a
     * transaction on either backend. */
    static const dal_migration in_tx[] = {
        {.version = 1, .name = "create",
         .up_sql = "CREATE TABLE mt_t (id BIGINT PRIMARY KEY, x BIGINT)"},
        {.version = 2, .name = "index",
         .up_sqlite = "VACUUM",
         .up_postgres = "CREATE INDEX CONCURRENTLY mt_t_x ON mt_t (x)"},
    };
    dal_migration notx[2];
    dal_migrator *m = c_migrator(in_tx, 2);
    int n = -1;

    CK_RC(db, dal_migrate_up(db, m, 0, &n), is_sqlite(db) ? DAL_ERROR
                                                          : DAL_E_TX);
    ck_assert_int_eq(n, 1);
    CK_CONTAINS(dal_errmsg(db), "migration 2 (index): ");
    if (!is_sqlite(db))
        ck_assert_str_eq(dal_sqlstate(db), "25001");
    ck_assert_str_eq(history(db), "1");
    dal_migrator_free(m);

    /* The flag, or (as in files) the first line of the text. */
    memcpy(notx, in_tx, sizeof notx);
    notx[1].up_sqlite = "-- dal: no-transaction\nVACUUM";
    notx[1].no_transaction = !is_sqlite(db);
    m = c_migrator(notx, 2);
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(history(db), "1,2");
    dal_migrator_free(m);

    /* From files, with the "-- dal: no-transaction" first line. */
    if (test_backend == BE_POSTGRES)
        pg_clean(db);
    else
        EXEC("DROP TABLE mt_t; DROP TABLE dal_migrations");
    m = load_fixture("notx");
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 2);
    ck_assert(index_exists(db, "mt_t_x"));
    CK_OK(db, dal_migrate_down(db, m, 1, 0, &n));
    ck_assert_int_eq(n, 1);
    ck_assert(!index_exists(db, "mt_t_x"));
    ck_assert_str_eq(history(db), "1");
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert(index_exists(db, "mt_t_x"));
    ck_assert_str_eq(status(db, m), "1:A 2:A");
    dal_migrator_free(m);
}
END_TEST

START_TEST(t_variants)
{
    dal_migrator *m = load_fixture("variants");
    char want[64];
    char *who = NULL;
    int n;

    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 3);
    CK_OK(db, dal_query_text(db, "SELECT who FROM mt_v WHERE id = 1", NULL,
                             0, &who, NULL));
    ck_assert_str_eq(who, dal_backend(db));
    dal_free(who);
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_v WHERE id = 3 "
                               "AND who = 'portable'"), 1);

    /* 3 has only per-backend down files. */
    CK_OK(db, dal_migrate_down(db, m, 1, 0, &n));
    snprintf(want, sizeof want, "%s down-%s", dal_backend(db),
             dal_backend(db));
    CK_OK(db, dal_query_text(db, "SELECT who FROM mt_v", NULL, 0, &who,
                             NULL));
    ck_assert_str_eq(who, want);
    dal_free(who);
    CK_OK(db, dal_migrate_down(db, m, 0, 0, &n));
    ck_assert_int_eq(n, 2);
    ck_assert(!table_exists(db, "mt_v"));
    dal_migrator_free(m);
}
END_TEST

/* A migration with a variant for the other backend only, and one without
 * a down step. */
START_TEST(t_missing_steps)
{
    static const dal_migration v[] = {
        {.version = 1, .name = "create",
         .up_sql = "CREATE TABLE mt_log (v BIGINT)"},
        {.version = 2, .name = "other_only",
         .up_sqlite = "INSERT INTO mt_log VALUES (2)"},
        {.version = 3, .name = "also_other",
         .up_postgres = "INSERT INTO mt_log VALUES (3)"},
    };
    dal_migrator *m = c_migrator(v, 3);
    int n;

    CK_RC(db, dal_migrate_up(db, m, 0, &n), DAL_E_UNSUPPORTED);
    ck_assert_int_eq(n, is_sqlite(db) ? 2 : 1);
    CK_CONTAINS(dal_errmsg(db), is_sqlite(db)
                ? "migration 3 (also_other) has no up step for sqlite"
                : "migration 2 (other_only) has no up step for postgres");
    ck_assert_str_eq(history(db), is_sqlite(db) ? "1,2" : "1");
    CK_RC(db, dal_migrate_down(db, m, 1, 0, &n), DAL_E_UNSUPPORTED);
    ck_assert_int_eq(n, 0);
    CK_CONTAINS(dal_errmsg(db), "has no down step");
    ck_assert_str_eq(history(db), is_sqlite(db) ? "1,2" : "1");
    dal_migrator_free(m);
}
END_TEST

/* ---- bad input ------------------------------------------------------ */

/* Loading dir fails naming file, and leaves m empty and the database
 * untouched. */
static void check_bad_dir(const char *dir, const char *file,
                          const char *why)
{
    dal_migrator *m = new_migrator();
    int n = -1;

    CK_MRC(m, dal_migrator_load_dir(m, dir), DAL_E_MISUSE);
    CK_CONTAINS(dal_migrator_errmsg(m), file);
    CK_CONTAINS(dal_migrator_errmsg(m), why);
    ck_assert_str_eq(status(db, m), "");
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 0);
    ck_assert(!table_exists(db, "mt_bad"));
    ck_assert(!table_exists(db, "mt_bad2"));
    dal_migrator_free(m);
}

static void check_bad_fixture(const char *name, const char *file,
                              const char *why)
{
    char dir[600];

    fixture_path(dir, sizeof dir, name);
    check_bad_dir(dir, file, why);
}

START_TEST(t_bad_files)
{
    char dir[600], path[700];
    dal_migrator *m;

    check_bad_fixture("bad_name", "bad_name/abc.sql", "malformed");
    check_bad_fixture("bad_noname", "bad_noname/0001.up.sql",
                      "no _name after the version");
    check_bad_fixture("bad_sideways", "bad_sideways/0001_x.sideways.sql",
                      "malformed");
    check_bad_fixture("bad_backend", "0001_x.up.mysql.sql",
                      "unknown suffix");
    check_bad_fixture("version_zero", "0000_zero.up.sql", "version 0");
    check_bad_fixture("dup_version", "0001_beta.up.sql",
                      "version 1 is also used by another migration");
    check_bad_fixture("dup_up", "0001_alpha.up.sql", "a second .up file");
    check_bad_fixture("down_only", "0002_beta.down.sql",
                      "a down file without an up file");
    check_bad_fixture("mixed", "0003_bad.up.sql.sql", "malformed");
    check_bad_dir("/nonexistent/dal-migrations", "/nonexistent/"
                  "dal-migrations", "cannot open the migration directory");

    temp_dir(dir, sizeof dir);
    check_bad_dir(dir, dir, "no migration files");
    snprintf(path, sizeof path, "%s/0001_gone.up.sql", dir);
    ck_assert_int_eq(symlink("/nonexistent/dal-target.sql", path), 0);
    check_bad_dir(dir, "0001_gone.up.sql", "cannot read");
    remove_dir(dir);

    /* A directory cannot be loaded twice: its versions are taken. */
    m = load_fixture("basic");
    fixture_path(dir, sizeof dir, "basic");
    CK_MRC(m, dal_migrator_load_dir(m, dir), DAL_E_MISUSE);
    CK_CONTAINS(dal_migrator_errmsg(m), "already in the migration set");
    ck_assert_str_eq(status(db, m), "1:P 2:P 3:P");
    dal_migrator_free(m);
}
END_TEST

static int fn_nop(dal_db *h, void *arg)
{
    (void)h;
    (void)arg;
    return DAL_OK;
}

START_TEST(t_bad_c_migrations)
{
    static const dal_migration ok = {.version = 5, .name = "ok",
                                     .up_sql = "SELECT 1"};
    dal_migration v[2];
    dal_migrator *m = c_migrator(&ok, 1);
    int n;

    memset(v, 0, sizeof v);
    v[0] = ok;
    v[0].version = 1;
    v[1] = v[0];
    CK_MRC(m, dal_migrator_add(m, v, 2), DAL_E_MISUSE);
    CK_CONTAINS(dal_migrator_errmsg(m), "version 1 is given twice");
    v[1].version = 5;
    CK_MRC(m, dal_migrator_add(m, v, 2), DAL_E_MISUSE);
    CK_CONTAINS(dal_migrator_errmsg(m), "already in the migration set");
    v[1].version = 0;
    CK_MRC(m, dal_migrator_add(m, v, 2), DAL_E_MISUSE);
    CK_CONTAINS(dal_migrator_errmsg(m), "positive");
    v[1].version = 2;
    v[1].name = "";
    CK_MRC(m, dal_migrator_add(m, v, 2), DAL_E_MISUSE);
    CK_CONTAINS(dal_migrator_errmsg(m), "no name");
    v[1].name = "x";
    v[1].up_sql = NULL;
    CK_MRC(m, dal_migrator_add(m, v, 2), DAL_E_MISUSE);
    CK_CONTAINS(dal_migrator_errmsg(m), "has no up step");
    v[1].up_sql = "SELECT 1";
    v[1].up = fn_nop;
    CK_MRC(m, dal_migrator_add(m, v, 2), DAL_E_MISUSE);
    CK_CONTAINS(dal_migrator_errmsg(m), "both SQL and a function");
    CK_MRC(m, dal_migrator_add(m, NULL, 1), DAL_E_MISUSE);
    CK_MRC(m, dal_migrator_add(m, v, -1), DAL_E_MISUSE);
    /* None of it was added. */
    ck_assert_str_eq(status(db, m), "5:P");
    v[1].up = NULL;
    CK_MRC(m, dal_migrator_add(m, v, 2), DAL_OK);
    ck_assert_str_eq(status(db, m), "1:P 2:P 5:P");
    ck_assert_str_eq(dal_migrator_errmsg(m), "");

    dal_migrator_set_lock_timeout(m, -5);
    CK_CONTAINS(dal_migrator_errmsg(m), "negative");

    ck_assert_int_eq(dal_migrator_new(NULL), DAL_E_MISUSE);
    dal_migrator_free(NULL);
    ck_assert_int_eq(dal_migrate_up(NULL, m, 0, &n), DAL_E_MISUSE);
    CK_RC(db, dal_migrate_up(db, NULL, 0, &n), DAL_E_MISUSE);
    CK_RC(db, dal_migrate_status(db, m, NULL, &n), DAL_E_MISUSE);

    /* Migrations run their own transactions. */
    CK_OK(db, dal_begin(db, 0));
    CK_RC(db, dal_migrate_up(db, m, 0, &n), DAL_E_MISUSE);
    CK_CONTAINS(dal_errmsg(db), "a transaction is open");
    CK_OK(db, dal_rollback(db));
    dal_migrator_free(m);
}
END_TEST

/* ---- dry run -------------------------------------------------------- */

static char dry_log[64][512];
static int dry_n;

/* Write each "YYYY-MM-DD HH:MM:SS" in s as TS. */
static void mask_timestamps(char *s)
{
    char one[20];
    size_t i;

    for (i = 0; s[i]; i++) {
        if (strlen(s + i) < 19)
            break;
        memcpy(one, s + i, 19);
        one[19] = '\0';
        if (is_timestamp(one)) {
            s[i] = 'T';
            s[i + 1] = 'S';
            memmove(s + i + 2, s + i + 19, strlen(s + i + 19) + 1);
        }
    }
}

/* Record each statement, with timestamps written as TS. */
static void on_dry(int64_t version, const char *sql, void *arg)
{
    (void)arg;
    ck_assert_int_lt(dry_n, 64);
    snprintf(dry_log[dry_n], sizeof dry_log[0], "%" PRId64 ": %s", version,
             sql);
    mask_timestamps(dry_log[dry_n]);
    dry_n++;
}

static void dry_reset(void)
{
    dry_n = 0;
}

/* The recorded statements equal want[0..n). */
static void check_dry(const char *const *want, int n)
{
    int i;

    for (i = 0; i < n && i < dry_n; i++)
        ck_assert_msg(!strcmp(dry_log[i], want[i]),
                      "dry run statement %d:\n  got  \"%s\"\n  want \"%s\"",
                      i, dry_log[i], want[i]);
    ck_assert_msg(dry_n == n, "dry run: %d statements, want %d (first "
                  "extra: \"%s\")", dry_n, n, dry_n > n ? dry_log[n]
                  : n > dry_n ? want[dry_n] : "");
}

static int fn_log3(dal_db *h, void *arg)
{
    (void)arg;
    return dal_exec(h, "INSERT INTO mt_log VALUES (3)");
}

static int fn_unlog3(dal_db *h, void *arg)
{
    (void)arg;
    return dal_exec(h, "DELETE FROM mt_log WHERE v = 3");
}

#define INS "INSERT INTO dal_migrations (version, name, checksum, " \
            "applied_at, duration_ms) VALUES "
#define SUM1 "3aedbdba3fe8b7a5a998e49e76c28116799fb8cefe775a7019a4a738e9ff100f"
#define SUM2_SQLITE \
    "5af1341a0612ac5547cbbb9c115ab18682a00b1c317c53d374e5dfefa05b3cfd"
#define SUM2_PG \
    "813f685aa57596c7d15dc50eeb3bf32fe18c564b2eaf1261498b3a5f67cf02b4"
/* A function migration's checksum covers "3 quote's". */
#define SUM3 "e6a2344b9af34f4106eb8ca88aedbdc5fde1b6777d67dba47aad724c088c2ec6"

START_TEST(t_dry_run)
{
    static const dal_migration v[] = {
        {.version = 1, .name = "create_log",
         .up_sql = "CREATE TABLE mt_log (v BIGINT PRIMARY KEY);\n"
                   "-- seed\nINSERT INTO mt_log VALUES (1);",
         .down_sql = "DROP TABLE mt_log"},
        {.version = 2, .name = "variant",
         .up_sqlite = "INSERT INTO mt_log VALUES (2)",
         .up_postgres = "INSERT INTO mt_log VALUES (20)",
         .down_sql = "DELETE FROM mt_log WHERE v IN (2, 20)"},
        {.version = 3, .name = "quote's", .up = fn_log3, .down = fn_unlog3},
    };
    const int lite = is_sqlite(db);
    const char *const up_all[] = {
        "1: CREATE TABLE mt_log (v BIGINT PRIMARY KEY)",
        "1: -- seed\nINSERT INTO mt_log VALUES (1)",
        "1: " INS "(1, 'create_log', '" SUM1 "', 'TS', 0)",
        lite ? "2: INSERT INTO mt_log VALUES (2)"
             : "2: INSERT INTO mt_log VALUES (20)",
        lite ? "2: " INS "(2, 'variant', '" SUM2_SQLITE "', 'TS', 0)"
             : "2: " INS "(2, 'variant', '" SUM2_PG "', 'TS', 0)",
        "3: -- up() function of migration 3 (quote's)",
        "3: " INS "(3, 'quote''s', '" SUM3 "', 'TS', 0)",
    };
    const char *const down_all[] = {
        "1: DROP TABLE mt_log",
        "1: DELETE FROM dal_migrations WHERE version = 1",
    };
    const char *const redo[] = {
        "1: DROP TABLE mt_log",
        "1: DELETE FROM dal_migrations WHERE version = 1",
        "1: CREATE TABLE mt_log (v BIGINT PRIMARY KEY)",
        "1: -- seed\nINSERT INTO mt_log VALUES (1)",
        "1: " INS "(1, 'create_log', '" SUM1 "', 'TS', 0)",
    };
    dal_migrator *m = c_migrator(v, 3);
    int n = -1;

    dal_migrator_set_dry_run(m, on_dry, NULL);
    dal_migrator_set_progress(m, on_progress, NULL);
    dry_reset();
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 3);
    check_dry(up_all, 7);
    /* Nothing ran, not even the history table's creation. */
    ck_assert(!table_exists(db, "dal_migrations"));
    ck_assert(!table_exists(db, "mt_log"));
    ck_assert_str_eq(progress_log, "");

    dry_reset();
    CK_OK(db, dal_migrate_up(db, m, 2, &n));
    ck_assert_int_eq(n, 2);
    check_dry(up_all, 5);
    dry_reset();
    CK_OK(db, dal_migrate_down(db, m, 0, 0, &n));
    ck_assert_int_eq(n, 0);
    check_dry(NULL, 0);

    /* Apply 1 for real, then ask again. */
    dal_migrator_set_dry_run(m, NULL, NULL);
    CK_OK(db, dal_migrate_up(db, m, 1, &n));
    ck_assert_int_eq(n, 1);
    dal_migrator_set_dry_run(m, on_dry, NULL);
    dry_reset();
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 2);
    check_dry(up_all + 3, 4);
    dry_reset();
    CK_OK(db, dal_migrate_down(db, m, 0, 0, &n));
    ck_assert_int_eq(n, 1);
    check_dry(down_all, 2);
    dry_reset();
    CK_OK(db, dal_migrate_redo(db, m));
    check_dry(redo, 5);
    ck_assert_str_eq(history(db), "1");
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_log"), 1);

    dal_migrator_set_dry_run(m, NULL, NULL);
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_log"), 3);
    ck_assert_str_eq(status(db, m), "1:A 2:A 3:A");
    dal_migrator_free(m);
}
END_TEST

/* Scripts are split where dal_exec() splits them: a trigger body or a
 * dollar-quoted function body is one statement. */
START_TEST(t_routine_bodies)
{
    dal_migrator *m = load_fixture("routines");
    int n, i, bodies = 0;

    dal_migrator_set_dry_run(m, on_dry, NULL);
    dry_reset();
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    /* Tables, routine(s), INSERT and the history row. */
    ck_assert_int_eq(dry_n, is_sqlite(db) ? 5 : 6);
    for (i = 0; i < dry_n; i++)
        bodies += strstr(dry_log[i], "'a;b');\n    INSERT") != NULL;
    ck_assert_int_eq(bodies, 1);
    dal_migrator_set_dry_run(m, NULL, NULL);
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_r_log"), 2);
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_r_log WHERE "
                               "note = 'a;b'"), 1);
    CK_OK(db, dal_migrate_down(db, m, 0, 0, &n));
    ck_assert_int_eq(n, 1);
    ck_assert(!table_exists(db, "mt_r_log"));
    dal_migrator_free(m);
}
END_TEST

/* SHA-256 against the FIPS 180-2 / NIST vectors and padding edges: a
 * dry run shows each checksum in its history INSERT. */
START_TEST(t_sha256_vectors)
{
    static const struct {
        const char *name;
        size_t n;         /* that many 'a', when text is NULL */
        const char *text;
        const char *sum;
    } vec[] = {
        {"empty", 0, "",
         "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", 0, "abc",
         "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"two_blocks", 0,
         "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"a55", 55, NULL,
         "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {"a56", 56, NULL,
         "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {"a63", 63, NULL,
         "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {"a64", 64, NULL,
         "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {"million_a", 1000000, NULL,
         "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
    };
    enum { NV = sizeof vec / sizeof vec[0] };
    dal_migration v[NV];
    char *texts[NV], want[200];
    dal_migrator *m;
    int i, j, found, n;

    memset(v, 0, sizeof v);
    for (i = 0; i < NV; i++) {
        texts[i] = NULL;
        if (!vec[i].text) {
            texts[i] = malloc(vec[i].n + 1);
            ck_assert_ptr_nonnull(texts[i]);
            memset(texts[i], 'a', vec[i].n);
            texts[i][vec[i].n] = '\0';
        }
        v[i].version = i + 1;
        v[i].name = vec[i].name;
        v[i].up_sql = texts[i] ? texts[i] : vec[i].text;
    }
    m = c_migrator(v, NV);
    dal_migrator_set_dry_run(m, on_dry, NULL);
    dry_reset();
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, NV);
    for (i = 0; i < NV; i++) {
        snprintf(want, sizeof want, "%d: " INS "(%d, '%s', '%s', 'TS', 0)",
                 i + 1, i + 1, vec[i].name, vec[i].sum);
        for (j = found = 0; j < dry_n; j++)
            found |= !strcmp(dry_log[j], want);
        ck_assert_msg(found, "no \"%s\" in the dry run", want);
    }
    dal_migrator_free(m);
    for (i = 0; i < NV; i++)
        free(texts[i]);
}
END_TEST

/* ---- concurrency ---------------------------------------------------- */

#define SLOW_SQLITE \
    "INSERT INTO mt_big WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL " \
    "SELECT x + 1 FROM c WHERE x < 100000) SELECT x FROM c;\n"
#define SLOW_PG "SELECT pg_sleep(0.2);\n"

static const dal_migration conc_v[] = {
    {.version = 1, .name = "create",
     .up_sql = "CREATE TABLE mt_log (v BIGINT);\n"
               "CREATE TABLE mt_big (x BIGINT);\n"
               "INSERT INTO mt_log VALUES (1);"},
    {.version = 2, .name = "slow_two",
     .up_sqlite = SLOW_SQLITE "INSERT INTO mt_log VALUES (2);",
     .up_postgres = SLOW_PG "INSERT INTO mt_log VALUES (2);"},
    {.version = 3, .name = "slow_three",
     .up_sqlite = SLOW_SQLITE "INSERT INTO mt_log VALUES (3);",
     .up_postgres = SLOW_PG "INSERT INTO mt_log VALUES (3);"},
};

static int write_all(int fd, const void *p, size_t n)
{
    return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

/* A child: open a connection, say it is ready, wait for the start, run
 * dal_migrate_up, report how many it applied, exit 0 on success. */
static void child_up(const char *url, int ready_fd, int go_fd, int out_fd)
{
    dal_migrator *m = NULL;
    dal_db *h = NULL;
    int n = 0, rc;
    char c;

    if (dal_open(url, &h) != DAL_OK || dal_migrator_new(&m) != DAL_OK
        || dal_migrator_add(m, conc_v, 3) != DAL_OK)
        _exit(2);
    if (write_all(ready_fd, "r", 1) != 0 || read(go_fd, &c, 1) < 0)
        _exit(3);
    rc = dal_migrate_up(h, m, 0, &n);
    if (rc != DAL_OK)
        fprintf(stderr, "migrate child %ld: %s\n", (long)getpid(),
                dal_errmsg(h));
    if (write_all(out_fd, &n, sizeof n) != 0)
        rc = -1;
    dal_migrator_free(m);
    dal_close(h);
    _exit(rc == DAL_OK ? 0 : 1);
}

START_TEST(t_concurrent_up)
{
    int ready[2], go[2], out[2], i, n, total = 0, status_;
    pid_t pid[2];
    char c;

    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(out), 0);
    /* The children open connections of their own; ours is not shared
     * across fork(). */
    dal_close(db);
    db = NULL;
    fflush(NULL);
    for (i = 0; i < 2; i++) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            close(ready[0]);
            close(go[1]);
            close(out[0]);
            child_up(test_url, ready[1], go[0], out[1]);
        }
    }
    close(ready[1]);
    close(go[0]);
    close(out[1]);
    /* Both are connected and waiting: closing go starts them at once. */
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(go[1]);
    for (i = 0; i < 2; i++) {
        ck_assert_int_eq(waitpid(pid[i], &status_, 0), pid[i]);
        ck_assert_msg(WIFEXITED(status_) && WEXITSTATUS(status_) == 0,
                      "child %d: status 0x%x", i, status_);
    }
    for (i = 0; i < 2; i++) {
        ck_assert_int_eq(read(out[0], &n, sizeof n), (ssize_t)sizeof n);
        total += n;
    }
    close(ready[0]);
    close(out[0]);
    ck_assert_int_eq(total, 3);

    db = open_db(test_url);
    ck_assert_str_eq(history(db), "1,2,3");
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_log"), 3);
    ck_assert_int_eq(query_int(db, "SELECT count(DISTINCT v) FROM mt_log"),
                     3);
    if (is_sqlite(db))
        ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_big"),
                         200000);
}
END_TEST

/* ---- a crash in the middle of a migration --------------------------- */

struct crash_arg {
    int fd;     /* told "s" once the migration has written */
    int block;  /* then sleep instead of finishing */
};

static int fn_crash_up(dal_db *h, void *arg)
{
    struct crash_arg *a = arg;
    int rc = dal_exec(h, "INSERT INTO mt_log VALUES (2)");

    if (rc != DAL_OK || !a->block)
        return rc;
    if (write_all(a->fd, "s", 1) != 0)
        return DAL_ERROR;
    sleep(30);
    return DAL_OK;
}

/* The PostgreSQL blocker sleeps as long as mt_cfg says, so that the run
 * after the crash applies the same text (same checksum) at once. */
#define PG_BLOCKER_SLEEP "SELECT pg_sleep((SELECT s FROM mt_cfg))"

static struct crash_arg crash_arg;
static const dal_migration crash_lite[] = {
    {.version = 1, .name = "create",
     .up_sql = "CREATE TABLE mt_log (v BIGINT)"},
    {.version = 2, .name = "blocker", .up = fn_crash_up, .arg = &crash_arg},
};
static const dal_migration crash_pg[] = {
    {.version = 1, .name = "create",
     .up_sql = "CREATE TABLE mt_log (v BIGINT)"},
    {.version = 2, .name = "blocker",
     .up_sql = "INSERT INTO mt_log VALUES (2);\n" PG_BLOCKER_SLEEP ";\n"
               "INSERT INTO mt_log VALUES (22);"},
};

/* Wait up to ms for fd to be readable. */
static int wait_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, ms) == 1;
}

START_TEST(t_crash)
{
    const int lite = is_sqlite(db);
    const dal_migration *v = lite ? crash_lite : crash_pg;
    char child_url[512];
    dal_migrator *m = c_migrator(v, 2);
    int sig[2], n, status_, i;
    pid_t pid;

    CK_OK(db, dal_migrate_up(db, m, 1, &n));
    dal_migrator_free(m);
    snprintf(child_url, sizeof child_url, "%s", test_url);
    if (!lite) {
        EXEC("CREATE TABLE mt_cfg (s DOUBLE PRECISION)");
        EXEC("INSERT INTO mt_cfg VALUES (30)");
        /* Let the server notice a dead client during pg_sleep at once
         * rather than when the sleep ends (PostgreSQL 14 and later). */
        if (query_int(db, "SELECT current_setting('server_version_num')"
                      "::int") >= 140000)
            snprintf(child_url, sizeof child_url, "%s%c%s", test_url,
                     strchr(test_url, '?') ? '&' : '?',
                     "options=-c%20client_connection_check_interval%3D100");
    }
    ck_assert_int_eq(pipe(sig), 0);
    dal_close(db);
    db = NULL;
    fflush(NULL);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dal_db *h = NULL;
        dal_migrator *cm = NULL;

        close(sig[0]);
        crash_arg.fd = sig[1];
        crash_arg.block = 1;
        if (dal_open(child_url, &h) != DAL_OK
            || dal_migrator_new(&cm) != DAL_OK
            || dal_migrator_add(cm, v, 2) != DAL_OK)
            _exit(2);
        dal_migrate_up(h, cm, 0, &n);
        _exit(3); /* not reached: killed while it sleeps */
    }
    close(sig[1]);
    db = open_db(test_url);
    if (lite) {
        ck_assert_msg(wait_readable(sig[0], 30000), "the child never "
                      "reached its migration");
    } else {
        for (i = 0; i < 600; i++) {
            if (query_int(db, "SELECT count(*) FROM pg_stat_activity WHERE "
                          "state = 'active' AND pid <> pg_backend_pid() "
                          "AND query LIKE '%" PG_BLOCKER_SLEEP "%'") > 0)
                break;
            nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
        }
        ck_assert_msg(i < 600, "the child never reached its pg_sleep");
    }
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &status_, 0), pid);
    ck_assert(WIFSIGNALED(status_) && WTERMSIG(status_) == SIGKILL);
    close(sig[0]);

    /* Nothing of migration 2 is visible. */
    ck_assert_str_eq(history(db), "1");
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_log"), 0);

    /* A new run applies it; on PostgreSQL it first waits (bounded by the
     * lock timeout) until the server has ended the dead session and
     * released its lock. */
    if (!lite)
        EXEC("UPDATE mt_cfg SET s = 0");
    crash_arg.block = 0;
    m = c_migrator(v, 2);
    dal_migrator_set_lock_timeout(m, 60000);
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(history(db), "1,2");
    ck_assert_int_eq(query_int(db, "SELECT count(*) FROM mt_log"),
                     lite ? 1 : 2);
    ck_assert_str_eq(status(db, m), "1:A 2:A");
    dal_migrator_free(m);
}
END_TEST

/* ---- lock timeout --------------------------------------------------- */

START_TEST(t_lock_timeout)
{
    static const dal_migration v[] = {
        {.version = 1, .name = "create",
         .up_sql = "CREATE TABLE mt_log (v BIGINT)"},
    };
    const int lite = is_sqlite(db);
    dal_migrator *m = c_migrator(v, 1);
    dal_db *other = open_db(test_url);
    struct timespec t0, t1;
    int n = -1;

    if (lite)
        CK_OK(other, dal_begin(other, DAL_TX_IMMEDIATE));
    else
        ck_assert_int_eq(query_int(other, "SELECT CASE WHEN "
                                   "pg_try_advisory_lock(" PG_LOCK_KEY ") "
                                   "THEN 1 ELSE 0 END"), 1);
    dal_migrator_set_lock_timeout(m, 200);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CK_RC(db, dal_migrate_up(db, m, 0, &n), DAL_E_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_eq(n, 0);
    CK_CONTAINS(dal_errmsg(db), "dal_migrate_up: timed out after 200 ms "
                "waiting for the");
    CK_CONTAINS(dal_errmsg(db), lite ? "write lock" : "migration lock");
    ck_assert_int_eq(dal_tx_depth(db), 0);
    /* Informational only: timing is never asserted. */
    if (getenv("DAL_TEST_VERBOSE"))
        printf("lock timeout after %.0f ms\n",
               (double)(t1.tv_sec - t0.tv_sec) * 1e3
               + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    /* The run gave back what it changed: SQLite's busy timeout. */
    if (lite)
        ck_assert_int_eq(query_int(db, "PRAGMA busy_timeout"), 5000);
    ck_assert_str_eq(history(db), "-");

    if (lite)
        CK_OK(other, dal_rollback(other));
    else
        CK_OK(other, dal_exec(other, "SELECT pg_advisory_unlock("
                              PG_LOCK_KEY ")"));
    CK_OK(db, dal_migrate_up(db, m, 0, &n));
    ck_assert_int_eq(n, 1);
    /* The run released its own lock: another session can take it. */
    if (!lite) {
        ck_assert_int_eq(query_int(other, "SELECT CASE WHEN "
                                   "pg_try_advisory_lock(" PG_LOCK_KEY ") "
                                   "THEN 1 ELSE 0 END"), 1);
        CK_OK(other, dal_exec(other, "SELECT pg_advisory_unlock("
                              PG_LOCK_KEY ")"));
    }
    dal_close(other);
    dal_migrator_free(m);
}
END_TEST

/* ---- out of memory -------------------------------------------------- */

static long nm_fail_at;  /* fail this allocation (1-based); 0: none */
static long nm_count;    /* allocations since counting started */
static long nm_live;     /* blocks handed out and not freed */

static void *nm_malloc(size_t n)
{
    void *p;

    if (nm_fail_at && ++nm_count == nm_fail_at)
        return NULL;
    p = malloc(n);
    if (p)
        nm_live++;
    return p;
}

static void *nm_realloc(void *old, size_t n)
{
    void *p;

    if (nm_fail_at && ++nm_count == nm_fail_at)
        return NULL;
    p = realloc(old, n);
    if (p && !old)
        nm_live++;
    return p;
}

static void nm_free(void *p)
{
    if (p)
        nm_live--;
    free(p);
}

#define NM_OK(rc) ck_assert_msg((rc) == DAL_OK || (rc) == DAL_NOMEM, \
                                "allocation %ld: %s -> %d (%s)", k, #rc, \
                                (rc), dal_errstr(rc))

START_TEST(t_nomem)
{
    char dir[600];
    long k, before;
    int hit = 1;

    fixture_path(dir, sizeof dir, "basic");
    dal_close(db);
    db = NULL;
    ck_assert_int_eq(dal_set_allocator(nm_malloc, nm_realloc, nm_free),
                     DAL_OK);
    for (k = 1; hit; k++) {
        dal_migration_status *list = NULL;
        dal_migrator *m = NULL;
        dal_db *h;
        int rc, n = 0, rc_new, rc_load, rc_up, rc_st, rc_down, rc_dry;

        before = nm_live;
        h = open_db("sqlite::memory:");
        nm_count = 0;
        nm_fail_at = k;
        rc_new = dal_migrator_new(&m);
        rc_load = m ? dal_migrator_load_dir(m, dir) : DAL_NOMEM;
        rc_up = m ? dal_migrate_up(h, m, 0, &n) : DAL_NOMEM;
        rc_st = m ? dal_migrate_status(h, m, &list, &n) : DAL_NOMEM;
        if (rc_st == DAL_OK)
            dal_migrate_status_free(list, n);
        rc_down = m ? dal_migrate_down(h, m, 1, 0, &n) : DAL_NOMEM;
        if (m)
            dal_migrator_set_dry_run(m, on_dry, NULL);
        dry_reset();
        rc_dry = m ? dal_migrate_redo(h, m) : DAL_NOMEM;
        hit = nm_count >= k;
        nm_fail_at = 0;
        NM_OK(rc_new);
        NM_OK(rc_load);
        NM_OK(rc_up);
        NM_OK(rc_st);
        NM_OK(rc_down);
        ck_assert_msg(rc_dry == DAL_OK || rc_dry == DAL_NOMEM
                      || rc_dry == DAL_E_MISUSE, "allocation %ld: dry "
                      "redo -> %d", k, rc_dry);
        /* Whatever failed, the database is consistent and a run without
         * failures finishes the job. */
        ck_assert_int_eq(dal_tx_depth(h), 0);
        if (rc_load != DAL_OK) {
            dal_migrator_free(m);
            m = NULL;
            CK_OK(h, dal_migrator_new(&m));
            CK_MRC(m, dal_migrator_load_dir(m, dir), DAL_OK);
        }
        dal_migrator_set_dry_run(m, NULL, NULL);
        rc = dal_migrate_up(h, m, 0, &n);
        ck_assert_msg(rc == DAL_OK, "allocation %ld: up after the "
                      "failure: %s", k, dal_errmsg(h));
        ck_assert_str_eq(history(h), "1,2,3");
        dal_migrator_free(m);
        dal_close(h);
        ck_assert_msg(nm_live == before, "allocation %ld: %ld blocks "
                      "leaked", k, nm_live - before);
    }
    ck_assert_int_eq(dal_set_allocator(NULL, NULL, NULL), DAL_OK);
    if (getenv("DAL_TEST_VERBOSE"))
        printf("nomem: failed each of %ld allocations in turn\n", k - 1);
    db = open_db("sqlite::memory:");
}
END_TEST

/* ---- suites --------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *backend_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "updown");
    tcase_add_test(tc, t_up_down_up);
    tcase_add_test(tc, t_roundtrip_schema);
    tcase_add_test(tc, t_auto_migrate);
    tcase_add_test(tc, t_targets);
    tcase_add_test(tc, t_redo);
    tc = tcase(s, "failure");
    tcase_add_test(tc, t_failure_rolls_back);
    tcase_add_test(tc, t_missing_steps);
    tc = tcase(s, "drift");
    tcase_add_test(tc, t_drift);
    tc = tcase(s, "variants");
    tcase_add_test(tc, t_no_transaction);
    tcase_add_test(tc, t_variants);
    tcase_add_test(tc, t_routine_bodies);
    tc = tcase(s, "badinput");
    tcase_add_test(tc, t_bad_files);
    tcase_add_test(tc, t_bad_c_migrations);
    tc = tcase(s, "dryrun");
    tcase_add_test(tc, t_dry_run);
    tc = tcase(s, "concurrency");
    tcase_add_test(tc, t_concurrent_up);
    tcase_add_test(tc, t_crash);
    tcase_add_test(tc, t_lock_timeout);
    return s;
}

static Suite *unit_suite(void)
{
    Suite *s = suite_create("migrate[unit]");
    TCase *tc;

    tc = tcase(s, "sha256");
    tcase_add_test(tc, t_sha256_vectors);
    tc = tcase(s, "nomem");
    tcase_add_test(tc, t_nomem);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "migrate[unit]", "migrate[sqlite-file]", "migrate[postgres]",
    };
    size_t len;
    int kind, failed = 0;

    main_pid = (long)getpid();
    /* The fixtures sit next to this file: tests/migrate.c -> tests/migrate */
    snprintf(fixtures, sizeof fixtures, "%s", __FILE__);
    len = strlen(fixtures);
    if (len > 2 && !strcmp(fixtures + len - 2, ".c"))
        fixtures[len - 2] = '\0';
    pg_url = getenv("DAL_TEST_PG_URL");
    if (!pg_url || !pg_url[0]) {
        printf("migrate: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
        pg_url = NULL;
    }
    for (kind = BE_UNIT; kind <= BE_POSTGRES; kind++) {
        SRunner *sr;

        if (kind == BE_POSTGRES && !pg_url)
            break;
        test_backend = (enum backend)kind;
        fflush(stdout);
        sr = srunner_create(kind == BE_UNIT ? unit_suite()
                            : backend_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_temp_files();
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
