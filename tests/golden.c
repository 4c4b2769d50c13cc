/*
 * golden.c - golden-file tests of the query compiler (include/dal/query.h).
 *
 * Every case below is a function that builds one dal_query with the
 * public API. For each dialect ("sqlite", "postgres") the case is
 * compiled with dal_query_to_sql() and the SQL text and parameter count
 * are compared with tests/golden/<dialect>/<NNN>_<name>.sql, whose first
 * line is "-- params: N" and the rest the SQL. NNN is the case's place in
 * the table golden_cases[] (1-based): add new cases at the end.
 *
 * The same query is then prepared on real servers, so that the golden
 * SQL is known to be valid: an in-memory SQLite database, and the
 * PostgreSQL of $DAL_TEST_PG_URL when it is set (a schema of this run's
 * own, dropped first and at the end). Both hold the fixture tables the
 * cases read. Each case runs in a transaction that is rolled back, with
 * every dal_param() slot bound by name, and is stepped once: it must give
 * DAL_ROW or DAL_DONE. A case that cannot run on a backend says why in
 * its xfail note, and the test checks that it still fails there. Some
 * cases also check the first column of the first row ("expect"), or that
 * both backends give the same value there ("same"), where the header
 * promises one meaning on both.
 *
 * The error cases build bad queries: each must fail with the expected
 * code and a message, on both dialects, with dal_query_to_sql() and with
 * dal_query_prepare(), and never give SQL.
 *
 * Run from the top of the tree (or set DAL_GOLDEN_DIR):
 *   build/tests/golden                          SQLite only
 *   tests/pg/with-pg.sh build/tests/golden      and a throwaway PostgreSQL
 *   DAL_GOLDEN_UPDATE=1 build/tests/golden      rewrite the golden files
 *                                               (then review the diff)
 * CK_RUN_CASE=golden / errors narrows a run; CK_FORK=no for gdb.
 *
 * Every test runs with a counting allocator (dal_set_allocator()) and
 * checks that what it made was freed.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dal/core.h>
#include <dal/query.h>

#define ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

enum { D_SQLITE, D_PG, D_COUNT };
static const char *const dialect_names[D_COUNT] = {"sqlite", "postgres"};

static const char *golden_dir;   /* DAL_GOLDEN_DIR or tests/golden */
static int update_mode;          /* DAL_GOLDEN_UPDATE=1 */
static const char *pg_url;       /* DAL_TEST_PG_URL, NULL when unset */
static char pg_schema[32];       /* this run's PostgreSQL schema */

/* ---- counting allocator -------------------------------------------- */

static long live_blocks;
static int fail_allocs; /* nonzero: every allocation fails (DAL_NOMEM) */

static void *count_malloc(size_t n)
{
    void *p = fail_allocs ? NULL : malloc(n);

    if (p)
        live_blocks++;
    return p;
}

static void *count_realloc(void *p, size_t n)
{
    void *q = fail_allocs ? NULL : realloc(p, n);

    if (q && !p)
        live_blocks++;
    return q;
}

static void count_free(void *p)
{
    if (p)
        live_blocks--;
    free(p);
}

/* Each test notes the live count at its start and compares at its end,
 * so that the suite also works with CK_FORK=no. */
#define LEAK_START() long leak_base_ = live_blocks
#define LEAK_CHECK() \
    ck_assert_msg(live_blocks == leak_base_, "%ld block(s) leaked", \
                  live_blocks - leak_base_)

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

/* ---- fixture -------------------------------------------------------- */

/* The tables the cases read, in each backend's types. */
static const char sqlite_ddl[] =
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " email TEXT UNIQUE, country TEXT, vip INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT);"
    "CREATE TABLE orders (id INTEGER PRIMARY KEY,"
    " customer_id INTEGER REFERENCES customers (id), region TEXT,"
    " status TEXT, amount REAL, qty INTEGER, created_at TEXT,"
    " shipped_on TEXT, doc TEXT, note TEXT, paid INTEGER, payload BLOB,"
    " price NUMERIC);"
    "CREATE TABLE items (id INTEGER PRIMARY KEY,"
    " order_id INTEGER REFERENCES orders (id), sku TEXT, qty INTEGER,"
    " price REAL, UNIQUE (order_id, sku));"
    "CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT, price REAL,"
    " stock INTEGER);"
    "CREATE TABLE counters (name TEXT PRIMARY KEY, hits INTEGER NOT NULL,"
    " updated_at TEXT);"
    "CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT,"
    " manager_id INTEGER);"
    "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT, run_at TEXT,"
    " attempts INTEGER);"
    "CREATE TABLE archive (id INTEGER PRIMARY KEY, region TEXT,"
    " amount REAL, created_at TEXT);"
    "CREATE TABLE \"odd names\" (\"select\" INTEGER, \"Mixed Case\" TEXT,"
    " \"it's\" TEXT, \"\xc3\xbcn\xc3\xaf\" TEXT, \"?:x $1\" TEXT)";

static const char pg_ddl[] =
    "CREATE TABLE customers (id BIGINT PRIMARY KEY, name TEXT NOT NULL,"
    " email TEXT UNIQUE, country TEXT, vip BOOLEAN NOT NULL DEFAULT false,"
    " created_at TIMESTAMP);"
    "CREATE TABLE orders (id BIGINT PRIMARY KEY,"
    " customer_id BIGINT REFERENCES customers (id), region TEXT,"
    " status TEXT, amount DOUBLE PRECISION, qty BIGINT,"
    " created_at TIMESTAMP, shipped_on DATE, doc JSONB, note TEXT,"
    " paid BOOLEAN, payload BYTEA, price NUMERIC);"
    "CREATE TABLE items (id BIGINT PRIMARY KEY,"
    " order_id BIGINT REFERENCES orders (id), sku TEXT, qty BIGINT,"
    " price DOUBLE PRECISION, UNIQUE (order_id, sku));"
    "CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT,"
    " price DOUBLE PRECISION, stock BIGINT);"
    "CREATE TABLE counters (name TEXT PRIMARY KEY, hits BIGINT NOT NULL,"
    " updated_at TIMESTAMP);"
    "CREATE TABLE employees (id BIGINT PRIMARY KEY, name TEXT,"
    " manager_id BIGINT);"
    "CREATE TABLE jobs (id BIGINT PRIMARY KEY, state TEXT,"
    " run_at TIMESTAMP, attempts BIGINT);"
    "CREATE TABLE archive (id BIGINT PRIMARY KEY, region TEXT,"
    " amount DOUBLE PRECISION, created_at TIMESTAMP);"
    "CREATE TABLE \"odd names\" (\"select\" BIGINT, \"Mixed Case\" TEXT,"
    " \"it's\" TEXT, \"\xc3\xbcn\xc3\xaf\" TEXT, \"?:x $1\" TEXT)";

/* The rows, in SQL both backends read the same way. */
static const char fixture_rows[] =
    "INSERT INTO customers VALUES"
    " (1, 'Ann', 'ann@example.com', 'de', TRUE, '2023-11-02 08:00:00'),"
    " (2, 'bob', 'bob@example.com', 'fr', FALSE, '2024-01-15 12:30:00'),"
    " (3, 'Chlo\xc3\xa9', NULL, NULL, FALSE, NULL);"
    "INSERT INTO orders (id, customer_id, region, status, amount, qty,"
    " created_at, shipped_on, doc, note, paid, price) VALUES"
    " (1, 1, 'eu', 'paid', 120.5, 1, '2024-03-05 10:20:30', '2024-03-07',"
    "  '{\"customer\":{\"name\":\"Ann\",\"tier\":2},"
    "\"items\":[{\"id\":7,\"qty\":2}],\"a b\":\"x\",\"vip\":true,"
    "\"score\":4.5}', NULL, TRUE, 120.50),"
    " (2, 1, 'eu', 'open', 80, 2, '2024-03-06 09:00:00', NULL,"
    "  '{\"customer\":{\"name\":\"Ann\",\"tier\":2},\"items\":[],"
    "\"vip\":false,\"score\":3}', 'call first', FALSE, 80.00),"
    " (3, 2, 'us', 'paid', 300, 3, '2024-04-01 00:00:00', '2024-04-03',"
    "  '{\"customer\":{\"name\":\"bob\",\"tier\":1},"
    "\"items\":[{\"id\":9,\"qty\":1}],\"vip\":false,\"score\":1.25}',"
    "  NULL, TRUE, 300),"
    " (4, 2, 'us', 'cancelled', 15.25, 1, '2023-12-24 18:45:00', NULL,"
    "  NULL, 'O''Brien', FALSE, 15.25),"
    " (5, 3, NULL, 'open', NULL, NULL, NULL, NULL, '{}', NULL, NULL, NULL);"
    "INSERT INTO items VALUES (1, 1, 'sku-1', 1, 120.5),"
    " (2, 3, 'sku-2', 2, 100), (3, 3, 'sku-3', 1, 100);"
    "INSERT INTO products VALUES ('sku-1', 'Lamp', 120.5, 10),"
    " ('sku-2', 'Desk', 100, 0), ('sku-3', 'Chair', 100, 5);"
    "INSERT INTO counters VALUES ('home', 10, NULL), ('about', 2, NULL);"
    "INSERT INTO employees VALUES (1, 'Root', NULL), (2, 'Mid', 1),"
    " (3, 'Leaf', 2), (4, 'Other', 1);"
    "INSERT INTO jobs VALUES (1, 'queued', '2024-01-01 00:00:00', 0),"
    " (2, 'queued', '2030-01-01 00:00:00', 0),"
    " (3, 'done', '2023-01-01 00:00:00', 1);"
    "INSERT INTO \"odd names\" VALUES (1, 'A', 'it', '\xc3\xbc', 'q')";

/* products.name is searchable (dal_fts_create()). */
static const char *const fts_cols[] = {"name"};

/* The values bound to dal_param() slots, by name. */
static const struct {
    const char *name;
    dal_value v;
} bindings[] = {
    {"region", {DAL_TYPE_TEXT, {.s = {"eu", DAL_NTS}}}},
    {"status", {DAL_TYPE_TEXT, {.s = {"paid", DAL_NTS}}}},
    {"cust", {DAL_TYPE_INT64, {.i = 1}}},
    {"id", {DAL_TYPE_INT64, {.i = 900}}},
    {"name", {DAL_TYPE_TEXT, {.s = {"Zed", DAL_NTS}}}},
    {"email", {DAL_TYPE_TEXT, {.s = {"zed@example.com", DAL_NTS}}}},
    {"lo", {DAL_TYPE_DOUBLE, {.d = 10.0}}},
    {"hi", {DAL_TYPE_DOUBLE, {.d = 500.0}}},
    {"sku", {DAL_TYPE_TEXT, {.s = {"sku-1", DAL_NTS}}}},
};

static void fail_db(dal_db *db, const char *what)
{
    ck_abort_msg("%s: %s (code %d, SQLSTATE %s)", what, dal_errmsg(db),
                 dal_errcode(db), dal_sqlstate(db));
}

/* An in-memory SQLite database holding the fixture. */
static dal_db *open_sqlite(int fixture)
{
    dal_db *db = NULL;

    if (dal_open("sqlite::memory:", &db) != DAL_OK)
        fail_db(db, "open sqlite::memory:");
    if (fixture && (dal_exec(db, sqlite_ddl) != DAL_OK
                    || dal_exec(db, fixture_rows) != DAL_OK
                    || dal_fts_create(db, "products", fts_cols, 1)
                       != DAL_OK))
        fail_db(db, "sqlite fixture");
    return db;
}

/* A connection to the PostgreSQL of this run, in its schema. */
static dal_db *open_pg(int fixture)
{
    dal_db *db = NULL;
    char sql[128];

    if (dal_open(pg_url, &db) != DAL_OK)
        fail_db(db, "open $DAL_TEST_PG_URL");
    snprintf(sql, sizeof sql, "SET search_path TO \"%s\"", pg_schema);
    if (fixture && dal_exec(db, sql) != DAL_OK)
        fail_db(db, sql);
    return db;
}

/* Make this run's schema on PostgreSQL (main(), before the tests).
 * Returns 0 or -1 after printing why. */
static int pg_setup(void)
{
    dal_db *db = NULL;
    char sql[256];
    int rc;

    snprintf(pg_schema, sizeof pg_schema, "dal_golden_%ld",
             (long)getpid());
    if ((rc = dal_open(pg_url, &db)) == DAL_OK) {
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS \"%s\" CASCADE;"
                 "CREATE SCHEMA \"%s\"; SET search_path TO \"%s\"",
                 pg_schema, pg_schema, pg_schema);
        rc = dal_exec(db, sql);
    }
    if (rc == DAL_OK)
        rc = dal_exec(db, pg_ddl);
    if (rc == DAL_OK)
        rc = dal_exec(db, fixture_rows);
    if (rc == DAL_OK)
        rc = dal_fts_create(db, "products", fts_cols, 1);
    if (rc != DAL_OK)
        fprintf(stderr, "golden: PostgreSQL fixture: %s\n", dal_errmsg(db));
    dal_close(db);
    return rc == DAL_OK ? 0 : -1;
}

static void pg_teardown(void)
{
    dal_db *db = NULL;
    char sql[128];

    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS \"%s\" CASCADE",
             pg_schema);
    if (dal_open(pg_url, &db) != DAL_OK || dal_exec(db, sql) != DAL_OK)
        fprintf(stderr, "golden: dropping schema %s: %s\n", pg_schema,
                dal_errmsg(db));
    dal_close(db);
}

/* ---- builder shorthands --------------------------------------------- */

static dal_query *from_(dal_query *q, const char *table)
{
    dal_q_from(q, table);
    return q;
}

static dal_query *where_(dal_query *q, dal_expr *cond)
{
    dal_q_where(q, cond);
    return q;
}

/* SELECT cols... FROM table. */
#define SEL(table, ...) from_(dal_select(__VA_ARGS__), (table))
#define COL(name) dal_col(name)
#define TXT(s) dal_text(s)
#define INT(i) dal_int(i)

/* ---- cases: SELECT basics -------------------------------------------- */

static dal_query *c_sel_star(void)
{
    return SEL("orders", dal_star());
}

static dal_query *c_sel_columns(void)
{
    return SEL("orders", COL("id"), COL("region"), COL("amount"));
}

static dal_query *c_sel_qualified(void)
{
    return SEL("orders", dal_tstar("orders"), dal_tcol("orders", "id"),
               COL("orders.region"));
}

static dal_query *c_sel_distinct(void)
{
    dal_query *q = SEL("orders", COL("region"));

    dal_q_distinct(q);
    return q;
}

static dal_query *c_sel_from_alias(void)
{
    dal_query *q = dal_select(COL("o.id"), dal_tcol("o", "status"));

    dal_q_from_as(q, "orders", "o");
    return q;
}

static dal_query *c_sel_no_from(void)
{
    return dal_select(dal_as(dal_add(INT(1), INT(2)), "three"));
}

static dal_query *c_sel_odd_names(void)
{
    /* Identifiers that look like keywords, quotes or placeholders stay
     * identifiers. */
    return where_(SEL("odd names", COL("select"), COL("Mixed Case"),
                      COL("it's"), COL("\xc3\xbcn\xc3\xaf"),
                      dal_as(COL("?:x $1"), "$2 ?")),
                  dal_eq(dal_tcol("odd names", "select"), INT(1)));
}

/* ---- cases: values ---------------------------------------------------- */

static dal_query *c_val_null(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_is(COL("note"), dal_null()));
}

static dal_query *c_val_bool(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_or(dal_eq(COL("paid"), dal_bool(1)),
                         dal_eq(COL("paid"), dal_bool(0))));
}

static dal_query *c_val_int(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_in(COL("id"), INT(INT64_MIN), INT(-1), INT(0),
                         INT(INT64_MAX)));
}

static dal_query *c_val_double(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_and(dal_gt(COL("amount"), dal_double(12.5)),
                          dal_lt(COL("amount"), dal_double(1e300)),
                          dal_ne(COL("amount"), dal_double(-0.25))));
}

static dal_query *c_val_text(void)
{
    /* Quotes, placeholders and comments in a value stay in the value. */
    return where_(SEL("orders", COL("id")),
                  dal_eq(COL("note"), TXT("O'Brien \"q\" ? :x $1 -- /* "
                                          "h\xc3\xa9 \xe2\x9c\x93")));
}

static dal_query *c_val_textn(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_eq(COL("region"), dal_textn("europe", 2)));
}

static dal_query *c_val_blob(void)
{
    static const unsigned char bytes[] = {0x00, 0x01, 0xff, '\'', '?'};

    return where_(SEL("orders", COL("id")),
                  dal_eq(COL("payload"), dal_blob(bytes, sizeof bytes)));
}

static dal_query *c_val_value_expr(void)
{
    static const unsigned char bytes[] = {0xde, 0xad};
    dal_value v[7] = {
        DAL_V_INT64(200), DAL_V_TEXT("note"), DAL_V_BOOL(1), DAL_V_NULL,
        DAL_V_DOUBLE(9.75), DAL_V_BLOB(bytes, sizeof bytes),
        DAL_V_TEXTN("eu-west", 2),
    };
    dal_query *q = dal_insert("orders");

    dal_q_columns(q, "id", "note", "paid", "qty", "amount", "payload",
                  "region");
    dal_q_values(q, dal_value_expr(&v[0]), dal_value_expr(&v[1]),
                 dal_value_expr(&v[2]), dal_value_expr(&v[3]),
                 dal_value_expr(&v[4]), dal_value_expr(&v[5]),
                 dal_value_expr(&v[6]));
    return q;
}

static dal_query *c_sel_typed_values(void)
{
    static const unsigned char bytes[] = {0x01, 0x02};

    return dal_select(dal_as(INT(42), "i"), dal_as(dal_double(2.5), "d"),
                      dal_as(dal_bool(1), "b"),
                      dal_as(dal_blob(bytes, sizeof bytes), "x"));
}

static dal_query *c_sel_text_value(void)
{
    return dal_select(dal_as(TXT("label"), "label"));
}

static dal_query *c_sel_null_value(void)
{
    return dal_select(dal_as(dal_null(), "nothing"));
}

/* ---- cases: dal_param ------------------------------------------------- */

static dal_query *c_param_one(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_eq(COL("region"), dal_param("region")));
}

static dal_query *c_param_reused(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_or(dal_and(dal_eq(COL("customer_id"),
                                        dal_param("cust")),
                                 dal_eq(COL("status"), dal_param("status"))),
                         dal_and(dal_eq(COL("customer_id"),
                                        dal_param("cust")),
                                 dal_eq(COL("region"),
                                        dal_param("region")))));
}

static dal_query *c_param_mixed(void)
{
    /* Values and slots interleaved: each value takes the next index, a
     * slot seen before takes its first index again. */
    return where_(SEL("orders", COL("id")),
                  dal_and(dal_gt(COL("qty"), INT(0)),
                          dal_eq(COL("region"), dal_param("region")),
                          dal_lt(COL("amount"), dal_double(1000.5)),
                          dal_eq(COL("status"), dal_param("status")),
                          dal_ne(COL("id"), INT(99)),
                          dal_is_not(COL("note"), dal_param("region"))));
}

static dal_query *c_param_insert(void)
{
    dal_query *q = dal_insert("customers");

    dal_q_columns(q, "id", "name", "email");
    dal_q_values(q, dal_param("id"), dal_param("name"), dal_param("email"));
    return q;
}

static dal_query *c_param_update(void)
{
    dal_query *q = dal_update("orders");

    dal_q_set(q, "status", dal_param("status"));
    dal_q_where(q, dal_eq(COL("id"), dal_param("id")));
    return q;
}

/* ---- cases: comparisons and logic ------------------------------------ */

static dal_query *c_cmp_eq_ne(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_and(dal_eq(COL("region"), TXT("eu")),
                          dal_ne(COL("status"), TXT("cancelled"))));
}

static dal_query *c_cmp_order(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_and(dal_lt(COL("amount"), dal_double(500)),
                          dal_le(COL("qty"), INT(3)),
                          dal_gt(COL("id"), INT(0)),
                          dal_ge(COL("created_at"),
                                 TXT("2024-01-01 00:00:00"))));
}

static dal_query *c_cmp_distinct(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_and(dal_is(COL("region"), TXT("eu")),
                          dal_is_not(COL("note"), COL("status"))));
}

static dal_query *c_cmp_null(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_and(dal_is_null(COL("note")),
                          dal_is_not_null(COL("region"))));
}

static dal_query *c_logic_nested(void)
{
    return where_(
        SEL("orders", COL("id")),
        dal_or(dal_and(dal_eq(COL("region"), TXT("eu")),
                       dal_or(dal_eq(COL("status"), TXT("paid")),
                              dal_eq(COL("status"), TXT("open")))),
               dal_and(dal_not(dal_eq(COL("region"), TXT("eu"))),
                       dal_gt(COL("amount"), dal_double(100))),
               dal_is_null(COL("region"))));
}

static dal_query *c_logic_single(void)
{
    /* dal_and / dal_or of one condition are that condition. */
    return where_(SEL("orders", COL("id")),
                  dal_and(dal_or(dal_eq(COL("id"), INT(1)))));
}

static dal_query *c_logic_not(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_not(dal_or(dal_is_null(COL("amount")),
                                 dal_not(dal_eq(COL("paid"),
                                                dal_bool(1))))));
}

/* ---- cases: IN, BETWEEN, LIKE ---------------------------------------- */

static dal_query *c_in_list(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_in(COL("status"), TXT("paid"), TXT("open"),
                         TXT("shipped")));
}

static dal_query *c_not_in_list(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_not_in(COL("id"), INT(1), INT(2)));
}

static dal_query *c_in_single(void)
{
    return where_(SEL("orders", COL("id")), dal_in(COL("id"), INT(3)));
}

static dal_query *c_in_subquery(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_in_query(COL("customer_id"),
                               where_(SEL("customers", COL("id")),
                                      dal_eq(COL("country"), TXT("de")))));
}

static dal_query *c_between(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_and(dal_between(COL("amount"), dal_double(10),
                                      dal_double(200)),
                          dal_between(COL("created_at"),
                                      TXT("2024-01-01"),
                                      TXT("2024-12-31"))));
}

static dal_query *c_not_between(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_not(dal_between(COL("qty"), dal_param("cust"),
                                      INT(2))));
}

static dal_query *c_like(void)
{
    return where_(SEL("customers", dal_count(dal_star())),
                  dal_like(COL("name"), TXT("ann%")));
}

static dal_query *c_ilike(void)
{
    return where_(SEL("customers", dal_count(dal_star())),
                  dal_ilike(COL("name"), TXT("ann%")));
}

/* ---- cases: arithmetic ------------------------------------------------ */

static dal_query *c_arith_basic(void)
{
    return SEL("orders",
               dal_as(dal_sub(dal_mul(dal_add(COL("amount"),
                                              dal_double(1)),
                                      INT(2)),
                              COL("qty")), "x"));
}

static dal_query *c_arith_div(void)
{
    return dal_select(dal_as(dal_div(INT(7), INT(2)), "q"));
}

static dal_query *c_arith_div_zero(void)
{
    return dal_select(dal_as(dal_div(INT(7), INT(0)), "q"));
}

static dal_query *c_arith_div_columns(void)
{
    return SEL("orders", dal_as(dal_div(COL("amount"), COL("qty")), "unit"));
}

static dal_query *c_arith_idiv(void)
{
    return dal_select(dal_as(dal_idiv(INT(-7), INT(2)), "q"),
                      dal_as(dal_idiv(INT(7), INT(0)), "z"));
}

static dal_query *c_arith_idiv_double(void)
{
    return dal_select(dal_as(dal_idiv(dal_double(7.5), INT(2)), "q"));
}

static dal_query *c_arith_mod(void)
{
    return dal_select(dal_as(dal_mod(INT(-7), INT(3)), "r"));
}

static dal_query *c_arith_mod_double(void)
{
    return SEL("orders", dal_as(dal_mod(COL("amount"), INT(7)), "r"));
}

static dal_query *c_arith_neg(void)
{
    return SEL("orders", dal_as(dal_neg(COL("amount")), "a"),
               dal_as(dal_neg(INT(5)), "b"));
}

static dal_query *c_arith_concat(void)
{
    return SEL("orders",
               dal_as(dal_concat(dal_concat(COL("region"), TXT("/")),
                                 COL("status")), "label"));
}

static dal_query *c_arith_concat_number(void)
{
    return where_(SEL("orders", dal_as(dal_concat(TXT("#"), COL("id")),
                                       "ref")),
                  dal_eq(COL("id"), INT(1)));
}

/* ---- cases: CASE, CAST ------------------------------------------------ */

static dal_query *c_case_else(void)
{
    return SEL("orders",
               dal_as(dal_case(dal_when(dal_gt(COL("amount"),
                                               dal_double(100)),
                                        TXT("big")),
                               dal_when(dal_gt(COL("amount"),
                                               dal_double(50)),
                                        TXT("medium")),
                               dal_else(TXT("small"))), "size"));
}

static dal_query *c_case_no_else(void)
{
    return SEL("orders",
               dal_as(dal_case(dal_when(dal_eq(COL("status"), TXT("paid")),
                                        INT(1))), "is_paid"));
}

static dal_query *c_case_nested(void)
{
    dal_expr *inner = dal_case(dal_when(dal_is_null(COL("region")),
                                        TXT("unknown")),
                               dal_else(COL("region")));

    return where_(SEL("orders", COL("id")),
                  dal_eq(dal_case(dal_when(dal_eq(COL("paid"), dal_bool(1)),
                                           inner),
                                  dal_else(TXT("unpaid"))),
                         TXT("eu")));
}

static dal_query *c_cast_int64(void)
{
    return dal_select(dal_as(dal_cast(TXT("42"), DAL_SQL_INT64), "v"));
}

static dal_query *c_cast_double(void)
{
    return dal_select(dal_as(dal_cast(TXT("2.5"), DAL_SQL_DOUBLE), "v"));
}

static dal_query *c_cast_text(void)
{
    return dal_select(dal_as(dal_cast(INT(42), DAL_SQL_TEXT), "v"));
}

static dal_query *c_cast_blob(void)
{
    return SEL("orders", dal_as(dal_cast(COL("region"), DAL_SQL_BLOB),
                                "v"));
}

static dal_query *c_cast_bool(void)
{
    return dal_select(dal_as(dal_cast(INT(1), DAL_SQL_BOOL), "v"));
}

static dal_query *c_cast_numeric(void)
{
    return SEL("orders", dal_as(dal_cast(COL("amount"), DAL_SQL_NUMERIC),
                                "v"));
}

static dal_query *c_cast_timestamp(void)
{
    return dal_select(dal_as(dal_cast(TXT("2024-03-05 10:20:30"),
                                      DAL_SQL_TIMESTAMP), "v"));
}

static dal_query *c_cast_date(void)
{
    return dal_select(dal_as(dal_cast(TXT("2024-03-05"), DAL_SQL_DATE),
                             "v"));
}

static dal_query *c_cast_json(void)
{
    return dal_select(dal_as(dal_cast(TXT("{\"a\":1}"), DAL_SQL_JSON),
                             "v"));
}

/* ---- cases: functions ------------------------------------------------- */

static dal_query *c_fn_lower_upper(void)
{
    return SEL("customers", dal_as(dal_lower(COL("name")), "l"),
               dal_as(dal_upper(COL("name")), "u"));
}

static dal_query *c_fn_length(void)
{
    return dal_select(dal_as(dal_length(TXT("h\xc3\xa9llo")), "n"));
}

static dal_query *c_fn_abs(void)
{
    return SEL("orders", dal_as(dal_abs(dal_sub(COL("amount"),
                                                dal_double(100))), "d"));
}

static dal_query *c_fn_round(void)
{
    return dal_select(dal_as(dal_round(dal_double(1.2345), 2), "r"));
}

static dal_query *c_fn_round_zero(void)
{
    return dal_select(dal_as(dal_round(dal_double(1234.5678), 0), "r"));
}

/* Negative digits: SQLite ignores them, PostgreSQL rounds to tens. */
static dal_query *e_fn_round_negative(void)
{
    return dal_select(dal_as(dal_round(INT(1234), -2), "r"));
}

static dal_query *c_fn_round_column(void)
{
    return SEL("orders", dal_as(dal_round(dal_avg(COL("amount")), 1), "r"));
}

static dal_query *c_fn_coalesce(void)
{
    return SEL("orders", dal_as(dal_coalesce(COL("note"), COL("region"),
                                             TXT("-")), "c"));
}

static dal_query *c_fn_now(void)
{
    return dal_select(dal_as(dal_length(dal_now()), "n"),
                      dal_as(dal_now(), "t"));
}

static dal_query *extract_case(dal_datepart part)
{
    return dal_select(dal_as(dal_extract(part, TXT("2024-03-05 10:20:30")),
                             "v"));
}

static dal_query *c_fn_extract_year(void)
{
    return extract_case(DAL_PART_YEAR);
}

static dal_query *c_fn_extract_month(void)
{
    return extract_case(DAL_PART_MONTH);
}

static dal_query *c_fn_extract_day(void)
{
    return extract_case(DAL_PART_DAY);
}

static dal_query *c_fn_extract_hour(void)
{
    return extract_case(DAL_PART_HOUR);
}

static dal_query *c_fn_extract_minute(void)
{
    return extract_case(DAL_PART_MINUTE);
}

static dal_query *c_fn_extract_second(void)
{
    return extract_case(DAL_PART_SECOND);
}

static dal_query *c_fn_extract_column(void)
{
    dal_query *q = SEL("orders",
                       dal_as(dal_extract(DAL_PART_MONTH, COL("created_at")),
                              "m"),
                       dal_as(dal_extract(DAL_PART_DAY, COL("shipped_on")),
                              "d"));

    dal_q_where(q, dal_eq(dal_extract(DAL_PART_YEAR, COL("created_at")),
                          INT(2024)));
    dal_q_order_by(q, COL("id"));
    return q;
}

static dal_query *c_fn_func(void)
{
    return SEL("customers",
               dal_as(dal_func("replace", COL("name"), TXT("n"), TXT("N")),
                      "r"),
               dal_as(dal_func("nullif", COL("country"), TXT("de")), "c"));
}

static dal_query *c_fn_func0(void)
{
    return dal_select(dal_as(dal_func0("random"), "r"));
}

static dal_query *c_fn_func_int_args(void)
{
    return SEL("customers", dal_as(dal_func("substr", COL("name"), INT(1),
                                            INT(2)), "s"));
}

/* ---- cases: aggregates and windows ------------------------------------ */

static dal_query *c_agg_count_star(void)
{
    return SEL("orders", dal_as(dal_count(dal_star()), "n"));
}

static dal_query *c_agg_count(void)
{
    return SEL("orders", dal_as(dal_count(COL("region")), "n"),
               dal_as(dal_count_distinct(COL("region")), "d"));
}

static dal_query *c_agg_sum_min_max(void)
{
    return SEL("orders", dal_as(dal_sum(COL("qty")), "s"),
               dal_as(dal_min(COL("amount")), "lo"),
               dal_as(dal_max(COL("created_at")), "hi"));
}

static dal_query *c_agg_avg(void)
{
    return SEL("orders", dal_as(dal_avg(COL("qty")), "a"));
}

static dal_query *c_agg_filter(void)
{
    return SEL("orders",
               dal_as(dal_filter(dal_sum(COL("amount")),
                                 dal_eq(COL("status"), TXT("paid"))),
                      "paid_total"),
               dal_as(dal_filter(dal_count(dal_star()),
                                 dal_eq(COL("status"), TXT("open"))),
                      "open_count"));
}

static dal_query *c_agg_avg_filter(void)
{
    return SEL("orders",
               dal_as(dal_filter(dal_avg(COL("qty")),
                                 dal_ne(COL("status"), TXT("paid"))),
                      "a"));
}

static dal_query *c_agg_count_distinct_filter(void)
{
    return SEL("orders",
               dal_as(dal_filter(dal_count_distinct(COL("customer_id")),
                                 dal_gt(COL("amount"), dal_double(50))),
                      "n"));
}

static dal_query *c_agg_count_tcol(void)
{
    dal_query *q = dal_select(dal_as(dal_count(dal_tcol("o", "id")), "n"));

    dal_q_from_as(q, "orders", "o");
    return q;
}

/* COUNT(t.*) is PostgreSQL's only. */
static dal_query *e_agg_count_tstar(void)
{
    dal_query *q = dal_select(dal_as(dal_count(dal_tstar("o")), "n"));

    dal_q_from_as(q, "orders", "o");
    return q;
}

static dal_query *c_win_row_number(void)
{
    return SEL("orders", COL("id"),
               dal_as(dal_over(dal_row_number(), NULL, NULL), "n"));
}

static dal_query *c_win_rank(void)
{
    return SEL("orders", COL("id"),
               dal_as(dal_over(dal_rank(), dal_list(COL("region")),
                               dal_list(dal_desc(COL("amount")))), "r"));
}

static dal_query *c_win_sum_partition(void)
{
    return SEL("orders", COL("id"),
               dal_as(dal_over(dal_sum(COL("amount")),
                               dal_list(COL("region")), NULL), "total"));
}

static dal_query *c_win_order_only(void)
{
    return SEL("orders", COL("id"),
               dal_as(dal_over(dal_row_number(), NULL,
                               dal_list(dal_nulls_last(
                                   dal_desc(COL("created_at"))))), "n"));
}

static dal_query *c_win_avg(void)
{
    return SEL("orders", COL("id"),
               dal_as(dal_over(dal_avg(COL("amount")),
                               dal_list(COL("region")), NULL), "a"));
}

static dal_query *c_win_filter(void)
{
    return SEL("orders", COL("id"),
               dal_as(dal_over(dal_filter(dal_count(dal_star()),
                                          dal_eq(COL("paid"), dal_bool(1))),
                               dal_list(COL("customer_id")), NULL), "n"));
}

static dal_query *c_win_multi(void)
{
    return SEL("orders", COL("id"),
               dal_as(dal_over(dal_max(COL("amount")),
                               dal_list(COL("region"), COL("status")),
                               dal_list(dal_desc(COL("amount")),
                                        COL("id"))), "m"));
}

/* ---- cases: subqueries, aliases, raw SQL ------------------------------ */

static dal_query *c_sub_exists(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_exists(where_(SEL("items", INT(1)),
                                    dal_eq(dal_tcol("items", "order_id"),
                                           dal_tcol("orders", "id")))));
}

static dal_query *c_sub_not_exists(void)
{
    return where_(SEL("customers", COL("id")),
                  dal_not(dal_exists(
                      where_(SEL("orders", dal_star()),
                             dal_eq(COL("orders.customer_id"),
                                    COL("customers.id"))))));
}

static dal_query *c_sub_scalar(void)
{
    return SEL("orders", COL("id"),
               dal_as(dal_subquery(
                          where_(SEL("items", dal_count(dal_star())),
                                 dal_eq(COL("items.order_id"),
                                        COL("orders.id")))), "n_items"));
}

static dal_query *c_sub_scalar_where(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_gt(COL("amount"),
                         dal_subquery(SEL("orders",
                                          dal_avg(COL("amount"))))));
}

static dal_query *c_alias_order(void)
{
    dal_query *q = SEL("orders", dal_as(COL("region"), "r"),
                       dal_as(dal_sum(COL("amount")), "total"));

    dal_q_group_by(q, COL("region"));
    dal_q_order_by(q, dal_desc(COL("total")));
    return q;
}

static dal_query *c_raw_plain(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_raw("\"qty\" > 1 AND \"region\" IS NOT NULL", NULL,
                          0));
}

static dal_query *c_raw_params(void)
{
    dal_value v[2] = {DAL_V_DOUBLE(10), DAL_V_DOUBLE(200)};

    /* The fragment's ? come after the values before it. */
    return where_(SEL("orders", COL("id")),
                  dal_and(dal_gt(COL("qty"), INT(0)),
                          dal_raw("\"amount\" BETWEEN ? AND ?", v, 2),
                          dal_eq(COL("region"), TXT("eu"))));
}

static dal_query *c_raw_literal_qmark(void)
{
    dal_value v[1] = {DAL_V_TEXT("x")};

    /* A ? in a string literal is not a placeholder. */
    return dal_select(dal_as(dal_raw("? || '?!'", v, 1), "s"));
}

static dal_query *c_raw_jsonb_qq(void)
{
    dal_value v[1] = {DAL_V_TEXT("vip")};

    /* ?? is a literal ?: PostgreSQL's jsonb key-exists operator. */
    return where_(SEL("orders", COL("id")),
                  dal_raw("CAST(\"doc\" AS JSONB) ?? ?", v, 1));
}

static dal_query *c_raw_comment(void)
{
    dal_value v[1] = {DAL_V_INT64(1)};
    dal_query *q;

    /* A fragment ending in a line comment is still one expression. */
    q = where_(SEL("orders", COL("id")),
               dal_raw("\"qty\" > ? -- more than one", v, 1));
    dal_q_order_by(q, COL("id"));
    return q;
}

static dal_query *c_raw_select_alias(void)
{
    dal_value v[1] = {DAL_V_TEXT("-")};

    return SEL("orders", dal_as(dal_raw("upper(\"region\") || ?", v, 1),
                                "r"));
}

/* ---- cases: ordering -------------------------------------------------- */

static dal_query *c_ord_asc_desc(void)
{
    dal_query *q = SEL("orders", COL("id"));

    dal_q_order_by(q, dal_asc(COL("region")), dal_desc(COL("amount")),
                   COL("id"));
    return q;
}

static dal_query *c_ord_nulls(void)
{
    dal_query *q = SEL("orders", COL("id"));

    dal_q_order_by(q, dal_nulls_first(dal_desc(COL("region"))),
                   dal_nulls_last(dal_asc(COL("amount"))),
                   dal_nulls_first(COL("note")));
    return q;
}

static dal_query *c_ord_expr(void)
{
    dal_query *q = SEL("customers", COL("name"));

    dal_q_order_by(q, dal_desc(dal_length(COL("name"))),
                   dal_lower(COL("name")));
    return q;
}

/* ---- cases: JSON ------------------------------------------------------ */

static dal_query *json_case(const char *path, int kind, int id)
{
    dal_expr *doc = COL("doc");
    dal_expr *e = kind == 1 ? dal_json_get_int(doc, path)
                  : kind == 2 ? dal_json_get_double(doc, path)
                  : dal_json_get(doc, path);

    return where_(SEL("orders", dal_as(e, "v")), dal_eq(COL("id"), INT(id)));
}

static dal_query *c_json_get_text(void)
{
    return json_case("$.customer.name", 0, 1);
}

static dal_query *c_json_get_int(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_gt(dal_json_get_int(COL("doc"), "$.customer.tier"),
                         INT(1)));
}

static dal_query *c_json_get_double(void)
{
    return json_case("$.score", 2, 3);
}

static dal_query *c_json_get_array(void)
{
    return json_case("$.items[0].id", 1, 1);
}

static dal_query *c_json_get_quoted(void)
{
    return json_case("$.\"a b\"", 0, 1);
}

static dal_query *c_json_get_root(void)
{
    return json_case("$", 0, 5);
}

static dal_query *c_json_get_bool(void)
{
    return json_case("$.vip", 0, 1);
}

static dal_query *c_json_get_number(void)
{
    return json_case("$.score", 0, 1);
}

static dal_query *c_json_get_object(void)
{
    return json_case("$.customer", 0, 3);
}

static dal_query *c_json_get_missing(void)
{
    return json_case("$.nope[3].x", 0, 1);
}

static dal_query *c_json_get_value(void)
{
    return dal_select(dal_as(dal_json_get_int(TXT("{\"a\":[10,20]}"),
                                              "$.a[1]"), "v"));
}

static dal_query *c_json_object(void)
{
    return where_(SEL("orders",
                      dal_as(dal_json_object(TXT("id"), COL("id"),
                                             TXT("region"), COL("region")),
                             "j")),
                  dal_eq(COL("id"), INT(1)));
}

static dal_query *c_json_array(void)
{
    return where_(SEL("orders", dal_as(dal_json_array(COL("id"),
                                                      COL("status"),
                                                      INT(7)), "j")),
                  dal_eq(COL("id"), INT(1)));
}

static dal_query *c_json_nested(void)
{
    return SEL("customers",
               dal_as(dal_json_object(TXT("name"), COL("name"),
                                      TXT("tags"),
                                      dal_json_array(TXT("a"), TXT("b"))),
                      "j"));
}

static dal_query *c_json_contains(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_json_contains(COL("doc"), TXT("{\"vip\":true}")));
}

/* ---- cases: FROM, joins, WHERE, GROUP BY, LIMIT ------------------------ */

static dal_query *c_from_subquery(void)
{
    dal_query *sub = where_(SEL("orders", COL("region"),
                                dal_as(COL("amount"), "a")),
                            dal_is_not_null(COL("region")));
    dal_query *q = dal_select(COL("s.region"),
                              dal_as(dal_sum(COL("s.a")), "total"));

    dal_q_from_query(q, sub, "s");
    dal_q_group_by(q, COL("s.region"));
    return q;
}

static dal_query *c_join_inner(void)
{
    dal_query *q = dal_select(COL("o.id"), COL("c.name"));

    dal_q_from_as(q, "orders", "o");
    dal_q_join(q, DAL_JOIN_INNER, "customers", "c",
               dal_eq(COL("c.id"), COL("o.customer_id")));
    return q;
}

static dal_query *c_join_left(void)
{
    dal_query *q = dal_select(COL("customers.name"),
                              dal_as(dal_count(COL("orders.id")), "n"));

    dal_q_from(q, "customers");
    dal_q_join(q, DAL_JOIN_LEFT, "orders", NULL,
               dal_eq(COL("orders.customer_id"), COL("customers.id")));
    dal_q_group_by(q, COL("customers.name"));
    return q;
}

static dal_query *c_join_cross(void)
{
    dal_query *q = dal_select(COL("c.name"), COL("p.sku"));

    dal_q_from_as(q, "customers", "c");
    dal_q_join(q, DAL_JOIN_CROSS, "products", "p", NULL);
    return q;
}

static dal_query *c_join_several(void)
{
    dal_query *q = dal_select(COL("o.id"), COL("c.name"), COL("i.sku"),
                              COL("p.name"), COL("e.name"));

    dal_q_from_as(q, "orders", "o");
    dal_q_join(q, DAL_JOIN_INNER, "customers", "c",
               dal_eq(COL("c.id"), COL("o.customer_id")));
    dal_q_join(q, DAL_JOIN_LEFT, "items", "i",
               dal_and(dal_eq(COL("i.order_id"), COL("o.id")),
                       dal_gt(COL("i.qty"), INT(0))));
    dal_q_join(q, DAL_JOIN_LEFT, "products", "p",
               dal_eq(COL("p.sku"), COL("i.sku")));
    dal_q_join(q, DAL_JOIN_CROSS, "employees", "e", NULL);
    dal_q_where(q, dal_eq(COL("e.id"), INT(1)));
    return q;
}

static dal_query *c_join_from_subquery(void)
{
    dal_query *sub = SEL("items", COL("order_id"),
                         dal_as(dal_sum(COL("qty")), "units"));
    dal_query *q = dal_select(COL("o.id"), COL("t.units"));

    dal_q_group_by(sub, COL("order_id"));
    dal_q_from_query(q, sub, "t");
    dal_q_join(q, DAL_JOIN_INNER, "orders", "o",
               dal_eq(COL("o.id"), COL("t.order_id")));
    return q;
}

static dal_query *c_where_twice(void)
{
    dal_query *q = SEL("orders", COL("id"));

    dal_q_where(q, dal_eq(COL("region"), TXT("eu")));
    dal_q_where(q, dal_or(dal_gt(COL("amount"), dal_double(100)),
                          dal_eq(COL("status"), TXT("open"))));
    return q;
}

static dal_query *c_group_having(void)
{
    dal_query *q = SEL("orders", COL("customer_id"),
                       dal_as(dal_sum(COL("amount")), "total"));

    dal_q_group_by(q, COL("customer_id"));
    dal_q_having(q, dal_gt(dal_sum(COL("amount")), dal_double(100)));
    dal_q_having(q, dal_ge(dal_count(dal_star()), INT(1)));
    return q;
}

static dal_query *c_group_multi(void)
{
    dal_query *q = SEL("orders", COL("region"), COL("status"),
                       dal_as(dal_count(dal_star()), "n"));

    dal_q_where(q, dal_is_not_null(COL("region")));
    dal_q_group_by(q, COL("region"), COL("status"));
    dal_q_order_by(q, COL("region"), COL("status"));
    return q;
}

static dal_query *c_limit(void)
{
    dal_query *q = SEL("orders", COL("id"));

    dal_q_order_by(q, COL("id"));
    dal_q_limit(q, 2);
    return q;
}

static dal_query *c_offset_only(void)
{
    dal_query *q = SEL("orders", COL("id"));

    dal_q_order_by(q, COL("id"));
    dal_q_offset(q, 3);
    return q;
}

static dal_query *c_limit_offset(void)
{
    dal_query *q = SEL("orders", COL("id"));

    dal_q_order_by(q, COL("id"));
    dal_q_limit(q, 2);
    dal_q_offset(q, 1);
    return q;
}

static dal_query *c_limit_zero(void)
{
    dal_query *q = SEL("orders", COL("id"));

    dal_q_limit(q, 0);
    return q;
}

/* ---- cases: WITH ------------------------------------------------------ */

static dal_query *c_with_cte(void)
{
    dal_query *q = SEL("paid", dal_star());

    dal_q_with(q, "paid", NULL, 0,
               where_(SEL("orders", COL("id"), COL("amount")),
                      dal_eq(COL("status"), TXT("paid"))), 0);
    return q;
}

static dal_query *c_with_columns(void)
{
    static const char *const cols[] = {"rid", "total"};
    dal_query *sub = SEL("orders", COL("region"), dal_sum(COL("amount")));
    dal_query *q;

    dal_q_group_by(sub, COL("region"));
    q = where_(SEL("totals", COL("rid"), COL("total")),
               dal_gt(COL("total"), dal_double(100)));
    dal_q_with(q, "totals", cols, 2, sub, 0);
    return q;
}

static dal_query *c_with_two(void)
{
    dal_query *q = dal_select(COL("a.id"), COL("b.name"));

    dal_q_with(q, "a", NULL, 0,
               where_(SEL("orders", COL("id"), COL("customer_id")),
                      dal_eq(COL("paid"), dal_bool(1))), 0);
    dal_q_with(q, "b", NULL, 0,
               where_(SEL("customers", COL("id"), COL("name")),
                      dal_is_not_null(COL("email"))), 0);
    dal_q_from(q, "a");
    dal_q_join(q, DAL_JOIN_INNER, "b", NULL,
               dal_eq(COL("b.id"), COL("a.customer_id")));
    return q;
}

static dal_query *c_with_recursive(void)
{
    static const char *const cols[] = {"id", "name", "depth"};
    dal_query *base = where_(SEL("employees", COL("id"), COL("name"),
                                 INT(0)),
                             dal_is_null(COL("manager_id")));
    dal_query *step = dal_select(COL("e.id"), COL("e.name"),
                                 dal_add(COL("chain.depth"), INT(1)));
    dal_query *q = SEL("chain", dal_star());

    dal_q_from_as(step, "employees", "e");
    dal_q_join(step, DAL_JOIN_INNER, "chain", NULL,
               dal_eq(COL("e.manager_id"), COL("chain.id")));
    dal_q_with(q, "chain", cols, 3, dal_union_all(base, step), 1);
    dal_q_order_by(q, COL("depth"), COL("id"));
    return q;
}

static dal_query *c_with_recursive_counter(void)
{
    static const char *const cols[] = {"n"};
    dal_query *step = where_(SEL("cnt", dal_add(COL("n"), INT(1))),
                             dal_lt(COL("n"), INT(5)));
    dal_query *q = SEL("cnt", dal_as(dal_sum(COL("n")), "s"));

    dal_q_with(q, "cnt", cols, 1, dal_union_all(dal_select(INT(1)), step),
               1);
    return q;
}

static dal_query *c_with_update(void)
{
    dal_query *q = dal_update("orders");

    dal_q_with(q, "late", NULL, 0,
               where_(SEL("orders", COL("id")),
                      dal_is_null(COL("shipped_on"))), 0);
    dal_q_set(q, "status", TXT("late"));
    dal_q_where(q, dal_in_query(COL("id"), SEL("late", COL("id"))));
    return q;
}

static dal_query *c_with_insert(void)
{
    dal_query *q = dal_insert("archive");

    dal_q_with(q, "src", NULL, 0,
               where_(SEL("orders", COL("id"), COL("region"),
                          COL("amount"), COL("created_at")),
                      dal_eq(COL("status"), TXT("paid"))), 0);
    dal_q_columns(q, "id", "region", "amount", "created_at");
    dal_q_insert_select(q, SEL("src", dal_star()));
    return q;
}

/* ---- cases: set operations -------------------------------------------- */

static dal_query *c_set_union(void)
{
    return dal_union(SEL("orders", COL("region")),
                     SEL("customers", COL("country")));
}

static dal_query *c_set_union_all(void)
{
    return dal_union_all(where_(SEL("orders", COL("id")),
                                dal_eq(COL("region"), TXT("eu"))),
                         where_(SEL("orders", COL("id")),
                                dal_gt(COL("amount"), dal_double(100))));
}

static dal_query *c_set_intersect(void)
{
    return dal_intersect(SEL("orders", COL("customer_id")),
                         SEL("customers", COL("id")));
}

static dal_query *c_set_except(void)
{
    return dal_except(SEL("customers", COL("id")),
                      SEL("orders", COL("customer_id")));
}

static dal_query *c_set_nested_left(void)
{
    return dal_union(dal_intersect(SEL("orders", COL("customer_id")),
                                   SEL("customers", COL("id"))),
                     where_(SEL("employees", COL("id")),
                            dal_eq(COL("name"), TXT("Root"))));
}

static dal_query *c_set_nested_right(void)
{
    return dal_except(SEL("customers", COL("id")),
                      dal_union_all(SEL("orders", COL("customer_id")),
                                    SEL("employees", COL("manager_id"))));
}

static dal_query *c_set_nested_both(void)
{
    return dal_union(dal_except(SEL("customers", COL("id")),
                                SEL("orders", COL("customer_id"))),
                     dal_intersect(SEL("employees", COL("id")),
                                   dal_union(SEL("items", COL("order_id")),
                                             SEL("jobs", COL("id")))));
}

static dal_query *c_set_nested_limit(void)
{
    dal_query *inner = dal_union_all(SEL("orders", COL("id")),
                                     SEL("items", COL("id")));

    dal_q_order_by(inner, dal_desc(COL("id")));
    dal_q_limit(inner, 2);
    return dal_union(inner, SEL("jobs", COL("id")));
}

static dal_query *c_set_member_with(void)
{
    dal_query *b = SEL("x", COL("id"));

    dal_q_with(b, "x", NULL, 0,
               where_(SEL("items", COL("id")), dal_gt(COL("qty"), INT(1))),
               0);
    return dal_union(SEL("orders", COL("id")), b);
}

static dal_query *c_set_order_limit(void)
{
    dal_query *q = dal_union(SEL("orders", COL("region")),
                             SEL("customers", COL("country")));

    dal_q_order_by(q, dal_nulls_last(dal_desc(COL("region"))));
    dal_q_limit(q, 3);
    return q;
}

static dal_query *c_set_offset(void)
{
    dal_query *q = dal_union_all(SEL("orders", COL("id")),
                                 SEL("items", COL("id")));

    dal_q_order_by(q, COL("id"));
    dal_q_offset(q, 2);
    return q;
}

static dal_query *c_set_distinct_member(void)
{
    dal_query *a = SEL("orders", COL("status"));

    dal_q_distinct(a);
    return dal_union_all(a, where_(SEL("jobs", COL("state")),
                                   dal_ne(COL("state"), TXT("done"))));
}

static dal_query *c_set_in_subquery(void)
{
    return where_(SEL("customers", COL("name")),
                  dal_in_query(COL("id"),
                               dal_union(SEL("orders", COL("customer_id")),
                                         SEL("employees",
                                             COL("manager_id")))));
}

static dal_query *c_set_with_cte(void)
{
    dal_query *q = dal_union(SEL("big", COL("id")),
                             where_(SEL("orders", COL("id")),
                                    dal_is_null(COL("amount"))));

    dal_q_with(q, "big", NULL, 0,
               where_(SEL("orders", COL("id")),
                      dal_gt(COL("amount"), dal_double(100))), 0);
    return q;
}

/* ---- cases: INSERT, UPDATE, DELETE ------------------------------------ */

static dal_query *c_ins_one(void)
{
    dal_query *q = dal_insert("customers");

    dal_q_columns(q, "id", "name", "country");
    dal_q_values(q, INT(10), TXT("Dee"), TXT("nl"));
    return q;
}

static dal_query *c_ins_many(void)
{
    dal_query *q = dal_insert("products");

    dal_q_columns(q, "sku", "name", "price", "stock");
    dal_q_values(q, TXT("sku-7"), TXT("Mat"), dal_double(9.5), INT(1));
    dal_q_values(q, TXT("sku-8"), TXT("Rug"), dal_double(49), INT(0));
    dal_q_values(q, TXT("sku-9"), dal_null(), dal_null(), dal_null());
    return q;
}

static dal_query *c_ins_select(void)
{
    dal_query *q = dal_insert("archive");

    dal_q_columns(q, "id", "region", "amount");
    dal_q_insert_select(q, where_(SEL("orders", COL("id"), COL("region"),
                                      COL("amount")),
                                  dal_eq(COL("status"), TXT("cancelled"))));
    return q;
}

static dal_query *c_ins_returning(void)
{
    dal_query *q = dal_insert("customers");

    dal_q_columns(q, "id", "name");
    dal_q_values(q, INT(11), TXT("Eve"));
    dal_q_returning(q, COL("id"), dal_as(dal_upper(COL("name")), "n"));
    return q;
}

static dal_query *c_ins_all_types(void)
{
    static const unsigned char bytes[] = {0x00, 0xff};
    dal_query *q = dal_insert("orders");

    dal_q_columns(q, "id", "customer_id", "region", "amount", "qty",
                  "created_at", "shipped_on", "doc", "note", "paid",
                  "payload", "price");
    dal_q_values(q, INT(20), INT(1), TXT("eu"), dal_double(1.5), INT(2),
                 TXT("2024-05-01 12:00:00"), TXT("2024-05-02"),
                 TXT("{\"k\":[1,2]}"), dal_null(), dal_bool(0),
                 dal_blob(bytes, sizeof bytes), TXT("12.34"));
    return q;
}

static dal_query *c_ins_expressions(void)
{
    dal_query *q = dal_insert("jobs");

    dal_q_columns(q, "id", "state", "run_at", "attempts");
    dal_q_values(q, dal_add(INT(100), INT(1)), dal_lower(TXT("QUEUED")),
                 dal_cast(dal_now(), DAL_SQL_TIMESTAMP),
                 dal_subquery(SEL("jobs", dal_count(dal_star()))));
    return q;
}

static dal_query *c_upd_where(void)
{
    dal_query *q = dal_update("orders");

    dal_q_set(q, "status", TXT("shipped"));
    dal_q_where(q, dal_eq(COL("id"), INT(1)));
    return q;
}

static dal_query *c_upd_multi_set(void)
{
    dal_query *q = dal_update("products");

    dal_q_set(q, "stock", dal_sub(COL("stock"), INT(1)));
    dal_q_set(q, "price", dal_mul(COL("price"), dal_double(0.9)));
    dal_q_set(q, "name", dal_null());
    dal_q_where(q, dal_gt(COL("stock"), INT(0)));
    dal_q_where(q, dal_like(COL("sku"), TXT("sku-%")));
    return q;
}

static dal_query *c_upd_returning(void)
{
    dal_query *q = dal_update("counters");

    dal_q_set(q, "hits", dal_add(COL("hits"), INT(1)));
    dal_q_where(q, dal_eq(COL("name"), TXT("home")));
    dal_q_returning(q, COL("name"), dal_as(COL("hits"), "now"));
    return q;
}

static dal_query *c_upd_all_rows(void)
{
    dal_query *q = dal_update("jobs");

    dal_q_set(q, "attempts", INT(0));
    return q;
}

static dal_query *c_upd_subquery(void)
{
    dal_query *q = dal_update("customers");

    dal_q_set(q, "vip", dal_bool(1));
    dal_q_where(q, dal_in_query(COL("id"),
                                where_(SEL("orders", COL("customer_id")),
                                       dal_gt(COL("amount"),
                                              dal_double(200)))));
    return q;
}

static dal_query *c_del_where(void)
{
    return where_(dal_delete("jobs"), dal_eq(COL("state"), TXT("done")));
}

static dal_query *c_del_returning(void)
{
    dal_query *q = where_(dal_delete("items"),
                          dal_eq(COL("sku"), TXT("sku-3")));

    dal_q_returning(q, dal_star());
    return q;
}

static dal_query *c_del_all(void)
{
    return dal_delete("archive");
}

static dal_query *c_del_subquery(void)
{
    return where_(dal_delete("items"),
                  dal_not(dal_exists(
                      where_(SEL("products", INT(1)),
                             dal_eq(COL("products.sku"),
                                    COL("items.sku"))))));
}

/* ---- cases: upserts, locks -------------------------------------------- */

static dal_query *c_upsert_nothing(void)
{
    dal_query *q = dal_insert("counters");

    dal_q_columns(q, "name", "hits");
    dal_q_values(q, TXT("home"), INT(1));
    dal_q_on_conflict_do_nothing(q, "name");
    return q;
}

static dal_query *c_upsert_update(void)
{
    dal_query *q = dal_insert("products");

    dal_q_columns(q, "sku", "name", "price", "stock");
    dal_q_values(q, TXT("sku-1"), TXT("Lamp"), dal_double(99.5), INT(3));
    dal_q_on_conflict_do_update(q, "sku");
    dal_q_set(q, "price", dal_excluded("price"));
    dal_q_set(q, "name", dal_excluded("name"));
    return q;
}

static dal_query *c_upsert_update_expr(void)
{
    dal_query *q = dal_insert("counters");

    dal_q_columns(q, "name", "hits");
    dal_q_values(q, TXT("home"), INT(1));
    dal_q_values(q, TXT("new"), INT(1));
    dal_q_on_conflict_do_update(q, "name");
    dal_q_set(q, "hits", dal_add(dal_tcol("counters", "hits"),
                                 dal_excluded("hits")));
    dal_q_set(q, "updated_at", dal_cast(dal_now(), DAL_SQL_TIMESTAMP));
    return q;
}

static dal_query *c_upsert_returning(void)
{
    dal_query *q = dal_insert("counters");

    dal_q_columns(q, "name", "hits");
    dal_q_values(q, TXT("about"), INT(5));
    dal_q_on_conflict_do_update(q, "name");
    dal_q_set(q, "hits", dal_excluded("hits"));
    dal_q_returning(q, COL("hits"));
    return q;
}

static dal_query *c_upsert_multi_target(void)
{
    dal_query *q = dal_insert("items");

    dal_q_columns(q, "id", "order_id", "sku", "qty", "price");
    dal_q_values(q, INT(10), INT(1), TXT("sku-1"), INT(5), dal_double(1));
    dal_q_on_conflict_do_update(q, "order_id", "sku");
    dal_q_set(q, "qty", dal_add(COL("items.qty"), dal_excluded("qty")));
    return q;
}

static dal_query *c_upsert_select(void)
{
    dal_query *q = dal_insert("products");

    dal_q_columns(q, "sku", "name", "price", "stock");
    dal_q_insert_select(q, SEL("items", COL("sku"), TXT("copy"),
                               COL("price"), COL("qty")));
    dal_q_on_conflict_do_nothing(q, "sku");
    return q;
}

static dal_query *lock_case(int flags)
{
    dal_query *q = where_(SEL("jobs", COL("id")),
                          dal_and(dal_eq(COL("state"), TXT("queued")),
                                  dal_le(COL("run_at"),
                                         dal_cast(dal_now(),
                                                  DAL_SQL_TIMESTAMP))));

    dal_q_order_by(q, COL("run_at"));
    dal_q_limit(q, 1);
    dal_q_for_update(q, flags);
    return q;
}

static dal_query *c_lock_for_update(void)
{
    return lock_case(0);
}

static dal_query *c_lock_nowait(void)
{
    return lock_case(DAL_LOCK_NOWAIT);
}

static dal_query *c_lock_skip_locked(void)
{
    return lock_case(DAL_LOCK_SKIP_LOCKED);
}

/* ---- cases: full-text search, nesting -------------------------------- */

static dal_query *c_fts_match(void)
{
    return where_(SEL("products", COL("sku")),
                  dal_fts_match("products", "lamp"));
}

static dal_query *c_fts_rank(void)
{
    dal_query *q = where_(SEL("products", COL("sku"),
                              dal_as(dal_fts_rank("products", "desk OR "
                                                  "chair"), "r")),
                          dal_fts_match("products", "desk OR chair"));

    dal_q_order_by(q, dal_desc(COL("r")), COL("sku"));
    return q;
}

static dal_query *c_deep_nesting(void)
{
    dal_expr *e = dal_eq(COL("id"), INT(1));
    int i;

    /* Deep, and under every limit: SQLite's parser stack takes about 50
     * nested parentheses. */
    for (i = 0; i < 40; i++)
        e = dal_not(e);
    return where_(SEL("orders", COL("id")), e);
}

static dal_query *c_where_many(void)
{
    dal_query *q = SEL("orders", COL("id"));
    int i;

    /* Filters added one at a time, as a search form does. */
    for (i = 0; i < 100; i++)
        dal_q_where(q, dal_ne(COL("id"), INT(1000 + i)));
    dal_q_order_by(q, COL("id"));
    return q;
}

static dal_query *c_sum_chain(void)
{
    dal_expr *e = COL("id");
    int i;

    /* a + 1 + 2 + ... built left to right. */
    for (i = 0; i < 100; i++)
        e = dal_add(e, INT(i));
    return where_(SEL("orders", dal_as(e, "s")), dal_eq(COL("id"), INT(1)));
}

/* ---- the golden cases ------------------------------------------------- */

enum {
    F_PG_ONLY = 1,  /* compiles on PostgreSQL only: no sqlite golden file */
    F_SAME = 2      /* the first value must be the same on both backends */
};

struct golden_case {
    const char *name;
    dal_query *(*build)(void);
    int flags;
    /* The first column of the first row, as first_value() writes it. */
    const char *expect;
    /* Why the case cannot run on sqlite / postgres; NULL: it must. */
    const char *xfail[D_COUNT];
};

#define G(n) {#n, c_##n, 0, NULL, {NULL, NULL}}
#define GX(n, ...) {#n, c_##n, __VA_ARGS__}

/* Append new cases at the end: the place in this table names the file. */
static const struct golden_case golden_cases[] = {
    G(sel_star),
    G(sel_columns),
    G(sel_qualified),
    G(sel_distinct),
    G(sel_from_alias),
    GX(sel_no_from, 0, "3", {NULL, NULL}),
    GX(sel_odd_names, 0, "1", {NULL, NULL}),
    G(val_null),
    G(val_bool),
    G(val_int),
    G(val_double),
    G(val_text),
    G(val_textn),
    G(val_blob),
    G(val_value_expr),
    GX(sel_typed_values, 0, "42", {NULL, NULL}),
    GX(sel_text_value, 0, "label", {NULL, NULL}),
    GX(sel_null_value, 0, "NULL", {NULL, NULL}),
    G(param_one),
    G(param_reused),
    G(param_mixed),
    G(param_insert),
    G(param_update),
    G(cmp_eq_ne),
    G(cmp_order),
    G(cmp_distinct),
    G(cmp_null),
    G(logic_nested),
    GX(logic_single, 0, "1", {NULL, NULL}),
    G(logic_not),
    G(in_list),
    G(not_in_list),
    GX(in_single, 0, "3", {NULL, NULL}),
    G(in_subquery),
    G(between),
    G(not_between),
    GX(like, 0, "0", {NULL, NULL}),
    GX(ilike, 0, "1", {NULL, NULL}),
    G(arith_basic),
    GX(arith_div, 0, "3.5", {NULL, NULL}),
    GX(arith_div_zero, 0, "NULL", {NULL, NULL}),
    G(arith_div_columns),
    GX(arith_idiv, 0, "-3", {NULL, NULL}),
    GX(arith_idiv_double, F_SAME, "3", {NULL, NULL}),
    GX(arith_mod, 0, "-1", {NULL, NULL}),
    G(arith_mod_double),
    G(arith_neg),
    G(arith_concat),
    GX(arith_concat_number, 0, "#1", {NULL, NULL}),
    G(case_else),
    G(case_no_else),
    G(case_nested),
    GX(cast_int64, 0, "42", {NULL, NULL}),
    GX(cast_double, 0, "2.5", {NULL, NULL}),
    GX(cast_text, 0, "42", {NULL, NULL}),
    G(cast_blob),
    GX(cast_bool, F_SAME, "1", {NULL, NULL}),
    G(cast_numeric),
    GX(cast_timestamp, 0, "2024-03-05 10:20:30", {NULL, NULL}),
    GX(cast_date, 0, "2024-03-05", {NULL, NULL}),
    G(cast_json),
    G(fn_lower_upper),
    GX(fn_length, 0, "5", {NULL, NULL}),
    G(fn_abs),
    GX(fn_round, 0, "1.23", {NULL, NULL}),
    GX(fn_round_zero, F_SAME, NULL, {NULL, NULL}),
    G(fn_round_column),
    G(fn_coalesce),
    GX(fn_now, 0, "19", {NULL, NULL}),
    GX(fn_extract_year, 0, "2024", {NULL, NULL}),
    GX(fn_extract_month, 0, "3", {NULL, NULL}),
    GX(fn_extract_day, 0, "5", {NULL, NULL}),
    GX(fn_extract_hour, 0, "10", {NULL, NULL}),
    GX(fn_extract_minute, 0, "20", {NULL, NULL}),
    GX(fn_extract_second, 0, "30", {NULL, NULL}),
    GX(fn_extract_column, 0, "3", {NULL, NULL}),
    G(fn_func),
    G(fn_func0),
    GX(fn_func_int_args, F_SAME, NULL, {NULL, NULL}),
    GX(agg_count_star, 0, "5", {NULL, NULL}),
    GX(agg_count, 0, "4", {NULL, NULL}),
    GX(agg_sum_min_max, 0, "7", {NULL, NULL}),
    GX(agg_avg, 0, "1.75", {NULL, NULL}),
    G(agg_filter),
    GX(agg_avg_filter, 0, "1.5", {NULL, NULL}),
    GX(agg_count_distinct_filter, 0, "2", {NULL, NULL}),
    GX(agg_count_tcol, 0, "5", {NULL, NULL}),
    G(win_row_number),
    G(win_rank),
    G(win_sum_partition),
    G(win_order_only),
    G(win_avg),
    G(win_filter),
    G(win_multi),
    G(sub_exists),
    G(sub_not_exists),
    G(sub_scalar),
    G(sub_scalar_where),
    G(alias_order),
    G(raw_plain),
    G(raw_params),
    GX(raw_literal_qmark, 0, "x?!", {NULL, NULL}),
    GX(raw_jsonb_qq, 0, NULL,
       {"the jsonb ? operator is PostgreSQL's: dal_raw() SQL is the "
        "caller's, dialect included", NULL}),
    GX(raw_comment, 0, "2", {NULL, NULL}),
    G(raw_select_alias),
    G(ord_asc_desc),
    G(ord_nulls),
    G(ord_expr),
    GX(json_get_text, 0, "Ann", {NULL, NULL}),
    G(json_get_int),
    GX(json_get_double, 0, "1.25", {NULL, NULL}),
    GX(json_get_array, 0, "7", {NULL, NULL}),
    GX(json_get_quoted, 0, "x", {NULL, NULL}),
    GX(json_get_root, 0, "{}", {NULL, NULL}),
    GX(json_get_bool, 0, "true", {NULL, NULL}),
    GX(json_get_number, 0, "4.5", {NULL, NULL}),
    G(json_get_object),
    GX(json_get_missing, 0, "NULL", {NULL, NULL}),
    GX(json_get_value, 0, "20", {NULL, NULL}),
    G(json_object),
    G(json_array),
    G(json_nested),
    GX(json_contains, F_PG_ONLY, "1", {NULL, NULL}),
    G(from_subquery),
    G(join_inner),
    G(join_left),
    G(join_cross),
    G(join_several),
    G(join_from_subquery),
    G(where_twice),
    G(group_having),
    G(group_multi),
    GX(limit, 0, "1", {NULL, NULL}),
    GX(offset_only, 0, "4", {NULL, NULL}),
    GX(limit_offset, 0, "2", {NULL, NULL}),
    G(limit_zero),
    G(with_cte),
    G(with_columns),
    G(with_two),
    GX(with_recursive, 0, "1", {NULL, NULL}),
    GX(with_recursive_counter, 0, "15", {NULL, NULL}),
    G(with_update),
    G(with_insert),
    G(set_union),
    G(set_union_all),
    G(set_intersect),
    G(set_except),
    G(set_nested_left),
    G(set_nested_right),
    G(set_nested_both),
    G(set_nested_limit),
    G(set_member_with),
    GX(set_order_limit, 0, "us", {NULL, NULL}),
    GX(set_offset, 0, "2", {NULL, NULL}),
    G(set_distinct_member),
    G(set_in_subquery),
    G(set_with_cte),
    G(ins_one),
    G(ins_many),
    G(ins_select),
    GX(ins_returning, 0, "11", {NULL, NULL}),
    G(ins_all_types),
    G(ins_expressions),
    G(upd_where),
    G(upd_multi_set),
    GX(upd_returning, 0, "home", {NULL, NULL}),
    G(upd_all_rows),
    G(upd_subquery),
    G(del_where),
    GX(del_returning, 0, "3", {NULL, NULL}),
    G(del_all),
    G(del_subquery),
    G(upsert_nothing),
    G(upsert_update),
    G(upsert_update_expr),
    GX(upsert_returning, 0, "5", {NULL, NULL}),
    G(upsert_multi_target),
    G(upsert_select),
    GX(lock_for_update, 0, "1", {NULL, NULL}),
    GX(lock_nowait, 0, "1", {NULL, NULL}),
    GX(lock_skip_locked, 0, "1", {NULL, NULL}),
    GX(fts_match, 0, "sku-1", {NULL, NULL}),
    G(fts_rank),
    GX(deep_nesting, 0, "1", {NULL, NULL}),
    GX(where_many, 0, "1", {NULL, NULL}),
    GX(sum_chain, 0, "4951", {NULL, NULL}),
};

/* ---- error cases ------------------------------------------------------ */

static dal_query *e_col_null(void)
{
    return SEL("orders", dal_col(NULL));
}

static dal_query *e_col_empty(void)
{
    return where_(SEL("orders", COL("id")), dal_eq(COL(""), INT(1)));
}

static dal_query *e_col_empty_part(void)
{
    return SEL("orders", COL("orders."));
}

static dal_query *e_tcol_empty_table(void)
{
    return SEL("orders", dal_tcol("", "id"));
}

static dal_query *e_col_quote(void)
{
    return SEL("orders", COL("id\" FROM x --"));
}

static dal_query *e_table_quote(void)
{
    return SEL("orders\"; DROP TABLE orders; --", dal_star());
}

static dal_query *e_alias_quote(void)
{
    return SEL("orders", dal_as(COL("id"), "a\"b"));
}

static dal_query *e_from_null(void)
{
    return SEL(NULL, dal_star());
}

static dal_query *e_insert_null_table(void)
{
    dal_query *q = dal_insert(NULL);

    dal_q_columns(q, "id");
    dal_q_values(q, INT(1));
    return q;
}

static dal_query *e_param_empty(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_eq(COL("id"), dal_param("")));
}

static dal_query *e_column_name_quote(void)
{
    dal_query *q = dal_insert("customers");

    dal_q_columns(q, "id", "na\"me");
    dal_q_values(q, INT(1), TXT("x"));
    return q;
}

static dal_query *e_values_before_columns(void)
{
    dal_query *q = dal_insert("customers");

    dal_q_values(q, INT(1), TXT("x"));
    dal_q_columns(q, "id", "name");
    return q;
}

static dal_query *e_values_count(void)
{
    dal_query *q = dal_insert("customers");

    dal_q_columns(q, "id", "name");
    dal_q_values(q, INT(1), TXT("x"));
    dal_q_values(q, INT(2), TXT("y"), TXT("z"));
    return q;
}

static dal_query *e_join_before_from(void)
{
    dal_query *q = dal_select(dal_star());

    dal_q_join(q, DAL_JOIN_INNER, "customers", "c",
               dal_eq(COL("c.id"), COL("o.customer_id")));
    dal_q_from_as(q, "orders", "o");
    return q;
}

static dal_query *e_cross_join_on(void)
{
    dal_query *q = SEL("orders", dal_star());

    dal_q_join(q, DAL_JOIN_CROSS, "customers", NULL,
               dal_eq(COL("customers.id"), COL("orders.customer_id")));
    return q;
}

static dal_query *e_inner_join_no_on(void)
{
    dal_query *q = SEL("orders", dal_star());

    dal_q_join(q, DAL_JOIN_INNER, "customers", NULL, NULL);
    return q;
}

static dal_query *e_left_join_no_on(void)
{
    dal_query *q = SEL("orders", dal_star());

    dal_q_join(q, DAL_JOIN_LEFT, "customers", "c", NULL);
    return q;
}

static dal_query *e_having_no_group(void)
{
    dal_query *q = SEL("orders", dal_count(dal_star()));

    dal_q_having(q, dal_gt(dal_count(dal_star()), INT(1)));
    return q;
}

static dal_query *e_setop_member_order(void)
{
    dal_query *a = SEL("orders", COL("id"));

    dal_q_order_by(a, COL("id"));
    return dal_union(a, SEL("items", COL("id")));
}

static dal_query *e_setop_member_limit(void)
{
    dal_query *b = SEL("items", COL("id"));

    dal_q_limit(b, 1);
    return dal_union_all(SEL("orders", COL("id")), b);
}

static dal_query *e_setop_nested_member_offset(void)
{
    dal_query *b = SEL("items", COL("id"));

    dal_q_offset(b, 1);
    return dal_except(SEL("customers", COL("id")),
                      dal_intersect(SEL("orders", COL("id")), b));
}

static dal_query *e_setop_of_insert(void)
{
    dal_query *ins = dal_insert("archive");

    dal_q_columns(ins, "id");
    dal_q_values(ins, INT(1));
    return dal_union(SEL("orders", COL("id")), ins);
}

static dal_query *e_update_no_set(void)
{
    return where_(dal_update("orders"), dal_eq(COL("id"), INT(1)));
}

static dal_query *e_insert_no_values(void)
{
    dal_query *q = dal_insert("customers");

    dal_q_columns(q, "id", "name");
    return q;
}

static dal_query *e_upsert_no_set(void)
{
    dal_query *q = dal_insert("counters");

    dal_q_columns(q, "name", "hits");
    dal_q_values(q, TXT("home"), INT(1));
    dal_q_on_conflict_do_update(q, "name");
    return q;
}

static dal_query *e_set_without_conflict(void)
{
    dal_query *q = dal_insert("counters");

    dal_q_columns(q, "name", "hits");
    dal_q_values(q, TXT("home"), INT(1));
    dal_q_set(q, "hits", INT(2));
    return q;
}

static dal_query *e_conflict_twice(void)
{
    dal_query *q = dal_insert("counters");

    dal_q_columns(q, "name", "hits");
    dal_q_values(q, TXT("home"), INT(1));
    dal_q_on_conflict_do_nothing(q, "name");
    dal_q_on_conflict_do_nothing(q, "name");
    return q;
}

static dal_query *e_limit_negative(void)
{
    dal_query *q = SEL("orders", COL("id"));

    dal_q_limit(q, -1);
    return q;
}

static dal_query *e_offset_negative(void)
{
    dal_query *q = SEL("orders", COL("id"));

    dal_q_offset(q, INT64_MIN);
    return q;
}

static dal_query *e_where_on_insert(void)
{
    dal_query *q = dal_insert("customers");

    dal_q_columns(q, "id", "name");
    dal_q_values(q, INT(1), TXT("x"));
    dal_q_where(q, dal_eq(COL("id"), INT(1)));
    return q;
}

static dal_query *e_from_twice(void)
{
    dal_query *q = SEL("orders", dal_star());

    dal_q_from(q, "customers");
    return q;
}

static dal_query *json_path_error(const char *path)
{
    return SEL("orders", dal_json_get(COL("doc"), path));
}

static dal_query *e_json_path_no_dollar(void)
{
    return json_path_error("customer.name");
}

static dal_query *e_json_path_null(void)
{
    return SEL("orders", dal_json_get_int(COL("doc"), NULL));
}

static dal_query *e_json_path_bad_index(void)
{
    return SEL("orders", dal_json_get_double(COL("doc"), "$.items[x]"));
}

static dal_query *e_json_path_empty_key(void)
{
    return json_path_error("$..name");
}

static dal_query *e_json_path_unterminated(void)
{
    return json_path_error("$.\"a b");
}

static dal_query *e_json_path_junk(void)
{
    return json_path_error("$ .a");
}

static dal_query *e_json_contains(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_json_contains(COL("doc"), TXT("{\"vip\":true}")));
}

static dal_query *e_json_object_odd(void)
{
    return dal_select(dal_json_object(TXT("a"), INT(1), TXT("b")));
}

static dal_query *e_case_else_first(void)
{
    return SEL("orders", dal_case(dal_else(INT(0)),
                                  dal_when(dal_is_null(COL("note")),
                                           INT(1))));
}

static dal_query *e_case_only_else(void)
{
    return SEL("orders", dal_case(dal_else(INT(0))));
}

static dal_query *e_case_two_else(void)
{
    return SEL("orders", dal_case(dal_when(dal_is_null(COL("note")),
                                           INT(1)),
                                  dal_else(INT(0)), dal_else(INT(2))));
}

static dal_query *e_when_outside_case(void)
{
    return SEL("orders", dal_when(dal_is_null(COL("note")), INT(1)));
}

static dal_query *e_filter_non_agg(void)
{
    return SEL("orders", dal_filter(dal_lower(COL("region")),
                                    dal_is_null(COL("note"))));
}

static dal_query *e_filter_twice(void)
{
    return SEL("orders",
               dal_filter(dal_filter(dal_count(dal_star()),
                                     dal_is_null(COL("note"))),
                          dal_is_null(COL("region"))));
}

static dal_query *e_over_non_agg(void)
{
    return SEL("orders", dal_over(dal_upper(COL("region")), NULL, NULL));
}

static dal_query *e_over_not_list(void)
{
    return SEL("orders", dal_over(dal_rank(), COL("region"), NULL));
}

static dal_query *e_raw_too_few(void)
{
    dal_value v[1] = {DAL_V_INT64(1)};

    return where_(SEL("orders", COL("id")),
                  dal_raw("\"id\" BETWEEN ? AND ?", v, 1));
}

static dal_query *e_raw_too_many(void)
{
    dal_value v[2] = {DAL_V_INT64(1), DAL_V_INT64(2)};

    return where_(SEL("orders", COL("id")), dal_raw("\"id\" = ?", v, 2));
}

static dal_query *e_raw_named(void)
{
    dal_value v[1] = {DAL_V_INT64(1)};

    return where_(SEL("orders", COL("id")), dal_raw("\"id\" = :id", v, 1));
}

static dal_query *e_raw_empty(void)
{
    return where_(SEL("orders", COL("id")), dal_raw("", NULL, 0));
}

/* INSERT of rows x 3 columns: one parameter per value. */
static dal_query *insert_rows(int rows)
{
    dal_query *q = dal_insert("archive");
    int i;

    /* Distinct values: equal ones share one parameter. */
    dal_q_columns(q, "id", "region", "amount");
    for (i = 0; i < rows; i++) {
        char region[16];

        snprintf(region, sizeof region, "r%d", i);
        dal_q_values(q, INT(i + 1), TXT(region), dal_double(i + 0.5));
    }
    return q;
}

static dal_query *e_params_sqlite(void)
{
    return insert_rows(11000); /* 33000: over SQLite's 32766 */
}

static dal_query *e_params_both(void)
{
    return insert_rows(22000); /* 66000: over PostgreSQL's 65535 too */
}

static dal_query *e_deep_not(void)
{
    dal_expr *e = dal_eq(COL("id"), INT(1));
    int i;

    for (i = 0; i < 1000; i++)
        e = dal_not(e);
    return where_(SEL("orders", COL("id")), e);
}

static dal_query *e_deep_subquery(void)
{
    dal_query *q = SEL("orders", COL("id"));
    int i;

    for (i = 0; i < 600; i++)
        q = where_(SEL("orders", COL("id")), dal_exists(q));
    return q;
}

static dal_query *e_count_distinct_star(void)
{
    return SEL("orders", dal_count_distinct(dal_star()));
}

static dal_query *e_cast_unknown(void)
{
    return SEL("orders", dal_cast(COL("id"), (dal_sqltype)99));
}

static dal_query *e_extract_unknown(void)
{
    return SEL("orders", dal_extract((dal_datepart)0, COL("created_at")));
}

static dal_query *e_func_bad_name(void)
{
    return SEL("orders", dal_func("lower(id)); DROP TABLE x; --",
                                  COL("region")));
}

static dal_query *e_func_empty_name(void)
{
    return SEL("orders", dal_func0(""));
}

static dal_query *e_text_null(void)
{
    return where_(SEL("orders", COL("id")), dal_eq(COL("note"), TXT(NULL)));
}

static dal_query *e_text_bad_utf8(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_eq(COL("note"), TXT("caf\xe9")));
}

static dal_query *e_in_empty(void)
{
    return where_(SEL("orders", COL("id")), dal_in_n(COL("id"), NULL, 0));
}

static dal_query *e_lock_flags(void)
{
    dal_query *q = SEL("jobs", COL("id"));

    dal_q_for_update(q, DAL_LOCK_NOWAIT | DAL_LOCK_SKIP_LOCKED);
    return q;
}

static dal_query *e_lock_on_update(void)
{
    dal_query *q = dal_update("jobs");

    dal_q_set(q, "state", TXT("x"));
    dal_q_for_update(q, 0);
    return q;
}

static dal_query *e_lock_set_member(void)
{
    dal_query *a = SEL("jobs", COL("id"));

    dal_q_for_update(a, 0);
    return dal_union(a, SEL("orders", COL("id")));
}

static dal_query *e_lock_group_by(void)
{
    dal_query *q = SEL("jobs", COL("state"), dal_count(dal_star()));

    dal_q_group_by(q, COL("state"));
    dal_q_for_update(q, DAL_LOCK_SKIP_LOCKED);
    return q;
}

static dal_query *e_fts_empty_query(void)
{
    return where_(SEL("products", COL("sku")),
                  dal_fts_match("products", "  "));
}

static dal_query *e_fts_minus_first(void)
{
    return where_(SEL("products", COL("sku")),
                  dal_fts_match("products", "-lamp"));
}

static dal_query *e_fts_table_quote(void)
{
    return SEL("products", dal_fts_rank("prod\"ucts", "lamp"));
}

/* Nodes of the wrong kind for where they are put (query.h: "a node of
 * the wrong kind ... no malformed SQL ever reaches a server"). */
static dal_query *e_order_item_in_where(void)
{
    return where_(SEL("orders", COL("id")), dal_desc(COL("paid")));
}

static dal_query *e_star_in_sum(void)
{
    return SEL("orders", dal_sum(dal_star()));
}

static dal_query *e_star_in_expr(void)
{
    return SEL("orders", dal_add(dal_star(), INT(1)));
}

static dal_query *e_list_in_expr(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_eq(dal_list(COL("id"), COL("qty")), INT(1)));
}

static dal_query *e_alias_in_expr(void)
{
    return where_(SEL("orders", COL("id")),
                  dal_eq(dal_as(COL("id"), "x"), INT(1)));
}

static dal_query *e_window_fn_without_over(void)
{
    return SEL("orders", COL("id"), dal_row_number());
}

static dal_query *e_excluded_outside_upsert(void)
{
    return SEL("orders", dal_excluded("id"));
}

static dal_query *e_asc_of_desc(void)
{
    dal_query *q = SEL("orders", COL("id"));

    /* dal_desc(dal_asc(x)) is refused; this is the same conflict. */
    dal_q_order_by(q, dal_asc(dal_desc(COL("id"))));
    return q;
}

static dal_query *e_returning_on_select(void)
{
    dal_query *q = SEL("orders", COL("id"));

    dal_q_returning(q, COL("id"));
    return q;
}

static dal_query *e_from_subquery_no_alias(void)
{
    dal_query *q = dal_select(dal_star());

    dal_q_from_query(q, SEL("orders", COL("id")), NULL);
    return q;
}

static dal_query *e_cte_name_empty(void)
{
    dal_query *q = SEL("orders", COL("id"));

    dal_q_with(q, "", NULL, 0, SEL("items", COL("id")), 0);
    return q;
}

static dal_query *e_nomem(void)
{
    dal_query *q = SEL("orders", COL("id"));

    /* Every allocation fails while the condition is built. */
    fail_allocs = 1;
    dal_q_where(q, dal_eq(COL("id"), INT(1)));
    fail_allocs = 0;
    return q;
}

static dal_query *e_nomem_select(void)
{
    dal_query *q;

    /* The query itself cannot be made: dal_select() gives NULL, which
     * dal_query_to_sql() refuses. */
    fail_allocs = 1;
    q = dal_select(COL("id"));
    fail_allocs = 0;
    return q;
}

static dal_query *e_valid(void)
{
    return where_(SEL("orders", COL("id")), dal_eq(COL("id"), INT(1)));
}

struct error_case {
    const char *name;
    dal_query *(*build)(void);
    int rc[D_COUNT];       /* DAL_OK: this dialect compiles it */
    const char *backend;   /* given to dal_query_to_sql(); NULL: the
                              dialect's name (and prepared on it too) */
};

#define E(n, rc_sqlite, rc_pg) {#n, e_##n, {rc_sqlite, rc_pg}, NULL}
#define EM(n) E(n, DAL_E_MISUSE, DAL_E_MISUSE)

static const struct error_case error_cases[] = {
    EM(fn_round_negative),
    EM(agg_count_tstar),
    EM(col_null),
    EM(col_empty),
    EM(col_empty_part),
    EM(tcol_empty_table),
    EM(col_quote),
    EM(table_quote),
    EM(alias_quote),
    EM(from_null),
    EM(insert_null_table),
    EM(param_empty),
    EM(column_name_quote),
    EM(values_before_columns),
    EM(values_count),
    EM(join_before_from),
    EM(cross_join_on),
    EM(inner_join_no_on),
    EM(left_join_no_on),
    EM(having_no_group),
    EM(setop_member_order),
    EM(setop_member_limit),
    EM(setop_nested_member_offset),
    EM(setop_of_insert),
    EM(update_no_set),
    EM(insert_no_values),
    EM(upsert_no_set),
    EM(set_without_conflict),
    EM(conflict_twice),
    EM(limit_negative),
    EM(offset_negative),
    EM(where_on_insert),
    EM(from_twice),
    EM(json_path_no_dollar),
    EM(json_path_null),
    EM(json_path_bad_index),
    EM(json_path_empty_key),
    EM(json_path_unterminated),
    EM(json_path_junk),
    E(json_contains, DAL_E_UNSUPPORTED, DAL_OK),
    EM(json_object_odd),
    EM(case_else_first),
    EM(case_only_else),
    EM(case_two_else),
    EM(when_outside_case),
    EM(filter_non_agg),
    EM(filter_twice),
    EM(over_non_agg),
    EM(over_not_list),
    EM(raw_too_few),
    EM(raw_too_many),
    EM(raw_named),
    EM(raw_empty),
    E(params_sqlite, DAL_E_RANGE, DAL_OK),
    E(params_both, DAL_E_RANGE, DAL_E_RANGE),
    EM(deep_not),
    EM(deep_subquery),
    EM(count_distinct_star),
    EM(cast_unknown),
    EM(extract_unknown),
    EM(func_bad_name),
    EM(func_empty_name),
    EM(text_null),
    E(text_bad_utf8, DAL_E_DATA, DAL_E_DATA),
    EM(in_empty),
    EM(lock_flags),
    EM(lock_on_update),
    EM(lock_set_member),
    EM(lock_group_by),
    EM(fts_empty_query),
    EM(fts_minus_first),
    EM(fts_table_quote),
    EM(order_item_in_where),
    EM(star_in_sum),
    EM(star_in_expr),
    EM(list_in_expr),
    EM(alias_in_expr),
    EM(window_fn_without_over),
    EM(excluded_outside_upsert),
    EM(asc_of_desc),
    EM(returning_on_select),
    EM(from_subquery_no_alias),
    EM(cte_name_empty),
    E(nomem, DAL_NOMEM, DAL_NOMEM),
    EM(nomem_select),
    {"unknown_backend", e_valid, {DAL_E_MISUSE, DAL_E_MISUSE}, "mysql"},
    {"empty_backend", e_valid, {DAL_E_MISUSE, DAL_E_MISUSE}, ""},
};

/* ---- golden files ----------------------------------------------------- */

static void golden_path(char *buf, size_t n, int d, int i, const char *name)
{
    snprintf(buf, n, "%s/%s/%03d_%s.sql", golden_dir, dialect_names[d],
             i + 1, name);
}

/* The whole file at path (free() it), or NULL when it cannot be read. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, got;

    if (!f)
        return NULL;
    do {
        if (cap - len < 4096) {
            char *p = realloc(buf, cap + 8192);

            ck_assert_ptr_nonnull(p);
            buf = p;
            cap += 8192;
        }
        got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
    } while (got > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        ck_abort_msg("mkdir %s: %s", path, strerror(errno));
}

/* The golden text of a compiled query. */
static char *golden_text(const char *sql, int nparams)
{
    size_t n = strlen(sql) + 64;
    char *t = malloc(n);

    ck_assert_ptr_nonnull(t);
    snprintf(t, n, "-- params: %d\n%s\n", nparams, sql);
    return t;
}

/* Compare (or, in update mode, write) the golden file of case i. */
static void check_golden(int d, int i, const char *name, const char *sql,
                         int nparams)
{
    char path[512], *want, *have;

    golden_path(path, sizeof path, d, i, name);
    have = golden_text(sql, nparams);
    if (update_mode) {
        FILE *f;
        char dir[512];

        make_dir(golden_dir);
        snprintf(dir, sizeof dir, "%s/%s", golden_dir, dialect_names[d]);
        make_dir(dir);
        f = fopen(path, "wb");
        ck_assert_msg(f != NULL, "cannot write %s: %s", path,
                      strerror(errno));
        ck_assert_int_eq(fputs(have, f) >= 0, 1);
        ck_assert_int_eq(fclose(f), 0);
        free(have);
        return;
    }
    want = read_file(path);
    if (!want) {
        free(have);
        ck_abort_msg("%s: cannot read (%s); DAL_GOLDEN_UPDATE=1 writes it",
                     path, strerror(errno));
    }
    if (strcmp(want, have) != 0) {
        fprintf(stderr, "golden: %s differs\n--- expected\n%s--- got\n%s",
                path, want, have);
        free(want);
        free(have);
        ck_abort_msg("%s: the compiled SQL differs (see stderr)", path);
    }
    free(want);
    free(have);
}

/* ---- running a case on a server --------------------------------------- */

/* The first column of the current row, in a form both backends share:
 * NULL, an integer or boolean as a decimal, a double as %.15g, or the
 * text. */
static void first_value(dal_stmt *st, char *buf, size_t n)
{
    const char *t;

    switch (dal_column_type(st, 0)) {
    case DAL_TYPE_NULL:
        snprintf(buf, n, "NULL");
        break;
    case DAL_TYPE_BOOL:
    case DAL_TYPE_INT64:
        snprintf(buf, n, "%" PRId64, dal_column_int64(st, 0));
        break;
    case DAL_TYPE_DOUBLE:
        snprintf(buf, n, "%.15g", dal_column_double(st, 0));
        break;
    default:
        t = dal_column_text(st, 0, NULL);
        snprintf(buf, n, "%s", S(t));
        break;
    }
}

/* Bind every dal_param() slot of st that bindings[] names. */
static void bind_slots(dal_db *db, dal_stmt *st)
{
    int i;

    for (i = 0; i < ARRAY_LEN(bindings); i++)
        if (dal_bind_param_index(st, bindings[i].name) > 0
            && dal_bind_named(st, bindings[i].name, &bindings[i].v)
               != DAL_OK)
            fail_db(db, bindings[i].name);
}

/*
 * Prepare q on db, bind its slots and step once, in a transaction rolled
 * back afterwards. Returns DAL_ROW or DAL_DONE with the first value in
 * value, or the error code (message in msg).
 */
static int run_query(dal_db *db, const dal_query *q, int nparams,
                     char *value, size_t vlen, char *msg, size_t mlen)
{
    dal_stmt *st = NULL;
    int rc;

    value[0] = msg[0] = '\0';
    if (dal_begin(db, 0) != DAL_OK)
        fail_db(db, "begin");
    rc = dal_query_prepare(db, q, &st);
    if (rc == DAL_OK) {
        ck_assert_int_eq(dal_bind_param_count(st), nparams);
        bind_slots(db, st);
        rc = dal_step(st);
        if (rc == DAL_ROW)
            first_value(st, value, vlen);
    }
    if (rc != DAL_ROW && rc != DAL_DONE)
        snprintf(msg, mlen, "%s (code %d, SQLSTATE %s)", dal_errmsg(db), rc,
                 dal_sqlstate(db));
    else
        ck_assert_int_eq(dal_errcode(db), DAL_OK);
    dal_finalize(st);
    if (dal_rollback(db) != DAL_OK)
        fail_db(db, "rollback");
    return rc;
}

static dal_db *open_backend(int d)
{
    return d == D_SQLITE ? open_sqlite(1) : open_pg(1);
}

/* Failures of one test, gathered so that one run reports both backends. */
struct problems {
    char text[4096];
    size_t len;
};

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static void problem(struct problems *p, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

static void problem(struct problems *p, const char *fmt, ...)
{
    va_list ap;

    if (p->len + 2 >= sizeof p->text)
        return;
    if (p->len)
        p->text[p->len++] = '\n';
    va_start(ap, fmt);
    vsnprintf(p->text + p->len, sizeof p->text - p->len, fmt, ap);
    va_end(ap);
    p->len += strlen(p->text + p->len);
}

START_TEST(test_golden)
{
    const struct golden_case *c = &golden_cases[_i];
    char *sql[D_COUNT] = {NULL, NULL};
    char value[D_COUNT][256], msg[512];
    int d, nparams[D_COUNT], ran[D_COUNT] = {0, 0};
    struct problems p = {{0}, 0};
    dal_query *q;
    LEAK_START();

    q = c->build();
    ck_assert_ptr_nonnull(q);

    /* The golden files first, so that update mode writes them all. */
    for (d = 0; d < D_COUNT; d++) {
        char *err = NULL;
        int rc;

        nparams[d] = -1;
        rc = dal_query_to_sql(q, dialect_names[d], &sql[d], &nparams[d],
                              &err);
        if (d == D_SQLITE && (c->flags & F_PG_ONLY)) {
            /* The refusal itself is an error case. */
            ck_assert_int_ne(rc, DAL_OK);
            dal_free(err);
            continue;
        }
        ck_assert_msg(rc == DAL_OK, "%s on %s: code %d: %s", c->name,
                      dialect_names[d], rc, S(err));
        ck_assert_ptr_null(err);
        ck_assert_ptr_nonnull(sql[d]);
        check_golden(d, _i, c->name, sql[d], nparams[d]);
    }

    /* Then the servers. */
    for (d = 0; d < D_COUNT; d++) {
        const char *be = dialect_names[d];
        dal_db *db;
        int rc;

        if (!sql[d] || (d == D_PG && !pg_url))
            continue;
        db = open_backend(d);
        rc = run_query(db, q, nparams[d], value[d], sizeof value[d], msg,
                       sizeof msg);
        dal_close(db);
        if (c->xfail[d]) {
            if (rc == DAL_ROW || rc == DAL_DONE)
                problem(&p, "%s now runs on %s: drop its xfail note (%s)",
                        c->name, be, c->xfail[d]);
        } else if (rc != DAL_ROW && rc != DAL_DONE) {
            problem(&p, "%s on %s: %s\n  SQL: %s", c->name, be, msg,
                    sql[d]);
        } else if (c->expect && rc != DAL_ROW) {
            problem(&p, "%s on %s: no row", c->name, be);
        } else if (c->expect && strcmp(value[d], c->expect) != 0) {
            problem(&p, "%s on %s: first value '%s', expected '%s'\n"
                    "  SQL: %s", c->name, be, value[d], c->expect, sql[d]);
        } else {
            ran[d] = rc == DAL_ROW;
        }
    }
    if ((c->flags & F_SAME) && ran[D_SQLITE] && ran[D_PG]
        && strcmp(value[D_SQLITE], value[D_PG]) != 0)
        problem(&p, "%s: sqlite gives '%s', postgres '%s'", c->name,
                value[D_SQLITE], value[D_PG]);
    for (d = 0; d < D_COUNT; d++)
        dal_free(sql[d]);
    dal_query_free(q);
    ck_assert_msg(p.len == 0, "%s", p.text);
    LEAK_CHECK();
}
END_TEST

/* Every file under the golden directory belongs to a case: a renamed or
 * removed case leaves none behind (update mode deletes them). */
START_TEST(test_no_stale_files)
{
    int d;

    for (d = 0; d < D_COUNT; d++) {
        char dir[512], path[1024], want[512];
        struct dirent *ent;
        DIR *dp;

        snprintf(dir, sizeof dir, "%s/%s", golden_dir, dialect_names[d]);
        dp = opendir(dir);
        ck_assert_msg(dp != NULL, "%s: %s", dir, strerror(errno));
        while ((ent = readdir(dp)) != NULL) {
            int i, found = 0;

            if (ent->d_name[0] == '.')
                continue;
            for (i = 0; i < ARRAY_LEN(golden_cases) && !found; i++) {
                if (d == D_SQLITE && (golden_cases[i].flags & F_PG_ONLY))
                    continue;
                golden_path(want, sizeof want, d, i, golden_cases[i].name);
                found = !strcmp(strrchr(want, '/') + 1, ent->d_name);
            }
            if (found)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
            if (update_mode) {
                ck_assert_msg(unlink(path) == 0, "unlink %s: %s", path,
                              strerror(errno));
                continue;
            }
            closedir(dp);
            ck_abort_msg("%s belongs to no case (DAL_GOLDEN_UPDATE=1 "
                         "removes it)", path);
        }
        closedir(dp);
    }
}
END_TEST

/* ---- error cases ------------------------------------------------------ */

START_TEST(test_error)
{
    const struct error_case *c = &error_cases[_i];
    struct problems p = {{0}, 0};
    dal_query *q;
    int d;
    LEAK_START();

    q = c->build();
    for (d = 0; d < D_COUNT; d++) {
        const char *backend = c->backend ? c->backend : dialect_names[d];
        char *sql = (char *)"unset", *err = NULL;
        int rc, nparams = -1;
        dal_stmt *st = (dal_stmt *)&st;
        dal_db *db;

        rc = dal_query_to_sql(q, backend, &sql, &nparams, &err);
        if (c->rc[d] == DAL_OK) {
            if (rc != DAL_OK)
                problem(&p, "%s on %s: code %d: %s", c->name, backend, rc,
                        S(err));
            dal_free(sql);
            dal_free(err);
            continue;
        }
        if (rc != c->rc[d])
            problem(&p, "%s on %s: code %d (%s), expected %d", c->name,
                    backend, rc, S(err), c->rc[d]);
        if (sql != NULL)
            problem(&p, "%s on %s gave SQL: %s", c->name, backend, sql);
        if (nparams != 0)
            problem(&p, "%s on %s: *nparams %d", c->name, backend, nparams);
        if (rc != DAL_OK && (err == NULL || err[0] == '\0'))
            problem(&p, "%s on %s: code %d without a message", c->name,
                    backend, rc);
        if (rc == DAL_OK)
            dal_free(sql);
        dal_free(err);

        /* The same refusal from dal_query_prepare(), before any SQL
         * reaches the server. */
        if (c->backend || (d == D_PG && !pg_url))
            continue;
        db = d == D_SQLITE ? open_sqlite(0) : open_pg(0);
        rc = dal_query_prepare(db, q, &st);
        if (rc != c->rc[d])
            problem(&p, "%s: dal_query_prepare on %s: code %d (%s), "
                    "expected %d", c->name, backend, rc, dal_errmsg(db),
                    c->rc[d]);
        else if (dal_errcode(db) != c->rc[d] || !dal_errmsg(db)[0])
            problem(&p, "%s: dal_query_prepare on %s: dal_errcode %d, "
                    "dal_errmsg '%s'", c->name, backend, dal_errcode(db),
                    dal_errmsg(db));
        if (rc == DAL_OK)
            dal_finalize(st);
        else if (st != NULL)
            problem(&p, "%s on %s: a statement despite code %d", c->name,
                    backend, rc);
        dal_close(db);
    }
    dal_query_free(q);
    ck_assert_msg(p.len == 0, "%s", p.text);
    LEAK_CHECK();
}
END_TEST

/* dal_query_to_sql()'s own argument checks. */
START_TEST(test_to_sql_arguments)
{
    char *sql = (char *)"unset", *err = NULL;
    int nparams = -1;
    dal_query *q;
    LEAK_START();

    q = e_valid();

    ck_assert_int_eq(dal_query_to_sql(q, NULL, &sql, &nparams, &err),
                     DAL_E_MISUSE);
    ck_assert_ptr_null(sql);
    ck_assert_int_eq(nparams, 0);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(err[0] != '\0', "no message for a NULL backend");
    dal_free(err);
    ck_assert_int_eq(dal_query_to_sql(q, "sqlite", NULL, &nparams, &err),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_query_to_sql(q, "sqlite", &sql, NULL, NULL),
                     DAL_OK);
    ck_assert_str_eq(sql, "SELECT \"id\" FROM \"orders\" WHERE "
                     "(\"id\" = ?1)");
    dal_free(sql);
    dal_query_free(q);
    LEAK_CHECK();
}
END_TEST

/* ---- suite ------------------------------------------------------------ */

static Suite *golden_suite(void)
{
    Suite *s = suite_create("golden");
    TCase *tc;

    tc = tcase_create("golden");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_golden, 0, ARRAY_LEN(golden_cases));
    tcase_add_test(tc, test_no_stale_files);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_error, 0, ARRAY_LEN(error_cases));
    tcase_add_test(tc, test_to_sql_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *update = getenv("DAL_GOLDEN_UPDATE");
    SRunner *sr;
    int failed;

    if (dal_set_allocator(count_malloc, count_realloc, count_free)
        != DAL_OK) {
        fprintf(stderr, "golden: dal_set_allocator failed\n");
        return EXIT_FAILURE;
    }
    golden_dir = getenv("DAL_GOLDEN_DIR");
    if (!golden_dir || !golden_dir[0])
        golden_dir = "tests/golden";
    update_mode = update && !strcmp(update, "1");
    pg_url = getenv("DAL_TEST_PG_URL");
    if (pg_url && !pg_url[0])
        pg_url = NULL;
    if (!pg_url)
        printf("golden: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
    else if (pg_setup() != 0)
        return EXIT_FAILURE;
    if (update_mode)
        printf("golden: DAL_GOLDEN_UPDATE=1: writing %s\n", golden_dir);
    /* Forked tests must not inherit unflushed output. */
    fflush(stdout);
    sr = srunner_create(golden_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (pg_url)
        pg_teardown();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
