/*
 * tests/guard.c - the guard rails and the audit trail (include/dal/
 * guard.h): each guard's refusal (code, SQLSTATE, a message naming the
 * guard) with proof that nothing ran, the timeout on a slow query, the
 * rate limit on an injected clock, and the audit records through both
 * sinks. One set of tests on every backend:
 *   guard[sqlite-mem]   sqlite::memory:
 *   guard[sqlite-file]  sqlite:///tmp/... (a fresh file per test)
 *   guard[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 *
 * Run:  tests/pg/with-pg.sh build/tests/guard
 * CK_RUN_SUITE='guard[postgres]' and CK_RUN_CASE=audit narrow a run;
 * CK_FORK=no runs in one process (for gdb and valgrind).
 *
 * main() installs a counting allocator before any other libdal call;
 * teardown checks that libdal holds as many blocks once the test's
 * connections, observer, guards and audit trails are freed as before.
 * The same allocator fails the N-th allocation for the nomem tests.
 *
 * Each test builds its observer first and opens the test's connection
 * with it (dal_open_observed), so that sqlite::memory: keeps one
 * database. PostgreSQL tables (g_*) are dropped first on a plain
 * connection.
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
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

/* What the test made; teardown frees it. */
static dal_db *db;
static dal_observer *obs;
static dal_guard *guard;
static dal_audit *audit;

/* ---- counting allocator ---------------------------------------------- */

static long live_blocks;
static long base_blocks;
static long fail_at;
static long fail_seq;
static int fail_hit;
static pthread_mutex_t alloc_mu = PTHREAD_MUTEX_INITIALIZER;

static int inject_failure(void)
{
    if (fail_at <= 0 || ++fail_seq != fail_at)
        return 0;
    fail_hit = 1;
    return 1;
}

static void *c_malloc(size_t n)
{
    void *p;

    pthread_mutex_lock(&alloc_mu);
    p = inject_failure() ? NULL : malloc(n);
    if (p)
        live_blocks++;
    pthread_mutex_unlock(&alloc_mu);
    return p;
}

static void *c_realloc(void *p, size_t n)
{
    void *q;

    pthread_mutex_lock(&alloc_mu);
    q = inject_failure() ? NULL : realloc(p, n);
    if (q && !p)
        live_blocks++;
    pthread_mutex_unlock(&alloc_mu);
    return q;
}

static void c_free(void *p)
{
    pthread_mutex_lock(&alloc_mu);
    if (p)
        live_blocks--;
    pthread_mutex_unlock(&alloc_mu);
    free(p);
}

static void nomem_arm(long n)
{
    fail_seq = 0;
    fail_hit = 0;
    fail_at = n;
}

/* ---- helpers --------------------------------------------------------- */

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

#define CK_RC_ON(d, expr, want) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "line %d: %s -> %d (%s), want %d (%s): " \
                  "[%s] %s", __LINE__, #expr, rc_, dal_errstr(rc_), \
                  (want), dal_errstr(want), S(dal_sqlstate(d)), \
                  S(dal_errmsg(d))); \
} while (0)
#define CK_OK(expr) CK_RC_ON(db, expr, DAL_OK)

/* expr fails with code on d, SQLSTATE state and a message containing
 * needle. */
#define CK_ERR_ON(d, expr, code, state, needle) \
    ck_err_at((d), (expr), (code), (state), (needle), #expr, __LINE__)
#define CK_ERR(expr, code, state, needle) \
    CK_ERR_ON(db, expr, code, state, needle)

static void ck_err_at(dal_db *d, int rc, int code, const char *state,
                      const char *needle, const char *what, int line)
{
    const char *msg = dal_errmsg(d), *st = dal_sqlstate(d);
    int ec = dal_errcode(d);

    ck_assert_msg(rc == code && ec == code,
                  "line %d: %s -> %d (%s), errcode %d; want %d (%s): "
                  "[%s] %s", line, what, rc, dal_errstr(rc), ec, code,
                  dal_errstr(code), S(st), S(msg));
    ck_assert_msg(st != NULL && strcmp(st, state) == 0,
                  "line %d: %s: sqlstate %s, want %s: %s", line, what,
                  S(st), state, S(msg));
    ck_assert_msg(msg != NULL && strstr(msg, needle) != NULL,
                  "line %d: %s: message does not name \"%s\": %s",
                  line, what, needle, S(msg));
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

static char *qtext(const char *sql)
{
    char *s = NULL;
    int rc = dal_query_text(db, sql, NULL, 0, &s, NULL);

    ck_assert_msg(rc == DAL_OK, "%s -> %d: %s", sql, rc, S(dal_errmsg(db)));
    return s;
}

/* Drop tables on a plain connection (PostgreSQL keeps them). */
static void fresh(const char *const *names, int n)
{
    dal_db *d = NULL;
    char sql[256];
    int i, rc;

    if (!is_pg())
        return;
    rc = dal_open(test_url, &d);
    ck_assert_msg(rc == DAL_OK, "dal_open -> %d", rc);
    CK_RC_ON(d, dal_exec(d, "SET client_min_messages = warning"), DAL_OK);
    for (i = 0; i < n; i++) {
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", names[i]);
        CK_RC_ON(d, dal_exec(d, sql), DAL_OK);
    }
    dal_close(d);
}
#define FRESH(...) fresh((const char *const[]){__VA_ARGS__}, \
    (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)))

/* A new observer in obs. */
static void new_observer(void)
{
    CK_OK(dal_observer_new(&obs));
}

static void add_guard(const dal_guard_opts *o)
{
    if (!obs)
        new_observer();
    CK_OK(dal_guard_add(obs, o, &guard));
    ck_assert_ptr_nonnull(guard);
}

/* Open the test's connection with obs attached. */
static void open_db(void)
{
    int rc = dal_open_observed(test_url, obs, &db);

    ck_assert_msg(rc == DAL_OK, "dal_open_observed(%s) -> %d: %s", test_url,
                  rc, db ? S(dal_errmsg(db)) : "(no handle)");
    if (is_pg())
        EXEC("SET client_min_messages = warning");
}

/* ---- fixture --------------------------------------------------------- */

static void sweep_temp_files(void)
{
    char prefix[64], path[512];
    struct dirent *e;
    DIR *d = opendir("/tmp");

    if (d == NULL)
        return;
    snprintf(prefix, sizeof prefix, "dal-guard-%ld-", main_pid);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            unlink(path);
        }
    closedir(d);
}

static void remove_db_files(const char *path)
{
    char buf[200];

    unlink(path);
    snprintf(buf, sizeof buf, "%s-journal", path);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s-wal", path);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s-shm", path);
    unlink(buf);
}

static void setup(void)
{
    base_blocks = live_blocks;
    fail_at = 0;
    db = NULL;
    obs = NULL;
    guard = NULL;
    audit = NULL;
    if (test_backend == BE_SQLITE_FILE) {
        int fd;

        snprintf(file_path, sizeof file_path, "/tmp/dal-guard-%ld-XXXXXX",
                 main_pid);
        fd = mkstemp(file_path);
        ck_assert_msg(fd >= 0, "mkstemp failed");
        close(fd);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
        test_url = file_url;
    }
}

static void release_all(void)
{
    dal_close(db);
    db = NULL;
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
    obs = NULL;
    dal_guard_free(guard);
    guard = NULL;
    dal_audit_free(audit);
    audit = NULL;
}

static void teardown(void)
{
    fail_at = 0;
    release_all();
    if (test_backend == BE_SQLITE_FILE)
        remove_db_files(file_path);
    ck_assert_msg(live_blocks == base_blocks,
                  "libdal holds %ld blocks after the test, %ld before",
                  live_blocks, base_blocks);
}

/* ---- options --------------------------------------------------------- */

START_TEST(t_options)
{
    dal_guard_opts none = {0}, bad = {0};
    dal_audit_opts an = {0};
    dal_guard *g = (dal_guard *)1;
    dal_audit *a = (dal_audit *)1;

    new_observer();
    /* No rule, no sink: nothing to do is a mistake. */
    ck_assert_int_eq(dal_guard_add(obs, &none, &g), DAL_E_MISUSE);
    ck_assert_ptr_null(g);
    ck_assert_int_eq(dal_audit_add(obs, &an, &a), DAL_E_MISUSE);
    ck_assert_ptr_null(a);
    bad.max_params = -1;
    ck_assert_int_eq(dal_guard_add(obs, &bad, &g), DAL_E_MISUSE);
    bad.max_params = 0;
    bad.rate = -1;
    ck_assert_int_eq(dal_guard_add(obs, &bad, &g), DAL_E_MISUSE);
    bad.rate = 5;
    bad.burst = 0.5;
    ck_assert_int_eq(dal_guard_add(obs, &bad, &g), DAL_E_MISUSE);
    bad.rate = 0;
    bad.burst = 0;
    bad.timeout_ms = -5;
    ck_assert_int_eq(dal_guard_add(obs, &bad, &g), DAL_E_MISUSE);
    ck_assert_int_eq(dal_guard_add(NULL, &none, &g), DAL_E_MISUSE);
    an.table = "bad name";
    ck_assert_int_eq(dal_audit_add(obs, &an, &a), DAL_E_MISUSE);
    an.table = "1abc";
    ck_assert_int_eq(dal_audit_add(obs, &an, &a), DAL_E_MISUSE);
    ck_assert_int_eq(dal_audit_failures(NULL), 0);
    dal_guard_free(NULL);
    dal_audit_free(NULL);
    /* Adding to an attached observer is refused, and frees what it
     * made. */
    none.require_where = 1;
    add_guard(&none);
    open_db();
    ck_assert_int_eq(dal_guard_add(obs, &none, &g), DAL_E_MISUSE);
    ck_assert_ptr_null(g);
    an.table = "g_audit";
    ck_assert_int_eq(dal_audit_add(obs, &an, &a), DAL_E_MISUSE);
    ck_assert_ptr_null(a);
}
END_TEST

/* ---- 1: scripts ------------------------------------------------------ */

static const dal_migration script_migration = {
    .version = 1, .name = "two statements",
    .up_sql = "CREATE TABLE g_m (x INT); INSERT INTO g_m VALUES (1)",
    .down_sql = "DROP TABLE g_m",
};

START_TEST(t_scripts)
{
    dal_guard_opts o = {0};
    dal_migrator *m = NULL;

    FRESH("g_s", "g_m", "dal_migrations");
    o.refuse_scripts = 1;
    add_guard(&o);
    open_db();
    EXEC("CREATE TABLE g_s (x INT)");
    CK_ERR(dal_exec(db, "INSERT INTO g_s VALUES (1); "
                        "INSERT INTO g_s VALUES (2)"),
           DAL_E_REFUSED, "42501", "guard 'scripts'");
    /* Nothing ran, not even the first statement. */
    ck_assert_int_eq(qint("SELECT count(*) FROM g_s"), 0);
    /* A trailing ';' or comment does not make a script. */
    EXEC("INSERT INTO g_s VALUES (3);");
    EXEC("INSERT INTO g_s VALUES (4); -- a comment");
    ck_assert_int_eq(qint("SELECT count(*) FROM g_s"), 2);

    /* Migrations are scripts: exempt. */
    CK_OK(dal_migrator_new(&m));
    CK_OK(dal_migrator_add(m, &script_migration, 1));
    CK_OK(dal_migrate_up(db, m, 0, NULL));
    ck_assert_int_eq(qint("SELECT count(*) FROM g_m"), 1);
    dal_migrator_free(m);
}
END_TEST

START_TEST(t_scripts_in_migrations)
{
    dal_guard_opts o = {0};
    dal_migrator *m = NULL;
    int rc;

    FRESH("g_m", "dal_migrations");
    o.refuse_scripts = 1;
    o.scripts_in_migrations = 1;
    add_guard(&o);
    open_db();
    CK_OK(dal_migrator_new(&m));
    CK_OK(dal_migrator_add(m, &script_migration, 1));
    rc = dal_migrate_up(db, m, 0, NULL);
    dal_migrator_free(m);
    CK_ERR(rc, DAL_E_REFUSED, "42501", "guard 'scripts'");
    /* The migration's first statement did not run. */
    CK_ERR(dal_exec(db, "SELECT * FROM g_m"), DAL_E_SYNTAX, "42P01", "g_m");
}
END_TEST

/* ---- 2: UPDATE / DELETE without WHERE --------------------------------- */

static void fill_w(void)
{
    EXEC("DELETE FROM g_w");
    EXEC("INSERT INTO g_w (id, v) VALUES (1, 10), (2, 20), (3, 30)");
}

START_TEST(t_require_where)
{
    dal_guard_opts o = {0};
    dal_query *q;
    dal_stmt *st = NULL;

    FRESH("g_w");
    o.require_where = 1;
    add_guard(&o);
    open_db();
    EXEC("CREATE TABLE g_w (id INT PRIMARY KEY, v INT)");
    fill_w();

    /* AST DELETE without WHERE: refused, the table intact. */
    q = dal_delete("g_w");
    CK_ERR(dal_query_exec(db, q), DAL_E_REFUSED, "42501",
           "guard 'require_where'");
    ck_assert_msg(strstr(dal_errmsg(db), "DELETE") != NULL, "%s",
                  dal_errmsg(db));
    dal_query_free(q);
    ck_assert_int_eq(qint("SELECT count(*) FROM g_w"), 3);

    /* AST UPDATE without WHERE, prepared: refused at the first step. */
    q = dal_update("g_w");
    dal_q_set(q, "v", dal_int(0));
    CK_OK(dal_query_prepare(db, q, &st));
    CK_ERR(dal_step(st), DAL_E_REFUSED, "42501", "UPDATE");
    dal_finalize(st);
    dal_query_free(q);
    ck_assert_int_eq(qint("SELECT sum(v) FROM g_w"), 60);

    /* With a WHERE it runs. */
    q = dal_delete("g_w");
    dal_q_where(q, dal_eq(dal_col("id"), dal_int(1)));
    CK_OK(dal_query_exec(db, q));
    dal_query_free(q);
    ck_assert_int_eq(dal_changes(db), 1);
    ck_assert_int_eq(qint("SELECT count(*) FROM g_w"), 2);

    /* The same statement text, once allowed and once not: the flag is
     * the run's own, not the cached statement's. */
    q = dal_update("g_w");
    dal_q_set(q, "v", dal_int(7));
    dal_q_allow_all(q);
    CK_OK(dal_query_exec(db, q));
    dal_query_free(q);
    ck_assert_int_eq(qint("SELECT sum(v) FROM g_w"), 14);
    q = dal_update("g_w");
    dal_q_set(q, "v", dal_int(7));
    CK_ERR(dal_query_exec(db, q), DAL_E_REFUSED, "42501",
           "guard 'require_where'");
    dal_query_free(q);

    /* With the opt-in, DELETE of every row runs. */
    q = dal_delete("g_w");
    dal_q_allow_all(q);
    CK_OK(dal_query_exec(db, q));
    dal_query_free(q);
    ck_assert_int_eq(qint("SELECT count(*) FROM g_w"), 0);

    /* Raw SQL is not this guard's business. */
    fill_w();
    EXEC("UPDATE g_w SET v = 1");
    ck_assert_int_eq(qint("SELECT sum(v) FROM g_w"), 3);

    /* dal_q_allow_all on a SELECT is a building error. */
    q = dal_select(dal_star());
    dal_q_from(q, "g_w");
    dal_q_allow_all(q);
    ck_assert_int_eq(dal_query_prepare(db, q, &st), DAL_E_MISUSE);
    ck_assert_ptr_nonnull(strstr(dal_errmsg(db), "dal_q_allow_all"));
    dal_query_free(q);
}
END_TEST

/* ---- 3: limits ------------------------------------------------------- */

START_TEST(t_limits)
{
    dal_guard_opts o = {0};
    char long_sql[200];
    dal_value p3[3], p2[2];

    FRESH("g_l");
    o.max_sql_len = 80;
    o.max_params = 2;
    add_guard(&o);
    open_db();
    EXEC("CREATE TABLE g_l (a INT, b INT, c INT)");
    snprintf(long_sql, sizeof long_sql, "INSERT INTO g_l (a, b, c) VALUES "
             "(1, 2, 3) /* %s */", "padding padding padding padding "
             "padding padding");
    ck_assert_int_gt((int)strlen(long_sql), 80);
    CK_ERR(dal_exec(db, long_sql), DAL_E_REFUSED, "54000",
           "guard 'max_sql_len'");
    ck_assert_int_eq(qint("SELECT count(*) FROM g_l"), 0);

    p3[0] = DAL_V_INT64(1);
    p3[1] = DAL_V_INT64(2);
    p3[2] = DAL_V_INT64(3);
    CK_ERR(dal_exec_params(db, "INSERT INTO g_l VALUES (?, ?, ?)", p3, 3),
           DAL_E_REFUSED, "54000", "guard 'max_params'");
    ck_assert_ptr_nonnull(strstr(dal_errmsg(db), "3 parameters"));
    ck_assert_int_eq(qint("SELECT count(*) FROM g_l"), 0);

    p2[0] = DAL_V_INT64(1);
    p2[1] = DAL_V_INT64(2);
    CK_OK(dal_exec_params(db, "INSERT INTO g_l VALUES (?, ?, 3)", p2, 2));
    ck_assert_int_eq(qint("SELECT count(*) FROM g_l"), 1);
    /* Exactly at the limit passes. */
    ck_assert_int_eq(qint("SELECT count(*) FROM g_l WHERE a = 1 AND b = "
                          "2 AND c = 3 AND 1 = 1"), 1);
}
END_TEST

/* ---- 4: timeout ------------------------------------------------------ */

static const char slow_sqlite[] =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 1000000000) SELECT count(*) FROM c";

static const char *slow_sql(void)
{
    return is_pg() ? "SELECT pg_sleep(30)" : slow_sqlite;
}

START_TEST(t_timeout)
{
    dal_guard_opts o = {0};
    int64_t v;

    o.timeout_ms = 100;
    add_guard(&o);
    open_db();
    CK_ERR(dal_query_int64(db, slow_sql(), NULL, 0, &v), DAL_E_TIMEOUT,
           "57014", "guard 'timeout'");
    /* The connection goes on; the next statement has its own time. */
    ck_assert_int_eq(qint("SELECT 41 + 1"), 42);
    CK_ERR(dal_query_int64(db, slow_sql(), NULL, 0, &v), DAL_E_TIMEOUT,
           "57014", "statement timeout");
    if (is_pg()) {
        char *s = qtext("SHOW statement_timeout");

        ck_assert_str_eq(s, "100ms");
        dal_free(s);
        /* A cancel is 57014 too, but not a timeout. */
        CK_ERR(dal_query_int64(db, "SELECT CASE WHEN pg_cancel_backend("
                               "pg_backend_pid()) THEN pg_sleep(5)::text::"
                               "int ELSE 0 END", NULL, 0, &v),
               DAL_E_CANCELED, "57014", "user request");
    }
    /* Inside a transaction: the statement fails, the rollback works. */
    CK_OK(dal_begin(db, 0));
    CK_ERR(dal_query_int64(db, slow_sql(), NULL, 0, &v), DAL_E_TIMEOUT,
           "57014", "guard 'timeout'");
    CK_OK(dal_rollback(db));
    ck_assert_int_eq(qint("SELECT 1"), 1);
    /* Detached, the limit is gone. */
    CK_OK(dal_observe(db, NULL));
    if (is_pg()) {
        char *s = qtext("SHOW statement_timeout");

        ck_assert_str_eq(s, "0");
        dal_free(s);
        ck_assert_int_eq(qint("SELECT 1 FROM pg_sleep(0.3)"), 1);
    } else {
        ck_assert_int_eq(qint("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                              "SELECT x + 1 FROM c WHERE x < 3000000) "
                              "SELECT count(*) FROM c"), 3000000);
    }
}
END_TEST

/* ---- 5: rate limit --------------------------------------------------- */

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
    ck_assert_ptr_eq(ctx, &fake_now);
    return fake_now;
}

START_TEST(t_rate_limit)
{
    dal_guard_opts o = {0};
    dal_db *d2 = NULL, *d3 = NULL;

    FRESH("g_r");
    fake_now = 1000000000;
    o.rate = 10;   /* one statement per 100 ms */
    o.burst = 2;
    o.clock_ns = fake_clock;
    o.clock_ctx = &fake_now;
    add_guard(&o);
    open_db();
    /* The set-up statements run without a tenant, in the shared bucket:
     * move time on so that it is full again. */
    EXEC("CREATE TABLE g_r (x INT)");
    fake_now += INT64_C(10000000000);
    CK_OK(dal_set_tenant(db, "acme"));
    EXEC("INSERT INTO g_r VALUES (1)");
    EXEC("INSERT INTO g_r VALUES (2)");
    CK_ERR(dal_exec(db, "INSERT INTO g_r VALUES (3)"), DAL_E_RATE_LIMITED,
           "53400", "guard 'rate_limit'");
    ck_assert_ptr_nonnull(strstr(dal_errmsg(db), "'acme'"));
    /* Transaction control is not counted: a transaction can end. */
    CK_OK(dal_begin(db, 0));
    CK_OK(dal_commit(db));
    /* 50 ms: half a token, still refused; 100 ms: one more. */
    fake_now += 50000000;
    CK_ERR(dal_exec(db, "INSERT INTO g_r VALUES (4)"), DAL_E_RATE_LIMITED,
           "53400", "guard 'rate_limit'");
    fake_now += 50000000;
    EXEC("INSERT INTO g_r VALUES (5)");
    /* The refill stops at the burst. */
    fake_now += INT64_C(60000000000);
    EXEC("INSERT INTO g_r VALUES (6)");
    EXEC("INSERT INTO g_r VALUES (7)");
    CK_ERR(dal_exec(db, "INSERT INTO g_r VALUES (8)"), DAL_E_RATE_LIMITED,
           "53400", "guard 'rate_limit'");

    /* Another tenant has its own bucket, on another connection too;
     * the same tenant's bucket is shared across connections. */
    CK_RC_ON(d2, dal_open_observed(test_url, obs, &d2), DAL_OK);
    CK_RC_ON(d2, dal_set_tenant(d2, "globex"), DAL_OK);
    ck_assert_int_eq(qint_on(d2, "SELECT 1"), 1);
    ck_assert_int_eq(qint_on(d2, "SELECT 2"), 2);
    CK_ERR_ON(d2, dal_exec(d2, "SELECT 3"), DAL_E_RATE_LIMITED, "53400",
              "'globex'");
    CK_RC_ON(d2, dal_set_tenant(d2, "acme"), DAL_OK);
    CK_ERR_ON(d2, dal_exec(d2, "SELECT 3"), DAL_E_RATE_LIMITED, "53400",
              "'acme'");
    /* Connections without a tenant share one bucket. */
    CK_RC_ON(d3, dal_open_observed(test_url, obs, &d3), DAL_OK);
    CK_RC_ON(d2, dal_set_tenant(d2, NULL), DAL_OK);
    ck_assert_int_eq(qint_on(d2, "SELECT 1"), 1);
    ck_assert_int_eq(qint_on(d3, "SELECT 1"), 1);
    CK_ERR_ON(d3, dal_exec(d3, "SELECT 3"), DAL_E_RATE_LIMITED, "53400",
              "(none)");
    CK_ERR_ON(d2, dal_exec(d2, "SELECT 3"), DAL_E_RATE_LIMITED, "53400",
              "(none)");
    dal_close(d2);
    dal_close(d3);

    /* Nothing refused ran: rows 1, 2, 5, 6, 7. */
    fake_now += INT64_C(60000000000);
    ck_assert_int_eq(qint("SELECT count(*) FROM g_r"), 5);
    fake_now += INT64_C(60000000000);
    ck_assert_int_eq(qint("SELECT sum(x) FROM g_r"), 21);
}
END_TEST

/* Threads on connections of one tenant: exactly burst statements pass
 * while the clock stands still. */
#define NTHREADS 4
#define PER_THREAD 60

typedef struct worker {
    int ok, refused, other;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    dal_db *d = NULL;
    int i, rc;

    if (dal_open_observed(test_url, obs, &d) != DAL_OK
        || dal_set_tenant(d, "shared") != DAL_OK) {
        w->other = -1;
        dal_close(d);
        return NULL;
    }
    for (i = 0; i < PER_THREAD; i++) {
        rc = dal_exec(d, "SELECT 1");
        if (rc == DAL_OK)
            w->ok++;
        else if (rc == DAL_E_RATE_LIMITED)
            w->refused++;
        else
            w->other++;
    }
    dal_close(d);
    return NULL;
}

START_TEST(t_rate_limit_threads)
{
    dal_guard_opts o = {0};
    pthread_t th[NTHREADS];
    worker w[NTHREADS];
    int i, ok = 0, refused = 0;

    fake_now = 5;
    o.rate = 1;
    o.burst = 100;
    o.clock_ns = fake_clock;
    o.clock_ctx = &fake_now;
    add_guard(&o);
    memset(w, 0, sizeof w);
    for (i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    for (i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].other, 0);
        ok += w[i].ok;
        refused += w[i].refused;
    }
    ck_assert_int_eq(ok, 100);
    ck_assert_int_eq(refused, NTHREADS * PER_THREAD - 100);
}
END_TEST

/* ---- 6: audit -------------------------------------------------------- */

#define MAX_RECS 32

typedef struct rec_copy {
    char actor[32], tenant[32], sql[256], sha[65];
    dal_stmt_kind kind;
    int nparams, rc;
    int64_t rows, at_us, duration_ns;
    int origin_set;
} rec_copy;

static rec_copy recs[MAX_RECS];
static int nrecs;

static void sink(const dal_audit_record *r, void *ctx)
{
    rec_copy *c;

    ck_assert_ptr_eq(ctx, recs);
    ck_assert_int_lt(nrecs, MAX_RECS);
    c = &recs[nrecs++];
    snprintf(c->actor, sizeof c->actor, "%s", S(r->actor));
    snprintf(c->tenant, sizeof c->tenant, "%s", S(r->tenant));
    snprintf(c->sql, sizeof c->sql, "%s", r->sql);
    memcpy(c->sha, r->params_sha256, 65);
    c->kind = r->kind;
    c->nparams = r->nparams;
    c->rc = r->rc;
    c->rows = r->rows;
    c->at_us = r->at_us;
    c->duration_ns = r->duration_ns;
    c->origin_set = r->origin != NULL;
    ck_assert_str_eq(r->backend, is_pg() ? "postgres" : "sqlite");
}

/* The digest of guard.h's encoding, computed here by hand. */
static void put64(dal__sha256_ctx *c, uint64_t v)
{
    unsigned char b[8];
    int i;

    for (i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (56 - 8 * i));
    dal__sha256_update(c, b, 8);
}

static void digest_int_text(int64_t i, const char *s, char out[65])
{
    dal__sha256_ctx c;

    dal__sha256_init(&c);
    put64(&c, 2);
    dal__sha256_update(&c, "I", 1);
    put64(&c, (uint64_t)i);
    dal__sha256_update(&c, "T", 1);
    put64(&c, strlen(s));
    dal__sha256_update(&c, s, strlen(s));
    dal__sha256_hex_final(&c, out);
}

static void digest_none(char out[65])
{
    dal__sha256_ctx c;

    dal__sha256_init(&c);
    put64(&c, 0);
    dal__sha256_hex_final(&c, out);
}

static void add_audit(int table, int create)
{
    dal_audit_opts ao = {0};

    if (!obs)
        new_observer();
    ao.sink = sink;
    ao.ctx = recs;
    ao.table = table ? "g_audit" : NULL;
    ao.create_table = create;
    CK_OK(dal_audit_add(obs, &ao, &audit));
    nrecs = 0;
}

static int64_t audit_rows(const char *like)
{
    dal_value p = DAL_V_TEXT(like);
    int64_t n = -1;

    CK_OK(dal_query_int64(db, "SELECT count(*) FROM g_audit WHERE sql_text "
                          "LIKE ?", &p, 1, &n));
    return n;
}

START_TEST(t_audit)
{
    dal_guard_opts o = {0};
    char want[65], none[65];
    dal_value p[2];
    dal_query *q;
    dal_stmt *st = NULL;
    int i;

    FRESH("g_a", "g_audit");
    /* The audit trail first, so that it sees refusals; a guard whose
     * limits the audit's own INSERT (longer than 100 bytes) would break
     * if it were checked. */
    add_audit(1, 1);
    o.max_sql_len = 100;
    add_guard(&o);
    open_db();
    CK_OK(dal_set_actor(db, "alice"));
    CK_OK(dal_set_tenant(db, "acme"));
    EXEC("CREATE TABLE g_a (id INT PRIMARY KEY, name TEXT)");
    ck_assert_int_eq(nrecs, 1);
    ck_assert_int_eq(recs[0].kind, DAL_SK_DDL);
    ck_assert_int_eq(recs[0].rc, DAL_OK);

    p[0] = DAL_V_INT64(7);
    p[1] = DAL_V_TEXT("seven");
    CK_OK(dal_exec_params(db, "INSERT INTO g_a (id, name) VALUES (?, ?)",
                          p, 2));
    /* The caller's count, not the audit INSERT's. */
    ck_assert_int_eq(dal_changes(db), 1);
    ck_assert_int_eq(nrecs, 2);
    digest_int_text(7, "seven", want);
    ck_assert_str_eq(recs[1].sha, want);
    ck_assert_str_eq(recs[1].actor, "alice");
    ck_assert_str_eq(recs[1].tenant, "acme");
    ck_assert_str_eq(recs[1].sql, "INSERT INTO g_a (id, name) VALUES "
                     "(?, ?)");
    ck_assert_int_eq(recs[1].kind, DAL_SK_INSERT);
    ck_assert_int_eq(recs[1].nparams, 2);
    ck_assert_int_eq(recs[1].rows, 1);
    ck_assert_int_eq(recs[1].origin_set, 0);
    ck_assert_int_gt(recs[1].at_us, INT64_C(1600000000000000));
    ck_assert_int_ge(recs[1].duration_ns, 0);

    /* SELECTs are not recorded. */
    ck_assert_int_eq(qint("SELECT count(*) FROM g_a"), 1);
    ck_assert_int_eq(nrecs, 2);

    /* An AST UPDATE of two rows: its compiled SQL, two rows, and
     * dal_changes() still the caller's. */
    EXEC("INSERT INTO g_a (id, name) VALUES (8, 'eight')");
    q = dal_update("g_a");
    dal_q_set(q, "name", dal_text("x"));
    dal_q_where(q, dal_ge(dal_col("id"), dal_int(7)));
    CK_OK(dal_query_exec(db, q));
    dal_query_free(q);
    ck_assert_int_eq(dal_changes(db), 2);
    ck_assert_msg(nrecs == 4, "%d records, last %s", nrecs,
                  recs[nrecs - 1].sql);
    ck_assert_int_eq(recs[3].kind, DAL_SK_UPDATE);
    ck_assert_int_eq(recs[3].rows, 2);
    ck_assert_ptr_nonnull(strstr(recs[3].sql, "UPDATE \"g_a\""));

    /* A failing statement: recorded by the callback with its code, not
     * written to the table. */
    CK_RC_ON(db, dal_exec(db, "INSERT INTO g_a (id, name) VALUES (7, 'd')"),
             DAL_E_CONSTRAINT);
    ck_assert_int_eq(nrecs, 5);
    ck_assert_int_eq(recs[4].rc, DAL_E_CONSTRAINT);
    /* A refused one likewise (the audit comes before the guard). */
    CK_ERR(dal_exec(db, "INSERT INTO g_a (id, name) VALUES (9, 'a very "
                        "long name that makes the statement longer than "
                        "the limit')"),
           DAL_E_REFUSED, "54000", "guard 'max_sql_len'");
    ck_assert_int_eq(nrecs, 6);
    ck_assert_int_eq(recs[5].rc, DAL_E_REFUSED);

    /* The table: one row per successful statement, with the same
     * contents; the audit's own INSERTs are not there. */
    ck_assert_int_eq(qint("SELECT count(*) FROM g_audit"), 4);
    ck_assert_int_eq(audit_rows("%g_audit%"), 0);
    ck_assert_int_eq(audit_rows("INSERT INTO g_a (id, name) VALUES (?, ?)"),
                     1);
    {
        static const char *const cols[] = {
            "actor", "tenant", "kind", "params_sha256",
        };
        const char *want_v[4];
        char sql[256];
        char *s;

        want_v[0] = "alice";
        want_v[1] = "acme";
        want_v[2] = "insert";
        want_v[3] = want;
        for (i = 0; i < 4; i++) {
            snprintf(sql, sizeof sql, "SELECT %s FROM g_audit WHERE "
                     "nparams = 2", cols[i]);
            s = qtext(sql);
            ck_assert_str_eq(s, want_v[i]);
            dal_free(s);
        }
        ck_assert_int_eq(qint("SELECT row_count FROM g_audit WHERE "
                              "nparams = 2"), 1);
        ck_assert_int_eq(qint("SELECT count(*) FROM g_audit WHERE "
                              "origin IS NULL AND duration_us >= 0 AND "
                              "at_us > 1600000000000000"), 4);
        ck_assert_int_eq(qint("SELECT row_count FROM g_audit WHERE kind = "
                              "'update'"), 2);
        /* Ids sort in time order: the DDL first. */
        s = qtext("SELECT kind FROM g_audit ORDER BY id LIMIT 1");
        ck_assert_str_eq(s, "ddl");
        dal_free(s);
        digest_none(none);
        {
            dal_value pn = DAL_V_TEXT(none);
            int64_t cnt = -1;

            CK_OK(dal_query_int64(db, "SELECT count(*) FROM g_audit WHERE "
                                  "params_sha256 = ?", &pn, 1, &cnt));
            /* CREATE, the literal INSERT */
            ck_assert_int_eq(cnt, 2);
        }
    }
    ck_assert_int_eq(dal_audit_failures(audit), 0);

    /* Rolled back: neither the change nor its audit row stays; the
     * callback saw it. */
    CK_OK(dal_begin(db, 0));
    EXEC("INSERT INTO g_a (id, name) VALUES (20, 'gone')");
    ck_assert_int_eq(audit_rows("%'gone'%"), 1);
    CK_OK(dal_rollback(db));
    ck_assert_int_eq(qint("SELECT count(*) FROM g_a WHERE id = 20"), 0);
    ck_assert_int_eq(audit_rows("%'gone'%"), 0);
    ck_assert_str_eq(recs[nrecs - 1].sql, "INSERT INTO g_a (id, name) "
                     "VALUES (20, 'gone')");
    /* Committed: both stay. */
    CK_OK(dal_begin(db, 0));
    EXEC("INSERT INTO g_a (id, name) VALUES (21, 'kept')");
    CK_OK(dal_commit(db));
    ck_assert_int_eq(audit_rows("%'kept'%"), 1);

    /* RETURNING: the rows returned. */
    CK_OK(dal_prepare(db, "DELETE FROM g_a WHERE id >= 20 RETURNING id",
                      &st));
    CK_RC_ON(db, dal_step(st), DAL_ROW);
    CK_RC_ON(db, dal_step(st), DAL_DONE);
    dal_finalize(st);
    ck_assert_int_eq(qint("SELECT row_count FROM g_audit WHERE sql_text "
                          "LIKE 'DELETE%'"), 1);
    ck_assert_int_eq(dal_audit_failures(audit), 0);
}
END_TEST

/* The table sink alone, with a table made by hand (create_table off),
 * and a failure counted when it is missing. */
START_TEST(t_audit_no_create)
{
    FRESH("g_audit", "g_b");
    add_audit(1, 0);
    open_db();
    EXEC("CREATE TABLE g_b (x INT)");
    /* No table yet: the write fails and is counted; the statement
     * itself succeeded. */
    ck_assert_int_eq(dal_audit_failures(audit), 1);
    ck_assert_int_eq(qint("SELECT count(*) FROM g_b"), 0);
    EXEC(is_pg() ? "CREATE TABLE g_audit (id TEXT PRIMARY KEY, at_us "
         "BIGINT NOT NULL, actor TEXT, tenant TEXT, origin TEXT, kind TEXT "
         "NOT NULL, sql_text TEXT NOT NULL, nparams INTEGER NOT NULL, "
         "params_sha256 TEXT NOT NULL, row_count BIGINT NOT NULL, "
         "duration_us BIGINT NOT NULL)"
         : "CREATE TABLE g_audit (id TEXT PRIMARY KEY, at_us "
         "BIGINT NOT NULL, actor TEXT, tenant TEXT, origin TEXT, kind TEXT "
         "NOT NULL, sql_text TEXT NOT NULL, nparams INTEGER NOT NULL, "
         "params_sha256 TEXT NOT NULL, row_count BIGINT NOT NULL, "
         "duration_us BIGINT NOT NULL) WITHOUT ROWID");
    ck_assert_int_eq(dal_audit_failures(audit), 1);
    ck_assert_int_eq(qint("SELECT count(*) FROM g_audit"), 1);
    EXEC("INSERT INTO g_b VALUES (1)");
    EXEC("INSERT INTO g_b VALUES (2)");
    ck_assert_int_eq(qint("SELECT count(*) FROM g_audit"), 3);
    ck_assert_int_eq(qint("SELECT count(*) FROM g_audit WHERE actor IS "
                          "NULL AND tenant IS NULL"), 3);
    ck_assert_int_eq(dal_audit_failures(audit), 1);
}
END_TEST

/* Migrations are audited with their origin. */
START_TEST(t_audit_migrate)
{
    dal_migrator *m = NULL;
    int i, migrated = 0;

    FRESH("g_m", "dal_migrations");
    add_audit(0, 0);
    open_db();
    CK_OK(dal_migrator_new(&m));
    CK_OK(dal_migrator_add(m, &script_migration, 1));
    CK_OK(dal_migrate_up(db, m, 0, NULL));
    dal_migrator_free(m);
    for (i = 0; i < nrecs; i++)
        if (recs[i].origin_set && strstr(recs[i].sql, "g_m"))
            migrated++;
    ck_assert_int_eq(migrated, 2);
}
END_TEST

/* ---- allocation failures ---------------------------------------------- */

START_TEST(t_nomem_add)
{
    dal_guard_opts o = {0};
    dal_audit_opts ao = {0};
    long n;
    int rc;

    o.require_where = 1;
    ao.table = "g_audit";
    ao.sink = sink;
    ao.ctx = recs;
    for (n = 1; n < 100; n++) {
        dal_observer *ob = NULL;
        dal_guard *g = NULL;
        dal_audit *a = NULL;

        CK_OK(dal_observer_new(&ob));
        nomem_arm(n);
        rc = dal_guard_add(ob, &o, &g);
        if (rc == DAL_OK)
            rc = dal_audit_add(ob, &ao, &a);
        fail_at = 0;
        if (!fail_hit) {
            ck_assert_int_eq(rc, DAL_OK);
            ck_assert_int_eq(dal_observer_free(ob), DAL_OK);
            dal_guard_free(g);
            dal_audit_free(a);
            break;
        }
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_ptr_null(a);
        ck_assert_int_eq(dal_observer_free(ob), DAL_OK);
        dal_guard_free(g);
        ck_assert_msg(live_blocks == base_blocks, "allocation %ld: %ld "
                      "blocks held, %ld before", n, live_blocks,
                      base_blocks);
    }
    ck_assert_int_gt(n, 3);
    ck_assert_int_lt(n, 100);
}
END_TEST

/* A whole session under failing allocations: open with a rate limit and
 * an audit table, label the tenant, insert with parameters. Each call
 * succeeds or fails with DAL_NOMEM; nothing leaks. */
START_TEST(t_nomem_session)
{
    dal_guard_opts o = {0};
    dal_audit_opts ao = {0};
    dal_value p[2];
    long n;
    int rc, done = 0;

    FRESH("g_n", "g_audit");
    o.rate = 1000;
    o.burst = 1000;
    o.max_params = 5;
    ao.table = "g_audit";
    ao.create_table = 1;
    p[0] = DAL_V_INT64(1);
    p[1] = DAL_V_TEXT("one");
    for (n = 1; n < 100000 && !done; n++) {
        new_observer();
        CK_OK(dal_guard_add(obs, &o, &guard));
        CK_OK(dal_audit_add(obs, &ao, &audit));
        nomem_arm(n);
        rc = dal_open_observed(test_url, obs, &db);
        if (rc == DAL_OK)
            rc = dal_set_tenant(db, "t");
        if (rc == DAL_OK)
            rc = dal_exec(db, "CREATE TABLE IF NOT EXISTS g_n (a INT, "
                              "b TEXT)");
        if (rc == DAL_OK)
            rc = dal_exec_params(db, "INSERT INTO g_n VALUES (?, ?)", p, 2);
        fail_at = 0;
        if (!fail_hit) {
            CK_OK(rc);
            ck_assert_int_eq(dal_audit_failures(audit), 0);
            ck_assert_int_ge(qint("SELECT count(*) FROM g_audit WHERE "
                                  "tenant = 't' AND nparams = 2"), 1);
            done = 1;
        } else {
            ck_assert_msg(rc == DAL_OK || rc == DAL_NOMEM, "allocation %ld:"
                          " rc %d (%s): %s", n, rc, dal_errstr(rc),
                          db ? S(dal_errmsg(db)) : "");
        }
        release_all();
        ck_assert_msg(live_blocks == base_blocks, "allocation %ld: %ld "
                      "blocks held, %ld before", n, live_blocks,
                      base_blocks);
    }
    ck_assert_int_eq(done, 1);
    ck_assert_int_gt(n, 20);
}
END_TEST

/* ---- suite ----------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *guard_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "options");
    tcase_add_test(tc, t_options);
    tc = tcase(s, "scripts");
    tcase_add_test(tc, t_scripts);
    tcase_add_test(tc, t_scripts_in_migrations);
    tc = tcase(s, "where");
    tcase_add_test(tc, t_require_where);
    tc = tcase(s, "limits");
    tcase_add_test(tc, t_limits);
    tc = tcase(s, "timeout");
    tcase_add_test(tc, t_timeout);
    tc = tcase(s, "rate");
    tcase_add_test(tc, t_rate_limit);
    tcase_add_test(tc, t_rate_limit_threads);
    tc = tcase(s, "audit");
    tcase_add_test(tc, t_audit);
    tcase_add_test(tc, t_audit_no_create);
    tcase_add_test(tc, t_audit_migrate);
    tc = tcase(s, "nomem");
    tcase_add_test(tc, t_nomem_add);
    tcase_add_test(tc, t_nomem_session);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "guard[sqlite-mem]", "guard[sqlite-file]", "guard[postgres]",
    };
    const char *pg;
    int kind, failed = 0;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "guard: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    main_pid = (long)getpid();
    pg = getenv("DAL_TEST_PG_URL");
    if (pg == NULL || pg[0] == '\0') {
        printf("guard: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
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
        sr = srunner_create(guard_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_temp_files();
    }
    if (live_blocks != 0) {
        printf("guard: libdal holds %ld blocks at exit\n", live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
