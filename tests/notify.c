/*
 * tests/notify.c - LISTEN/NOTIFY (include/dal/notify.h): delivery with
 * payload and sender, timeouts, transactions, unlisten, quoting, the
 * reconnect after the server ended the session (listening again, the
 * missed marker), and on SQLite the documented DAL_E_UNSUPPORTED:
 *   notify[sqlite-mem]   sqlite::memory:
 *   notify[sqlite-file]  a fresh SQLite file per test
 *   notify[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 *
 * Run:  tests/pg/with-pg.sh build/tests/notify
 * CK_RUN_SUITE='notify[postgres]' and CK_RUN_CASE=... narrow a run;
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

/* ---- fixture --------------------------------------------------------- */

static void setup(void)
{
    int fd;

    base_blocks = live_blocks;
    nomem_arm(0);
    if (test_backend == BE_SQLITE_FILE) {
        snprintf(file_path, sizeof file_path, "/tmp/dal-ntf-%ld-XXXXXX",
                 main_pid);
        fd = mkstemp(file_path);
        ck_assert_int_ge(fd, 0);
        close(fd);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
    }
    ck_assert_int_eq(dal_open(url(), &db), DAL_OK);
}

static void teardown(void)
{
    nomem_arm(0);
    dal_close(db);
    db = NULL;
    if (test_backend == BE_SQLITE_FILE)
        unlink(file_path);
    ck_assert_msg(live_blocks == base_blocks, "libdal leaked %ld blocks",
                  live_blocks - base_blocks);
}

/* Wait for one notification on d; fails the test on anything else. */
static dal_notification *next(dal_db *d, int timeout_ms)
{
    dal_notification *n = NULL;

    CK_RC(d, dal_notify_wait(d, timeout_ms, &n), DAL_OK);
    ck_assert_ptr_nonnull(n);
    return n;
}

static void expect_timeout(dal_db *d, int timeout_ms)
{
    dal_notification *n = (dal_notification *)1;

    CK_RC(d, dal_notify_wait(d, timeout_ms, &n), DAL_E_TIMEOUT);
    ck_assert_ptr_null(n);
    ck_assert_str_eq(dal_sqlstate(d), "57014");
}

/* ---- tests ----------------------------------------------------------- */

START_TEST(t_unsupported)
{
    dal_notification *n = (dal_notification *)1;

    if (is_pg())
        return;
    CK_RC(db, dal_listen(db, "jobs"), DAL_E_UNSUPPORTED);
    ck_assert_str_eq(dal_sqlstate(db), "0A000");
    ck_assert_ptr_nonnull(strstr(dal_errmsg(db), "sqlite"));
    CK_RC(db, dal_unlisten(db, NULL), DAL_E_UNSUPPORTED);
    CK_RC(db, dal_notify(db, "jobs", "x"), DAL_E_UNSUPPORTED);
    CK_RC(db, dal_notify_wait(db, 0, &n), DAL_E_UNSUPPORTED);
    ck_assert_ptr_null(n);
    /* The connection still works. */
    ck_assert_int_eq(qint(db, "SELECT 41 + 1"), 42);
}
END_TEST

START_TEST(t_deliver)
{
    dal_notification *n;
    dal_db *o = NULL;
    int64_t pid;

    if (!is_pg())
        return;
    CK_RC(o, dal_open(url(), &o), DAL_OK);
    pid = qint(o, "SELECT pg_backend_pid()");
    CK_OK(dal_listen(db, "jobs"));
    CK_OK(dal_listen(db, "jobs"));             /* twice is harmless */
    CK_OK(dal_listen(db, "Mixed Case-ch"));
    expect_timeout(db, 0);
    CK_RC(o, dal_notify(o, "jobs", "it's \xc3\xa9t\xc3\xa9 \"q\""), DAL_OK);
    n = next(db, 5000);
    ck_assert_str_eq(n->channel, "jobs");
    ck_assert_str_eq(n->payload, "it's \xc3\xa9t\xc3\xa9 \"q\"");
    ck_assert_int_eq(n->pid, pid);
    ck_assert_int_eq(n->missed, 0);
    dal_notification_free(n);
    /* No payload; a quoted channel keeps its case and spaces. */
    CK_RC(o, dal_notify(o, "Mixed Case-ch", NULL), DAL_OK);
    n = next(db, 5000);
    ck_assert_str_eq(n->channel, "Mixed Case-ch");
    ck_assert_str_eq(n->payload, "");
    dal_notification_free(n);
    /* A channel nobody listens to is not delivered. */
    CK_RC(o, dal_notify(o, "mixed case-ch", "x"), DAL_OK);
    expect_timeout(db, 100);
    /* In a transaction: at commit, and never after a rollback. */
    CK_RC(o, dal_begin(o, 0), DAL_OK);
    CK_RC(o, dal_notify(o, "jobs", "later"), DAL_OK);
    expect_timeout(db, 100);
    CK_RC(o, dal_commit(o), DAL_OK);
    n = next(db, 5000);
    ck_assert_str_eq(n->payload, "later");
    dal_notification_free(n);
    CK_RC(o, dal_begin(o, 0), DAL_OK);
    CK_RC(o, dal_notify(o, "jobs", "never"), DAL_OK);
    CK_RC(o, dal_rollback(o), DAL_OK);
    expect_timeout(db, 100);
    /* Several queued: in order; queries in between do not lose them. */
    CK_RC(o, dal_notify(o, "jobs", "1"), DAL_OK);
    CK_RC(o, dal_notify(o, "jobs", "2"), DAL_OK);
    ck_assert_int_eq(qint(db, "SELECT 1"), 1);
    n = next(db, 5000);
    ck_assert_str_eq(n->payload, "1");
    dal_notification_free(n);
    n = next(db, 5000);
    ck_assert_str_eq(n->payload, "2");
    dal_notification_free(n);
    /* Unlisten one, then all. */
    CK_OK(dal_unlisten(db, "jobs"));
    CK_RC(o, dal_notify(o, "jobs", "gone"), DAL_OK);
    CK_RC(o, dal_notify(o, "Mixed Case-ch", "still"), DAL_OK);
    n = next(db, 5000);
    ck_assert_str_eq(n->payload, "still");
    dal_notification_free(n);
    CK_OK(dal_unlisten(db, NULL));
    CK_RC(o, dal_notify(o, "Mixed Case-ch", "gone"), DAL_OK);
    expect_timeout(db, 100);
    dal_close(o);
}
END_TEST

START_TEST(t_misuse)
{
    dal_notification *n = NULL;

    ck_assert_int_eq(dal_listen(NULL, "x"), DAL_E_MISUSE);
    ck_assert_int_eq(dal_notify_wait(NULL, 0, &n), DAL_E_MISUSE);
    dal_notification_free(NULL);
    if (!is_pg())
        return;
    CK_RC(db, dal_listen(db, ""), DAL_E_MISUSE);
    CK_RC(db, dal_listen(db, NULL), DAL_E_MISUSE);
    CK_RC(db, dal_listen(db, "a\"b"), DAL_E_MISUSE);
    CK_RC(db, dal_unlisten(db, "a\nb"), DAL_E_MISUSE);
    CK_RC(db, dal_notify(db, "", "x"), DAL_E_MISUSE);
    CK_RC(db, dal_notify_wait(db, 0, NULL), DAL_E_MISUSE);
}
END_TEST

/* The server ends the listening session: the next wait connects again,
 * listens again and says notifications may have been missed. */
START_TEST(t_reconnect)
{
    dal_notification *n;
    dal_value pid;
    dal_db *o = NULL;
    int64_t old_pid, killed = 0;

    if (!is_pg())
        return;
    CK_RC(o, dal_open(url(), &o), DAL_OK);
    CK_OK(dal_listen(db, "a"));
    CK_OK(dal_listen(db, "b"));
    /* A cached statement of the old session. */
    old_pid = qint(db, "SELECT pg_backend_pid()");
    pid = (dal_value){DAL_TYPE_INT64, {.i = old_pid}};
    CK_RC(o, dal_query_int64(o, "SELECT count(*) FROM "
                             "(SELECT pg_terminate_backend(?)) t",
                             &pid, 1, &killed), DAL_OK);
    CK_RC(o, dal_notify(o, "a", "lost"), DAL_OK);
    n = next(db, 10000);
    ck_assert_int_eq(n->missed, 1);
    ck_assert_ptr_null(n->channel);
    ck_assert_ptr_null(n->payload);
    dal_notification_free(n);
    ck_assert_int_ne(qint(db, "SELECT pg_backend_pid()"), old_pid);
    CK_RC(o, dal_notify(o, "b", "back"), DAL_OK);
    n = next(db, 5000);
    ck_assert_int_eq(n->missed, 0);
    ck_assert_str_eq(n->channel, "b");
    ck_assert_str_eq(n->payload, "back");
    dal_notification_free(n);
    expect_timeout(db, 50);
    dal_close(o);
}
END_TEST

START_TEST(t_nomem)
{
    long n, before;
    int done = 0;
    dal_db *o = NULL;

    if (!is_pg())
        return;
    CK_RC(o, dal_open(url(), &o), DAL_OK);
    /* o's statement cache holds pg_notify's statement from now on. */
    CK_RC(o, dal_notify(o, "nm", "warm"), DAL_OK);
    for (n = 1; !done && n < 2000; n++) {
        dal_notification *got = NULL;
        int rc;

        before = live_blocks;
        nomem_arm(n);
        rc = dal_listen(db, "nm");
        if (rc == DAL_OK) {
            nomem_arm(0);
            CK_RC(o, dal_notify(o, "nm", "p"), DAL_OK);
            nomem_arm(n);
            fail_seq = 0;
            rc = dal_notify_wait(db, 5000, &got);
        }
        ck_assert_msg(rc == DAL_OK || rc == DAL_NOMEM,
                      "allocation %ld: %d (%s): %s", n, rc, dal_errstr(rc),
                      S(dal_errmsg(db)));
        if (!fail_hit)
            done = 1;
        nomem_arm(0);
        if (rc == DAL_OK)
            ck_assert_str_eq(got->payload, "p");
        dal_notification_free(got);
        CK_OK(dal_unlisten(db, NULL));
        /* Drain what a failed wait left queued. */
        while (dal_notify_wait(db, 0, &got) == DAL_OK)
            dal_notification_free(got);
        /* A call that succeeds frees the last error's message. */
        CK_OK(dal_exec(db, "SELECT 1"));
        ck_assert_msg(live_blocks == before,
                      "allocation %ld: %ld blocks leaked", n,
                      live_blocks - before);
    }
    ck_assert(done);
    dal_close(o);
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
    snprintf(prefix, sizeof prefix, "dal-ntf-%ld-", main_pid);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            unlink(path);
        }
    closedir(d);
}

static Suite *notify_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("notify");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_unsupported);
    tcase_add_test(tc, t_deliver);
    tcase_add_test(tc, t_misuse);
    tcase_add_test(tc, t_reconnect);
    tcase_add_test(tc, t_nomem);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    static const char *const names[] = {
        "notify[sqlite-mem]", "notify[sqlite-file]", "notify[postgres]",
    };
    const char *pg;
    int kind, failed = 0;

    if (dal_set_allocator(c_malloc, c_realloc, c_free) != DAL_OK) {
        fprintf(stderr, "notify: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    main_pid = (long)getpid();
    pg = getenv("DAL_TEST_PG_URL");
    if (pg == NULL || pg[0] == '\0') {
        printf("notify: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
        pg = NULL;
    }
    for (kind = BE_SQLITE_MEM; kind <= BE_POSTGRES; kind++) {
        SRunner *sr;

        if (kind == BE_POSTGRES && pg == NULL)
            break;
        test_backend = (enum backend)kind;
        test_url = kind == BE_SQLITE_MEM ? "sqlite::memory:" : pg;
        fflush(stdout);
        sr = srunner_create(notify_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_temp_files();
    }
    if (live_blocks != 0) {
        printf("notify: libdal holds %ld blocks at exit\n", live_blocks);
        failed++;
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
