/*
 * search.c - full-text search and EXPLAIN, on SQLite (memory and file)
 * and PostgreSQL (DAL_TEST_PG_URL), with the same assertions.
 *
 * The corpus is designed so that the two rankings (bm25 and ts_rank)
 * must agree: each query word occurs in a minority of the rows, and the
 * rows differ clearly in how often they use it relative to their length.
 */
#include <check.h>
#include <dal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *test_url;
static char file_url[256], file_path[200];
static dal_db *db;

#define OK(call) \
    ck_assert_msg((call) == DAL_OK, "%s: %s (%s)", #call, dal_errmsg(db), \
                  dal_sqlstate(db))

static int is_sqlite(void)
{
    return !strcmp(dal_backend(db), "sqlite");
}

static void setup(void)
{
    ck_assert_int_eq(dal_open(test_url, &db), DAL_OK);
    /* On SQLite the FTS5 table is a table of its own: drop it too. */
    dal_exec(db, "DROP TABLE IF EXISTS st_docs");
    dal_exec(db, "DROP TABLE IF EXISTS st_docs_fts");
    OK(dal_exec(db, is_sqlite()
        ? "CREATE TABLE st_docs (id INTEGER PRIMARY KEY, title TEXT, "
          "body TEXT)"
        : "CREATE TABLE st_docs (id BIGINT PRIMARY KEY, title TEXT, "
          "body TEXT)"));
    /* "apple" in 3 of 10 rows, "pear" in 2, "plum" in 1. */
    OK(dal_exec(db, "INSERT INTO st_docs VALUES "
        "(1, 'fruit', 'apple apple apple on a table'),"
        "(2, 'notes', 'an apple was eaten by someone long ago in a "
        "garden far from here with many other trees around it'),"
        "(3, 'list', 'apple apple and a pear'),"
        "(4, 'misc', 'nothing of interest here at all'),"
        "(5, 'pears', 'pear pear pear pear'),"
        "(6, 'stone', 'the plum tree'),"
        "(7, 'empty', NULL),"
        "(8, 'x', 'one two three'),"
        "(9, 'y', 'four five six'),"
        "(10, 'z', 'seven eight nine')"));
    OK(dal_fts_create(db, "st_docs", (const char *[]){"title", "body"}, 2));
}

static void teardown(void)
{
    if (db && !is_sqlite())
        dal_exec(db, "DROP TABLE IF EXISTS st_docs");
    dal_close(db);
    db = NULL;
}

/* The ids matching query, best first (ties by id), into ids[]. */
static int search(const char *query, int64_t *ids, int max)
{
    dal_query *q = dal_select(dal_col("id"),
                              dal_as(dal_fts_rank("st_docs", query), "r"));
    dal_stmt *st;
    int n = 0, rc;

    dal_q_from(q, "st_docs");
    dal_q_where(q, dal_fts_match("st_docs", query));
    dal_q_order_by(q, dal_desc(dal_col("r")), dal_col("id"));
    rc = dal_query_prepare(db, q, &st);
    dal_query_free(q);
    ck_assert_msg(rc == DAL_OK, "prepare '%s': %s", query, dal_errmsg(db));
    while ((rc = dal_step(st)) == DAL_ROW && n < max)
        ids[n++] = dal_column_int64(st, 0);
    ck_assert_msg(rc == DAL_DONE || rc == DAL_ROW, "step: %s",
                  dal_errmsg(db));
    dal_finalize(st);
    return n;
}

static void expect(const char *query, const int64_t *want, int nwant)
{
    int64_t got[16];
    int n = search(query, got, 16), i;

    ck_assert_msg(n == nwant, "'%s': %d hits, want %d", query, n, nwant);
    for (i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "'%s': hit %d is %lld, want %lld",
                      query, i, (long long)got[i], (long long)want[i]);
}

#define EXPECT(q, ...) \
    expect((q), (const int64_t[]){__VA_ARGS__}, \
           (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

START_TEST(t_rank_order)
{
    /* Most uses relative to length first, the long note last. */
    EXPECT("apple", 1, 3, 2);
    EXPECT("pear", 5, 3);
    EXPECT("plum", 6);
    /* Case does not matter; title words count. */
    EXPECT("PEARS", 5);
}
END_TEST

START_TEST(t_syntax)
{
    int64_t got[16];

    EXPECT("apple pear", 3);            /* both words */
    EXPECT("\"apple and a pear\"", 3);  /* a phrase */
    ck_assert_int_eq(search("\"pear apple\"", got, 16), 0);
    EXPECT("apple -pear", 1, 2);        /* excluded word */
    ck_assert_int_eq(search("plum or pear", got, 16), 3);
    ck_assert_int_eq(search("nosuchword", got, 16), 0);
    /* FTS5 operators and punctuation in the text are just words. */
    ck_assert_int_eq(search("NEAR(apple) AND *", got, 16), 0);
    EXPECT("apple, (pear)", 3);
}
END_TEST

START_TEST(t_sync)
{
    int64_t got[16];

    /* Rows written after dal_fts_create are indexed by the triggers. */
    OK(dal_exec(db, "INSERT INTO st_docs VALUES (11, 'new', 'kiwi')"));
    EXPECT("kiwi", 11);
    OK(dal_exec(db, "UPDATE st_docs SET body = 'mango' WHERE id = 11"));
    ck_assert_int_eq(search("kiwi", got, 16), 0);
    EXPECT("mango", 11);
    OK(dal_exec(db, "DELETE FROM st_docs WHERE id = 11"));
    ck_assert_int_eq(search("mango", got, 16), 0);
    /* Inside a transaction that rolls back, nothing stays. */
    OK(dal_begin(db, 0));
    OK(dal_exec(db, "INSERT INTO st_docs VALUES (12, 'tx', 'cherry')"));
    EXPECT("cherry", 12);
    OK(dal_rollback(db));
    ck_assert_int_eq(search("cherry", got, 16), 0);
}
END_TEST

START_TEST(t_fts_errors)
{
    char *sql = NULL, *err = NULL;
    dal_query *q;

    ck_assert_int_eq(dal_fts_create(db, "st_docs", NULL, 0), DAL_E_MISUSE);
    ck_assert_int_eq(dal_fts_create(db, "bad\"name",
                                    (const char *[]){"a"}, 1),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_fts_create(db, "st_docs",
                                    (const char *[]){""}, 1),
                     DAL_E_MISUSE);
    /* An empty query or one with only exclusions is refused. */
    q = dal_select(dal_col("id"));
    dal_q_from(q, "st_docs");
    dal_q_where(q, dal_fts_match("st_docs", "  -apple"));
    ck_assert_int_eq(dal_query_to_sql(q, dal_backend(db), &sql, NULL, &err),
                     DAL_E_MISUSE);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_null(sql);
    dal_free(err);
    dal_query_free(q);
    /* A second dal_fts_create fails and leaves the first one working. */
    ck_assert_int_ne(dal_fts_create(db, "st_docs",
                                    (const char *[]){"title"}, 1), DAL_OK);
    ck_assert_int_eq(dal_tx_depth(db), 0);
    EXPECT("plum", 6);
}
END_TEST

START_TEST(t_explain)
{
    dal_query *q = dal_select(dal_col("title"));
    dal_plan *plan = NULL;
    int i, n, found = 0;

    dal_q_from(q, "st_docs");
    dal_q_where(q, dal_eq(dal_col("id"), dal_int(3)));
    OK(dal_explain(db, q, &plan));
    n = dal_plan_count(plan);
    ck_assert_int_ge(n, 1);
    for (i = 0; i < n; i++) {
        const char *d = dal_plan_detail(plan, i);

        ck_assert_ptr_nonnull(d);
        ck_assert_int_lt(dal_plan_parent(plan, i), i);
        if (strstr(d, "st_docs"))
            found = 1;
        /* PostgreSQL gives costs and rows; SQLite gives neither. */
        if (is_sqlite())
            ck_assert(dal_plan_cost(plan, i) < 0);
        else
            ck_assert(dal_plan_cost(plan, i) >= 0
                      && dal_plan_rows(plan, i) >= 0);
    }
    ck_assert_msg(found, "no step names the table");
    ck_assert_ptr_null(dal_plan_detail(plan, n));
    ck_assert_int_eq(dal_plan_parent(plan, -1), -1);
    dal_plan_free(plan);
    dal_query_free(q);

    /* A join has several steps, children after their parents. */
    q = dal_select(dal_tcol("a", "id"));
    dal_q_from_as(q, "st_docs", "a");
    dal_q_join(q, DAL_JOIN_INNER, "st_docs", "b",
               dal_eq(dal_tcol("a", "id"), dal_tcol("b", "id")));
    OK(dal_explain(db, q, &plan));
    ck_assert_int_ge(dal_plan_count(plan), 2);
    dal_plan_free(plan);
    dal_query_free(q);

    /* A query that cannot compile is an error, and no plan. */
    q = dal_select(dal_col(""));
    ck_assert_int_eq(dal_explain(db, q, &plan), DAL_E_MISUSE);
    ck_assert_ptr_null(plan);
    dal_query_free(q);
    dal_plan_free(NULL);
    ck_assert_int_eq(dal_plan_count(NULL), 0);
}
END_TEST

static Suite *make_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("search");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_rank_order);
    tcase_add_test(tc, t_syntax);
    tcase_add_test(tc, t_sync);
    tcase_add_test(tc, t_fts_errors);
    tcase_add_test(tc, t_explain);
    suite_add_tcase(s, tc);
    return s;
}

static int run(const char *name, const char *url)
{
    SRunner *sr;
    int failed;

    test_url = url;
    sr = srunner_create(make_suite(name));
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

int main(void)
{
    const char *pg = getenv("DAL_TEST_PG_URL");
    int failed = 0;

    snprintf(file_path, sizeof file_path, "/tmp/dal-search-%ld.db",
             (long)getpid());
    snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
    failed += run("search[sqlite-mem]", "sqlite::memory:");
    unlink(file_path);
    failed += run("search[sqlite-file]", file_url);
    unlink(file_path);
    if (pg && *pg)
        failed += run("search[postgres]", pg);
    else
        printf("search: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
