/*
 * tests/rcache.c - the result cache (include/dal/rcache.h). One set of
 * tests, with the same assertions, runs on every backend:
 *   rcache[sqlite-mem]   sqlite::memory:
 *   rcache[sqlite-file]  sqlite:///tmp/... (a fresh file per test)
 *   rcache[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 *
 * Run:  tests/pg/with-pg.sh build/tests/rcache
 * CK_RUN_SUITE='rcache[postgres]' and CK_RUN_CASE=lru narrow a run;
 * CK_FORK=no runs in one process (for gdb and valgrind).
 *
 * Statements actually run are counted by a hook of our own on the same
 * observer as the cache's (DAL_EV_AFTER), so "a hit runs nothing" is
 * checked, not assumed. The cache's clock is injected (fake_now), so TTLs
 * are tested without sleeping. main() installs a counting allocator
 * before any other libdal call; every teardown checks that libdal holds
 * as many blocks as before the test, and the nomem tests fail libdal's
 * N-th allocation.
 *
 * PostgreSQL tests share one database, so every test uses tables of its
 * own (rc_<test>...), dropped at the start of the test.
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

enum backend { BE_SQLITE_MEM, BE_SQLITE_FILE, BE_POSTGRES };

static const char *test_url;
static enum backend test_backend;
static long main_pid;
static char file_path[128];
static char file_url[160];

static dal_db *db;
static dal_observer *obs;
static dal_rcache *cache;

/* ---- counting allocator -------------------------------------------------- */

static long live_blocks;
static long base_blocks;
static long fail_at, fail_seq;
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
    void *p = NULL;

    pthread_mutex_lock(&alloc_mu);
    if (!inject_failure() && (p = malloc(n)) != NULL)
        live_blocks++;
    pthread_mutex_unlock(&alloc_mu);
    return p;
}

static void *c_realloc(void *p, size_t n)
{
    void *q = NULL;

    pthread_mutex_lock(&alloc_mu);
    if (!inject_failure() && (q = realloc(p, n)) != NULL && !p)
        live_blocks++;
    pthread_mutex_unlock(&alloc_mu);
    return q;
}

static void c_free(void *p)
{
    pthread_mutex_lock(&alloc_mu);
    if (p)
        live_blocks--;
    free(p);
    pthread_mutex_unlock(&alloc_mu);
}

static void nomem_arm(long n)
{
    fail_seq = 0;
    fail_hit = 0;
    fail_at = n;
}

/* ---- clock and statement counter ----------------------------------------- */

static int64_t fake_now;

static int64_t fake_clock(void *data)
{
    (void)data;
    return fake_now;
}

/* Statements run (AFTER events), on every connection of the observer. */
static long n_run;
static pthread_mutex_t run_mu = PTHREAD_MUTEX_INITIALIZER;

static int count_hook(const dal_event *ev, void *data)
{
    (void)data;
    if (ev->kind == DAL_EV_AFTER) {
        pthread_mutex_lock(&run_mu);
        n_run++;
        pthread_mutex_unlock(&run_mu);
    }
    return DAL_OK;
}

/* The race test: when db has run a SELECT on rc_race, race_db (another
 * connection) writes to it once, before the cache stores the result. */
static dal_db *race_db;
static dal_db *race_on;
static int race_rc;

static int race_hook(const dal_event *ev, void *data)
{
    dal_db *w = race_db;

    (void)data;
    if (ev->kind == DAL_EV_AFTER && w && ev->db == race_on && ev->sql
        && ev->stmt_kind == DAL_SK_SELECT && strstr(ev->sql, "rc_race")) {
        race_db = NULL;
        race_rc = dal_exec(w, "INSERT INTO rc_race VALUES (99, 'race')");
    }
    return DAL_OK;
}

/* ---- helpers ------------------------------------------------------------- */

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

#define CK_RC_ON(d, expr, want) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "line %d: %s -> %d (%s), want %d (%s): " \
                  "[%s] %s", __LINE__, #expr, rc_, dal_errstr(rc_), (want), \
                  dal_errstr(want), S(dal_sqlstate(d)), S(dal_errmsg(d))); \
} while (0)
#define CK_OK_ON(d, expr) CK_RC_ON(d, expr, DAL_OK)
#define CK_OK(expr) CK_OK_ON(db, expr)
#define EXEC_ON(d, sql) CK_OK_ON(d, dal_exec((d), (sql)))
#define EXEC(sql) EXEC_ON(db, sql)

static int is_pg(void)
{
    return test_backend == BE_POSTGRES;
}

static void drop_on(dal_db *d, const char *t)
{
    char sql[256];

    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", t);
    EXEC_ON(d, sql);
}

/* A table t(id int primary key, v text) with n rows (id i, v "v<i>"). */
static void make_table_on(dal_db *d, const char *t, int n)
{
    char sql[256];
    int i;

    drop_on(d, t);
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id BIGINT PRIMARY KEY, "
             "v TEXT)", t);
    EXEC_ON(d, sql);
    for (i = 1; i <= n; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (%d, 'v%d')", t, i,
                 i);
        EXEC_ON(d, sql);
    }
}

static void make_table(const char *t, int n)
{
    make_table_on(db, t, n);
}

static long runs(void)
{
    long n;

    pthread_mutex_lock(&run_mu);
    n = n_run;
    pthread_mutex_unlock(&run_mu);
    return n;
}

/* Run sql through the cache on d; the result must be OK. */
static dal_result *cq_on(dal_db *d, dal_rcache *c, const char *sql,
                         const dal_value *p, int np, int64_t ttl)
{
    dal_result *r = NULL;
    int rc = dal_rcache_query(d, c, sql, p, np, ttl, &r);

    ck_assert_msg(rc == DAL_OK && r != NULL, "%s -> %d (%s): [%s] %s", sql,
                  rc, dal_errstr(rc), S(dal_sqlstate(d)), S(dal_errmsg(d)));
    return r;
}

/* The first cell of sql's result as an integer, and how many statements
 * it ran (0: a hit). */
static int64_t cint_on(dal_db *d, const char *sql, long *ran)
{
    long before = runs();
    dal_result *r = cq_on(d, cache, sql, NULL, 0, 60000);
    const dal_value *v = dal_result_value(r, 0, 0);
    int64_t x;

    ck_assert_ptr_nonnull(v);
    /* sum(bigint) is numeric on PostgreSQL: text. */
    if (v->type == DAL_TYPE_TEXT)
        x = strtoll(v->u.s.p, NULL, 10);
    else {
        ck_assert_int_eq(v->type, DAL_TYPE_INT64);
        x = v->u.i;
    }
    dal_result_free(r);
    if (ran)
        *ran = runs() - before;
    return x;
}

static int64_t cint(const char *sql, long *ran)
{
    return cint_on(db, sql, ran);
}

/* A hit: the value, and nothing run. */
#define CK_HIT(sql, want) do { \
    long ran_; \
    int64_t got_ = cint((sql), &ran_); \
    ck_assert_msg(ran_ == 0, "line %d: %s ran %ld statements, want a hit", \
                  __LINE__, (sql), ran_); \
    ck_assert_msg(got_ == (want), "line %d: %s = %" PRId64 ", want %" \
                  PRId64, __LINE__, (sql), got_, (int64_t)(want)); \
} while (0)
/* A miss: the value, and the query run once. */
#define CK_MISS_ON(d, sql, want) do { \
    long ran_; \
    int64_t got_ = cint_on((d), (sql), &ran_); \
    ck_assert_msg(ran_ == 1, "line %d: %s ran %ld statements, want 1", \
                  __LINE__, (sql), ran_); \
    ck_assert_msg(got_ == (want), "line %d: %s = %" PRId64 ", want %" \
                  PRId64, __LINE__, (sql), got_, (int64_t)(want)); \
} while (0)
#define CK_MISS(sql, want) CK_MISS_ON(db, sql, want)

static dal_rcache_counters stats(dal_rcache *c)
{
    dal_rcache_counters st;

    dal_rcache_stats(c, &st);
    return st;
}

/* ---- fixture ------------------------------------------------------------- */

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

static void sweep_temp_files(void)
{
    char prefix[64], path[512];
    struct dirent *e;
    DIR *d = opendir("/tmp");

    if (d == NULL)
        return;
    snprintf(prefix, sizeof prefix, "dal-rc-%ld-", main_pid);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            unlink(path);
        }
    closedir(d);
}

/* A cache of max_bytes on the fake clock, added to a new observer that
 * also counts statements. */
static void make_cache(size_t max_bytes, dal_rcache **c, dal_observer **o)
{
    dal_rcache_opts opts;
    dal_hook h;

    memset(&opts, 0, sizeof opts);
    opts.max_bytes = max_bytes;
    opts.clock_ms = fake_clock;
    ck_assert_int_eq(dal_rcache_new(&opts, c), DAL_OK);
    ck_assert_int_eq(dal_observer_new(o), DAL_OK);
    ck_assert_int_eq(dal_rcache_observe(*c, *o), DAL_OK);
    memset(&h, 0, sizeof h);
    h.events = DAL_EVENT_BIT(DAL_EV_AFTER);
    h.fn = count_hook;
    ck_assert_int_eq(dal_observer_add(*o, &h), DAL_OK);
    h.fn = race_hook;
    ck_assert_int_eq(dal_observer_add(*o, &h), DAL_OK);
}

static dal_db *open_with(dal_observer *o)
{
    dal_db *d = NULL;
    int rc = dal_open_observed(test_url, o, &d);

    ck_assert_msg(rc == DAL_OK && d != NULL, "dal_open(%s) -> %d: %s",
                  test_url, rc, d ? S(dal_errmsg(d)) : "(no handle)");
    if (is_pg())
        EXEC_ON(d, "SET client_min_messages = warning");
    return d;
}

static void setup(void)
{
    int fd;

    base_blocks = live_blocks;
    fail_at = 0;
    fake_now = 1000;
    if (test_backend == BE_SQLITE_FILE) {
        snprintf(file_path, sizeof file_path, "/tmp/dal-rc-%ld-XXXXXX",
                 main_pid);
        fd = mkstemp(file_path);
        ck_assert_msg(fd >= 0, "mkstemp failed");
        close(fd);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
        test_url = file_url;
    }
    make_cache(1 << 20, &cache, &obs);
    db = open_with(obs);
}

static void teardown(void)
{
    dal_close(db);
    db = NULL;
    ck_assert_int_eq(dal_rcache_free(cache), DAL_OK);
    ck_assert_int_eq(dal_observer_free(obs), DAL_OK);
    cache = NULL;
    obs = NULL;
    if (test_backend == BE_SQLITE_FILE)
        remove_db_files(file_path);
    ck_assert_msg(live_blocks == base_blocks,
                  "libdal holds %ld blocks after the test, %ld before",
                  live_blocks, base_blocks);
}

/* ---- hits and misses ----------------------------------------------------- */

START_TEST(t_hit_after_miss)
{
    const char *sql = "SELECT id, v, NULL AS n FROM rc_hit ORDER BY id";
    dal_result *r1, *r2;
    const dal_value *v;
    dal_rcache_counters st;
    long before;

    make_table("rc_hit", 2);
    before = runs();
    r1 = cq_on(db, cache, sql, NULL, 0, 60000);
    ck_assert_int_eq(runs() - before, 1);
    r2 = cq_on(db, cache, sql, NULL, 0, 60000);
    ck_assert_int_eq(runs() - before, 1);
    /* The same immutable result, shared. */
    ck_assert_ptr_eq(r1, r2);
    ck_assert_int_eq(dal_result_column_count(r1), 3);
    ck_assert_int_eq(dal_result_row_count(r1), 2);
    ck_assert_str_eq(dal_result_column_name(r1, 0), "id");
    ck_assert_str_eq(dal_result_column_name(r1, 1), "v");
    ck_assert_ptr_null(dal_result_column_name(r1, 3));
    v = dal_result_value(r1, 1, 0);
    ck_assert_int_eq(v->type, DAL_TYPE_INT64);
    ck_assert_int_eq(v->u.i, 2);
    v = dal_result_value(r1, 1, 1);
    ck_assert_int_eq(v->type, DAL_TYPE_TEXT);
    ck_assert_str_eq(v->u.s.p, "v2");
    ck_assert_uint_eq(v->u.s.len, 2);
    ck_assert_int_eq(dal_result_value(r1, 0, 2)->type, DAL_TYPE_NULL);
    ck_assert_ptr_null(dal_result_value(r1, 2, 0));
    ck_assert_ptr_null(dal_result_value(r1, 0, -1));
    st = stats(cache);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.stores, 1);
    ck_assert_uint_eq(st.entries, 1);
    ck_assert_uint_ge(st.bytes, dal_result_size(r1));
    dal_result_free(r1);
    dal_result_free(r2);

    /* An empty result is cached too. */
    CK_MISS("SELECT count(*) FROM rc_hit WHERE id > 100", 0);
    CK_HIT("SELECT count(*) FROM rc_hit WHERE id > 100", 0);
    /* ttl 0 and cache NULL run every time. */
    before = runs();
    r1 = cq_on(db, cache, sql, NULL, 0, 0);
    r2 = cq_on(db, NULL, sql, NULL, 0, 60000);
    ck_assert_int_eq(runs() - before, 2);
    ck_assert_int_eq(dal_result_row_count(r2), 2);
    dal_result_free(r1);
    dal_result_free(r2);
    ck_assert_uint_eq(stats(cache).bypasses, 1);
}
END_TEST

START_TEST(t_params)
{
    const char *sql = "SELECT count(*) FROM rc_par WHERE v = ? OR id = ?";
    dal_value a[] = {DAL_V_TEXT("v1"), DAL_V_INT64(2)};
    dal_value b[] = {DAL_V_TEXT("v1"), DAL_V_INT64(3)};
    dal_value c[] = {DAL_V_TEXT("v3"), DAL_V_INT64(2)};
    dal_value d[] = {DAL_V_TEXTN("v1x", 2), DAL_V_INT64(2)};
    dal_value e[] = {DAL_V_TEXT("v1"), DAL_V_NULL};
    const dal_value *sets[] = {a, b, c, e};
    dal_result *r;
    long before;
    int i;

    make_table("rc_par", 3);
    before = runs();
    for (i = 0; i < 4; i++) {
        r = cq_on(db, cache, sql, sets[i], 2, 60000);
        dal_result_free(r);
    }
    ck_assert_int_eq(runs() - before, 4);
    /* The same values again, d being the bytes of a: all hits. */
    r = cq_on(db, cache, sql, d, 2, 60000);
    ck_assert_int_eq(dal_result_value(r, 0, 0)->u.i, 2);
    dal_result_free(r);
    for (i = 0; i < 4; i++) {
        r = cq_on(db, cache, sql, sets[i], 2, 60000);
        dal_result_free(r);
    }
    ck_assert_int_eq(runs() - before, 4);
    ck_assert_uint_eq(stats(cache).hits, 5);
    ck_assert_uint_eq(stats(cache).entries, 4);

    /* Types count: 2 as INT64 and as DOUBLE are two entries, with the
     * same answer. */
    {
        const char *s2 = "SELECT count(*) FROM rc_par WHERE id = ?";
        dal_value i2[] = {DAL_V_INT64(2)}, d2[] = {DAL_V_DOUBLE(2.0)};

        before = runs();
        r = cq_on(db, cache, s2, i2, 1, 60000);
        ck_assert_int_eq(dal_result_value(r, 0, 0)->u.i, 1);
        dal_result_free(r);
        r = cq_on(db, cache, s2, d2, 1, 60000);
        ck_assert_int_eq(dal_result_value(r, 0, 0)->u.i, 1);
        dal_result_free(r);
        ck_assert_int_eq(runs() - before, 2);
    }
}
END_TEST

START_TEST(t_ttl)
{
    const char *sql = "SELECT count(*) FROM rc_ttl";
    dal_result *r;
    long before;

    make_table("rc_ttl", 3);
    before = runs();
    r = cq_on(db, cache, sql, NULL, 0, 100);
    dal_result_free(r);
    fake_now += 99;
    r = cq_on(db, cache, sql, NULL, 0, 100);
    dal_result_free(r);
    ck_assert_int_eq(runs() - before, 1);
    fake_now += 1;
    r = cq_on(db, cache, sql, NULL, 0, 100);
    ck_assert_int_eq(dal_result_value(r, 0, 0)->u.i, 3);
    dal_result_free(r);
    ck_assert_int_eq(runs() - before, 2);
    ck_assert_uint_eq(stats(cache).expirations, 1);
    ck_assert_uint_eq(stats(cache).misses, 2);
    /* Stored again at 1100 for 100 ms. */
    fake_now = 1199;
    r = cq_on(db, cache, sql, NULL, 0, 100);
    dal_result_free(r);
    ck_assert_int_eq(runs() - before, 2);
}
END_TEST

/* ---- invalidation -------------------------------------------------------- */

START_TEST(t_invalidate_writes)
{
    const char *q = "SELECT count(*) FROM rc_inv";
    const char *sum = "SELECT sum(id) FROM rc_inv";

    make_table("rc_inv", 3);
    CK_MISS(q, 3);
    CK_MISS(sum, 6);
    CK_HIT(q, 3);
    EXEC("INSERT INTO rc_inv VALUES (4, 'v4')");
    CK_MISS(q, 4);
    CK_MISS(sum, 10);
    CK_HIT(sum, 10);
    EXEC("UPDATE rc_inv SET id = 40 WHERE id = 4");
    CK_MISS(q, 4);
    CK_MISS(sum, 46);
    CK_HIT(q, 4);
    ck_assert_uint_eq(stats(cache).invalidations, 4);
}
END_TEST

START_TEST(t_invalidate_kinds)
{
    const char *sum = "SELECT sum(id) FROM rc_k";
    dal_value p[] = {DAL_V_INT64(5)};

    make_table("rc_k", 3);
    CK_MISS(sum, 6);
    CK_HIT(sum, 6);
    /* INSERT with parameters, through dal_exec_params. */
    CK_OK(dal_exec_params(db, "INSERT INTO rc_k VALUES (?, 'x')", p, 1));
    CK_MISS(sum, 11);
    CK_HIT(sum, 11);
    EXEC("UPDATE rc_k SET id = 50 WHERE id = 5");
    CK_MISS(sum, 56);
    CK_HIT(sum, 56);
    EXEC("DELETE FROM rc_k WHERE id = 50");
    CK_MISS(sum, 6);
    CK_HIT(sum, 6);
    /* A failed write invalidates too (documented). */
    ck_assert_int_ne(dal_exec(db, "INSERT INTO rc_k VALUES (1, 'dup')"),
                     DAL_OK);
    CK_MISS(sum, 6);
    /* DDL on the table. */
    EXEC("ALTER TABLE rc_k ADD COLUMN w INTEGER");
    CK_MISS(sum, 6);
    CK_HIT(sum, 6);
    /* A write to another table leaves it cached. */
    make_table("rc_k_other", 1);
    EXEC("INSERT INTO rc_k_other VALUES (7, 'x')");
    EXEC("UPDATE rc_k_other SET v = 'y'");
    EXEC("DELETE FROM rc_k_other WHERE id = 7");
    CK_HIT(sum, 6);
    /* DROP and re-create. */
    EXEC("DROP TABLE rc_k");
    make_table("rc_k", 1);
    CK_MISS(sum, 1);
}
END_TEST

START_TEST(t_join_subquery)
{
    const char *join = "SELECT count(*) FROM rc_ja a JOIN rc_jb b "
                       "ON b.a_id = a.id";
    const char *comma = "SELECT count(*) FROM rc_ja a, rc_jb b "
                        "WHERE b.a_id = a.id";
    const char *sub = "SELECT count(*) FROM rc_ja WHERE id IN "
                      "(SELECT a_id FROM rc_jb)";
    const char *fromsub = "SELECT count(*) FROM (SELECT a_id FROM "
                          "\"rc_jb\") x";
    const char *qual;
    const char *only_a = "SELECT count(*) FROM rc_ja";

    qual = is_pg() ? "SELECT count(*) FROM public.RC_JB"
                   : "SELECT count(*) FROM main.RC_JB";
    make_table("rc_ja", 3);
    drop_on(db, "rc_jb");
    EXEC("CREATE TABLE rc_jb (a_id BIGINT)");
    EXEC("INSERT INTO rc_jb VALUES (1), (2)");
    CK_MISS(join, 2);
    CK_MISS(comma, 2);
    CK_MISS(sub, 2);
    CK_MISS(fromsub, 2);
    CK_MISS(qual, 2);
    CK_MISS(only_a, 3);
    CK_HIT(join, 2);
    /* A write to rc_jb, quoted and schema-qualified as written. */
    if (is_pg())
        EXEC("INSERT INTO public.\"rc_jb\" VALUES (3)");
    else
        EXEC("INSERT INTO main.\"rc_jb\" VALUES (3)");
    CK_MISS(join, 3);
    CK_MISS(comma, 3);
    CK_MISS(sub, 3);
    CK_MISS(fromsub, 3);
    CK_MISS(qual, 3);
    CK_HIT(only_a, 3);
    /* ... and the other side of the join. */
    EXEC("DELETE FROM RC_JA WHERE id = 3");
    CK_MISS(join, 2);
    CK_MISS(comma, 2);
    CK_MISS(sub, 2);
    CK_HIT(fromsub, 3);
    CK_HIT(qual, 3);
    CK_MISS(only_a, 2);
}
END_TEST

START_TEST(t_unrelated)
{
    const char *q = "SELECT count(*) FROM rc_u1";
    dal_rcache_counters st;

    make_table("rc_u1", 2);
    make_table("rc_u2", 2);
    CK_MISS(q, 2);
    EXEC("INSERT INTO rc_u2 VALUES (3, 'rc_u1')");
    EXEC("UPDATE rc_u2 SET v = 'FROM rc_u1'");
    EXEC("DELETE FROM rc_u2 WHERE id = 1");
    EXEC("CREATE INDEX rc_u2_v ON rc_u2 (v)");
    CK_HIT(q, 2);
    st = stats(cache);
    ck_assert_uint_eq(st.invalidations, 0);
    ck_assert_uint_ge(st.writes, 4);
    /* Session statements invalidate nothing. */
    if (is_pg())
        EXEC("SET TIME ZONE 'UTC'");
    else
        EXEC("PRAGMA foreign_keys = on");
    CK_HIT(q, 2);
    /* A statement the hook cannot read invalidates everything. */
    if (is_pg())
        EXEC("DO $$ BEGIN PERFORM 1; END $$");
    else
        EXEC("ANALYZE; REINDEX rc_u2; SAVEPOINT x; RELEASE x; "
             "ATTACH ':memory:' AS aux");
    CK_MISS(q, 2);
    ck_assert_uint_eq(stats(cache).invalidations, 1);
    /* dal_rcache_invalidate by hand. */
    CK_HIT(q, 2);
    dal_rcache_invalidate(cache, "RC_U2");
    CK_HIT(q, 2);
    dal_rcache_invalidate(cache, "public.\"RC_U1\"");
    CK_MISS(q, 2);
    dal_rcache_invalidate(cache, NULL);
    CK_MISS(q, 2);
}
END_TEST

START_TEST(t_other_connection)
{
    const char *q = "SELECT count(*) FROM rc_oc";
    dal_db *d2 = open_with(obs);

    make_table("rc_oc", 2);
    if (test_backend == BE_SQLITE_MEM)
        make_table_on(d2, "rc_oc", 2);
    CK_MISS(q, 2);
    /* One URL: d2 finds db's entry (each sqlite::memory: connection is a
     * database of its own, which is why they should not share one). */
    if (test_backend != BE_SQLITE_MEM)
        CK_HIT(q, 2);
    EXEC_ON(d2, "INSERT INTO rc_oc VALUES (3, 'x')");
    if (test_backend == BE_SQLITE_MEM)
        CK_MISS(q, 2);
    else
        CK_MISS(q, 3);
    CK_HIT(q, test_backend == BE_SQLITE_MEM ? 2 : 3);

    /* A write in d2's transaction invalidates when it runs and again at
     * COMMIT: db may have cached the rows from before meanwhile. */
    CK_OK_ON(d2, dal_begin(d2, 0));
    EXEC_ON(d2, "INSERT INTO rc_oc VALUES (4, 'x')");
    CK_MISS(q, test_backend == BE_SQLITE_MEM ? 2 : 3);
    CK_HIT(q, test_backend == BE_SQLITE_MEM ? 2 : 3);
    CK_OK_ON(d2, dal_commit(d2));
    CK_MISS(q, test_backend == BE_SQLITE_MEM ? 2 : 4);
    /* The same with raw BEGIN / COMMIT. */
    EXEC_ON(d2, "BEGIN");
    EXEC_ON(d2, "DELETE FROM rc_oc WHERE id = 4");
    CK_MISS(q, test_backend == BE_SQLITE_MEM ? 2 : 4);
    EXEC_ON(d2, "COMMIT");
    CK_MISS(q, test_backend == BE_SQLITE_MEM ? 2 : 3);
    dal_close(d2);
}
END_TEST

START_TEST(t_bypass)
{
    const char *q = "SELECT count(*) FROM rc_by";
    dal_result *r;
    long before;
    int i;

    make_table("rc_by", 2);
    CK_MISS(q, 2);
    /* Inside a transaction: neither looked up nor stored. */
    CK_OK(dal_begin(db, 0));
    EXEC("INSERT INTO rc_by VALUES (3, 'x')");
    CK_MISS(q, 3);
    CK_MISS(q, 3);
    CK_OK(dal_rollback(db));
    CK_MISS(q, 2);
    CK_HIT(q, 2);
    /* A statement that writes is run every time, and invalidates. */
    before = runs();
    for (i = 0; i < 2; i++) {
        r = cq_on(db, cache, "INSERT INTO rc_by VALUES (10 + ?, 'r') "
                  "RETURNING id", (dal_value[]){DAL_V_INT64(i)}, 1, 60000);
        ck_assert_int_eq(dal_result_row_count(r), 1);
        ck_assert_int_eq(dal_result_value(r, 0, 0)->u.i, 10 + i);
        dal_result_free(r);
    }
    ck_assert_int_eq(runs() - before, 2);
    CK_MISS(q, 4);
    if (is_pg()) {
        /* Row locks and data-modifying CTEs are not cached. */
        CK_MISS("SELECT count(*) FROM (SELECT id FROM rc_by FOR UPDATE) x",
                4);
        CK_MISS("SELECT count(*) FROM (SELECT id FROM rc_by FOR UPDATE) x",
                4);
        CK_MISS("WITH d AS (DELETE FROM rc_by WHERE id = 11 RETURNING id) "
                "SELECT count(*) FROM d", 1);
        CK_MISS(q, 3);
    }
    ck_assert_uint_ge(stats(cache).bypasses, 4);
}
END_TEST


/* Literals and comments hide nothing and add nothing. */
START_TEST(t_scan)
{
    const char *q = "SELECT count(*) FROM rc_s1 -- JOIN rc_s3\n"
                    "WHERE v <> 'x FROM rc_s2' /* , rc_s3 */";
    const char *q2 = "SELECT count(*)\nFROM\n\"rc_s1\" AS a\n"
                     "LEFT JOIN rc_s2 b ON b.id = a.id, rc_s3 c";
    const char *q3 = "SELECT count(*) FROM rc_s1 WHERE id IN "
                     "(SELECT id FROM rc_s3 WHERE v = 'it''s')";

    make_table("rc_s1", 2);
    make_table("rc_s2", 2);
    make_table("rc_s3", 2);
    CK_MISS(q, 2);
    CK_MISS(q2, 4);
    CK_MISS(q3, 0);
    /* A write to rc_s2 whose text names rc_s1 in a literal and a
     * comment: q (which reads rc_s1 only) stays. */
    EXEC("/* DELETE FROM rc_s1 */ INSERT INTO rc_s2 "
         "VALUES (3, 'DELETE FROM rc_s1')");
    CK_HIT(q, 2);
    CK_MISS(q2, 4);
    CK_HIT(q3, 0);
    /* The third table of a FROM list after a join condition. */
    EXEC("UPDATE rc_s3 SET v = 'it''s' WHERE id = 1");
    CK_MISS(q2, 4);
    CK_MISS(q3, 1);
    CK_HIT(q, 2);
    /* An upsert's DO UPDATE targets the insert's table only. */
    EXEC("INSERT INTO rc_s2 VALUES (1, 'z') ON CONFLICT (id) DO UPDATE "
         "SET v = 'z'");
    CK_HIT(q, 2);
    CK_HIT(q3, 1);
    CK_MISS(q2, 4);
    if (is_pg()) {
        /* Dollar quotes and E'' strings. */
        EXEC("INSERT INTO rc_s2 VALUES (4, $t$ FROM rc_s1 $t$)");
        EXEC("INSERT INTO rc_s2 VALUES (5, E'\\' FROM rc_s1')");
        CK_HIT(q, 2);
        /* UPDATE ... FROM names its target first. */
        EXEC("UPDATE rc_s1 SET v = 'q' FROM rc_s3 WHERE rc_s3.id = "
             "rc_s1.id");
        CK_MISS(q, 2);
        /* MERGE targets its INTO table; THEN UPDATE is not a statement. */
        EXEC("MERGE INTO rc_s3 USING rc_s2 ON rc_s3.id = rc_s2.id "
             "WHEN MATCHED THEN UPDATE SET v = 'm' "
             "WHEN NOT MATCHED THEN INSERT VALUES (rc_s2.id, rc_s2.v)");
        CK_HIT(q, 2);
        CK_MISS(q3, 0);
    }
}
END_TEST


/* A write that lands while a missed query runs: its (older) result is
 * returned but not stored. */
START_TEST(t_race)
{
    const char *q = "SELECT count(*) FROM rc_race";
    dal_db *d2 = open_with(obs);
    int64_t mem = test_backend == BE_SQLITE_MEM;

    make_table("rc_race", 2);
    if (mem)
        make_table_on(d2, "rc_race", 2);
    race_on = db;
    race_db = d2;
    race_rc = -1;
    {
        long ran;

        /* The SELECT and d2's INSERT. */
        ck_assert_int_eq(cint(q, &ran), 2);
        ck_assert_int_eq(ran, 2);
    }
    ck_assert_ptr_null(race_db);
    ck_assert_int_eq(race_rc, DAL_OK);
    ck_assert_uint_eq(stats(cache).skipped, 1);
    ck_assert_uint_eq(stats(cache).entries, 0);
    CK_MISS(q, mem ? 2 : 3);
    CK_HIT(q, mem ? 2 : 3);
    race_on = NULL;
    dal_close(d2);
}
END_TEST

/* ---- memory bound -------------------------------------------------------- */

START_TEST(t_lru)
{
    const char *sql = "SELECT v FROM rc_lru WHERE id = ?";
    dal_rcache *small;
    dal_observer *o2;
    dal_db *d2;
    dal_result *r, *held = NULL;
    dal_rcache_counters st;
    uint64_t cost;
    long before;
    int i;

    make_table("rc_lru", 6);
    /* The cost of one entry, measured in the big cache. */
    r = cq_on(db, cache, sql, (dal_value[]){DAL_V_INT64(1)}, 1, 60000);
    dal_result_free(r);
    cost = stats(cache).bytes;
    ck_assert_uint_gt(cost, 0);

    make_cache((size_t)(3 * cost + cost / 2), &small, &o2);
    d2 = open_with(o2);
    if (test_backend == BE_SQLITE_MEM)
        make_table_on(d2, "rc_lru", 6);
    before = runs();
    for (i = 1; i <= 3; i++) {
        r = cq_on(d2, small, sql, (dal_value[]){DAL_V_INT64(i)}, 1, 60000);
        if (i == 2)
            held = r;
        else
            dal_result_free(r);
    }
    st = stats(small);
    ck_assert_uint_eq(st.entries, 3);
    ck_assert_uint_eq(st.bytes, 3 * cost);
    ck_assert_uint_eq(st.max_bytes, 3 * cost + cost / 2);
    /* 1 used again: 2 is now the least recent. */
    r = cq_on(d2, small, sql, (dal_value[]){DAL_V_INT64(1)}, 1, 60000);
    dal_result_free(r);
    ck_assert_int_eq(runs() - before, 3);
    r = cq_on(d2, small, sql, (dal_value[]){DAL_V_INT64(4)}, 1, 60000);
    dal_result_free(r);
    st = stats(small);
    ck_assert_uint_eq(st.evictions, 1);
    ck_assert_uint_eq(st.entries, 3);
    ck_assert_uint_le(st.bytes, st.max_bytes);
    /* The evicted entry's result is still the caller's. */
    ck_assert_str_eq(dal_result_value(held, 0, 0)->u.s.p, "v2");
    dal_result_free(held);
    before = runs();
    for (i = 1; i <= 4; i++) {
        if (i == 2)
            continue;
        r = cq_on(d2, small, sql, (dal_value[]){DAL_V_INT64(i)}, 1, 60000);
        dal_result_free(r);
    }
    ck_assert_int_eq(runs() - before, 0);
    r = cq_on(d2, small, sql, (dal_value[]){DAL_V_INT64(2)}, 1, 60000);
    ck_assert_str_eq(dal_result_value(r, 0, 0)->u.s.p, "v2");
    ck_assert_int_eq(runs() - before, 1);
    /* Held across an invalidation and past the cache itself. */
    EXEC_ON(d2, "UPDATE rc_lru SET v = 'new' WHERE id = 2");
    ck_assert_uint_eq(stats(small).entries, 0);
    ck_assert_str_eq(dal_result_value(r, 0, 0)->u.s.p, "v2");
    /* Bigger than the whole bound: returned, not stored. */
    before = runs();
    for (i = 0; i < 2; i++) {
        dal_result *big = cq_on(d2, small, "SELECT a.v, b.v FROM rc_lru a, "
                                "rc_lru b, rc_lru c", NULL, 0, 60000);

        ck_assert_int_eq(dal_result_row_count(big), 216);
        dal_result_free(big);
    }
    ck_assert_int_eq(runs() - before, 2);
    ck_assert_uint_eq(stats(small).skipped, 2);
    dal_close(d2);
    ck_assert_int_eq(dal_rcache_free(small), DAL_OK);
    ck_assert_int_eq(dal_observer_free(o2), DAL_OK);
    ck_assert_str_eq(dal_result_value(r, 0, 0)->u.s.p, "v2");
    dal_result_free(r);
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

START_TEST(t_errors)
{
    dal_result *r = (dal_result *)&r;
    dal_rcache_counters st;
    dal_db *plain;
    int i;

    for (i = 0; i < 2; i++) {
        CK_RC_ON(db, dal_rcache_query(db, cache, "SELECT * FROM rc_nope",
                                      NULL, 0, 60000, &r), DAL_E_SYNTAX);
        ck_assert_ptr_null(r);
        ck_assert_str_eq(dal_sqlstate(db), "42P01");
    }
    ck_assert_uint_eq(stats(cache).misses, 2);
    CK_RC_ON(db, dal_rcache_query(db, cache, "SELEC 1", NULL, 0, 60000,
                                  &r), DAL_E_SYNTAX);
    st = stats(cache);
    ck_assert_uint_eq(st.stores, 0);
    ck_assert_uint_eq(st.entries, 0);
    /* Wrong parameter count. */
    CK_RC_ON(db, dal_rcache_query(db, cache, "SELECT ? + 1", NULL, 0, 60000,
                                  &r), DAL_E_RANGE);
    /* Misuse. */
    ck_assert_int_eq(dal_rcache_query(NULL, cache, "SELECT 1", NULL, 0, 1,
                                      &r), DAL_E_MISUSE);
    CK_RC_ON(db, dal_rcache_query(db, cache, "SELECT 1", NULL, 0, -1, &r),
             DAL_E_MISUSE);
    CK_RC_ON(db, dal_rcache_query(db, cache, "SELECT 1", NULL, 0, 1, NULL),
             DAL_E_MISUSE);
    CK_RC_ON(db, dal_rcache_query(db, cache, NULL, NULL, 0, 1, &r),
             DAL_E_MISUSE);
    CK_RC_ON(db, dal_rcache_query(db, cache, "SELECT 1", NULL, 1, 1, &r),
             DAL_E_MISUSE);
    ck_assert_int_eq(dal_rcache_new(NULL, NULL), DAL_E_MISUSE);
    {
        dal_rcache_opts o;
        dal_rcache *c2 = (dal_rcache *)&o;

        memset(&o, 0, sizeof o);
        o.flags = 0x100;
        ck_assert_int_eq(dal_rcache_new(&o, &c2), DAL_E_MISUSE);
        ck_assert_ptr_null(c2);
    }
    ck_assert_int_eq(dal_rcache_observe(cache, obs), DAL_E_MISUSE);
    ck_assert_int_eq(dal_rcache_observe(NULL, obs), DAL_E_MISUSE);
    /* The cache cannot be freed while a connection holds its hook. */
    ck_assert_int_eq(dal_rcache_free(cache), DAL_E_MISUSE);
    ck_assert_int_eq(dal_rcache_free(NULL), DAL_OK);
    /* A connection the cache does not observe. */
    ck_assert_int_eq(dal_open(test_url, &plain), DAL_OK);
    CK_RC_ON(plain, dal_rcache_query(plain, cache, "SELECT 1", NULL, 0, 1,
                                     &r), DAL_E_MISUSE);
    /* ... may still run without the cache. */
    CK_OK_ON(plain, dal_rcache_query(plain, NULL, "SELECT 1", NULL, 0, 1,
                                     &r));
    dal_result_free(r);
    dal_close(plain);
    dal_rcache_stats(NULL, &st);
    ck_assert_uint_eq(st.hits, 0);
    dal_result_free(NULL);
    ck_assert_int_eq(dal_result_column_count(NULL), 0);
}
END_TEST

/* ---- query AST ----------------------------------------------------------- */

START_TEST(t_ast)
{
    dal_query *q;
    dal_result *r;
    long before;
    int i;

    make_table("rc_ast", 3);
    q = dal_select(dal_col("v"));
    dal_q_from(q, "rc_ast");
    dal_q_where(q, dal_eq(dal_col("id"), dal_int(2)));
    before = runs();
    for (i = 0; i < 2; i++) {
        CK_OK(dal_rcache_query_ast(db, cache, q, 60000, &r));
        ck_assert_str_eq(dal_result_value(r, 0, 0)->u.s.p, "v2");
        dal_result_free(r);
    }
    ck_assert_int_eq(runs() - before, 1);
    EXEC("UPDATE rc_ast SET v = 'w' WHERE id = 2");
    CK_OK(dal_rcache_query_ast(db, cache, q, 60000, &r));
    ck_assert_str_eq(dal_result_value(r, 0, 0)->u.s.p, "w");
    dal_result_free(r);
    ck_assert_int_eq(runs() - before, 3);
    dal_query_free(q);

    q = dal_select(dal_col("v"));
    dal_q_from(q, "rc_ast");
    dal_q_where(q, dal_eq(dal_col("id"), dal_param("id")));
    CK_RC_ON(db, dal_rcache_query_ast(db, cache, q, 60000, &r),
             DAL_E_MISUSE);
    dal_query_free(q);
}
END_TEST

/* ---- encoding ------------------------------------------------------------ */

START_TEST(t_encode)
{
    dal_result *r, *d;
    void *buf;
    size_t len, n;
    int64_t row;
    int col;

    make_table("rc_enc", 3);
    r = cq_on(db, cache, "SELECT id, v, 1.5 AS f, NULL AS n FROM rc_enc "
              "ORDER BY id", NULL, 0, 60000);
    CK_OK(dal_result_encode(r, &buf, &len));
    ck_assert_int_eq(dal_result_decode(buf, len, &d), DAL_OK);
    ck_assert_int_eq(dal_result_row_count(d), 3);
    ck_assert_int_eq(dal_result_column_count(d), 4);
    ck_assert_uint_eq(dal_result_size(d), dal_result_size(r));
    for (col = 0; col < 4; col++)
        ck_assert_str_eq(dal_result_column_name(d, col),
                         dal_result_column_name(r, col));
    for (row = 0; row < 3; row++)
        for (col = 0; col < 4; col++) {
            const dal_value *a = dal_result_value(r, row, col);
            const dal_value *b = dal_result_value(d, row, col);

            ck_assert_int_eq(a->type, b->type);
            if (a->type == DAL_TYPE_TEXT)
                ck_assert_str_eq(a->u.s.p, b->u.s.p);
            else if (a->type == DAL_TYPE_DOUBLE)
                ck_assert(a->u.d == b->u.d);
            else if (a->type == DAL_TYPE_INT64)
                ck_assert_int_eq(a->u.i, b->u.i);
        }
    dal_result_free(d);
    /* Every truncation and a trailing byte are refused. */
    for (n = 0; n < len; n++) {
        d = (dal_result *)&d;
        ck_assert_int_eq(dal_result_decode(buf, n, &d), DAL_E_DATA);
        ck_assert_ptr_null(d);
    }
    {
        unsigned char *p = malloc(len + 1);

        memcpy(p, buf, len);
        p[len] = 0;
        ck_assert_int_eq(dal_result_decode(p, len + 1, &d), DAL_E_DATA);
        p[0] = 'X';
        ck_assert_int_eq(dal_result_decode(p, len, &d), DAL_E_DATA);
        free(p);
    }
    dal_free(buf);
    ck_assert_int_eq(dal_result_encode(NULL, &buf, &len), DAL_E_MISUSE);
    ck_assert_ptr_null(buf);
    dal_result_free(r);
}
END_TEST

/* ---- threads ------------------------------------------------------------- */

typedef struct worker {
    dal_db *d;
    int id;
    int errors;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char sql[128];
    int i;

    for (i = 0; i < 50; i++) {
        dal_result *r = NULL;

        if (dal_rcache_query(w->d, cache, "SELECT count(*) FROM rc_thr",
                             NULL, 0, 60000, &r) != DAL_OK)
            w->errors++;
        dal_result_free(r);
        if (i % 10 == 0) {
            snprintf(sql, sizeof sql, "INSERT INTO rc_thr VALUES (%d, 'x')",
                     w->id * 1000 + i);
            if (dal_exec(w->d, sql) != DAL_OK)
                w->errors++;
        }
    }
    return NULL;
}

START_TEST(t_threads)
{
    worker w[3];
    pthread_t th[3];
    int i;

    if (test_backend == BE_SQLITE_MEM)
        return; /* one database per connection: nothing shared */
    make_table("rc_thr", 0);
    for (i = 0; i < 3; i++) {
        w[i].d = open_with(obs);
        w[i].id = i + 1;
        w[i].errors = 0;
        if (test_backend == BE_SQLITE_FILE)
            EXEC_ON(w[i].d, "PRAGMA busy_timeout = 10000");
    }
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    for (i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].errors, 0);
        dal_close(w[i].d);
    }
    /* Whatever interleaving: the cache now holds no stale count. */
    ck_assert_int_eq(cint("SELECT count(*) FROM rc_thr", NULL), 15);
}
END_TEST

/* ---- allocation failures ------------------------------------------------- */

START_TEST(t_nomem_new)
{
    dal_rcache *c;
    dal_observer *o;
    long n, base = live_blocks;
    int rc;

    for (n = 1; n < 1000; n++) {
        nomem_arm(n);
        c = NULL;
        rc = dal_rcache_new(NULL, &c);
        if (rc == DAL_OK) {
            o = NULL;
            rc = dal_observer_new(&o);
            if (rc == DAL_OK) {
                rc = dal_rcache_observe(c, o);
                dal_observer_free(o);
            }
            dal_rcache_free(c);
        }
        fail_at = 0;
        if (!fail_hit) {
            ck_assert_int_eq(rc, DAL_OK);
            break;
        }
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_int_eq(live_blocks, base);
    }
    ck_assert_int_ge(n, 4);
    ck_assert_int_eq(live_blocks, base);
}
END_TEST

/* The miss path (run, materialize, store) and then the hit path, failing
 * each allocation in turn: DAL_NOMEM, or DAL_OK when only the store
 * failed (the result is then returned, not kept); nothing leaked. */
START_TEST(t_nomem_query)
{
    const char *sql = "SELECT id, v FROM rc_nm WHERE id <= ? ORDER BY id";
    dal_value p[] = {DAL_V_INT64(3)};
    dal_result *r;
    long n, base;
    int rc, hit_ok = 0;

    make_table("rc_nm", 5);
    base = live_blocks;
    for (n = 1; n < 10000; n++) {
        dal_rcache_invalidate(cache, NULL);
        nomem_arm(n);
        r = NULL;
        rc = dal_rcache_query(db, cache, sql, p, 1, 60000, &r);
        fail_at = 0;
        if (rc == DAL_OK) {
            ck_assert_int_eq(dal_result_row_count(r), 3);
            ck_assert_str_eq(dal_result_value(r, 2, 1)->u.s.p, "v3");
            dal_result_free(r);
        } else {
            ck_assert_msg(rc == DAL_NOMEM, "allocation %ld: rc %d (%s) %s",
                          n, rc, dal_errstr(rc), S(dal_errmsg(db)));
            ck_assert_ptr_null(r);
        }
        if (!fail_hit)
            break;
    }
    ck_assert_msg(n < 10000 && n > 3, "n = %ld", n);
    /* The statement cache may have kept the statement: compare after a
     * clean run. */
    dal_rcache_invalidate(cache, NULL);
    r = cq_on(db, cache, sql, p, 1, 60000);
    dal_result_free(r);
    ck_assert_uint_eq(stats(cache).entries, 1);
    base = live_blocks;
    for (n = 1; n < 1000; n++) {
        nomem_arm(n);
        r = NULL;
        rc = dal_rcache_query(db, cache, sql, p, 1, 60000, &r);
        fail_at = 0;
        if (rc == DAL_OK) {
            ck_assert_int_eq(dal_result_row_count(r), 3);
            dal_result_free(r);
            hit_ok = 1;
        } else {
            ck_assert_int_eq(rc, DAL_NOMEM);
        }
        ck_assert_uint_eq(stats(cache).entries, 1);
        if (!fail_hit)
            break;
    }
    ck_assert(hit_ok);
    ck_assert_int_ge(n, 2);
    /* Hits allocate only what they free again. */
    ck_assert_int_eq(live_blocks, base);
}
END_TEST

START_TEST(t_nomem_attach)
{
    dal_db *d;
    long n, base = live_blocks;
    int rc;

    for (n = 1; n < 10000; n++) {
        nomem_arm(n);
        d = NULL;
        rc = dal_open_observed(test_url, obs, &d);
        fail_at = 0;
        dal_close(d);
        if (!fail_hit) {
            ck_assert_int_eq(rc, DAL_OK);
            break;
        }
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_int_eq(live_blocks, base);
    }
    ck_assert_int_lt(n, 10000);
    ck_assert_int_eq(live_blocks, base);
}
END_TEST

START_TEST(t_nomem_encode)
{
    dal_result *r, *d;
    void *buf;
    size_t len;
    long n, base;
    int rc;

    make_table("rc_nme", 2);
    r = cq_on(db, cache, "SELECT id, v FROM rc_nme", NULL, 0, 60000);
    base = live_blocks;
    for (n = 1; n < 1000; n++) {
        nomem_arm(n);
        rc = dal_result_encode(r, &buf, &len);
        fail_at = 0;
        if (!fail_hit)
            break;
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_int_eq(live_blocks, base);
    }
    ck_assert_int_eq(rc, DAL_OK);
    for (n = 1; n < 1000; n++) {
        nomem_arm(n);
        d = NULL;
        rc = dal_result_decode(buf, len, &d);
        fail_at = 0;
        if (!fail_hit)
            break;
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_int_eq(live_blocks, base + 1);
    }
    ck_assert_int_eq(rc, DAL_OK);
    ck_assert_int_eq(dal_result_row_count(d), 2);
    dal_result_free(d);
    dal_free(buf);
    dal_result_free(r);
}
END_TEST

/* ---- suite --------------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *rcache_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "hits");
    tcase_add_test(tc, t_hit_after_miss);
    tcase_add_test(tc, t_params);
    tcase_add_test(tc, t_ttl);
    tcase_add_test(tc, t_ast);
    tcase_add_test(tc, t_encode);
    tc = tcase(s, "invalidate");
    tcase_add_test(tc, t_invalidate_writes);
    tcase_add_test(tc, t_invalidate_kinds);
    tcase_add_test(tc, t_join_subquery);
    tcase_add_test(tc, t_scan);
    tcase_add_test(tc, t_race);
    tcase_add_test(tc, t_unrelated);
    tcase_add_test(tc, t_other_connection);
    tcase_add_test(tc, t_bypass);
    tcase_add_test(tc, t_threads);
    tc = tcase(s, "lru");
    tcase_add_test(tc, t_lru);
    tc = tcase(s, "errors");
    tcase_add_test(tc, t_errors);
    tc = tcase(s, "nomem");
    tcase_add_test(tc, t_nomem_new);
    tcase_add_test(tc, t_nomem_query);
    tcase_add_test(tc, t_nomem_attach);
    tcase_add_test(tc, t_nomem_encode);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "rcache[sqlite-mem]", "rcache[sqlite-file]", "rcache[postgres]",
    };
    const char *pg;
    int kind, failed = 0;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "rcache: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    main_pid = (long)getpid();
    pg = getenv("DAL_TEST_PG_URL");
    if (pg == NULL || pg[0] == '\0') {
        printf("rcache: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
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
        sr = srunner_create(rcache_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_temp_files();
    }
    if (live_blocks != 0) {
        printf("rcache: libdal holds %ld blocks at exit\n", live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
