/*
 * tests/pool.c - the connection pool (include/dal/pool.h): sizes and the
 * bounded wait, health checks, lifetime and idle reaping, reset on
 * return, stats and metrics, checkout/return hooks, tenants, retry of a
 * connection lost before the transaction began, contention, misuse and
 * allocation failures. The same assertions run on every backend:
 *   pool[sqlite-mem]   sqlite::memory:
 *   pool[sqlite-file]  a fresh SQLite file per test
 *   pool[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 *
 * Run:  tests/pg/with-pg.sh build/tests/pool
 * CK_RUN_SUITE='pool[postgres]' and CK_RUN_CASE=... narrow a run;
 * CK_FORK=no runs in one process (for gdb and valgrind). POOL_ONLY=
 * contention runs only the 16 x 10,000 checkouts on sqlite::memory:
 * (make check-tsan).
 *
 * The pool runs threads, so the counting allocator here is the one of
 * harness.h with atomic counters.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dal.h>

enum backend { BE_SQLITE_MEM, BE_SQLITE_FILE, BE_POSTGRES };

static const char *test_url;
static enum backend test_backend;
static long main_pid;
static char file_path[128];
static char file_url[160];
static int file_seq;

/* ---- counting allocator, thread-safe --------------------------------- */

static atomic_long live_blocks;
static long base_blocks;
static atomic_long fail_at;
static atomic_long fail_seq;
static atomic_int fail_hit;

static int inject_failure(void)
{
    if (atomic_load(&fail_at) <= 0
        || atomic_fetch_add(&fail_seq, 1) + 1 != atomic_load(&fail_at))
        return 0;
    atomic_store(&fail_hit, 1);
    return 1;
}

static void *c_malloc(size_t n)
{
    void *p;

    if (inject_failure())
        return NULL;
    p = malloc(n);
    if (p)
        atomic_fetch_add(&live_blocks, 1);
    return p;
}

static void *c_realloc(void *p, size_t n)
{
    void *q;

    if (inject_failure())
        return NULL;
    q = realloc(p, n);
    if (q && !p)
        atomic_fetch_add(&live_blocks, 1);
    return q;
}

static void c_free(void *p)
{
    if (p)
        atomic_fetch_sub(&live_blocks, 1);
    free(p);
}

static void nomem_arm(long n)
{
    atomic_store(&fail_seq, 0);
    atomic_store(&fail_hit, 0);
    atomic_store(&fail_at, n);
}

/* ---- helpers --------------------------------------------------------- */

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

#define CK_RC(d, expr, want) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "%s -> %d (%s), want %d (%s): %s", \
                  #expr, rc_, dal_errstr(rc_), (want), dal_errstr(want), \
                  (d) ? S(dal_errmsg(d)) : dal_pool_errmsg()); \
} while (0)
#define CK_POOL(expr, want) CK_RC((dal_db *)NULL, expr, want)

static int is_pg(void)
{
    return test_backend == BE_POSTGRES;
}

static int is_mem(void)
{
    return test_backend == BE_SQLITE_MEM;
}

static const char *url(void)
{
    return test_backend == BE_SQLITE_FILE ? file_url : test_url;
}

/* url() with extra query options. */
static const char *purl(const char *opts)
{
    static char buf[1024];
    const char *u = url();

    snprintf(buf, sizeof buf, "%s%s%s", u, strchr(u, '?') ? "&" : "?",
             opts);
    return buf;
}

static int64_t qint(dal_db *d, const char *sql)
{
    int64_t v = -1;
    int rc = dal_query_int64(d, sql, NULL, 0, &v);

    ck_assert_msg(rc == DAL_OK, "%s -> %s: %s", sql, dal_errstr(rc),
                  S(dal_errmsg(d)));
    return v;
}

static char *qtext(dal_db *d, const char *sql)
{
    char *v = NULL;
    int rc = dal_query_text(d, sql, NULL, 0, &v, NULL);

    ck_assert_msg(rc == DAL_OK, "%s -> %s: %s", sql, dal_errstr(rc),
                  S(dal_errmsg(d)));
    return v;
}

static void exec_ok(dal_db *d, const char *sql)
{
    int rc = dal_exec(d, sql);

    ck_assert_msg(rc == DAL_OK, "%s -> %s: %s", sql, dal_errstr(rc),
                  S(dal_errmsg(d)));
}

static dal_pool_counters stats(dal_pool *p)
{
    dal_pool_counters c;

    ck_assert_int_eq(dal_pool_stats(p, &c), DAL_OK);
    return c;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Wait (up to 10 s) until cond(p) holds; the tests wait on conditions,
 * never assert timings. */
static int wait_for(dal_pool *p, int (*cond)(dal_pool *p, int arg), int arg)
{
    int i;

    for (i = 0; i < 2000; i++) {
        if (cond(p, arg))
            return 1;
        sleep_ms(5);
    }
    return cond(p, arg);
}

static int total_is(dal_pool *p, int n)
{
    return stats(p).total == n;
}

static int destroyed_at_least(dal_pool *p, int n)
{
    return stats(p).destroyed >= (uint64_t)n;
}

static int waiting_is(dal_pool *p, int n)
{
    return stats(p).waiting == n;
}

static dal_pool_config cfg0(void)
{
    dal_pool_config c;

    memset(&c, 0, sizeof c);
    return c;
}

static dal_pool *mkpool(const char *u, const dal_pool_config *c)
{
    dal_pool *p = NULL;
    int rc = dal_pool_new(u, c, &p);

    ck_assert_msg(rc == DAL_OK, "dal_pool_new(%s) -> %s: %s", u,
                  dal_errstr(rc), dal_pool_errmsg());
    return p;
}

static dal_db *get(dal_pool *p)
{
    dal_db *d = NULL;

    CK_POOL(dal_pool_acquire(p, 0, &d), DAL_OK);
    ck_assert_ptr_nonnull(d);
    return d;
}

static void put(dal_pool *p, dal_db *d)
{
    CK_POOL(dal_pool_release(p, d), DAL_OK);
}

/* A connection outside any pool, for set-up and for killing backends. */
static dal_db *side(void)
{
    dal_db *d = NULL;

    ck_assert_int_eq(dal_open(url(), &d), DAL_OK);
    return d;
}

/* PostgreSQL: end the backend pid from another session, and wait until
 * the server no longer lists it. */
static void kill_backend(int64_t pid)
{
    dal_db *d = side();
    dal_value v = DAL_V_INT64(pid);
    int64_t n = 1;
    int i;

    ck_assert_int_eq(dal_exec_params(d, "SELECT pg_terminate_backend($1)",
                                     &v, 1), DAL_OK);
    for (i = 0; i < 2000 && n > 0; i++) {
        ck_assert_int_eq(dal_query_int64(d, "SELECT count(*) FROM "
                                         "pg_stat_activity WHERE pid = $1",
                                         &v, 1, &n), DAL_OK);
        if (n > 0)
            sleep_ms(5);
    }
    ck_assert_int_eq(n, 0);
    dal_close(d);
}

/* ---- fixture --------------------------------------------------------- */

static void setup(void)
{
    base_blocks = atomic_load(&live_blocks);
    nomem_arm(0);
    if (test_backend == BE_SQLITE_FILE) {
        snprintf(file_path, sizeof file_path, "/tmp/dal-pool-%ld-%d.db",
                 main_pid, ++file_seq);
        unlink(file_path);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
    }
    if (is_pg()) {
        dal_db *d = side();

        exec_ok(d, "DROP TABLE IF EXISTS pool_t");
        exec_ok(d, "DROP SCHEMA IF EXISTS ta CASCADE");
        exec_ok(d, "DROP SCHEMA IF EXISTS tb CASCADE");
        dal_close(d);
    }
}

static void teardown(void)
{
    char p[200];

    nomem_arm(0);
    if (test_backend == BE_SQLITE_FILE) {
        unlink(file_path);
        snprintf(p, sizeof p, "%s-journal", file_path);
        unlink(p);
    }
    ck_assert_msg(atomic_load(&live_blocks) == base_blocks,
                  "libdal leaked %ld blocks",
                  atomic_load(&live_blocks) - base_blocks);
}

/* ---- sizes and the bounded wait ------------------------------------- */

START_TEST(t_min_max_timeout)
{
    dal_pool_config c = cfg0();
    dal_pool_counters s;
    dal_db *d[3], *x = (dal_db *)1;
    dal_pool *p;
    int i;

    c.min_size = 2;
    c.max_size = 3;
    c.acquire_timeout_ms = 30;
    p = mkpool(url(), &c);
    s = stats(p);
    ck_assert_int_eq(s.total, 2);
    ck_assert_int_eq(s.idle, 2);
    ck_assert_int_eq(s.in_use, 0);
    ck_assert_uint_eq(s.created, 2);
    for (i = 0; i < 3; i++)
        d[i] = get(p);
    ck_assert_ptr_ne(d[0], d[1]);
    ck_assert_ptr_ne(d[1], d[2]);
    s = stats(p);
    ck_assert_int_eq(s.total, 3);
    ck_assert_int_eq(s.in_use, 3);
    ck_assert_uint_eq(s.created, 3);
    CK_POOL(dal_pool_acquire(p, 0, &x), DAL_E_POOL_TIMEOUT);
    ck_assert_ptr_null(x);
    ck_assert_ptr_nonnull(strstr(dal_pool_errmsg(), "within 30 ms"));
    s = stats(p);
    ck_assert_uint_eq(s.acquire_timeouts, 1);
    ck_assert_uint_eq(s.acquires, 3);
    ck_assert_int_eq(s.waiting, 0);
    for (i = 0; i < 3; i++)
        put(p, d[i]);
    s = stats(p);
    ck_assert_int_eq(s.idle, 3);
    ck_assert_int_eq(s.in_use, 0);
    /* The same limits from the URL, which wins over the struct. */
    dal_pool_free(p);
    p = mkpool(purl("pool_min=1&pool_max=1&pool_timeout=20"), &c);
    ck_assert_int_eq(stats(p).total, 1);
    d[0] = get(p);
    CK_POOL(dal_pool_acquire(p, 0, &x), DAL_E_POOL_TIMEOUT);
    put(p, d[0]);
    dal_pool_free(p);
}
END_TEST

struct holder {
    dal_pool *p;
    dal_db *d;
};

static void *release_when_waited(void *arg)
{
    struct holder *h = arg;

    /* The main thread is waiting: giving the connection back must wake
     * it. */
    if (wait_for(h->p, waiting_is, 1))
        dal_pool_release(h->p, h->d);
    return NULL;
}

START_TEST(t_wait_is_woken)
{
    dal_pool_config c = cfg0();
    struct holder h;
    pthread_t t;
    dal_db *d = NULL;
    dal_pool_counters s;

    c.max_size = 1;
    c.acquire_timeout_ms = -1; /* without end: only a release ends it */
    h.p = mkpool(url(), &c);
    h.d = get(h.p);
    ck_assert_int_eq(pthread_create(&t, NULL, release_when_waited, &h), 0);
    CK_POOL(dal_pool_acquire(h.p, 0, &d), DAL_OK);
    pthread_join(t, NULL);
    ck_assert_ptr_eq(d, h.d);
    s = stats(h.p);
    ck_assert_uint_eq(s.acquires, 2);
    ck_assert_uint_eq(s.acquire_waits, 1);
    ck_assert_uint_eq(s.created, 1);
    ck_assert(s.acquire_wait_max_ns <= s.acquire_wait_ns);
    put(h.p, d);
    dal_pool_free(h.p);
}
END_TEST

/* ---- health check ---------------------------------------------------- */

static atomic_int pings;

static int count_pings(const dal_event *ev, void *data)
{
    (void)data;
    if (ev->sql && !strcmp(ev->sql, "SELECT 1"))
        atomic_fetch_add(&pings, 1);
    return DAL_OK;
}

static dal_observer *ping_counter(void)
{
    dal_observer *o = NULL;
    dal_hook h;

    memset(&h, 0, sizeof h);
    h.events = DAL_EVENT_BIT(DAL_EV_BEFORE);
    h.fn = count_pings;
    ck_assert_int_eq(dal_observer_new(&o), DAL_OK);
    ck_assert_int_eq(dal_observer_add(o, &h), DAL_OK);
    return o;
}

START_TEST(t_health_after_idle_only)
{
    dal_pool_config c = cfg0();
    dal_observer *o = ping_counter();
    dal_pool *p;
    dal_db *d;

    atomic_store(&pings, 0);
    c.max_size = 1;
    c.health_idle_ms = 600000; /* never reached in this test */
    c.observer = o;
    p = mkpool(url(), &c);
    put(p, get(p));
    put(p, get(p));
    ck_assert_int_eq(atomic_load(&pings), 0);
    ck_assert_uint_eq(stats(p).health_checks, 0);
    dal_pool_free(p);

    c.health_idle_ms = 1;
    p = mkpool(url(), &c);
    put(p, get(p)); /* new: no ping */
    ck_assert_int_eq(atomic_load(&pings), 0);
    sleep_ms(20);   /* idle past the threshold */
    d = get(p);
    ck_assert_int_eq(atomic_load(&pings), 1);
    ck_assert_uint_eq(stats(p).health_checks, 1);
    ck_assert_uint_eq(stats(p).health_failures, 0);
    put(p, d);
    dal_pool_free(p);
    ck_assert_int_eq(dal_observer_free(o), DAL_OK);
}
END_TEST

START_TEST(t_health_replaces_dead)
{
    dal_pool_config c = cfg0();
    dal_pool_counters s;
    dal_pool *p;
    dal_db *d;
    int64_t pid, pid2;

    if (!is_pg())
        return; /* SQLite connections do not die: t_health_after_idle */
    c.max_size = 1;
    c.health_idle_ms = 1;
    p = mkpool(url(), &c);
    d = get(p);
    pid = qint(d, "SELECT pg_backend_pid()");
    put(p, d);
    kill_backend(pid);
    sleep_ms(5);
    d = get(p);
    pid2 = qint(d, "SELECT pg_backend_pid()");
    ck_assert_int_ne(pid, pid2);
    s = stats(p);
    ck_assert_uint_eq(s.health_checks, 1);
    ck_assert_uint_eq(s.health_failures, 1);
    ck_assert_uint_eq(s.created, 2);
    ck_assert_uint_eq(s.destroyed, 1);
    ck_assert_int_eq(s.total, 1);
    put(p, d);
    dal_pool_free(p);
}
END_TEST

/* ---- lifetime and idle timeout --------------------------------------- */

START_TEST(t_idle_reaped)
{
    dal_pool_config c = cfg0();
    dal_pool *p;
    dal_db *d[3];
    int i;

    c.min_size = 1;
    c.max_size = 4;
    c.idle_timeout_ms = 20;
    c.reaper_interval_ms = 5;
    p = mkpool(url(), &c);
    for (i = 0; i < 3; i++)
        d[i] = get(p);
    for (i = 0; i < 3; i++)
        put(p, d[i]);
    /* Down to min_size, never below. */
    ck_assert(wait_for(p, total_is, 1));
    ck_assert_uint_eq(stats(p).destroyed, 2);
    sleep_ms(50);
    ck_assert_int_eq(stats(p).total, 1);
    dal_pool_free(p);
}
END_TEST

static int created_at_least(dal_pool *p, int n)
{
    return stats(p).created >= (uint64_t)n;
}

START_TEST(t_lifetime_reaped)
{
    dal_pool_config c = cfg0();
    dal_pool_counters s;
    dal_pool *p;
    dal_db *d;

    c.min_size = 2;
    c.max_size = 2;
    c.max_lifetime_ms = 30;
    c.lifetime_jitter_ms = 10;
    c.reaper_interval_ms = 5;
    p = mkpool(url(), &c);
    /* Both first connections retire and the reaper opens new ones. */
    ck_assert(wait_for(p, destroyed_at_least, 2));
    ck_assert(wait_for(p, created_at_least, 4));
    dal_pool_free(p);

    /* Without a reaper, a checkout retires an expired connection. */
    c.min_size = 0;
    c.max_size = 1;
    c.reaper_interval_ms = -1;
    p = mkpool(url(), &c);
    put(p, get(p));
    sleep_ms(40);
    d = get(p);
    s = stats(p);
    ck_assert_uint_eq(s.destroyed, 1);
    ck_assert_uint_eq(s.created, 2);
    put(p, d);
    dal_pool_free(p);
}
END_TEST

/* ---- reset on return ------------------------------------------------- */

START_TEST(t_reset_on_return)
{
    dal_pool_config c = cfg0();
    dal_pool *p;
    dal_db *d;
    char *v;

    c.max_size = 1;
    p = mkpool(url(), &c);
    d = get(p);
    exec_ok(d, "CREATE TABLE pool_t (x INT)");
    /* An open transaction (two levels deep) is rolled back. */
    ck_assert_int_eq(dal_begin(d, 0), DAL_OK);
    ck_assert_int_eq(dal_begin(d, 0), DAL_OK);
    exec_ok(d, "INSERT INTO pool_t VALUES (1)");
    ck_assert_int_eq(dal_set_actor(d, "someone"), DAL_OK);
    if (is_pg()) {
        exec_ok(d, "SET application_name = 'changed'");
        exec_ok(d, "CREATE TEMP TABLE pool_tmp (x INT)");
    } else {
        exec_ok(d, "PRAGMA foreign_keys=OFF");
    }
    put(p, d);
    d = get(p);
    ck_assert_int_eq(dal_tx_depth(d), 0);
    ck_assert_int_eq(qint(d, "SELECT count(*) FROM pool_t"), 0);
    ck_assert_ptr_null(dal_actor(d));
    if (is_pg()) {
        v = qtext(d, "SHOW application_name");
        ck_assert_str_eq(v, "libdal");
        dal_free(v);
        ck_assert_int_eq(qint(d, "SELECT count(*) FROM pg_class WHERE "
                              "relname = 'pool_tmp'"), 0);
        /* A transaction begun as plain SQL and a failed one, too. */
        exec_ok(d, "BEGIN");
        ck_assert_int_ne(dal_exec(d, "SELECT * FROM no_such_table"),
                         DAL_OK);
    } else {
        ck_assert_int_eq(qint(d, "PRAGMA foreign_keys"), 1);
        exec_ok(d, "BEGIN");
        exec_ok(d, "INSERT INTO pool_t VALUES (2)");
    }
    put(p, d);
    d = get(p);
    ck_assert_int_eq(qint(d, "SELECT count(*) FROM pool_t"), 0);
    /* The statement cache survived the reset: a cached statement runs. */
    ck_assert_int_eq(qint(d, "SELECT count(*) FROM pool_t"), 0);
    exec_ok(d, "DROP TABLE pool_t");
    put(p, d);
    ck_assert_uint_eq(stats(p).created, 1);
    ck_assert_uint_eq(stats(p).destroyed, 0);
    dal_pool_free(p);
}
END_TEST

/* ---- stats and metrics ----------------------------------------------- */

START_TEST(t_stats_workload)
{
    dal_pool_config c = cfg0();
    dal_pool_counters s;
    dal_metrics *m = NULL;
    dal_pool *p, *bad = NULL;
    dal_db *d, *e;
    char *text = NULL;
    int i;

    c.max_size = 2;
    p = mkpool(url(), &c);
    for (i = 0; i < 5; i++)
        put(p, get(p));
    d = get(p);
    e = get(p);
    s = stats(p);
    ck_assert_int_eq(s.total, 2);
    ck_assert_int_eq(s.in_use, 2);
    ck_assert_int_eq(s.idle, 0);
    ck_assert_int_eq(s.waiting, 0);
    ck_assert_uint_eq(s.acquires, 7);
    ck_assert_uint_eq(s.acquire_waits, 0);
    ck_assert_uint_eq(s.acquire_timeouts, 0);
    ck_assert_uint_eq(s.created, 2);
    ck_assert_uint_eq(s.destroyed, 0);
    ck_assert_uint_eq(s.failed, 0);
    ck_assert(s.acquire_wait_max_ns <= s.acquire_wait_ns);
    put(p, e);

    ck_assert_int_eq(dal_metrics_new(&m), DAL_OK);
    ck_assert_int_eq(dal_metrics_add_pool(m, p, "main"), DAL_OK);
    ck_assert_int_eq(dal_metrics_add_pool(m, p, "again"), DAL_E_MISUSE);
    ck_assert_int_eq(dal_metrics_add_pool(m, NULL, "x"), DAL_E_MISUSE);
    ck_assert_int_eq(dal_metrics_write_prometheus(m, &text, NULL), DAL_OK);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE dal_pool_connections "
                                 "gauge\n"));
    ck_assert_ptr_nonnull(strstr(text, "dal_pool_connections{pool=\"main\","
                                 "state=\"idle\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "dal_pool_connections{pool=\"main\","
                                 "state=\"in_use\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "dal_pool_size{pool=\"main\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "dal_pool_waiting{pool=\"main\"} "
                                 "0\n"));
    ck_assert_ptr_nonnull(strstr(text, "dal_pool_acquire_wait_seconds_count"
                                 "{pool=\"main\"} 7\n"));
    ck_assert_ptr_nonnull(strstr(text, "dal_pool_connection_events_total{"
                                 "pool=\"main\",event=\"created\"} 2\n"));
    dal_free(text);
    put(p, d);
    ck_assert_int_eq(dal_metrics_free(m), DAL_OK);
    dal_pool_free(p);

    /* A connection that cannot be made: counted as failed, with the
     * driver's message. */
    ck_assert_int_eq(dal_pool_new("sqlite:///nonexistent-dir/x.db?mode=rw",
                                  NULL, &bad), DAL_OK);
    d = (dal_db *)1;
    ck_assert_int_eq(dal_pool_acquire(bad, 0, &d), DAL_E_CONNECT);
    ck_assert_ptr_null(d);
    ck_assert_ptr_nonnull(strstr(dal_pool_errmsg(), "nonexistent-dir"));
    s = stats(bad);
    ck_assert_uint_eq(s.failed, 1);
    ck_assert_int_eq(s.total, 0);
    dal_pool_free(bad);
}
END_TEST

/* ---- hooks ----------------------------------------------------------- */

static char evlog[64];
static atomic_int nev;

static int log_event(const dal_event *ev, void *data)
{
    int i = atomic_fetch_add(&nev, 1);

    (void)data;
    if (i < (int)sizeof evlog - 1)
        evlog[i] = "BAcdbCrOR"[ev->kind];
    ck_assert_str_eq(ev->role, "primary");
    return DAL_OK;
}

START_TEST(t_hooks_in_order)
{
    dal_pool_config c = cfg0();
    dal_observer *o = NULL;
    dal_pool *p;
    dal_db *d;
    dal_hook h;

    memset(&h, 0, sizeof h);
    h.events = DAL_EVENTS_POOL | DAL_EVENTS_CONNECTION | DAL_EVENTS_TX;
    h.fn = log_event;
    ck_assert_int_eq(dal_observer_new(&o), DAL_OK);
    ck_assert_int_eq(dal_observer_add(o, &h), DAL_OK);
    memset(evlog, 0, sizeof evlog);
    atomic_store(&nev, 0);
    c.max_size = 1;
    c.observer = o;
    p = mkpool(url(), &c);
    d = get(p);
    ck_assert_ptr_eq(dal_observer_of(d), o);
    ck_assert_int_eq(dal_begin(d, 0), DAL_OK);
    put(p, d);   /* the open transaction is rolled back before RETURN */
    put(p, get(p));
    dal_pool_free(p);
    /* connect, checkout, begin, rollback, return, checkout, return,
     * disconnect */
    ck_assert_str_eq(evlog, "cObrRORd");
    ck_assert_int_eq(dal_observer_free(o), DAL_OK);
}
END_TEST

/* ---- tenants --------------------------------------------------------- */

/* Write n rows as tenant w, then read as tenant r. */
static void tenant_rows(dal_pool *p, const char *w, int n)
{
    dal_db *d = NULL;
    int i;

    CK_POOL(dal_pool_acquire_tenant(p, w, 0, &d), DAL_OK);
    ck_assert_str_eq(dal_tenant(d), w);
    exec_ok(d, "CREATE TABLE IF NOT EXISTS items (x INT)");
    for (i = 0; i < n; i++)
        exec_ok(d, "INSERT INTO items VALUES (1)");
    put(p, d);
}

static int64_t tenant_count(dal_pool *p, const char *t)
{
    dal_db *d = NULL;
    int64_t n;

    CK_POOL(dal_pool_acquire_tenant(p, t, 0, &d), DAL_OK);
    n = qint(d, "SELECT count(*) FROM items");
    put(p, d);
    return n;
}

static void check_isolation(dal_pool *p)
{
    tenant_rows(p, "ta", 3);
    tenant_rows(p, "tb", 0);
    ck_assert_int_eq(tenant_count(p, "tb"), 0);
    ck_assert_int_eq(tenant_count(p, "ta"), 3);
    tenant_rows(p, "tb", 1);
    ck_assert_int_eq(tenant_count(p, "ta"), 3);
    ck_assert_int_eq(tenant_count(p, "tb"), 1);
}

START_TEST(t_tenant_names)
{
    static const char *const bad[] = {
        "", "1abc", "a-b", "a;drop", "x y", "a\"b", "../etc", "t{tenant}",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    dal_pool *p = mkpool(url(), NULL);
    dal_db *d = (dal_db *)1;
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CK_POOL(dal_pool_acquire_tenant(p, bad[i], 0, &d), DAL_E_MISUSE);
        ck_assert_ptr_null(d);
    }
    CK_POOL(dal_pool_acquire_tenant(p, NULL, 0, &d), DAL_E_MISUSE);
    if (!is_pg()) {
        /* SQLite has no schemas: a tenant needs a URL template. */
        CK_POOL(dal_pool_acquire_tenant(p, "ta", 0, &d),
                DAL_E_UNSUPPORTED);
    }
    ck_assert_int_eq(stats(p).total, 0);
    dal_pool_free(p);
}
END_TEST

START_TEST(t_tenant_schema)
{
    dal_pool_config c = cfg0();
    dal_pool *p;
    dal_db *d;
    char *v;

    if (!is_pg())
        return; /* SQLite: t_tenant_database */
    d = side();
    exec_ok(d, "CREATE SCHEMA ta");
    exec_ok(d, "CREATE SCHEMA tb");
    dal_close(d);
    c.max_size = 1; /* one connection serves both tenants in turn */
    p = mkpool(url(), &c);
    check_isolation(p);
    /* Without a tenant, the search path is back to the default. */
    d = get(p);
    v = qtext(d, "SHOW search_path");
    ck_assert_str_eq(v, "\"$user\", public");
    dal_free(v);
    ck_assert_ptr_null(dal_tenant(d));
    ck_assert_int_eq(qint(d, "SELECT count(*) FROM pg_tables WHERE "
                          "tablename = 'items' AND schemaname = 'public'"),
                     0);
    put(p, d);
    ck_assert_uint_eq(stats(p).created, 1);
    dal_pool_free(p);
    d = side();
    exec_ok(d, "DROP SCHEMA ta CASCADE");
    exec_ok(d, "DROP SCHEMA tb CASCADE");
    dal_close(d);
}
END_TEST

/* The test URL with its database (PostgreSQL) or file (SQLite) replaced
 * by a template. */
static const char *template_url(void)
{
    static char buf[512];
    const char *u = url(), *q, *slash;

    if (!is_pg()) {
        snprintf(buf, sizeof buf, "sqlite:///tmp/dal-pool-%ld-{tenant}.db",
                 main_pid);
        return buf;
    }
    q = strchr(u, '?');
    q = q ? q : u + strlen(u);
    for (slash = q; slash > u && *slash != '/'; slash--)
        ;
    snprintf(buf, sizeof buf, "%.*s/{tenant}%s", (int)(slash - u), u, q);
    return buf;
}

static void tenant_files(const char *verb)
{
    static const char *const t[] = {"ta", "tb", "tc"};
    char path[160];
    dal_db *d;
    int i;

    if (!is_pg()) {
        for (i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "/tmp/dal-pool-%ld-%s.db", main_pid,
                     t[i]);
            unlink(path);
        }
        return;
    }
    d = side();
    for (i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s DATABASE %s%s%s", verb,
                 verb[0] == 'D' ? "IF EXISTS " : "", t[i],
                 verb[0] == 'D' ? " WITH (FORCE)" : "");
        exec_ok(d, path);
    }
    dal_close(d);
}

START_TEST(t_tenant_database)
{
    dal_pool_config c = cfg0();
    dal_pool *p;
    dal_db *a = NULL, *b = NULL, *x = (dal_db *)1;
    dal_pool_counters s;

    if (is_mem())
        return; /* the template is a file: same as sqlite-file */
    tenant_files("DROP");
    if (is_pg())
        tenant_files("CREATE");
    c.max_tenants = 2;
    c.acquire_timeout_ms = 30;
    p = mkpool(template_url(), &c);
    CK_POOL(dal_pool_acquire(p, 0, &x), DAL_E_MISUSE);
    ck_assert_int_eq(stats(p).total, 0);
    check_isolation(p);
    /* Two tenant databases at once: a third waits for a free one. */
    CK_POOL(dal_pool_acquire_tenant(p, "ta", 0, &a), DAL_OK);
    CK_POOL(dal_pool_acquire_tenant(p, "tb", 0, &b), DAL_OK);
    CK_POOL(dal_pool_acquire_tenant(p, "tc", 0, &x), DAL_E_POOL_TIMEOUT);
    put(p, a);
    s = stats(p);
    CK_POOL(dal_pool_acquire_tenant(p, "tc", 0, &x), DAL_OK);
    ck_assert_uint_eq(stats(p).destroyed, s.destroyed + 1); /* ta's */
    put(p, x);
    put(p, b);
    ck_assert_int_eq(tenant_count(p, "ta"), 3);
    dal_pool_free(p);
    tenant_files("DROP");
}
END_TEST

/* ---- transactions through the pool ---------------------------------- */

static atomic_int tx_calls;

static int tx_insert(dal_db *d, void *data)
{
    (void)data;
    atomic_fetch_add(&tx_calls, 1);
    return dal_exec(d, "INSERT INTO pool_t VALUES (1)");
}

static int tx_fail(dal_db *d, void *data)
{
    (void)data;
    dal_exec(d, "INSERT INTO pool_t VALUES (1)");
    return DAL_E_DATA;
}

START_TEST(t_tx_run)
{
    dal_retry_policy pol;
    dal_pool_config c = cfg0();
    dal_pool *p;
    dal_db *d;
    int64_t pid;

    memset(&pol, 0, sizeof pol);
    pol.max_attempts = 3;
    c.max_size = 1;
    c.health_idle_ms = -1; /* no ping: BEGIN finds the loss */
    p = mkpool(url(), &c);
    d = get(p);
    exec_ok(d, "CREATE TABLE pool_t (x INT)");
    put(p, d);
    atomic_store(&tx_calls, 0);
    CK_POOL(dal_pool_tx_run(p, 0, 0, tx_insert, NULL, &pol), DAL_OK);
    ck_assert_int_eq(atomic_load(&tx_calls), 1);
    CK_POOL(dal_pool_tx_run(p, 0, 0, tx_fail, NULL, &pol), DAL_E_DATA);
    CK_POOL(dal_pool_tx_run(p, 0, 0, NULL, NULL, &pol), DAL_E_MISUSE);
    ck_assert_int_eq(stats(p).in_use, 0);
    if (is_pg()) {
        /* The idle connection dies; the next transaction's BEGIN finds
         * it lost, and the attempt is made again on a new one. */
        d = get(p);
        pid = qint(d, "SELECT pg_backend_pid()");
        put(p, d);
        kill_backend(pid);
        atomic_store(&tx_calls, 0);
        CK_POOL(dal_pool_tx_run(p, 0, 0, tx_insert, NULL, &pol), DAL_OK);
        ck_assert_int_eq(atomic_load(&tx_calls), 1);
        ck_assert_uint_eq(stats(p).destroyed, 1);
        ck_assert_uint_eq(stats(p).created, 2);
        /* Without a policy, nothing is retried. */
        d = get(p);
        pid = qint(d, "SELECT pg_backend_pid()");
        put(p, d);
        kill_backend(pid);
        CK_POOL(dal_pool_tx_run(p, 0, 0, tx_insert, NULL, NULL),
                DAL_E_CONNECT);
        ck_assert_int_eq(atomic_load(&tx_calls), 1);
        ck_assert_uint_eq(stats(p).destroyed, 2);
    }
    d = get(p);
    ck_assert_int_eq(qint(d, "SELECT count(*) FROM pool_t"),
                     is_pg() ? 2 : 1);
    exec_ok(d, "DROP TABLE pool_t");
    put(p, d);
    dal_pool_free(p);
}
END_TEST

/* ---- contention ------------------------------------------------------ */

#define NTHREADS 16
#define NCHECKOUTS 10000
#define NSLOTS 64

static struct {
    _Atomic(dal_db *) db;
    atomic_int busy;
    atomic_long uses;
} slots[NSLOTS];

static atomic_int overlap;

static int slot_of(dal_db *d)
{
    dal_db *none;
    int i;

    for (i = 0; i < NSLOTS; i++) {
        if (atomic_load(&slots[i].db) == d)
            return i;
        none = NULL;
        if (atomic_compare_exchange_strong(&slots[i].db, &none, d))
            return i;
        if (none == d)
            return i;
    }
    return -1;
}

struct worker {
    dal_pool *p;
    int n, errors;
};

static void *contend(void *arg)
{
    struct worker *w = arg;
    dal_db *d;
    int64_t one;
    int i, s;

    for (i = 0; i < w->n; i++) {
        if (dal_pool_acquire(w->p, 0, &d) != DAL_OK) {
            w->errors++;
            continue;
        }
        s = slot_of(d);
        if (s < 0 || atomic_fetch_add(&slots[s].busy, 1) != 0)
            atomic_fetch_add(&overlap, 1);
        /* The trivial thing: one cached statement. */
        if (dal_query_int64(d, "SELECT 1", NULL, 0, &one) != DAL_OK
            || one != 1)
            w->errors++;
        if (s >= 0) {
            atomic_fetch_add(&slots[s].uses, 1);
            atomic_fetch_sub(&slots[s].busy, 1);
        }
        if (dal_pool_release(w->p, d) != DAL_OK)
            w->errors++;
    }
    return NULL;
}

static void run_contention(int per_thread)
{
    dal_pool_config c = cfg0();
    struct worker w[NTHREADS];
    pthread_t t[NTHREADS];
    dal_pool_counters s;
    long sum = 0;
    int i, errors = 0;

    memset(slots, 0, sizeof slots);
    atomic_store(&overlap, 0);
    c.max_size = 4;
    c.acquire_timeout_ms = -1;
    c.reaper_interval_ms = 1;
    w[0].p = mkpool(url(), &c);
    for (i = 0; i < NTHREADS; i++) {
        w[i].p = w[0].p;
        w[i].n = per_thread;
        w[i].errors = 0;
        ck_assert_int_eq(pthread_create(&t[i], NULL, contend, &w[i]), 0);
    }
    for (i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        errors += w[i].errors;
    }
    for (i = 0; i < NSLOTS; i++)
        sum += atomic_load(&slots[i].uses);
    s = stats(w[0].p);
    ck_assert_int_eq(errors, 0);
    ck_assert_int_eq(atomic_load(&overlap), 0);
    ck_assert_int_eq(sum, (long)NTHREADS * per_thread);
    ck_assert_uint_eq(s.acquires, (uint64_t)NTHREADS * per_thread);
    ck_assert_int_eq(s.in_use, 0);
    ck_assert_int_eq(s.waiting, 0);
    ck_assert(s.total >= 1 && s.total <= 4);
    ck_assert_uint_eq(s.created - s.destroyed, (uint64_t)s.total);
    ck_assert_uint_eq(s.acquire_timeouts, 0);
    dal_pool_free(w[0].p);
}

START_TEST(t_contention)
{
    /* PostgreSQL resets each connection given back with a round trip
     * per statement: fewer checkouts there, on two shared CPUs. */
    run_contention(is_pg() ? 300 : NCHECKOUTS);
}
END_TEST

/* ---- misuse and allocation failures --------------------------------- */

START_TEST(t_misuse)
{
    dal_pool_config c = cfg0();
    dal_pool *p = NULL, *q;
    dal_db *d, *own;
    dal_stmt *st = NULL;

    CK_POOL(dal_pool_new(NULL, NULL, &p), DAL_E_MISUSE);
    CK_POOL(dal_pool_new(url(), NULL, NULL), DAL_E_MISUSE);
    CK_POOL(dal_pool_new("nosuch:x", NULL, &p), DAL_E_URL);
    ck_assert_ptr_null(p);
    CK_POOL(dal_pool_new(purl("pool_max=abc"), NULL, &p), DAL_E_URL);
    ck_assert_ptr_nonnull(strstr(dal_pool_errmsg(), "pool_max"));
    CK_POOL(dal_pool_new(purl("pool_bogus=1"), NULL, &p), DAL_E_URL);
    ck_assert_ptr_nonnull(strstr(dal_pool_errmsg(), "pool_bogus"));
    CK_POOL(dal_pool_new(purl("pool_min=3&pool_max=2"), NULL, &p),
            DAL_E_MISUSE);
    c.max_lifetime_ms = 10;
    c.lifetime_jitter_ms = 10;
    CK_POOL(dal_pool_new(url(), &c, &p), DAL_E_MISUSE);
    ck_assert_ptr_null(p);

    p = mkpool(url(), NULL);
    q = mkpool(url(), NULL);
    CK_POOL(dal_pool_acquire(NULL, 0, &d), DAL_E_MISUSE);
    CK_POOL(dal_pool_acquire(p, 0, NULL), DAL_E_MISUSE);
    CK_POOL(dal_pool_acquire(p, 0x100, &d), DAL_E_MISUSE);
    ck_assert_int_eq(dal_pool_stats(NULL, NULL), DAL_E_MISUSE);
    CK_POOL(dal_pool_release(p, NULL), DAL_OK);
    /* A connection not from this pool, or released twice. */
    own = side();
    CK_POOL(dal_pool_release(p, own), DAL_E_MISUSE);
    dal_close(own);
    d = get(p);
    CK_POOL(dal_pool_release(q, d), DAL_E_MISUSE);
    /* A statement still open: refused, and the connection stays out. */
    ck_assert_int_eq(dal_prepare(d, "SELECT 1", &st), DAL_OK);
    CK_POOL(dal_pool_release(p, d), DAL_E_MISUSE);
    ck_assert_int_eq(stats(p).in_use, 1);
    dal_finalize(st);
    put(p, d);
    CK_POOL(dal_pool_release(p, d), DAL_E_MISUSE);
    /* DAL_POOL_READ with no replica: the primary serves. */
    CK_POOL(dal_pool_acquire(p, DAL_POOL_READ, &d), DAL_OK);
    put(p, d);
    dal_pool_free(q);
    dal_pool_free(p);
    dal_pool_free(NULL);
}
END_TEST

START_TEST(t_nomem)
{
    dal_pool_config c = cfg0();
    dal_pool *p;
    dal_db *d, *e;
    long n;
    int rc, hit;

    c.min_size = 1;
    c.max_size = 2;
    c.reaper_interval_ms = -1; /* one thread: failures land in order */
    for (n = 1; n < 2000; n++) {
        p = NULL;
        nomem_arm(n);
        rc = dal_pool_new(purl("pool_timeout=100"), &c, &p);
        if (rc == DAL_OK) {
            rc = dal_pool_acquire(p, 0, &d);
            if (rc == DAL_OK) {
                /* The second opens a connection; the first stays out
                 * when it fails, and dal_pool_free() closes it. */
                rc = dal_pool_acquire(p, 0, &e);
                if (rc == DAL_OK) {
                    dal_pool_release(p, e);
                    dal_pool_release(p, d);
                }
            }
            dal_pool_free(p);
        }
        hit = atomic_load(&fail_hit);
        nomem_arm(0);
        ck_assert_msg(rc == DAL_OK || rc == DAL_NOMEM
                      || (rc == DAL_E_CONNECT && hit),
                      "step %ld: %s (%s)", n, dal_errstr(rc),
                      dal_pool_errmsg());
        ck_assert_msg(atomic_load(&live_blocks) == base_blocks,
                      "step %ld leaked %ld blocks", n,
                      atomic_load(&live_blocks) - base_blocks);
        if (!hit)
            break;
    }
    ck_assert_msg(n > 5 && n < 2000, "%ld steps", n);
}
END_TEST

/* ---- suites ---------------------------------------------------------- */

static Suite *pool_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("pool");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, t_min_max_timeout);
    tcase_add_test(tc, t_wait_is_woken);
    tcase_add_test(tc, t_health_after_idle_only);
    tcase_add_test(tc, t_health_replaces_dead);
    tcase_add_test(tc, t_idle_reaped);
    tcase_add_test(tc, t_lifetime_reaped);
    tcase_add_test(tc, t_reset_on_return);
    tcase_add_test(tc, t_stats_workload);
    tcase_add_test(tc, t_hooks_in_order);
    tcase_add_test(tc, t_tenant_names);
    tcase_add_test(tc, t_tenant_schema);
    tcase_add_test(tc, t_tenant_database);
    tcase_add_test(tc, t_tx_run);
    tcase_add_test(tc, t_contention);
    tcase_add_test(tc, t_misuse);
    tcase_add_test(tc, t_nomem);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *contention_suite(void)
{
    Suite *s = suite_create("pool[contention]");
    TCase *tc = tcase_create("contention");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, t_contention);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "pool[sqlite-mem]", "pool[sqlite-file]", "pool[postgres]",
    };
    const char *pg, *only = getenv("POOL_ONLY");
    int kind, failed = 0;
    SRunner *sr;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "pool: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    main_pid = (long)getpid();
    if (only && !strcmp(only, "contention")) {
        test_backend = BE_SQLITE_MEM;
        test_url = "sqlite::memory:";
        sr = srunner_create(contention_suite());
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
    }
    pg = getenv("DAL_TEST_PG_URL");
    if (pg == NULL || pg[0] == '\0') {
        printf("pool: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
        pg = NULL;
    }
    for (kind = BE_SQLITE_MEM; kind <= BE_POSTGRES; kind++) {
        if (kind == BE_POSTGRES && pg == NULL)
            break;
        test_backend = (enum backend)kind;
        test_url = kind == BE_SQLITE_MEM ? "sqlite::memory:" : pg;
        fflush(stdout);
        sr = srunner_create(pool_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    if (atomic_load(&live_blocks) != 0) {
        printf("pool: libdal holds %ld blocks at exit\n",
               atomic_load(&live_blocks));
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
