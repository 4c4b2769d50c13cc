/*
 * tests/cluster.c - read replicas and failover (lib/cluster.c and the
 * pool's use of it):
 *   cluster[unit]      URL parsing, backoff, replica choice, LSNs,
 *                      allocation failures; no server
 *   cluster[sqlite]    replicas on SQLite are refused (DAL_E_UNSUPPORTED)
 *   cluster[postgres]  a real primary and streaming standby from
 *                      tests/pg/with-cluster.sh (skipped when
 *                      DAL_TEST_PG_PRIMARY_URL is unset): probes, finding
 *                      the primary, lag budget, routing, read-your-writes,
 *                      a replica going down, contention, and last the
 *                      failover (kill the primary, promote the standby),
 *                      which changes the cluster for good.
 *
 * Run:  tests/pg/with-cluster.sh build/tests/cluster   (make check-cluster)
 * CK_RUN_SUITE / CK_RUN_CASE narrow a run; CK_FORK=no runs in one process.
 *
 * The counting allocator here is atomic (the pool tests run threads), so
 * it is this file's own rather than tests/harness.h's.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dal.h>

#include "cluster-int.h"
#include "pool-int.h"
#include "../backends/postgres/pg-int.h"

static const char *primary_url, *standby_url, *cluster_url, *multi_url;

/* ---- counting allocator (atomic) ------------------------------------ */

static atomic_long live_blocks;
static long base_blocks;
static atomic_long fail_at, fail_seq;
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

static void setup(void)
{
    base_blocks = atomic_load(&live_blocks);
}

static void teardown(void)
{
    nomem_arm(0);
    ck_assert_int_eq(atomic_load(&live_blocks), base_blocks);
}

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

#define MS (INT64_C(1000000))

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* ---- cluster[unit] --------------------------------------------------- */

START_TEST(t_parse)
{
    dal__cluster *c = NULL;
    char err[256];
    int64_t ms;

    ck_assert_int_eq(dal__cluster_parse(
        "postgres://app:pw@h1:5432,h2:5433/shop?sslmode=disable"
        "&replicas=r1:6000,r2:6001,r3&max_replica_lag_ms=250"
        "&read_your_writes=on&connect_timeout=3", &c, err, sizeof err),
        DAL_OK);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(dal__cluster_count(c, DAL__CL_PRIMARY), 2);
    ck_assert_int_eq(dal__cluster_count(c, DAL__CL_REPLICA), 3);
    ck_assert_str_eq(dal__cluster_host(c, DAL__CL_PRIMARY, 1), "h2:5433");
    ck_assert_str_eq(dal__cluster_host(c, DAL__CL_REPLICA, 2), "r3");
    /* Each host alone, with the options libpq knows and none of ours. */
    ck_assert_str_eq(dal__cluster_url(c, DAL__CL_PRIMARY, 0),
                     "postgres://app:pw@h1:5432/shop?sslmode=disable"
                     "&connect_timeout=3");
    ck_assert_str_eq(dal__cluster_url(c, DAL__CL_REPLICA, 1),
                     "postgres://app:pw@r2:6001/shop?sslmode=disable"
                     "&connect_timeout=3");
    ck_assert_int_eq(dal__cluster_max_lag_ms(c), 250);
    ck_assert_int_eq(dal__cluster_ryw(c, NULL), DAL__RYW_LSN);
    ck_assert_int_eq(dal__cluster_primary(c, NULL), -1);
    dal__cluster_free(c);

    /* A time window for read-your-writes; no path, no user. */
    ck_assert_int_eq(dal__cluster_parse("postgresql://h1?replicas=h2"
                                        "&read_your_writes=1500", &c, err,
                                        sizeof err), DAL_OK);
    ck_assert_int_eq(dal__cluster_ryw(c, &ms), DAL__RYW_TIME);
    ck_assert_int_eq(ms, 1500);
    ck_assert_int_eq(dal__cluster_max_lag_ms(c), -1);
    ck_assert_str_eq(dal__cluster_url(c, DAL__CL_REPLICA, 0),
                     "postgresql://h2");
    dal__cluster_free(c);

    /* A plain URL is no cluster. */
    c = (dal__cluster *)1;
    ck_assert_int_eq(dal__cluster_parse("postgres://u@h1:5432/db?"
                                        "sslmode=disable", &c, err,
                                        sizeof err), DAL_OK);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(dal__cluster_parse("sqlite::memory:", &c, err,
                                        sizeof err), DAL_OK);
    ck_assert_ptr_null(c);
    /* A multi-host list alone is one (failover). */
    ck_assert_int_eq(dal__cluster_parse("postgres://h1,h2/db", &c, err,
                                        sizeof err), DAL_OK);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(dal__cluster_count(c, DAL__CL_PRIMARY), 2);
    ck_assert_int_eq(dal__cluster_count(c, DAL__CL_REPLICA), 0);
    ck_assert_str_eq(dal__cluster_url(c, DAL__CL_PRIMARY, 1),
                     "postgres://h2/db");
    dal__cluster_free(c);
}
END_TEST

START_TEST(t_parse_errors)
{
    static const struct {
        const char *url;
        int rc;
        const char *msg;
    } cases[] = {
        {"postgres://h1?replicas=a,,b", DAL_E_URL, "empty host"},
        {"postgres://h1,/db", DAL_E_URL, "empty host in the primary"},
        {"postgres://h1?replicas=a/b", DAL_E_URL, "malformed host 'a/b'"},
        {"postgres://h1?max_replica_lag_ms=-1", DAL_E_URL,
         "'max_replica_lag_ms'"},
        {"postgres://h1?max_replica_lag_ms=12x", DAL_E_URL, "'12x'"},
        {"postgres://h1?read_your_writes=maybe", DAL_E_URL,
         "'read_your_writes'"},
        {"postgres://h1?replicas=a&replicas=b", DAL_E_URL, "twice"},
        {"sqlite::memory:?replicas=h2:5432", DAL_E_UNSUPPORTED,
         "option 'replicas' needs a PostgreSQL primary"},
        {"sqlite:app.db?mode=rwc&read_your_writes=on", DAL_E_UNSUPPORTED,
         "the sqlite backend has none"},
    };
    dal__cluster *c;
    char err[256];
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        c = NULL;
        ck_assert_msg(dal__cluster_parse(cases[i].url, &c, err, sizeof err)
                      == cases[i].rc, "%s", cases[i].url);
        ck_assert_ptr_null(c);
        ck_assert_msg(strstr(err, cases[i].msg) != NULL, "%s: '%s'",
                      cases[i].url, err);
    }
}
END_TEST

START_TEST(t_backoff)
{
    dal__cluster *c;
    char err[256];
    int64_t t = 1000 * MS;

    ck_assert_int_eq(dal__cluster_parse("postgres://h1,h2?replicas=r1,r2"
                                        "&replica_retry_ms=100"
                                        "&replica_retry_max_ms=350", &c,
                                        err, sizeof err), DAL_OK);
    ck_assert(dal__cluster_usable(c, DAL__CL_REPLICA, 0, t));
    dal__cluster_mark_down(c, DAL__CL_REPLICA, 0, t);
    ck_assert_int_eq(dal__cluster_failures(c, DAL__CL_REPLICA, 0), 1);
    ck_assert(!dal__cluster_usable(c, DAL__CL_REPLICA, 0, t + 99 * MS));
    ck_assert(dal__cluster_usable(c, DAL__CL_REPLICA, 0, t + 100 * MS));
    /* Doubling: 200 ms after the second failure, then capped at 350. */
    dal__cluster_mark_down(c, DAL__CL_REPLICA, 0, t);
    ck_assert(!dal__cluster_usable(c, DAL__CL_REPLICA, 0, t + 199 * MS));
    ck_assert(dal__cluster_usable(c, DAL__CL_REPLICA, 0, t + 200 * MS));
    dal__cluster_mark_down(c, DAL__CL_REPLICA, 0, t);
    dal__cluster_mark_down(c, DAL__CL_REPLICA, 0, t);
    ck_assert(!dal__cluster_usable(c, DAL__CL_REPLICA, 0, t + 349 * MS));
    ck_assert(dal__cluster_usable(c, DAL__CL_REPLICA, 0, t + 350 * MS));
    /* The other replica was never touched; an answer heals. */
    ck_assert(dal__cluster_usable(c, DAL__CL_REPLICA, 1, t));
    dal__cluster_mark_up(c, DAL__CL_REPLICA, 0, NULL, t);
    ck_assert_int_eq(dal__cluster_failures(c, DAL__CL_REPLICA, 0), 0);
    ck_assert(dal__cluster_usable(c, DAL__CL_REPLICA, 0, t));
    dal__cluster_free(c);
}
END_TEST

START_TEST(t_pick)
{
    dal__cluster *c;
    dal__probe p = {1, 0, 0};
    char err[256];
    int64_t t = 1000 * MS;
    int seen[3] = {0, 0, 0}, i, r;

    ck_assert_int_eq(dal__cluster_parse("postgres://h1?replicas=r0,r1,r2"
                                        "&max_replica_lag_ms=100"
                                        "&replica_probe_ms=50", &c, err,
                                        sizeof err), DAL_OK);
    /* Equal load: the replicas take turns. */
    for (i = 0; i < 9; i++) {
        r = dal__cluster_pick_replica(c, 0, 0, t);
        ck_assert(r >= 0 && r < 3);
        seen[r]++;
    }
    ck_assert_int_eq(seen[0], 3);
    ck_assert_int_eq(seen[1], 3);
    ck_assert_int_eq(seen[2], 3);
    /* Least connections: r0 and r1 busy, r2 is chosen every time. */
    dal__cluster_checkout(c, DAL__CL_REPLICA, 0);
    dal__cluster_checkout(c, DAL__CL_REPLICA, 1);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(dal__cluster_pick_replica(c, 0, 0, t), 2);
    dal__cluster_checkin(c, DAL__CL_REPLICA, 0);
    dal__cluster_checkin(c, DAL__CL_REPLICA, 1);
    /* Down: r2 taken out. */
    dal__cluster_mark_down(c, DAL__CL_REPLICA, 2, t);
    for (i = 0; i < 6; i++)
        ck_assert_int_ne(dal__cluster_pick_replica(c, 0, 0, t), 2);
    /* Over the lag budget: r0 skipped while its probe is trusted. */
    p.lag_ms = 101;
    p.replay_lsn = 500;
    dal__cluster_mark_up(c, DAL__CL_REPLICA, 0, &p, t);
    ck_assert(!dal__cluster_probe_due(c, DAL__CL_REPLICA, 0, t + 49 * MS));
    ck_assert(dal__cluster_probe_due(c, DAL__CL_REPLICA, 0, t + 50 * MS));
    for (i = 0; i < 6; i++)
        ck_assert_int_eq(dal__cluster_pick_replica(c, 0, 0, t), 1);
    /* A stale probe is no reason to skip: r0 is taken, to be probed. */
    for (i = 0; i < 2; i++)
        seen[dal__cluster_pick_replica(c, 0, 0, t + 50 * MS)] = 100;
    ck_assert_int_eq(seen[0], 100);
    /* ... unless the checkout skips it. */
    ck_assert_int_eq(dal__cluster_pick_replica(c, 0, 1, t + 50 * MS), 1);
    ck_assert_int_eq(dal__cluster_pick_replica(c, 0, 3, t + 50 * MS), -1);
    /* Read-your-writes: a freshly probed replica behind the LSN is
     * skipped. */
    p.lag_ms = 0;
    dal__cluster_mark_up(c, DAL__CL_REPLICA, 0, &p, t);
    p.replay_lsn = 400;
    dal__cluster_mark_up(c, DAL__CL_REPLICA, 1, &p, t);
    ck_assert_int_eq(dal__cluster_pick_replica(c, 500, 0, t), 0);
    ck_assert_int_eq(dal__cluster_pick_replica(c, 400, 2, t), 0);
    ck_assert_int_eq(dal__cluster_pick_replica(c, 501, 0, t), -1);
    /* Every replica out: the read goes to the primary. */
    dal__cluster_mark_down(c, DAL__CL_REPLICA, 0, t);
    dal__cluster_mark_down(c, DAL__CL_REPLICA, 1, t);
    ck_assert_int_eq(dal__cluster_pick_replica(c, 0, 0, t), -1);
    dal__cluster_free(c);
}
END_TEST

START_TEST(t_lsn)
{
    uint64_t v = 0;

    ck_assert_int_eq(dal__pg_lsn_parse("0/3000060", &v), DAL_OK);
    ck_assert_uint_eq(v, 0x3000060u);
    ck_assert_int_eq(dal__pg_lsn_parse("1A/FF", &v), DAL_OK);
    ck_assert_uint_eq(v, (UINT64_C(0x1A) << 32) | 0xFF);
    ck_assert_int_eq(dal__pg_lsn_parse("FFFFFFFF/FFFFFFFF", &v), DAL_OK);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(dal__pg_lsn_parse("", &v), DAL_E_DATA);
    ck_assert_int_eq(dal__pg_lsn_parse("0/", &v), DAL_E_DATA);
    ck_assert_int_eq(dal__pg_lsn_parse("0/1x", &v), DAL_E_DATA);
    ck_assert_int_eq(dal__pg_lsn_parse("100000000/0", &v), DAL_E_DATA);
    ck_assert_int_eq(dal__pg_lsn_parse(NULL, &v), DAL_E_DATA);
}
END_TEST

START_TEST(t_parse_nomem)
{
    dal__cluster *c;
    char err[256];
    long n;
    int rc, hit;

    for (n = 1; ; n++) {
        c = NULL;
        nomem_arm(n);
        rc = dal__cluster_parse("postgres://u@h1:1,h2:2/db?a=b&"
                                "replicas=r1:3,r2:4&read_your_writes=on",
                                &c, err, sizeof err);
        hit = atomic_load(&fail_hit);
        nomem_arm(0);
        if (!hit) {
            ck_assert_int_eq(rc, DAL_OK);
            dal__cluster_free(c);
            break;
        }
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_ptr_null(c);
        ck_assert_int_eq(atomic_load(&live_blocks), base_blocks);
    }
    ck_assert_int_gt(n, 5);
}
END_TEST

/* Replicas on SQLite: refused, with the option named; a READ checkout
 * of a plain SQLite pool is served by its one database. */
START_TEST(t_sqlite_refused)
{
    dal_pool *p = (dal_pool *)1;
    dal_db *db = NULL;
    int64_t v = 0;

    ck_assert_int_eq(dal_pool_new("sqlite::memory:?replicas=127.0.0.1:5432",
                                  NULL, &p), DAL_E_UNSUPPORTED);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(dal_pool_errmsg(), "option 'replicas' needs a "
                         "PostgreSQL primary"), "%s", dal_pool_errmsg());
    ck_assert_int_eq(dal_pool_new("sqlite::memory:?max_replica_lag_ms=5",
                                  NULL, &p), DAL_E_UNSUPPORTED);
    ck_assert_int_eq(dal_pool_new("sqlite::memory:", NULL, &p), DAL_OK);
    ck_assert_int_eq(dal_pool_acquire(p, DAL_POOL_READ, &db), DAL_OK);
    ck_assert_int_eq(dal_query_int64(db, "SELECT 41 + 1", NULL, 0, &v),
                     DAL_OK);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(dal_pool_release(p, db), DAL_OK);
    dal_pool_free(p);
}
END_TEST

/* Sessions: checked like checkouts, and no-ops where there is one
 * database (SQLite, here a file shared by the pool's connections). */
START_TEST(t_session_api)
{
    char dir[] = "/tmp/dal-cl-sessXXXXXX", url[256], tmpl[256], f[300];
    dal_pool *p = NULL, *q = NULL, *t = NULL;
    dal_pool_session *a = (dal_pool_session *)1, *b = NULL;
    dal_db *db = (dal_db *)1, *rd = NULL;
    dal_value v = DAL_V_INT64(7);
    int64_t n = -1;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/s.db?journal=wal", dir);
    snprintf(tmpl, sizeof tmpl, "sqlite:%s/t_{tenant}.db", dir);
    ck_assert_int_eq(dal_pool_new(url, NULL, &p), DAL_OK);
    ck_assert_int_eq(dal_pool_new("sqlite::memory:", NULL, &q), DAL_OK);
    ck_assert_int_eq(dal_pool_new(tmpl, NULL, &t), DAL_OK);

    ck_assert_int_eq(dal_pool_session_new(NULL, &a), DAL_E_MISUSE);
    ck_assert_ptr_null(a);
    ck_assert_msg(strstr(dal_pool_errmsg(), "dal_pool_session_new"), "%s",
                  dal_pool_errmsg());
    ck_assert_int_eq(dal_pool_session_new(p, NULL), DAL_E_MISUSE);
    ck_assert_int_eq(dal_pool_session_new(p, &a), DAL_OK);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(dal_pool_errmsg(), "");
    ck_assert_int_eq(dal_pool_session_new(q, &b), DAL_OK);

    /* Misuse: another pool's session, unknown flag, NULL out. */
    ck_assert_int_eq(dal_pool_acquire_session(p, b, NULL, 0, &db),
                     DAL_E_MISUSE);
    ck_assert_ptr_null(db);
    ck_assert_msg(strstr(dal_pool_errmsg(), "another pool"), "%s",
                  dal_pool_errmsg());
    ck_assert_int_eq(dal_pool_acquire_session(p, a, NULL, 0x100, &db),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_pool_acquire_session(p, a, NULL, 0, NULL),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_pool_acquire_session(NULL, a, NULL, 0, &db),
                     DAL_E_MISUSE);
    /* A tenant needs a template or schemas (SQLite has none). */
    ck_assert_int_eq(dal_pool_acquire_session(p, a, "t1", 0, &db),
                     DAL_E_UNSUPPORTED);

    /* A write in the session, then reads in it and in none: one
     * database, every read sees the row. */
    ck_assert_int_eq(dal_pool_acquire_session(p, a, NULL, 0, &db), DAL_OK);
    ck_assert_int_eq(dal_exec(db, "CREATE TABLE s (x int)"), DAL_OK);
    ck_assert_int_eq(dal_exec_params(db, "INSERT INTO s VALUES ($1)", &v,
                                     1), DAL_OK);
    /* A read while the write connection is still out: another one. */
    ck_assert_int_eq(dal_pool_acquire_session(p, a, NULL, DAL_POOL_READ,
                                              &rd), DAL_OK);
    ck_assert_ptr_ne(rd, db);
    ck_assert_int_eq(dal_pool_release(p, db), DAL_OK);
    ck_assert_int_eq(dal_pool_release(p, rd), DAL_OK);
    ck_assert_int_eq(dal_pool_acquire_session(p, a, NULL, DAL_POOL_READ,
                                              &db), DAL_OK);
    ck_assert_int_eq(dal_query_int64(db, "SELECT count(*) FROM s WHERE "
                                     "x = $1", &v, 1, &n), DAL_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(dal_pool_release(p, db), DAL_OK);
    ck_assert_int_eq(dal_pool_acquire_session(p, NULL, NULL, DAL_POOL_READ,
                                              &db), DAL_OK);
    n = -1;
    ck_assert_int_eq(dal_query_int64(db, "SELECT count(*) FROM s", NULL, 0,
                                     &n), DAL_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(dal_pool_release(p, db), DAL_OK);

    /* A template pool: a session with a tenant; none is misuse. */
    dal_pool_session_free(a);
    ck_assert_int_eq(dal_pool_session_new(t, &a), DAL_OK);
    ck_assert_int_eq(dal_pool_acquire_session(t, a, NULL, 0, &db),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_pool_acquire_session(t, a, "9bad", 0, &db),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_pool_acquire_session(t, a, "acme", 0, &db),
                     DAL_OK);
    ck_assert_str_eq(dal_tenant(db), "acme");
    ck_assert_int_eq(dal_pool_release(t, db), DAL_OK);

    /* Sessions may outlive their pools. */
    dal_pool_free(p);
    dal_pool_free(q);
    dal_pool_free(t);
    dal_pool_session_free(a);
    dal_pool_session_free(b);
    dal_pool_session_free(NULL);
    snprintf(f, sizeof f, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(f), 0);
}
END_TEST

START_TEST(t_session_nomem)
{
    dal_pool *p = NULL;
    dal_pool_session *s;
    long n;
    int rc, hit;

    ck_assert_int_eq(dal_pool_new("postgres://127.0.0.1:1/db?replicas="
                                  "127.0.0.1:2&read_your_writes=on", NULL,
                                  &p), DAL_OK);
    for (n = 1; ; n++) {
        long before = atomic_load(&live_blocks);

        s = (dal_pool_session *)1;
        nomem_arm(n);
        rc = dal_pool_session_new(p, &s);
        hit = atomic_load(&fail_hit);
        nomem_arm(0);
        if (!hit) {
            ck_assert_int_eq(rc, DAL_OK);
            dal_pool_session_free(s);
            break;
        }
        ck_assert_int_eq(rc, DAL_NOMEM);
        ck_assert_ptr_null(s);
        ck_assert_msg(strstr(dal_pool_errmsg(), "memory"), "%s",
                      dal_pool_errmsg());
        ck_assert_int_eq(atomic_load(&live_blocks), before);
    }
    ck_assert_int_ge(n, 2);
    dal_pool_free(p);
}
END_TEST

/* ---- cluster[postgres]: the internal API on the real cluster --------- */

static dal_db *open_ok(const char *url)
{
    dal_db *db = NULL;
    int rc = dal_open(url, &db);

    ck_assert_msg(rc == DAL_OK, "dal_open(%s): %s", url, S(dal_errmsg(db)));
    return db;
}

static int64_t q_int(dal_db *db, const char *sql)
{
    int64_t v = -1;
    int rc = dal_query_int64(db, sql, NULL, 0, &v);

    ck_assert_msg(rc == DAL_OK, "%s: %s", sql, S(dal_errmsg(db)));
    return v;
}

START_TEST(t_probe)
{
    dal_db *p = open_ok(primary_url), *s = open_ok(standby_url);
    dal__probe pp, sp;
    uint64_t lsn = 0, lsn2 = 0;
    int i;

    ck_assert_int_eq(p->drv->replica_probe(p, &pp), DAL_OK);
    ck_assert_int_eq(pp.in_recovery, 0);
    ck_assert_uint_eq(pp.replay_lsn, 0);
    ck_assert_int_eq(pp.lag_ms, 0);
    ck_assert_int_eq(s->drv->replica_probe(s, &sp), DAL_OK);
    ck_assert_int_eq(sp.in_recovery, 1);
    ck_assert_uint_gt(sp.replay_lsn, 0);
    /* A write moves the primary's LSN; the standby replays past it. */
    ck_assert_int_eq(dal_exec(p, "CREATE TABLE IF NOT EXISTS cl_probe "
                              "(x int)"), DAL_OK);
    ck_assert_int_eq(dal_exec(p, "INSERT INTO cl_probe VALUES (1)"),
                     DAL_OK);
    ck_assert_int_eq(p->drv->wal_position(p, &lsn), DAL_OK);
    ck_assert_uint_gt(lsn, sp.replay_lsn);
    for (i = 0; i < 500; i++) {
        ck_assert_int_eq(s->drv->wal_position(s, &lsn2), DAL_OK);
        if (lsn2 >= lsn)
            break;
        sleep_ms(10);
    }
    ck_assert_uint_ge(lsn2, lsn);
    dal_close(p);
    dal_close(s);
}
END_TEST

START_TEST(t_lag)
{
    dal_db *p = open_ok(primary_url), *s = open_ok(standby_url);
    dal__probe sp;
    int i;

    /* Replay paused: what the standby receives waits, and its lag grows
     * from the last transaction it replayed. */
    ck_assert_int_eq(dal_exec(p, "CREATE TABLE IF NOT EXISTS cl_lag "
                              "(x int)"), DAL_OK);
    ck_assert_int_eq(dal_exec(p, "INSERT INTO cl_lag VALUES (1)"), DAL_OK);
    sleep_ms(300);
    ck_assert_int_eq(dal_exec(s, "SELECT pg_wal_replay_pause()"), DAL_OK);
    ck_assert_int_eq(dal_exec(p, "INSERT INTO cl_lag VALUES (2)"), DAL_OK);
    for (i = 0; i < 300; i++) {
        ck_assert_int_eq(s->drv->replica_probe(s, &sp), DAL_OK);
        if (sp.lag_ms >= 200)
            break;
        sleep_ms(10);
    }
    ck_assert_int_ge(sp.lag_ms, 200);
    ck_assert_int_eq(dal_exec(s, "SELECT pg_wal_replay_resume()"), DAL_OK);
    for (i = 0; i < 500; i++) {
        ck_assert_int_eq(s->drv->replica_probe(s, &sp), DAL_OK);
        if (sp.lag_ms == 0)
            break;
        sleep_ms(10);
    }
    ck_assert_int_eq(sp.lag_ms, 0);
    dal_close(p);
    dal_close(s);
}
END_TEST

START_TEST(t_find_primary)
{
    dal__cluster *c;
    dal_db *db = NULL;
    char err[512], url[512];
    unsigned e0, e1;
    int idx = -1;

    /* The standby listed first: it is skipped for being in recovery.
     * Only host:port is taken from each URL (they end in /postgres). */
    {
        const char *sh = strchr(standby_url, '@') + 1;
        const char *ph = strchr(primary_url, '@') + 1;

        snprintf(url, sizeof url, "postgres://postgres@%.*s,%.*s/postgres",
                 (int)strcspn(sh, "/"), sh, (int)strcspn(ph, "/"), ph);
    }
    ck_assert_int_eq(dal__cluster_parse(url, &c, err, sizeof err), DAL_OK);
    ck_assert_int_eq(dal__cluster_find_primary(c, &db, &idx, err,
                                               sizeof err), DAL_OK);
    ck_assert_int_eq(idx, 1);
    ck_assert_int_eq(q_int(db, "SELECT pg_is_in_recovery()::int"), 0);
    dal_close(db);
    ck_assert_int_eq(dal__cluster_primary(c, &e0), 1);
    dal__cluster_primary_lost(c, dal_clock_ns());
    ck_assert_int_eq(dal__cluster_primary(c, &e1), -1);
    ck_assert_uint_eq(e1, e0 + 1);
    dal__cluster_free(c);

    /* No primary among the candidates: the standby alone. */
    {
        const char *sh = strchr(standby_url, '@') + 1;

        snprintf(url, sizeof url, "postgres://postgres@%.*s,127.0.0.1:1"
                 "/postgres", (int)strcspn(sh, "/"), sh);
    }
    ck_assert_int_eq(dal__cluster_parse(url, &c, err, sizeof err), DAL_OK);
    ck_assert_int_eq(dal__cluster_find_primary(c, &db, &idx, err,
                                               sizeof err), DAL_E_CONNECT);
    ck_assert_ptr_null(db);
    ck_assert_msg(strstr(err, "no primary among the 2 candidate hosts"),
                  "%s", err);
    /* The refusing host was taken out. */
    ck_assert_int_eq(dal__cluster_failures(c, DAL__CL_PRIMARY, 1), 1);
    dal__cluster_free(c);
}
END_TEST

/* ---- cluster[postgres]: the pool on the real cluster ----------------- */

static char *url_with(const char *base, const char *opts)
{
    static char buf[4][1024];
    static int n;
    char *b = buf[n++ % 4];

    snprintf(b, sizeof buf[0], "%s%s%s", base, strchr(base, '?') ? "&" : "?",
             opts);
    return b;
}

static dal_pool *pool_ok(const char *url)
{
    dal_pool *p = NULL;
    int rc = dal_pool_new(url, NULL, &p);

    ck_assert_msg(rc == DAL_OK, "dal_pool_new(%s): %s", url,
                  dal_pool_errmsg());
    return p;
}

static dal_db *get(dal_pool *p, int flags)
{
    dal_db *db = NULL;
    int rc = dal_pool_acquire(p, flags, &db);

    ck_assert_msg(rc == DAL_OK, "dal_pool_acquire(%d): %s (%s)", flags,
                  dal_errstr(rc), dal_pool_errmsg());
    return db;
}

/* Whether a checkout with flags lands on a server in recovery. */
static int64_t served_by_standby(dal_pool *p, int flags)
{
    dal_db *db = get(p, flags);
    int64_t v = q_int(db, "SELECT pg_is_in_recovery()::int");

    ck_assert_int_eq(dal_pool_release(p, db), DAL_OK);
    return v;
}

static void pg_ctl(const char *args)
{
    char cmd[2048];
    int rc;

    snprintf(cmd, sizeof cmd, "\"%s\" %s >/dev/null 2>&1",
             getenv("DAL_TEST_PG_CTL"), args);
    rc = system(cmd);
    ck_assert_msg(rc == 0, "%s -> %d", cmd, rc);
}

/* The standby's host:port, for replicas= */
static const char *standby_host(void)
{
    static char h[256];
    const char *s = strchr(standby_url, '@') + 1;

    snprintf(h, sizeof h, "%.*s", (int)strcspn(s, "/"), s);
    return h;
}

static void exec_ok(dal_db *db, const char *sql)
{
    int rc = dal_exec(db, sql);

    ck_assert_msg(rc == DAL_OK, "%s: %s", sql, S(dal_errmsg(db)));
}

START_TEST(t_routing)
{
    dal_pool *p = pool_ok(url_with(cluster_url, "replica_probe_ms=0"));
    int i;

    /* Reads go to the standby, writes (and flags 0) to the primary. */
    for (i = 0; i < 5; i++) {
        ck_assert_int_eq(served_by_standby(p, DAL_POOL_READ), 1);
        ck_assert_int_eq(served_by_standby(p, 0), 0);
    }
    dal_pool_free(p);
}
END_TEST

START_TEST(t_read_your_writes)
{
    dal_pool *p = pool_ok(url_with(cluster_url, "read_your_writes=on"));
    dal_db *db;
    int64_t n, on_standby = 0;
    dal_value v;
    int i;

    db = get(p, 0);
    exec_ok(db, "DROP TABLE IF EXISTS cl_ryw");
    exec_ok(db, "CREATE TABLE cl_ryw (id int PRIMARY KEY)");
    dal_pool_release(p, db);
    /* With synchronous_commit=off the standby is usually a few hundred
     * ms behind: a read right after the write must still see it. */
    for (i = 1; i <= 40; i++) {
        v = DAL_V_INT64(i);
        db = get(p, 0);
        ck_assert_int_eq(dal_exec_params(db, "INSERT INTO cl_ryw "
                                         "VALUES ($1)", &v, 1), DAL_OK);
        dal_pool_release(p, db);
        db = get(p, DAL_POOL_READ);
        ck_assert_int_eq(dal_query_int64(db, "SELECT count(*) FROM cl_ryw "
                                         "WHERE id = $1", &v, 1, &n),
                         DAL_OK);
        ck_assert_msg(n == 1, "row %d not seen by the read after it", i);
        on_standby += q_int(db, "SELECT pg_is_in_recovery()::int");
        dal_pool_release(p, db);
    }
    printf("cluster: read-your-writes: %" PRId64 " of 40 reads served by "
           "the standby\n", on_standby);
    /* Once the standby has replayed the last write, it serves reads. */
    for (i = 0; i < 500; i++) {
        if (served_by_standby(p, DAL_POOL_READ))
            break;
        sleep_ms(10);
    }
    ck_assert_int_lt(i, 500);
    dal_pool_free(p);

    /* By time: for 2 s after a write, reads stay on the primary. */
    p = pool_ok(url_with(cluster_url, "read_your_writes=2000"));
    ck_assert_int_eq(served_by_standby(p, DAL_POOL_READ), 1);
    db = get(p, 0);
    exec_ok(db, "INSERT INTO cl_ryw VALUES (1000)");
    dal_pool_release(p, db);
    ck_assert_int_eq(served_by_standby(p, DAL_POOL_READ), 0);
    sleep_ms(2100);
    ck_assert_int_eq(served_by_standby(p, DAL_POOL_READ), 1);
    dal_pool_free(p);
}
END_TEST

static dal_db *get_s(dal_pool *p, dal_pool_session *s, int flags)
{
    dal_db *db = NULL;
    int rc = dal_pool_acquire_session(p, s, NULL, flags, &db);

    ck_assert_msg(rc == DAL_OK, "dal_pool_acquire_session(%d): %s (%s)",
                  flags, dal_errstr(rc), dal_pool_errmsg());
    return db;
}

/* Whether a checkout in session s (NULL: none) lands on the standby. */
static int64_t standby_s(dal_pool *p, dal_pool_session *s, int flags)
{
    dal_db *db = get_s(p, s, flags);
    int64_t v = q_int(db, "SELECT pg_is_in_recovery()::int");

    ck_assert_int_eq(dal_pool_release(p, db), DAL_OK);
    return v;
}

/* Rows of cl_sess with id, read in session s: (rows, on the standby). */
static int64_t read_row_s(dal_pool *p, dal_pool_session *s, int64_t id,
                          int64_t *on_standby)
{
    dal_db *db = get_s(p, s, DAL_POOL_READ);
    dal_value v = DAL_V_INT64(id);
    int64_t n = -1;

    ck_assert_int_eq(dal_query_int64(db, "SELECT count(*) FROM cl_sess "
                                     "WHERE id = $1", &v, 1, &n), DAL_OK);
    *on_standby = q_int(db, "SELECT pg_is_in_recovery()::int");
    ck_assert_int_eq(dal_pool_release(p, db), DAL_OK);
    return n;
}

static void write_row_s(dal_pool *p, dal_pool_session *s, int64_t id)
{
    dal_db *db = get_s(p, s, 0);
    dal_value v = DAL_V_INT64(id);

    ck_assert_int_eq(dal_exec_params(db, "INSERT INTO cl_sess VALUES ($1)",
                                     &v, 1), DAL_OK);
    ck_assert_int_eq(dal_pool_release(p, db), DAL_OK);
}

/*
 * Read-your-writes per session, by LSN. The standby's replay is paused,
 * so it is stale for certain: session A, which writes, must read every
 * row it wrote, hence from the primary; session B, which wrote nothing,
 * and checkouts without a session (the pool's mark is older than the
 * pause), read from the standby meanwhile, and do not see A's rows.
 */
START_TEST(t_session_ryw_lsn)
{
    dal_pool *p = pool_ok(url_with(cluster_url, "read_your_writes=on"
                                   "&replica_probe_ms=0"));
    dal_pool_session *a = NULL, *b = NULL;
    dal_db *s = open_ok(standby_url), *db;
    int64_t rec, i;

    ck_assert_int_eq(dal_pool_session_new(p, &a), DAL_OK);
    ck_assert_int_eq(dal_pool_session_new(p, &b), DAL_OK);
    db = get(p, 0);
    exec_ok(db, "DROP TABLE IF EXISTS cl_sess");
    exec_ok(db, "CREATE TABLE cl_sess (id int PRIMARY KEY)");
    dal_pool_release(p, db);
    /* Without a session, reads wait for that write; once the standby
     * has it, they go there. */
    for (i = 0; i < 500; i++) {
        if (served_by_standby(p, DAL_POOL_READ))
            break;
        sleep_ms(10);
    }
    ck_assert_int_lt(i, 500);
    /* A new session has no mark: B reads from the standby. */
    ck_assert_int_eq(standby_s(p, b, DAL_POOL_READ), 1);

    exec_ok(s, "SELECT pg_wal_replay_pause()");
    for (i = 1; i <= 10; i++) {
        write_row_s(p, a, i);
        /* A sees its row every time: from the primary. */
        ck_assert_msg(read_row_s(p, a, i, &rec) == 1, "session A did not "
                      "see its row %" PRId64, i);
        ck_assert_int_eq(rec, 0);
        /* B, in the same period, reads the stale standby. */
        ck_assert_int_eq(read_row_s(p, b, i, &rec), 0);
        ck_assert_int_eq(rec, 1);
        /* ... and so do checkouts without a session: A's writes did not
         * move the pool's mark. */
        ck_assert_int_eq(read_row_s(p, NULL, i, &rec), 0);
        ck_assert_int_eq(rec, 1);
    }
    /* A write without a session keeps today's pool-wide behaviour:
     * reads without a session go to the primary and see it, while the
     * sessions are unaffected by it (B still on the standby). */
    write_row_s(p, NULL, 100);
    ck_assert_int_eq(read_row_s(p, NULL, 100, &rec), 1);
    ck_assert_int_eq(rec, 0);
    ck_assert_int_eq(read_row_s(p, b, 100, &rec), 0);
    ck_assert_int_eq(rec, 1);
    ck_assert_int_eq(read_row_s(p, a, 10, &rec), 1);
    ck_assert_int_eq(rec, 0);
    /* A read in A with its write connection still out sees no mark of
     * that write yet (it is recorded on release), but its earlier ones. */
    db = get_s(p, a, 0);
    exec_ok(db, "INSERT INTO cl_sess VALUES (11)");
    ck_assert_int_eq(read_row_s(p, a, 10, &rec), 1);
    ck_assert_int_eq(rec, 0);
    dal_pool_release(p, db);
    ck_assert_int_eq(read_row_s(p, a, 11, &rec), 1);
    ck_assert_int_eq(rec, 0);

    /* Replay resumed: A's reads return to the standby once it replayed
     * past A's last write, and still see every row. */
    exec_ok(s, "SELECT pg_wal_replay_resume()");
    for (i = 0; i < 500; i++) {
        if (read_row_s(p, a, 11, &rec) == 1 && rec == 1)
            break;
        sleep_ms(10);
    }
    ck_assert_int_lt(i, 500);
    for (i = 1; i <= 11; i++)
        ck_assert_int_eq(read_row_s(p, a, i, &rec), 1);
    dal_close(s);
    dal_pool_free(p);
    /* Freed after the pool: allowed. */
    dal_pool_session_free(a);
    dal_pool_session_free(b);
}
END_TEST

/* Read-your-writes per session, by time: A's reads stay on the primary
 * for 2 s after A's write; B's, and those without a session, do not. */
START_TEST(t_session_ryw_time)
{
    dal_pool *p = pool_ok(url_with(cluster_url, "read_your_writes=2000"
                                   "&replica_probe_ms=0"));
    dal_pool_session *a = NULL, *b = NULL;
    dal_db *db;

    ck_assert_int_eq(dal_pool_session_new(p, &a), DAL_OK);
    ck_assert_int_eq(dal_pool_session_new(p, &b), DAL_OK);
    ck_assert_int_eq(standby_s(p, a, DAL_POOL_READ), 1);
    db = get_s(p, a, 0);
    exec_ok(db, "CREATE TABLE IF NOT EXISTS cl_sess2 (x int)");
    exec_ok(db, "INSERT INTO cl_sess2 VALUES (1)");
    dal_pool_release(p, db);
    ck_assert_int_eq(standby_s(p, a, DAL_POOL_READ), 0);
    ck_assert_int_eq(standby_s(p, b, DAL_POOL_READ), 1);
    ck_assert_int_eq(standby_s(p, NULL, DAL_POOL_READ), 1);
    ck_assert_int_eq(standby_s(p, a, DAL_POOL_READ), 0);
    /* A read checkout in a session is no write: B's mark stays. */
    ck_assert_int_eq(standby_s(p, b, DAL_POOL_READ), 1);
    sleep_ms(2100);
    ck_assert_int_eq(standby_s(p, a, DAL_POOL_READ), 1);
    /* Now B writes: B on the primary, A back on the standby. */
    db = get_s(p, b, 0);
    exec_ok(db, "INSERT INTO cl_sess2 VALUES (2)");
    dal_pool_release(p, db);
    ck_assert_int_eq(standby_s(p, b, DAL_POOL_READ), 0);
    ck_assert_int_eq(standby_s(p, a, DAL_POOL_READ), 1);
    /* Without a session: the pool's window, for every sessionless read,
     * none of the sessions'. */
    db = get(p, 0);
    exec_ok(db, "INSERT INTO cl_sess2 VALUES (3)");
    dal_pool_release(p, db);
    ck_assert_int_eq(standby_s(p, NULL, DAL_POOL_READ), 0);
    ck_assert_int_eq(standby_s(p, a, DAL_POOL_READ), 1);
    dal_pool_session_free(a);
    dal_pool_session_free(b);
    dal_pool_free(p);
}
END_TEST

START_TEST(t_lag_budget)
{
    dal_pool *p = pool_ok(url_with(cluster_url, "max_replica_lag_ms=100"
                                   "&replica_probe_ms=0"));
    dal_db *s = open_ok(standby_url), *db;
    dal__probe sp;
    int i;

    ck_assert_int_eq(served_by_standby(p, DAL_POOL_READ), 1);
    db = get(p, 0);
    exec_ok(db, "CREATE TABLE IF NOT EXISTS cl_lag2 (x int)");
    dal_pool_release(p, db);
    sleep_ms(300);
    exec_ok(s, "SELECT pg_wal_replay_pause()");
    db = get(p, 0);
    exec_ok(db, "INSERT INTO cl_lag2 VALUES (1)");
    dal_pool_release(p, db);
    for (i = 0; i < 300; i++) {
        ck_assert_int_eq(s->drv->replica_probe(s, &sp), DAL_OK);
        if (sp.lag_ms > 150)
            break;
        sleep_ms(10);
    }
    ck_assert_int_gt(sp.lag_ms, 150);
    /* Over the budget: reads go to the primary. */
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(served_by_standby(p, DAL_POOL_READ), 0);
    exec_ok(s, "SELECT pg_wal_replay_resume()");
    for (i = 0; i < 500; i++) {
        if (served_by_standby(p, DAL_POOL_READ))
            break;
        sleep_ms(10);
    }
    ck_assert_int_lt(i, 500);
    dal_close(s);
    dal_pool_free(p);
}
END_TEST

START_TEST(t_replica_down)
{
    dal_pool *p = pool_ok(url_with(cluster_url, "replica_probe_ms=0"
                                   "&replica_retry_ms=100"));
    char args[1024];
    int i;

    ck_assert_int_eq(served_by_standby(p, DAL_POOL_READ), 1);
    snprintf(args, sizeof args, "-D \"%s\" stop -m fast -w",
             getenv("DAL_TEST_PG_STANDBY_DATA"));
    pg_ctl(args);
    /* The idle connection to the standby is dead: the probe finds out,
     * and every read is served by the primary, without an error. */
    for (i = 0; i < 10; i++)
        ck_assert_int_eq(served_by_standby(p, DAL_POOL_READ), 0);
    ck_assert_int_ge(dal__cluster_failures(((struct dal_pool *)p)->cluster,
                                           DAL__CL_REPLICA, 0), 1);
    snprintf(args, sizeof args, "-D \"%s\" -l \"%s/standby.log\" start -w",
             getenv("DAL_TEST_PG_STANDBY_DATA"),
             getenv("DAL_TEST_PG_CLUSTER_DIR"));
    pg_ctl(args);
    /* Probed again after its backoff, it serves reads again. */
    for (i = 0; i < 500; i++) {
        if (served_by_standby(p, DAL_POOL_READ))
            break;
        sleep_ms(20);
    }
    ck_assert_int_lt(i, 500);
    dal_pool_free(p);
}
END_TEST

struct worker {
    dal_pool *pool;
    int id;
    int errors;
    int unseen;
    int on_standby;
    dal_pool_session *session; /* NULL: checkouts without one */
};

static void *work(void *arg)
{
    struct worker *w = arg;
    dal_value v[2];
    dal_db *db;
    int64_t n, rec;
    int i;

    for (i = 0; i < 100; i++) {
        v[0] = DAL_V_INT64(w->id);
        v[1] = DAL_V_INT64(i);
        if (dal_pool_acquire_session(w->pool, w->session, NULL, 0, &db)
            != DAL_OK) {
            w->errors++;
            continue;
        }
        if (dal_exec_params(db, "INSERT INTO cl_threads VALUES ($1, $2)",
                            v, 2) != DAL_OK)
            w->errors++;
        dal_pool_release(w->pool, db);
        if (dal_pool_acquire_session(w->pool, w->session, NULL,
                                     DAL_POOL_READ, &db) != DAL_OK) {
            w->errors++;
            continue;
        }
        if (dal_query_int64(db, "SELECT count(*) FROM cl_threads WHERE "
                            "t = $1 AND i = $2", v, 2, &n) != DAL_OK
            || dal_query_int64(db, "SELECT pg_is_in_recovery()::int",
                               NULL, 0, &rec) != DAL_OK)
            w->errors++;
        else if (n != 1)
            w->unseen++;
        else
            w->on_standby += (int)rec;
        dal_pool_release(w->pool, db);
    }
    return NULL;
}

START_TEST(t_contention)
{
    dal_pool_config cfg = {0};
    dal_pool *p = NULL;
    struct worker w[8];
    pthread_t th[8];
    dal_db *db;
    int i, errors = 0, unseen = 0, standby = 0;

    cfg.max_size = 3;
    cfg.acquire_timeout_ms = 20000;
    ck_assert_int_eq(dal_pool_new(url_with(cluster_url,
                                           "read_your_writes=on"), &cfg,
                                  &p), DAL_OK);
    db = get(p, 0);
    exec_ok(db, "DROP TABLE IF EXISTS cl_threads");
    exec_ok(db, "CREATE TABLE cl_threads (t int, i int)");
    dal_pool_release(p, db);
    /* Half the threads read their writes through a session of their
     * own, half through the pool's mark. */
    for (i = 0; i < 8; i++) {
        w[i] = (struct worker){p, i, 0, 0, 0, NULL};
        if (i % 2)
            ck_assert_int_eq(dal_pool_session_new(p, &w[i].session),
                             DAL_OK);
        ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        dal_pool_session_free(w[i].session);
        errors += w[i].errors;
        unseen += w[i].unseen;
        standby += w[i].on_standby;
    }
    ck_assert_int_eq(errors, 0);
    ck_assert_int_eq(unseen, 0);
    db = get(p, 0);
    ck_assert_int_eq(q_int(db, "SELECT count(*) FROM cl_threads"), 800);
    dal_pool_release(p, db);
    printf("cluster: contention: 800 writes, 800 reads (%d on the "
           "standby)\n", standby);
    dal_pool_free(p);
}
END_TEST

START_TEST(t_readonly_error)
{
    dal_pool *p = pool_ok(multi_url);
    dal__cluster *c;
    dal_db *db;
    unsigned e0, e1;

    db = get(p, 0);
    exec_ok(db, "CREATE TABLE IF NOT EXISTS cl_ro (x int)");
    exec_ok(db, "SET default_transaction_read_only = on");
    ck_assert_int_eq(dal_exec(db, "INSERT INTO cl_ro VALUES (1)"),
                     DAL_E_READONLY);
    ck_assert_str_eq(dal_sqlstate(db), "25006");
    c = ((struct dal_pool *)p)->cluster;
    ck_assert_int_eq(dal__cluster_primary(c, &e0), 0);
    dal_pool_release(p, db);
    /* 25006: the primary is looked for again, the connection dropped. */
    ck_assert_int_eq(dal__cluster_primary(c, &e1), -1);
    ck_assert_uint_eq(e1, e0 + 1);
    db = get(p, 0);
    exec_ok(db, "INSERT INTO cl_ro VALUES (2)");
    dal_pool_release(p, db);
    ck_assert_int_eq(dal__cluster_primary(c, NULL), 0);
    dal_pool_free(p);
}
END_TEST

static int64_t elapsed_ms(int64_t t0)
{
    return (dal_clock_ns() - t0) / MS;
}

START_TEST(t_failover)
{
    char opts[300], args[1024];
    dal_pool *p;
    dal_db *db, *s;
    dal_value v;
    uint64_t lsn = 0, rlsn = 0;
    int64_t t0, ms;
    int i, rc, attempts = 0;

    snprintf(opts, sizeof opts, "replicas=%s&replica_probe_ms=0",
             standby_host());
    p = pool_ok(url_with(multi_url, opts));
    db = get(p, 0);
    exec_ok(db, "DROP TABLE IF EXISTS cl_fo");
    exec_ok(db, "CREATE TABLE cl_fo (id int PRIMARY KEY)");
    dal_pool_release(p, db);
    /* Rows 1-50 commit with remote_apply: the commit returns once the
     * standby has applied it (synchronous_standby_names is '*'). */
    for (i = 1; i <= 50; i++) {
        v = DAL_V_INT64(i);
        db = get(p, 0);
        exec_ok(db, "SET synchronous_commit = remote_apply");
        ck_assert_int_eq(dal_exec_params(db, "INSERT INTO cl_fo VALUES "
                                         "($1)", &v, 1), DAL_OK);
        dal_pool_release(p, db);
    }
    /* Rows 51-100 commit asynchronously; they count as committed once
     * the standby replayed past the primary's WAL position after them. */
    db = get(p, 0);
    for (i = 51; i <= 100; i++) {
        v = DAL_V_INT64(i);
        ck_assert_int_eq(dal_exec_params(db, "INSERT INTO cl_fo VALUES "
                                         "($1)", &v, 1), DAL_OK);
    }
    ck_assert_int_eq(db->drv->wal_position(db, &lsn), DAL_OK);
    dal_pool_release(p, db);
    s = open_ok(standby_url);
    for (i = 0; i < 1000 && rlsn < lsn; i++) {
        ck_assert_int_eq(s->drv->wal_position(s, &rlsn), DAL_OK);
        if (rlsn < lsn)
            sleep_ms(10);
    }
    ck_assert_uint_ge(rlsn, lsn);
    dal_close(s);
    /* An idle connection to the primary stays in the pool. */
    db = get(p, 0);
    dal_pool_release(p, db);

    snprintf(args, sizeof args, "-D \"%s\" stop -m immediate -w",
             getenv("DAL_TEST_PG_PRIMARY_DATA"));
    pg_ctl(args);
    snprintf(args, sizeof args, "-D \"%s\" promote -w",
             getenv("DAL_TEST_PG_STANDBY_DATA"));
    pg_ctl(args);
    t0 = dal_clock_ns();
    for (;;) {
        attempts++;
        v = DAL_V_INT64(1000 + attempts);
        rc = dal_pool_acquire(p, 0, &db);
        if (rc == DAL_OK) {
            rc = dal_exec_params(db, "INSERT INTO cl_fo VALUES ($1)", &v,
                                 1);
            dal_pool_release(p, db);
        }
        if (rc == DAL_OK || elapsed_ms(t0) > 20000)
            break;
        sleep_ms(5);
    }
    ms = elapsed_ms(t0);
    ck_assert_msg(rc == DAL_OK, "no write within 20 s of the promotion: "
                  "%s", dal_pool_errmsg());
    printf("cluster: failover: first write %" PRId64 " ms after the "
           "promotion, %d attempt(s)\n", ms, attempts);
    ck_assert_int_eq(dal__cluster_primary(((struct dal_pool *)p)->cluster,
                                          NULL), 1);
    /* Nothing committed before the kill was lost. */
    db = get(p, 0);
    ck_assert_int_eq(q_int(db, "SELECT count(*) FROM cl_fo WHERE id <= 100"),
                     100);
    ck_assert_int_eq(q_int(db, "SELECT pg_is_in_recovery()::int"), 0);
    exec_ok(db, "INSERT INTO cl_fo VALUES (5000)");
    dal_pool_release(p, db);
    /* Reads work too (the promoted replica, or the primary). */
    db = get(p, DAL_POOL_READ);
    ck_assert_int_eq(q_int(db, "SELECT count(*) FROM cl_fo WHERE id = 5000"),
                     1);
    dal_pool_release(p, db);
    dal_pool_free(p);
}
END_TEST

/* ---- main ------------------------------------------------------------ */

static Suite *unit_suite(void)
{
    Suite *s = suite_create("cluster[unit]");
    TCase *tc = tcase_create("unit");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, t_parse);
    tcase_add_test(tc, t_parse_errors);
    tcase_add_test(tc, t_backoff);
    tcase_add_test(tc, t_pick);
    tcase_add_test(tc, t_lsn);
    tcase_add_test(tc, t_parse_nomem);
    tcase_add_test(tc, t_sqlite_refused);
    tcase_add_test(tc, t_session_api);
    tcase_add_test(tc, t_session_nomem);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *pg_suite(void)
{
    Suite *s = suite_create("cluster[postgres]");
    TCase *tc = tcase_create("postgres");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_probe);
    tcase_add_test(tc, t_lag);
    tcase_add_test(tc, t_find_primary);
    tcase_add_test(tc, t_routing);
    tcase_add_test(tc, t_read_your_writes);
    tcase_add_test(tc, t_session_ryw_lsn);
    tcase_add_test(tc, t_session_ryw_time);
    tcase_add_test(tc, t_lag_budget);
    tcase_add_test(tc, t_replica_down);
    tcase_add_test(tc, t_contention);
    tcase_add_test(tc, t_readonly_error);
    /* Last: it leaves the standby as the only server. */
    tcase_add_test(tc, t_failover);
    suite_add_tcase(s, tc);
    return s;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v && v[0] ? v : NULL;
}

int main(void)
{
    int failed = 0;
    SRunner *sr;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "cluster: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    primary_url = env("DAL_TEST_PG_PRIMARY_URL");
    standby_url = env("DAL_TEST_PG_STANDBY_URL");
    cluster_url = env("DAL_TEST_PG_CLUSTER_URL");
    multi_url = env("DAL_TEST_PG_MULTIHOST_URL");

    sr = srunner_create(unit_suite());
    if (primary_url && standby_url && cluster_url && multi_url)
        srunner_add_suite(sr, pg_suite());
    else
        printf("cluster: postgres SKIPPED (DAL_TEST_PG_PRIMARY_URL unset; "
               "run under tests/pg/with-cluster.sh)\n");
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (atomic_load(&live_blocks) != 0) {
        printf("cluster: libdal holds %ld blocks at exit\n",
               atomic_load(&live_blocks));
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
