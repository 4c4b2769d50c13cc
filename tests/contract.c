/*
 * tests/contract.c - the backend contract suite. One set of tests, with
 * the same assertions, runs against every backend URL:
 *   contract[sqlite-mem]   sqlite::memory:
 *   contract[sqlite-file]  sqlite:///tmp/... (a fresh file per test)
 *   contract[postgres]     $DAL_TEST_PG_URL (skipped when unset)
 * The doc comments of include/dal/core.h are the contract checked here.
 *
 * Run:  ./contract                       (SQLite only)
 *       tests/pg/with-pg.sh ./contract   (adds a throwaway PostgreSQL)
 * CK_RUN_SUITE='contract[postgres]' and CK_RUN_CASE=tx narrow a run;
 * CK_FORK=no runs in one process (for gdb).
 *
 * PostgreSQL tests share one database, so every test uses tables of its
 * own (ct_<test>) and drops them first.
 */
#include <check.h>
#include <dirent.h>
#include <float.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dal/core.h>

enum backend { BE_SQLITE_MEM, BE_SQLITE_FILE, BE_POSTGRES };

/* The suite being run, set by main() before each SRunner. For sqlite-file
 * the fixture points test_url at a fresh file for every test. */
const char *test_url;
enum backend test_backend;

static dal_db *db;              /* the fixture's connection */
static long main_pid;           /* names this run's temporary files */
static char file_path[128];
static char file_url[160];

/* SQLSTATEs libdal raises itself (core.h, dal_sqlstate()). A misuse is a
 * bad argument; an index out of range may be either "bad argument" or
 * "unknown parameter"; a URL error may be any of the three; commit or
 * rollback with no transaction may also say 25P01. */
#define ST_MISUSE "22023"
#define ST_RANGE "22023|42P02"
#define ST_URL "08001|22023|42P02"
#define ST_NO_TX "22023|25P01"

/* "héllo ✓ 𝄞": 9 characters in 15 bytes of 1, 2, 3 and 4-byte UTF-8. */
#define UTF8_SAMPLE "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9d\x84\x9e"
#define UTF8_BYTES 15
#define UTF8_CHARS 9

/* ---- helpers -------------------------------------------------------- */

static const char *S(const char *s)
{
    return s ? s : "(null)";
}

/* Is got one of the '|'-separated five-character states in alts? */
static int state_is(const char *got, const char *alts)
{
    size_t n;

    if (got == NULL || strlen(got) != 5)
        return 0;
    while (*alts) {
        n = strcspn(alts, "|");
        if (n == 5 && memcmp(alts, got, 5) == 0)
            return 1;
        alts += n;
        if (*alts == '|')
            alts++;
    }
    return 0;
}

/*
 * NULL when rc and the error recorded on h are code, with a SQLSTATE out
 * of states and a real message; otherwise a description of what is wrong.
 */
static const char *err_mismatch(dal_db *h, int rc, int code,
                                const char *states)
{
    static char why[1024];
    int ec = dal_errcode(h);
    const char *st = dal_sqlstate(h), *msg = dal_errmsg(h);

    if (rc == code && ec == code && state_is(st, states) && msg != NULL &&
        msg[0] != '\0' && strcmp(msg, "not an error") != 0)
        return NULL;
    snprintf(why, sizeof why,
             "rc %d (%s), errcode %d, sqlstate %s; want %d (%s), "
             "sqlstate %s; errmsg: %s",
             rc, dal_errstr(rc), ec, S(st), code, dal_errstr(code), states,
             S(msg));
    return why;
}

#define CK_RC(h, expr, want) do { \
    int rc_ = (expr); \
    ck_assert_msg(rc_ == (want), "%s -> %d (%s), want %d: [%s] %s", \
                  #expr, rc_, dal_errstr(rc_), (want), \
                  S(dal_sqlstate(h)), S(dal_errmsg(h))); \
} while (0)
#define CK_OK(h, expr) CK_RC(h, expr, DAL_OK)

/* expr fails with code, and h records code, a SQLSTATE out of states and
 * a message. */
#define CK_ERR(h, expr, code, states) do { \
    const char *why_ = err_mismatch((h), (expr), (code), (states)); \
    ck_assert_msg(why_ == NULL, "%s: %s", #expr, why_); \
} while (0)

/* The error a column getter recorded on h (getters return values). */
#define CK_LAST(h, code, states) CK_ERR(h, dal_errcode(h), code, states)

#define EXEC_ON(h, sql) CK_OK(h, dal_exec((h), (sql)))
#define EXEC(sql) EXEC_ON(db, sql)
#define PREP_ON(h, st, sql) CK_OK(h, dal_prepare((h), (sql), &(st)))
#define PREP(st, sql) PREP_ON(db, st, sql)

static int is_sqlite(void)
{
    return strcmp(S(dal_backend(db)), "sqlite") == 0;
}

/* DDL that differs between backends. */
#define DDL(lite, pg) EXEC(is_sqlite() ? (lite) : (pg))

/* Column col of st's current row is the NUL-terminated text want. */
#define CK_TEXT(st, col, want) do { \
    size_t len_ = 99999; \
    const char *t_ = dal_column_text((st), (col), &len_); \
    ck_assert_msg(t_ != NULL && len_ == strlen(want) && \
                  memcmp(t_, (want), len_) == 0 && t_[len_] == '\0', \
                  "column %d: got \"%s\" (len %zu), want \"%s\"", \
                  (col), S(t_), len_, (want)); \
} while (0)

static int64_t qint_p(dal_db *h, const char *sql, const dal_value *p,
                      int n)
{
    int64_t v = -424242;
    int rc = dal_query_int64(h, sql, p, n, &v);

    ck_assert_msg(rc == DAL_OK, "%s -> %d (%s): [%s] %s", sql, rc,
                  dal_errstr(rc), S(dal_sqlstate(h)), S(dal_errmsg(h)));
    return v;
}

static int64_t qint(dal_db *h, const char *sql)
{
    return qint_p(h, sql, NULL, 0);
}

/* The first column of sql's first row as text, in a static buffer;
 * "(null)" for SQL NULL. */
static const char *qtext(dal_db *h, const char *sql)
{
    static char buf[256];
    char *s = NULL;
    int rc = dal_query_text(h, sql, NULL, 0, &s, NULL);

    ck_assert_msg(rc == DAL_OK, "%s -> %d (%s): [%s] %s", sql, rc,
                  dal_errstr(rc), S(dal_sqlstate(h)), S(dal_errmsg(h)));
    snprintf(buf, sizeof buf, "%s", S(s));
    dal_free(s);
    return buf;
}

static dal_db *open_db(const char *url)
{
    dal_db *h = NULL;
    int rc = dal_open(url, &h);

    ck_assert_msg(rc == DAL_OK && h != NULL, "dal_open(%s) -> %d: %s", url,
                  rc, h ? S(dal_errmsg(h)) : "(no handle)");
    /* Keep "table does not exist, skipping" notices out of the output. */
    if (strcmp(S(dal_backend(h)), "postgres") == 0)
        EXEC_ON(h, "SET client_min_messages = warning");
    return h;
}

/* test_url with one more option appended. */
static const char *url_with(char *buf, size_t n, const char *opt)
{
    snprintf(buf, n, "%s%c%s", test_url,
             strchr(test_url, '?') ? '&' : '?', opt);
    return buf;
}

/* Blob contents: every byte value, 0x00 first, nothing like text. */
static void fill(unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 251u + (i >> 8) * 7u);
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

/* A failing assertion ends the forked test before its teardown, so main()
 * sweeps whatever files this run left in /tmp. */
static void sweep_temp_files(void)
{
    char prefix[64], path[512];
    struct dirent *e;
    DIR *d = opendir("/tmp");

    if (d == NULL)
        return;
    snprintf(prefix, sizeof prefix, "dal-contract-%ld-", main_pid);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            snprintf(path, sizeof path, "/tmp/%s", e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

static void setup(void)
{
    if (test_backend == BE_SQLITE_FILE) {
        int fd;

        snprintf(file_path, sizeof file_path, "/tmp/dal-contract-%ld-XXXXXX",
                 main_pid);
        fd = mkstemp(file_path);
        ck_assert_msg(fd >= 0, "mkstemp(%s) failed", file_path);
        close(fd);
        snprintf(file_url, sizeof file_url, "sqlite://%s", file_path);
        test_url = file_url;
    }
    db = open_db(test_url);
}

static void teardown(void)
{
    dal_close(db);
    db = NULL;
    if (test_backend == BE_SQLITE_FILE)
        remove_db_files(file_path);
}

/* ---- 1. type round trips -------------------------------------------- */

START_TEST(t_int64_roundtrip)
{
    static const int64_t vals[] = {INT64_MIN, INT64_MAX, 0, -1, 1,
                                   INT64_MIN + 1, INT64_MAX - 1};
    const int n = (int)(sizeof vals / sizeof vals[0]);
    const char *sel = "SELECT v FROM ct_int WHERE k = ?";
    dal_stmt *st = NULL;
    int i;

    EXEC("DROP TABLE IF EXISTS ct_int;"
         "CREATE TABLE ct_int (k INTEGER, v BIGINT)");
    PREP(st, "INSERT INTO ct_int (k, v) VALUES (?, ?)");
    for (i = 0; i < n; i++) {
        CK_OK(db, dal_bind_int64(st, 1, i));
        CK_OK(db, dal_bind_int64(st, 2, vals[i]));
        CK_RC(db, dal_step(st), DAL_DONE);
        CK_OK(db, dal_reset(st));
    }
    dal_finalize(st);

    PREP(st, sel);
    for (i = 0; i < n; i++) {
        dal_value p = DAL_V_INT64(i), v = DAL_V_NULL;
        int64_t out = 0;

        CK_OK(db, dal_bind_int64(st, 1, i));
        CK_RC(db, dal_step(st), DAL_ROW);
        ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_INT64);
        ck_assert_int_eq(dal_column_int64(st, 0), vals[i]);
        CK_RC(db, dal_step(st), DAL_DONE);
        CK_OK(db, dal_reset(st));

        CK_OK(db, dal_query_int64(db, sel, &p, 1, &out));
        ck_assert_int_eq(out, vals[i]);
        CK_OK(db, dal_query_value(db, sel, &p, 1, &v));
        ck_assert_int_eq(v.type, DAL_TYPE_INT64);
        ck_assert_int_eq(v.u.i, vals[i]);
    }
    dal_finalize(st);

    /* The extremes written as SQL literals. */
    PREP(st, "SELECT CAST(-9223372036854775808 AS BIGINT),"
             " CAST(9223372036854775807 AS BIGINT)");
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_INT64);
    ck_assert_int_eq(dal_column_type(st, 1), DAL_TYPE_INT64);
    ck_assert_int_eq(dal_column_int64(st, 0), INT64_MIN);
    ck_assert_int_eq(dal_column_int64(st, 1), INT64_MAX);
    CK_TEXT(st, 0, "-9223372036854775808");
    CK_TEXT(st, 1, "9223372036854775807");
    dal_finalize(st);
    EXEC("INSERT INTO ct_int (k, v) VALUES (100, -9223372036854775808),"
         " (101, 9223372036854775807)");
    ck_assert_int_eq(qint(db, "SELECT v FROM ct_int WHERE k = 100"),
                     INT64_MIN);
    ck_assert_int_eq(qint(db, "SELECT v FROM ct_int WHERE k = 101"),
                     INT64_MAX);
}
END_TEST

START_TEST(t_double_roundtrip)
{
    static const double vals[] = {0.1, -2.5, 1e308, 5e-324, DBL_MAX, 0.0,
                                  -DBL_MAX, 1.0 / 3.0};
    const int n = (int)(sizeof vals / sizeof vals[0]);
    const char *sel = "SELECT d FROM ct_dbl WHERE k = ?";
    dal_stmt *st = NULL;
    int i;

    DDL("DROP TABLE IF EXISTS ct_dbl;"
        "CREATE TABLE ct_dbl (k INTEGER, d REAL)",
        "DROP TABLE IF EXISTS ct_dbl;"
        "CREATE TABLE ct_dbl (k INTEGER, d DOUBLE PRECISION)");
    PREP(st, "INSERT INTO ct_dbl (k, d) VALUES (?, ?)");
    for (i = 0; i < n; i++) {
        CK_OK(db, dal_bind_int64(st, 1, i));
        CK_OK(db, dal_bind_double(st, 2, vals[i]));
        CK_RC(db, dal_step(st), DAL_DONE);
        CK_OK(db, dal_reset(st));
    }
    dal_finalize(st);

    PREP(st, sel);
    for (i = 0; i < n; i++) {
        dal_value p = DAL_V_INT64(i), v = DAL_V_NULL;
        double out = -1;

        CK_OK(db, dal_bind_int64(st, 1, i));
        CK_RC(db, dal_step(st), DAL_ROW);
        ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_DOUBLE);
        ck_assert_msg(dal_column_double(st, 0) == vals[i],
                      "column: %.17g, want %.17g",
                      dal_column_double(st, 0), vals[i]);
        CK_RC(db, dal_step(st), DAL_DONE);
        CK_OK(db, dal_reset(st));

        CK_OK(db, dal_query_double(db, sel, &p, 1, &out));
        ck_assert_msg(out == vals[i], "dal_query_double: %.17g, want %.17g",
                      out, vals[i]);
        CK_OK(db, dal_query_value(db, sel, &p, 1, &v));
        ck_assert_int_eq(v.type, DAL_TYPE_DOUBLE);
        ck_assert_msg(v.u.d == vals[i], "dal_query_value: %.17g, want %.17g",
                      v.u.d, vals[i]);
    }
    dal_finalize(st);

    PREP(st, "SELECT CAST(0.1 AS DOUBLE PRECISION),"
             " CAST(-2.5 AS DOUBLE PRECISION)");
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_DOUBLE);
    ck_assert_msg(dal_column_double(st, 0) == 0.1, "%.17g",
                  dal_column_double(st, 0));
    ck_assert_msg(dal_column_double(st, 1) == -2.5, "%.17g",
                  dal_column_double(st, 1));
    dal_finalize(st);
}
END_TEST

START_TEST(t_text_roundtrip)
{
    const char *sel = "SELECT t FROM ct_text WHERE k = ?";
    dal_value params[2];
    dal_stmt *st = NULL;
    char buf[16];
    int k;

    EXEC("DROP TABLE IF EXISTS ct_text;"
         "CREATE TABLE ct_text (k INTEGER, t TEXT)");
    PREP(st, "INSERT INTO ct_text (k, t) VALUES (?, ?)");
    /* 1: NUL-terminated, measured by libdal. */
    CK_OK(db, dal_bind_int64(st, 1, 1));
    CK_OK(db, dal_bind_text(st, 2, UTF8_SAMPLE, DAL_NTS, DAL_STATIC));
    CK_RC(db, dal_step(st), DAL_DONE);
    /* 2: an explicit length into a longer, unterminated buffer. */
    CK_OK(db, dal_reset(st));
    CK_OK(db, dal_bind_int64(st, 1, 2));
    CK_OK(db, dal_bind_text(st, 2, UTF8_SAMPLE "XYZ", UTF8_BYTES,
                            DAL_TRANSIENT));
    CK_RC(db, dal_step(st), DAL_DONE);
    /* 3: DAL_TRANSIENT copies: changing the buffer afterwards is fine. */
    CK_OK(db, dal_reset(st));
    CK_OK(db, dal_bind_int64(st, 1, 3));
    strcpy(buf, "before");
    CK_OK(db, dal_bind_text(st, 2, buf, DAL_NTS, DAL_TRANSIENT));
    strcpy(buf, "after!");
    CK_RC(db, dal_step(st), DAL_DONE);
    dal_finalize(st);
    /* 4: through dal_exec_params with a DAL_V_TEXTN. */
    params[0] = DAL_V_INT64(4);
    params[1] = DAL_V_TEXTN(UTF8_SAMPLE "XYZ", UTF8_BYTES);
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_text (k, t) VALUES (?, ?)",
                              params, 2));
    /* 5: as a literal in the SQL text. */
    EXEC("INSERT INTO ct_text (k, t) VALUES (5, '" UTF8_SAMPLE "')");

    PREP(st, sel);
    for (k = 1; k <= 5; k++) {
        const char *want = k == 3 ? "before" : UTF8_SAMPLE;
        dal_value p = DAL_V_INT64(k), v = DAL_V_NULL;
        char *out = NULL;
        size_t len = 0;

        CK_OK(db, dal_bind_int64(st, 1, k));
        CK_RC(db, dal_step(st), DAL_ROW);
        ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_TEXT);
        ck_assert_int_eq(dal_column_is_null(st, 0), 0);
        CK_TEXT(st, 0, want);
        CK_RC(db, dal_step(st), DAL_DONE);

        CK_OK(db, dal_query_text(db, sel, &p, 1, &out, &len));
        ck_assert_ptr_nonnull(out);
        ck_assert_uint_eq(len, strlen(want));
        ck_assert_str_eq(out, want);
        dal_free(out);

        CK_OK(db, dal_query_value(db, sel, &p, 1, &v));
        ck_assert_int_eq(v.type, DAL_TYPE_TEXT);
        ck_assert_uint_eq(v.u.s.len, strlen(want));
        ck_assert_msg(memcmp(v.u.s.p, want, v.u.s.len) == 0 &&
                      v.u.s.p[v.u.s.len] == '\0', "value text differs");
        dal_value_clear(&v);
        ck_assert_int_eq(v.type, DAL_TYPE_NULL);
    }
    dal_finalize(st);

    params[0] = DAL_V_TEXT(UTF8_SAMPLE);
    ck_assert_int_eq(qint_p(db, "SELECT count(*) FROM ct_text WHERE t = ?",
                            params, 1), 4);
    ck_assert_int_eq(qint(db, "SELECT length(t) FROM ct_text WHERE k = 1"),
                     UTF8_CHARS);
}
END_TEST

START_TEST(t_empty_vs_null)
{
    const char *sel = "SELECT t FROM ct_null WHERE k = ?";
    dal_value params[2];
    dal_stmt *st = NULL;
    const char *t;
    size_t len;
    int k;

    EXEC("DROP TABLE IF EXISTS ct_null;"
         "CREATE TABLE ct_null (k INTEGER, t TEXT)");
    PREP(st, "INSERT INTO ct_null (k, t) VALUES (?, ?)");
    CK_OK(db, dal_bind_int64(st, 1, 1));
    CK_OK(db, dal_bind_text(st, 2, "", 0, DAL_STATIC));
    CK_RC(db, dal_step(st), DAL_DONE);
    CK_OK(db, dal_reset(st));
    CK_OK(db, dal_bind_int64(st, 1, 2));
    CK_OK(db, dal_bind_null(st, 2));
    CK_RC(db, dal_step(st), DAL_DONE);
    dal_finalize(st);
    params[0] = DAL_V_INT64(3);
    params[1] = DAL_V_TEXT("");
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_null VALUES (?, ?)",
                              params, 2));
    params[0] = DAL_V_INT64(4);
    params[1] = DAL_V_NULL;
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_null VALUES (?, ?)",
                              params, 2));
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_null WHERE t = ''"),
                     2);
    ck_assert_int_eq(
        qint(db, "SELECT count(*) FROM ct_null WHERE t IS NULL"), 2);

    PREP(st, sel);
    for (k = 1; k <= 4; k++) {
        int is_empty = k % 2 == 1;
        dal_value p = DAL_V_INT64(k), v = DAL_V_INT64(7);
        char *out = (char *)"sentinel";

        CK_OK(db, dal_bind_int64(st, 1, k));
        CK_RC(db, dal_step(st), DAL_ROW);
        len = 12345;
        t = dal_column_text(st, 0, &len);
        ck_assert_uint_eq(len, 0);
        if (is_empty) {
            ck_assert_int_eq(dal_column_is_null(st, 0), 0);
            ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_TEXT);
            ck_assert_ptr_nonnull(t);
            ck_assert_int_eq(t[0], '\0');
        } else {
            ck_assert_int_ne(dal_column_is_null(st, 0), 0);
            ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_NULL);
            /* NULL reads as "" (a NULL pointer is tolerated). */
            ck_assert_msg(t == NULL || t[0] == '\0', "NULL read as \"%s\"",
                          t);
            ck_assert_int_eq(dal_column_int64(st, 0), 0);
            ck_assert_msg(dal_column_double(st, 0) == 0.0, "NULL double");
        }
        CK_OK(db, dal_reset(st));

        CK_OK(db, dal_query_text(db, sel, &p, 1, &out, NULL));
        if (is_empty) {
            ck_assert_ptr_nonnull(out);
            ck_assert_str_eq(out, "");
        } else {
            ck_assert_ptr_null(out);
        }
        dal_free(out);
        CK_OK(db, dal_query_value(db, sel, &p, 1, &v));
        if (is_empty) {
            ck_assert_int_eq(v.type, DAL_TYPE_TEXT);
            ck_assert_uint_eq(v.u.s.len, 0);
            ck_assert_ptr_nonnull(v.u.s.p);
            ck_assert_int_eq(v.u.s.p[0], '\0');
        } else {
            ck_assert_int_eq(v.type, DAL_TYPE_NULL);
        }
        dal_value_clear(&v);
    }
    dal_finalize(st);
}
END_TEST

/* Stores a blob of n pattern bytes under key k and reads it back through
 * the column getters and dal_query_value(). */
static void blob_roundtrip(int k, size_t n, int flags)
{
    const char *sel = "SELECT b FROM ct_blob WHERE k = ?";
    unsigned char *buf = malloc(n ? n : 1);
    dal_value p = DAL_V_INT64(k), v = DAL_V_NULL;
    dal_stmt *st = NULL;
    const void *got;
    size_t len = 12345;

    ck_assert_ptr_nonnull(buf);
    fill(buf, n);
    PREP(st, "INSERT INTO ct_blob (k, b) VALUES (?, ?)");
    CK_OK(db, dal_bind_int64(st, 1, k));
    CK_OK(db, dal_bind_blob(st, 2, buf, n, flags));
    CK_RC(db, dal_step(st), DAL_DONE);
    dal_finalize(st);

    PREP(st, sel);
    CK_OK(db, dal_bind_int64(st, 1, k));
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_BLOB);
    ck_assert_int_eq(dal_column_is_null(st, 0), 0);
    got = dal_column_blob(st, 0, &len);
    ck_assert_msg(len == n, "blob %d: length %zu, want %zu", k, len, n);
    ck_assert_msg(n == 0 || (got != NULL && memcmp(got, buf, n) == 0),
                  "blob %d (%zu bytes) differs", k, n);
    dal_finalize(st);

    if (n <= 65536) {
        CK_OK(db, dal_query_value(db, sel, &p, 1, &v));
        ck_assert_int_eq(v.type, DAL_TYPE_BLOB);
        ck_assert_uint_eq(v.u.s.len, n);
        ck_assert_msg(n == 0 || memcmp(v.u.s.p, buf, n) == 0,
                      "dal_query_value blob %d differs", k);
        dal_value_clear(&v);
        ck_assert_int_eq(v.type, DAL_TYPE_NULL);
    }
    free(buf);
}

static void blob_table(void)
{
    DDL("DROP TABLE IF EXISTS ct_blob;"
        "CREATE TABLE ct_blob (k INTEGER, b BLOB)",
        "DROP TABLE IF EXISTS ct_blob;"
        "CREATE TABLE ct_blob (k INTEGER, b BYTEA)");
}

START_TEST(t_blob_roundtrip)
{
    dal_stmt *st = NULL;
    size_t len = 99;

    blob_table();
    blob_roundtrip(1, 0, DAL_STATIC);
    blob_roundtrip(2, 1, DAL_TRANSIENT);
    blob_roundtrip(3, 255, DAL_STATIC);
    blob_roundtrip(4, 65536, DAL_TRANSIENT);

    /* p may be NULL when len is 0. */
    PREP(st, "INSERT INTO ct_blob (k, b) VALUES (5, ?)");
    CK_OK(db, dal_bind_blob(st, 1, NULL, 0, DAL_STATIC));
    CK_RC(db, dal_step(st), DAL_DONE);
    dal_finalize(st);
    PREP(st, "SELECT b FROM ct_blob WHERE k = 5");
    CK_RC(db, dal_step(st), DAL_ROW);
    (void)dal_column_blob(st, 0, &len);
    ck_assert_uint_eq(len, 0);
    dal_finalize(st);
}
END_TEST

START_TEST(t_blob_16mib)
{
    blob_table();
    blob_roundtrip(1, (size_t)16 << 20, DAL_STATIC);
    ck_assert_int_eq(qint(db, is_sqlite()
                          ? "SELECT length(b) FROM ct_blob WHERE k = 1"
                          : "SELECT octet_length(b) FROM ct_blob"
                            " WHERE k = 1"),
                     16 << 20);
}
END_TEST

START_TEST(t_bool_roundtrip)
{
    const char *sel = "SELECT f FROM ct_bool WHERE k = ?";
    dal_value params[2], v = DAL_V_NULL, p;
    dal_stmt *st = NULL;
    int k;

    DDL("DROP TABLE IF EXISTS ct_bool;"
        "CREATE TABLE ct_bool (k INTEGER, f BIGINT)",
        "DROP TABLE IF EXISTS ct_bool;"
        "CREATE TABLE ct_bool (k INTEGER, f BOOLEAN)");
    PREP(st, "INSERT INTO ct_bool (k, f) VALUES (?, ?)");
    CK_OK(db, dal_bind_int64(st, 1, 1));
    CK_OK(db, dal_bind_bool(st, 2, 1));
    CK_RC(db, dal_step(st), DAL_DONE);
    CK_OK(db, dal_reset(st));
    CK_OK(db, dal_bind_int64(st, 1, 2));
    CK_OK(db, dal_bind_bool(st, 2, 0));
    CK_RC(db, dal_step(st), DAL_DONE);
    CK_OK(db, dal_reset(st));
    CK_OK(db, dal_bind_int64(st, 1, 3));
    CK_OK(db, dal_bind_bool(st, 2, 42));        /* any nonzero is true */
    CK_RC(db, dal_step(st), DAL_DONE);
    CK_OK(db, dal_reset(st));
    p = DAL_V_BOOL(0);
    CK_OK(db, dal_bind_int64(st, 1, 4));
    CK_OK(db, dal_bind_value(st, 2, &p));
    CK_RC(db, dal_step(st), DAL_DONE);
    dal_finalize(st);
    params[0] = DAL_V_INT64(5);
    params[1] = DAL_V_BOOL(1);
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_bool VALUES (?, ?)",
                              params, 2));

    PREP(st, sel);
    for (k = 1; k <= 5; k++) {
        int64_t want = k % 2, out = -1;

        p = DAL_V_INT64(k);
        CK_OK(db, dal_bind_int64(st, 1, k));
        CK_RC(db, dal_step(st), DAL_ROW);
        ck_assert_int_eq(dal_column_type(st, 0),
                         is_sqlite() ? DAL_TYPE_INT64 : DAL_TYPE_BOOL);
        ck_assert_int_eq(dal_column_int64(st, 0), want);
        CK_OK(db, dal_reset(st));
        CK_OK(db, dal_query_int64(db, sel, &p, 1, &out));
        ck_assert_int_eq(out, want);
        CK_OK(db, dal_query_value(db, sel, &p, 1, &v));
        if (is_sqlite()) {
            ck_assert_int_eq(v.type, DAL_TYPE_INT64);
            ck_assert_int_eq(v.u.i, want);
        } else {
            ck_assert_int_eq(v.type, DAL_TYPE_BOOL);
            ck_assert_int_eq(v.u.b, want);
        }
    }
    dal_finalize(st);
}
END_TEST

/* ---- 2. column information ------------------------------------------ */

START_TEST(t_column_names)
{
    dal_stmt *st = NULL;

    PREP(st, "SELECT 1 AS a, 'x' AS b");
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_count(st), 2);
    ck_assert_str_eq(S(dal_column_name(st, 0)), "a");
    ck_assert_str_eq(S(dal_column_name(st, 1)), "b");
    ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_INT64);
    ck_assert_int_eq(dal_column_type(st, 1), DAL_TYPE_TEXT);
    ck_assert_int_eq(dal_column_int64(st, 0), 1);
    CK_TEXT(st, 1, "x");
    CK_RC(db, dal_step(st), DAL_DONE);
    /* Names stay valid until dal_finalize(). */
    ck_assert_str_eq(S(dal_column_name(st, 1)), "b");
    ck_assert_str_eq(S(dal_stmt_sql(st)), "SELECT 1 AS a, 'x' AS b");
    ck_assert_ptr_eq(dal_stmt_db(st), db);
    dal_finalize(st);
}
END_TEST

START_TEST(t_column_types)
{
    const unsigned char two[] = {0x00, 0xff};
    dal_stmt *st = NULL;
    const void *b;
    size_t len = 0;

    if (is_sqlite())
        PREP(st, "SELECT CAST(42 AS BIGINT), CAST(2.5 AS REAL), 'txt',"
                 " NULL, X'00FF'");
    else
        PREP(st, "SELECT CAST(42 AS BIGINT), CAST(2.5 AS DOUBLE PRECISION),"
                 " CAST('txt' AS TEXT), NULL, CAST('\\x00ff' AS BYTEA),"
                 " true, CAST(1.5 AS NUMERIC), CAST(7 AS SMALLINT),"
                 " CAST(7 AS INTEGER), CAST(0.5 AS REAL)");
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_count(st), is_sqlite() ? 5 : 10);
    ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_INT64);
    ck_assert_int_eq(dal_column_type(st, 1), DAL_TYPE_DOUBLE);
    ck_assert_int_eq(dal_column_type(st, 2), DAL_TYPE_TEXT);
    ck_assert_int_eq(dal_column_type(st, 3), DAL_TYPE_NULL);
    ck_assert_int_eq(dal_column_type(st, 4), DAL_TYPE_BLOB);
    b = dal_column_blob(st, 4, &len);
    ck_assert_uint_eq(len, 2);
    ck_assert_msg(b && memcmp(b, two, 2) == 0, "blob differs");
    /* Getters convert like SQLite. */
    CK_TEXT(st, 0, "42");
    ck_assert_msg(dal_column_double(st, 0) == 42.0, "int as double");
    ck_assert_int_eq(dal_column_int64(st, 1), 2);
    CK_TEXT(st, 1, "2.5");
    CK_TEXT(st, 2, "txt");
    if (!is_sqlite()) {
        ck_assert_int_eq(dal_column_type(st, 5), DAL_TYPE_BOOL);
        ck_assert_int_eq(dal_column_int64(st, 5), 1);
        ck_assert_int_eq(dal_column_type(st, 6), DAL_TYPE_TEXT);
        CK_TEXT(st, 6, "1.5");
        ck_assert_msg(dal_column_double(st, 6) == 1.5, "numeric as double");
        ck_assert_int_eq(dal_column_type(st, 7), DAL_TYPE_INT64);
        ck_assert_int_eq(dal_column_int64(st, 7), 7);
        ck_assert_int_eq(dal_column_type(st, 8), DAL_TYPE_INT64);
        ck_assert_int_eq(dal_column_type(st, 9), DAL_TYPE_DOUBLE);
        ck_assert_msg(dal_column_double(st, 9) == 0.5, "real");
    }
    dal_finalize(st);

    PREP(st, "SELECT '123'");
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_TEXT);
    ck_assert_int_eq(dal_column_int64(st, 0), 123);
    ck_assert_msg(dal_column_double(st, 0) == 123.0, "text as double");
    dal_finalize(st);
}
END_TEST

START_TEST(t_column_decltype)
{
    dal_stmt *st = NULL;

    EXEC("DROP TABLE IF EXISTS ct_decl;"
         "CREATE TABLE ct_decl (v BIGINT, t TEXT);"
         "INSERT INTO ct_decl VALUES (1, 'a')");
    PREP(st, "SELECT v, t, 1 FROM ct_decl");
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_count(st), 3);
    ck_assert_str_eq(S(dal_column_name(st, 0)), "v");
    ck_assert_str_eq(S(dal_column_decltype(st, 0)),
                     is_sqlite() ? "BIGINT" : "int8");
    ck_assert_str_eq(S(dal_column_decltype(st, 1)),
                     is_sqlite() ? "TEXT" : "text");
    if (is_sqlite())
        ck_assert_ptr_null(dal_column_decltype(st, 2));
    else
        ck_assert_str_eq(S(dal_column_decltype(st, 2)), "int4");
    dal_finalize(st);
}
END_TEST

/* ---- 3. placeholders ------------------------------------------------ */

START_TEST(t_ph_question)
{
    dal_stmt *st = NULL;

    EXEC("DROP TABLE IF EXISTS ct_phq;"
         "CREATE TABLE ct_phq (a BIGINT, b TEXT)");
    PREP(st, "INSERT INTO ct_phq (a, b) VALUES (?, ?)");
    ck_assert_int_eq(dal_bind_param_count(st), 2);
    CK_OK(db, dal_bind_int64(st, 1, 7));
    CK_OK(db, dal_bind_text(st, 2, "seven", DAL_NTS, DAL_STATIC));
    CK_RC(db, dal_step(st), DAL_DONE);
    dal_finalize(st);
    PREP(st, "SELECT b FROM ct_phq WHERE a = ?");
    ck_assert_int_eq(dal_bind_param_count(st), 1);
    CK_OK(db, dal_bind_int64(st, 1, 7));
    CK_RC(db, dal_step(st), DAL_ROW);
    CK_TEXT(st, 0, "seven");
    dal_finalize(st);
}
END_TEST

START_TEST(t_ph_dollar)
{
    dal_value params[2];
    dal_stmt *st = NULL;
    char *s = NULL;

    /* Out of order, and $1 used twice: two slots. */
    PREP(st, "SELECT CAST($2 AS TEXT), CAST($1 AS BIGINT)"
             " + CAST($1 AS BIGINT)");
    ck_assert_int_eq(dal_bind_param_count(st), 2);
    CK_OK(db, dal_bind_int64(st, 1, 20));
    CK_OK(db, dal_bind_text(st, 2, "x", DAL_NTS, DAL_STATIC));
    CK_RC(db, dal_step(st), DAL_ROW);
    CK_TEXT(st, 0, "x");
    ck_assert_int_eq(dal_column_int64(st, 1), 40);
    dal_finalize(st);

    EXEC("DROP TABLE IF EXISTS ct_phd;"
         "CREATE TABLE ct_phd (a BIGINT, b TEXT)");
    params[0] = DAL_V_INT64(7);
    params[1] = DAL_V_TEXT("seven");
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_phd (b, a) VALUES ($2, $1)",
                              params, 2));
    CK_OK(db, dal_query_text(db, "SELECT b FROM ct_phd WHERE a = $1",
                             params, 1, &s, NULL));
    ck_assert_str_eq(S(s), "seven");
    dal_free(s);
}
END_TEST

START_TEST(t_ph_named)
{
    dal_value a = DAL_V_INT64(3), b = DAL_V_INT64(4), params[2];
    dal_stmt *st = NULL;
    char *s = NULL;

    PREP(st, "SELECT CAST(:a AS BIGINT) * 10 + CAST(:b AS BIGINT),"
             " CAST(:a AS BIGINT)");
    ck_assert_int_eq(dal_bind_param_count(st), 2);   /* :a twice: one slot */
    ck_assert_int_eq(dal_bind_param_index(st, ":a"), 1);
    ck_assert_int_eq(dal_bind_param_index(st, "a"), 1);
    ck_assert_int_eq(dal_bind_param_index(st, ":b"), 2);
    ck_assert_int_eq(dal_bind_param_index(st, "b"), 2);
    ck_assert_int_eq(dal_bind_param_index(st, "c"), 0);
    ck_assert_int_eq(dal_bind_param_index(st, ":c"), 0);
    CK_OK(db, dal_bind_named(st, "a", &a));
    CK_OK(db, dal_bind_named(st, ":b", &b));
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_int64(st, 0), 34);
    ck_assert_int_eq(dal_column_int64(st, 1), 3);
    dal_finalize(st);

    /* dal_exec_params: each distinct :name takes the next slot in order
     * of first appearance. */
    params[0] = DAL_V_INT64(1);
    params[1] = DAL_V_INT64(10);
    ck_assert_int_eq(qint_p(db, "SELECT CAST(:x AS BIGINT)"
                                " + CAST(:y_2 AS BIGINT) * 2"
                                " + CAST(:x AS BIGINT) * 100",
                            params, 2), 121);
    EXEC("DROP TABLE IF EXISTS ct_phn;"
         "CREATE TABLE ct_phn (a BIGINT, b TEXT)");
    params[0] = DAL_V_TEXT("five");
    params[1] = DAL_V_INT64(5);
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_phn (b, a)"
                                  " VALUES (:name, :num)", params, 2));
    params[0] = DAL_V_INT64(5);
    CK_OK(db, dal_query_text(db, "SELECT b FROM ct_phn WHERE a = :num",
                             params, 1, &s, NULL));
    ck_assert_str_eq(S(s), "five");
    dal_free(s);
}
END_TEST

START_TEST(t_ph_lexer)
{
    dal_value v = DAL_V_TEXT("v");
    dal_stmt *st = NULL;

    /* No parameters: every ? is in a literal, identifier or comment. */
    PREP(st, "SELECT '?' AS q, 'it''s ?' AS r, 1 AS \"a?b\" -- ?\n"
             "/* ? :x $1 */");
    ck_assert_int_eq(dal_bind_param_count(st), 0);
    CK_RC(db, dal_step(st), DAL_ROW);
    CK_TEXT(st, 0, "?");
    CK_TEXT(st, 1, "it's ?");
    ck_assert_str_eq(S(dal_column_name(st, 2)), "a?b");
    dal_finalize(st);

    PREP(st, "SELECT /* ? */ ? AS p, '?' AS q -- ?");
    ck_assert_int_eq(dal_bind_param_count(st), 1);
    CK_OK(db, dal_bind_text(st, 1, "v", DAL_NTS, DAL_STATIC));
    CK_RC(db, dal_step(st), DAL_ROW);
    CK_TEXT(st, 0, "v");
    CK_TEXT(st, 1, "?");
    dal_finalize(st);

    PREP(st, "SELECT ':a' AS s, CAST(:a AS TEXT) AS t");
    ck_assert_int_eq(dal_bind_param_count(st), 1);
    ck_assert_int_eq(dal_bind_param_index(st, "a"), 1);
    CK_OK(db, dal_bind_named(st, "a", &v));
    CK_RC(db, dal_step(st), DAL_ROW);
    CK_TEXT(st, 0, ":a");
    CK_TEXT(st, 1, "v");
    dal_finalize(st);

    if (is_sqlite())
        return;

    /* PostgreSQL: :: casts, $tag$ strings, E'' escapes, ?? for jsonb ?. */
    PREP(st, "SELECT ?::text AS a, 1::int8 AS b");
    ck_assert_int_eq(dal_bind_param_count(st), 1);
    CK_OK(db, dal_bind_text(st, 1, "z", DAL_NTS, DAL_STATIC));
    CK_RC(db, dal_step(st), DAL_ROW);
    CK_TEXT(st, 0, "z");
    ck_assert_int_eq(dal_column_int64(st, 1), 1);
    dal_finalize(st);

    PREP(st, "SELECT :a::text AS a, CAST(:a AS TEXT)::text AS b");
    ck_assert_int_eq(dal_bind_param_count(st), 1);
    CK_OK(db, dal_bind_named(st, ":a", &v));
    CK_RC(db, dal_step(st), DAL_ROW);
    CK_TEXT(st, 0, "v");
    CK_TEXT(st, 1, "v");
    dal_finalize(st);

    PREP(st, "SELECT $tag$ ? $tag$ AS a, $$ :x $1 ' $$ AS b, ? AS c");
    ck_assert_int_eq(dal_bind_param_count(st), 1);
    CK_OK(db, dal_bind_text(st, 1, "c", DAL_NTS, DAL_STATIC));
    CK_RC(db, dal_step(st), DAL_ROW);
    CK_TEXT(st, 0, " ? ");
    CK_TEXT(st, 1, " :x $1 ' ");
    CK_TEXT(st, 2, "c");
    dal_finalize(st);

    PREP(st, "SELECT E'\\' ?' AS a");
    ck_assert_int_eq(dal_bind_param_count(st), 0);
    CK_RC(db, dal_step(st), DAL_ROW);
    CK_TEXT(st, 0, "' ?");
    dal_finalize(st);

    PREP(st, "SELECT '{\"a\":1}'::jsonb ?? 'a'");
    ck_assert_int_eq(dal_bind_param_count(st), 0);
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_type(st, 0), DAL_TYPE_BOOL);
    ck_assert_int_eq(dal_column_int64(st, 0), 1);
    dal_finalize(st);

    PREP(st, "SELECT CAST(? AS jsonb) ?? 'b'");
    ck_assert_int_eq(dal_bind_param_count(st), 1);
    CK_OK(db, dal_bind_text(st, 1, "{\"a\":1}", DAL_NTS, DAL_STATIC));
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_int64(st, 0), 0);
    dal_finalize(st);
}
END_TEST

START_TEST(t_ph_misuse)
{
    static const char *const mixed[] = {
        "SELECT ?, $1", "SELECT $1, ?", "SELECT ?, :a", "SELECT :a, ?",
        "SELECT $1, :a", "SELECT :a, $1",
    };
    static const char *const two[] = {
        "SELECT 1; SELECT 2", "SELECT 1;SELECT 2;", "SELECT ?; SELECT ?",
    };
    dal_value p = DAL_V_INT64(1);
    dal_stmt *st;
    size_t i;

    for (i = 0; i < sizeof mixed / sizeof mixed[0]; i++) {
        st = (dal_stmt *)&p;
        CK_ERR(db, dal_prepare(db, mixed[i], &st), DAL_E_MISUSE, ST_MISUSE);
        ck_assert_msg(st == NULL, "%s: *stp not NULL", mixed[i]);
    }
    CK_ERR(db, dal_exec_params(db, "SELECT CAST(? AS BIGINT) + $1", &p, 1),
           DAL_E_MISUSE, ST_MISUSE);
    for (i = 0; i < sizeof two / sizeof two[0]; i++) {
        st = (dal_stmt *)&p;
        CK_ERR(db, dal_prepare(db, two[i], &st), DAL_E_MISUSE, ST_MISUSE);
        ck_assert_msg(st == NULL, "%s: *stp not NULL", two[i]);
    }
    CK_ERR(db, dal_exec_params(db, "SELECT 1; SELECT 2", NULL, 0),
           DAL_E_MISUSE, ST_MISUSE);
}
END_TEST

START_TEST(t_ph_trailing_semicolon)
{
    static const char *const ok[] = {
        "SELECT 1;", "SELECT 1 ;  \n", "SELECT 1; -- done",
        "SELECT 1 /* ; */;",
    };
    dal_stmt *st = NULL;
    size_t i;

    for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        PREP(st, ok[i]);
        CK_RC(db, dal_step(st), DAL_ROW);
        ck_assert_int_eq(dal_column_int64(st, 0), 1);
        CK_RC(db, dal_step(st), DAL_DONE);
        dal_finalize(st);
    }
    PREP(st, "SELECT ';' AS s;");
    CK_RC(db, dal_step(st), DAL_ROW);
    CK_TEXT(st, 0, ";");
    dal_finalize(st);
    ck_assert_int_eq(qint(db, "SELECT 5;"), 5);
}
END_TEST

START_TEST(t_exec_script)
{
    EXEC("DROP TABLE IF EXISTS ct_script");
    EXEC("CREATE TABLE ct_script (a INTEGER);"
         " INSERT INTO ct_script VALUES (1);"
         " INSERT INTO ct_script VALUES (2);");
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_script"), 2);
    ck_assert_int_eq(qint(db, "SELECT sum(a) FROM ct_script"), 3);
    /* ';' and '?' inside literals and comments split nothing. */
    EXEC("INSERT INTO ct_script VALUES (length('a;b?')); /* ; */"
         " -- ;\n INSERT INTO ct_script VALUES (10)");
    ck_assert_int_eq(qint(db, "SELECT sum(a) FROM ct_script"), 17);
    /* It stops at the first failure; earlier statements stay done. */
    CK_ERR(db, dal_exec(db, "INSERT INTO ct_script VALUES (100);"
                            " INSERT INTO ct_no_such_table VALUES (1);"
                            " INSERT INTO ct_script VALUES (1000)"),
           DAL_E_SYNTAX, "42P01");
    ck_assert_int_eq(qint(db, "SELECT sum(a) FROM ct_script"), 117);
}
END_TEST

/* A routine body's own ';' does not end the statement: SQLite's
 * CREATE TRIGGER ... BEGIN ... END and PostgreSQL's BEGIN ATOMIC. */
START_TEST(t_exec_routine_body)
{
    EXEC("DROP TABLE IF EXISTS ct_rb_log; DROP TABLE IF EXISTS ct_rb");
    EXEC("CREATE TABLE ct_rb (a INTEGER); CREATE TABLE ct_rb_log (a INTEGER)");
    if (is_sqlite())
        EXEC("CREATE TRIGGER ct_rb_tr AFTER INSERT ON ct_rb BEGIN"
             " INSERT INTO ct_rb_log VALUES (new.a);"
             " INSERT INTO ct_rb_log VALUES (new.a + 1); END;"
             " INSERT INTO ct_rb VALUES (1)");
    else
        EXEC("CREATE OR REPLACE FUNCTION ct_rb_f(x int) RETURNS void"
             " LANGUAGE SQL BEGIN ATOMIC"
             " INSERT INTO ct_rb_log VALUES (x);"
             " INSERT INTO ct_rb_log VALUES (x + 1); END;"
             " SELECT ct_rb_f(1)");
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_rb_log"), 2);
    ck_assert_int_eq(qint(db, "SELECT sum(a) FROM ct_rb_log"), 3);
}
END_TEST

/* ---- 4. error mapping ----------------------------------------------- */

START_TEST(t_err_unique)
{
    dal_value p[2] = {DAL_V_INT64(2), DAL_V_TEXT("a@x")};
    dal_stmt *st = NULL;

    EXEC("DROP TABLE IF EXISTS ct_uniq;"
         "CREATE TABLE ct_uniq (id INTEGER PRIMARY KEY, email TEXT UNIQUE);"
         "INSERT INTO ct_uniq VALUES (1, 'a@x')");
    CK_ERR(db, dal_exec_params(db, "INSERT INTO ct_uniq VALUES (?, ?)", p, 2),
           DAL_E_CONSTRAINT, "23505");
    ck_assert_msg(dal_errconstraint(db) != NULL, "no constraint name");
    ck_assert_int_eq(dal_errnative(db), is_sqlite() ? 2067 : 7);
    ck_assert_int_eq(dal_is_retryable(dal_errcode(db)), 0);

    /* Through a statement: the error is recorded on its dal_db. */
    PREP(st, "INSERT INTO ct_uniq VALUES (1, 'b@x')");
    CK_ERR(db, dal_step(st), DAL_E_CONSTRAINT, "23505");
    ck_assert_ptr_nonnull(dal_errconstraint(db));
    dal_finalize(st);

    /* A call that succeeds clears the error. */
    EXEC("INSERT INTO ct_uniq VALUES (3, 'c@x')");
    ck_assert_int_eq(dal_errcode(db), DAL_OK);
    ck_assert_str_eq(S(dal_sqlstate(db)), "00000");
    ck_assert_str_eq(S(dal_errmsg(db)), "not an error");
    ck_assert_int_eq(dal_errnative(db), 0);
}
END_TEST

START_TEST(t_err_not_null)
{
    dal_value p = DAL_V_NULL;

    EXEC("DROP TABLE IF EXISTS ct_nn;"
         "CREATE TABLE ct_nn (a INTEGER NOT NULL)");
    CK_ERR(db, dal_exec_params(db, "INSERT INTO ct_nn VALUES (?)", &p, 1),
           DAL_E_CONSTRAINT, "23502");
    CK_ERR(db, dal_exec(db, "INSERT INTO ct_nn VALUES (NULL)"),
           DAL_E_CONSTRAINT, "23502");
}
END_TEST

START_TEST(t_err_foreign_key)
{
    EXEC("DROP TABLE IF EXISTS ct_fk_child;"
         "DROP TABLE IF EXISTS ct_fk_parent;"
         "CREATE TABLE ct_fk_parent (id INTEGER PRIMARY KEY);"
         "CREATE TABLE ct_fk_child (pid INTEGER REFERENCES ct_fk_parent(id));"
         "INSERT INTO ct_fk_parent VALUES (1);"
         "INSERT INTO ct_fk_child VALUES (1)");
    CK_ERR(db, dal_exec(db, "INSERT INTO ct_fk_child VALUES (99)"),
           DAL_E_CONSTRAINT, "23503");
    CK_ERR(db, dal_exec(db, "DELETE FROM ct_fk_parent WHERE id = 1"),
           DAL_E_CONSTRAINT, "23503");
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_fk_child"), 1);
}
END_TEST

START_TEST(t_err_check)
{
    dal_value p = DAL_V_INT64(0);

    EXEC("DROP TABLE IF EXISTS ct_chk;"
         "CREATE TABLE ct_chk (x INTEGER, CONSTRAINT positive CHECK (x > 0))");
    CK_ERR(db, dal_exec_params(db, "INSERT INTO ct_chk VALUES (?)", &p, 1),
           DAL_E_CONSTRAINT, "23514");
    ck_assert_str_eq(S(dal_errconstraint(db)), "positive");
    p = DAL_V_INT64(1);
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_chk VALUES (?)", &p, 1));
}
END_TEST

START_TEST(t_err_syntax)
{
    dal_stmt *st = (dal_stmt *)&st;

    CK_ERR(db, dal_exec(db, "SELEC 1"), DAL_E_SYNTAX, "42601");
    CK_ERR(db, dal_prepare(db, "SELECT (1", &st), DAL_E_SYNTAX, "42601");
    ck_assert_ptr_null(st);
    CK_ERR(db, dal_exec_params(db, "SELEC ?", NULL, 0), DAL_E_SYNTAX,
           "42601");
}
END_TEST

START_TEST(t_err_unknown_names)
{
    dal_stmt *st = (dal_stmt *)&st;
    int64_t out = 5;

    CK_ERR(db, dal_exec(db, "SELECT * FROM ct_no_such_table"), DAL_E_SYNTAX,
           "42P01");
    CK_ERR(db, dal_prepare(db, "SELECT * FROM ct_no_such_table", &st),
           DAL_E_SYNTAX, "42P01");
    ck_assert_ptr_null(st);
    CK_ERR(db, dal_query_int64(db, "SELECT count(*) FROM ct_no_such_table",
                               NULL, 0, &out),
           DAL_E_SYNTAX, "42P01");
    EXEC("DROP TABLE IF EXISTS ct_known;"
         "CREATE TABLE ct_known (a INTEGER)");
    CK_ERR(db, dal_exec(db, "SELECT no_such_col FROM ct_known"),
           DAL_E_SYNTAX, "42703");
}
END_TEST

START_TEST(t_err_wrong_type)
{
    dal_value p = DAL_V_TEXT("abc");

    DDL("DROP TABLE IF EXISTS ct_wt;"
        "CREATE TABLE ct_wt (v INTEGER) STRICT",
        "DROP TABLE IF EXISTS ct_wt;"
        "CREATE TABLE ct_wt (v INTEGER)");
    CK_ERR(db, dal_exec(db, "INSERT INTO ct_wt VALUES ('abc')"), DAL_E_DATA,
           "22P02");
    CK_ERR(db, dal_exec_params(db, "INSERT INTO ct_wt VALUES (?)", &p, 1),
           DAL_E_DATA, "22P02");
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_wt"), 0);
}
END_TEST

START_TEST(t_err_bad_text)
{
    static const struct { const char *s; size_t len; } bad[] = {
        {"\xff\xfe", 2},               /* never valid in UTF-8 */
        {"a\0b", 3},                   /* embedded NUL */
        {"\xc0\xaf", 2},               /* overlong '/' */
        {"\xed\xa0\x80", 3},           /* UTF-16 surrogate */
        {"ab\xe2\x9c", 4},             /* truncated sequence */
        {"\xf4\x90\x80\x80", 4},       /* beyond U+10FFFF */
    };
    dal_stmt *st = NULL;
    dal_value v;
    int64_t out = 9;
    size_t i;

    EXEC("DROP TABLE IF EXISTS ct_bt;"
         "CREATE TABLE ct_bt (t TEXT)");
    PREP(st, "INSERT INTO ct_bt VALUES (?)");
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = DAL_V_TEXTN(bad[i].s, bad[i].len);
        CK_ERR(db, dal_bind_text(st, 1, bad[i].s, bad[i].len, DAL_TRANSIENT),
               DAL_E_DATA, "22021");
        CK_ERR(db, dal_bind_value(st, 1, &v), DAL_E_DATA, "22021");
        CK_ERR(db, dal_exec_params(db, "INSERT INTO ct_bt VALUES (?)", &v, 1),
               DAL_E_DATA, "22021");
        CK_ERR(db, dal_query_int64(db, "SELECT count(*) FROM ct_bt"
                                       " WHERE t = ?", &v, 1, &out),
               DAL_E_DATA, "22021");
    }
    CK_OK(db, dal_bind_text(st, 1, UTF8_SAMPLE, DAL_NTS, DAL_STATIC));
    CK_RC(db, dal_step(st), DAL_DONE);
    dal_finalize(st);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_bt"), 1);
}
END_TEST

START_TEST(t_err_codes)
{
    static const int codes[] = {
        DAL_OK, DAL_ERROR, DAL_NOMEM, DAL_E_MISUSE, DAL_E_RANGE, DAL_E_URL,
        DAL_E_CONNECT, DAL_E_CONSTRAINT, DAL_E_SYNTAX, DAL_E_DATA,
        DAL_E_BUSY, DAL_E_READONLY, DAL_E_TX, DAL_E_UNSUPPORTED,
        DAL_E_CANCELED, DAL_E_TIMEOUT, DAL_E_CLOSED, DAL_E_POOL_TIMEOUT,
        DAL_E_REFUSED, DAL_E_RATE_LIMITED, DAL_ROW, DAL_DONE,
    };
    size_t i, j;

    ck_assert_int_ne(dal_is_retryable(DAL_E_BUSY), 0);
    ck_assert_int_eq(dal_is_retryable(DAL_E_CONSTRAINT), 0);
    ck_assert_int_eq(dal_is_retryable(DAL_OK), 0);
    ck_assert_int_eq(dal_is_retryable(DAL_E_SYNTAX), 0);
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = dal_errstr(codes[i]);

        ck_assert_msg(s != NULL && s[0] != '\0', "dal_errstr(%d) empty",
                      codes[i]);
        ck_assert_msg(strcmp(s, "unknown error") != 0,
                      "dal_errstr(%d) unknown", codes[i]);
        for (j = 0; j < i; j++)
            ck_assert_msg(strcmp(s, dal_errstr(codes[j])) != 0,
                          "codes %d and %d share \"%s\"", codes[i],
                          codes[j], s);
    }
    ck_assert_str_eq(S(dal_errstr(9999)), "unknown error");
    ck_assert_str_eq(S(dal_errstr(-1)), "unknown error");
    /* A fresh connection has no error. */
    ck_assert_int_eq(dal_errcode(db), DAL_OK);
    ck_assert_str_eq(S(dal_sqlstate(db)), "00000");
    ck_assert_str_eq(S(dal_errmsg(db)), "not an error");
}
END_TEST

/* ---- 5. busy, locked and serialization failures --------------------- */

START_TEST(t_busy_lock)
{
    dal_value one = DAL_V_INT64(1);
    char url[1024];
    int64_t v = 0;
    dal_db *b;

    /* A memory database has one connection: nothing can contend. */
    if (test_backend == BE_SQLITE_MEM)
        return;
    if (test_backend == BE_SQLITE_FILE) {
        EXEC("CREATE TABLE ct_lock (id INTEGER PRIMARY KEY, v INTEGER);"
             "INSERT INTO ct_lock VALUES (1, 0)");
        b = open_db(url_with(url, sizeof url, "busy_timeout=0"));
        CK_OK(db, dal_begin(db, DAL_TX_IMMEDIATE));
        CK_ERR(b, dal_begin(b, DAL_TX_IMMEDIATE), DAL_E_BUSY, "55P03");
        ck_assert_int_ne(dal_is_retryable(dal_errcode(b)), 0);
        ck_assert_int_eq(dal_tx_depth(b), 0);
        CK_ERR(b, dal_exec(b, "UPDATE ct_lock SET v = 2"), DAL_E_BUSY,
               "55P03");
        CK_OK(db, dal_rollback(db));
        CK_OK(b, dal_begin(b, DAL_TX_IMMEDIATE));
        EXEC_ON(b, "UPDATE ct_lock SET v = 2");
        CK_OK(b, dal_commit(b));
        ck_assert_int_eq(qint(db, "SELECT v FROM ct_lock"), 2);
        dal_close(b);
        return;
    }
    EXEC("DROP TABLE IF EXISTS ct_nowait;"
         "CREATE TABLE ct_nowait (id INTEGER PRIMARY KEY, v INTEGER);"
         "INSERT INTO ct_nowait VALUES (1, 0)");
    b = open_db(test_url);
    CK_OK(db, dal_begin(db, 0));
    EXEC("SELECT v FROM ct_nowait WHERE id = 1 FOR UPDATE");
    CK_ERR(b, dal_exec(b, "SELECT v FROM ct_nowait WHERE id = 1"
                          " FOR UPDATE NOWAIT"),
           DAL_E_BUSY, "55P03");
    ck_assert_int_ne(dal_is_retryable(dal_errcode(b)), 0);
    CK_ERR(b, dal_query_int64(b, "SELECT v FROM ct_nowait WHERE id = $1"
                                 " FOR UPDATE NOWAIT", &one, 1, &v),
           DAL_E_BUSY, "55P03");
    CK_OK(db, dal_rollback(db));
    CK_OK(b, dal_query_int64(b, "SELECT v FROM ct_nowait WHERE id = $1"
                                " FOR UPDATE NOWAIT", &one, 1, &v));
    ck_assert_int_eq(v, 0);
    dal_close(b);
}
END_TEST

START_TEST(t_busy_serialization)
{
    char url[1024];
    dal_db *b;

    /* A memory database has one connection: nothing can conflict. */
    if (test_backend == BE_SQLITE_MEM)
        return;
    if (test_backend == BE_SQLITE_FILE) {
        /* SQLite's analogue: in WAL mode a read transaction whose snapshot
         * went stale cannot write (SQLITE_BUSY_SNAPSHOT, 40001). */
        dal_close(db);
        db = open_db(url_with(url, sizeof url, "journal=wal"));
        ck_assert_str_eq(qtext(db, "PRAGMA journal_mode"), "wal");
        EXEC("CREATE TABLE ct_snap (id INTEGER PRIMARY KEY, v INTEGER);"
             "INSERT INTO ct_snap VALUES (1, 0)");
        b = open_db(url_with(url, sizeof url, "journal=wal&busy_timeout=0"));
        CK_OK(db, dal_begin(db, DAL_TX_DEFERRED));
        ck_assert_int_eq(qint(db, "SELECT v FROM ct_snap WHERE id = 1"), 0);
        EXEC_ON(b, "UPDATE ct_snap SET v = 1 WHERE id = 1");
        CK_ERR(db, dal_exec(db, "UPDATE ct_snap SET v = 2 WHERE id = 1"),
               DAL_E_BUSY, "40001");
        ck_assert_int_ne(dal_is_retryable(dal_errcode(db)), 0);
        CK_OK(db, dal_rollback(db));
        ck_assert_int_eq(dal_tx_depth(db), 0);
        /* Run again from its start, it succeeds. */
        CK_OK(db, dal_begin(db, DAL_TX_DEFERRED));
        ck_assert_int_eq(qint(db, "SELECT v FROM ct_snap WHERE id = 1"), 1);
        EXEC("UPDATE ct_snap SET v = 2 WHERE id = 1");
        CK_OK(db, dal_commit(db));
        ck_assert_int_eq(qint(b, "SELECT v FROM ct_snap WHERE id = 1"), 2);
        dal_close(b);
        return;
    }
    EXEC("DROP TABLE IF EXISTS ct_ser;"
         "CREATE TABLE ct_ser (id INTEGER PRIMARY KEY, v INTEGER);"
         "INSERT INTO ct_ser VALUES (1, 0)");
    b = open_db(test_url);
    CK_OK(db, dal_begin(db, DAL_TX_SERIALIZABLE));
    CK_OK(b, dal_begin(b, DAL_TX_SERIALIZABLE));
    ck_assert_int_eq(qint(db, "SELECT v FROM ct_ser WHERE id = 1"), 0);
    ck_assert_int_eq(qint(b, "SELECT v FROM ct_ser WHERE id = 1"), 0);
    EXEC("UPDATE ct_ser SET v = 1 WHERE id = 1");
    CK_OK(db, dal_commit(db));
    CK_ERR(b, dal_exec(b, "UPDATE ct_ser SET v = 2 WHERE id = 1"),
           DAL_E_BUSY, "40001");
    ck_assert_int_ne(dal_is_retryable(dal_errcode(b)), 0);
    CK_OK(b, dal_rollback(b));
    ck_assert_int_eq(dal_tx_depth(b), 0);
    CK_OK(b, dal_begin(b, DAL_TX_SERIALIZABLE));
    EXEC_ON(b, "UPDATE ct_ser SET v = 2 WHERE id = 1");
    CK_OK(b, dal_commit(b));
    ck_assert_int_eq(qint(db, "SELECT v FROM ct_ser WHERE id = 1"), 2);
    dal_close(b);
}
END_TEST

/* ---- 5b. dal_tx_run ------------------------------------------------- */

struct txr {
    int attempts;
    int mode;        /* what fn does, see txr_fn */
    dal_db *other;   /* the contending connection */
    const char *table;
};

/*
 * mode 0: insert a row, succeed.
 * mode 1: insert a row, then violate a unique key.
 * mode 2: insert a row, return DAL_E_BUSY without recording an error.
 * mode 3: SQLite file: an UPDATE that meets other's write lock on the
 *         first attempt; other commits before the second.
 * mode 4: PostgreSQL: a serializable read, other changes the row and
 *         commits, the update fails with 40001 on the first attempt.
 * mode 5: commit the transaction fn was given (misuse).
 */
static int txr_fn(dal_db *h, void *data)
{
    static int serial = 100;
    struct txr *t = data;
    char sql[256];
    int64_t v;
    int rc;

    t->attempts++;
    switch (t->mode) {
    case 0:
    case 1:
    case 2:
        snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (%d)", t->table,
                 serial++);
        if ((rc = dal_exec(h, sql)) != DAL_OK)
            return rc;
        if (t->mode == 1) {
            snprintf(sql, sizeof sql, "INSERT INTO %s VALUES (1)",
                     t->table);
            return dal_exec(h, sql);
        }
        return t->mode == 2 ? DAL_E_BUSY : DAL_OK;
    case 3:
        if (t->attempts == 2 && (rc = dal_commit(t->other)) != DAL_OK)
            return rc;
        return dal_exec(h, "UPDATE ct_txr SET a = a + 1");
    case 4:
        if ((rc = dal_query_int64(h, "SELECT a FROM ct_txr", NULL, 0,
                                  &v)) != DAL_OK)
            return rc;
        if (t->attempts == 1
            && (rc = dal_exec(t->other, "UPDATE ct_txr SET a = a + 10"))
               != DAL_OK)
            return rc;
        return dal_exec(h, "UPDATE ct_txr SET a = a + 1");
    default:
        return dal_commit(h);
    }
}

START_TEST(t_tx_run)
{
    dal_retry_policy three = {3, 1, 2, 0, 0};
    struct txr t = {0, 0, NULL, "ct_txr"};

    EXEC("DROP TABLE IF EXISTS ct_txr;"
         "CREATE TABLE ct_txr (a INTEGER PRIMARY KEY)");
    EXEC("INSERT INTO ct_txr VALUES (1)");
    /* Without a policy: once; committed. */
    CK_OK(db, dal_tx_run(db, 0, txr_fn, &t, NULL));
    ck_assert_int_eq(t.attempts, 1);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txr"), 2);
    ck_assert_int_eq(dal_tx_depth(db), 0);
    /* A failure that is not retryable: once, all rolled back. */
    t.attempts = 0;
    t.mode = 1;
    CK_ERR(db, dal_tx_run(db, 0, txr_fn, &t, &three), DAL_E_CONSTRAINT,
           "23505");
    ck_assert_int_eq(t.attempts, 1);
    ck_assert_int_eq(dal_tx_depth(db), 0);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txr"), 2);
    /* Retryable every time: max_attempts runs, each rolled back, the
     * last error kept, with a message for fn's own code. */
    t.attempts = 0;
    t.mode = 2;
    CK_ERR(db, dal_tx_run(db, 0, txr_fn, &t, &three), DAL_E_BUSY, "55P03");
    ck_assert_int_eq(t.attempts, 3);
    ck_assert_ptr_nonnull(strstr(dal_errmsg(db), "returned 10"));
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txr"), 2);
    /* The default policy is 3 attempts; jitter on. */
    t.attempts = 0;
    {
        dal_retry_policy dflt = {0, 0, 0, 0, 0};

        CK_ERR(db, dal_tx_run(db, 0, txr_fn, &t, &dflt), DAL_E_BUSY,
               "55P03");
        ck_assert_int_eq(t.attempts, 3);
    }
    /* A time budget shorter than the first wait: no retry. */
    t.attempts = 0;
    {
        dal_retry_policy short_budget = {10, 200, 200, 50, 1};

        CK_ERR(db, dal_tx_run(db, 0, txr_fn, &t, &short_budget),
               DAL_E_BUSY, "55P03");
        ck_assert_int_eq(t.attempts, 1);
    }
    /* Inside a transaction: once, in a savepoint, whatever the policy. */
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_txr VALUES (50)");
    t.attempts = 0;
    CK_ERR(db, dal_tx_run(db, 0, txr_fn, &t, &three), DAL_E_BUSY, "55P03");
    ck_assert_int_eq(t.attempts, 1);
    ck_assert_int_eq(dal_tx_depth(db), 1);
    t.attempts = 0;
    t.mode = 0;
    CK_OK(db, dal_tx_run(db, 0, txr_fn, &t, &three));
    ck_assert_int_eq(dal_tx_depth(db), 1);
    CK_OK(db, dal_commit(db));
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txr"), 4);
    /* Misuse. */
    CK_ERR(db, dal_tx_run(db, 0, NULL, &t, NULL), DAL_E_MISUSE, "22023");
    three.max_attempts = -1;
    CK_ERR(db, dal_tx_run(db, 0, txr_fn, &t, &three), DAL_E_MISUSE, "22023");
    ck_assert_int_eq(dal_tx_run(NULL, 0, txr_fn, &t, NULL), DAL_E_MISUSE);
    t.mode = 5;
    CK_ERR(db, dal_tx_run(db, 0, txr_fn, &t, NULL), DAL_E_MISUSE,
           "22023");
    ck_assert_ptr_nonnull(strstr(dal_errmsg(db), "ended"));
    ck_assert_int_eq(dal_tx_depth(db), 0);
}
END_TEST

/* A real retryable failure, retried to success. */
START_TEST(t_tx_run_contention)
{
    dal_retry_policy policy = {5, 1, 5, 0, 0};
    struct txr t = {0, 0, NULL, "ct_txr"};
    char url[1024];

    if (test_backend == BE_SQLITE_MEM)
        return; /* one connection: nothing can contend */
    EXEC("DROP TABLE IF EXISTS ct_txr;"
         "CREATE TABLE ct_txr (a INTEGER)");
    EXEC("INSERT INTO ct_txr VALUES (0)");
    if (test_backend == BE_SQLITE_FILE) {
        t.other = open_db(url_with(url, sizeof url, "busy_timeout=0"));
        t.mode = 3;
        CK_OK(t.other, dal_begin(t.other, DAL_TX_IMMEDIATE));
        EXEC_ON(t.other, "UPDATE ct_txr SET a = 10");
        dal_close(db);
        db = open_db(url_with(url, sizeof url, "busy_timeout=0"));
        CK_OK(db, dal_tx_run(db, 0, txr_fn, &t, &policy));
    } else {
        t.other = open_db(test_url);
        t.mode = 4;
        CK_OK(db, dal_tx_run(db, DAL_TX_SERIALIZABLE, txr_fn, &t,
                             &policy));
    }
    ck_assert_int_eq(t.attempts, 2);
    ck_assert_int_eq(qint(db, "SELECT a FROM ct_txr"), 11);
    /* Without a policy the same contention is an error. */
    t.attempts = 0;
    if (test_backend == BE_SQLITE_FILE) {
        CK_OK(t.other, dal_begin(t.other, DAL_TX_IMMEDIATE));
        CK_ERR(db, dal_tx_run(db, 0, txr_fn, &t, NULL), DAL_E_BUSY,
               "55P03");
        CK_OK(t.other, dal_rollback(t.other));
    } else {
        CK_ERR(db, dal_tx_run(db, DAL_TX_SERIALIZABLE, txr_fn, &t, NULL),
               DAL_E_BUSY, "40001");
    }
    ck_assert_int_eq(t.attempts, 1);
    ck_assert_int_eq(dal_tx_depth(db), 0);
    dal_close(t.other);
}
END_TEST

/* ---- 6. transactions ------------------------------------------------ */

START_TEST(t_tx_commit)
{
    dal_db *b = NULL;

    EXEC("DROP TABLE IF EXISTS ct_txc;"
         "CREATE TABLE ct_txc (a INTEGER)");
    ck_assert_int_eq(dal_tx_depth(db), 0);
    CK_OK(db, dal_begin(db, 0));
    ck_assert_int_eq(dal_tx_depth(db), 1);
    EXEC("INSERT INTO ct_txc VALUES (1)");
    CK_OK(db, dal_commit(db));
    ck_assert_int_eq(dal_tx_depth(db), 0);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txc"), 1);
    if (test_backend == BE_SQLITE_MEM)
        return;
    /* Another connection sees committed rows only. */
    b = open_db(test_url);
    ck_assert_int_eq(qint(b, "SELECT count(*) FROM ct_txc"), 1);
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_txc VALUES (2)");
    ck_assert_int_eq(qint(b, "SELECT count(*) FROM ct_txc"), 1);
    CK_OK(db, dal_commit(db));
    ck_assert_int_eq(qint(b, "SELECT count(*) FROM ct_txc"), 2);
    dal_close(b);
}
END_TEST

START_TEST(t_tx_rollback)
{
    EXEC("DROP TABLE IF EXISTS ct_txr;"
         "CREATE TABLE ct_txr (a INTEGER)");
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_txr VALUES (1)");
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txr"), 1);
    CK_OK(db, dal_rollback(db));
    ck_assert_int_eq(dal_tx_depth(db), 0);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txr"), 0);
}
END_TEST

START_TEST(t_tx_depth)
{
    ck_assert_int_eq(dal_tx_depth(db), 0);
    CK_OK(db, dal_begin(db, 0));
    ck_assert_int_eq(dal_tx_depth(db), 1);
    CK_OK(db, dal_begin(db, 0));
    ck_assert_int_eq(dal_tx_depth(db), 2);
    CK_OK(db, dal_begin(db, 0));
    ck_assert_int_eq(dal_tx_depth(db), 3);
    CK_OK(db, dal_commit(db));
    ck_assert_int_eq(dal_tx_depth(db), 2);
    CK_OK(db, dal_rollback(db));
    ck_assert_int_eq(dal_tx_depth(db), 1);
    CK_OK(db, dal_commit(db));
    ck_assert_int_eq(dal_tx_depth(db), 0);
}
END_TEST

START_TEST(t_tx_savepoint)
{
    EXEC("DROP TABLE IF EXISTS ct_txs;"
         "CREATE TABLE ct_txs (a INTEGER)");
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_txs VALUES (1)");
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_txs VALUES (2)");
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txs"), 2);
    CK_OK(db, dal_rollback(db));
    ck_assert_int_eq(dal_tx_depth(db), 1);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txs"), 1);
    CK_OK(db, dal_commit(db));
    ck_assert_int_eq(dal_tx_depth(db), 0);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txs"), 1);
    ck_assert_int_eq(qint(db, "SELECT sum(a) FROM ct_txs"), 1);
}
END_TEST

START_TEST(t_tx_three_levels)
{
    EXEC("DROP TABLE IF EXISTS ct_tx3;"
         "CREATE TABLE ct_tx3 (a INTEGER)");
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_tx3 VALUES (1)");
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_tx3 VALUES (2)");
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_tx3 VALUES (3)");
    ck_assert_int_eq(dal_tx_depth(db), 3);
    CK_OK(db, dal_rollback(db));                /* drops 3 */
    EXEC("INSERT INTO ct_tx3 VALUES (4)");
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_tx3 VALUES (5)");
    CK_OK(db, dal_commit(db));                  /* 5 joins level 2 */
    CK_OK(db, dal_commit(db));
    CK_OK(db, dal_commit(db));
    ck_assert_int_eq(dal_tx_depth(db), 0);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_tx3"), 4);
    ck_assert_int_eq(qint(db, "SELECT sum(a) FROM ct_tx3"), 12);

    /* A rolled-back level discards what inner levels committed. */
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_tx3 VALUES (10)");
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_tx3 VALUES (20)");
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_tx3 VALUES (30)");
    CK_OK(db, dal_commit(db));
    CK_OK(db, dal_rollback(db));                /* drops 20 and 30 */
    CK_OK(db, dal_commit(db));
    ck_assert_int_eq(dal_tx_depth(db), 0);
    ck_assert_int_eq(qint(db, "SELECT sum(a) FROM ct_tx3"), 22);
}
END_TEST

START_TEST(t_tx_misuse)
{
    static const int flags[] = {
        DAL_TX_IMMEDIATE, DAL_TX_DEFERRED, DAL_TX_EXCLUSIVE,
        DAL_TX_READ_ONLY, DAL_TX_SERIALIZABLE, DAL_TX_READ_COMMITTED,
        DAL_TX_REPEATABLE_READ,
    };
    size_t i;

    EXEC("DROP TABLE IF EXISTS ct_txm;"
         "CREATE TABLE ct_txm (a INTEGER)");
    /* No transaction: a call out of sequence, so 25P01 (no active SQL
     * transaction) fits as well as 22023. */
    CK_ERR(db, dal_commit(db), DAL_E_MISUSE, ST_NO_TX);
    CK_ERR(db, dal_rollback(db), DAL_E_MISUSE, ST_NO_TX);
    ck_assert_int_eq(dal_tx_depth(db), 0);
    CK_OK(db, dal_begin(db, 0));
    for (i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        CK_ERR(db, dal_begin(db, flags[i]), DAL_E_MISUSE, ST_MISUSE);
        ck_assert_int_eq(dal_tx_depth(db), 1);
    }
    /* The transaction is still good. */
    EXEC("INSERT INTO ct_txm VALUES (1)");
    CK_OK(db, dal_commit(db));
    ck_assert_int_eq(dal_tx_depth(db), 0);
    CK_ERR(db, dal_commit(db), DAL_E_MISUSE, ST_NO_TX);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txm"), 1);
}
END_TEST

START_TEST(t_tx_read_only)
{
    dal_value p = DAL_V_INT64(5);

    EXEC("DROP TABLE IF EXISTS ct_txro;"
         "CREATE TABLE ct_txro (a INTEGER);"
         "INSERT INTO ct_txro VALUES (1)");
    CK_OK(db, dal_begin(db, DAL_TX_READ_ONLY));
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txro"), 1);
    CK_ERR(db, dal_exec(db, "INSERT INTO ct_txro VALUES (2)"),
           DAL_E_READONLY, "25006");
    CK_OK(db, dal_rollback(db));
    ck_assert_int_eq(dal_tx_depth(db), 0);
    EXEC("INSERT INTO ct_txro VALUES (3)");
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txro"), 2);

    /* Through a prepared (cached) statement as well. */
    CK_OK(db, dal_begin(db, DAL_TX_READ_ONLY));
    CK_ERR(db, dal_exec_params(db, "INSERT INTO ct_txro VALUES (?)", &p, 1),
           DAL_E_READONLY, "25006");
    CK_OK(db, dal_rollback(db));
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_txro VALUES (?)", &p, 1));

    /* A committed read-only transaction leaves writes allowed too. */
    CK_OK(db, dal_begin(db, DAL_TX_READ_ONLY));
    CK_OK(db, dal_commit(db));
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_txro VALUES (4)");
    CK_OK(db, dal_commit(db));
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txro"), 4);
}
END_TEST

START_TEST(t_tx_isolation)
{
    static const struct { int flags; const char *pg; } lv[] = {
        {DAL_TX_SERIALIZABLE, "serializable"},
        {DAL_TX_REPEATABLE_READ, "repeatable read"},
        {DAL_TX_READ_COMMITTED, "read committed"},
        {DAL_TX_DEFERRED, NULL},
        {DAL_TX_IMMEDIATE, NULL},
        {DAL_TX_EXCLUSIVE, NULL},
        {DAL_TX_IMMEDIATE | DAL_TX_SERIALIZABLE, "serializable"},
    };
    size_t i;

    EXEC("DROP TABLE IF EXISTS ct_txi;"
         "CREATE TABLE ct_txi (a INTEGER)");
    for (i = 0; i < sizeof lv / sizeof lv[0]; i++) {
        CK_OK(db, dal_begin(db, lv[i].flags));
        ck_assert_int_eq(dal_tx_depth(db), 1);
        if (!is_sqlite() && lv[i].pg != NULL)
            ck_assert_str_eq(
                qtext(db, "SELECT current_setting('transaction_isolation')"),
                lv[i].pg);
        EXEC("INSERT INTO ct_txi VALUES (1)");
        CK_OK(db, dal_commit(db));
    }
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txi"),
                     (int64_t)(sizeof lv / sizeof lv[0]));
    CK_OK(db, dal_begin(db, DAL_TX_READ_COMMITTED | DAL_TX_READ_ONLY));
    if (!is_sqlite())
        ck_assert_str_eq(
            qtext(db, "SELECT current_setting('transaction_read_only')"),
            "on");
    CK_OK(db, dal_commit(db));
}
END_TEST

START_TEST(t_tx_recovery)
{
    EXEC("DROP TABLE IF EXISTS ct_txrec;"
         "CREATE TABLE ct_txrec (id INTEGER PRIMARY KEY)");
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_txrec VALUES (1)");
    CK_OK(db, dal_begin(db, 0));
    CK_ERR(db, dal_exec(db, "INSERT INTO ct_txrec VALUES (1)"),
           DAL_E_CONSTRAINT, "23505");
    CK_OK(db, dal_rollback(db));
    ck_assert_int_eq(dal_tx_depth(db), 1);
    EXEC("INSERT INTO ct_txrec VALUES (2)");
    CK_OK(db, dal_commit(db));
    ck_assert_int_eq(dal_tx_depth(db), 0);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txrec"), 2);
    ck_assert_int_eq(qint(db, "SELECT sum(id) FROM ct_txrec"), 3);
}
END_TEST

/*
 * The documented difference: a failed statement aborts a PostgreSQL
 * transaction (every statement then fails with 25P02 until rollback),
 * while SQLite carries on. Portable code wraps a statement that may fail
 * in a nested dal_begin(), as t_tx_recovery does.
 */
START_TEST(t_tx_failed_statement)
{
    int64_t out = 77;

    EXEC("DROP TABLE IF EXISTS ct_txf;"
         "CREATE TABLE ct_txf (id INTEGER PRIMARY KEY)");
    CK_OK(db, dal_begin(db, 0));
    EXEC("INSERT INTO ct_txf VALUES (1)");
    CK_ERR(db, dal_exec(db, "INSERT INTO ct_txf VALUES (1)"),
           DAL_E_CONSTRAINT, "23505");
    if (is_sqlite()) {
        EXEC("INSERT INTO ct_txf VALUES (2)");
        CK_OK(db, dal_commit(db));
        ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txf"), 2);
        return;
    }
    CK_ERR(db, dal_exec(db, "INSERT INTO ct_txf VALUES (2)"), DAL_E_TX,
           "25P02");
    CK_ERR(db, dal_query_int64(db, "SELECT count(*) FROM ct_txf", NULL, 0,
                               &out),
           DAL_E_TX, "25P02");
    ck_assert_int_eq(dal_tx_depth(db), 1);
    CK_OK(db, dal_rollback(db));
    ck_assert_int_eq(dal_tx_depth(db), 0);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_txf"), 0);
}
END_TEST

/* ---- 7. changes and generated ids ----------------------------------- */

START_TEST(t_changes)
{
    dal_value p = DAL_V_INT64(3);
    dal_stmt *st = NULL;
    int i;

    EXEC("DROP TABLE IF EXISTS ct_chg;"
         "CREATE TABLE ct_chg (k INTEGER, v INTEGER)");
    for (i = 1; i <= 5; i++) {
        dal_value row[2] = {DAL_V_INT64(i), DAL_V_INT64(0)};

        CK_OK(db, dal_exec_params(db, "INSERT INTO ct_chg VALUES (?, ?)",
                                  row, 2));
        ck_assert_int_eq(dal_changes(db), 1);
    }
    CK_OK(db, dal_exec_params(db, "UPDATE ct_chg SET v = v + 1 WHERE k <= ?",
                              &p, 1));
    ck_assert_int_eq(dal_changes(db), 3);
    EXEC("DELETE FROM ct_chg WHERE k > 3");
    ck_assert_int_eq(dal_changes(db), 2);
    PREP(st, "UPDATE ct_chg SET v = 9 WHERE k = ?");
    CK_OK(db, dal_bind_int64(st, 1, 1));
    CK_RC(db, dal_step(st), DAL_DONE);
    ck_assert_int_eq(dal_changes(db), 1);
    dal_finalize(st);
    EXEC("UPDATE ct_chg SET v = 0 WHERE k > 100");
    ck_assert_int_eq(dal_changes(db), 0);
    EXEC("INSERT INTO ct_chg VALUES (7, 7), (8, 8)");
    ck_assert_int_eq(dal_changes(db), 2);
}
END_TEST

START_TEST(t_last_insert_id)
{
    dal_value name = DAL_V_TEXT("a");
    dal_stmt *st = NULL;
    int64_t id = -1;

    DDL("DROP TABLE IF EXISTS ct_auto;"
        "CREATE TABLE ct_auto (id INTEGER PRIMARY KEY, name TEXT)",
        "DROP TABLE IF EXISTS ct_auto;"
        "CREATE TABLE ct_auto (id BIGSERIAL PRIMARY KEY, name TEXT)");
    /* No id yet in this session. */
    if (is_sqlite()) {
        CK_OK(db, dal_last_insert_id(db, &id));
        ck_assert_int_eq(id, 0);
    } else {
        CK_ERR(db, dal_last_insert_id(db, &id), DAL_E_TX, "55000");
    }
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_auto (name) VALUES (?)",
                              &name, 1));
    CK_OK(db, dal_last_insert_id(db, &id));
    ck_assert_int_eq(id, 1);
    PREP(st, "INSERT INTO ct_auto (name) VALUES ('b')");
    CK_RC(db, dal_step(st), DAL_DONE);
    dal_finalize(st);
    CK_OK(db, dal_last_insert_id(db, &id));
    ck_assert_int_eq(id, 2);
    ck_assert_int_eq(qint(db, "INSERT INTO ct_auto (name) VALUES ('c')"
                              " RETURNING id"), 3);
}
END_TEST

/* ---- 8. one-shot helpers -------------------------------------------- */

START_TEST(t_query_helpers)
{
    static const unsigned char blob[] = {0x00, 0x01, 0xff};
    const char *base = "SELECT %s FROM ct_q WHERE k = ?";
    dal_value row[5], k1 = DAL_V_INT64(1), k2 = DAL_V_INT64(2);
    dal_value k3 = DAL_V_INT64(3), v;
    char sql[128], *s;
    int64_t i64;
    double d;
    size_t len;

    DDL("DROP TABLE IF EXISTS ct_q;"
        "CREATE TABLE ct_q (k INTEGER, i BIGINT, d REAL, t TEXT, b BLOB)",
        "DROP TABLE IF EXISTS ct_q;"
        "CREATE TABLE ct_q (k INTEGER, i BIGINT, d DOUBLE PRECISION,"
        " t TEXT, b BYTEA)");
    row[0] = DAL_V_INT64(1);
    row[1] = DAL_V_INT64(42);
    row[2] = DAL_V_DOUBLE(2.5);
    row[3] = DAL_V_TEXT("hello");
    row[4] = DAL_V_BLOB(blob, sizeof blob);
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_q VALUES (?, ?, ?, ?, ?)",
                              row, 5));
    row[0] = DAL_V_INT64(2);
    row[1] = row[2] = row[3] = row[4] = DAL_V_NULL;
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_q VALUES (?, ?, ?, ?, ?)",
                              row, 5));

    snprintf(sql, sizeof sql, base, "i");
    i64 = 0;
    CK_OK(db, dal_query_int64(db, sql, &k1, 1, &i64));
    ck_assert_int_eq(i64, 42);
    i64 = 5;
    CK_OK(db, dal_query_int64(db, sql, &k2, 1, &i64));   /* NULL: 0 */
    ck_assert_int_eq(i64, 0);
    i64 = 777;
    CK_RC(db, dal_query_int64(db, sql, &k3, 1, &i64), DAL_DONE);
    ck_assert_int_eq(i64, 777);

    snprintf(sql, sizeof sql, base, "d");
    d = 0;
    CK_OK(db, dal_query_double(db, sql, &k1, 1, &d));
    ck_assert_msg(d == 2.5, "%.17g", d);
    d = 5;
    CK_OK(db, dal_query_double(db, sql, &k2, 1, &d));
    ck_assert_msg(d == 0.0, "%.17g", d);
    d = 777;
    CK_RC(db, dal_query_double(db, sql, &k3, 1, &d), DAL_DONE);
    ck_assert_msg(d == 777, "%.17g", d);

    snprintf(sql, sizeof sql, base, "t");
    s = NULL;
    len = 0;
    CK_OK(db, dal_query_text(db, sql, &k1, 1, &s, &len));
    ck_assert_str_eq(S(s), "hello");
    ck_assert_uint_eq(len, 5);
    dal_free(s);
    s = NULL;
    CK_OK(db, dal_query_text(db, sql, &k1, 1, &s, NULL));
    ck_assert_str_eq(S(s), "hello");
    dal_free(s);
    s = (char *)"sentinel";
    CK_OK(db, dal_query_text(db, sql, &k2, 1, &s, NULL));
    ck_assert_ptr_null(s);
    s = (char *)"sentinel";
    CK_RC(db, dal_query_text(db, sql, &k3, 1, &s, &len), DAL_DONE);
    ck_assert_ptr_null(s);

    v = DAL_V_INT64(7);
    CK_OK(db, dal_query_value(db, sql, &k1, 1, &v));
    ck_assert_int_eq(v.type, DAL_TYPE_TEXT);
    ck_assert_uint_eq(v.u.s.len, 5);
    /* The value is a copy: it outlives the statement and later calls. */
    ck_assert_int_eq(qint(db, "SELECT 1"), 1);
    ck_assert_str_eq(v.u.s.p, "hello");
    dal_value_clear(&v);
    ck_assert_int_eq(v.type, DAL_TYPE_NULL);
    v = DAL_V_INT64(7);
    CK_OK(db, dal_query_value(db, sql, &k2, 1, &v));
    ck_assert_int_eq(v.type, DAL_TYPE_NULL);
    v = DAL_V_INT64(7);
    CK_RC(db, dal_query_value(db, sql, &k3, 1, &v), DAL_DONE);
    ck_assert_int_eq(v.type, DAL_TYPE_NULL);

    snprintf(sql, sizeof sql, base, "b");
    CK_OK(db, dal_query_value(db, sql, &k1, 1, &v));
    ck_assert_int_eq(v.type, DAL_TYPE_BLOB);
    ck_assert_uint_eq(v.u.s.len, sizeof blob);
    ck_assert_msg(memcmp(v.u.s.p, blob, sizeof blob) == 0, "blob differs");
    dal_value_clear(&v);
    ck_assert_int_eq(v.type, DAL_TYPE_NULL);
    dal_value_clear(&v);                        /* twice is harmless */

    snprintf(sql, sizeof sql, base, "i");
    CK_OK(db, dal_query_value(db, sql, &k1, 1, &v));
    ck_assert_int_eq(v.type, DAL_TYPE_INT64);
    ck_assert_int_eq(v.u.i, 42);
    snprintf(sql, sizeof sql, base, "d");
    CK_OK(db, dal_query_value(db, sql, &k1, 1, &v));
    ck_assert_int_eq(v.type, DAL_TYPE_DOUBLE);
    ck_assert_msg(v.u.d == 2.5, "%.17g", v.u.d);
}
END_TEST

START_TEST(t_query_nparams)
{
    dal_value p[3] = {DAL_V_INT64(1), DAL_V_INT64(2), DAL_V_INT64(3)};
    int64_t out = 5;

    EXEC("DROP TABLE IF EXISTS ct_np;"
         "CREATE TABLE ct_np (a INTEGER, b INTEGER)");
    CK_ERR(db, dal_exec_params(db, "INSERT INTO ct_np VALUES (?, ?)", p, 1),
           DAL_E_RANGE, ST_RANGE);
    CK_ERR(db, dal_exec_params(db, "INSERT INTO ct_np VALUES (?, ?)", p, 3),
           DAL_E_RANGE, ST_RANGE);
    CK_ERR(db, dal_exec_params(db, "INSERT INTO ct_np VALUES ($1, $2)", p,
                               0),
           DAL_E_RANGE, ST_RANGE);
    CK_ERR(db, dal_query_int64(db, "SELECT 1", p, 1, &out), DAL_E_RANGE,
           ST_RANGE);
    CK_ERR(db, dal_query_int64(db, "SELECT a FROM ct_np WHERE a = :a", p, 2,
                               &out),
           DAL_E_RANGE, ST_RANGE);
    ck_assert_int_eq(out, 5);
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_np"), 0);
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_np VALUES (?, ?)", p, 2));
    CK_OK(db, dal_exec_params(db, "INSERT INTO ct_np VALUES (5, 6)", NULL,
                              0));
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_np"), 2);
}
END_TEST

/* ---- 9. statement cache --------------------------------------------- */

START_TEST(t_cache_repeat)
{
    const char *ins = "INSERT INTO ct_rep (k, v) VALUES (?, ?)";
    const char *sel = "SELECT v FROM ct_rep WHERE k = ?";
    int64_t i;

    EXEC("DROP TABLE IF EXISTS ct_rep;"
         "CREATE TABLE ct_rep (k INTEGER, v BIGINT)");
    CK_OK(db, dal_begin(db, 0));
    for (i = 0; i < 1000; i++) {
        dal_value p[2] = {DAL_V_INT64(i), DAL_V_INT64(i * 3)};

        CK_OK(db, dal_exec_params(db, ins, p, 2));
    }
    CK_OK(db, dal_commit(db));
    for (i = 0; i < 1000; i++) {
        dal_value p = DAL_V_INT64(i);

        ck_assert_int_eq(qint_p(db, sel, &p, 1), i * 3);
    }
    ck_assert_int_eq(qint(db, "SELECT count(*) FROM ct_rep"), 1000);
    ck_assert_int_eq(qint(db, "SELECT sum(v) FROM ct_rep"), 1498500);
}
END_TEST

/* Prepared statements of h's session whose text contains marker. */
static int64_t n_prepared(dal_db *h, const char *marker)
{
    dal_value p = DAL_V_TEXT(marker);

    return qint_p(h, "SELECT count(*) FROM pg_prepared_statements"
                     " WHERE strpos(statement, $1) > 0", &p, 1);
}

START_TEST(t_cache_pg_prepared)
{
    static const char *const lru[] = {
        "SELECT CAST($1 AS BIGINT) + 1 /* ct_mark_lru_1 */",
        "SELECT CAST($1 AS BIGINT) + 2 /* ct_mark_lru_2 */",
        "SELECT CAST($1 AS BIGINT) + 3 /* ct_mark_lru_3 */",
    };
    char url[1024];
    dal_db *h;
    int64_t n;
    int i, j;

    /* pg_prepared_statements exists on PostgreSQL only. */
    if (is_sqlite())
        return;
    for (i = 0; i < 10; i++) {
        dal_value p = DAL_V_INT64(i);

        CK_OK(db, dal_exec_params(db, "SELECT CAST($1 AS BIGINT)"
                                      " /* ct_mark_ten */", &p, 1));
    }
    ck_assert_int_eq(n_prepared(db, "ct_mark_ten"), 1);

    h = open_db(url_with(url, sizeof url, "statement_cache=0"));
    for (i = 0; i < 10; i++) {
        dal_value p = DAL_V_INT64(i);

        ck_assert_int_eq(qint_p(h, "SELECT CAST($1 AS BIGINT)"
                                   " /* ct_mark_zero */", &p, 1), i);
    }
    ck_assert_int_eq(n_prepared(h, "ct_mark_zero"), 0);
    dal_close(h);

    h = open_db(url_with(url, sizeof url, "statement_cache=2"));
    for (j = 0; j < 2; j++) {
        for (i = 0; i < 3; i++) {
            dal_value p = DAL_V_INT64(10 * i);

            ck_assert_int_eq(qint_p(h, lru[i], &p, 1), 11 * i + 1);
        }
    }
    n = n_prepared(h, "ct_mark_lru");
    ck_assert_msg(n >= 1 && n <= 2, "%" PRId64 " statements prepared", n);
    dal_close(h);
}
END_TEST

START_TEST(t_cache_stale_plan)
{
    dal_value one = DAL_V_INT64(1), v = DAL_V_NULL;
    dal_stmt *st = NULL;

    EXEC("DROP TABLE IF EXISTS ct_stale;"
         "CREATE TABLE ct_stale (a INTEGER);"
         "INSERT INTO ct_stale VALUES (1)");
    CK_OK(db, dal_exec_params(db, "SELECT * FROM ct_stale", NULL, 0));
    CK_OK(db, dal_query_value(db, "SELECT * FROM ct_stale WHERE a = ?", &one,
                              1, &v));
    ck_assert_int_eq(v.type, DAL_TYPE_INT64);
    EXEC("ALTER TABLE ct_stale ADD COLUMN c INTEGER");
    CK_OK(db, dal_exec_params(db, "SELECT * FROM ct_stale", NULL, 0));
    v = DAL_V_NULL;
    CK_OK(db, dal_query_value(db, "SELECT * FROM ct_stale WHERE a = ?", &one,
                              1, &v));
    ck_assert_int_eq(v.type, DAL_TYPE_INT64);
    ck_assert_int_eq(v.u.i, 1);
    PREP(st, "SELECT * FROM ct_stale");
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_count(st), 2);
    dal_finalize(st);
}
END_TEST

/* ---- 10. bad input -------------------------------------------------- */

START_TEST(t_bad_open)
{
    dal_db *h = (dal_db *)&h;

    ck_assert_int_eq(dal_open(NULL, &h), DAL_E_MISUSE);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(dal_open("sqlite::memory:", NULL), DAL_E_MISUSE);
}
END_TEST

START_TEST(t_bad_urls)
{
    static const struct { const char *url, *says[2]; } bad[] = {
        {"nosuch://x", {"sqlite", "postgres"}},
        {"", {NULL, NULL}},
        {"sqlite::memory:?nosuch=1", {"nosuch", NULL}},
        {"sqlite::memory:?busy_timeout=abc", {"busy_timeout", NULL}},
        {"sqlite::memory:?statement_cache=-1", {"statement_cache", NULL}},
        {"sqlite::memory:?statement_cache=x", {"statement_cache", NULL}},
        {"sqlite::memory:?mode=bogus", {"mode", NULL}},
        {"sqlite::memory:?journal=bogus", {"journal", NULL}},
        {"sqlite::memory:?foreign_keys=maybe", {"foreign_keys", NULL}},
        {"postgres://u:topsecret@127.0.0.1:notaport/db", {"port", NULL}},
        {"postgres://u:topsecret@127.0.0.1:1/db?statement_cache=x",
         {"statement_cache", NULL}},
        {"postgresql://u:topsecret@127.0.0.1:1/db?nosuch_opt=1",
         {"nosuch_opt", NULL}},
    };
    size_t i, j;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dal_db *h = NULL;
        int rc = dal_open(bad[i].url, &h);
        const char *why, *msg;

        ck_assert_msg(h != NULL, "%s: no handle", bad[i].url);
        why = err_mismatch(h, rc, DAL_E_URL, ST_URL);
        ck_assert_msg(why == NULL, "dal_open(\"%s\"): %s", bad[i].url, why);
        msg = dal_errmsg(h);
        for (j = 0; j < 2; j++)
            ck_assert_msg(bad[i].says[j] == NULL ||
                          strstr(msg, bad[i].says[j]) != NULL,
                          "dal_open(\"%s\"): message does not name %s: %s",
                          bad[i].url, bad[i].says[j], msg);
        ck_assert_msg(strstr(msg, "topsecret") == NULL,
                      "dal_open(\"%s\"): message shows the password: %s",
                      bad[i].url, msg);
        dal_close(h);
    }
}
END_TEST

START_TEST(t_bad_connect)
{
    char url[256];
    dal_db *h = NULL;
    int rc;

    /* Nothing listens on port 1: no server needed, so every suite runs it. */
    rc = dal_open("postgres://postgres:topsecret@127.0.0.1:1/x", &h);
    ck_assert_ptr_nonnull(h);
    CK_ERR(h, rc, DAL_E_CONNECT, "08001");
    ck_assert_msg(strstr(dal_errmsg(h), "topsecret") == NULL,
                  "message shows the password: %s", dal_errmsg(h));
    ck_assert_int_eq(dal_errnative(h), -1);
    dal_close(h);

    h = NULL;
    rc = dal_open("sqlite:///nonexistent-dal-contract-dir/x.db", &h);
    ck_assert_ptr_nonnull(h);
    CK_ERR(h, rc, DAL_E_CONNECT, "08001");
    dal_close(h);

    snprintf(url, sizeof url,
             "sqlite:///tmp/dal-contract-%ld-missing.db?mode=ro", main_pid);
    h = NULL;
    rc = dal_open(url, &h);
    ck_assert_ptr_nonnull(h);
    CK_ERR(h, rc, DAL_E_CONNECT, "08001");
    dal_close(h);
}
END_TEST

START_TEST(t_bad_null_handles)
{
    dal_value v = DAL_V_NULL;

    dal_close(NULL);
    dal_finalize(NULL);
    dal_value_clear(NULL);
    dal_value_clear(&v);
    dal_free(NULL);
    ck_assert_ptr_null(dal_backend(NULL));
    ck_assert_int_eq(dal_errcode(NULL), DAL_NOMEM);
    ck_assert_str_eq(S(dal_backend(db)),
                     test_backend == BE_POSTGRES ? "postgres" : "sqlite");
    ck_assert_str_eq(S(dal_version()), DAL_VERSION_STRING);
    ck_assert_int_eq(dal_version_num(), DAL_VERSION_NUM);
}
END_TEST

START_TEST(t_bad_bind)
{
    dal_value bad, v = DAL_V_INT64(1);
    dal_stmt *st = NULL;

    memset(&bad, 0, sizeof bad);
    bad.type = (dal_type)42;
    PREP(st, "SELECT CAST(? AS BIGINT) + CAST(? AS BIGINT)");
    CK_ERR(db, dal_bind_int64(st, 0, 1), DAL_E_RANGE, ST_RANGE);
    CK_ERR(db, dal_bind_int64(st, 3, 1), DAL_E_RANGE, ST_RANGE);
    CK_ERR(db, dal_bind_int64(st, -1, 1), DAL_E_RANGE, ST_RANGE);
    CK_ERR(db, dal_bind_null(st, 3), DAL_E_RANGE, ST_RANGE);
    CK_ERR(db, dal_bind_text(st, 0, "x", 1, DAL_STATIC), DAL_E_RANGE,
           ST_RANGE);
    CK_ERR(db, dal_bind_blob(st, 3, "x", 1, DAL_STATIC), DAL_E_RANGE,
           ST_RANGE);
    CK_ERR(db, dal_bind_value(st, 3, &v), DAL_E_RANGE, ST_RANGE);
    CK_ERR(db, dal_bind_named(st, "nosuch", &v), DAL_E_RANGE, "42P02");
    CK_ERR(db, dal_bind_value(st, 1, &bad), DAL_E_MISUSE, ST_MISUSE);
    CK_ERR(db, dal_bind_text(st, 1, "x", 1, 7), DAL_E_MISUSE, ST_MISUSE);
    CK_ERR(db, dal_bind_blob(st, 1, "x", 1, 7), DAL_E_MISUSE, ST_MISUSE);
    /* The statement is still usable. */
    CK_OK(db, dal_bind_int64(st, 1, 40));
    CK_OK(db, dal_bind_int64(st, 2, 2));
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_int64(st, 0), 42);
    dal_finalize(st);

    PREP(st, "SELECT CAST(:a AS BIGINT)");
    ck_assert_int_eq(dal_bind_param_index(st, "b"), 0);
    CK_ERR(db, dal_bind_named(st, "b", &v), DAL_E_RANGE, "42P02");
    CK_ERR(db, dal_bind_named(st, ":b", &v), DAL_E_RANGE, "42P02");
    CK_ERR(db, dal_bind_int64(st, 2, 1), DAL_E_RANGE, ST_RANGE);
    dal_finalize(st);
}
END_TEST

START_TEST(t_bad_columns)
{
    dal_stmt *st = NULL;
    size_t len = 5;

    PREP(st, "SELECT 1 AS a");
    /* No current row before the first step. */
    ck_assert_int_eq(dal_column_int64(st, 0), 0);
    CK_LAST(db, DAL_E_MISUSE, ST_MISUSE);
    ck_assert_ptr_null(dal_column_text(st, 0, &len));
    CK_LAST(db, DAL_E_MISUSE, ST_MISUSE);
    ck_assert_ptr_null(dal_column_blob(st, 0, NULL));
    CK_LAST(db, DAL_E_MISUSE, ST_MISUSE);

    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_int64(st, 1), 0);
    CK_LAST(db, DAL_E_RANGE, ST_RANGE);
    ck_assert_int_eq(dal_column_int64(st, 0), 1);
    ck_assert_ptr_null(dal_column_text(st, -1, NULL));
    CK_LAST(db, DAL_E_RANGE, ST_RANGE);
    ck_assert_ptr_null(dal_column_blob(st, 1, NULL));
    CK_LAST(db, DAL_E_RANGE, ST_RANGE);
    ck_assert_msg(dal_column_double(st, 2) == 0.0, "double out of range");
    CK_LAST(db, DAL_E_RANGE, ST_RANGE);
    ck_assert_int_eq(dal_column_type(st, 5), DAL_TYPE_NULL);
    CK_LAST(db, DAL_E_RANGE, ST_RANGE);
    ck_assert_ptr_null(dal_column_name(st, 5));
    CK_LAST(db, DAL_E_RANGE, ST_RANGE);
    ck_assert_ptr_null(dal_column_decltype(st, -1));
    CK_LAST(db, DAL_E_RANGE, ST_RANGE);

    /* No current row after DAL_DONE either. */
    CK_RC(db, dal_step(st), DAL_DONE);
    ck_assert_int_eq(dal_column_int64(st, 0), 0);
    CK_LAST(db, DAL_E_MISUSE, ST_MISUSE);
    dal_finalize(st);
}
END_TEST

START_TEST(t_bad_arguments)
{
    dal_stmt *st = (dal_stmt *)&st;
    int64_t out = 0;

    CK_ERR(db, dal_prepare(db, "SELEC 1", &st), DAL_E_SYNTAX, "42601");
    ck_assert_ptr_null(st);
    st = (dal_stmt *)&st;
    CK_ERR(db, dal_prepare(db, NULL, &st), DAL_E_MISUSE, ST_MISUSE);
    ck_assert_ptr_null(st);
    CK_ERR(db, dal_prepare(db, "SELECT 1", NULL), DAL_E_MISUSE, ST_MISUSE);
    CK_ERR(db, dal_exec(db, NULL), DAL_E_MISUSE, ST_MISUSE);
    CK_ERR(db, dal_exec_params(db, NULL, NULL, 0), DAL_E_MISUSE, ST_MISUSE);
    CK_ERR(db, dal_query_int64(db, "SELECT 1", NULL, 0, NULL), DAL_E_MISUSE,
           ST_MISUSE);
    ck_assert_int_eq(dal_exec(NULL, "SELECT 1"), DAL_E_MISUSE);
    ck_assert_int_eq(dal_query_int64(NULL, "SELECT 1", NULL, 0, &out),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_begin(NULL, 0), DAL_E_MISUSE);
    ck_assert_int_eq(qint(db, "SELECT 1"), 1);
}
END_TEST

/* Counts the blocks libdal holds through dal_set_allocator(). */
static long live_blocks;

static void *cnt_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p)
        live_blocks++;
    return p;
}

static void *cnt_realloc(void *p, size_t n)
{
    if (p == NULL)
        return cnt_malloc(n);
    return realloc(p, n ? n : 1);
}

static void cnt_free(void *p)
{
    if (p)
        live_blocks--;
    free(p);
}

START_TEST(t_zombie_statement)
{
    dal_stmt *st1 = NULL, *st2 = NULL;
    dal_db *h;
    long base;

    /* The allocator may change only while no handle is open. */
    dal_close(db);
    db = NULL;
    ck_assert_int_eq(dal_set_allocator(cnt_malloc, NULL, NULL),
                     DAL_E_MISUSE);
    ck_assert_int_eq(dal_set_allocator(cnt_malloc, cnt_realloc, cnt_free),
                     DAL_OK);

    /* A first round, so that state set up once is not counted. */
    h = open_db(test_url);
    PREP_ON(h, st1, "SELECT 1");
    CK_RC(h, dal_step(st1), DAL_ROW);
    dal_finalize(st1);
    dal_close(h);
    base = live_blocks;

    h = open_db(test_url);
    ck_assert_msg(live_blocks > base, "the allocator is not used");
    PREP_ON(h, st1, "SELECT 1 AS one");
    PREP_ON(h, st2, "SELECT 2 AS two");
    CK_RC(h, dal_step(st1), DAL_ROW);
    dal_close(h);               /* st1 and st2 keep the connection alive */
    ck_assert_ptr_eq(dal_stmt_db(st2), h);
    dal_finalize(st1);
    dal_finalize(st2);          /* the last one closes it */
    ck_assert_msg(live_blocks == base, "%ld blocks leaked",
                  live_blocks - base);
    ck_assert_int_eq(dal_set_allocator(NULL, NULL, NULL), DAL_OK);
}
END_TEST

/* ---- 11. reading a statement again ---------------------------------- */

/* Steps st to DAL_DONE; returns column 0 of every row, concatenated. */
static const char *read_all(dal_stmt *st)
{
    static char buf[64];
    size_t n = 0;
    int rc;

    while ((rc = dal_step(st)) == DAL_ROW) {
        const char *t = dal_column_text(st, 0, NULL);

        if (t != NULL && n + strlen(t) < sizeof buf) {
            memcpy(buf + n, t, strlen(t));
            n += strlen(t);
        }
    }
    buf[n] = '\0';
    ck_assert_msg(rc == DAL_DONE, "dal_step -> %d: %s", rc,
                  S(dal_errmsg(dal_stmt_db(st))));
    return buf;
}

START_TEST(t_reset_reread)
{
    dal_stmt *st = NULL;

    EXEC("DROP TABLE IF EXISTS ct_rr;"
         "CREATE TABLE ct_rr (k INTEGER, v TEXT);"
         "INSERT INTO ct_rr VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    PREP(st, "SELECT v FROM ct_rr WHERE k >= ? ORDER BY k");
    CK_OK(db, dal_bind_int64(st, 1, 1));
    ck_assert_str_eq(read_all(st), "abc");
    CK_OK(db, dal_reset(st));
    ck_assert_str_eq(read_all(st), "abc");     /* bindings survive reset */
    CK_OK(db, dal_reset(st));
    CK_OK(db, dal_bind_int64(st, 1, 2));
    ck_assert_str_eq(read_all(st), "bc");
    CK_OK(db, dal_reset(st));
    CK_OK(db, dal_clear_bindings(st));         /* k >= NULL: no rows */
    ck_assert_str_eq(read_all(st), "");
    CK_OK(db, dal_reset(st));

    /* Binding while rows are being read resets the statement first. */
    CK_OK(db, dal_bind_int64(st, 1, 1));
    CK_RC(db, dal_step(st), DAL_ROW);
    CK_TEXT(st, 0, "a");
    CK_OK(db, dal_bind_int64(st, 1, 3));
    ck_assert_str_eq(read_all(st), "c");
    dal_finalize(st);

    PREP(st, "SELECT CAST(? AS BIGINT)");
    CK_OK(db, dal_bind_int64(st, 1, 5));
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_eq(dal_column_int64(st, 0), 5);
    CK_OK(db, dal_reset(st));
    CK_OK(db, dal_clear_bindings(st));
    CK_RC(db, dal_step(st), DAL_ROW);
    ck_assert_int_ne(dal_column_is_null(st, 0), 0);
    dal_finalize(st);
}
END_TEST

/* ---- suites --------------------------------------------------------- */

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return tc;
}

static Suite *contract_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc;

    tc = tcase(s, "types");
    tcase_add_test(tc, t_int64_roundtrip);
    tcase_add_test(tc, t_double_roundtrip);
    tcase_add_test(tc, t_text_roundtrip);
    tcase_add_test(tc, t_empty_vs_null);
    tcase_add_test(tc, t_blob_roundtrip);
    tcase_add_test(tc, t_blob_16mib);
    tcase_add_test(tc, t_bool_roundtrip);

    tc = tcase(s, "columns");
    tcase_add_test(tc, t_column_names);
    tcase_add_test(tc, t_column_types);
    tcase_add_test(tc, t_column_decltype);

    tc = tcase(s, "placeholders");
    tcase_add_test(tc, t_ph_question);
    tcase_add_test(tc, t_ph_dollar);
    tcase_add_test(tc, t_ph_named);
    tcase_add_test(tc, t_ph_lexer);
    tcase_add_test(tc, t_ph_misuse);
    tcase_add_test(tc, t_ph_trailing_semicolon);
    tcase_add_test(tc, t_exec_script);
    tcase_add_test(tc, t_exec_routine_body);

    tc = tcase(s, "errors");
    tcase_add_test(tc, t_err_unique);
    tcase_add_test(tc, t_err_not_null);
    tcase_add_test(tc, t_err_foreign_key);
    tcase_add_test(tc, t_err_check);
    tcase_add_test(tc, t_err_syntax);
    tcase_add_test(tc, t_err_unknown_names);
    tcase_add_test(tc, t_err_wrong_type);
    tcase_add_test(tc, t_err_bad_text);
    tcase_add_test(tc, t_err_codes);

    tc = tcase(s, "busy");
    tcase_add_test(tc, t_busy_lock);
    tcase_add_test(tc, t_busy_serialization);
    tcase_add_test(tc, t_tx_run);
    tcase_add_test(tc, t_tx_run_contention);

    tc = tcase(s, "tx");
    tcase_add_test(tc, t_tx_commit);
    tcase_add_test(tc, t_tx_rollback);
    tcase_add_test(tc, t_tx_depth);
    tcase_add_test(tc, t_tx_savepoint);
    tcase_add_test(tc, t_tx_three_levels);
    tcase_add_test(tc, t_tx_misuse);
    tcase_add_test(tc, t_tx_read_only);
    tcase_add_test(tc, t_tx_isolation);
    tcase_add_test(tc, t_tx_recovery);
    tcase_add_test(tc, t_tx_failed_statement);

    tc = tcase(s, "changes");
    tcase_add_test(tc, t_changes);
    tcase_add_test(tc, t_last_insert_id);

    tc = tcase(s, "oneshot");
    tcase_add_test(tc, t_query_helpers);
    tcase_add_test(tc, t_query_nparams);

    tc = tcase(s, "cache");
    tcase_add_test(tc, t_cache_repeat);
    tcase_add_test(tc, t_cache_pg_prepared);
    tcase_add_test(tc, t_cache_stale_plan);

    tc = tcase(s, "badinput");
    tcase_add_test(tc, t_bad_open);
    tcase_add_test(tc, t_bad_urls);
    tcase_add_test(tc, t_bad_connect);
    tcase_add_test(tc, t_bad_null_handles);
    tcase_add_test(tc, t_bad_bind);
    tcase_add_test(tc, t_bad_columns);
    tcase_add_test(tc, t_bad_arguments);
    tcase_add_test(tc, t_zombie_statement);

    tc = tcase(s, "reset");
    tcase_add_test(tc, t_reset_reread);
    return s;
}

int main(void)
{
    const char *pg = getenv("DAL_TEST_PG_URL");
    static const char *const names[] = {
        "contract[sqlite-mem]", "contract[sqlite-file]", "contract[postgres]",
    };
    int kind, failed = 0;

    main_pid = (long)getpid();
    if (pg == NULL || pg[0] == '\0') {
        printf("contract: postgres SKIPPED (DAL_TEST_PG_URL unset)\n");
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
        /* Forked tests must not inherit unflushed output. */
        fflush(stdout);
        sr = srunner_create(contract_suite(names[kind]));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        sweep_temp_files();
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
